"""Distance to vector features, chunk by chunk: the exact EDT of the rasterized features without a whole-grid transform.

:func:`~susmap.factors.proximity.distance_to_features` burns the features
into a boolean mask of the whole grid (grown beyond its edges as far as
needed) and runs one Euclidean distance transform (EDT) over it: about
50 bytes per cell at the peak, 5 GB at 10,000² cells. Here the same
distances are computed lazily, one dask chunk at a time, each from the
EDT of a window around the chunk (the chunk grown by a halo), so that the
whole grid is never held.

Definition matched
------------------
The distance [m] of a cell centre to the centre of the nearest cell that
the features mark, where a feature marks every cell of the grid's lattice
(the grid's rows and columns, extended without end beyond its edges) it
touches (``rasterio.features.rasterize(all_touched=True)``: a line or
polygon every cell it touches, a polygon also its interior, a point the cell
that holds it), computed as ``scipy.ndimage.distance_transform_edt`` computes
it: √((Δr·dy)² + (Δc·dx)²) in float64, Δr and Δc the row and column offsets
to the nearest marked cell (Maurer et al. 2003). This is what
``distance_to_features`` gives (it grows its grid as far as the nearest
features reach, so its result equals the transform on an unbounded lattice);
with ``margin_m`` the lattice is the grid grown by ``ceil(margin_m / cell)``
cells on every side, as there.

Rasterization ties: GDAL maps coordinates to pixels through the inverse of
the raster's geotransform, so a vertex or edge lying exactly on a cell line
may mark one cell or its neighbour depending on the raster's origin (a
rounding of one unit in the last place). The whole-grid transform has the
same dependence (its origin moves with the growth it needs); away from such
exact ties a window marks exactly the cells the whole grid marks.

Why the windows are exact
-------------------------
Let a chunk's window reach ``k`` cells beyond it on a side. A marked cell
outside the window lies at least R = min over the open sides of
(k + 1) × cell size from every cell of the chunk (sides at the end of a
bounded lattice do not count). The window's EDT d_w is never below the true
distance d (it sees a subset of the marked cells), and when d < d_w the
nearest marked cell lies outside, so d ≥ R. Hence every cell with d_w ≤ R
has d = d_w exactly, and a cell with d_w > R has d ≥ R. The halo is first
chosen from a spatial index of the features (a shapely STRtree): for
sub-blocks of the chunk, the vector distance of the block centre to the
nearest feature plus the block's half-diagonal plus half a cell diagonal
bounds the distance of every cell of the block to a marked cell (the cell
holding the nearest point of the feature is marked). A chunk whose cells
are not all resolved (d_w ≤ R) is redone with twice the halo; the check,
not the bound, is what makes the result exact.

With ``max_distance_m`` = D the result is min(d, D), and the halo never
exceeds D (rounded up to whole cells, so that R > D): it starts from the
index's bound when that is smaller, and a window with R >= D resolves every
cell, since for a cell with d_w > R, d >= R >= D and min(d_w, D) = D =
min(d, D). The windows then have a bounded size whatever the features, which
bounds time and memory per chunk: the issue's "EDT with a halo equal to a
stated maximum distance" (issue 19, item 2).

Far from every feature
----------------------
A chunk far from every feature needs a window reaching the nearest one,
which may hold many times the chunk's cells (a fault in one corner of a
province). A window larger than ``window_budget`` cells (default 4 × the
chunk's cells) is not formed. The chunk's distances are
computed instead from the boundary cells of the marked set (marked cells
with an unmarked 4-neighbour: from an interior marked cell the neighbour
towards any unmarked cell is nearer, so only boundary cells can be nearest;
a marked cell itself gets 0), collected once by rasterizing, strip by strip,
the region any grid cell's nearest marked cell can lie in (the grid grown by
the index's bound over the whole grid) and kept sorted by column. The
search is separable, as the EDT itself: for each row of the chunk, the
nearest boundary cell in every column (vertical offset g_j), then the lower
envelope of the parabolas (x - x_j)² + g_j² (Felzenszwalb and Huttenlocher
2012) gives each cell's nearest boundary cell, in time proportional to the
chunk's rows times the columns holding boundary cells, whatever the
distance. Its integer offsets give the distance formed as scipy forms it,
so both paths give the same values (up to the choice among exactly tied
cells); the region's reach is checked per chunk as above.

Memory: a window of n cells holds the int8 mask and scipy's int32 feature
indices (about 10 bytes per cell); only the chunk's distances are formed.
The boundary cells take 16 bytes each.

References
----------
Maurer, C.R., Qi, R., Raghavan, V. (2003). A linear time algorithm for
computing exact Euclidean distance transforms of binary images in arbitrary
dimensions. IEEE TPAMI 25(2), 265-270 (the EDT scipy implements).
Felzenszwalb, P.F., Huttenlocher, D.P. (2012). Distance transforms of sampled
functions. Theory of Computing 8, 415-428 (lower envelope of parabolas).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np
import shapely
import xarray as xr
from affine import Affine
from numba import njit

from susmap.errors import StudyConfigError
from susmap.factors.registry import FactorContext, to_dataarray
from susmap.grid import Grid

__all__ = ["FeatureLattice", "WindowStats", "chunk_distance", "tiled_distance_to_features", "tiled_feature_distance"]

# Side [cells] of the sub-blocks whose nearest feature bounds a chunk's halo.
SUBBLOCK = 64
# A chunk not resolved after this many doublings of its halo is an error (cannot happen for a valid bound).
MAX_GROWTH = 24
# A window larger than this many times its chunk takes the separable nearest-boundary-cell path.
WINDOW_FACTOR = 4
# Cells rasterized at once (a strip of rows) when collecting the boundary cells.
STRIP_CELLS = 1 << 23
# rasterio's rasterize guards a warning with warnings.catch_warnings, which is not thread-safe: one at a time.
_RASTERIZE_LOCK = threading.Lock()


@dataclass
class WindowStats:
    """What one chunk's computation took.

    ``method`` is ``"edt"`` (a window's EDT, ``window_cells`` cells,
    ``passes`` halo doublings + 1) or ``"nearest"`` (the nearest boundary
    cell by the separable search; ``window_cells`` is the window it replaced).
    """

    window_cells: int
    passes: int
    method: str = "edt"


def _check_distance(value: float | None, name: str, what: str) -> float | None:
    """``value`` as a float >= 0 [m], or None; a StudyConfigError naming ``name`` otherwise."""
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise StudyConfigError(f"{what}: {name} must be a number >= 0 [m], not {value!r}") from None
    if not math.isfinite(out) or out < 0:
        raise StudyConfigError(f"{what}: {name} must be a number >= 0 [m], not {value!r}")
    return out


def _offset_distance(dr: np.ndarray, dc: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """√((Δr·dy)² + (Δc·dx)²) [m] from integer offsets, in float64, as scipy's EDT forms it."""
    r = np.asarray(dr).astype(np.float64)
    c = np.asarray(dc).astype(np.float64)
    r *= dy
    c *= dx
    np.multiply(r, r, r)
    np.multiply(c, c, c)
    r += c
    return np.sqrt(r, out=r)


class FeatureLattice:
    """The features of one distance computation on one grid lattice.

    Holds the features, a shapely STRtree of them, the lattice's limits and
    the extent of the cells they can mark; builds, on first need, the
    boundary cells of the marked set, by column (for chunks far from every feature).

    Parameters
    ----------
    geoms : array of shapely geometries
        The features in the grid CRS.
    grid : Grid
        The grid whose rows and columns (extended beyond its edges) form the lattice.
    limits : (row0, col0, row1, col1), optional
        Half-open rows and columns the lattice is bounded to (negative
        beyond the top and left edges); None for the unbounded lattice.
    """

    def __init__(self, geoms: np.ndarray, grid: Grid, limits: tuple[int, int, int, int] | None) -> None:
        self.geoms = np.asarray(geoms, dtype=object)
        self.grid = grid
        self.limits = limits
        self.tree = shapely.STRtree(self.geoms)
        if limits is None:
            self.near_tree = self.tree
        else:
            # Bounds only: the features clipped to the lattice (those beyond it mark no cell).
            x0, y0 = self.corner(limits[0], limits[1])
            x1, y1 = self.corner(limits[2], limits[3])
            clipped = shapely.clip_by_rect(self.geoms, min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
            clipped = clipped[~shapely.is_empty(clipped)]
            self.near_tree = shapely.STRtree(clipped if len(clipped) else self.geoms)
        # Build both trees now, not in a worker thread.
        self.tree.query(shapely.points(0.0, 0.0))
        self.near_tree.query(shapely.points(0.0, 0.0))
        # Cells that can be marked: the features' bounding box in cells, one cell more on every side.
        t = grid.transform
        xmin, ymin, xmax, ymax = shapely.total_bounds(self.geoms)
        ext = [
            math.floor((t.f - ymax) / -t.e) - 1,
            math.floor((xmin - t.c) / t.a) - 1,
            math.floor((t.f - ymin) / -t.e) + 2,
            math.floor((xmax - t.c) / t.a) + 2,
        ]
        if limits is not None:
            ext = [max(ext[0], limits[0]), max(ext[1], limits[1]), min(ext[2], limits[2]), min(ext[3], limits[3])]
        self.extent = tuple(ext)
        self._boundary: Any = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """Picklable for dask.distributed: without the lock and the boundary cells (rebuilt where needed)."""
        state = self.__dict__.copy()
        state["_lock"] = None
        state["_boundary"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def corner(self, row: float, col: float) -> tuple[float, float]:
        """Coordinates of the top-left corner of lattice cell (row, col)."""
        t = self.grid.transform
        return t.c + col * t.a, t.f + row * t.e

    def halo_bound(self, r0: int, c0: int, r1: int, c1: int) -> float:
        """An upper bound [m] on the distance of every cell centre of rows r0:r1, cols c0:c1 to a marked cell.

        Per sub-block of :data:`SUBBLOCK` cells: the vector distance of its
        centre to the nearest feature, plus its half-diagonal (of cell
        centres), plus half a cell diagonal.
        """
        dx, dy = self.grid.res
        rs = np.arange(r0, r1, SUBBLOCK)
        cs = np.arange(c0, c1, SUBBLOCK)
        re = np.minimum(rs + SUBBLOCK, r1) - 1
        ce = np.minimum(cs + SUBBLOCK, c1) - 1
        bx, _ = self.grid.xy(np.zeros(len(cs)), (cs + ce) / 2)
        _, by = self.grid.xy((rs + re) / 2, np.zeros(len(rs)))
        hx = (ce - cs) * dx / 2
        hy = (re - rs) * dy / 2
        cy, cx = (a.ravel() for a in np.meshgrid(by, bx, indexing="ij"))
        rad = np.hypot(hx[None, :], hy[:, None]).ravel()
        _, dist = self.near_tree.query_nearest(shapely.points(cx, cy), return_distance=True, all_matches=False)
        return float((dist + rad).max()) + math.hypot(dx, dy) / 2

    def window(self, r0: int, c0: int, r1: int, c1: int, hy: int, hx: int) -> tuple[tuple[int, int, int, int], float]:
        """The window of a chunk grown by (hy, hx) cells, cut to the markable extent, and its reach R [m].

        A side is cut where no cell beyond can be marked (the features' extent
        or the lattice's end); R is the least distance from a cell of the
        chunk to a markable cell beyond an uncut side (inf when all are cut).
        """
        dx, dy = self.grid.res
        er0, ec0, er1, ec1 = self.extent
        wr0, wc0 = min(r0, max(r0 - hy, er0)), min(c0, max(c0 - hx, ec0))
        wr1, wc1 = max(r1, min(r1 + hy, er1)), max(c1, min(c1 + hx, ec1))
        sides = [(r0 - hy > er0, hy, dy), (c0 - hx > ec0, hx, dx), (r1 + hy < er1, hy, dy), (c1 + hx < ec1, hx, dx)]
        reach = min(((k + 1) * size for is_open, k, size in sides if is_open), default=math.inf)
        return (wr0, wc0, wr1, wc1), reach

    def window_mask(self, wr0: int, wc0: int, wr1: int, wc1: int) -> np.ndarray:
        """Boolean mask of the lattice cells rows wr0:wr1, cols wc0:wc1 the features touch (``all_touched``)."""
        from rasterio.features import rasterize

        shape = (wr1 - wr0, wc1 - wc0)
        x0, y0 = self.corner(wr0, wc0)
        x1, y1 = self.corner(wr1, wc1)
        box = shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        cand = self.tree.query(box, predicate="intersects")
        if len(cand) == 0:
            return np.zeros(shape, dtype=bool)
        transform = self.grid.transform * Affine.translation(wc0, wr0)
        with _RASTERIZE_LOCK:
            burnt = rasterize(
                ((g, 1) for g in self.geoms[np.sort(cand)]),
                out_shape=shape,
                transform=transform,
                fill=0,
                all_touched=True,
                dtype=np.uint8,
            )
        return burnt.astype(bool)

    def boundary_cells(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int, int, int]]:
        """The marked cells with an unmarked 4-neighbour, by column, and the region searched for them.

        Returns the columns that hold such cells (sorted), the offsets of
        each column's run in the row array, the rows (sorted within each
        column) and the region (row0, col0, row1, col1). The region is the
        markable extent cut to the grid grown by the largest distance any
        grid cell can have to a marked cell (the index bound over the whole
        grid) plus two cells; it is rasterized strip by strip, so only the
        boundary cells are held. Only boundary cells can be nearest to an
        unmarked cell: from a marked cell whose four neighbours are marked,
        the neighbour towards the cell is nearer.
        """
        with self._lock:
            if self._boundary is None:
                self._boundary = self._build_boundary()
            return self._boundary

    def _build_boundary(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int, int, int]]:
        dx, dy = self.grid.res
        bound = self.halo_bound(0, 0, self.grid.height, self.grid.width)
        gy, gx = math.ceil(bound / dy) + 2, math.ceil(bound / dx) + 2
        er0, ec0, er1, ec1 = self.extent
        region = (max(er0, -gy), max(ec0, -gx), min(er1, self.grid.height + gy), min(ec1, self.grid.width + gx))
        ra, ca, rb, cb = region
        found: list[np.ndarray] = []
        step = max(1, STRIP_CELLS // max(1, cb - ca))
        for a in range(ra, rb, step):
            b = min(rb, a + step)
            lo, hi = max(ra, a - 1), min(rb, b + 1)  # one row more each side for the neighbours
            mask = self.window_mask(lo, ca, hi, cb)
            pad = np.pad(mask, 1, constant_values=False)
            inner = pad[1:-1, 1:-1] & pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
            rows, cols = np.nonzero((mask & ~inner)[a - lo : a - lo + (b - a)])
            found.append(np.column_stack([rows + a, cols + ca]).astype(np.int64))
        cells = np.concatenate(found) if found else np.zeros((0, 2), dtype=np.int64)
        order = np.lexsort((cells[:, 0], cells[:, 1]))
        rows, cols = np.ascontiguousarray(cells[order, 0]), cells[order, 1]
        columns, starts = np.unique(cols, return_index=True)
        offsets = np.append(starts, len(cols)).astype(np.int64)
        return columns.astype(np.int64), offsets, rows, region

    def nearest_distance(self, r0: int, c0: int, r1: int, c1: int, valid: np.ndarray | None) -> np.ndarray:
        """Distances [m] of the cells rows r0:r1, cols c0:c1 to the nearest marked cell, from the boundary cells.

        Separable, as the EDT itself (Maurer et al. 2003; Felzenszwalb and
        Huttenlocher 2012): per row of the chunk, the nearest boundary cell of
        each column (vertical offset g), then the lower envelope of the
        parabolas (x - x_j)² + g_j² over the columns gives every cell's
        nearest. The same distances as the EDT: 0 on marked cells, elsewhere
        formed from the integer offsets as scipy forms them; NaN where
        ``valid`` is False.
        """
        dx, dy = self.grid.res
        columns, offsets, rows, (ra, ca, rb, cb) = self.boundary_cells()
        h, w = r1 - r0, c1 - c0
        marked = self.window_mask(r0, c0, r1, c1)  # the chunk's own marked cells (0), boundary or not
        out = np.full((h, w), np.inf)
        if len(columns):
            dr = np.empty((h, w), dtype=np.int64)
            dc = np.empty((h, w), dtype=np.int64)
            _separable_nearest(columns, offsets, rows, r0, r1, c0, c1, float(dx), float(dy), dr, dc)
            out = _offset_distance(dr, dc, dx, dy)
            # Exact when no cell beyond the region can be nearer (always, for a valid bound): check it.
            rq, cq = np.indices((h, w))
            rq += r0
            cq += c0
            er0, ec0, er1, ec1 = self.extent
            beyond = [(ra > er0, (rq - ra + 1) * dy), (ca > ec0, (cq - ca + 1) * dx)]
            beyond += [(rb < er1, (rb - rq) * dy), (cb < ec1, (cb - cq) * dx)]
            for is_open, gap in beyond:
                if is_open and ((out > gap) & ~marked).any():
                    raise RuntimeError(
                        f"tiled distance: rows {r0}:{r1}, cols {c0}:{c1} reach beyond the searched region"
                    )
        out[marked] = 0.0
        if valid is not None:
            out[~np.asarray(valid, dtype=bool)] = np.nan
        return out


@njit(cache=True, nogil=True)
def _separable_nearest(columns, offsets, rows, r0, r1, c0, c1, dx, dy, out_dr, out_dc):  # pragma: no cover (jit)
    """Row and column offsets from every cell of rows r0:r1, cols c0:c1 to its nearest boundary cell.

    ``columns`` (n,) sorted columns holding boundary cells, their rows
    ``rows[offsets[j]:offsets[j + 1]]`` sorted. Per chunk row: the nearest
    boundary cell of each column (two-pointer walk, rows ascending), then the
    lower envelope of the parabolas f_j + (x - x_j)², x in metres
    (Felzenszwalb and Huttenlocher 2012), walked along the chunk's columns.
    """
    n = len(columns)
    ptr = np.empty(n, dtype=np.int64)
    for j in range(n):
        lo, hi = offsets[j], offsets[j + 1]
        ptr[j] = lo + np.searchsorted(rows[lo:hi], r0)
    xs = np.empty(n)
    fs = np.empty(n)
    grow = np.empty(n, dtype=np.int64)
    gcol = np.empty(n, dtype=np.int64)
    v = np.empty(n, dtype=np.int64)
    z = np.empty(n + 1)
    for i in range(r1 - r0):
        r = r0 + i
        m = 0
        for j in range(n):
            lo, hi = offsets[j], offsets[j + 1]
            p = ptr[j]
            while p < hi and rows[p] < r:
                p += 1
            ptr[j] = p
            best = -1
            gap = 0
            if p < hi:
                best = rows[p]
                gap = rows[p] - r
            if p > lo and (best < 0 or r - rows[p - 1] < gap):
                best = rows[p - 1]
                gap = r - rows[p - 1]
            xs[m] = columns[j] * dx
            fs[m] = (gap * dy) * (gap * dy)
            grow[m] = best
            gcol[m] = columns[j]
            m += 1
        k = 0
        v[0] = 0
        z[0] = -np.inf
        z[1] = np.inf
        for q in range(1, m):
            while True:
                p = v[k]
                s = ((fs[q] + xs[q] * xs[q]) - (fs[p] + xs[p] * xs[p])) / (2.0 * (xs[q] - xs[p]))
                if s <= z[k] and k > 0:
                    k -= 1
                else:
                    break
            k += 1
            v[k] = q
            z[k] = s
            z[k + 1] = np.inf
        k = 0
        for c in range(c1 - c0):
            x = (c0 + c) * dx
            while z[k + 1] < x:
                k += 1
            out_dr[i, c] = grow[v[k]] - r
            out_dc[i, c] = gcol[v[k]] - (c0 + c)


def _window_edt(
    feats: FeatureLattice, r0: int, c0: int, r1: int, c1: int, win: tuple[int, int, int, int]
) -> np.ndarray:
    """Distances [m] (float64) of the cells rows r0:r1, cols c0:c1 from the EDT of window ``win``.

    inf where the window holds no marked cell.
    """
    from scipy.ndimage import distance_transform_edt

    dx, dy = feats.grid.res
    wr0, wc0, wr1, wc1 = win
    mask = feats.window_mask(wr0, wc0, wr1, wc1)
    if not mask.any():
        return np.full((r1 - r0, c1 - c0), np.inf)
    ft = distance_transform_edt(~mask, sampling=(dy, dx), return_distances=False, return_indices=True)
    del mask
    ir, ic = r0 - wr0, c0 - wc0
    h, w = r1 - r0, c1 - c0
    dr = ft[0, ir : ir + h, ic : ic + w] - np.arange(ir, ir + h, dtype=np.int32)[:, None]
    dc = ft[1, ir : ir + h, ic : ic + w] - np.arange(ic, ic + w, dtype=np.int32)[None, :]
    del ft
    return _offset_distance(dr, dc, dx, dy)


def chunk_distance(
    feats: FeatureLattice,
    r0: int,
    c0: int,
    r1: int,
    c1: int,
    *,
    max_distance_m: float | None = None,
    valid: np.ndarray | None = None,
    stats: list[WindowStats] | None = None,
    window_budget: int | None = None,
) -> np.ndarray:
    """Exact distances [m] (float64) of the cells rows r0:r1, cols c0:c1 of the grid to the marked cells.

    Parameters
    ----------
    feats : FeatureLattice
        The features and the lattice (built by :func:`tiled_feature_distance`).
    r0, c0, r1, c1 : int
        The chunk, half-open rows and columns of the grid.
    max_distance_m : float, optional
        Cap D [m]: the halo is at most ``ceil(D / cell)`` cells and the result min(d, D).
    valid : numpy.ndarray of bool, optional
        (r1 - r0, c1 - c0) cells to compute; the others are NaN, and a chunk
        with none valid costs nothing.
    stats : list, optional
        Receives one :class:`WindowStats` (window size, number of EDT passes).
    window_budget : int, optional
        Largest window [cells] an EDT may take; a chunk needing more is
        answered from the boundary cells (:meth:`FeatureLattice.nearest_distance`). Default:
        :data:`WINDOW_FACTOR` × the chunk's cells.
    """
    h, w = r1 - r0, c1 - c0
    if valid is not None and not valid.any():
        return np.full((h, w), np.nan)
    dx, dy = feats.grid.res
    budget = WINDOW_FACTOR * h * w if window_budget is None else window_budget
    bound = feats.halo_bound(r0, c0, r1, c1)
    hx, hy = math.ceil(bound / dx) + 1, math.ceil(bound / dy) + 1
    if max_distance_m is not None:
        # The cap's halo puts every marked cell outside the window farther than the cap: never more is needed.
        cap_x, cap_y = math.ceil(max_distance_m / dx - 1e-9), math.ceil(max_distance_m / dy - 1e-9)
        hx, hy = min(hx, cap_x), min(hy, cap_y)
    passes = 0
    while True:
        passes += 1
        win, reach = feats.window(r0, c0, r1, c1, hy, hx)
        cells = (win[2] - win[0]) * (win[3] - win[1])
        if cells > budget:
            dist = feats.nearest_distance(r0, c0, r1, c1, valid)
            if stats is not None:
                stats.append(WindowStats(cells, passes, "nearest"))
            return dist if max_distance_m is None else np.minimum(dist, max_distance_m)
        dist = _window_edt(feats, r0, c0, r1, c1, win)
        if max_distance_m is not None and reach >= max_distance_m:
            break  # an unresolved cell has d >= reach >= cap and d_w > reach: min(d, cap) = cap = min(d_w, cap)
        unresolved = dist > reach
        if valid is not None:
            unresolved &= valid
        if not unresolved.any():
            break
        if passes == MAX_GROWTH:
            raise RuntimeError(f"tiled distance: chunk rows {r0}:{r1}, cols {c0}:{c1} unresolved after {passes} passes")
        hx, hy = 2 * hx + 1, 2 * hy + 1
        if max_distance_m is not None:
            hx, hy = min(hx, cap_x), min(hy, cap_y)
    if max_distance_m is not None:
        dist = np.minimum(dist, max_distance_m)
    if stats is not None:
        stats.append(WindowStats(cells, passes))
    if valid is not None:
        dist = np.where(valid, dist, np.nan)
    return dist


def tiled_feature_distance(
    geoms: Any,
    grid: Grid,
    *,
    chunks: int = 512,
    max_distance_m: float | None = None,
    margin_m: float | None = None,
    valid: da.Array | np.ndarray | None = None,
    window_budget: int | None = None,
) -> da.Array:
    """Lazy float32 distances [m] from every cell centre to the nearest cell the features touch, chunk by chunk.

    Parameters
    ----------
    geoms : sequence of shapely geometries
        Points, lines or polygons in the grid CRS (at least one).
    grid : Grid
        The grid (projected, north-up).
    chunks : int, default=512
        Chunk side [cells] of the result.
    max_distance_m : float, optional
        Cap [m]: the result is min(EDT, cap), and no window reaches farther
        than the cap beyond its chunk. Default (none): exact everywhere, the
        halo chosen per chunk from the features' spatial index.
    margin_m : float, optional
        As ``distance_to_features``: only the features within ``margin_m``
        of the grid (the grid grown by ``ceil(margin_m / cell)`` cells) count.
        Default (none): every feature counts, wherever it lies.
    valid : array of bool, optional
        (rows, cols) cells to compute (e.g. the DEM's data cells); the others
        are NaN and chunks without a valid cell are skipped.
    window_budget : int, optional
        Largest EDT window [cells]; a chunk needing more (far from every
        feature) takes its distances from the boundary cells of the marked set
        (see :func:`chunk_distance`).

    Returns
    -------
    dask.array.Array
        Float32 (rows, cols) [m], equal to the whole-grid EDT of the
        rasterized features (see the module notes), chunked by ``chunks``;
        inf where no feature marks any cell (only with ``margin_m``).
    """
    geoms = np.asarray(geoms, dtype=object).ravel()
    if len(geoms) == 0:
        raise StudyConfigError("tiled distance: no feature given")
    max_distance_m = _check_distance(max_distance_m, "max_distance_m", "tiled distance")
    margin_m = _check_distance(margin_m, "margin_m", "tiled distance")
    dx, dy = grid.res
    limits = None
    if margin_m is not None:
        px, py = math.ceil(margin_m / dx - 1e-9), math.ceil(margin_m / dy - 1e-9)
        limits = (-py, -px, grid.height + py, grid.width + px)
    feats = FeatureLattice(geoms, grid, limits)
    rows = da.arange(grid.height, chunks=chunks, dtype=np.int64)
    cols = da.arange(grid.width, chunks=chunks, dtype=np.int64)
    out_chunks = (rows.chunks[0], cols.chunks[0])

    def block(r: np.ndarray, c: np.ndarray, ok: np.ndarray | None = None) -> np.ndarray:
        r0, c0 = int(r[0, 0]), int(c[0, 0])
        r1, c1 = r0 + r.shape[0], c0 + c.shape[1]
        d = chunk_distance(feats, r0, c0, r1, c1, max_distance_m=max_distance_m, valid=ok, window_budget=window_budget)
        return d.astype(np.float32)

    if valid is None:
        return da.map_blocks(block, rows[:, None], cols[None, :], dtype=np.float32, chunks=out_chunks)
    if tuple(valid.shape) != grid.shape:
        raise StudyConfigError(
            f"tiled distance: valid mask shape {tuple(valid.shape)} differs from the grid {grid.shape}"
        )
    ok = da.asarray(valid).astype(bool).rechunk(out_chunks)
    return da.map_blocks(block, rows[:, None], cols[None, :], ok, dtype=np.float32, chunks=out_chunks)


def tiled_distance_to_features(
    ctx: FactorContext,
    path: str,
    layer: str | None = None,
    where: str | None = None,
    margin_m: float | None = None,
    max_distance_m: float | None = None,
) -> xr.DataArray:
    """Euclidean distance [m] from each cell centre to the nearest feature, lazily by chunks.

    The same distances as :func:`susmap.factors.proximity.distance_to_features`
    (the exact EDT of the features rasterized with ``all_touched``), each
    chunk of ``ctx.chunks`` cells from the EDT of a window around it (or, far
    from every feature, from the boundary cells of the marked set), so
    that the grid is never held whole. Method and proof in the module notes.

    Parameters
    ----------
    ctx : FactorContext
        The study grid (projected, north-up).
    path : str
        Vector file of lines, points or polygons (roads, rivers, faults), reprojected to the grid CRS.
    layer : str, optional
        Layer of a multi-layer file (GeoPackage).
    where : str, optional
        Attribute filter, a pandas query on the file's columns.
    margin_m : float, optional
        Width [m] of the band around the grid whose features count; default: all features.
    max_distance_m : float, optional
        Cap [m]: distances beyond it read as the cap (min(EDT, cap)); no
        chunk's window then exceeds (chunk + 2 cap)². Default: exact everywhere.

    Returns
    -------
    xarray.DataArray
        Float32 (y, x) [m], dask-backed; 0 on every cell a feature touches.

    Raises
    ------
    InputFileError
        The vector file does not exist.
    StudyConfigError
        No feature, none within ``margin_m`` of the grid, features beyond the
        plausible range of the grid (another CRS), or a bad distance.
    AlignmentError
        The grid is geographic or rotated.
    """
    what = "distance_to_features"
    ctx.require_metric_grid(what)
    margin_m = _check_distance(margin_m, "margin_m", what)
    max_distance_m = _check_distance(max_distance_m, "max_distance_m", what)
    gdf, name = ctx.features(path, layer=layer, where=where, what=what)
    geoms = gdf.geometry.values
    grid = ctx.grid
    near = ctx.distance_from_grid(geoms)
    if margin_m is None:
        ctx.require_near_grid(
            float(near.min()),
            what=what,
            param=f"path: the nearest feature of {name}",
            hint="check the file's CRS (its .prj or layer CRS) and extent",
        )
    else:
        dx, dy = grid.res
        left, bottom, right, top = grid.bounds
        gx, gy = math.ceil(margin_m / dx - 1e-9) * dx, math.ceil(margin_m / dy - 1e-9) * dy
        grown = shapely.box(left - gx, bottom - gy, right + gx, top + gy)
        if not shapely.intersects(grown, np.asarray(geoms, dtype=object)).any():
            raise StudyConfigError(
                f"{what}: no feature of {name} lies on the grid or within margin_m; "
                "check the file's extent or give a larger margin_m [m]"
            )
    data = tiled_feature_distance(geoms, grid, chunks=ctx.chunks, max_distance_m=max_distance_m, margin_m=margin_m)
    attrs: dict[str, Any] = {"method": "tiled EDT"}
    if margin_m is not None:
        attrs["margin_m"] = margin_m
    if max_distance_m is not None:
        attrs["max_distance_m"] = max_distance_m
    return to_dataarray(data, ctx, "distance_to_features", "m", source=name, **attrs)
