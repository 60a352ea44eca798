"""Proximity and seismic factors: distances, densities and directions from vector features.

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
``distance_to_epicentre``, ``direction_to_epicentre``, ``epicentre_directivity``
    Distance [m], azimuth [degrees] and the epicentre directivity index of
    paper 001, eq. 16 [radians]. Chunked (lazy).
``rupture_distance``, ``rupture_direction``
    Distance [m] to the nearest subsection (segment between two vertices) of
    the surface-rupture or fault polylines, and the orientation [degrees] of
    that subsection: paper 001's Thiessen construction, computed exactly per
    cell. Chunked (lazy).

Conventions
-----------
- Distances are between cell centres and features, in grid CRS units; the
  grid must be projected (metres). Azimuths are clockwise from grid north
  (the +y axis of the projected CRS, not true north).
- Whole-grid factors (``whole_grid=True`` in the registry) hold a few
  float64 arrays of the grid in memory (about 20-40 bytes per cell).

References
----------
[001] The study's paper 001 (earthquake-induced landslides, Wenchuan; stacked
autoencoder): section 3.3, Table 3 and eq. 16 (epicentre directivity, surface
rupture directivity, fault direction, aftershock kernel density).
Maurer, C.R., Qi, R., Raghavan, V. (2003). A linear time algorithm for
computing exact Euclidean distance transforms of binary images in arbitrary
dimensions. IEEE TPAMI 25(2), 265-270 (the Voronoi-based EDT scipy implements).
Silverman, B.W. (1986). Density Estimation for Statistics and Data Analysis.
Chapman and Hall, London (quartic kernel, eq. 4.5).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import dask.array as da
import geopandas as gpd
import numpy as np
import shapely
import xarray as xr
from numba import njit

from susmap.errors import AlignmentError, StudyConfigError, SusmapWarning
from susmap.factors.registry import FactorContext, FactorSpec, register_factor, to_dataarray
from susmap.grid import Grid

__all__ = [
    "direction_to_epicentre",
    "distance_to_epicentre",
    "distance_to_features",
    "epicentre_directivity",
    "kernel_density",
    "rupture_direction",
    "rupture_distance",
]

KERNELS = ("quartic", "gaussian")
# A Gaussian kernel is truncated at this many standard deviations (mass lost: exp(-8) = 0.034 %).
GAUSSIAN_TRUNCATE = 4.0
# Side [cells] of the sub-blocks the nearest-subsection search prunes candidates for.
_SUBBLOCK = 32


# --------------------------------------------------------------------------- helpers


def _require_north_up(grid: Grid, what: str) -> None:
    t = grid.transform
    if t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0:
        raise AlignmentError(f"{what}: needs a north-up grid without rotation; the grid transform is {tuple(t)[:6]}")


def _check_metric_grid(ctx: FactorContext, what: str) -> None:
    ctx.grid.require_projected(what)
    _require_north_up(ctx.grid, what)


def _features(
    ctx: FactorContext, path: str, *, layer: str | None, where: str | None, what: str
) -> tuple[gpd.GeoDataFrame, str]:
    """Features of a vector file in the grid CRS, filtered by ``where``; refuses an empty result."""
    gdf = ctx.vector(path, layer=layer)
    name = str(ctx.path(path))
    if where is not None:
        try:
            gdf = gdf.query(where)
        except Exception as err:
            raise StudyConfigError(
                f"{what}: {name}: where={where!r} cannot be evaluated ({str(err).splitlines()[0]}); "
                f"columns: {', '.join(map(str, gdf.columns))}"
            ) from None
    if len(gdf) == 0:
        filt = f" matching where={where!r}" if where is not None else ""
        raise StudyConfigError(f"{what}: {name} holds no feature{filt}")
    return gdf, name


def _check_positive(value: float, name: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise StudyConfigError(f"{name} must be a number [m], not {value!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise StudyConfigError(f"{name} must be a positive number [m], not {value!r}")
    return value


def _check_coordinate(value: float, name: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise StudyConfigError(f"{name} must be a number (grid CRS units), not {value!r}") from None
    if not math.isfinite(value):
        raise StudyConfigError(f"{name} must be finite, not {value!r}")
    return value


def _map_cells(ctx: FactorContext, func: Callable[[np.ndarray, np.ndarray], np.ndarray], n_out: int = 0) -> da.Array:
    """Lazy ``func(x, y)`` of the cell-centre coordinates, chunk by chunk.

    ``func`` gets float64 arrays (h, w) and returns (h, w), or (n_out, h, w) when ``n_out``.
    """
    grid = ctx.grid
    rows = da.arange(grid.height, chunks=ctx.chunks, dtype=np.float64)
    cols = da.arange(grid.width, chunks=ctx.chunks, dtype=np.float64)

    def block(r: np.ndarray, c: np.ndarray) -> np.ndarray:
        x, y = grid.xy(r, c)
        return func(x, y).astype(np.float32, copy=False)

    if n_out:
        chunks = ((n_out,), rows.chunks[0], cols.chunks[0])
        return da.map_blocks(block, rows[:, None], cols[None, :], dtype=np.float32, new_axis=0, chunks=chunks)
    return da.map_blocks(block, rows[:, None], cols[None, :], dtype=np.float32)


# --------------------------------------------------------------------------- distance to features


def distance_to_features(
    ctx: FactorContext,
    path: str,
    layer: str | None = None,
    where: str | None = None,
    margin_m: float = 0.0,
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
    margin_m : float, default=0.0
        Width [m] of a band around the grid on which features are also
        rasterized, so that a feature just outside the grid counts.

    Returns
    -------
    xarray.DataArray
        Float32 (y, x) [m]; 0 on every cell a feature touches.

    Raises
    ------
    InputFileError
        The vector file does not exist.
    StudyConfigError
        No feature (after ``where``), or none on the grid or its margin.
    AlignmentError
        The grid is geographic or rotated.

    Notes
    -----
    Method: the features are burnt into a boolean mask on the grid with
    ``rasterio.features.rasterize(all_touched=True)`` (a line or polygon
    marks every cell it touches, a point the cell that holds it, a polygon
    also its interior), then ``scipy.ndimage.distance_transform_edt(~mask,
    sampling=(cell_y, cell_x))`` gives for every cell the exact Euclidean
    distance between its centre and the centre of the nearest marked cell.
    The result is therefore exact for the rasterized features; against the
    vector geometry it is off by at most half a cell diagonal.

    Features off the grid are not rasterized: a cell near the border whose
    nearest feature lies outside the grid gets the distance to the nearest
    feature inside (too large). With ``margin_m`` the mask is built on the
    grid grown by ``ceil(margin_m / cell)`` cells on each side and cropped
    after the transform, so distances are right wherever the nearest feature
    lies within ``margin_m`` of the grid; every distance up to ``margin_m``
    is then exact. The cost grows with the padded area.

    Whole grid: holds the mask, the float64 distances and scipy's int32
    feature indices, about 30 bytes per (padded) cell.

    References
    ----------
    Maurer, C.R., Qi, R., Raghavan, V. (2003). A linear time algorithm for
    computing exact Euclidean distance transforms of binary images in
    arbitrary dimensions. IEEE TPAMI 25(2), 265-270.
    """
    from rasterio.features import rasterize
    from scipy.ndimage import distance_transform_edt

    what = "distance_to_features"
    _check_metric_grid(ctx, what)
    margin_m = float(margin_m)
    if not math.isfinite(margin_m) or margin_m < 0:
        raise StudyConfigError(f"{what}: margin_m must be a number >= 0 [m], not {margin_m!r}")
    gdf, name = _features(ctx, path, layer=layer, where=where, what=what)
    grid = ctx.grid
    dx, dy = grid.res
    px, py = math.ceil(margin_m / dx - 1e-9), math.ceil(margin_m / dy - 1e-9)
    t = grid.transform
    shape = (grid.height + 2 * py, grid.width + 2 * px)
    transform = t * t.translation(-px, -py)
    mask = rasterize(
        ((geom, 1) for geom in gdf.geometry),
        out_shape=shape,
        transform=transform,
        fill=0,
        all_touched=True,
        dtype=np.uint8,
    ).astype(bool)
    if not mask.any():
        raise StudyConfigError(
            f"{what}: no feature of {name} lies on the grid"
            + (" or within margin_m" if margin_m else "")
            + "; check the file's extent or give a larger margin_m [m]"
        )
    dist = distance_transform_edt(~mask, sampling=(dy, dx))
    dist = dist[py : py + grid.height, px : px + grid.width]
    return to_dataarray(dist, ctx, "distance_to_features", "m", source=name, margin_m=margin_m)


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
    farther than the kernel radius from the grid are ignored. Over a grid
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
    _check_metric_grid(ctx, what)
    bandwidth = _check_positive(bandwidth_m, "bandwidth_m")
    if kernel not in KERNELS:
        raise StudyConfigError(f"{what}: kernel must be one of {', '.join(KERNELS)}, not {kernel!r}")
    gdf, name = _features(ctx, path, layer=layer, where=where, what=what)
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


# --------------------------------------------------------------------------- epicentre


def distance_to_epicentre(ctx: FactorContext, x: float, y: float) -> xr.DataArray:
    """Distance [m] from each cell centre to the epicentre (x, y).

    Parameters
    ----------
    ctx : FactorContext
        The study grid (projected).
    x, y : float
        Epicentre coordinates [m] in the grid CRS.

    Returns
    -------
    xarray.DataArray
        Float32 (y, x) [m], √((x_p - x)² + (y_p - y)²) for cell centre (x_p, y_p); chunked, lazy.
    """
    ctx.grid.require_projected("distance_to_epicentre")
    xe, ye = _check_coordinate(x, "x"), _check_coordinate(y, "y")
    data = _map_cells(ctx, lambda xp, yp: np.hypot(xp - xe, yp - ye))
    return to_dataarray(data, ctx, "distance_to_epicentre", "m", epicentre_x=xe, epicentre_y=ye)


def direction_to_epicentre(ctx: FactorContext, x: float, y: float, sense: str = "from_epicentre") -> xr.DataArray:
    """Azimuth [degrees clockwise from grid north, 0-360) between each cell and the epicentre.

    Parameters
    ----------
    ctx : FactorContext
        The study grid (projected).
    x, y : float
        Epicentre coordinates [m] in the grid CRS.
    sense : {"from_epicentre", "to_epicentre"}, default="from_epicentre"
        ``"from_epicentre"``: the azimuth of the cell seen from the epicentre
        (a cell due north of the epicentre gets 0°, due east 90°), i.e.
        paper 001's eq. 16 in degrees. ``"to_epicentre"``: the azimuth from
        the cell towards the epicentre (the back-azimuth, as ArcGIS
        "Euclidean Direction"; due north of the epicentre gives 180°).

    Returns
    -------
    xarray.DataArray
        Float32 (y, x) [degrees] in [0, 360); 0 at the epicentre itself; chunked, lazy.

    See Also
    --------
    epicentre_directivity : the same azimuth in radians, exactly as eq. 16.
    """
    ctx.grid.require_projected("direction_to_epicentre")
    xe, ye = _check_coordinate(x, "x"), _check_coordinate(y, "y")
    senses = ("from_epicentre", "to_epicentre")
    if sense not in senses:
        raise StudyConfigError(f"direction_to_epicentre: sense must be one of {', '.join(senses)}, not {sense!r}")
    sign = 1.0 if sense == "from_epicentre" else -1.0

    def func(xp: np.ndarray, yp: np.ndarray) -> np.ndarray:
        az = np.degrees(np.arctan2(sign * (xp - xe), sign * (yp - ye))) % 360.0
        return np.where(az >= 360.0, 0.0, az)  # -tiny % 360 rounds to 360

    data = _map_cells(ctx, func)
    return to_dataarray(data, ctx, "direction_to_epicentre", "degrees", epicentre_x=xe, epicentre_y=ye, sense=sense)


def _eq16(xp: np.ndarray, yp: np.ndarray, xe: float, ye: float) -> np.ndarray:
    """Paper 001, eq. 16, case by case; the cases the paper leaves out are filled by continuity."""
    dx, dy = xp - xe, yp - ye
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.arctan(dx / dy)
    ep = np.full(dx.shape, np.nan)
    ep = np.where((dx > 0) & (dy > 0), a, ep)  # arctan((xp - xe)/(yp - ye)),      xp > xe and yp > ye
    ep = np.where(dy < 0, np.pi + a, ep)  # π + arctan((xp - xe)/(yp - ye)),  yp < ye
    ep = np.where((dx < 0) & (dy > 0), 2 * np.pi + a, ep)  # 2π + arctan(...), xp < xe and yp > ye
    # Not covered by eq. 16: due north (xp = xe, yp > ye) -> 0; due east/west (yp = ye) -> π/2, 3π/2; the
    # epicentre itself -> 0.
    ep = np.where((dx == 0) & (dy > 0), 0.0, ep)
    ep = np.where((dy == 0) & (dx > 0), np.pi / 2, ep)
    ep = np.where((dy == 0) & (dx < 0), 1.5 * np.pi, ep)
    return np.where((dx == 0) & (dy == 0), 0.0, ep)


def epicentre_directivity(ctx: FactorContext, x: float, y: float, rupture_azimuth: float | None = None) -> xr.DataArray:
    """Epicentre directivity Ep [radians], paper 001 eq. 16.

    Parameters
    ----------
    ctx : FactorContext
        The study grid (projected).
    x, y : float
        Epicentre coordinates (x_e, y_e) [m] in the grid CRS.
    rupture_azimuth : float, optional
        Not part of eq. 16. When given [degrees clockwise from north, the
        direction the rupture propagated], the result is instead the angle
        [radians, 0-π] between Ep and that azimuth: 0 for a cell straight
        ahead of the rupture, π straight behind it.

    Returns
    -------
    xarray.DataArray
        Float32 (y, x) [radians] in [0, 2π) (or [0, π] with ``rupture_azimuth``); chunked, lazy.

    Notes
    -----
    Paper 001 (section 3.3) defines, with (x_p, y_p) a pixel and (x_e, y_e)
    the epicentre::

        Ep = arctan((x_p - x_e) / (y_p - y_e))        x_p > x_e and y_p > y_e
             π + arctan((x_p - x_e) / (y_p - y_e))    y_p < y_e
             2π + arctan((x_p - x_e) / (y_p - y_e))   x_p < x_e and y_p > y_e

    which is the azimuth of the pixel seen from the epicentre, clockwise
    from north, in [0, 2π): atan2(x_p - x_e, y_p - y_e) mod 2π. It is
    computed here case by case as written. Ambiguities resolved:

    - The paper's sentence reads "(xp, yp) and (xe, ye) are the coordinates
      of the epicenter and a specific pixel", the reverse of its subscripts;
      we follow the subscripts (p = pixel, e = epicentre), so Ep points from
      the epicentre to the pixel. The other reading only adds π (mod 2π).
    - Cells the three cases leave out get the limit of the formula: due
      north of the epicentre (x_p = x_e, y_p > y_e) 0, due east (y_p = y_e,
      x_p > x_e) π/2, due west 3π/2; the epicentre itself 0.
    - Units: radians, as the π terms of eq. 16 imply. The paper does not
      say whether it rescales the index; we do not.
    - North is grid north (the +y axis of the projected CRS).

    See Also
    --------
    direction_to_epicentre : the same azimuth in degrees, or its back-azimuth.
    """
    ctx.grid.require_projected("epicentre_directivity")
    xe, ye = _check_coordinate(x, "x"), _check_coordinate(y, "y")
    attrs: dict[str, float | str] = {"epicentre_x": xe, "epicentre_y": ye, "method": "paper 001 eq. 16"}
    if rupture_azimuth is None:
        data = _map_cells(ctx, lambda xp, yp: _eq16(xp, yp, xe, ye))
    else:
        theta = math.radians(_check_coordinate(rupture_azimuth, "rupture_azimuth") % 360.0)
        attrs["rupture_azimuth"] = float(rupture_azimuth)

        def func(xp: np.ndarray, yp: np.ndarray) -> np.ndarray:
            diff = np.abs(_eq16(xp, yp, xe, ye) - theta) % (2 * np.pi)
            return np.minimum(diff, 2 * np.pi - diff)

        data = _map_cells(ctx, func)
    return to_dataarray(data, ctx, "epicentre_directivity", "radians", **attrs)


# --------------------------------------------------------------------------- rupture / fault subsections


@njit(cache=True, nogil=True)
def _nearest_segment_kernel(x, y, bsize, cx, cy, offsets, cand, seg, out_d, out_j):  # pragma: no cover (jit)
    """Exact nearest segment of every cell.

    ``x``, ``y`` (h, w) cell centres; the cells form sub-blocks of ``bsize``
    × ``bsize`` in row-major block order, block b with centre (cx[b], cy[b])
    and candidate segments ``cand[offsets[b]:offsets[b + 1]]``. ``seg`` (n, 4)
    holds (ax, ay, bx, by). Writes the distance and the segment index.
    Ties (within 1e-9 relative) go to the segment the cell lies less far
    beyond the end of, then to the lower index.
    """
    h, w = x.shape
    nbx = (w + bsize - 1) // bsize
    nby = (h + bsize - 1) // bsize
    for bi in range(nby):
        for bj in range(nbx):
            b = bi * nbx + bj
            lo, hi = offsets[b], offsets[b + 1]
            n = hi - lo
            dcen = np.empty(n)
            for k in range(n):
                j = cand[lo + k]
                dcen[k] = _seg_dist(cx[b], cy[b], seg[j, 0], seg[j, 1], seg[j, 2], seg[j, 3])[0]
            order = np.argsort(dcen)
            for r in range(bi * bsize, min(h, (bi + 1) * bsize)):
                for c in range(bj * bsize, min(w, (bj + 1) * bsize)):
                    px, py = x[r, c], y[r, c]
                    rp = math.hypot(px - cx[b], py - cy[b])
                    best = np.inf
                    best_over = np.inf
                    best_j = -1
                    for k in order:
                        tol = 1e-9 * (1.0 + best)
                        if dcen[k] - rp > best + tol:
                            break
                        j = cand[lo + k]
                        d, over = _seg_dist(px, py, seg[j, 0], seg[j, 1], seg[j, 2], seg[j, 3])
                        if best_j < 0 or d < best - tol:
                            best, best_over, best_j = d, over, j
                        elif d <= best + tol and (over < best_over or (over == best_over and j < best_j)):
                            best, best_over, best_j = min(d, best), over, j
                    out_d[r, c] = best
                    out_j[r, c] = best_j


@njit(cache=True, nogil=True, inline="always")
def _seg_dist(px, py, ax, ay, bx, by):  # pragma: no cover (jit)
    """Distance from P to segment AB, and how far P lies beyond the nearer end along AB."""
    vx, vy = bx - ax, by - ay
    length2 = vx * vx + vy * vy
    t = ((px - ax) * vx + (py - ay) * vy) / length2
    if t <= 0.0:
        return math.hypot(px - ax, py - ay), -t * math.sqrt(length2)
    if t >= 1.0:
        return math.hypot(px - bx, py - by), (t - 1.0) * math.sqrt(length2)
    return math.hypot(px - (ax + t * vx), py - (ay + t * vy)), 0.0


def _subsections(gdf: gpd.GeoDataFrame, name: str, what: str) -> np.ndarray:
    """(n, 4) array of the segments (ax, ay, bx, by) between consecutive vertices; zero-length ones dropped."""
    types = set(gdf.geometry.geom_type)
    if not types <= {"LineString", "MultiLineString", "LinearRing"}:
        raise StudyConfigError(
            f"{what}: {name} must hold lines (rupture or fault traces), not "
            f"{', '.join(sorted(types - {'LineString', 'MultiLineString', 'LinearRing'}))}"
        )
    parts = shapely.get_parts(gdf.geometry.values)
    coords, index = shapely.get_coordinates(parts, return_index=True)
    same = index[1:] == index[:-1]
    seg = np.hstack([coords[:-1][same], coords[1:][same]])
    seg = seg[(seg[:, 2] != seg[:, 0]) | (seg[:, 3] != seg[:, 1])]
    if len(seg) == 0:
        raise StudyConfigError(f"{what}: {name} holds no line segment of non-zero length")
    return seg


def _rupture_fields(
    ctx: FactorContext, path: str, layer: str | None, where: str | None, directed: bool, what: str
) -> tuple[da.Array, str]:
    """Lazy (2, h, w) float32: distance [m] to the nearest subsection and its azimuth [degrees]."""
    _check_metric_grid(ctx, what)
    gdf, name = _features(ctx, path, layer=layer, where=where, what=what)
    key = f"rupture:{name}:{layer}:{where}:{bool(directed)}"

    def build() -> da.Array:
        seg = _subsections(gdf, name, what)
        # Work relative to the grid corner: UTM coordinates lose digits in squared distances.
        ox, oy = ctx.grid.transform.c, ctx.grid.transform.f
        seg = seg - np.array([ox, oy, ox, oy])
        az = np.degrees(np.arctan2(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1]))
        az = az % (360.0 if directed else 180.0)
        az = np.where(az >= (360.0 if directed else 180.0), 0.0, az)
        tree = shapely.STRtree(shapely.linestrings(seg.reshape(-1, 2, 2)))
        tree.query(shapely.points(0.0, 0.0))  # build the tree now, not in a worker thread

        def func(xp: np.ndarray, yp: np.ndarray) -> np.ndarray:
            x = np.ascontiguousarray(xp - ox)
            y = np.ascontiguousarray(yp - oy)
            h, w = x.shape
            b = _SUBBLOCK
            # Sub-block centres and half-diagonals of their cell centres.
            r0 = np.arange(0, h, b)
            c0 = np.arange(0, w, b)
            r1 = np.minimum(r0 + b, h) - 1
            c1 = np.minimum(c0 + b, w) - 1
            bx = (x[0, c0] + x[0, c1]) / 2
            by = (y[r0, 0] + y[r1, 0]) / 2
            hx = np.abs(x[0, c1] - x[0, c0]) / 2
            hy = np.abs(y[r1, 0] - y[r0, 0]) / 2
            cy, cx = (a.ravel() for a in np.meshgrid(by, bx, indexing="ij"))
            rad = np.hypot(hx[None, :], hy[:, None]).ravel()
            centres = shapely.points(cx, cy)
            _, dc = tree.query_nearest(centres, return_distance=True, all_matches=False)
            # A segment nearest to a cell within `rad` of the centre lies within dc + 2 rad of the centre.
            reach = dc + 2 * rad + 1e-6 * (1.0 + dc)
            blk, cand = tree.query(centres, predicate="dwithin", distance=reach)
            order = np.lexsort((cand, blk))
            blk, cand = blk[order], cand[order].astype(np.int64)
            offsets = np.zeros(len(centres) + 1, dtype=np.int64)
            np.cumsum(np.bincount(blk, minlength=len(centres)), out=offsets[1:])
            out_d = np.empty((h, w))
            out_j = np.empty((h, w), dtype=np.int64)
            _nearest_segment_kernel(x, y, b, cx, cy, offsets, cand, seg, out_d, out_j)
            return np.stack([out_d, az[out_j]])

        return _map_cells(ctx, func, n_out=2)

    return ctx.memo(key, build), name


_RUPTURE_NOTES = """
    Method (paper 001, section 3.3): the rupture or fault polylines are cut
    into subsections, the segments between consecutive vertices (add
    vertices beforehand to cut finer). Each subsection's Thiessen region is
    the set of cells nearer to it than to any other subsection; every cell
    of the region takes the subsection's direction. We compute this
    segment Voronoi diagram exactly, cell by cell: for each 32 × 32 block of
    cells the candidate subsections are found with a shapely STRtree (those
    within d_c + 2r of the block centre, d_c its nearest-subsection distance,
    r its half-diagonal: no other can be nearest to a cell of the block),
    then the exact point-to-segment distance to every candidate is taken and
    the nearest kept (numba kernel). The paper builds Thiessen polygons of
    points ("for each point"); for finely cut traces the two agree, near
    widely spaced vertices ours follows the segments themselves.

    Ties: beyond a convex bend every cell of the wedge between the two
    subsections' normals is equally far from both (their nearest point is
    the shared vertex). The wedge is split along its bisector: a cell takes
    the subsection it lies less far beyond the end of. Remaining exact ties
    go to the subsection listed first in the file.

    Chunked: computed lazily block by block; only the subsections are held
    in memory. ``rupture_distance`` and ``rupture_direction`` of the same
    file share one computation within a study (``ctx.memo``).
"""


def rupture_distance(ctx: FactorContext, path: str, layer: str | None = None, where: str | None = None) -> xr.DataArray:
    """Distance [m] from each cell centre to the nearest rupture or fault subsection.

    Parameters
    ----------
    ctx : FactorContext
        The study grid (projected, north-up).
    path : str
        Vector file of surface-rupture or fault traces (LineString, MultiLineString).
    layer : str, optional
        Layer of a multi-layer file.
    where : str, optional
        Attribute filter (pandas query), e.g. ``"type == 'rupture'"``.

    Returns
    -------
    xarray.DataArray
        Float32 (y, x) [m], exact distance to the polylines (not rasterized); chunked, lazy.

    Raises
    ------
    InputFileError
        The vector file does not exist.
    StudyConfigError
        No feature, or features that are not lines.
    AlignmentError
        The grid is geographic or rotated.

    Notes
    -----
    """
    data, name = _rupture_fields(ctx, path, layer, where, False, "rupture_distance")
    return to_dataarray(data[0], ctx, "rupture_distance", "m", source=name, method="nearest subsection, exact")


def rupture_direction(
    ctx: FactorContext,
    path: str,
    layer: str | None = None,
    where: str | None = None,
    directed: bool = False,
) -> xr.DataArray:
    """Direction [degrees clockwise from grid north] of the nearest rupture or fault subsection.

    Surface rupture directivity (SRD) and fault direction (FD) of paper 001.

    Parameters
    ----------
    ctx : FactorContext
        The study grid (projected, north-up).
    path : str
        Vector file of surface-rupture or fault traces (LineString, MultiLineString).
    layer : str, optional
        Layer of a multi-layer file.
    where : str, optional
        Attribute filter (pandas query).
    directed : bool, default=False
        False: the orientation of the subsection in [0, 180) (a segment has
        no sense: N-S = 0, NE-SW = 45, E-W = 90). True: the azimuth in
        [0, 360) from each subsection's first vertex to its second, i.e. in
        the digitizing direction (meaningful when the traces are digitized in
        the rupture's propagation direction).

    Returns
    -------
    xarray.DataArray
        Float32 (y, x) [degrees]; chunked, lazy.

    Raises
    ------
    InputFileError
        The vector file does not exist.
    StudyConfigError
        No feature, or features that are not lines.
    AlignmentError
        The grid is geographic or rotated.

    Notes
    -----
    Paper 001 does not state whether the direction is an orientation
    (0-180) or an azimuth (0-360), nor its units; we default to the
    orientation in degrees, which does not depend on how the line was
    digitized.
    """
    data, name = _rupture_fields(ctx, path, layer, where, bool(directed), "rupture_direction")
    return to_dataarray(
        data[1], ctx, "rupture_direction", "degrees", source=name, directed=int(bool(directed)), method="paper 001"
    )


rupture_distance.__doc__ = (rupture_distance.__doc__ or "").rstrip() + _RUPTURE_NOTES
rupture_direction.__doc__ = (rupture_direction.__doc__ or "").rstrip() + _RUPTURE_NOTES


for _name, _func, _units, _whole, _desc in [
    (
        "distance_to_features",
        distance_to_features,
        "m",
        True,
        "Euclidean distance to the nearest vector feature (exact EDT of the rasterized features)",
    ),
    (
        "kernel_density",
        kernel_density,
        "1/km2",
        True,
        "point kernel density, quartic (Silverman 1986, as ArcGIS) or Gaussian; aftershocks in paper 001",
    ),
    ("distance_to_epicentre", distance_to_epicentre, "m", False, "Euclidean distance to the epicentre"),
    (
        "direction_to_epicentre",
        direction_to_epicentre,
        "degrees",
        False,
        "azimuth of the cell seen from the epicentre (or its back-azimuth), clockwise from north",
    ),
    (
        "epicentre_directivity",
        epicentre_directivity,
        "radians",
        False,
        "epicentre directivity index Ep, paper 001 eq. 16",
    ),
    (
        "rupture_distance",
        rupture_distance,
        "m",
        False,
        "exact distance to the nearest rupture or fault subsection (paper 001)",
    ),
    (
        "rupture_direction",
        rupture_direction,
        "degrees",
        False,
        "direction of the nearest rupture or fault subsection, Thiessen construction (paper 001)",
    ),
]:
    register_factor(FactorSpec(name=_name, func=_func, description=_desc, units=_units, whole_grid=_whole))
