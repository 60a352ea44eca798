"""Terrain factors from a DEM: slope, aspect, curvatures, TPI, TRI, roughness, relief, hillshade.

All are stencils computed chunk by chunk (dask ``overlap`` with a halo of the
window radius, numba kernels releasing the GIL, so both cores work and a DEM
larger than memory is fine). Results do not depend on the chunk size.

Conventions
-----------
- Axes: x east, y north; p = ∂z/∂x, q = ∂z/∂y, r = ∂²z/∂x², t = ∂²z/∂y²,
  s = ∂²z/∂x∂y, from the 3×3 window (Horn 1981 or Zevenbergen & Thorne
  1987 for p, q; always Zevenbergen & Thorne for r, t, s).
- Slope: atan(√(p² + q²)) [degrees], or 100 √(p² + q²) [percent].
- Aspect: azimuth of the downslope direction [degrees clockwise from north,
  0-360); flat cells (p = q = 0) get -1. Eastness = sin(aspect), northness =
  cos(aspect) (0 on flats). Sectors: 1 = N (337.5-22.5°), 2 = NE, …, 8 = NW,
  0 = flat.
- Curvatures [1/m], as SAGA GIS computes them (checked cell by cell against
  SAGA's ``ta.tif``): plan = -(q²r - 2pqs + p²t) / (p² + q²)^1.5, profile =
  -(p²r + 2pqs + q²t) / ((p² + q²)(1 + p² + q²)^1.5), tangential =
  -(q²r - 2pqs + p²t) / ((p² + q²) √(1 + p² + q²)); positive = convex
  (divergent across, decelerating along the slope); 0 on flats. Total
  curvature = r² + 2s² + t² [1/m²] (Wilson & Gallant 2000).
- Edges and nodata: a cell whose window touches nodata or the grid border is
  nodata; with ``edges="extrapolate"`` the border is first padded by linear
  extrapolation (2 z_edge - z_inside), so border cells get values too.

References
----------
Horn, B.K.P. (1981). Hill shading and the reflectance map. Proc. IEEE 69(1).
Zevenbergen, L.W., Thorne, C.R. (1987). Quantitative analysis of land surface
topography. Earth Surf. Process. Landforms 12, 47-56.
Weiss, A. (2001). Topographic position and landforms analysis. ESRI User Conf.
Riley, S.J., DeGloria, S.D., Elliot, R. (1999). A terrain ruggedness index that
quantifies topographic heterogeneity. Intermountain J. Sci. 5, 23-27.
Wilson, J.P., Gallant, J.C. (2000). Terrain Analysis. Wiley.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import dask.array as da
import numpy as np
import xarray as xr

from susmap.factors import terrain_kernels as k
from susmap.factors.registry import FactorContext, register_factors, to_dataarray

__all__ = [
    "DERIVATIVE_OUTPUTS",
    "aspect",
    "circular_offsets",
    "derivative_stack",
    "hillshade",
    "plan_curvature",
    "profile_curvature",
    "relative_relief",
    "roughness",
    "slope",
    "tangential_curvature",
    "terrain_ruggedness_index",
    "topographic_position_index",
    "total_curvature",
]

METHODS = {"horn": k.HORN, "zevenbergen_thorne": k.ZEVENBERGEN_THORNE}
DERIVATIVE_OUTPUTS = {
    "slope_degrees": k.SLOPE_DEGREES,
    "slope_percent": k.SLOPE_PERCENT,
    "aspect": k.ASPECT,
    "eastness": k.EASTNESS,
    "northness": k.NORTHNESS,
    "aspect_sector": k.ASPECT_SECTOR,
    "plan_curvature": k.PLAN_CURVATURE,
    "profile_curvature": k.PROFILE_CURVATURE,
    "tangential_curvature": k.TANGENTIAL_CURVATURE,
    "total_curvature": k.TOTAL_CURVATURE,
    "hillshade": k.HILLSHADE,
}


def _pad_linear(arr: da.Array, depth: int) -> da.Array:
    """Pad a 2-D array by ``depth`` cells on each side with 2 z_edge - z_mirror (linear extrapolation)."""
    for axis in (0, 1):
        n = arr.shape[axis]
        if n < depth + 1:
            raise ValueError(f"the grid is too small ({n} cells) for a window radius of {depth} cells")
        first = da.take(arr, [0], axis=axis)
        last = da.take(arr, [n - 1], axis=axis)
        before = 2 * first - da.take(arr, list(range(depth, 0, -1)), axis=axis)
        after = 2 * last - da.take(arr, list(range(n - 2, n - 2 - depth, -1)), axis=axis)
        arr = da.concatenate([before, arr, after], axis=axis)
    return arr


def apply_stencil(
    dem: da.Array,
    depth: int,
    block_fn: Callable[[np.ndarray], np.ndarray],
    n_out: int,
    *,
    edges: str = "nodata",
    chunks: int = 512,
) -> da.Array:
    """Run ``block_fn`` (block with a halo of ``depth`` → (n_out, rows, cols) without it) over a chunked DEM.

    Returns a lazy float32 array (n_out, rows, cols) chunked (n_out, chunks, chunks).
    """
    if edges not in ("nodata", "extrapolate"):
        raise ValueError(f"edges must be 'nodata' or 'extrapolate', not {edges!r}")
    arr = dem.astype(np.float32).rechunk(max(chunks, 2 * depth + 1))
    if edges == "extrapolate":
        arr = _pad_linear(arr, depth).rechunk(max(chunks, 2 * depth + 1))
    # every block, the outer ones included, gets a halo (NaN beyond the border); block_fn returns the
    # block without it, so the result has the chunks of ``arr``
    grown = da.overlap.overlap(arr, depth={0: depth, 1: depth}, boundary={0: np.nan, 1: np.nan})
    out = grown.map_blocks(
        block_fn,
        new_axis=0,
        chunks=((n_out,), *arr.chunks),
        dtype=np.float32,
        meta=np.empty((0, 0, 0), np.float32),
    )
    if edges == "extrapolate":
        out = out[:, depth:-depth, depth:-depth]
    return out.rechunk((n_out, chunks, chunks))


def derivative_stack(
    dem: da.Array,
    cellsize: float,
    outputs: Sequence[str],
    *,
    method: str = "zevenbergen_thorne",
    edges: str = "nodata",
    chunks: int = 512,
    sun_azimuth: float = 315.0,
    sun_altitude: float = 45.0,
    z_factor: float = 1.0,
) -> da.Array:
    """Several 3×3 derivatives of a DEM [m] in one pass: a lazy (len(outputs), rows, cols) float32 array.

    ``outputs`` are names of :data:`DERIVATIVE_OUTPUTS`; ``cellsize`` [m].
    Computing slope, aspect and two curvatures together reads the DEM once.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    unknown = [o for o in outputs if o not in DERIVATIVE_OUTPUTS]
    if unknown:
        raise ValueError(f"unknown outputs {unknown}; known: {', '.join(DERIVATIVE_OUTPUTS)}")
    if cellsize <= 0:
        raise ValueError(f"cellsize must be positive, got {cellsize}")
    slots = np.full(k.N_OUTPUTS, -1, dtype=np.int64)
    for plane, name in enumerate(outputs):
        slots[DERIVATIVE_OUTPUTS[name]] = plane
    mcode = METHODS[method]

    def block(z: np.ndarray) -> np.ndarray:
        out = np.empty((len(outputs), z.shape[0] - 2, z.shape[1] - 2), dtype=np.float32)
        k.derivatives(
            np.ascontiguousarray(z, dtype=np.float32),
            float(cellsize),
            mcode,
            slots,
            float(sun_azimuth),
            float(sun_altitude),
            float(z_factor),
            out,
        )
        return out

    return apply_stencil(dem, 1, block, len(outputs), edges=edges, chunks=chunks)


def circular_offsets(
    radius_cells: float, inner_radius_cells: float = 0.0, *, include_centre: bool = False
) -> np.ndarray:
    """(dy, dx) offsets of the cells whose centres lie in an annulus inner < d ≤ radius [cells]."""
    r = int(np.floor(radius_cells))
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    d = np.hypot(dy, dx)
    keep = (d <= radius_cells + 1e-9) & (d > inner_radius_cells - 1e-9)
    if not include_centre:
        keep &= d > 0
    else:
        keep |= d == 0
    return np.column_stack([dy[keep], dx[keep]]).astype(np.int64)


def window_statistic(dem: da.Array, offsets: np.ndarray, op: int, *, edges: str, chunks: int) -> da.Array:
    """A window statistic (see :func:`susmap.factors.terrain_kernels.window_stat`) as a lazy 2-D array."""
    depth = int(np.abs(offsets).max()) if offsets.size else 0
    if depth == 0:
        raise ValueError("the window holds no neighbour: increase the radius")

    def block(z: np.ndarray) -> np.ndarray:
        out = np.empty((1, z.shape[0] - 2 * depth, z.shape[1] - 2 * depth), dtype=np.float32)
        k.window_stat(np.ascontiguousarray(z, dtype=np.float32), offsets, depth, op, out[0])
        return out

    return apply_stencil(dem, depth, block, 1, edges=edges, chunks=chunks)[0]


# ----------------------------------------------------------------------------- factor functions


SHARED_OUTPUTS = (
    "slope_degrees",
    "slope_percent",
    "aspect",
    "eastness",
    "northness",
    "aspect_sector",
    "plan_curvature",
    "profile_curvature",
    "tangential_curvature",
    "total_curvature",
)
PLANNED_OUTPUTS_KEY = "terrain:planned_outputs"


def derivative_output(factor: str, params: dict) -> str | None:
    """The :data:`DERIVATIVE_OUTPUTS` name a factor request uses (None for other factors)."""
    if factor == "slope":
        return f"slope_{params.get('units', 'degrees')}"
    if factor == "aspect":
        return {"degrees": "aspect", "sector": "aspect_sector"}.get(
            params.get("output", "degrees"), params.get("output")
        )
    return factor if factor in SHARED_OUTPUTS else None


def _derived(ctx: FactorContext, output: str, method: str, **kw) -> da.Array:
    """One output of a per-(method, edges) derivative pass, shared by the factors of a study.

    The pass computes the outputs planned in ``ctx.cache[PLANNED_OUTPUTS_KEY]``
    (set by :func:`susmap.factors.derive.derive_factors` from the study's
    factor list) or, without a plan, every shared output; factors computed
    together then read the DEM once.
    """
    planned = ctx.cache.get(PLANNED_OUTPUTS_KEY)
    if output in SHARED_OUTPUTS and not kw and (planned is None or output in planned):
        outputs = tuple(o for o in SHARED_OUTPUTS if planned is None or o in planned)
        key = f"terrain:{method}:{ctx.edges}:{ctx.chunks}:{','.join(outputs)}"
        stack = ctx.memo(
            key,
            lambda: derivative_stack(
                ctx.dem.data, ctx.cellsize, outputs, method=method, edges=ctx.edges, chunks=ctx.chunks
            ),
        )
        return stack[outputs.index(output)]
    return derivative_stack(
        ctx.dem.data, ctx.cellsize, [output], method=method, edges=ctx.edges, chunks=ctx.chunks, **kw
    )[0]


def slope(ctx: FactorContext, method: str = "zevenbergen_thorne", units: str = "degrees") -> xr.DataArray:
    """Slope gradient [degrees] or [percent] (Horn 1981 or Zevenbergen & Thorne 1987).

    Parameters
    ----------
    ctx : FactorContext
        The study grid and DEM [m].
    method : {"zevenbergen_thorne", "horn"}, default="zevenbergen_thorne"
        Gradient of the 3×3 window: Zevenbergen & Thorne (1987), or Horn
        (1981) as ArcGIS and gdaldem.
    units : {"degrees", "percent"}, default="degrees"
        Output units: the angle [degrees] or the gradient x 100 [percent].
    """
    if units not in ("degrees", "percent"):
        raise ValueError(f"units must be 'degrees' or 'percent', not {units!r}")
    return to_dataarray(_derived(ctx, f"slope_{units}", method), ctx, "slope", units, method=method)


def aspect(ctx: FactorContext, method: str = "zevenbergen_thorne", output: str = "degrees") -> xr.DataArray:
    """Aspect: ``degrees`` clockwise from north (flat -1), ``eastness`` sin, ``northness`` cos, or ``sector`` 0-8.

    Parameters
    ----------
    ctx : FactorContext
        The study grid and DEM [m].
    method : {"zevenbergen_thorne", "horn"}, default="zevenbergen_thorne"
        Gradient of the 3×3 window: Zevenbergen & Thorne (1987), or Horn
        (1981) as ArcGIS and gdaldem.
    output : {"degrees", "eastness", "northness", "sector"}, default="degrees"
        The downslope azimuth [degrees] clockwise from north (-1 on flats),
        its sine (eastness) or cosine (northness) [-1, 1] (0 on flats), or one of 8
        sectors (1 = N ... 8 = NW, 0 = flat) as a class.
    """
    names = {"degrees": "aspect", "eastness": "eastness", "northness": "northness", "sector": "aspect_sector"}
    if output not in names:
        raise ValueError(f"output must be one of {', '.join(names)}, not {output!r}")
    units = {"degrees": "degrees", "eastness": "1", "northness": "1", "sector": "class"}[output]
    return to_dataarray(_derived(ctx, names[output], method), ctx, names[output], units, method=method)


def _curvature(kind: str) -> Callable[..., xr.DataArray]:
    units = "1/m2" if kind == "total_curvature" else "1/m"

    def factor(ctx: FactorContext, method: str = "zevenbergen_thorne") -> xr.DataArray:
        return to_dataarray(_derived(ctx, kind, method), ctx, kind, units, method=method)

    factor.__name__ = kind
    factor.__doc__ = (
        f"{kind.replace('_', ' ').capitalize()} [{units}] (Zevenbergen & Thorne 1987; SAGA's convention).\n\n"
        "Parameters\n----------\nctx : FactorContext\n    The study grid and DEM [m].\n"
        'method : {"zevenbergen_thorne", "horn"}, default="zevenbergen_thorne"\n'
        "    First derivatives p, q of the 3×3 window: Zevenbergen & Thorne (1987),\n"
        "    or Horn (1981); the second derivatives are always Zevenbergen & Thorne's.\n"
    )
    return factor


plan_curvature = _curvature("plan_curvature")
profile_curvature = _curvature("profile_curvature")
tangential_curvature = _curvature("tangential_curvature")
total_curvature = _curvature("total_curvature")


def hillshade(
    ctx: FactorContext, azimuth: float = 315.0, altitude: float = 45.0, z_factor: float = 1.0
) -> xr.DataArray:
    """Analytical hillshade [0-255] for a sun at ``azimuth``/``altitude`` [degrees] (Horn 1981 gradients).

    Parameters
    ----------
    ctx : FactorContext
        The study grid and DEM [m].
    azimuth : float, default=315.0
        Direction of the sun [degrees] clockwise from north (315 = north-west).
    altitude : float, default=45.0
        Height of the sun above the horizon [degrees].
    z_factor : float, default=1.0
        Vertical exaggeration [1]: elevations are multiplied by it.
    """
    data = _derived(ctx, "hillshade", "horn", sun_azimuth=azimuth, sun_altitude=altitude, z_factor=z_factor)
    return to_dataarray(data, ctx, "hillshade", "0-255", azimuth=azimuth, altitude=altitude)


def _radius_cells(ctx: FactorContext, radius_m: float, name: str = "radius_m") -> float:
    if radius_m < ctx.cellsize:
        raise ValueError(f"{name} ({radius_m:g} m) must be at least one cell ({ctx.cellsize:g} m)")
    return radius_m / ctx.cellsize


def topographic_position_index(
    ctx: FactorContext, radius_m: float = 100.0, inner_radius_m: float = 0.0
) -> xr.DataArray:
    """TPI [m]: elevation minus the mean elevation of an annulus inner < d ≤ radius [m] (Weiss 2001).

    Parameters
    ----------
    ctx : FactorContext
        The study grid and DEM [m].
    radius_m : float, default=100.0
        Outer radius [m] of the neighbourhood, at least one cell.
    inner_radius_m : float, default=0.0
        Inner radius [m] of the annulus; 0 = a full circle (centre excluded).
    """
    offsets = circular_offsets(_radius_cells(ctx, radius_m), inner_radius_m / ctx.cellsize)
    data = window_statistic(ctx.dem.data, offsets, k.TPI, edges=ctx.edges, chunks=ctx.chunks)
    return to_dataarray(data, ctx, "tpi", "m", radius_m=radius_m, inner_radius_m=inner_radius_m)


def relative_relief(ctx: FactorContext, radius_m: float = 100.0) -> xr.DataArray:
    """Relative relief [m]: maximum minus minimum elevation within ``radius_m`` [m] (centre included).

    Parameters
    ----------
    ctx : FactorContext
        The study grid and DEM [m].
    radius_m : float, default=100.0
        Radius [m] of the circular window, at least one cell.
    """
    offsets = circular_offsets(_radius_cells(ctx, radius_m), include_centre=True)
    data = window_statistic(ctx.dem.data, offsets, k.RELIEF, edges=ctx.edges, chunks=ctx.chunks)
    return to_dataarray(data, ctx, "relative_relief", "m", radius_m=radius_m)


def terrain_ruggedness_index(ctx: FactorContext) -> xr.DataArray:
    """TRI [m]: √Σ (z_i - z_0)² over the 8 neighbours (Riley et al. 1999)."""
    offsets = circular_offsets(1.5)
    data = window_statistic(ctx.dem.data, offsets, k.TRI, edges=ctx.edges, chunks=ctx.chunks)
    return to_dataarray(data, ctx, "tri", "m")


def roughness(ctx: FactorContext) -> xr.DataArray:
    """Roughness [m]: maximum minus minimum elevation of the 3×3 window (Wilson et al. 2007, as gdaldem)."""
    offsets = circular_offsets(1.5, include_centre=True)
    data = window_statistic(ctx.dem.data, offsets, k.RELIEF, edges=ctx.edges, chunks=ctx.chunks)
    return to_dataarray(data, ctx, "roughness", "m")


register_factors(
    [
        (
            "slope",
            slope,
            "degrees",
            "slope, Horn (1981) or Zevenbergen & Thorne (1987); degrees or percent",
            ("horn1981", "zevenbergen1987"),
        ),
        (
            "aspect",
            aspect,
            "degrees",
            "aspect clockwise from north (flat -1), eastness, northness or 8 sectors",
            ("horn1981", "zevenbergen1987"),
        ),
        (
            "plan_curvature",
            plan_curvature,
            "1/m",
            "plan curvature, Zevenbergen & Thorne (1987), SAGA convention",
            ("zevenbergen1987", "conrad2015"),
        ),
        (
            "profile_curvature",
            profile_curvature,
            "1/m",
            "profile curvature, Zevenbergen & Thorne (1987), SAGA convention",
            ("zevenbergen1987", "conrad2015"),
        ),
        (
            "tangential_curvature",
            tangential_curvature,
            "1/m",
            "tangential curvature, Zevenbergen & Thorne (1987)",
            ("zevenbergen1987", "wilson2000"),
        ),
        (
            "total_curvature",
            total_curvature,
            "1/m2",
            "total curvature r²+2s²+t² (Wilson & Gallant 2000)",
            ("wilson2000",),
        ),
        (
            "tpi",
            topographic_position_index,
            "m",
            "topographic position index, circle or annulus (Weiss 2001)",
            ("weiss2001",),
        ),
        ("tri", terrain_ruggedness_index, "m", "terrain ruggedness index (Riley et al. 1999)", ("riley1999",)),
        ("roughness", roughness, "m", "max - min of the 3x3 window (Wilson et al. 2007)", ("wilson2007",)),
        ("relative_relief", relative_relief, "m", "max - min elevation within a radius", ("wilson2000",)),
        ("hillshade", hillshade, "0-255", "analytical hillshade (Horn 1981)", ("horn1981",)),
    ]
)
