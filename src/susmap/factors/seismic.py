"""Seismic factors of paper 001: distance, direction and directivity from the epicentre and the rupture.

Factors
-------
``distance_to_epicentre``, ``direction_to_epicentre``, ``epicentre_directivity``
    Distance [m], azimuth [degrees] and the epicentre directivity index of
    paper 001, eq. 16 [radians]. Chunked (lazy).
``rupture_distance``, ``rupture_direction``
    Distance [m] to the nearest subsection (segment between two vertices) of
    the surface-rupture or fault polylines, and the orientation [degrees] of
    that subsection: paper 001's Thiessen construction, computed exactly per
    cell. Chunked (lazy).

General proximity (distance to features, aftershock kernel density) is in
:mod:`susmap.factors.proximity`.

Conventions
-----------
- Distances are between cell centres and the epicentre or the traces, in
  grid CRS units; the grid must be projected (metres), and north-up for the
  rupture factors. Azimuths are clockwise from grid north (the +y axis of
  the projected CRS, not true north).
- The epicentre is given in the grid CRS or, with ``crs:`` (e.g.
  ``EPSG:4326``, longitude and latitude in degrees), in any CRS pyproj
  knows. An epicentre, or traces, farther from the grid than 1,000 km or
  10 grid diagonals (whichever is larger) are refused with a one-line
  message: degrees read as metres, or a file in the wrong CRS. Every
  subsection of the traces counts, also those beyond the grid edge.
- Every factor here is computed lazily chunk by chunk
  (:meth:`~susmap.factors.registry.FactorContext.map_cells`); only the
  rupture subsections are held in memory.

References
----------
[001] The study's paper 001 (earthquake-induced landslides, Wenchuan; stacked
autoencoder): section 3.3, Table 3 and eq. 16 (epicentre directivity, surface
rupture directivity, fault direction).
"""

from __future__ import annotations

import math

import dask.array as da
import geopandas as gpd
import numpy as np
import shapely
import xarray as xr
from numba import njit

from susmap.errors import StudyConfigError
from susmap.factors.registry import FactorContext, check_number, register_factors, to_dataarray

__all__ = [
    "direction_to_epicentre",
    "distance_to_epicentre",
    "epicentre_directivity",
    "rupture_direction",
    "rupture_distance",
]

# Side [cells] of the sub-blocks the nearest-subsection search prunes candidates for.
_SUBBLOCK = 32


def _epicentre(ctx: FactorContext, x: float, y: float, crs: str | None, what: str) -> tuple[float, float]:
    """The epicentre (x, y) in the grid CRS, checked against the grid.

    Raises
    ------
    StudyConfigError
        One line naming the factor and the parameter: a coordinate that is
        not a finite number, a ``crs`` that is not a CRS, degrees out of
        range, or a point farther from the grid than
        :attr:`~susmap.factors.registry.FactorContext.plausible_reach`
        (1,000 km or 10 grid diagonals, whichever is larger).
    """
    xe, ye = check_number(x, f"{what}: x"), check_number(y, f"{what}: y")
    grid_crs = ctx.grid.crs.to_string()
    given = f"x, y = ({xe:.10g}, {ye:.10g})"
    hint = (
        f"give x, y in the grid CRS ({grid_crs}, metres) or state their CRS with crs: "
        "(crs: EPSG:4326 for longitude, latitude in degrees)"
    )
    if crs is not None:
        from pyproj import CRS, Transformer

        try:
            source = CRS.from_user_input(crs)
        except Exception:  # pyproj.exceptions.CRSError and any parse failure
            raise StudyConfigError(
                f"{what}: crs: {crs!r} is not a CRS (give an EPSG code such as EPSG:4326, WKT or a PROJ string)"
            ) from None
        if source.is_geographic and not (-90.0 <= ye <= 90.0 and -180.0 <= xe <= 360.0):
            raise StudyConfigError(
                f"{what}: {given} are not longitude, latitude in degrees of {crs} "
                "(x = longitude in [-180, 360], y = latitude in [-90, 90])"
            )
        xt, yt = Transformer.from_crs(source, ctx.grid.crs, always_xy=True).transform(xe, ye)
        if not (math.isfinite(xt) and math.isfinite(yt)):
            raise StudyConfigError(f"{what}: {given} in {crs} cannot be transformed to the grid CRS {grid_crs}")
        given = f"x, y = ({xe:.10g}, {ye:.10g}) in {crs}"
        hint = f"check x, y and crs ({crs}) against the grid CRS ({grid_crs})"
        xe, ye = float(xt), float(yt)
    ctx.require_near_grid(
        float(ctx.distance_from_grid([shapely.points(xe, ye)])[0]), what=what, param=f"the epicentre {given}", hint=hint
    )
    return xe, ye


_XY_DOC = """x, y : float
        Epicentre coordinates: easting and northing [m] in the grid CRS, or
        x and y in ``crs`` (longitude and latitude [degrees] for EPSG:4326).
        Refused when the point lies farther from the grid than 1,000 km or
        10 grid diagonals, whichever is larger: an epicentre in degrees
        read as metres of a UTM grid lies thousands of km away.
    crs : str, optional
        CRS of ``x`` and ``y`` (EPSG code, WKT or PROJ string), e.g.
        ``"EPSG:4326"`` for the longitude and latitude [degrees] that
        earthquake catalogues give; the point is transformed to the grid
        CRS with pyproj (x = longitude, y = latitude). Default: the grid CRS."""


# --------------------------------------------------------------------------- epicentre


def distance_to_epicentre(ctx: FactorContext, x: float, y: float, crs: str | None = None) -> xr.DataArray:
    """Distance [m] from each cell centre to the epicentre (x, y).

    Parameters
    ----------
    ctx : FactorContext
        The study grid (projected).
    {xy}

    Returns
    -------
    xarray.DataArray
        Float32 (y, x) [m], √((x_p - x)² + (y_p - y)²) for cell centre (x_p, y_p); chunked, lazy.
    """
    ctx.grid.require_projected("distance_to_epicentre")
    xe, ye = _epicentre(ctx, x, y, crs, "distance_to_epicentre")
    data = ctx.map_cells(lambda xp, yp: np.hypot(xp - xe, yp - ye))
    return to_dataarray(data, ctx, "distance_to_epicentre", "m", epicentre_x=xe, epicentre_y=ye)


def direction_to_epicentre(
    ctx: FactorContext, x: float, y: float, sense: str = "from_epicentre", crs: str | None = None
) -> xr.DataArray:
    """Azimuth [degrees clockwise from grid north, 0-360) between each cell and the epicentre.

    Parameters
    ----------
    ctx : FactorContext
        The study grid (projected).
    {xy}
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
    xe, ye = _epicentre(ctx, x, y, crs, "direction_to_epicentre")
    senses = ("from_epicentre", "to_epicentre")
    if sense not in senses:
        raise StudyConfigError(f"direction_to_epicentre: sense must be one of {', '.join(senses)}, not {sense!r}")
    sign = 1.0 if sense == "from_epicentre" else -1.0

    def func(xp: np.ndarray, yp: np.ndarray) -> np.ndarray:
        az = np.degrees(np.arctan2(sign * (xp - xe), sign * (yp - ye))) % 360.0
        return np.where(az >= 360.0, 0.0, az)  # -tiny % 360 rounds to 360

    data = ctx.map_cells(func)
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


def epicentre_directivity(
    ctx: FactorContext, x: float, y: float, rupture_azimuth: float | None = None, crs: str | None = None
) -> xr.DataArray:
    """Epicentre directivity Ep [radians], paper 001 eq. 16.

    Parameters
    ----------
    ctx : FactorContext
        The study grid (projected).
    {xy}
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
    xe, ye = _epicentre(ctx, x, y, crs, "epicentre_directivity")
    attrs: dict[str, float | str] = {"epicentre_x": xe, "epicentre_y": ye, "method": "paper 001 eq. 16"}
    if rupture_azimuth is None:
        data = ctx.map_cells(lambda xp, yp: _eq16(xp, yp, xe, ye))
    else:
        theta = math.radians(check_number(rupture_azimuth, "epicentre_directivity: rupture_azimuth") % 360.0)
        attrs["rupture_azimuth"] = float(rupture_azimuth)

        def func(xp: np.ndarray, yp: np.ndarray) -> np.ndarray:
            diff = np.abs(_eq16(xp, yp, xe, ye) - theta) % (2 * np.pi)
            return np.minimum(diff, 2 * np.pi - diff)

        data = ctx.map_cells(func)
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
    ctx.require_metric_grid(what)
    gdf, name = ctx.features(path, layer=layer, where=where, what=what)
    ctx.require_near_grid(
        float(ctx.distance_from_grid(gdf.geometry.values).min()),
        what=what,
        param=f"path: the nearest trace of {name}",
        hint="check the file's CRS (its .prj or layer CRS) and extent",
    )
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

        return ctx.map_cells(func, n_out=2)

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


for _func in (distance_to_epicentre, direction_to_epicentre, epicentre_directivity):
    _func.__doc__ = (_func.__doc__ or "").replace("{xy}", _XY_DOC)


register_factors(
    [
        ("distance_to_epicentre", distance_to_epicentre, "m", "Euclidean distance to the epicentre", ("li2021",)),
        (
            "direction_to_epicentre",
            direction_to_epicentre,
            "degrees",
            "azimuth of the cell seen from the epicentre (or its back-azimuth), clockwise from north",
            ("li2021",),
        ),
        (
            "epicentre_directivity",
            epicentre_directivity,
            "radians",
            "epicentre directivity index Ep, paper 001 eq. 16",
            ("li2021",),
        ),
        (
            "rupture_distance",
            rupture_distance,
            "m",
            "exact distance to the nearest rupture or fault subsection (paper 001)",
            ("li2021",),
        ),
        (
            "rupture_direction",
            rupture_direction,
            "degrees",
            "direction of the nearest rupture or fault subsection, Thiessen construction (paper 001)",
            ("li2021",),
        ),
    ],
    whole_grid=False,
)
