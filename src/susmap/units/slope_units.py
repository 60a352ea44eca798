"""Slope units from a DEM: half-basins refined by the r.slopeunits criteria.

A slope unit is the part of a drainage basin on one side of a stream reach:
a slope that drains, from divide to stream, in one general direction.
:func:`delineate_slope_units` follows the iterative procedure of Alvioli et
al. (2016), "Automatic delineation of geomorphological slope units with
r.slopeunits v1.0 and their optimization for landslide susceptibility
modeling", Geosci. Model Dev. 9: 3975–3991, doi:10.5194/gmd-9-3975-2016.

Procedure
---------
1. Route flow once. The DEM is conditioned (depressions filled, Wang & Liu
   2006) and given D8 directions by :func:`pyflwdir.from_dem` (outlets on the
   grid border); the flow accumulation A (cells, the cell itself included)
   is computed once: lowering the threshold only adds streams, so every
   iteration's network contains the previous one.
2. Half-basins for a threshold t (cells). Streams are the cells with
   A ≥ t; a reach runs from a head or confluence down to the cell above the
   next confluence. Every non-stream cell follows its D8 path to the first
   stream cell s it meets; the side of the stream line through s on which
   the path's last non-stream cell c lies decides the half-basin: the rays
   from s to its downstream cell and to its upstream stream cells cut s's
   3 × 3 neighbourhood into sectors; the sector counter-clockwise of the
   out-ray is the left half-basin of s's reach, the sector clockwise of it
   the right one, and a wedge between two tributaries joining at s belongs
   to the right half-basin of the tributary bounding it clockwise. A
   diagonal D8 step that crosses a diagonal stream link counts as entering
   the stream at that link, so D8's crossing paths cannot carry cells to the
   far bank. Stream cells join their reach's left half-basin. Cells that
   reach the border without meeting a stream form one unit per outlet.
3. Unit criteria. For each unit: its area and the circular variance of
   aspect, CV = 1 - |Σ u_i| / n over the unit vectors u_i of the aspect of
   its n non-flat cells (Alvioli et al. 2016, eq. 1; aspect from Horn's
   1981 3 × 3 gradient of the unconditioned DEM, missing neighbours
   extrapolated linearly; cells with tan slope < 1e-4 are flat and left
   out). A unit is accepted when
   area ≤ ``max_area_m2`` and (CV ≤ ``cvmin`` or area ≤ ``min_area_m2``);
   every other unit stays "to do".
4. Iterate. The threshold becomes t - t / rf (the paper's and
   r.slopeunits' rule t_{i+1} = t_i - t_i / r, truncated to whole cells),
   and only the cells of units still to do are re-split, each unit into its
   intersections with the new half-basins. As in r.slopeunits, a split is
   rejected when the mean area of the pieces a unit falls into is below
   ``min_area_m2`` (unless that unit is larger than ``max_area_m2``): the
   unit is then accepted whole. The loop ends when nothing is left to do,
   after ``max_iterations`` iterations, or when the threshold can no longer
   decrease (t < rf); units still to do are kept as last split.
5. Clean. Units smaller than ``clean_min_area_m2`` are merged into the
   neighbour sharing the longest border with them (4-connected cell edges;
   ties go to the larger neighbour), smallest first, repeated until none is
   left that has a neighbour; this is what r.slopeunits' cleaning with
   GRASS ``v.clean tool=rmarea`` does on the polygons.

Deviations from Alvioli et al. (2016) and r.slopeunits
------------------------------------------------------
- Half-basins come from D8 routing over the filled DEM (pyflwdir), with
  the side rule above, instead of GRASS ``r.watershed``'s A* search and its
  MFD accumulation; the network is one cell wide.
- The threshold is given in cells, not m² (``threshold_cells`` × cell area).
- Cells to re-split are grouped by (previous unit, new half-basin), so a
  unit never spreads outside the unit it was split from.
- No split-rejection check in the first iteration (there is no previous
  unit but the whole DEM).
- No alluvial-plains mask; flat cells only drop out of the circular
  variance.
- Cleaning merges on raster cell edges rather than on vector boundaries.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyflwdir
from affine import Affine

from susmap.errors import AlignmentError, OutputError, StudyConfigError
from susmap.units import kernels

__all__ = [
    "SlopeUnitParameters",
    "SlopeUnits",
    "delineate_slope_units",
    "slope_units_to_gpkg",
]

#: Cells whose Horn tan slope is below this are flat: no aspect, left out of the circular variance.
FLAT_TAN_SLOPE = 1e-4

#: Why a unit was accepted (table column ``criterion``).
CRITERIA = ("circular_variance", "min_area", "split_rejected", "last_iteration")

_LAYER = "slope_units"


def _check_positive(name: str, value: Any, *, integer: bool = False, allow_zero: bool = False) -> None:
    key = f"slope_units.{name}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise StudyConfigError(f"{key} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise StudyConfigError(f"{key} must be finite, got {value!r}")
    if integer and float(value) != int(value):
        raise StudyConfigError(f"{key} must be a whole number, got {value!r}")
    if allow_zero:
        if value < 0:
            raise StudyConfigError(f"{key} must be >= 0, got {value!r}")
    elif value <= 0:
        raise StudyConfigError(f"{key} must be > 0, got {value!r}")


@dataclass(frozen=True)
class SlopeUnitParameters:
    """The r.slopeunits criteria (Alvioli et al. 2016, section 2; their names in brackets).

    threshold_cells:
        Initial flow-accumulation threshold of the stream network, in cells
        (``thresh``, given there in m²).
    min_area_m2:
        Units of this area or smaller [m²] are not split further (``areamin``).
    max_area_m2:
        Units larger than this [m²] are split whatever their aspect (``areamax``).
    cvmin:
        Circular variance of aspect (0–1) at or below which a unit is
        accepted (``cvmin``).
    reduction_factor:
        rf > 1: the threshold becomes t - t / rf at each iteration (``rf``).
    max_iterations:
        Largest number of iterations (``maxiteration``).
    clean_min_area_m2:
        Units smaller than this [m²] are merged into the neighbour sharing
        the longest border (``cleansize``); 0 turns cleaning off.
    """

    threshold_cells: int = 2_500
    min_area_m2: float = 50_000.0
    max_area_m2: float = 1_000_000.0
    cvmin: float = 0.25
    reduction_factor: float = 5.0
    max_iterations: int = 20
    clean_min_area_m2: float = 25_000.0

    def __post_init__(self) -> None:
        _check_positive("threshold_cells", self.threshold_cells, integer=True)
        _check_positive("min_area_m2", self.min_area_m2)
        _check_positive("max_area_m2", self.max_area_m2)
        _check_positive("cvmin", self.cvmin)
        _check_positive("reduction_factor", self.reduction_factor)
        _check_positive("max_iterations", self.max_iterations, integer=True)
        _check_positive("clean_min_area_m2", self.clean_min_area_m2, allow_zero=True)
        if self.min_area_m2 >= self.max_area_m2:
            raise StudyConfigError(
                f"slope_units.min_area_m2 ({self.min_area_m2}) must be smaller than "
                f"slope_units.max_area_m2 ({self.max_area_m2})"
            )
        if not 0.0 < self.cvmin < 1.0:
            raise StudyConfigError(f"slope_units.cvmin must lie strictly between 0 and 1, got {self.cvmin!r}")
        if self.reduction_factor <= 1.0:
            raise StudyConfigError(f"slope_units.reduction_factor must be > 1, got {self.reduction_factor!r}")


@dataclass(frozen=True)
class SlopeUnits:
    """Result of :func:`delineate_slope_units`.

    ids:
        int32 raster of unit ids, 0 = nodata, 1 .. n on every valid cell.
    table:
        One row per unit: ``id``, ``cells``, ``area_m2``,
        ``circular_variance`` (of aspect, 0–1), ``mean_aspect_deg``
        (azimuth of the mean aspect vector, clockwise from north; NaN for an
        all-flat unit), ``iteration`` (1-based, when accepted),
        ``threshold_cells`` (threshold of the network that delineated it),
        ``criterion`` (one of :data:`CRITERIA`), ``merged_units`` (small
        units cleaned into it).
    streams:
        bool raster of the stream lines that bound the units: a cell is a
        stream cell where its accumulation reaches the threshold of the
        network that delineated its unit (before cleaning).
    thresholds:
        Threshold [cells] of each iteration run.
    cell_area_m2:
        Area of one cell [m²].
    """

    ids: np.ndarray
    table: pd.DataFrame
    streams: np.ndarray
    thresholds: tuple[int, ...]
    cell_area_m2: float
    params: SlopeUnitParameters = field(default_factory=SlopeUnitParameters)


def _cell_size(transform: Any) -> tuple[float, float]:
    if not isinstance(transform, Affine):
        raise AlignmentError(f"transform must be an affine.Affine, got {type(transform).__name__}")
    if transform.b != 0 or transform.d != 0:
        raise AlignmentError("transform is rotated or sheared; slope units need a north-up grid")
    dx, dy = abs(transform.a), abs(transform.e)
    if dx == 0 or dy == 0:
        raise AlignmentError("transform has a zero cell size")
    return dx, dy


def _unit_stats(labels: np.ndarray, east: np.ndarray, north: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """Cells, Σ sin(aspect), Σ cos(aspect) and non-flat cells per label 0 .. n-1."""
    cells = np.bincount(labels, minlength=n)
    se = np.bincount(labels, weights=east, minlength=n)
    sn = np.bincount(labels, weights=north, minlength=n)
    nonflat = np.bincount(labels, weights=(east != 0) | (north != 0), minlength=n)
    return cells, se, sn, nonflat


def _pieces(parent: np.ndarray, hbv: np.ndarray, hb_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Label each cell by its (previous unit, new half-basin) pair; return (labels, previous unit of each label).

    Half-basins mostly nest in the previous units (lower thresholds only add
    streams), so a dense lookup by half-basin labels most cells; the few
    half-basins that do not nest (where a head reach grows upstream and
    bends, the cells between its old straight continuation and its new
    course change sides) are paired by sorting.
    """
    labels = np.empty(hbv.size, dtype=hbv.dtype)
    owner = np.empty(hb_max + 1, dtype=hbv.dtype)
    m, n_split = kernels.piece_labels(parent, hbv, hb_max, labels, owner)
    owner = owner[:m]
    if n_split:
        idx = np.flatnonzero(labels < 0)
        uniq, inverse = np.unique(parent[idx].astype(np.int64) * (hb_max + 1) + hbv[idx], return_inverse=True)
        labels[idx] = m + inverse
        owner = np.concatenate([owner, (uniq // (hb_max + 1)).astype(owner.dtype)])
    return labels, owner.copy()


def _circular_variance(se: np.ndarray, sn: np.ndarray, nonflat: np.ndarray) -> np.ndarray:
    """CV = 1 - |Σ u| / n (Alvioli et al. 2016, eq. 1); 0 where a unit has no non-flat cell."""
    with np.errstate(invalid="ignore", divide="ignore"):
        cv = 1.0 - np.hypot(se, sn) / nonflat
    return np.where(nonflat > 0, np.clip(cv, 0.0, 1.0), 0.0)


def _clean(ids: np.ndarray, cell_area: float, min_area: float, n_units: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge units smaller than ``min_area`` into the neighbour sharing the longest border.

    Returns the relabelled ids (same numbering, merged ids gone) and, per old
    id, the number of units merged into it.
    """
    merged = np.zeros(n_units + 1, dtype=np.int64)
    for _ in range(50):
        area = np.bincount(ids.ravel(), minlength=n_units + 1).astype(np.float64) * cell_area
        small = (area < min_area) & (area > 0)
        small[0] = False
        if not small.any():
            break
        a, b = kernels.border_pairs(ids, small)
        if a.size == 0:
            break
        src = np.concatenate([a, b])
        dst = np.concatenate([b, a])
        keep = small[src]
        key = src[keep] * (n_units + 1) + dst[keep]
        pair, border = np.unique(key, return_counts=True)
        psrc, pdst = pair // (n_units + 1), pair % (n_units + 1)
        # best neighbour per small unit: longest border, then the larger neighbour
        order = np.lexsort((-area[pdst], -border, psrc))
        first = np.ones(order.size, dtype=bool)
        first[1:] = psrc[order][1:] != psrc[order][:-1]
        best = np.zeros(n_units + 1, dtype=np.int64)
        best[psrc[order][first]] = pdst[order][first]
        root = np.arange(n_units + 1)

        def find(u: int, root: np.ndarray = root) -> int:
            while root[u] != u:
                root[u] = root[root[u]]
                u = int(root[u])
            return u

        changed = False
        candidates = np.flatnonzero(best)
        for u in candidates[np.argsort(area[candidates], kind="stable")]:
            ru = find(int(u))
            if area[ru] >= min_area:
                continue
            rv = find(int(best[u]))
            if ru == rv:
                continue
            if area[rv] < area[ru]:  # keep the larger as root so its attributes survive
                ru, rv = rv, ru
            root[ru] = rv
            area[rv] += area[ru]
            merged[rv] += 1 + merged[ru]
            merged[ru] = 0
            changed = True
        if not changed:
            break
        while True:
            nxt = root[root]
            if np.array_equal(nxt, root):
                break
            root = nxt
        ids = root[ids].astype(np.int32)
    return ids, merged


def delineate_slope_units(
    dem: np.ndarray,
    transform: Affine,
    *,
    params: SlopeUnitParameters | None = None,
    nodata: float = np.nan,
) -> SlopeUnits:
    """Delineate slope units on a DEM (Alvioli et al. 2016; see the module docstring).

    Parameters
    ----------
    dem:
        2-D elevation [m], row 0 north; ``nodata`` (or NaN) marks missing cells.
    transform:
        Affine geotransform of the grid (north-up, projected, metres).
    params:
        The criteria; defaults to :class:`SlopeUnitParameters`'s.
    nodata:
        Value of missing cells besides NaN.

    Returns
    -------
    SlopeUnits
        Unit ids (every valid cell in exactly one unit), the unit table and
        the bounding stream lines.
    """
    params = params or SlopeUnitParameters()
    dem = np.asarray(dem)
    if dem.ndim != 2:
        raise AlignmentError(f"dem must be a 2-D array, got {dem.ndim} dimensions")
    if not np.issubdtype(dem.dtype, np.number):
        raise AlignmentError(f"dem must hold numbers, got dtype {dem.dtype}")
    dx, dy = _cell_size(transform)
    cell_area = dx * dy
    z = dem.astype(np.float32, copy=True)
    if not (isinstance(nodata, float) and math.isnan(nodata)):
        z[dem == nodata] = np.nan
    z[~np.isfinite(z)] = np.nan
    valid2d = np.isfinite(z)
    if not valid2d.any():
        raise AlignmentError("dem has no valid cell")
    nrow, ncol = z.shape
    n = z.size

    east = np.zeros(z.shape, dtype=np.float32)
    north = np.zeros(z.shape, dtype=np.float32)
    kernels.horn_downslope(z, float(dx), float(dy), FLAT_TAN_SLOPE, east, north)
    east = east.ravel()
    north = north.ravel()

    flw = pyflwdir.from_dem(z, nodata=np.nan, transform=transform, latlon=False)
    idxs_ds = flw.idxs_ds
    idxs_seq = flw.idxs_seq
    acc = flw.upstream_area("cell").ravel()
    del z
    valid = valid2d.ravel()

    final = np.zeros(n, dtype=np.int32)  # accepted unit, 1-based; 0 = still to do or nodata
    unit_iteration: list[int] = []
    unit_threshold: list[int] = []
    unit_criterion: list[str] = []

    # cell indices and ids fit int32 below 2**30 cells (ids reach 2 n + 1)
    index = np.int32 if n < 2**30 else np.int64
    todo = np.flatnonzero(valid).astype(index)
    parent = np.zeros(todo.size, dtype=index)
    parent_area = np.array([todo.size * cell_area])
    parent_threshold = np.array([params.threshold_cells], dtype=np.int64)
    thresholds: list[int] = []
    threshold = int(params.threshold_cells)
    reach = np.empty(n, dtype=index)
    hb = np.zeros(n, dtype=index)

    def accept(cells: np.ndarray, labels: np.ndarray, n_new: int, iteration: int, thr: np.ndarray, crit: list[str]):
        """Give ``n_new`` accepted units (labels 0 .. n_new-1 of ``cells``) the next final ids."""
        start = len(unit_iteration) + 1
        final[cells] = labels.astype(np.int32) + start
        unit_iteration.extend([iteration] * n_new)
        unit_threshold.extend(int(t) for t in thr)
        unit_criterion.extend(crit)

    iteration = 0
    for iteration in range(1, params.max_iterations + 1):
        thresholds.append(threshold)
        stream = valid & (acc >= threshold)
        n_reach = kernels.stream_reaches(idxs_seq, idxs_ds, stream, reach)
        hb_max = kernels.half_basins(idxs_seq, idxs_ds, stream, reach, n_reach, nrow, ncol, hb)
        del stream
        labels, unit_parent = _pieces(parent, hb[todo], hb_max)
        m = unit_parent.size
        cells, se, sn, nonflat = _unit_stats(labels, east[todo], north[todo], m)
        area = cells * cell_area
        cv = _circular_variance(se, sn, nonflat)

        rejected = np.zeros(parent_area.size, dtype=bool)
        if iteration > 1:
            pieces = np.bincount(unit_parent, minlength=parent_area.size)
            rejected = (pieces > 1) & (parent_area / pieces < params.min_area_m2) & (parent_area <= params.max_area_m2)
        unit_rejected = rejected[unit_parent]
        still = ~unit_rejected & ((area > params.max_area_m2) | ((area > params.min_area_m2) & (cv > params.cvmin)))
        ok = ~unit_rejected & ~still

        if rejected.any():
            cell_rej = rejected[parent]
            rej_index = np.cumsum(rejected) - 1
            accept(
                todo[cell_rej],
                rej_index[parent[cell_rej]],
                int(rejected.sum()),
                iteration,
                parent_threshold[rejected],
                ["split_rejected"] * int(rejected.sum()),
            )
        if ok.any():
            ok_index = np.cumsum(ok) - 1
            cell_ok = ok[labels]
            crit = np.where(area[ok] <= params.min_area_m2, "min_area", "circular_variance").tolist()
            accept(
                todo[cell_ok], ok_index[labels[cell_ok]], int(ok.sum()), iteration, [threshold] * int(ok.sum()), crit
            )

        cell_still = still[labels]
        todo = todo[cell_still]
        parent = (np.cumsum(still) - 1).astype(index)[labels[cell_still]]
        parent_area = area[still]
        parent_threshold = np.full(int(still.sum()), threshold, dtype=np.int64)
        del labels, cell_still
        if todo.size == 0:
            break
        nxt = int(threshold - threshold / params.reduction_factor)
        if nxt < 1 or nxt >= threshold:
            break
        threshold = nxt
    if todo.size:
        n_left = parent_area.size
        accept(todo, parent, n_left, iteration, parent_threshold, ["last_iteration"] * n_left)
    del todo, parent, reach, hb

    n_units = len(unit_iteration)
    unit_thr = np.asarray(unit_threshold, dtype=np.int64)
    thr_cell = np.zeros(n, dtype=acc.dtype)
    thr_cell[valid] = unit_thr[final[valid] - 1]
    streams = (valid & (acc >= thr_cell)).reshape(nrow, ncol)
    del thr_cell

    ids = final.reshape(nrow, ncol)
    merged = np.zeros(n_units + 1, dtype=np.int64)
    if params.clean_min_area_m2 > 0:
        ids, merged = _clean(ids, cell_area, params.clean_min_area_m2, n_units)

    # number the surviving units 1 .. k in order of acceptance
    present = np.bincount(ids.ravel(), minlength=n_units + 1) > 0
    present[0] = False
    old = np.flatnonzero(present)
    renum = np.zeros(n_units + 1, dtype=np.int32)
    renum[old] = np.arange(1, old.size + 1, dtype=np.int32)
    ids = renum[ids]

    k = old.size
    cells, se, sn, nonflat = _unit_stats(ids.ravel(), east, north, k + 1)
    cv = _circular_variance(se, sn, nonflat)
    with np.errstate(invalid="ignore"):
        aspect = np.where(nonflat > 0, np.degrees(np.arctan2(se, sn)) % 360.0, np.nan)
    meta = old - 1
    table = pd.DataFrame(
        {
            "id": np.arange(1, k + 1, dtype=np.int32),
            "cells": cells[1:].astype(np.int64),
            "area_m2": cells[1:] * cell_area,
            "circular_variance": cv[1:],
            "mean_aspect_deg": aspect[1:],
            "iteration": np.asarray(unit_iteration, dtype=np.int32)[meta],
            "threshold_cells": unit_thr[meta],
            "criterion": np.asarray(unit_criterion, dtype=object)[meta],
            "merged_units": merged[old],
        }
    )
    return SlopeUnits(
        ids=ids.astype(np.int32, copy=False),
        table=table,
        streams=streams,
        thresholds=tuple(thresholds),
        cell_area_m2=cell_area,
        params=params,
    )


def slope_units_to_gpkg(
    units: SlopeUnits,
    transform: Affine,
    crs: Any,
    path: str | Path,
    *,
    raster_path: str | Path | None = None,
) -> tuple[Path, Path]:
    """Write the units as polygons (GeoPackage layer ``slope_units``) and their id raster (GeoTIFF).

    Polygons come from :func:`rasterio.features.shapes` (4-connected cell
    outlines), dissolved per id; their attributes are the unit table's. The
    id raster (int32, nodata 0) is written tiled and deflate-compressed to
    ``raster_path``, by default ``path`` with the suffix ``.tif``. Returns
    (GeoPackage path, GeoTIFF path).
    """
    import geopandas as gpd
    import rasterio
    import rasterio.features
    import shapely
    from shapely.geometry import shape

    path = Path(path)
    raster_path = Path(raster_path) if raster_path is not None else path.with_suffix(".tif")
    ids = np.ascontiguousarray(units.ids, dtype=np.int32)
    parts: dict[int, list[Any]] = {}
    for geom, value in rasterio.features.shapes(ids, mask=ids > 0, transform=transform, connectivity=4):
        parts.setdefault(int(value), []).append(shape(geom))
    table = units.table
    geometries = []
    for uid in table["id"].to_numpy():
        pieces = parts.get(int(uid))
        if not pieces:
            raise OutputError(f"unit {uid} has no cell in units.ids; the table and the raster disagree")
        geometries.append(pieces[0] if len(pieces) == 1 else shapely.union_all(pieces))
    frame = gpd.GeoDataFrame(table.copy(), geometry=geometries, crs=crs)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.unlink()
        frame.to_file(path, layer=_LAYER, driver="GPKG")
        profile = {
            "driver": "GTiff",
            "width": ids.shape[1],
            "height": ids.shape[0],
            "count": 1,
            "dtype": "int32",
            "crs": crs,
            "transform": transform,
            "nodata": 0,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
            "compress": "deflate",
        }
        with rasterio.open(raster_path, "w", **profile) as dst:
            dst.write(ids, 1)
    except OSError as exc:
        raise OutputError(f"cannot write slope units to {path} / {raster_path}: {exc}") from exc
    return path, raster_path
