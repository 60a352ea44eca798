"""The sample table: events (and absences) with their factor values.

Labelled inventories are used as they are. Presence-only inventories get
absence cells drawn uniformly at random from valid cells farther than
``buffer_m`` from every event cell, ``absence_ratio`` absences per event (the
1:1 design of paper 001, section 2.2). Events on nodata are dropped and
counted, never silently.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from susmap.errors import InventoryError, SamplingError
from susmap.inventory import EventCells
from susmap.stack import Stack
from susmap.study import SamplingConfig

__all__ = ["COORD_COLUMNS", "build_samples", "draw_absences"]

log = logging.getLogger(__name__)

COORD_COLUMNS = ("x", "y", "row", "col")


def draw_absences(
    stack: Stack,
    event_rows: np.ndarray,
    event_cols: np.ndarray,
    n: int,
    *,
    buffer_m: float,
    rng: np.random.Generator,
    max_rounds: int = 20,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``n`` distinct absence cells and their factor values.

    Candidates are drawn uniformly over the grid in rounds; a candidate is kept
    when it is not an event cell, its centre is more than ``buffer_m`` [m]
    from every event cell centre, and every factor has data there. Only the
    chunks holding candidates are read, so this works on rasters larger than
    memory.

    Returns
    -------
    rows, cols : ndarray of int64
    values : ndarray of shape (n, n_factors)

    Raises
    ------
    SamplingError
        Fewer than ``n`` such cells could be found.
    """
    grid = stack.grid
    n_cells = grid.height * grid.width
    event_flat = np.unique(event_rows * grid.width + event_cols)
    ex, ey = grid.xy(event_rows, event_cols)
    tree = cKDTree(np.column_stack([ex, ey])) if buffer_m > 0 else None
    valid_share = max(stack.n_valid, 1) / n_cells if stack.n_valid else 1.0
    chosen: list[np.ndarray] = []
    values: list[np.ndarray] = []
    seen = event_flat
    need = n
    for _ in range(max_rounds):
        if need <= 0:
            break
        m = min(n_cells, int(need * 2.0 / valid_share) + 64)
        cand = rng.integers(0, n_cells, size=m)
        _, first = np.unique(cand, return_index=True)
        cand = cand[np.sort(first)]
        cand = cand[~np.isin(cand, seen)]
        seen = np.union1d(seen, cand)
        rows, cols = np.divmod(cand, grid.width)
        if tree is not None and cand.size:
            cx, cy = grid.xy(rows, cols)
            dist, _ = tree.query(np.column_stack([cx, cy]), k=1, distance_upper_bound=buffer_m)
            far = dist > buffer_m
            cand, rows, cols = cand[far], rows[far], cols[far]
        if cand.size == 0:
            if seen.size >= n_cells:
                break
            continue
        vals = stack.values_at(rows, cols)
        ok = np.isfinite(vals).all(axis=1)
        take = np.flatnonzero(ok)[:need]
        chosen.append(cand[take])
        values.append(vals[take])
        need -= take.size
    if need > 0:
        got = n - need
        raise SamplingError(
            f"only {got} of {n} absence cells found outside a {buffer_m:g} m buffer around events; "
            "lower sampling.buffer_m or sampling.absence_ratio"
        )
    flat = np.concatenate(chosen)
    rows, cols = np.divmod(flat, grid.width)
    return rows.astype(np.int64), cols.astype(np.int64), np.concatenate(values)


def build_samples(
    stack: Stack,
    events: EventCells,
    cfg: SamplingConfig,
    *,
    seed: int,
    inventory_path: Path,
    label_column: str | None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The sample table: ``x, y, row, col, label``, one column per factor, ``event_id``.

    Returns the table (events first, then absences) and a dict of counts for
    the log and provenance.

    Raises
    ------
    InventoryError
        No event left on valid cells, or a labelled inventory with one class only.
    SamplingError
        Not enough absence cells.
    """
    counts = dict(events.counts)
    values = stack.values_at(events.rows, events.cols)
    ok = np.isfinite(values).all(axis=1)
    counts["on_nodata"] = int((~ok).sum())
    if not ok.any():
        raise InventoryError(
            f"{inventory_path}: no event of the inventory falls on a cell with data in every layer "
            f"({ok.size} event cells, all on nodata)"
        )
    if counts["on_nodata"]:
        log.warning("%d inventory cells fall on nodata in some layer and were dropped", counts["on_nodata"])
    events = events.subset(ok)
    values = values[ok]

    if events.label is None:
        flat = events.rows * stack.grid.width + events.cols
        _, first = np.unique(flat, return_index=True)
        first = np.sort(first)
        counts["duplicate_cells"] = int(flat.size - first.size)
        if counts["duplicate_cells"]:
            log.info("%d events share a cell with another event; one sample per cell kept", counts["duplicate_cells"])
        events = events.subset(first)
        values = values[first]
        n_abs = round(cfg.absence_ratio * events.rows.size)
        rng = np.random.default_rng(seed)
        a_rows, a_cols, a_vals = draw_absences(stack, events.rows, events.cols, n_abs, buffer_m=cfg.buffer_m, rng=rng)
        ax, ay = stack.grid.xy(a_rows, a_cols)
        frame = pd.DataFrame(
            {
                "x": np.concatenate([events.x, ax]),
                "y": np.concatenate([events.y, ay]),
                "row": np.concatenate([events.rows, a_rows]),
                "col": np.concatenate([events.cols, a_cols]),
                "label": np.concatenate([np.ones(events.rows.size, np.int8), np.zeros(n_abs, np.int8)]),
            }
        )
        factor_values = np.vstack([values, a_vals])
        event_id = np.concatenate([events.event_id, np.full(n_abs, -1, dtype=np.int64)])
        counts["absences"] = n_abs
    else:
        classes = np.unique(events.label)
        if classes.size < 2:
            only = "events (1)" if classes[0] == 1 else "non-events (0)"
            raise InventoryError(
                f"{inventory_path}: label column {label_column!r} holds only {only} on the grid; "
                "a model needs both classes"
            )
        frame = pd.DataFrame(
            {"x": events.x, "y": events.y, "row": events.rows, "col": events.cols, "label": events.label}
        )
        factor_values = values
        event_id = events.event_id
    for j, name in enumerate(stack.names):
        frame[name] = factor_values[:, j].astype(np.float64)
    frame["event_id"] = event_id
    counts["samples"] = len(frame)
    counts["events"] = int((frame["label"] == 1).sum())
    counts["non_events"] = int((frame["label"] == 0).sum())
    log.info("samples: %d events, %d non-events", counts["events"], counts["non_events"])
    return frame, counts
