"""Tiled multiple-flow-direction accumulation (MFD, Quinn): memory bounded by one tile plus the tile edges.

:func:`tiled_mfd_accumulation` gives the accumulation [cells] of
:mod:`susmap.factors.hydrology` for ``method="mfd"`` (Freeman 1991) and
``"quinn"`` (Quinn et al. 1991), with its thresholded linear flow and both
outflow rules, to float rounding (sums in float64, kept in float32), while
holding only one tile and the tile edges in memory.

Why iterated exchange
---------------------
The MFD routing graph is that of
:func:`susmap.factors.routing_kernels.mfd_accumulate`: a cell sends flow to
its strictly lower neighbours, a flat cell to its equal neighbours one step
nearer the flat's outlet (flat distances of
:func:`susmap.factors.routing_kernels.flat_distance`), so the key
(elevation, flat distance) falls along every link and the graph is acyclic.
The kernels here call that module's per-cell rule itself
(:func:`~susmap.factors.routing_kernels.routing_drops`,
:func:`~susmap.factors.routing_kernels.mfd_weights`), so a cell splits its
flow into the same float64 numbers as on the whole grid.
Unlike D8, the flow of a cell splits, so what leaves a tile is not a chain
of perimeter cells (Barnes 2017's trick for D8) but a linear map from the
tile's inflows to its outflows (dense: perimeter × perimeter), and not even
linear with the thresholded linear flow, whose MFD-to-D8 switch depends on
the accumulated value. A path may also leave a tile and come back (a spiral
valley), so the tiles exchange edge values to a fixed point:

1. Flat distances: :class:`susmap.factors.tiled_routing.FlatSolver`
   converges the whole-grid flat distances by halo exchange. The surface
   and distances of each extended window (below) are parked as npy files
   in a temporary directory under ``workdir`` (in memory when all of them,
   with the accumulations, take under 64 MiB).
2. Overlap: each tile t is computed on its extended window E_t, the tile
   plus ``margin`` cells each side (an eighth of the tile side, 2 to 64
   cells), read with two more cells each side so that the drops and weights
   of E_t and of the ring around it are the whole grid's (real neighbour
   values: a tile edge is not a grid border; the extrapolate rule applies
   only where a neighbour is off the grid or nodata). A first, simpler
   design (tiles without overlap exchanging the flows that cross their
   edges) needed ~60 rounds and ~30 solves a tile on a 300 × 300 fractal
   DEM with 64-cell tiles: MFD paths zigzag along a tile edge, crossing it
   at every step. With the overlap a zigzag of amplitude under ``margin``
   stays inside E_t: 6 rounds, ~4 solves a tile (margin 8).
3. First solve of a tile (:func:`_mfd_window`, a numba kernel): the cells
   of the ring around E_t send their flow into E_t according to their
   accumulation as last published by the tiles that own them (NaN: not yet
   known, nothing sent); then E_t is accumulated in topological order
   (Kahn); flow from E_t to the ring is dropped (the ring's owners count
   it). The tile's own cells are written to ``out`` and published on the
   ring lines (full rows and columns of the grid along the rings of all
   extended windows); the accumulation of E_t is parked.
4. Later solves (:func:`_mfd_delta`) only push changes: each ring cell
   sends the difference between its outflows at its new and at its old
   value; the cells reached and those downstream of them in E_t (found by
   a breadth-first search) are visited in topological order, each adding
   its change and sending on the difference of its own outflows between its
   old and new accumulation, which covers the linear-flow switch (MFD
   below ``linear``, all to the steepest receiver from it on). On the
   benchmark below these updates touch 2 % of the grid in all.
5. Rounds sweep the tiles in Gauss-Seidel order, row-major forward and
   backward in turn, and solve again only a tile whose ring values changed
   (compared exactly). At the fixed point every tile's last solve used the
   final ring values. (Sweeping tiles by their highest cell downwards saved
   a few solves on fractal terrain, but took 159 rounds instead of 30 on
   the spiral valley, whose walls, not its floor, set each tile's highest
   cell.)

Exactness: by induction over the cells in topological order, at the fixed
point every cell's value in every window holding it is the whole grid's:
its donors inside E_t have their whole-grid values, and donors on the ring
have their owners' published ones (an update keeps the invariant: the new
accumulation is the old plus every change of inflow). Each round finalises
the values up to at least one more ring crossing of every path, and a
value stops changing once everything upstream has, so the iteration stops
after at most (most ring crossings of a path) + 1 rounds; a path visits a
cell once, so this is bounded by the number of ring cells, the cap past
which a RuntimeError is raised (it would be a bug). Values (hence the
linear-flow switch) are the whole grid's up to the order of the float64
additions, far inside float32: the float32 results below and on the
Ecuador 10 m DEM (415 × 383, 64-cell tiles, mfd and quinn, with and
without SAGA's 500-cell linear threshold) were bit-identical to
hydrology's.

Memory: one extended window and its intermediates (z 4, flat distances 4,
accumulation 8 + 8 (parked copy loaded), ring values 8, donors 1, stack 8
bytes a cell; and the flat solver's tile window, ~60 bytes a cell), plus
the ring lines (8 bytes a cell of 2 rows and 2 columns per tile row and
column). Disk: 16 bytes a cell of the extended windows.

Measured (2 cores shared with other jobs, load average 4-6; a 4,000 ×
4,000 filled fractal DEM with 5 % nodata in blobs, read from and written to
GeoTIFFs; each run in a fresh child process, peak resident memory VmHWM,
of which ~270 MiB are the interpreter, numba and rasterio):

=====================  ==========  ==========  ============================
run                    whole grid  tiled       tiled: rounds, solves
=====================  ==========  ==========  ============================
mfd, tile 1024         3.6 s       6.9 s       4 rounds, 46 (30 partial)
                       625 MiB     465 MiB
mfd, tile 512          3.4 s       9.5 s       4 rounds, 186 (122 partial)
                       626 MiB     375 MiB
quinn, linear 25.5,    6.5 s       11.5 s      4 rounds, 45 (29 partial)
tile 1024              571 MiB     465 MiB
=====================  ==========  ==========  ============================

The tiled time includes the flat distances (FlatSolver, ~3 s at tile 1024).
Results were bit-identical in float32 in all three runs.

References
----------
Freeman, T.G. (1991). Calculating catchment area with divergent flow based
on a regular grid. Computers & Geosciences 17(3), 413-422.
Quinn, P., Beven, K., Chevallier, P., Planchon, O. (1991). The prediction of
hillslope flow paths for distributed hydrological modelling using digital
terrain models. Hydrological Processes 5, 59-79.
Barnes, R. (2017). Parallel non-divergent flow accumulation for trillion
cell digital elevation models on desktops or clusters. Environmental
Modelling & Software 92, 202-212.
Garbrecht, J., Martz, L.W. (1997). The assignment of drainage direction over
flat surfaces in raster digital elevation models. J. Hydrol. 193, 204-213.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

from susmap.errors import SusmapError
from susmap.factors.routing_kernels import mfd_weights, routing_drops
from susmap.factors.tiled_routing import FlatSolver, as_tile_reader, tile_output, tile_shape, tiles

__all__ = ["METHODS", "tiled_mfd_accumulation"]

log = logging.getLogger(__name__)

METHODS = ("mfd", "quinn")

_DR = np.array([-1, -1, 0, 1, 1, 1, 0, -1], dtype=np.int64)
_DC = np.array([0, 1, 1, 1, 0, -1, -1, -1], dtype=np.int64)
_NODATA = -1
_IN_MEMORY = 64 * 2**20  # extended windows up to this size [bytes] in all are kept in memory, not on disk


@njit(cache=True, nogil=True, inline="always")
def _send(acc, dx, r, c, a, total, best, w, release, ndon, stack, top):
    """Add the flow of window cell (r, c) holding ``a`` [cells] to its receivers in E (``acc[2:-2, 2:-2]``).

    ``w``, ``total`` and ``best`` are the cell's :func:`mfd_weights`: each
    receiver gets a / total of its weight, or all of ``a`` goes to ``best``
    (D8). Flow to the ring or to nodata is dropped. With ``release`` each
    receiver also loses this donor in ``ndon`` and goes on ``stack`` (Kahn)
    when it has none left; returns the new top of the stack.
    """
    nr, nc = acc.shape
    ec = nc - 4
    share = a / total
    for k in range(8):
        rr = r + _DR[k]
        cc = c + _DC[k]
        if w[k] > 0.0 and 2 <= rr < nr - 2 and 2 <= cc < nc - 2 and dx[rr, cc] != _NODATA:
            if best < 0:
                acc[rr, cc] += share * w[k]
            elif k == best:
                acc[rr, cc] += a
            if release:
                j = (rr - 2) * ec + cc - 2
                ndon[j] -= 1
                if ndon[j] == 0:
                    stack[top] = j
                    top += 1
    return top


@njit(cache=True, nogil=True)
def _mfd_window(zx, dx, ring_acc, exponent, quinn, linear, extrapolate):
    """MFD accumulation [cells] of the cells ``zx[2:-2, 2:-2]`` (a tile with its overlap), float64, NaN on nodata.

    ``zx`` (float32) and ``dx`` (int32 flat distances, -1 nodata) cover the
    computed region E with two more cells each side (NaN / -1 off the grid),
    so the drops of E and of its surrounding ring (``[1]`` and ``[-2]`` rows
    and columns) are the whole grid's. ``ring_acc`` holds the accumulation of
    the ring cells (computed by the tiles owning them); their flow into E
    is split by the same rule and added first, then E is accumulated in
    topological order (Kahn). Flow from E to the ring is dropped (the ring's
    owners account for it). Returns the accumulation of E and the number of
    cells of E routed.
    """
    nr, nc = zx.shape
    er = nr - 4
    ec = nc - 4
    n = er * ec
    w = np.empty(8, dtype=np.float64)
    done = np.uint8(255)
    ndon = np.zeros(n, dtype=np.uint8)
    acc = np.zeros((nr, nc), dtype=np.float64)
    stack = np.empty(n, dtype=np.int64)
    for r in range(2, nr - 2):
        for c in range(2, nc - 2):
            if dx[r, c] == _NODATA:
                ndon[(r - 2) * ec + c - 2] = done
                acc[r, c] = np.nan
                continue
            acc[r, c] += 1.0
            routing_drops(zx, dx, r, c, extrapolate, w)
            for k in range(8):
                rr = r + _DR[k]
                cc = c + _DC[k]
                if w[k] > 0.0 and 2 <= rr < nr - 2 and 2 <= cc < nc - 2 and dx[rr, cc] != _NODATA:
                    ndon[(rr - 2) * ec + cc - 2] += 1
    # inflows from the ring around E
    for r in range(1, nr - 1):
        step = 1 if r == 1 or r == nr - 2 else nc - 3
        for c in range(1, nc - 1, step):
            if dx[r, c] == _NODATA or np.isnan(ring_acc[r, c]):
                continue
            a = ring_acc[r, c]
            total, best = mfd_weights(zx, dx, r, c, a, exponent, quinn, linear, extrapolate, w)
            if total > 0.0:
                _send(acc, dx, r, c, a, total, best, w, False, ndon, stack, 0)
    routed = 0
    for idx in range(n):
        if ndon[idx] != 0:
            continue
        stack[0] = idx
        top = 1
        while top > 0:
            top -= 1
            i = stack[top]
            ndon[i] = done
            routed += 1
            r = i // ec + 2
            c = i % ec + 2
            a = acc[r, c]
            total, best = mfd_weights(zx, dx, r, c, a, exponent, quinn, linear, extrapolate, w)
            if total > 0.0:
                top = _send(acc, dx, r, c, a, total, best, w, True, ndon, stack, top)
    return acc[2:-2, 2:-2].copy(), routed


@njit(cache=True, nogil=True, inline="always")
def _share(a, wk, total, linear, is_best):
    """The flow [cells] a cell holding ``a`` sends to a receiver of weight ``wk``: MFD, or all of it on D8."""
    if np.isnan(a):
        return 0.0  # a ring value not known yet: nothing sent
    if linear > 0.0 and a >= linear:
        return a if is_best else 0.0
    return (a / total) * wk


@njit(cache=True, nogil=True)
def _mfd_delta(zx, dx, ring_new, ring_old, acc, exponent, quinn, linear, extrapolate):
    """Update the accumulation ``acc`` of E (``zx[2:-2, 2:-2]``) in place for new ring values.

    Each ring cell sends the change of its outflows (from ``ring_old`` to
    ``ring_new``, NaN: nothing sent) into E; the cells reached, and all cells
    downstream of them inside E, are visited in topological order (Kahn on
    that part of E only): each adds its change, and sends on the change of
    its outflows between its old and new accumulation (which covers the
    linear-flow switch turning MFD into D8 at ``linear``). Returns the number
    of cells reached and of cells routed (equal on an acyclic graph).
    """
    nr, nc = zx.shape
    ec = nc - 4
    n = (nr - 4) * ec
    w = np.empty(8, dtype=np.float64)
    delta = np.zeros((nr, nc), dtype=np.float64)
    mark = np.zeros(n, dtype=np.uint8)
    queue = np.empty(n, dtype=np.int64)
    qt = 0
    for r in range(1, nr - 1):
        step = 1 if r == 1 or r == nr - 2 else nc - 3
        for c in range(1, nc - 1, step):
            a_new = ring_new[r, c]
            a_old = ring_old[r, c]
            if dx[r, c] == _NODATA or a_new == a_old or (np.isnan(a_new) and np.isnan(a_old)):
                continue
            total, best = mfd_weights(zx, dx, r, c, np.inf, exponent, quinn, 1.0, extrapolate, w)
            if total <= 0.0:
                continue
            for k in range(8):
                rr = r + _DR[k]
                cc = c + _DC[k]
                if w[k] > 0.0 and 2 <= rr < nr - 2 and 2 <= cc < nc - 2 and dx[rr, cc] != _NODATA:
                    change = _share(a_new, w[k], total, linear, k == best)
                    change -= _share(a_old, w[k], total, linear, k == best)
                    if change == 0.0:
                        continue
                    delta[rr, cc] += change
                    j = (rr - 2) * ec + cc - 2
                    if mark[j] == 0:
                        mark[j] = 1
                        queue[qt] = j
                        qt += 1
    ndon = np.zeros(n, dtype=np.uint8)
    qh = 0  # the cells downstream of those, inside E, each counting its donors among them
    while qh < qt:
        i = queue[qh]
        qh += 1
        r = i // ec + 2
        c = i % ec + 2
        routing_drops(zx, dx, r, c, extrapolate, w)
        for k in range(8):
            rr = r + _DR[k]
            cc = c + _DC[k]
            if w[k] > 0.0 and 2 <= rr < nr - 2 and 2 <= cc < nc - 2 and dx[rr, cc] != _NODATA:
                j = (rr - 2) * ec + cc - 2
                ndon[j] += 1
                if mark[j] == 0:
                    mark[j] = 1
                    queue[qt] = j
                    qt += 1
    stack = np.empty(max(qt, 1), dtype=np.int64)
    top = 0
    for m in range(qt):
        if ndon[queue[m]] == 0:
            stack[top] = queue[m]
            top += 1
    routed = 0
    while top > 0:
        top -= 1
        i = stack[top]
        routed += 1
        r = i // ec + 2
        c = i % ec + 2
        a_old = acc[r - 2, c - 2]
        a_new = a_old + delta[r, c]
        acc[r - 2, c - 2] = a_new
        total, best = mfd_weights(zx, dx, r, c, np.inf, exponent, quinn, 1.0, extrapolate, w)
        for k in range(8):
            rr = r + _DR[k]
            cc = c + _DC[k]
            if w[k] > 0.0 and 2 <= rr < nr - 2 and 2 <= cc < nc - 2 and dx[rr, cc] != _NODATA:
                if a_new != a_old:
                    change = _share(a_new, w[k], total, linear, k == best)
                    delta[rr, cc] += change - _share(a_old, w[k], total, linear, k == best)
                j = (rr - 2) * ec + cc - 2
                ndon[j] -= 1
                if ndon[j] == 0:
                    stack[top] = j
                    top += 1
    return qt, routed


def _check(method: Any, exponent: Any, linear: Any, extrapolate: Any) -> tuple[bool, float, float, bool]:
    """Validated (quinn, exponent, linear, extrapolate) with clear messages."""
    if method not in METHODS:
        raise SusmapError(
            f"the 'method' of tiled_mfd_accumulation must be one of {', '.join(map(repr, METHODS))}; got {method!r}"
        )
    for name, value, low in (("exponent", exponent, "positive"), ("linear", linear, "non-negative")):
        ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
        if not ok or (value <= 0 if low == "positive" else value < 0):
            raise SusmapError(f"the {name!r} of tiled_mfd_accumulation must be a {low} number; got {value!r}")
    if not isinstance(extrapolate, bool | np.bool_):
        raise SusmapError(f"the 'extrapolate' of tiled_mfd_accumulation must be true or false; got {extrapolate!r}")
    quinn = method == "quinn"
    return quinn, 1.0 if quinn else float(exponent), float(linear), bool(extrapolate)


def tiled_mfd_accumulation(
    surface: Any,
    tile: int | tuple[int, int] = 1024,
    out: Any = None,
    *,
    method: str = "mfd",
    exponent: float = 1.1,
    linear: float = 0.0,
    extrapolate: bool = True,
    workdir: str | os.PathLike[str] | None = None,
) -> Any:
    """MFD (Freeman 1991) or Quinn (1991) flow accumulation [cells] by tiles, equal to hydrology's whole-grid one.

    The accumulation of :func:`susmap.factors.hydrology.flow_accumulation`
    for ``method="mfd"`` / ``"quinn"`` (``routing_kernels.mfd_accumulate``
    over ``routing_kernels.flat_distance``), each valid cell counting itself,
    summed in float64 and written in float32, by exchange of edge flows
    between tiles to a fixed point (see the module notes). Pass the filled DEM
    (:func:`susmap.factors.tiled_routing.tiled_fill`) for ``fill=True``, the
    DEM for ``fill=False``.

    Parameters
    ----------
    surface : numpy or dask array, raster path or TileReader
        Routing surface [m], NaN = nodata; read as float32, as hydrology
        does.
    tile : int or (int, int), default=1024
        Tile size [cells].
    out : array-like, optional
        Where to write the result by tiles (``out[r0:r1, c0:c1] = block``);
        by default a new float32 array.
    method : {"mfd", "quinn"}, default="mfd"
        Weights (tan β)^exponent (Freeman 1991), or tan β times the contour
        length (0.5 orthogonal, 0.354 diagonal [cells]) with exponent 1
        (Quinn et al. 1991).
    exponent : float, default=1.1
        Freeman's exponent (> 0; ignored by ``"quinn"``).
    linear : float, default=0.0
        Accumulation [cells] from which the flow turns to D8 (SAGA's
        thresholded linear flow; hydrology's ``linear_threshold`` / cellsize²);
        0 = never.
    extrapolate : bool, default=True
        hydrology's ``outflow="extrapolate"`` (True) or ``"outlets"`` (False).
    workdir : path, optional
        Parent of the temporary directory (8 bytes a cell).

    Returns
    -------
    ``out``: accumulation [cells] (float32), NaN on nodata.

    Raises
    ------
    SusmapError
        Unknown ``method``, ``exponent`` not positive, ``linear`` negative,
        bad ``tile`` or ``out`` shape.
    """
    quinn, exponent, linear, extrapolate = _check(method, exponent, linear, extrapolate)
    reader = as_tile_reader(surface)
    shape = reader.shape
    size = tile_shape(tile)
    windows = tiles(shape, size)
    out = tile_output(out, shape)
    with tempfile.TemporaryDirectory(prefix="susmap-mfd-", dir=workdir) as tmp:
        run = _MfdTiles(reader, windows, size, (quinn, exponent, linear, extrapolate), out, tmp, _margin(size))
        run.run()
    log.debug(
        "tiled MFD: %d tiles, %d exchange rounds, %d tile solves (%d partial), %.2f tile areas computed; "
        "flat distances: %s rounds",
        len(windows),
        run.rounds,
        run.solves,
        run.partial,
        run.cells / max(shape[0] * shape[1], 1),
        run.flats.rounds if run.flats is not None else [0, 0],
    )
    return out


def _edge(ring: np.ndarray) -> np.ndarray:
    """The ring values of a window (its rows and columns 1 and -2) as one vector."""
    return np.concatenate((ring[1], ring[-2], ring[:, 1], ring[:, -2]))


def _ring_from_edge(edge: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The window (NaN inside) holding the ring values of :func:`_edge`."""
    nr, nc = shape
    ring = np.full(shape, np.nan)
    ring[1] = edge[:nc]
    ring[-2] = edge[nc : 2 * nc]
    ring[:, 1] = edge[2 * nc : 2 * nc + nr]
    ring[:, -2] = edge[2 * nc + nr :]
    return ring


def _margin(size: tuple[int, int]) -> int:
    """The overlap [cells] of the tiles: an eighth of the shorter tile side, 2 to 64 cells."""
    return int(min(64, max(2, min(size) // 8)))


class _MfdTiles:
    """Overlapping tiles exchanging the accumulation of the rings around them (module notes).

    ``rounds`` and ``solves`` count the work; ``margin`` is the overlap [cells].
    """

    def __init__(
        self,
        reader: Any,
        windows: list[tuple[int, int, int, int]],
        size: tuple[int, int],
        opts: tuple[bool, float, float, bool],
        out: Any,
        tmp: str,
        margin: int,
    ):
        self.reader = reader
        self.windows = windows
        self.size = size
        self.quinn, self.exponent, self.linear, self.extrapolate = opts
        self.out = out
        self.tmp = tmp
        self.margin = margin
        self.shape = reader.shape
        nrow, ncol = self.shape
        self.ext = [
            (max(r0 - margin, 0), min(r1 + margin, nrow), max(c0 - margin, 0), min(c1 + margin, ncol))
            for r0, r1, c0, c1 in windows
        ]
        # the accumulation on the rows and columns of the rings around the extended tiles (full grid length)
        rows = {r for a0, a1, _, _ in self.ext for r in (a0 - 1, a1) if 0 <= r < nrow}
        cols = {c for _, _, b0, b1 in self.ext for c in (b0 - 1, b1) if 0 <= c < ncol}
        self.rows = {r: np.full(ncol, np.nan) for r in sorted(rows)}
        self.cols = {c: np.full(nrow, np.nan) for c in sorted(cols)}
        self.crossing = [
            ([r for r in self.rows if r0 <= r < r1], [c for c in self.cols if c0 <= c < c1])
            for r0, r1, c0, c1 in windows
        ]
        self.used: list[np.ndarray | None] = [None] * len(windows)  # ring values of each tile's last solve
        self.kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.kept_acc: dict[int, np.ndarray] = {}
        self.partial = 0  # solves that only pushed a change of the ring values
        self.cells = 0  # cells computed by all solves
        # watchers[u]: the tiles whose ring crosses tile u
        self.watchers: list[list[int]] = [[] for _ in windows]
        for t, (a0, a1, b0, b1) in enumerate(self.ext):
            for u in self._tiles_in(a0 - 1, a1 + 1, b0 - 1, b1 + 1):
                if u != t:
                    self.watchers[u].append(t)
        self.rounds = 0
        self.solves = 0
        self.flats: FlatSolver | None = None

    def _tiles_in(self, r0: int, r1: int, c0: int, c1: int) -> list[int]:
        """The tiles (row-major indices) meeting rows r0:r1 and columns c0:c1 of the grid."""
        nrow, ncol = self.shape
        tr, tc = self.size
        ntc = -(-ncol // tc)
        rows = range(max(r0, 0) // tr, (min(r1, nrow) - 1) // tr + 1)
        cols = range(max(c0, 0) // tc, (min(c1, ncol) - 1) // tc + 1)
        return [i * ntc + j for i in rows for j in cols]

    def _assemble(self, r0: int, r1: int, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
        """Surface and flat distances of the window r0:r1, c0:c1 (NaN / -1 off the grid) from the parked tiles."""
        z = np.full((r1 - r0, c1 - c0), np.float32(np.nan), dtype=np.float32)
        d = np.full((r1 - r0, c1 - c0), _NODATA, dtype=np.int32)
        for u in self._tiles_in(r0, r1, c0, c1):
            a0, a1, b0, b1 = self.windows[u]
            i0, i1, j0, j1 = max(a0, r0), min(a1, r1), max(b0, c0), min(b1, c1)
            zu = np.load(Path(self.tmp, f"z{u}.npy"), mmap_mode="r")
            du = np.load(Path(self.tmp, f"d{u}.npy"), mmap_mode="r")
            z[i0 - r0 : i1 - r0, j0 - c0 : j1 - c0] = zu[i0 - a0 : i1 - a0, j0 - b0 : j1 - b0]
            d[i0 - r0 : i1 - r0, j0 - c0 : j1 - c0] = du[i0 - a0 : i1 - a0, j0 - b0 : j1 - b0]
            del zu, du
        return z, d

    def _extended(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Surface and flat distances of tile t's extended window with two more cells each side."""
        if t in self.kept:
            return self.kept[t]
        return np.load(Path(self.tmp, f"zx{t}.npy")), np.load(Path(self.tmp, f"dx{t}.npy"))

    def _ring(self, t: int) -> np.ndarray:
        """The accumulation now published on the ring around tile t's extended window, in window X's shape."""
        a0, a1, b0, b1 = self.ext[t]
        nrow, ncol = self.shape
        ring = np.full((a1 - a0 + 4, b1 - b0 + 4), np.nan)
        lo, hi = max(b0 - 1, 0), min(b1 + 1, ncol)
        for r, i in ((a0 - 1, 1), (a1, -2)):
            if r in self.rows:
                ring[i, lo - b0 + 2 : hi - b0 + 2] = self.rows[r][lo:hi]
        lo, hi = max(a0 - 1, 0), min(a1 + 1, nrow)
        for c, j in ((b0 - 1, 1), (b1, -2)):
            if c in self.cols:
                ring[lo - a0 + 2 : hi - a0 + 2, j] = self.cols[c][lo:hi]
        return ring

    def _publish(self, t: int, acc: np.ndarray) -> bool:
        """Write tile t's accumulation onto the ring lines crossing it; True if a value changed."""
        r0, r1, c0, c1 = self.windows[t]
        changed = False
        for r in self.crossing[t][0]:
            line, vals = self.rows[r], acc[r - r0]
            if not np.array_equal(line[c0:c1], vals, equal_nan=True):
                line[c0:c1] = vals
                changed = True
        for c in self.crossing[t][1]:
            line, vals = self.cols[c], acc[:, c - c0]
            if not np.array_equal(line[r0:r1], vals, equal_nan=True):
                line[r0:r1] = vals
                changed = True
        return changed

    def _solve(self, t: int, ring: np.ndarray, prev: np.ndarray | None) -> bool:
        """Accumulate tile t's extended window with ``ring`` and write its tile; True if published values changed.

        A tile solved before is only updated for the change of its ring values
        since ``prev`` (:func:`_mfd_delta`), from its parked accumulation.
        """
        a0, a1, b0, b1 = self.ext[t]
        r0, r1, c0, c1 = self.windows[t]
        zx, dx = self._extended(t)
        if prev is not None:
            acc = self._acc(t)
            old = _ring_from_edge(prev, ring.shape)
            args = (self.exponent, self.quinn, self.linear, self.extrapolate)
            reached, routed = _mfd_delta(zx, dx, ring, old, acc, *args)
            nvalid = reached
            self.partial += 1
            self.cells += reached
        else:
            acc, routed = _mfd_window(zx, dx, ring, self.exponent, self.quinn, self.linear, self.extrapolate)
            nvalid = int(np.count_nonzero(dx[2:-2, 2:-2] != _NODATA))
            self.cells += (a1 - a0) * (b1 - b0)
        if routed != nvalid:  # the routing graph is acyclic by construction
            raise RuntimeError(f"tiled MFD routing visited {routed} of {nvalid} cells of a tile; please report this")
        self._park_acc(t, acc)
        own = np.ascontiguousarray(acc[r0 - a0 : r1 - a0, c0 - b0 : c1 - b0])
        self.out[r0:r1, c0:c1] = own.astype(np.float32)
        self.solves += 1
        return self._publish(t, own)

    def _acc(self, t: int) -> np.ndarray:
        """The accumulation of tile t's extended window from its last solve (float64)."""
        if t in self.kept:
            return self.kept_acc[t]
        return np.load(Path(self.tmp, f"acc{t}.npy"))

    def _park_acc(self, t: int, acc: np.ndarray) -> None:
        if t in self.kept:
            self.kept_acc[t] = acc
        else:
            np.save(Path(self.tmp, f"acc{t}.npy"), acc)

    def run(self) -> None:
        """Flat distances (parked on disk), then Gauss-Seidel rounds until no tile's ring values change."""
        self.flats = FlatSolver(self.reader, self.windows, self.size, self.extrapolate)
        self.flats.converge()
        for t in range(len(self.windows)):
            zh, dist = self.flats.dist(t)
            np.save(Path(self.tmp, f"z{t}.npy"), np.ascontiguousarray(zh[1:-1, 1:-1]))
            np.save(Path(self.tmp, f"d{t}.npy"), np.ascontiguousarray(dist[1:-1, 1:-1]))
        cells = sum((a1 - a0 + 4) * (b1 - b0 + 4) for a0, a1, b0, b1 in self.ext)
        keep = cells * 16 <= _IN_MEMORY  # small grids: the windows stay in memory (no file per solve)
        for t, (a0, a1, b0, b1) in enumerate(self.ext):  # the extended windows, parked for the solves
            zx, dx = self._assemble(a0 - 2, a1 + 2, b0 - 2, b1 + 2)
            if keep:
                self.kept[t] = (zx, dx)
            else:
                np.save(Path(self.tmp, f"zx{t}.npy"), zx)
                np.save(Path(self.tmp, f"dx{t}.npy"), dx)
        for t in range(len(self.windows)):
            Path(self.tmp, f"z{t}.npy").unlink()
            Path(self.tmp, f"d{t}.npy").unlink()
        n = len(self.windows)
        self.order = list(range(n))
        # each round past the first finalises at least the next ring crossing of every path; a path crosses
        # a ring at most once per cell of the rings
        cap = 2 + sum(2 * ((a1 - a0) + (b1 - b0)) + 4 for a0, a1, b0, b1 in self.ext) if n > 1 else 1
        dirty = set(range(n))
        while dirty:
            self.rounds += 1
            if self.rounds > cap:
                raise RuntimeError(
                    f"tiled MFD routing did not converge in {cap} rounds ({len(dirty)} tiles still changing); "
                    "the routing graph should be acyclic, please report this"
                )
            for t in self.order if self.rounds % 2 == 1 else self.order[::-1]:
                if t not in dirty:
                    continue
                dirty.discard(t)
                ring = self._ring(t)
                edge = _edge(ring)
                prev = self.used[t]
                if prev is not None and np.array_equal(prev, edge, equal_nan=True):
                    continue
                self.used[t] = edge
                if self._solve(t, ring, prev):
                    dirty.update(self.watchers[t])
