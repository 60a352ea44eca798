"""Proximity factors: distances to and densities of vector features.

Factors
-------
``distance_to_features``
    Euclidean distance [m] from each cell centre to the nearest feature
    (roads, rivers, faults, lakes), by an exact Euclidean distance transform
    of the rasterized features. Whole grid.
``kernel_density``
    Density of points [points/km²] (aftershocks, paper 001), quartic
    (Silverman 1986, as ArcGIS) or Gaussian kernel, by FFT convolution of the
    point histogram. Whole grid.

The seismic source geometry of paper 001 (epicentre distance, direction and
directivity, rupture and fault subsections) is in :mod:`susmap.factors.seismic`.

Conventions
-----------
- Distances are between cell centres and features, in grid CRS units; the
  grid must be projected (metres) and north-up
  (:meth:`~susmap.factors.registry.FactorContext.require_metric_grid`).
- Features beyond the grid edge count: both factors give on the study grid
  what they give on a larger grid holding every feature, cropped. A file
  whose features all lie beyond the plausible range of the grid
  (:attr:`~susmap.factors.registry.FactorContext.plausible_reach`, 1,000 km
  or 10 grid diagonals) is refused: its CRS is wrong.
- Both factors hold a few float64 arrays of the grid in memory (about
  30-40 bytes per cell; ``whole_grid=True`` in the registry).

References
----------
Maurer, C.R., Qi, R., Raghavan, V. (2003). A linear time algorithm for
computing exact Euclidean distance transforms of binary images in arbitrary
dimensions. IEEE TPAMI 25(2), 265-270 (the Voronoi-based EDT scipy implements).
Silverman, B.W. (1986). Density Estimation for Statistics and Data Analysis.
Chapman and Hall, London (quartic kernel, eq. 4.5).
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import numpy as np
import shapely
import xarray as xr

from susmap.errors import StudyConfigError, SusmapWarning
from susmap.factors.registry import FactorContext, check_number, register_factors, to_dataarray

__all__ = ["distance_to_features", "kernel_density"]

log = logging.getLogger(__name__)

KERNELS = ("quartic", "gaussian")
# Exact-distance margins are bounded on a grid of blocks with at most this many cells.
COARSE_CELLS = 1_000_000
# A Gaussian kernel is truncated at this many standard deviations (mass lost: exp(-8) = 0.034 %).
GAUSSIAN_TRUNCATE = 4.0


# --------------------------------------------------------------------------- distance to features


def distance_to_features(
    ctx: FactorContext,
    path: str,
    layer: str | None = None,
    where: str | None = None,
    margin_m: float | None = None,
    tiled: bool = False,
    max_distance_m: float | None = None,
) -> xr.DataArray:
    """Euclidean distance [m] from each cell centre to the nearest feature.

    Parameters
    ----------
    ctx : FactorContext
        The study grid (projected, north-up).
    path : str
        Vector file (GeoPackage, Shapefile, GeoJSON, ...) of lines, points or
        polygons (roads, rivers, faults, lakes); reprojected to the grid CRS.
    layer : str, optional
        Layer of a multi-layer file (GeoPackage).
    where : str, optional
        Attribute filter, a pandas query on the file's columns, e.g.
        ``"type == 'fault'"``.
    margin_m : float, optional
        Width [m] of the band around the grid on which features are also
        rasterized. Default (none): every feature that can be the nearest
        one to some cell is used, wherever it lies, so every distance is
        exact; give a width only to limit the work on purpose.
    tiled : bool, default=False
        Compute lazily chunk by chunk, each chunk from the EDT of a window
        around it (:mod:`susmap.factors.tiled_distance`): the same distances
        without holding the whole grid.
    max_distance_m : float, optional
        Cap [m]: distances beyond it read as the cap, min(EDT, cap); with
        ``tiled`` no chunk's window then reaches farther than the cap beyond
        the chunk. Default: no cap.

    Returns
    -------
    xarray.DataArray
        Float32 (y, x) [m]; 0 on every cell a feature touches.

    Raises
    ------
    InputFileError
        The vector file does not exist.
    StudyConfigError
        No feature (after ``where``), none on the grid or within ``margin_m``
        of it, or the features lie beyond the plausible range of the grid
        (another CRS, see :attr:`FactorContext.plausible_reach`).
    AlignmentError
        The grid is geographic or rotated.

    Notes
    -----
    Method: the features are burnt into a boolean mask with
    ``rasterio.features.rasterize(all_touched=True)`` (a line or polygon
    marks every cell it touches, a point the cell that holds it, a polygon
    also its interior), then ``scipy.ndimage.distance_transform_edt(~mask,
    sampling=(cell_y, cell_x))`` gives for every cell the exact Euclidean
    distance between its centre and the centre of the nearest marked cell.
    The result is therefore exact for the rasterized features; against the
    vector geometry it is off by at most half a cell diagonal.

    Features beyond the grid edge count: the mask is built on the grid grown
    on each side by as many cells as needed and cropped after the transform,
    so the result equals the distance computed on a larger grid holding
    every feature, cropped to the study grid. The growth is the smallest that
    is exact: no cell is farther from its nearest feature than R, the largest
    distance to the features on the grid (or, when none lies on it, the
    distance from the grid to the nearest feature plus the grid diagonal),
    so only features within R (plus one cell diagonal) of the grid can
    matter; each side grows only as far as those features reach beyond it.
    With ``margin_m`` the grid grows by ``ceil(margin_m / cell)`` cells on
    every side instead: distances are then exact wherever the nearest feature lies within ``margin_m`` of the
    grid.

    Whole grid: holds the mask, the float64 distances and scipy's int32
    feature indices, about 30 bytes per (grown) cell; the log reports the
    growth and a warning says when the grown grid exceeds 4 times the grid
    and 30 million cells.

    References
    ----------
    Maurer, C.R., Qi, R., Raghavan, V. (2003). A linear time algorithm for
    computing exact Euclidean distance transforms of binary images in
    arbitrary dimensions. IEEE TPAMI 25(2), 265-270.
    """
    what = "distance_to_features"
    if not isinstance(tiled, bool | np.bool_):
        raise StudyConfigError(f"{what}: tiled must be true or false, not {tiled!r}")
    if tiled:
        from susmap.factors.tiled_distance import tiled_distance_to_features

        return tiled_distance_to_features(
            ctx, path, layer=layer, where=where, margin_m=margin_m, max_distance_m=max_distance_m
        )
    ctx.require_metric_grid(what)
    cap = check_number(max_distance_m, f"{what}: max_distance_m", units=" [m]") if max_distance_m is not None else None
    if cap is not None and cap < 0:
        raise StudyConfigError(f"{what}: max_distance_m must be a number >= 0 [m], not {max_distance_m!r}")
    if margin_m is not None:
        try:
            margin_m = float(margin_m)
        except (TypeError, ValueError):
            raise StudyConfigError(f"{what}: margin_m must be a number >= 0 [m], not {margin_m!r}") from None
        if not math.isfinite(margin_m) or margin_m < 0:
            raise StudyConfigError(f"{what}: margin_m must be a number >= 0 [m], not {margin_m!r}")
    gdf, name = ctx.features(path, layer=layer, where=where, what=what)
    geoms = gdf.geometry.values
    grid = ctx.grid
    dx, dy = grid.res
    if margin_m is not None:
        px, py = math.ceil(margin_m / dx - 1e-9), math.ceil(margin_m / dy - 1e-9)
        pads = (px, py, px, py)
    else:
        ctx.require_near_grid(
            float(ctx.distance_from_grid(geoms).min()),
            what=what,
            param=f"path: the nearest feature of {name}",
            hint="check the file's CRS (its .prj or layer CRS) and extent",
        )
        pads = _exact_pads(ctx, geoms)
    dist = _padded_edt(ctx, geoms, pads)
    if dist is None:
        raise StudyConfigError(
            f"{what}: no feature of {name} lies on the grid"
            + (" or within margin_m" if margin_m else "")
            + "; check the file's extent or give a larger margin_m [m]"
        )
    attrs: dict[str, Any] = {"margin_m": margin_m} if margin_m is not None else {"margin_cells": repr(pads)}
    if cap is not None:
        dist = np.minimum(dist, cap)
        attrs["max_distance_m"] = cap
    return to_dataarray(dist, ctx, "distance_to_features", "m", source=name, **attrs)


def _rasterize_mask(geoms: np.ndarray, shape: tuple[int, int], transform: Any) -> np.ndarray:
    """Boolean mask of the cells of a (rows, cols) raster that the geometries touch (``all_touched``)."""
    from rasterio.features import rasterize

    return rasterize(
        ((geom, 1) for geom in geoms), out_shape=shape, transform=transform, fill=0, all_touched=True, dtype=np.uint8
    ).astype(bool)


def _rasterize_padded(ctx: FactorContext, geoms: np.ndarray, pads: tuple[int, int, int, int]) -> np.ndarray:
    """Boolean mask of the cells the features touch on the grid grown by (left, top, right, bottom) cells."""
    left, top, right, bottom = pads
    grid = ctx.grid
    t = grid.transform
    shape = (grid.height + top + bottom, grid.width + left + right)
    return _rasterize_mask(geoms, shape, t * t.translation(-left, -top))


def _padded_edt(ctx: FactorContext, geoms: np.ndarray, pads: tuple[int, int, int, int]) -> np.ndarray | None:
    """Distances [m] on the grid from the features rasterized on the grown grid; None when no cell is marked."""
    from scipy.ndimage import distance_transform_edt

    grid = ctx.grid
    dx, dy = grid.res
    mask = _rasterize_padded(ctx, geoms, pads)
    if not mask.any():
        return None
    left, top = pads[0], pads[1]
    grown = mask.size / (grid.height * grid.width)
    if any(pads):
        log.info("distance_to_features: grid grown by %s cells (left, top, right, bottom) for features beyond it", pads)
    if grown > 4.0 and mask.size > 30_000_000:  # about 1 GB of work arrays
        warnings.warn(
            f"distance_to_features: features beyond the grid edge need a grid {grown:.1f} times as large "
            f"({mask.shape[0]} x {mask.shape[1]} cells) for exact distances; give margin_m [m] to limit it",
            SusmapWarning,
            stacklevel=3,
        )
    dist = distance_transform_edt(~mask, sampling=(dy, dx))
    return dist[top : top + grid.height, left : left + grid.width]


def _exact_pads(ctx: FactorContext, geoms: np.ndarray) -> tuple[int, int, int, int]:
    """Cells to grow the grid by on each side (left, top, right, bottom) so that every distance is exact.

    Every cell's nearest marked cell lies within R of it, R bounded by the
    largest distance to the features on the grid (when some lie on it) or by
    the distance from the grid to the nearest feature plus the grid
    diagonal. A marked cell centre lies within half a cell diagonal of its
    feature, so features farther than R + one cell diagonal from the grid
    cannot be the nearest to any cell. Each side grows as far as the
    features within that reach extend beyond it, plus one cell.

    R is taken on a grid of f x f-cell blocks (f such that it has at most a
    million cells; f = 1 on smaller grids): the largest block-centre distance
    to a block a feature touches, plus one block diagonal, bounds every
    cell's distance to a cell that feature touches.
    """
    from affine import Affine
    from scipy.ndimage import distance_transform_edt

    grid = ctx.grid
    dx, dy = grid.res
    left, bottom, right, top = grid.bounds
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    if xmin >= left and ymin >= bottom and xmax <= right and ymax <= top:
        return (0, 0, 0, 0)
    f = max(1, math.ceil(math.sqrt(grid.height * grid.width / COARSE_CELLS)))
    shape = (math.ceil(grid.height / f), math.ceil(grid.width / f))
    coarse = _rasterize_mask(geoms, shape, grid.transform * Affine.scale(f))
    if coarse.any():
        reach = float(distance_transform_edt(~coarse, sampling=(f * dy, f * dx)).max())
        reach += (math.hypot(f * dx, f * dy) if f > 1 else 0.0) + math.hypot(dx, dy)
    else:
        reach = float(ctx.distance_from_grid(geoms).min()) + math.hypot(right - left, top - bottom)
        reach += math.hypot(dx, dy)
    near = shapely.clip_by_rect(geoms, left - reach, bottom - reach, right + reach, top + reach)
    near = near[~shapely.is_empty(near)]
    if len(near) == 0:
        return (0, 0, 0, 0)
    xmin, ymin, xmax, ymax = shapely.total_bounds(near)

    def cells(beyond: float, size: float) -> int:
        return math.ceil(beyond / size - 1e-9) + 1 if beyond > 0 else 0

    return (cells(left - xmin, dx), cells(ymax - top, dy), cells(xmax - right, dx), cells(bottom - ymin, dy))


# --------------------------------------------------------------------------- kernel density


def _kernel_weights(kernel: str, bandwidth: float, dx: float, dy: float) -> np.ndarray:
    """Kernel values [1/m²] at the cell-centre offsets of a (2 ry + 1, 2 rx + 1) window."""
    radius = bandwidth if kernel == "quartic" else GAUSSIAN_TRUNCATE * bandwidth
    rx, ry = int(radius // dx), int(radius // dy)
    oy = np.arange(-ry, ry + 1, dtype=np.float64)[:, None] * dy
    ox = np.arange(-rx, rx + 1, dtype=np.float64)[None, :] * dx
    d2 = ox**2 + oy**2
    if kernel == "quartic":
        u2 = d2 / bandwidth**2
        return np.where(u2 < 1.0, 3.0 / (np.pi * bandwidth**2) * (1.0 - u2) ** 2, 0.0)
    k = np.exp(-0.5 * d2 / bandwidth**2) / (2.0 * np.pi * bandwidth**2)
    return np.where(d2 <= radius**2, k, 0.0)


def _convolve_valid(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``scipy.signal.fftconvolve(image, kernel, mode="valid")`` with real FFTs on all cores."""
    from scipy import fft

    shape = [fft.next_fast_len(a + b - 1, real=True) for a, b in zip(image.shape, kernel.shape, strict=True)]
    spec = fft.rfft2(image, shape, workers=-1)
    spec *= fft.rfft2(kernel, shape, workers=-1)
    full = fft.irfft2(spec, shape, workers=-1)
    (kh, kw), (h, w) = kernel.shape, image.shape
    return full[kh - 1 : h, kw - 1 : w]


def kernel_density(
    ctx: FactorContext,
    path: str,
    bandwidth_m: float,
    kernel: str = "quartic",
    weight: str | None = None,
    layer: str | None = None,
    where: str | None = None,
) -> xr.DataArray:
    """Kernel density of points [points/km²] (aftershocks in paper 001).

    Parameters
    ----------
    ctx : FactorContext
        The study grid (projected, north-up).
    path : str
        Vector file of points (Point or MultiPoint), e.g. aftershock epicentres.
    bandwidth_m : float
        Bandwidth h [m]: the search radius of the quartic kernel (ArcGIS
        "search radius"), the standard deviation of the Gaussian kernel.
    kernel : {"quartic", "gaussian"}, default="quartic"
        Quartic: K(d) = 3 / (π h²) · (1 - d²/h²)² for d < h, else 0
        (Silverman 1986, eq. 4.5; ArcGIS Kernel Density). Gaussian:
        K(d) = exp(-d² / (2 h²)) / (2 π h²), truncated at 4 h.
    weight : str, optional
        Numeric column that weights each point (ArcGIS "population field"),
        e.g. magnitude; the result is then [weight units/km²].
    layer : str, optional
        Layer of a multi-layer file.
    where : str, optional
        Attribute filter (pandas query), e.g. ``"magnitude >= 4"``.

    Returns
    -------
    xarray.DataArray
        Float32 (y, x) [points/km²]: Σ_i w_i K(d_i) × 10⁶ over the points i,
        d_i the distance [m] from the cell centre to point i.

    Raises
    ------
    InputFileError
        The vector file does not exist.
    StudyConfigError
        Bad bandwidth, kernel or weight column, non-point geometries, no point.
    AlignmentError
        The grid is geographic or rotated.

    Notes
    -----
    Method: each point is counted (with its weight) in the cell that holds
    it, on the grid padded by the kernel radius so that points outside the
    grid but within reach contribute too; the histogram is convolved (real
    FFTs, ``scipy.fft``) with the kernel sampled at cell-centre
    offsets. A point is thus moved to the centre of its cell (at most half a
    cell diagonal), which is negligible when h spans several cells. Points
    farther than the kernel radius from the grid add nothing to any cell, so
    the density equals the one computed on a larger grid holding every
    point, cropped to the study grid. A file whose nearest point lies beyond
    the plausible range of the grid (:attr:`FactorContext.plausible_reach`,
    a CRS mistake) is refused. Over a grid
    that holds every kernel, the density integrates to the number of points
    (sum of weights): Σ density × cell area [km²] = n, up to the
    discretisation of the kernel, which is checked (a warning when it is off
    by more than 1 %, i.e. h is too small for the cell size). FFT round-off
    below 10⁻⁹ of the maximum is set to 0.

    Whole grid: holds the padded histogram and the FFT buffers, about
    40 bytes per padded cell.

    References
    ----------
    Silverman, B.W. (1986). Density Estimation for Statistics and Data
    Analysis. Chapman and Hall, London.
    """
    what = "kernel_density"
    ctx.require_metric_grid(what)
    bandwidth = check_number(bandwidth_m, "bandwidth_m", positive=True, units=" [m]")
    if kernel not in KERNELS:
        raise StudyConfigError(f"{what}: kernel must be one of {', '.join(KERNELS)}, not {kernel!r}")
    gdf, name = ctx.features(path, layer=layer, where=where, what=what)
    types = set(gdf.geometry.geom_type)
    if not types <= {"Point", "MultiPoint"}:
        raise StudyConfigError(
            f"{what}: {name} must hold points, not {', '.join(sorted(types - {'Point', 'MultiPoint'}))}"
        )
    if weight is None:
        w = np.ones(len(gdf))
    else:
        if weight not in gdf.columns:
            raise StudyConfigError(
                f"{what}: {name} has no column {weight!r} for weight; columns: {', '.join(map(str, gdf.columns))}"
            )
        try:
            w = gdf[weight].to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            raise StudyConfigError(f"{what}: {name}: weight column {weight!r} is not numeric") from None
        if not np.isfinite(w).all():
            raise StudyConfigError(
                f"{what}: {name}: weight column {weight!r} has {int((~np.isfinite(w)).sum())} missing values"
            )
    ctx.require_near_grid(
        float(ctx.distance_from_grid(gdf.geometry.values).min()),
        what=what,
        param=f"path: the nearest point of {name}",
        hint="check the file's CRS (its .prj or layer CRS) and extent",
    )
    counts = shapely.get_num_geometries(gdf.geometry.values)
    xy = shapely.get_coordinates(gdf.geometry.values)
    w = np.repeat(w, counts)

    grid = ctx.grid
    dx, dy = grid.res
    kern = _kernel_weights(kernel, bandwidth, dx, dy)
    mass = float(kern.sum() * dx * dy)
    if abs(mass - 1.0) > 0.01:
        warnings.warn(
            f"{what}: with bandwidth_m={bandwidth:g} and {dx:g} x {dy:g} m cells the sampled kernel integrates to "
            f"{mass:.3f} instead of 1; use a bandwidth of several cells",
            SusmapWarning,
            stacklevel=2,
        )
    ry, rx = kern.shape[0] // 2, kern.shape[1] // 2
    hp, wp = grid.height + 2 * ry, grid.width + 2 * rx
    left, top = grid.transform.c, grid.transform.f
    cols = np.floor((xy[:, 0] - left) / dx).astype(np.int64) + rx
    rows = np.floor((top - xy[:, 1]) / dy).astype(np.int64) + ry
    keep = (rows >= 0) & (rows < hp) & (cols >= 0) & (cols < wp)
    hist = np.bincount(rows[keep] * wp + cols[keep], weights=w[keep], minlength=hp * wp).reshape(hp, wp)
    dens = _convolve_valid(hist, kern * 1e6)
    top_value = dens.max(initial=0.0)
    dens[dens < 1e-9 * top_value] = 0.0
    return to_dataarray(
        dens,
        ctx,
        "kernel_density",
        "1/km2",
        source=name,
        kernel=kernel,
        bandwidth_m=bandwidth,
        n_points=int(keep.sum()),
    )


register_factors(
    [
        (
            "distance_to_features",
            distance_to_features,
            "m",
            "Euclidean distance to the nearest vector feature (exact EDT of the rasterized features)",
            ("maurer2003",),
        ),
        (
            "kernel_density",
            kernel_density,
            "1/km2",
            "point kernel density, quartic (Silverman 1986, as ArcGIS) or Gaussian; aftershocks in paper 001",
            ("silverman1986", "li2021"),
        ),
    ],
    whole_grid=True,
)
