"""The frequency-ratio table of classes: area, events and FR per class (paper 000 Table 1, paper 001 eq. 17).

Used for the classes of a susceptibility map (:func:`susmap.mapping.class_table`)
and for the classes of every factor (:mod:`susmap.analysis.class_tables`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["TABLE_COLUMNS", "frequency_ratio_table"]

#: Columns of :func:`frequency_ratio_table`.
TABLE_COLUMNS = ("class", "label", "cells", "area_km2", "area_pct", "events", "events_pct", "frequency_ratio")


def _format_class(value: Any) -> str:
    if isinstance(value, (int, float, np.integer, np.floating)):
        return f"{value:g}"
    return str(value)


def frequency_ratio_table(
    class_cells: pd.Series | Mapping[Any, int] | Sequence[int] | np.ndarray,
    event_classes: Sequence[Any] | np.ndarray,
    cell_area_m2: float,
    class_labels: Mapping[Any, str] | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Area, events and frequency ratio per class (paper 000 Table 1, paper 001 eq. 17).

    Parameters
    ----------
    class_cells : Series, mapping or 1-D array of int
        Cells per class: a Series or mapping ``{class: cells}`` (e.g.
        :func:`class_area_counts`), or an array of counts for classes 1..k.
    event_classes : array-like
        The class of each event (one entry per event cell). Entries that
        are not among the classes (NaN, 0 = no map value, ...) are not
        counted; their number is kept in ``table.attrs["events_outside"]``.
    cell_area_m2 : float
        Area of one cell [m²].
    class_labels : mapping or sequence of str, default=None
        ``{class: label}`` or one label per class in order; default: the
        class code as text.

    Returns
    -------
    table : pandas.DataFrame
        One row per class with columns ``class, label, cells, area_km2,
        area_pct, events, events_pct, frequency_ratio``:
        ``area_pct = 100 * cells / Σ cells``,
        ``events_pct = 100 * events / Σ events`` and
        ``frequency_ratio = events_pct / area_pct`` (paper 001 eq. 17,
        ``(Li / Lt) / (Ai / A)``, with events counted as cells). A class
        without events has FR 0, a class without area NaN.

    Raises
    ------
    ValueError
        ``cell_area_m2`` not positive, negative cell counts, labels that do
        not match the classes.

    Examples
    --------
    >>> t = frequency_ratio_table({1: 600, 2: 400}, [1, 2, 2, 2], cell_area_m2=100.0)
    >>> t[["class", "area_pct", "events", "frequency_ratio"]].to_numpy().tolist()
    [[1.0, 60.0, 1.0, 0.4166666666666667], [2.0, 40.0, 3.0, 1.875]]
    """
    if not np.isfinite(cell_area_m2) or cell_area_m2 <= 0:
        raise ValueError(f"frequency_ratio_table: cell_area_m2 must be a positive area [m²], got {cell_area_m2!r}")
    if isinstance(class_cells, pd.Series):
        index = pd.Index(class_cells.index)
        cells = class_cells.to_numpy()
    elif isinstance(class_cells, Mapping):
        index = pd.Index(list(class_cells))
        cells = np.asarray(list(class_cells.values()))
    else:
        cells = np.asarray(class_cells).ravel()
        index = pd.Index(np.arange(1, cells.size + 1))
    cells = cells.astype(np.int64)
    if (cells < 0).any():
        raise ValueError("frequency_ratio_table: class_cells holds negative counts")
    if index.has_duplicates:
        raise ValueError("frequency_ratio_table: class_cells lists a class twice")
    k = cells.size
    pos = index.get_indexer(np.asarray(event_classes).ravel())
    inside = pos >= 0
    events = np.bincount(pos[inside], minlength=k).astype(np.int64)
    if class_labels is None:
        labels = [_format_class(c) for c in index]
    elif isinstance(class_labels, Mapping):
        labels = [str(class_labels.get(c, _format_class(c))) for c in index]
    else:
        labels = [str(s) for s in class_labels]
        if len(labels) != k:
            raise ValueError(f"frequency_ratio_table: {len(labels)} class_labels for {k} classes")
    total_cells, total_events = cells.sum(), events.sum()
    area_pct = 100.0 * cells / total_cells if total_cells else np.zeros(k)
    events_pct = 100.0 * events / total_events if total_events else np.zeros(k)
    with np.errstate(divide="ignore", invalid="ignore"):
        fr = np.where(area_pct > 0, events_pct / area_pct, np.nan)
    table = pd.DataFrame(
        {
            "class": index.to_numpy(),
            "label": labels,
            "cells": cells,
            "area_km2": cells * float(cell_area_m2) / 1e6,
            "area_pct": area_pct,
            "events": events,
            "events_pct": events_pct,
            "frequency_ratio": fr,
        },
        columns=list(TABLE_COLUMNS),
    )
    table.attrs["events_outside"] = int((~inside).sum())
    return table
