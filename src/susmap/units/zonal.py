"""Factors per mapping unit: zonal statistics of the stack's layers, weighted by exact cell coverage.

Each cell counts towards a unit with the fraction of its area the unit's
polygon covers (0-1), computed exactly from the polygon's edges by the
``exactextract`` library (Baston, exactextract, isciences; the coverage
fractions of a polygon over a grid are the areas of the cell/polygon
intersections divided by the cell area). With coverage fractions ``w_i`` of
the cells ``i`` with data:

- mean = Σ w_i x_i / Σ w_i; sd = sqrt(Σ w_i (x_i - mean)² / Σ w_i) (the
  population form); min and max of the cells with w_i > 0; median and the
  percentiles are the weighted quantiles of exactextract (cells sorted by
  value, each with weight w_i);
- proportions of a categorical layer: the covered share of each class,
  Σ_{x_i = c} w_i / Σ w_i; majority: the class of largest covered area.

A province of units over a large raster is never read whole: units are
grouped by the raster tile (``tile_cells`` × ``tile_cells``) that holds the
centre of their bounding box, and each group reads only the window that
covers its units' bounding boxes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from affine import Affine
from exactextract import exact_extract
from exactextract.raster import NumPyRasterSource

from susmap.errors import StudyConfigError

__all__ = [
    "CATEGORICAL_DEFAULT",
    "CONTINUOUS_DEFAULT",
    "ZonalResult",
    "statistics_plan",
    "unit_windows",
    "zonal_statistics",
]

#: Statistics of a continuous layer when the study names none.
CONTINUOUS_DEFAULT = ("mean", "sd")
#: Statistics of a categorical layer when the study names none.
CATEGORICAL_DEFAULT = ("proportions",)

_CONTINUOUS_OPS = {"mean": "mean", "sd": "stdev", "min": "min", "max": "max", "median": "median"}
_PERCENTILE = re.compile(r"^p(\d{1,2})$")
_VALID = "valid__"


@dataclass
class ZonalResult:
    """Zonal statistics of every unit.

    Attributes
    ----------
    table : DataFrame
        One row per unit, in the order of the units given; one column per
        statistic, named ``<layer>_<statistic>`` (``elev_mean``, ``elev_p90``,
        ``lith_3`` for the share of class 3, ``lith_majority``).
    kinds : dict
        ``{column: "continuous" | "categorical"}`` (majorities are categorical).
    cells : ndarray
        Covered cells of each unit where every layer has data: Σ w_i over
        those cells (0 for a unit with no valid cell).
    groups : int
        Raster windows read (one per tile holding units).
    """

    table: pd.DataFrame
    kinds: dict[str, str]
    cells: np.ndarray
    groups: int = 0
    windows: list[tuple[int, int, int, int]] = field(default_factory=list)


def statistics_plan(
    names: Sequence[str],
    kinds: Mapping[str, str],
    statistics: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    percentiles: Sequence[int] = (),
) -> dict[str, list[str]]:
    """The statistics of each layer: ``{layer: [statistic, ...]}``.

    ``statistics`` is a list (for every continuous layer; categorical ones
    keep their default) or a mapping by layer name, with ``continuous`` and
    ``categorical`` as defaults per kind; ``percentiles`` (whole numbers
    1-99) add ``p<q>`` to every continuous layer.

    Raises
    ------
    StudyConfigError
        A statistic that does not apply to the layer's kind, or a mapping key
        that is no layer.
    """
    if isinstance(statistics, Mapping):
        unknown = sorted(set(statistics) - set(names) - {"continuous", "categorical"})
        if unknown:
            raise StudyConfigError(
                f"mapping_unit.statistics: {', '.join(unknown)} not layers of the stack "
                f"({', '.join(names)}) nor 'continuous'/'categorical'"
            )
    plan: dict[str, list[str]] = {}
    for name in names:
        kind = kinds.get(name, "continuous")
        if isinstance(statistics, Mapping):
            stats = list(statistics.get(name, statistics.get(kind, ())))
        elif statistics is not None and kind == "continuous":
            stats = list(statistics)
        else:
            stats = []
        if not stats:
            stats = list(CONTINUOUS_DEFAULT if kind == "continuous" else CATEGORICAL_DEFAULT)
        if kind == "continuous":
            stats += [f"p{int(q)}" for q in percentiles if f"p{int(q)}" not in stats]
        for s in stats:
            ok = (s in _CONTINUOUS_OPS or _PERCENTILE.match(s)) if kind == "continuous" else s in CATEGORICAL_DEFAULT
            ok = ok or (kind == "categorical" and s == "majority")
            if not ok:
                raise StudyConfigError(
                    f"mapping_unit.statistics: {s!r} does not apply to the {kind} layer {name!r} "
                    f"({'mean, sd, min, max, median, p<q>' if kind == 'continuous' else 'proportions, majority'})"
                )
        plan[name] = list(dict.fromkeys(stats))
    return plan


def _op(stat: str) -> str:
    m = _PERCENTILE.match(stat)
    if m:
        return f"quantile(q={int(m.group(1)) / 100})"
    return {"proportions": "frac", "majority": "majority"}.get(stat, _CONTINUOUS_OPS.get(stat, stat))


def _column_of_op(stat: str) -> str:
    """exactextract's output name of a statistic's operation (``quantile_90`` for p90)."""
    m = _PERCENTILE.match(stat)
    if m:
        return f"quantile_{int(m.group(1))}"
    return {"proportions": "frac", "majority": "majority"}.get(stat, _CONTINUOUS_OPS.get(stat, stat))


def class_column(layer: str, value: float) -> str:
    """Column name of the share of class ``value`` of ``layer`` (``lith_3``, ``lith_m1`` for -1, ``lith_2p5``)."""
    text = f"{value:g}".replace("-", "m").replace(".", "p").replace("+", "")
    return f"{layer}_{text}"


def unit_windows(bounds: np.ndarray, transform: Affine, shape: tuple[int, int]) -> np.ndarray:
    """Cell window (row0, row1, col0, col1) of each unit's bounding box, clipped to the grid; shape (n, 4).

    ``bounds`` are (minx, miny, maxx, maxy) per unit in the grid's CRS; the
    grid is north-up (``transform.e < 0``). A unit off the grid has an empty
    window (row0 >= row1 or col0 >= col1).
    """
    if transform.b != 0 or transform.d != 0 or transform.e >= 0:
        raise StudyConfigError("mapping units need a north-up grid (no rotation)")
    x0, dx, y0, dy = transform.c, transform.a, transform.f, -transform.e
    height, width = shape
    c0 = np.floor((bounds[:, 0] - x0) / dx)
    c1 = np.ceil((bounds[:, 2] - x0) / dx)
    r0 = np.floor((y0 - bounds[:, 3]) / dy)
    r1 = np.ceil((y0 - bounds[:, 1]) / dy)
    out = np.column_stack(
        [np.clip(r0, 0, height), np.clip(r1, 0, height), np.clip(c0, 0, width), np.clip(c1, 0, width)]
    )
    return out.astype(np.int64)


def zonal_statistics(
    units: gpd.GeoDataFrame,
    data,
    names: Sequence[str],
    kinds: Mapping[str, str],
    transform: Affine,
    *,
    plan: Mapping[str, Sequence[str]] | None = None,
    tile_cells: int = 1024,
) -> ZonalResult:
    """Statistics of every layer per unit, with exact coverage fractions; read tile by tile.

    Parameters
    ----------
    units : GeoDataFrame
        Polygons in the grid's CRS (a CRS is required).
    data : array-like of shape (n_layers, height, width)
        The layers, float, NaN = nodata: a numpy array, or a lazy
        ``xarray.DataArray``/dask array (only the windows of the unit groups
        are computed).
    names, kinds : the layers' names and ``{name: "continuous" | "categorical"}``.
    transform : Affine
        The grid's north-up transform.
    plan : mapping, optional
        ``{layer: [statistic, ...]}`` (:func:`statistics_plan`); default: mean
        and sd of continuous layers, proportions of categorical ones.
    tile_cells : int, default=1024
        Side [cells] of the tiles units are grouped by.

    Returns
    -------
    ZonalResult
    """
    if units.crs is None:
        raise StudyConfigError("mapping units have no CRS")
    plan = dict(plan or statistics_plan(names, kinds))
    shape = tuple(int(s) for s in data.shape[-2:])
    n = len(units)
    wins = unit_windows(units.geometry.bounds.to_numpy(dtype=float), transform, shape)
    on_grid = (wins[:, 0] < wins[:, 1]) & (wins[:, 2] < wins[:, 3])
    centre_r = (wins[:, 0] + wins[:, 1]) // 2 // tile_cells
    centre_c = (wins[:, 2] + wins[:, 3]) // 2 // tile_cells
    keys = centre_r * (shape[1] // tile_cells + 1) + centre_c
    index = {name: i for i, name in enumerate(names)}
    wkt = units.crs.to_wkt()
    x0, dx, y0, dy = transform.c, transform.a, transform.f, -transform.e
    # layers grouped by their operations: one exactextract call per group of layers and window
    by_ops: dict[tuple[str, ...], list[str]] = {}
    for name, stats in plan.items():
        ops = tuple(dict.fromkeys(_op(s) for s in stats))
        if "frac" in ops:
            ops = (*ops, "unique")
        by_ops.setdefault(ops, []).append(name)
    columns: dict[str, np.ndarray] = {}
    classes: dict[str, dict[float, np.ndarray]] = {n_: {} for n_, s in plan.items() if "proportions" in s}
    cells = np.zeros(n, dtype=np.float64)
    geoms = gpd.GeoDataFrame({"unit_row": np.arange(n)}, geometry=units.geometry.to_numpy(), crs=units.crs)
    used: list[tuple[int, int, int, int]] = []
    for key in np.unique(keys[on_grid]):
        rows = np.flatnonzero(on_grid & (keys == key))
        r0, r1 = int(wins[rows, 0].min()), int(wins[rows, 1].max())
        c0, c1 = int(wins[rows, 2].min()), int(wins[rows, 3].max())
        used.append((r0, r1, c0, c1))
        window = np.asarray(data[:, r0:r1, c0:c1], dtype=np.float64)
        box = (x0 + c0 * dx, y0 - r1 * dy, x0 + c1 * dx, y0 - r0 * dy)
        part = geoms.iloc[rows]
        valid = np.where(np.isfinite(window).all(axis=0), 1.0, np.nan)
        for g, (ops, layers) in enumerate(by_ops.items()):
            rasters = [NumPyRasterSource(window[index[name]], *box, srs_wkt=wkt, name=name) for name in layers]
            if g == 0:  # the covered valid cells in the same pass: the coverage fractions are computed once
                rasters.append(NumPyRasterSource(valid, *box, srs_wkt=wkt, name=_VALID))
                ops = (*ops, "count") if "count" not in ops else ops
            frame = exact_extract(rasters, part, list(ops), include_cols=["unit_row"], output="pandas")
            at = frame["unit_row"].to_numpy(dtype=np.int64)
            if g == 0:
                cells[at] = np.nan_to_num(frame[f"{_VALID}_count"].to_numpy(dtype=np.float64), nan=0.0)
            for name in layers:
                prefix = f"{name}_" if len(rasters) > 1 else ""
                for stat in plan[name]:
                    if stat == "proportions":
                        shares = classes[name]
                        for i, fr, un in zip(at, frame[f"{prefix}frac"], frame[f"{prefix}unique"], strict=True):
                            for value, share in zip(np.atleast_1d(un), np.atleast_1d(fr), strict=True):
                                shares.setdefault(float(value), np.zeros(n))[i] = float(share)
                        continue
                    col = f"{name}_{stat}"
                    columns.setdefault(col, np.full(n, np.nan))[at] = frame[f"{prefix}{_column_of_op(stat)}"].to_numpy(
                        dtype=np.float64
                    )
    out: dict[str, np.ndarray] = {}
    out_kinds: dict[str, str] = {}
    for name, stats in plan.items():
        for stat in stats:
            if stat == "proportions":
                for value in sorted(classes[name]):
                    col = class_column(name, value)
                    out[col] = classes[name][value]
                    out_kinds[col] = "continuous"
                continue
            col = f"{name}_{stat}"
            out[col] = columns.get(col, np.full(n, np.nan))
            out_kinds[col] = "categorical" if stat == "majority" else "continuous"
    table = pd.DataFrame(out, index=units.index)
    no_cell = cells <= 0
    table.loc[no_cell, :] = np.nan
    return ZonalResult(table=table, kinds=out_kinds, cells=cells, groups=len(used), windows=used)
