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
Unlike D8, the flow of a cell splits, so the flow leaving a tile is not a
chain of perimeter cells (Barnes 2017's trick for D8) but a linear map from
the tile's inflows to its outflows (dense: perimeter × perimeter) — and not
even linear with the thresholded linear flow, whose MFD-to-D8 switch depends
on the accumulated value. A path may also leave a tile and come back (a
spiral valley). So the tiles exchange their edge flows to a fixed point:

1. Flat distances: :class:`susmap.factors.tiled_routing.FlatSolver`, which
   converges the whole-grid flat distances by halo exchange; each tile's
   surface and distances with a one-cell halo are parked on disk (npy, 8
   bytes a cell) in a temporary directory under ``workdir``.
2. Each tile is solved alone (:func:`_mfd_window`, a numba kernel): drops
   and weights of every tile cell are computed on the tile with its
   one-cell halo of *real* neighbour values (so a tile edge is not a grid
   border; the extrapolate rule applies only where the halo cell is off the
   grid or nodata, as on the whole grid), the flow entering from outside
   (its current inflows, on its perimeter cells) is added to those cells,
   and the flow is accumulated in topological order (Kahn) inside the tile.
   The shares sent to the halo cells are the tile's outflows: one value per
   receiving cell of a neighbouring tile.
3. A tile's inflows are the sum, in a fixed order, of its neighbours'
   current outflows onto its cells. Rounds sweep the tiles in Gauss-Seidel
   order, forward and backward in turn, and solve again only the tiles whose
   inflows changed (compared exactly). Each solve writes its tile of
   ``out``; at the fixed point every tile's last solve used its final
   inflows.

Exactness: a cell's accumulation depends only on the cells upstream of it.
On an acyclic graph, once the inflows along a path's first k tile crossings
are final, the next crossing's are final after one more round, so the
iteration reaches the exact fixed point (bit for bit, as every solve is
deterministic) after at most (most tile crossings of a path) + 1 rounds; a
path visits a cell once, so that is bounded by the number of cells on tile
edges, the cap past which a RuntimeError is raised (it would be a bug). At
the fixed point every cell's accumulation, hence its linear-flow switch, is
the whole grid's, up to the order of the float64 additions (inflows enter
before local donors): values agree to ~1e-12 relative, well inside float32.

Memory: one tile with its halo and intermediates (z 4, flat distances 4,
accumulation 8, donors 1, stack 8 bytes a cell, and the flat solver's
window), plus the outflows and inflows on tile edges (16 bytes a cell of the
tile edges). Disk: 8 bytes a cell.


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
from susmap.factors.tiled_routing import FlatSolver, as_tile_reader, tile_output, tile_shape, tiles

__all__ = ["METHODS", "tiled_mfd_accumulation"]

log = logging.getLogger(__name__)

METHODS = ("mfd", "quinn")

_DR = np.array([-1, -1, 0, 1, 1, 1, 0, -1], dtype=np.int64)
_DC = np.array([0, 1, 1, 1, 0, -1, -1, -1], dtype=np.int64)
# distance to the neighbour [cells] and Quinn's contour length [cells], as in routing_kernels
_LEN = np.array([1.0, math.sqrt(2.0)] * 4, dtype=np.float64)
_CONTOUR = np.array([0.5, 0.354] * 4, dtype=np.float64)
_NODATA = -1


@njit(cache=True, nogil=True, inline="always")
def _valid(zh, r, c):
    """True if (r, c) lies in the window and is not nodata (NaN: nodata or off the grid)."""
    nr, nc = zh.shape
    return 0 <= r < nr and 0 <= c < nc and not np.isnan(zh[r, c])


@njit(cache=True, nogil=True, inline="always")
def _window_drops(zh, dist, r, c, extrapolate, out):
    """Routing drops of window cell (r, c) to its 8 neighbours into ``out`` (routing_kernels' rule).

    A drop <= 0 means no flow. For a cell inside the halo every neighbour and
    every opposite neighbour lies in the window, so the drops are the whole
    grid's: a missing (NaN) neighbour is off the grid or nodata, and with
    ``extrapolate`` its elevation is 2 z - z_opposite (SAGA's rule).
    """
    d0 = dist[r, c]
    zc = zh[r, c]
    for k in range(8):
        out[k] = 0.0
        rr = r + _DR[k]
        cc = c + _DC[k]
        if _valid(zh, rr, cc):
            zn = zh[rr, cc]
            if d0 == 0:
                out[k] = np.float64(zc) - np.float64(zn)
            elif d0 > 0:
                dn = dist[rr, cc]
                if 0 <= dn < d0 and zn == zc:
                    out[k] = np.float64(d0 - dn)
        elif extrapolate and d0 == 0:
            ro = r - _DR[k]
            co = c - _DC[k]
            if _valid(zh, ro, co):
                out[k] = np.float64(zh[ro, co]) - np.float64(zc)


@njit(cache=True, nogil=True)
def _mfd_window(zh, dist, exponent, quinn, linear, extrapolate, inflow):
    """MFD accumulation of the tile ``zh[1:-1, 1:-1]`` with extra ``inflow``; its outflows to the halo.

    ``zh`` (float32) and ``dist`` (int32, flat distances) cover the tile with
    a one-cell halo; ``inflow`` (float64, tile shape) is the flow entering
    each tile cell from outside [cells]. Flow is split as in
    ``routing_kernels.mfd_accumulate``: weights (drop / distance)^exponent
    (Freeman 1991), times the contour length if ``quinn``; a cell whose
    accumulation reaches ``linear`` (> 0) sends all to its steepest receiver.
    Returns the accumulation (tile shape, float64, NaN on nodata), the flow
    sent to each halo cell (window shape, float64, 0 inside the tile; flow to
    missing cells leaves the grid) and the number of tile cells routed.
    """
    nr, nc = zh.shape
    tr = nr - 2
    tc = nc - 2
    n = tr * tc
    drops = np.empty(8, dtype=np.float64)
    done = np.uint8(255)
    ndon = np.zeros(n, dtype=np.uint8)
    acc = np.empty((nr, nc), dtype=np.float64)
    ring = np.zeros((nr, nc), dtype=np.float64)
    for r in range(1, nr - 1):
        for c in range(1, nc - 1):
            if dist[r, c] == _NODATA:
                ndon[(r - 1) * tc + c - 1] = done
                acc[r, c] = np.nan
                continue
            acc[r, c] = 1.0 + inflow[r - 1, c - 1]
            _window_drops(zh, dist, r, c, extrapolate, drops)
            for k in range(8):
                rr = r + _DR[k]
                cc = c + _DC[k]
                if drops[k] > 0.0 and 1 <= rr < nr - 1 and 1 <= cc < nc - 1 and not np.isnan(zh[rr, cc]):
                    ndon[(rr - 1) * tc + cc - 1] += 1
    stack = np.empty(n, dtype=np.int64)
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
            r = i // tc + 1
            c = i % tc + 1
            _window_drops(zh, dist, r, c, extrapolate, drops)
            best = -1  # the only receiver when the flow is linear
            if linear > 0.0 and acc[r, c] >= linear:
                best_g = 0.0
                for k in range(8):
                    g = drops[k] / _LEN[k]
                    if g > best_g:
                        best_g = g
                        best = k
            total = 0.0
            for k in range(8):
                if drops[k] > 0.0:
                    w = math.pow(drops[k] / _LEN[k], exponent)
                    if quinn:
                        w *= _CONTOUR[k]
                    drops[k] = w
                    total += w
            if total <= 0.0:
                continue
            share = acc[r, c] / total
            for k in range(8):
                rr = r + _DR[k]
                cc = c + _DC[k]
                if drops[k] > 0.0 and not np.isnan(zh[rr, cc]):
                    if best < 0:
                        amount = share * drops[k]
                    elif k == best:
                        amount = acc[r, c]
                    else:
                        amount = 0.0
                    if 1 <= rr < nr - 1 and 1 <= cc < nc - 1:
                        acc[rr, cc] += amount
                        j = (rr - 1) * tc + cc - 1
                        ndon[j] -= 1
                        if ndon[j] == 0:
                            stack[top] = j
                            top += 1
                    else:
                        ring[rr, cc] += amount
    return acc[1:-1, 1:-1].copy(), ring, routed


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
        Routing surface [m], NaN = nodata.
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
        run = _MfdTiles(reader, windows, size, (quinn, exponent, linear, extrapolate), out, tmp)
        run.run()
    log.debug(
        "tiled MFD: %d tiles, %d exchange rounds, %d tile solves; flat distances: %s rounds",
        len(windows),
        run.rounds,
        run.solves,
        run.flats.rounds if run.flats is not None else [0, 0],
    )
    return out


class _MfdTiles:
    """The exchange of edge flows between tiles (see the module notes); ``rounds`` and ``solves`` count the work."""

    def __init__(
        self,
        reader: Any,
        windows: list[tuple[int, int, int, int]],
        size: tuple[int, int],
        opts: tuple[bool, float, float, bool],
        out: Any,
        tmp: str,
    ):
        self.reader = reader
        self.windows = windows
        self.size = size
        self.quinn, self.exponent, self.linear, self.extrapolate = opts
        self.out = out
        self.tmp = tmp
        self.ncol = reader.shape[1]
        n = len(windows)
        empty = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))
        self.outs: list[tuple[np.ndarray, np.ndarray]] = [empty] * n  # per tile: global receiving cells, flows
        self.used: list[tuple[np.ndarray, np.ndarray] | None] = [None] * n  # inflows of each tile's last solve
        self.rounds = 0
        self.solves = 0
        self.flats: FlatSolver | None = None

    def _inflows(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Tile t's inflows: global cells and the sum of its neighbours' current outflows onto them, sorted."""
        r0, r1, c0, c1 = self.windows[t]
        cells, flows = [], []
        for u in self.around[t]:
            g, v = self.outs[u]
            rr, cc = np.divmod(g, self.ncol)
            sel = (rr >= r0) & (rr < r1) & (cc >= c0) & (cc < c1)
            cells.append(g[sel])
            flows.append(v[sel])
        g = np.concatenate(cells) if cells else np.empty(0, dtype=np.int64)
        v = np.concatenate(flows) if flows else np.empty(0, dtype=np.float64)
        uniq, idx = np.unique(g, return_inverse=True)
        return uniq, np.bincount(idx, weights=v, minlength=uniq.size)

    def _window(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Tile t's surface and flat distances with a one-cell halo (solved once, then parked on disk)."""
        path = Path(self.tmp, f"w{t}.npz")
        if path.exists():
            with np.load(path) as f:
                return f["z"], f["d"]
        assert self.flats is not None
        zh, dist = self.flats.dist(t)
        np.savez(path, z=zh, d=dist)
        return zh, dist

    def _solve(self, t: int, inflow: tuple[np.ndarray, np.ndarray]) -> bool:
        """Accumulate tile t with ``inflow``, write its block of ``out``; True if its outflows changed."""
        r0, r1, c0, c1 = self.windows[t]
        zh, dist = self._window(t)
        extra = np.zeros((r1 - r0, c1 - c0), dtype=np.float64)
        rr, cc = np.divmod(inflow[0], self.ncol)
        extra[rr - r0, cc - c0] = inflow[1]
        acc, ring, routed = _mfd_window(zh, dist, self.exponent, self.quinn, self.linear, self.extrapolate, extra)
        nvalid = int(np.count_nonzero(dist[1:-1, 1:-1] != _NODATA))
        if routed != nvalid:  # the routing graph is acyclic by construction
            raise RuntimeError(f"tiled MFD routing visited {routed} of {nvalid} cells of a tile; please report this")
        self.out[r0:r1, c0:c1] = acc.astype(np.float32)
        self.used[t] = inflow
        self.solves += 1
        hr, hc = np.nonzero(ring)
        g = (hr + r0 - 1).astype(np.int64) * self.ncol + (hc + c0 - 1)
        order = np.argsort(g)
        new = (g[order], ring[hr, hc][order])
        old = self.outs[t]
        self.outs[t] = new
        return not (np.array_equal(old[0], new[0]) and np.array_equal(old[1], new[1]))

    def run(self) -> None:
        """Flat distances, then rounds of Gauss-Seidel sweeps until no tile's inflows change."""
        self.flats = FlatSolver(self.reader, self.windows, self.size, self.extrapolate)
        self.flats.converge()
        self.around = self.flats.around
        n = len(self.windows)
        nrow = self.reader.shape[0]
        # a path crosses tile edges at most once per cell on them: the number of rounds is bounded by that
        cap = 2 + sum(2 * ((r1 - r0) + (c1 - c0)) for r0, r1, c0, c1 in self.windows) if n > 1 else 1
        cap = min(cap, 2 + 4 * nrow * self.ncol)
        dirty = set(range(n))
        while dirty:
            self.rounds += 1
            if self.rounds > cap:
                raise RuntimeError(
                    f"tiled MFD routing did not converge in {cap} rounds ({len(dirty)} tiles still changing); "
                    "the routing graph should be acyclic, please report this"
                )
            order = range(n) if self.rounds % 2 == 1 else range(n - 1, -1, -1)
            for t in order:
                if t not in dirty:
                    continue
                dirty.discard(t)
                inflow = self._inflows(t)
                prev = self.used[t]
                if prev is not None and np.array_equal(prev[0], inflow[0]) and np.array_equal(prev[1], inflow[1]):
                    continue
                if self._solve(t, inflow):
                    dirty.update(self.around[t])
