"""Hydrological factors from a DEM: filled DEM, flow accumulation, catchment area, TWI, SPI, LS, streams.

Flow routing is a whole-grid, in-memory operation: every factor here reads
the whole DEM into memory, routes flow over it once per study (intermediate
results are shared through ``ctx.memo``: ``"filled_dem"``, ``"acc:{method}"``)
and returns its result as a dask array in the study's chunks. A
10 000 × 10 000 DEM needs about 4 GB at the peak for filling, MFD and TWI,
8 GB with every factor of this module (see Notes). With ``tiled=True``
every factor routes by tiles instead (:mod:`susmap.factors.hydrology_tiled`):
memory bounded by one tile, intermediates as GeoTIFFs in the context's work
folder, the same values (``distance_to_stream`` then needs a cap,
``max_distance_m``). TWI (D8, filled) through ``derive_factors`` (the
Ecuador DEM mirrored, chunks of 512, tiles of 1024 cells, 2 shared cores),
bit-identical: 4000 × 4000, 9.8 s and a peak RSS of 0.71 GB tiled against
17.4 s and 1.24 GB whole-grid; 8000 × 8000, 52 s and 1.62 GB against 120 s
and 3.89 GB. The tiled peak above the interpreter and imports (0.29 GB) is
mostly GDAL's block cache (``GDAL_CACHEMAX``, 5 % of the physical memory by
default); with ``GDAL_CACHEMAX=64`` it is 0.62 GB at both sizes.

Conventions
-----------
- Routing surface: by default the DEM itself, as SAGA GIS's "Catchment
  Area" routes it: flow ends in pits. ``fill=True`` routes over the DEM with
  its depressions filled (Wang & Liu 2006, :func:`pyflwdir.dem.fill_depressions`;
  the grid border and cells next to nodata are the outlets). SAGA's
  ``log10_carea`` of the bundled Ecuador ``ta.tif`` was computed without
  filling (r = 0.971 with our defaults, 0.884 with ``fill=True``; see
  ``tests/test_hydrology.py``). Stream-based factors (streams, HAND,
  distance, drainage density) always use the filled DEM, so the network is
  continuous.
- Flats (no lower neighbour; filling leaves them exactly level) still drain:
  each flat cell gets its number of 8-connected steps to the nearest
  draining cell of the same elevation (breadth-first search), and flow
  follows that infinitesimal gradient towards the flat's outlet (after
  Garbrecht & Martz 1997). A flat with no draining cell drains to its cells
  on the border or next to nodata. Closed flats and pits of an unfilled DEM
  keep their flow (SAGA keeps the flow of every flat cell).
- Nodata cells stay NaN in every output and take no flow. ``outflow``:
  ``"extrapolate"`` (default, SAGA's rule): a cell next to the border or to
  nodata also sends flow out across it where the surface, extrapolated
  linearly through the cell (2 z - z_opposite), descends; that flow leaves
  the grid. ``"outlets"``: flow leaves only at border (or nodata-adjacent)
  cells without a lower neighbour, so every other drop stays on the grid.
- Methods: ``"d8"`` steepest descent (O'Callaghan & Mark 1984), accumulated
  with :mod:`pyflwdir`; ``"mfd"`` multiple flow directions (Freeman 1991):
  each cell's flow goes to all lower neighbours in proportion to
  (tan β_i) ^ ``exponent`` with tan β_i = drop / distance and ``exponent`` =
  1.1 by default, as in SAGA's "Flow Accumulation (Top-Down)"; ``"quinn"``
  (Quinn et al. 1991): tan β_i × contour length (0.5 cell orthogonal,
  0.354 cell diagonal), exponent 1. ``linear_threshold`` [m²] turns MFD into
  D8 from that catchment area on (SAGA's "thresholded linear flow"); with
  ``linear_threshold=500 * cellsize**2`` (SAGA's "linear flow threshold" of
  500 cells) our catchment area reproduces ``ta.tif``'s ``log10_carea``
  (r = 1.0000, 99.8 % of the interior cells within 0.001; the others lie
  mostly downstream of the DEM's few flat cells, which we drain).
- Flow accumulation counts the cell itself. Catchment area = cells × cell
  area [m²]; specific catchment area a = catchment area / contour width, with
  the contour width equal to the cell size, so a [m] = cells × cellsize.
- Local slope tan β [m/m] for TWI, SPI and LS comes from the routing surface
  (Horn 1981, 3 × 3; border and nodata neighbours replaced by linear
  extrapolation), so filled depressions are flat.
- Streams are cells whose accumulation over the filled DEM reaches a
  threshold; D8 by default, so the network is one cell wide and follows the
  D8 tree HAND needs.

Notes
-----
Memory for n cells (n = 10⁸ for 10 000 × 10 000), approximately: the DEM
(4 n bytes, plus 4 n while it is read from the dask array), the filled DEM
(4 n) and the filling's scratch (about 7 n plus its priority queue); flat
classes (4 n); MFD: donor counts (n), a stack (4 n while n < 2³¹) and the sums
(8 n), kept as float32 (4 n); slope (4 n); each output 4 n plus one float32
temporary. pyflwdir's D8 network (stream factors) adds about 9 n and, while
it orders the cells, an upstream matrix of 4 n × (most donors of a cell).
Measured on a 10 000 × 10 000 DEM (the Ecuador DEM tiled) on 2 cores:
fill about 105 s; MFD + TWI on the filled DEM 27 s (peak RSS 3.8 GB,
including the interpreter and the DEM the context holds); default TWI
(unfilled MFD) 31-37 s, peak 3.4 GB; streams (D8 network and ordering)
31-33 s, HAND 8 s, distance 18 s, drainage density (radius 250 m) 20 s;
every factor of this module computed together, all intermediates cached:
peak 8.0 GB.
Time is linear in n except for the filling's priority queue (n log n).

References
----------
Wang, L., Liu, H. (2006). An efficient method for identifying and filling
surface depressions in digital elevation models for hydrologic analysis and
modelling. Int. J. Geogr. Inf. Sci. 20(2), 193-213. doi:10.1080/13658810500433453
O'Callaghan, J.F., Mark, D.M. (1984). The extraction of drainage networks from
digital elevation data. Comput. Vision Graph. 28, 323-344.
Freeman, T.G. (1991). Calculating catchment area with divergent flow based on
a regular grid. Comput. Geosci. 17(3), 413-422.
Quinn, P., Beven, K., Chevallier, P., Planchon, O. (1991). The prediction of
hillslope flow paths for distributed hydrological modelling using digital
terrain models. Hydrol. Process. 5, 59-79.
Garbrecht, J., Martz, L.W. (1997). The assignment of drainage direction over
flat surfaces in raster digital elevation models. J. Hydrol. 193, 204-213.
Horn, B.K.P. (1981). Hill shading and the reflectance map. Proc. IEEE 69(1).
Beven, K.J., Kirkby, M.J. (1979). A physically based, variable contributing
area model of basin hydrology. Hydrol. Sci. Bull. 24(1), 43-69.
Moore, I.D., Grayson, R.B., Ladson, A.R. (1991). Digital terrain modelling: a
review of hydrological, geomorphological, and biological applications.
Hydrol. Process. 5, 3-30.
Moore, I.D., Burch, G.J. (1986). Physical basis of the length-slope factor in
the Universal Soil Loss Equation. Soil Sci. Soc. Am. J. 50, 1294-1298.
Nobre, A.D., Cuartas, L.A., Hodnett, M., et al. (2011). Height Above the
Nearest Drainage - a hydrologically relevant new terrain model. J. Hydrol.
404, 13-29.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np
import pyflwdir
import xarray as xr
from scipy import ndimage

from susmap.factors import hydrology_tiled as ht
from susmap.factors import routing_kernels as k
from susmap.factors.registry import FactorContext, register_factors, to_dataarray

__all__ = [
    "AREA_UNITS",
    "METHODS",
    "catchment_area",
    "distance_to_stream",
    "drainage_density",
    "filled_dem",
    "flow_accumulation",
    "height_above_nearest_drainage",
    "sediment_transport_index",
    "specific_catchment_area",
    "stream_power_index",
    "streams",
    "topographic_wetness_index",
]

METHODS = ("d8", "mfd", "quinn")
AREA_UNITS = ("cells", "m2")
OUTFLOWS = ("extrapolate", "outlets")

DEFAULT_EXPONENT = 1.1  # SAGA's default MFD convergence (Freeman 1991)
DEFAULT_MIN_SLOPE = 1e-3  # [m/m], lower bound of tan β in TWI
DEFAULT_STREAM_AREA = 1e5  # [m2] (0.1 km²)


@dataclass(frozen=True)
class _Routing:
    """Options of one flow routing; ``linear`` in cells (0 = pure MFD)."""

    method: str = "mfd"
    fill: bool = False
    exponent: float = DEFAULT_EXPONENT
    linear: float = 0.0
    outflow: str = "extrapolate"

    @property
    def key(self) -> str:
        """Cache key: ``"acc:{method}"`` for the defaults, options appended otherwise."""
        parts = [f"acc:{self.method}"]
        if self.fill:
            parts.append("fill")
        if self.outflow != "extrapolate":
            parts.append(self.outflow)
        if self.method == "mfd" and self.exponent != DEFAULT_EXPONENT:
            parts.append(f"p={self.exponent!r}")
        if self.method != "d8" and self.linear > 0:
            parts.append(f"linear={self.linear!r}")
        return ":".join(parts)


# Streams need a continuous network: filled DEM, D8 by default.
_STREAM_ROUTING = {"fill": True, "outflow": "extrapolate"}


# ----------------------------------------------------------------------------- validation


def _choice(factor: str, name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        opts = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"the {name!r} parameter of {factor} must be one of {opts}; got {value!r}")
    return value


def _positive(factor: str, name: str, value: Any, unit: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"the {name!r} parameter of {factor} must be a positive number{unit}; got {value!r}")
    return float(value)


def _flag(factor: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"the {name!r} parameter of {factor} must be true or false; got {value!r}")
    return bool(value)


def _routing(
    ctx: FactorContext,
    factor: str,
    method: str,
    fill: bool,
    exponent: float,
    linear_threshold: float | None,
    outflow: str,
) -> _Routing:
    """Validated routing options; ``linear_threshold`` [m2] becomes cells."""
    cs = _cellsize(ctx)
    linear = 0.0
    if linear_threshold is not None:
        linear = _positive(factor, "linear_threshold", linear_threshold, " [m2] or null") / cs**2
    return _Routing(
        method=_choice(factor, "method", method, METHODS),
        fill=_flag(factor, "fill", fill),
        exponent=_positive(factor, "exponent", exponent),
        linear=linear,
        outflow=_choice(factor, "outflow", outflow, OUTFLOWS),
    )


# ----------------------------------------------------------------------------- shared, memoised steps


def _frozen(arr: np.ndarray) -> np.ndarray:
    """Mark a cached array read-only: outputs may share its memory, so nobody may change it."""
    arr.flags.writeable = False
    return arr


def _cellsize(ctx: FactorContext) -> float:
    ctx.grid.require_projected("flow routing")
    return ctx.cellsize


def _raw_dem(ctx: FactorContext) -> np.ndarray:
    """The DEM as a C-contiguous float32 array [m], NaN = nodata."""
    dem = ctx.dem.data
    dem = dem.compute() if isinstance(dem, da.Array) else np.asarray(dem)
    dem = np.ascontiguousarray(dem, dtype=np.float32)
    if np.isnan(dem).all():
        raise ValueError("the DEM has no valid cell; flow routing needs elevations")
    return dem


def _filled(ctx: FactorContext) -> np.ndarray:
    """Depression-filled DEM [m] (Wang & Liu 2006), float32, NaN = nodata; cached as ``"filled_dem"``."""

    def compute() -> np.ndarray:
        filled, _ = pyflwdir.dem.fill_depressions(_raw_dem(ctx), nodata=np.float32(np.nan))
        return _frozen(np.ascontiguousarray(filled, dtype=np.float32))

    return ctx.memo("filled_dem", compute)


def _surface(ctx: FactorContext, fill: bool) -> np.ndarray:
    """The routing surface: the filled DEM, or the DEM itself with ``fill=False``."""
    if fill:
        return _filled(ctx)
    return ctx.memo("hydrology:dem", lambda: _frozen(_raw_dem(ctx)))


def _flats(ctx: FactorContext, fill: bool, outflow: str) -> np.ndarray:
    """Per-cell routing class / flat distance (see :mod:`susmap.factors.routing_kernels`)."""
    return ctx.memo(
        f"hydrology:flats:fill={fill}:{outflow}",
        lambda: _frozen(k.flat_distance(_surface(ctx, fill), outflow == "extrapolate")),
    )


def _valid(ctx: FactorContext, fill: bool) -> np.ndarray:
    """True on valid DEM cells."""
    return ~np.isnan(_surface(ctx, fill))


def _d8(ctx: FactorContext, fill: bool, outflow: str) -> np.ndarray:
    """D8 directions in pyflwdir's encoding."""
    return ctx.memo(
        f"hydrology:d8:fill={fill}:{outflow}",
        lambda: _frozen(k.d8_directions(_surface(ctx, fill), _flats(ctx, fill, outflow), outflow == "extrapolate")),
    )


def _flwdir(ctx: FactorContext, fill: bool, outflow: str) -> pyflwdir.FlwdirRaster:
    def compute() -> pyflwdir.FlwdirRaster:
        return pyflwdir.from_array(_d8(ctx, fill, outflow), ftype="d8", check_ftype=False)

    return ctx.memo(f"hydrology:flwdir:fill={fill}:{outflow}", compute)


def _accumulation(ctx: FactorContext, opts: _Routing) -> np.ndarray:
    """Flow accumulation [cells] (the cell itself included), float32, NaN = nodata.

    Cached as ``"acc:{method}"`` for the default options, so TWI, SPI, LS and
    the catchment areas of one study share one routing.
    """

    def compute() -> np.ndarray:
        if opts.method == "d8":
            acc = _flwdir(ctx, opts.fill, opts.outflow).upstream_area(unit="cell").astype(np.float32)
            acc[~_valid(ctx, opts.fill)] = np.nan
            return _frozen(acc)
        z = _surface(ctx, opts.fill)
        dist = _flats(ctx, opts.fill, opts.outflow)
        n = z.size
        stack = np.empty(n, dtype=np.int32 if n < 2**31 else np.int64)
        quinn = opts.method == "quinn"
        exponent = 1.0 if quinn else opts.exponent
        acc, routed = k.mfd_accumulate(z, dist, exponent, quinn, opts.linear, opts.outflow == "extrapolate", stack)
        nvalid = int(np.count_nonzero(_valid(ctx, opts.fill)))
        if routed != nvalid:  # the routing graph is acyclic by construction
            raise RuntimeError(f"flow routing visited {routed} of {nvalid} cells; please report this")
        return _frozen(acc.astype(np.float32))  # summed in float64, kept in float32

    return ctx.memo(opts.key, compute)


def _tan_slope(ctx: FactorContext, fill: bool) -> np.ndarray:
    """tan β [m/m] of the routing surface (Horn 1981), float32."""
    return ctx.memo(f"hydrology:tanb:fill={fill}", lambda: _frozen(k.tan_slope(_surface(ctx, fill), _cellsize(ctx))))


def _stream_routing(
    ctx: FactorContext, factor: str, threshold: float, unit: str, method: str
) -> tuple[_Routing, float]:
    """The routing of the streams (filled DEM) and their threshold [cells], validated."""
    threshold = _positive(factor, "threshold", threshold)
    unit = _choice(factor, "unit", unit, AREA_UNITS)
    method = _choice(factor, "method", method, METHODS)
    cells = threshold / _cellsize(ctx) ** 2 if unit == "m2" else threshold
    return _Routing(method=method, **_STREAM_ROUTING), cells


def _stream_mask(ctx: FactorContext, factor: str, threshold: float, unit: str, method: str) -> np.ndarray:
    """True on stream cells: accumulation over the filled DEM ≥ threshold [m2 or cells]."""
    opts, cells = _stream_routing(ctx, factor, threshold, unit, method)
    acc = _accumulation(ctx, opts)
    with np.errstate(invalid="ignore"):
        return acc >= cells


def _out(data: np.ndarray, ctx: FactorContext, name: str, units: str, **attrs: Any) -> xr.DataArray:
    """Wrap an in-memory result as a chunked float32 DataArray on the grid."""
    arr = da.from_array(np.ascontiguousarray(data, dtype=np.float32), chunks=ctx.chunks)
    return to_dataarray(arr, ctx, name, units, **attrs)


def _attrs(opts: _Routing) -> dict[str, Any]:
    return {"method": opts.method, "fill": int(opts.fill), "outflow": opts.outflow}


# ----------------------------------------------------------------------------- factors

_ROUTING_PARAMETERS = """method : {"mfd", "d8", "quinn"}, default="mfd"
        Multiple flow directions (Freeman 1991, weights (tan β_i)^exponent),
        steepest-descent D8 (O'Callaghan & Mark 1984) or Quinn et al. (1991)
        (tan β_i × contour length).
    fill : bool, default=False
        Route over the depression-filled DEM (Wang & Liu 2006). False routes
        over the DEM itself, so flow ends in its pits, as SAGA's "Catchment
        Area" on an unfilled DEM (what ``ta.tif`` was made with).
    exponent : float, default=1.1
        Flow-partition exponent p of ``method="mfd"`` (SAGA's "convergence").
    linear_threshold : float or None, default=None
        Catchment area [m2] from which MFD flow turns to D8 (SAGA's
        "thresholded linear flow"; its threshold is 500 cells); None keeps
        MFD everywhere.
    outflow : {"extrapolate", "outlets"}, default="extrapolate"
        "extrapolate": next to the grid border or nodata, flow also leaves
        where the surface extrapolated linearly beyond the cell descends
        (SAGA's rule); "outlets": flow leaves only at border cells without a
        lower neighbour, the rest stays on the grid.
    {tiled}"""

_TILED_PARAMETER = """tiled : bool, default=False
        Route by tiles (:mod:`susmap.factors.hydrology_tiled`): the DEM is
        read tile by tile, the filled DEM, accumulation and D8 directions are
        written as GeoTIFFs in the work folder and shared by the factors, so
        memory is bounded by a tile (the multiple of the chunk size nearest
        1024 cells) instead of the grid; the same values (bit for bit for
        D8, to float rounding for MFD and HAND)."""


def _doc(func: Any) -> Any:
    func.__doc__ = func.__doc__.replace("{routing}", _ROUTING_PARAMETERS).replace("{tiled}", _TILED_PARAMETER)
    return func


def _tiled(factor: str, tiled: Any) -> bool:
    """The validated ``tiled`` flag."""
    return _flag(factor, "tiled", tiled)


def _tiled_accumulation(ctx: FactorContext, opts: _Routing) -> Any:
    """The tiled accumulation raster [cells] of ``opts``."""
    return ht.accumulation(
        ctx,
        opts.key,
        method=opts.method,
        fill=opts.fill,
        exponent=opts.exponent,
        linear=opts.linear,
        extrapolate=opts.outflow == "extrapolate",
    )


@_doc
def filled_dem(ctx: FactorContext, tiled: bool = False) -> xr.DataArray:
    """Depression-filled DEM [m].

    Priority-flood filling of Wang & Liu (2006) (:func:`pyflwdir.dem.fill_depressions`):
    every depression is raised to its pour point, the grid border and cells
    next to nodata being the outlets. Flats are left exactly level (the
    routing factors resolve them, see the module notes). Whole-grid, in-memory
    operation (about 15 bytes per cell at the peak).

    Parameters
    ----------
    ctx : FactorContext
        Study context; the DEM [m], NaN = nodata.
    {tiled}

    Returns
    -------
    xarray.DataArray
        Filled elevation [m], ≥ the DEM everywhere, NaN where the DEM is nodata.
    """
    _cellsize(ctx)
    if _tiled("filled_dem", tiled):
        return to_dataarray(ht.lazy(ctx, ht.filled(ctx)), ctx, "filled_dem", "m", method="Wang & Liu (2006)")
    return _out(_filled(ctx), ctx, "filled_dem", "m", method="Wang & Liu (2006)")


@_doc
def flow_accumulation(
    ctx: FactorContext,
    method: str = "mfd",
    unit: str = "cells",
    fill: bool = False,
    exponent: float = DEFAULT_EXPONENT,
    linear_threshold: float | None = None,
    outflow: str = "extrapolate",
    tiled: bool = False,
) -> xr.DataArray:
    """Flow accumulation [cells] or [m2]: the upslope area draining through each cell, itself included.

    Whole-grid, in-memory routing (see the module notes for the memory).

    Parameters
    ----------
    ctx : FactorContext
        Study context; the DEM [m], NaN = nodata.
    unit : {"cells", "m2"}, default="cells"
        Number of cells, or area [m²] (cells × cellsize²).
    {routing}

    Returns
    -------
    xarray.DataArray
        Accumulation in ``unit``, NaN on nodata.
    """
    factor = "flow_accumulation"
    opts = _routing(ctx, factor, method, fill, exponent, linear_threshold, outflow)
    unit = _choice(factor, "unit", unit, AREA_UNITS)
    if _tiled(factor, tiled):
        lazy = ht.lazy(ctx, _tiled_accumulation(ctx, opts))
        if unit == "m2":
            lazy = lazy * _cellsize(ctx) ** 2
        return to_dataarray(lazy, ctx, "flow_accumulation", unit, **_attrs(opts))
    acc = _accumulation(ctx, opts)
    if unit == "m2":
        acc = acc * _cellsize(ctx) ** 2
    return _out(acc, ctx, "flow_accumulation", unit, **_attrs(opts))


@_doc
def catchment_area(
    ctx: FactorContext,
    method: str = "mfd",
    fill: bool = False,
    exponent: float = DEFAULT_EXPONENT,
    linear_threshold: float | None = None,
    outflow: str = "extrapolate",
    tiled: bool = False,
) -> xr.DataArray:
    """Catchment (upslope contributing) area [m2], the cell itself included.

    Flow accumulation × cell area. The defaults are SAGA's "Flow Accumulation
    (Top-Down)" / "Catchment Area" with METHOD=4 (MFD, convergence 1.1) on an
    unfilled DEM; ``linear_threshold=500 * cellsize**2`` adds SAGA's
    thresholded linear flow and then reproduces the ``log10_carea`` band of
    the bundled Ecuador ``ta.tif`` almost cell for cell (r = 1.0000). Whole-grid,
    in-memory routing.

    Parameters
    ----------
    ctx : FactorContext
        Study context; the DEM [m], NaN = nodata.
    {routing}

    Returns
    -------
    xarray.DataArray
        Catchment area [m²], ≥ one cell area; NaN on nodata.
    """
    opts = _routing(ctx, "catchment_area", method, fill, exponent, linear_threshold, outflow)
    if _tiled("catchment_area", tiled):
        lazy = ht.lazy(ctx, _tiled_accumulation(ctx, opts)) * np.float32(_cellsize(ctx) ** 2)
        return to_dataarray(lazy, ctx, "catchment_area", "m2", **_attrs(opts))
    area = _accumulation(ctx, opts) * np.float32(_cellsize(ctx) ** 2)
    return _out(area, ctx, "catchment_area", "m2", **_attrs(opts))


@_doc
def specific_catchment_area(
    ctx: FactorContext,
    method: str = "mfd",
    fill: bool = False,
    exponent: float = DEFAULT_EXPONENT,
    linear_threshold: float | None = None,
    outflow: str = "extrapolate",
    tiled: bool = False,
) -> xr.DataArray:
    """Specific catchment area a [m]: catchment area per unit contour width (width = cellsize).

    Whole-grid, in-memory routing.

    Parameters
    ----------
    ctx : FactorContext
        Study context; the DEM [m], NaN = nodata.
    {routing}

    Returns
    -------
    xarray.DataArray
        a = cells × cellsize [m], NaN on nodata.
    """
    opts = _routing(ctx, "specific_catchment_area", method, fill, exponent, linear_threshold, outflow)
    if _tiled("specific_catchment_area", tiled):
        lazy = ht.lazy(ctx, _tiled_accumulation(ctx, opts)) * np.float32(_cellsize(ctx))
        return to_dataarray(lazy, ctx, "specific_catchment_area", "m", **_attrs(opts))
    sca = _accumulation(ctx, opts) * np.float32(_cellsize(ctx))
    return _out(sca, ctx, "specific_catchment_area", "m", **_attrs(opts))


@_doc
def topographic_wetness_index(
    ctx: FactorContext,
    method: str = "mfd",
    min_slope: float = DEFAULT_MIN_SLOPE,
    fill: bool = False,
    exponent: float = DEFAULT_EXPONENT,
    linear_threshold: float | None = None,
    outflow: str = "extrapolate",
    tiled: bool = False,
) -> xr.DataArray:
    """Topographic wetness index TWI = ln(a / tan β) [ln(m)] (Beven & Kirkby 1979).

    a is the specific catchment area [m] (:func:`specific_catchment_area`), β
    the local slope of the routing surface (Horn 1981). tan β is clamped to
    ``min_slope`` so that flats (and filled depressions) get a finite, high
    index. Whole-grid, in-memory routing.

    Parameters
    ----------
    ctx : FactorContext
        Study context; the DEM [m], NaN = nodata.
    min_slope : float, default=0.001
        Lower bound of tan β [m/m] (0.057°).
    {routing}

    Returns
    -------
    xarray.DataArray
        TWI [ln(m)], NaN on nodata.
    """
    factor = "topographic_wetness_index"
    opts = _routing(ctx, factor, method, fill, exponent, linear_threshold, outflow)
    min_slope = _positive(factor, "min_slope", min_slope, " [m/m]")
    if _tiled(factor, tiled):
        acc = _tiled_accumulation(ctx, opts)
        key = f"twi:{opts.key}:min_slope={min_slope!r}"
        lazy = ht.flow_index(ctx, opts.fill, acc, key, "twi", _cellsize(ctx), min_slope=min_slope)
        return to_dataarray(lazy, ctx, "twi", "ln(m)", min_slope=min_slope, **_attrs(opts))
    twi = _accumulation(ctx, opts) * np.float32(_cellsize(ctx))  # a [m]; float32 in place to spare memory
    twi /= np.maximum(_tan_slope(ctx, opts.fill), np.float32(min_slope))
    np.log(twi, out=twi)
    return _out(twi, ctx, "twi", "ln(m)", min_slope=min_slope, **_attrs(opts))


@_doc
def stream_power_index(
    ctx: FactorContext,
    method: str = "mfd",
    fill: bool = False,
    exponent: float = DEFAULT_EXPONENT,
    linear_threshold: float | None = None,
    outflow: str = "extrapolate",
    tiled: bool = False,
) -> xr.DataArray:
    """Stream power index SPI = a · tan β [m] (Moore et al. 1991).

    a is the specific catchment area [m], β the local slope of the routing
    surface (Horn 1981); 0 on flats. Whole-grid, in-memory routing.

    Parameters
    ----------
    ctx : FactorContext
        Study context; the DEM [m], NaN = nodata.
    {routing}

    Returns
    -------
    xarray.DataArray
        SPI [m], NaN on nodata.
    """
    opts = _routing(ctx, "stream_power_index", method, fill, exponent, linear_threshold, outflow)
    if _tiled("stream_power_index", tiled):
        acc = _tiled_accumulation(ctx, opts)
        lazy = ht.flow_index(ctx, opts.fill, acc, f"spi:{opts.key}", "spi", _cellsize(ctx))
        return to_dataarray(lazy, ctx, "spi", "m", **_attrs(opts))
    spi = _accumulation(ctx, opts) * np.float32(_cellsize(ctx))
    spi *= _tan_slope(ctx, opts.fill)
    return _out(spi, ctx, "spi", "m", **_attrs(opts))


@_doc
def sediment_transport_index(
    ctx: FactorContext,
    method: str = "mfd",
    area_exponent: float = 0.6,
    slope_exponent: float = 1.3,
    fill: bool = False,
    exponent: float = DEFAULT_EXPONENT,
    linear_threshold: float | None = None,
    outflow: str = "extrapolate",
    tiled: bool = False,
) -> xr.DataArray:
    """Sediment transport index (LS factor) = (a / 22.13)^0.6 · (sin β / 0.0896)^1.3 [1].

    Moore & Burch (1986): the USLE length-slope factor from unit stream power,
    with a the specific catchment area [m] and β the local slope of the
    routing surface (Horn 1981). Whole-grid, in-memory routing.

    Parameters
    ----------
    ctx : FactorContext
        Study context; the DEM [m], NaN = nodata.
    area_exponent, slope_exponent : float, default=0.6, 1.3
        Exponents m and n of (a / 22.13)^m (sin β / 0.0896)^n.
    {routing}

    Returns
    -------
    xarray.DataArray
        LS [dimensionless], NaN on nodata.
    """
    factor = "sediment_transport_index"
    opts = _routing(ctx, factor, method, fill, exponent, linear_threshold, outflow)
    m = _positive(factor, "area_exponent", area_exponent)
    n = _positive(factor, "slope_exponent", slope_exponent)
    if _tiled(factor, tiled):
        acc = _tiled_accumulation(ctx, opts)
        key = f"ls:{opts.key}:m={m!r}:n={n!r}"
        lazy = ht.flow_index(ctx, opts.fill, acc, key, "ls", _cellsize(ctx), area_exponent=m, slope_exponent=n)
        return to_dataarray(lazy, ctx, "ls", "1", area_exponent=m, slope_exponent=n, **_attrs(opts))
    ls = _accumulation(ctx, opts) * np.float32(_cellsize(ctx) / 22.13)  # float32 in place to spare memory
    np.power(ls, np.float32(m), out=ls)
    tanb = _tan_slope(ctx, opts.fill)
    sinb = np.hypot(tanb, np.float32(1.0))
    np.divide(tanb, sinb, out=sinb)
    sinb /= np.float32(0.0896)
    np.power(sinb, np.float32(n), out=sinb)
    ls *= sinb
    return _out(ls, ctx, "ls", "1", area_exponent=m, slope_exponent=n, **_attrs(opts))


@_doc
def streams(
    ctx: FactorContext,
    threshold: float = DEFAULT_STREAM_AREA,
    unit: str = "m2",
    method: str = "d8",
    tiled: bool = False,
) -> xr.DataArray:
    """Stream network: 1 where the flow accumulation reaches ``threshold``, else 0.

    Accumulation over the depression-filled DEM (so the network is
    continuous). Whole-grid, in-memory routing.

    Parameters
    ----------
    ctx : FactorContext
        Study context; the DEM [m], NaN = nodata.
    threshold : float, default=1e5
        Minimum upslope area of a stream cell, in ``unit`` (default 0.1 km²).
    unit : {"m2", "cells"}, default="m2"
        Unit of ``threshold``.
    method : {"d8", "mfd", "quinn"}, default="d8"
        Accumulation used; D8 gives a one-cell-wide network.
    {tiled}

    Returns
    -------
    xarray.DataArray
        1 on streams, 0 elsewhere, NaN on nodata.
    """
    if _tiled("streams", tiled):
        opts, cells = _stream_routing(ctx, "streams", threshold, unit, method)
        lazy = ht.stream_values(ctx, _tiled_accumulation(ctx, opts), cells)
        return to_dataarray(lazy, ctx, "streams", "1", threshold=threshold, unit=unit, method=method)
    mask = _stream_mask(ctx, "streams", threshold, unit, method)
    out = np.where(_valid(ctx, True), mask.astype(np.float32), np.float32(np.nan))
    return _out(out, ctx, "streams", "1", threshold=threshold, unit=unit, method=method)


@_doc
def drainage_density(
    ctx: FactorContext,
    radius_m: float = 500.0,
    threshold: float = DEFAULT_STREAM_AREA,
    unit: str = "m2",
    method: str = "d8",
    tiled: bool = False,
) -> xr.DataArray:
    """Drainage density [km/km2]: stream length per area within a circle of radius ``radius_m``.

    Streams as :func:`streams`. Each stream cell contributes the length of its
    D8 link: the cell size for an orthogonal link (or a stream outlet), √2 ×
    the cell size for a diagonal one. The window holds the cells whose centres
    lie within ``radius_m``; its area counts valid cells only, so the density
    near the border or nodata is not diluted. Whole-grid, in-memory operation;
    the window sums cost rows × cols × (2 radius / cellsize + 1) additions.

    Parameters
    ----------
    ctx : FactorContext
        Study context; the DEM [m], NaN = nodata.
    radius_m : float, default=500
        Window radius [m], at least one cell.
    threshold, unit, method
        Stream definition, as :func:`streams`.
    {tiled}
        Each tile's window reaches ceil(radius_m / cellsize) cells beyond
        it; the result equals the whole-grid one bit for bit.

    Returns
    -------
    xarray.DataArray
        Drainage density [km/km²], NaN on nodata.
    """
    factor = "drainage_density"
    radius_m = _positive(factor, "radius_m", radius_m, " [m]")
    cs = _cellsize(ctx)
    if radius_m < cs:
        raise ValueError(f"the 'radius_m' parameter of {factor} ({radius_m:g} m) must be at least one cell ({cs:g} m)")
    if _tiled(factor, tiled):
        opts, cells = _stream_routing(ctx, factor, threshold, unit, method)
        key = f"drainage_density:{opts.key}:cells={cells!r}:radius={radius_m!r}"
        lazy = ht.drainage_density(ctx, _tiled_accumulation(ctx, opts), cells, radius_m, cs, key)
        return to_dataarray(lazy, ctx, "drainage_density", "km/km2", radius_m=radius_m, threshold=threshold, unit=unit)
    mask = _stream_mask(ctx, factor, threshold, unit, method)
    length = k.stream_length(_d8(ctx, **_STREAM_ROUTING), mask, cs)  # [m] per cell
    density = k.disk_sum(length, radius_m / cs)  # [m] in the window
    del length
    valid = _valid(ctx, True)
    with np.errstate(invalid="ignore", divide="ignore"):  # windows centred on nodata may hold no valid cell
        density /= k.disk_sum(valid.astype(np.float32), radius_m / cs)  # [m / cell]
    density *= 1e3 / cs**2  # [km/km2] = (m / 1e3) / (cells * cs² / 1e6)
    density[~valid] = np.nan
    return _out(density, ctx, "drainage_density", "km/km2", radius_m=radius_m, threshold=threshold, unit=unit)


@_doc
def distance_to_stream(
    ctx: FactorContext,
    threshold: float = DEFAULT_STREAM_AREA,
    unit: str = "m2",
    method: str = "d8",
    tiled: bool = False,
    max_distance_m: float | None = None,
) -> xr.DataArray:
    """Euclidean distance to the nearest stream cell centre [m].

    Streams as :func:`streams`; exact Euclidean distance transform
    (:func:`scipy.ndimage.distance_transform_edt` with the cell size as
    sampling), straight across nodata. Whole-grid, in-memory operation
    unless ``tiled``.

    Parameters
    ----------
    ctx : FactorContext
        Study context; the DEM [m], NaN = nodata.
    threshold, unit, method
        Stream definition, as :func:`streams`.
    {tiled}
        Needs ``max_distance_m``: each chunk's transform runs on the chunk
        grown by ceil(max_distance_m / cellsize) cells.
    max_distance_m : float or None, default=None
        Cap [m]: distances beyond it read as the cap, min(EDT, cap); with
        ``tiled`` the result is exact up to the cap (a stream within the cap
        lies in the chunk's window) and cells without a stream within the
        cap get the cap. Required with ``tiled``; None: no cap.

    Returns
    -------
    xarray.DataArray
        Distance [m], 0 on streams, NaN on nodata.

    Raises
    ------
    ValueError
        If no cell reaches the threshold, or ``tiled`` without ``max_distance_m``.
    """
    factor = "distance_to_stream"
    tiled = _tiled(factor, tiled)
    cap = None if max_distance_m is None else _positive(factor, "max_distance_m", max_distance_m, " [m]")
    attrs: dict[str, Any] = {"threshold": threshold, "unit": unit, "method": method}
    if cap is not None:
        attrs["max_distance_m"] = cap
    if tiled:
        if cap is None:
            raise ValueError(
                f"{factor} with 'tiled: true' needs 'max_distance_m' [m], the cap of the distances "
                "(each chunk's transform reaches that far beyond it)"
            )
        opts, cells = _stream_routing(ctx, factor, threshold, unit, method)
        acc = _tiled_accumulation(ctx, opts)
        if not bool(da.nanmax(ht.lazy(ctx, acc)) >= cells):  # one read of the accumulation, chunk by chunk
            raise ValueError(f"{factor}: no cell drains {threshold:g} {unit} or more; lower the 'threshold' parameter")
        lazy = ht.distance_to_stream(ctx, acc, cells, cap, _cellsize(ctx))
        return to_dataarray(lazy, ctx, "distance_to_stream", "m", **attrs)
    mask = _stream_mask(ctx, factor, threshold, unit, method)
    if not mask.any():
        raise ValueError(f"{factor}: no cell drains {threshold:g} {unit} or more; lower the 'threshold' parameter")
    dist = ndimage.distance_transform_edt(~mask, sampling=_cellsize(ctx)).astype(np.float32)
    if cap is not None:
        np.minimum(dist, np.float32(cap), out=dist)
    dist[~_valid(ctx, True)] = np.nan
    return _out(dist, ctx, "distance_to_stream", "m", **attrs)


@_doc
def height_above_nearest_drainage(
    ctx: FactorContext,
    threshold: float = DEFAULT_STREAM_AREA,
    unit: str = "m2",
    method: str = "d8",
    tiled: bool = False,
) -> xr.DataArray:
    """Height above the nearest drainage, HAND [m] (Nobre et al. 2011).

    The drop from each cell along its D8 flow path over the depression-filled
    DEM to the first stream cell (the D8 network and its down- to upstream
    ordering from :mod:`pyflwdir`, the accumulation of drops in a numba
    kernel). A path that leaves the grid without meeting a stream gives the
    height above its last cell. Whole-grid, in-memory routing.

    Parameters
    ----------
    ctx : FactorContext
        Study context; the DEM [m], NaN = nodata.
    threshold, unit, method
        Stream definition, as :func:`streams`.
    {tiled}

    Returns
    -------
    xarray.DataArray
        HAND [m], 0 on streams, ≥ 0 elsewhere, NaN on nodata.
    """
    factor = "height_above_nearest_drainage"
    if _tiled(factor, tiled):
        opts, cells = _stream_routing(ctx, factor, threshold, unit, method)
        lazy = ht.hand(ctx, _tiled_accumulation(ctx, opts), cells, f"hand:{opts.key}:cells={cells!r}")
        return to_dataarray(lazy, ctx, "hand", "m", threshold=threshold, unit=unit, method=method)
    mask = _stream_mask(ctx, "height_above_nearest_drainage", threshold, unit, method)
    flw = _flwdir(ctx, **_STREAM_ROUTING)
    hand = k.hand_along_d8(flw.idxs_ds, flw.idxs_seq, mask.ravel(), _filled(ctx).ravel()).reshape(mask.shape)
    return _out(hand, ctx, "hand", "m", threshold=threshold, unit=unit, method=method)


register_factors(
    [
        (
            "filled_dem",
            filled_dem,
            "m",
            "depression-filled DEM, priority flood (Wang & Liu 2006)",
            ("wang2006", "eilander2021"),
        ),
        (
            "flow_accumulation",
            flow_accumulation,
            "cells",
            "flow accumulation, D8 or MFD (Freeman 1991), cells or m2",
            ("freeman1991", "ocallaghan1984", "conrad2015", "eilander2021"),
        ),
        (
            "catchment_area",
            catchment_area,
            "m2",
            "upslope contributing area, MFD (Freeman 1991) or D8",
            ("freeman1991", "quinn1991", "ocallaghan1984", "conrad2015"),
        ),
        (
            "specific_catchment_area",
            specific_catchment_area,
            "m",
            "catchment area per unit contour width",
            ("quinn1991", "freeman1991", "conrad2015"),
        ),
        (
            "topographic_wetness_index",
            topographic_wetness_index,
            "ln(m)",
            "ln(a / tan b) (Beven & Kirkby 1979)",
            ("beven1979", "quinn1991"),
        ),
        ("stream_power_index", stream_power_index, "m", "a tan b (Moore et al. 1991)", ("moore1991",)),
        (
            "sediment_transport_index",
            sediment_transport_index,
            "1",
            "LS factor (Moore & Burch 1986)",
            ("moore1986", "moore1991"),
        ),
        ("streams", streams, "1", "stream cells by accumulation threshold (1/0)", ("ocallaghan1984", "eilander2021")),
        (
            "drainage_density",
            drainage_density,
            "km/km2",
            "stream length per area in a circular window",
            ("horton1945", "ocallaghan1984"),
        ),
        (
            "distance_to_stream",
            distance_to_stream,
            "m",
            "Euclidean distance to the nearest stream cell",
            ("ocallaghan1984", "maurer2003"),
        ),
        (
            "height_above_nearest_drainage",
            height_above_nearest_drainage,
            "m",
            "HAND (Nobre et al. 2011)",
            ("renno2008", "nobre2011"),
        ),
    ],
    whole_grid=True,
)
