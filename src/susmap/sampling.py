"""The sample table: events (and absences) with their factor values.

Labelled inventories are used as they are. Presence-only inventories get
absence cells drawn uniformly at random from valid cells farther than
``buffer_m`` from every event (the whole polygon, for polygon inventories),
``absence_ratio`` absences per event (the 1:1 design of paper 001, section
2.2). Events on nodata are dropped and counted, never silently. Several
events on one cell are merged into one sample (or refused), and a cell
labelled both 1 and 0 is refused (or kept as an event), by the inventory's
``duplicates`` and ``conflicts`` rules; the counts go to the log and report.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from susmap.errors import InventoryError, SamplingError
from susmap.inventory import EventCells
from susmap.stack import Stack
from susmap.study import SamplingConfig

__all__ = ["COORD_COLUMNS", "build_samples", "draw_absences", "inventory_summary", "merge_duplicates"]

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
    avoid_shapes: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``n`` distinct absence cells and their factor values.

    Candidates are drawn uniformly over the grid in rounds; a candidate is kept
    when it is not an event cell, its centre is more than ``buffer_m`` [m]
    from every event cell centre, and every factor has data there. With
    ``avoid_shapes`` (event polygons, whole) a candidate is also refused when
    its cell touches a polygon or its centre lies within ``buffer_m`` of one.
    Only the chunks holding candidates are read, so this works on rasters
    larger than memory.

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
    shapes = None
    if avoid_shapes is not None and len(avoid_shapes):
        shapes = shapely.STRtree(np.asarray(avoid_shapes))
    half_x, half_y = grid.res[0] / 2.0, grid.res[1] / 2.0
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
        if shapes is not None and cand.size:
            cx, cy = grid.xy(rows, cols)
            near = np.zeros(cand.size, dtype=bool)
            hit, _ = shapes.query(
                shapely.box(cx - half_x, cy - half_y, cx + half_x, cy + half_y), predicate="intersects"
            )
            near[hit] = True
            if buffer_m > 0:
                hit, _ = shapes.query(shapely.points(cx, cy), predicate="dwithin", distance=buffer_m)
                near[hit] = True
            cand, rows, cols = cand[~near], rows[~near], cols[~near]
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


#: Counts of :func:`build_samples` that say what became of the inventory, with their wording in the report.
_SUMMARY = (
    ("where_excluded", "{} left out by inventory.where"),
    ("off_grid", "{} points off the grid"),
    ("polygons_off_grid", "{} polygons off the grid"),
    ("polygons_repaired", "{} invalid polygons repaired"),
    ("polygons_without_area", "{} polygons without area"),
    ("polygons_centroid_cell", "{} polygons without a cell by the rule kept by their centroid cell"),
    ("non_source_cells_dropped", "{} cells outside the source areas"),
    ("source_area_highest_cell", "{} polygons reduced to their highest cell"),
    ("on_nodata", "{} cells on nodata dropped"),
    ("events_on_nodata", "{} features lost entirely to nodata"),
    ("conflicting_cells", "{} cells labelled both 1 and 0"),
    ("duplicate_cells", "{} repeated cells merged"),
)


def inventory_summary(counts: dict[str, int]) -> str:
    """One line for the report: features read and what became of them (only the counts that are not 0).

    E.g. ``"3820 features: 12 polygons off the grid, 1070 polygons smaller than the rule given their
    centroid cell, 44 repeated cells merged"``.
    """
    parts = []
    for key, text in _SUMMARY:
        if counts.get(key):
            if key == "duplicate_cells" and counts.get("duplicates_kept"):
                text = "{} repeated cells kept (inventory.duplicates: keep)"
            parts.append(text.format(counts[key]))
    head = f"{counts.get('features', 0)} features"
    return f"{head}: {', '.join(parts)}" if parts else f"{head}, all sampled"


def merge_duplicates(
    events: EventCells,
    width: int,
    *,
    duplicates: str = "merge",
    conflicts: str = "refuse",
    inventory_path: Path,
    label_column: str | None,
) -> tuple[np.ndarray, dict[str, int]]:
    """One event per cell, by the inventory's rules; returns the indices of the events kept and the counts.

    A cell labelled both 1 and 0 is a conflict: ``refuse`` raises,
    ``event_wins`` keeps its events (label 1) and drops its non-events. Then
    several entries on one cell (repeated points, overlapping polygons, a
    polygon and a point) are duplicates: ``merge`` keeps the first (in the
    inventory's order), ``refuse`` raises, ``keep`` keeps them all (as
    published protocols that sampled repeated points did; repeated samples
    inflate cross-validation scores). The order of the kept cells is
    the order of their first entries.

    Raises
    ------
    InventoryError
        Conflicting labels with ``conflicts: refuse``, or duplicates with
        ``duplicates: refuse``; one line naming the file and the count.
    """
    counts = {"duplicate_cells": 0, "conflicting_cells": 0}
    flat = events.rows * width + events.cols
    index = np.arange(flat.size)
    if events.label is not None and flat.size:
        frame = pd.DataFrame({"cell": flat, "label": events.label})
        both = frame.groupby("cell")["label"].nunique()
        conflicting = both.index[both.to_numpy() > 1].to_numpy()
        counts["conflicting_cells"] = int(conflicting.size)
        if conflicting.size:
            where = np.isin(flat, conflicting)
            if conflicts == "refuse":
                first = int(np.flatnonzero(where)[0])
                raise InventoryError(
                    f"{inventory_path}: {conflicting.size} cell(s) hold events labelled both 1 and 0 in column "
                    f"{label_column!r} (the first at x={events.x[first]:.2f}, y={events.y[first]:.2f}); fix the "
                    "inventory or set inventory.conflicts: event_wins"
                )
            drop = where & (events.label == 0)
            log.warning(
                "%d cells hold events labelled both 1 and 0; their %d non-events were dropped "
                "(inventory.conflicts: event_wins)",
                conflicting.size,
                int(drop.sum()),
            )
            index, flat = index[~drop], flat[~drop]
    _, first = np.unique(flat, return_index=True)
    first = np.sort(first)
    n_dup = int(flat.size - first.size)
    counts["duplicate_cells"] = n_dup
    if n_dup and duplicates == "keep":
        counts["duplicates_kept"] = 1
        log.warning(
            "%d events share a cell with an earlier event and were kept as separate samples "
            "(inventory.duplicates: keep; repeated samples inflate cross-validation scores)",
            n_dup,
        )
        return index, counts
    if n_dup:
        if duplicates == "refuse":
            cells = int(np.unique(flat[np.setdiff1d(np.arange(flat.size), first)]).size)
            raise InventoryError(
                f"{inventory_path}: {n_dup} events fall on a cell that already holds one ({cells} cells hold "
                "several); remove the repeats or set inventory.duplicates: merge"
            )
        log.info("%d events share a cell with an earlier event; one sample per cell kept", n_dup)
    return index[first], counts


def build_samples(
    stack: Stack,
    events: EventCells,
    cfg: SamplingConfig,
    *,
    seed: int,
    inventory_path: Path,
    label_column: str | None,
    duplicates: str = "merge",
    conflicts: str = "refuse",
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The sample table: ``x, y, row, col, label``, one column per factor, ``event_id, event_cells``.

    ``event_id`` is the inventory row each sample comes from (-1 for drawn
    absences) and ``event_cells`` the number of samples that row gave
    (several for a polygon; 0 for drawn absences). With a time field, an
    ``event_time`` column follows (NaN / NaT for drawn absences). Events on
    nodata are dropped; then duplicates and conflicts are handled by
    :func:`merge_duplicates`.

    Returns the table (events first, then absences) and a dict of counts for
    the log, report and provenance.

    Raises
    ------
    InventoryError
        No event left on valid cells, conflicting labels or duplicates refused,
        or a labelled inventory with one class only.
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
        lost = np.setdiff1d(np.unique(events.event_id), np.unique(events.event_id[ok]))
        counts["events_on_nodata"] = int(lost.size)
        if lost.size and lost.size != counts["on_nodata"]:
            log.warning("%d inventory features lost every cell to nodata and were dropped", lost.size)
    all_events = events
    events = events.subset(ok)
    values = values[ok]
    kept, merged = merge_duplicates(
        events,
        stack.grid.width,
        duplicates=duplicates,
        conflicts=conflicts,
        inventory_path=inventory_path,
        label_column=label_column,
    )
    counts.update(merged)
    events = events.subset(kept)
    values = values[kept]
    n_abs = 0
    if events.label is None:
        n_abs = round(cfg.absence_ratio * events.rows.size)
        rng = np.random.default_rng(seed)
        avoid_rows = all_events.rows if all_events.avoid_rows is None else all_events.avoid_rows
        avoid_cols = all_events.cols if all_events.avoid_cols is None else all_events.avoid_cols
        a_rows, a_cols, a_vals = draw_absences(
            stack,
            avoid_rows,
            avoid_cols,
            n_abs,
            buffer_m=cfg.buffer_m,
            rng=rng,
            avoid_shapes=all_events.avoid_shapes,
        )
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
    for j, name in enumerate(stack.names):
        frame[name] = factor_values[:, j].astype(np.float64)
    ids, inverse, n_cells = np.unique(events.event_id, return_inverse=True, return_counts=True)
    frame["event_id"] = np.concatenate([events.event_id, np.full(n_abs, -1, dtype=np.int64)])
    frame["event_cells"] = np.concatenate([n_cells[inverse], np.zeros(n_abs, dtype=np.int64)]).astype(np.int64)
    if events.time is not None:
        missing = (
            np.full(n_abs, np.datetime64("NaT"), dtype=events.time.dtype)
            if events.time.dtype.kind == "M"
            else np.full(n_abs, np.nan)
        )
        frame["event_time"] = np.concatenate([events.time, missing])
    counts["samples"] = len(frame)
    counts["events"] = int((frame["label"] == 1).sum())
    counts["non_events"] = int((frame["label"] == 0).sum())
    counts["features_sampled"] = int(ids.size)
    log.info(
        "samples: %d events, %d non-events from %d inventory features",
        counts["events"],
        counts["non_events"],
        counts["features_sampled"],
    )
    return frame, counts
