"""Class tables of factors: area, events and frequency ratio per class.

The table of paper 000 (Table 1) and paper 001 (eq. 17) for every factor:
for each class of a categorical factor, or each quantile class of a
continuous one, the number of cells and its share of the study area, the
number of events and their share, and the frequency ratio
``FR = events_pct / area_pct``. Cell counts come from the whole raster, read
chunk by chunk (never the whole array at once); quantile edges of continuous
factors come from a random sample of valid cells, as class breaks do in
:mod:`susmap.mapping`.

Cost: :func:`factor_class_tables` reads the stack twice whatever the number
of factors: once for the sample of valid cells (every factor's edges from
the same cells), once for the counts of every factor (each chunk counted for
all factors at once). Tabulating factor by factor read it twice per factor:
on a 3,000² province of 11 factors, 215 s against 17 s (load 4-7).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import dask
import dask.array as da
import numpy as np
import pandas as pd

from susmap.encoding import bin_continuous
from susmap.mapping.frequency_ratio import frequency_ratio_table
from susmap.stack import Stack

__all__ = ["class_area_counts", "factor_class_tables", "frequency_ratio_table"]


def _factor_array(stack: Stack, factor: str) -> da.Array:
    if factor not in stack.names:
        raise ValueError(f"factor {factor!r} is not in the stack (factors: {', '.join(stack.names)})")
    return da.asarray(stack.data.sel(factor=factor).data)


def _block_unique(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = block[np.isfinite(block)]
    return np.unique(values.astype(np.float64), return_counts=True)


def _block_bincount(block: np.ndarray, edges: np.ndarray) -> np.ndarray:
    classes, _ = bin_continuous(block, "edges", edges=edges)
    return np.bincount(classes.ravel(), minlength=edges.size)[1:]


def class_area_counts(stack: Stack, factor: str, edges: Sequence[float] | np.ndarray | None = None) -> pd.Series:
    """Number of valid cells per class of one factor, over the whole raster.

    Each chunk is counted on its own (``np.unique`` for classes, a bincount
    for binned values) and the small per-chunk counts are summed, so memory
    holds one chunk per dask worker whatever the raster's size. Cells that
    are NaN in the stack (nodata in any layer) are not counted, so the total
    is ``stack.n_valid``.

    Parameters
    ----------
    stack : Stack
        The factor stack.
    factor : str
        Name of the factor.
    edges : array-like of shape (k + 1,), default=None
        Class edges for a continuous factor (classes as in
        :func:`susmap.encoding.bin_continuous`: ``edges[i-1] < v <= edges[i]``,
        open end classes). ``None`` counts each distinct value as a class,
        which a categorical factor needs.

    Returns
    -------
    cells : pandas.Series of int64
        Named ``"cells"``; indexed by class code (float64, classes present
        only) or, with ``edges``, by class id 1..k (every class, zeros included).

    Raises
    ------
    ValueError
        Unknown factor; a continuous factor without ``edges``; bad ``edges``.
    """
    arr = _factor_array(stack, factor)
    blocks = arr.to_delayed().ravel()
    if edges is None:
        if stack.kinds.get(factor, "continuous") != "categorical":
            raise ValueError(
                f"factor {factor!r} is continuous: give class edges (e.g. from bin_continuous) "
                "instead of counting each distinct value"
            )
        parts = dask.compute(*[dask.delayed(_block_unique)(b) for b in blocks])
        values = np.concatenate([p[0] for p in parts]) if parts else np.empty(0)
        counts = np.concatenate([p[1] for p in parts]) if parts else np.empty(0, dtype=np.int64)
        classes, inverse = np.unique(values, return_inverse=True)
        totals = np.bincount(inverse, weights=counts, minlength=classes.size).astype(np.int64)
        index = pd.Index(classes, name=factor)
    else:
        _, edges = bin_continuous(np.empty(0), "edges", edges=edges)  # validates the edges
        parts = dask.compute(*[dask.delayed(_block_bincount)(b, edges) for b in blocks])
        totals = np.sum(parts, axis=0).astype(np.int64)
        index = pd.Index(np.arange(1, edges.size, dtype=np.int64), name=factor)
    return pd.Series(totals, index=index, name="cells")


def _sample_valid_values(stack: Stack, n: int, rng: np.random.Generator) -> np.ndarray:
    """Every factor's values at about ``n`` random cells, shape (m, n_factors) (reads the chunks holding draws)."""
    h, w = stack.grid.shape
    n_cells = h * w
    share = stack.n_valid / n_cells if stack.n_valid else 1.0
    m = min(n_cells, int(np.ceil(n / max(share, 1e-9))))
    flat = np.arange(n_cells) if m >= n_cells else np.unique(rng.integers(0, n_cells, size=m))
    rows, cols = np.divmod(flat, w)
    return stack.values_at(rows, cols)


def _block_class_counts(
    block: np.ndarray, plan: list[tuple[int, np.ndarray | None]]
) -> list[np.ndarray | tuple[np.ndarray, np.ndarray]]:
    """Per planned factor (its band in ``block``, its edges or None): class counts of one chunk."""
    return [_block_unique(block[i]) if edges is None else _block_bincount(block[i], edges) for i, edges in plan]


def _interval_labels(edges: np.ndarray) -> list[str]:
    k = edges.size - 1
    if k == 1:
        return ["all"]
    inner = [f"{lo:.4g}–{hi:.4g}" for lo, hi in pairwise(edges[1:-1])]
    return [f"≤ {edges[1]:.4g}", *inner, f"> {edges[-2]:.4g}"]


def factor_class_tables(
    stack: Stack,
    samples: pd.DataFrame,
    factors: Sequence[str] | None = None,
    bins: int = 5,
    *,
    n_sample: int = 100_000,
    seed: int = 0,
    label_column: str = "label",
) -> dict[str, pd.DataFrame]:
    """A frequency-ratio table for each factor (paper 000 Table 1).

    Categorical factors are tabulated by their classes. Continuous factors
    are cut into ``bins`` quantile classes whose edges are computed on a
    random sample of about ``n_sample`` valid cells of the raster (so the
    classes have about equal area; tied edges are merged); the end classes
    are open (``≤ e1``, ``> e(k-1)``). Cells per class are counted over the
    whole raster (:func:`class_area_counts`); events are the sample table's
    rows with ``label_column == 1``, classed by their factor values.

    Parameters
    ----------
    stack : Stack
        The factor stack (its ``n_valid`` should be counted).
    samples : pandas.DataFrame
        The sample table: one column per factor, and ``label_column``.
    factors : sequence of str, default=None
        Factors to tabulate; default every factor of the stack.
    bins : int, default=5
        Quantile classes of a continuous factor.
    n_sample : int, default=100000
        Cells drawn to compute quantile edges.
    seed : int, default=0
        Seed of that draw.
    label_column : str, default="label"
        Column of ``samples`` with 1 = event.

    Returns
    -------
    tables : dict of {str: pandas.DataFrame}
        :func:`frequency_ratio_table` per factor; ``attrs["kind"]`` holds
        the factor's kind and, for continuous factors, ``attrs["edges"]``
        the class edges.

    Raises
    ------
    ValueError
        Unknown factor, or a factor or ``label_column`` missing from ``samples``.
    """
    factors = list(stack.names if factors is None else factors)
    missing = [c for c in [*factors, label_column] if c not in samples.columns]
    if missing:
        raise ValueError(f"factor_class_tables: the sample table has no column(s) {', '.join(missing)}")
    unknown = [f for f in factors if f not in stack.names]
    if unknown:
        raise ValueError(f"factor {unknown[0]!r} is not in the stack (factors: {', '.join(stack.names)})")
    events = samples.loc[samples[label_column] == 1]
    cell_area = stack.grid.cell_area
    continuous = [f for f in factors if stack.kinds.get(f, "continuous") != "categorical"]
    edges_of: dict[str, np.ndarray] = {}
    if continuous:
        drawn = _sample_valid_values(stack, n_sample, np.random.default_rng(seed))
        for factor in continuous:
            values = drawn[:, stack.names.index(factor)]
            _, edges = bin_continuous(values[np.isfinite(values)], "quantile", n_bins=bins)
            if edges[0] == edges[-1]:  # a constant factor: one class around its value
                edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
            edges_of[factor] = edges
    plan = [(stack.names.index(f), edges_of.get(f)) for f in factors]
    blocks = da.asarray(stack.data.data).to_delayed().ravel()
    parts = dask.compute(*[dask.delayed(_block_class_counts)(b, plan) for b in blocks])
    tables: dict[str, pd.DataFrame] = {}
    for k, factor in enumerate(factors):
        event_values = events[factor].to_numpy(dtype=np.float64)
        if factor not in edges_of:
            values = np.concatenate([p[k][0] for p in parts]) if parts else np.empty(0)
            counts = np.concatenate([p[k][1] for p in parts]) if parts else np.empty(0, dtype=np.int64)
            classes, inverse = np.unique(values, return_inverse=True)
            totals = np.bincount(inverse, weights=counts, minlength=classes.size).astype(np.int64)
            cells = pd.Series(totals, index=pd.Index(classes, name=factor), name="cells")
            table = frequency_ratio_table(cells, event_values, cell_area)
            table.attrs["kind"] = "categorical"
        else:
            edges = edges_of[factor]
            totals = np.sum([p[k] for p in parts], axis=0).astype(np.int64)
            cells = pd.Series(
                totals, index=pd.Index(np.arange(1, edges.size, dtype=np.int64), name=factor), name="cells"
            )
            event_classes, _ = bin_continuous(event_values, "edges", edges=edges)
            table = frequency_ratio_table(cells, event_classes, cell_area, class_labels=_interval_labels(edges))
            table.attrs["edges"] = edges
            table.attrs["kind"] = stack.kinds.get(factor, "continuous")
        tables[factor] = table
    return tables
