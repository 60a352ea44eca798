"""Numba kernels for flow routing behind :mod:`susmap.factors.hydrology` (call that API, not these).

Every kernel works on a whole (rows, cols) grid held in memory, NaN = nodata,
and is called by a Python wrapper that has already checked dtypes and values.

Neighbour order (row 0 = north): N, NE, E, SE, S, SW, W, NW. Flow directions
are written in pyflwdir's D8 encoding (E 1, SE 2, S 4, SW 8, W 16, NW 32,
N 64, NE 128, pit 0, nodata 247) so that :func:`pyflwdir.from_array` can read
them.

Routing graph
-------------
``flat_distance`` classifies the cells of the routing surface:

- ``0``: the cell drains: it has a strictly lower valid neighbour (or, with
  ``extrapolate``, a descent across the border, see below);
- ``d > 0``: a cell of a flat (no lower neighbour); ``d`` is the number of
  8-connected steps across the flat to the nearest draining cell of the same
  elevation (breadth-first search, after Garbrecht & Martz 1997's gradient
  towards lower terrain);
- ``0`` also for the cells of a flat without any draining cell that lie on
  the border or next to nodata: they are outlets (flow leaves the grid
  there), and the rest of such a flat gets its steps to them;
- ``-2``: a flat or pit with no way out (only where the DEM was not filled);
  flow ends there;
- ``-1``: nodata.

A cell with ``0`` sends flow to its strictly lower neighbours; a flat cell
with ``d > 0`` to its equal-elevation neighbours with a smaller ``d`` (that is,
``d - 1``), as if the flat had an infinitesimal slope towards its outlet. The
key (elevation, d) falls along every link, so the graph has no cycles and one
pass in topological order (Kahn's algorithm, no sort) accumulates any flow.

With ``extrapolate``, a cell next to the border or to nodata also sends flow
out towards a missing neighbour where the surface, extrapolated linearly
through the cell (2 z - z_opposite, as SAGA GIS does), descends; that flow
leaves the grid. Without it, flow leaves only at outlets.

Shared with the tiled routing
-----------------------------
Two inlined per-cell kernels are public so that
:mod:`susmap.factors.tiled_mfd` routes its windows by the same code, hence
the same numbers, as :func:`mfd_accumulate` routes the whole grid:

- :func:`routing_drops`: the drops from a cell to its 8 neighbours (the
  graph above; a drop > 0 is a link);
- :func:`mfd_weights`: the MFD / Quinn partition weights of a cell and its
  D8 receiver under the thresholded linear flow.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__: list[str] = []

NODATA = -1
UNRESOLVED = -2

_DR = np.array([-1, -1, 0, 1, 1, 1, 0, -1], dtype=np.int64)
_DC = np.array([0, 1, 1, 1, 0, -1, -1, -1], dtype=np.int64)
# Distance to the neighbour [cells]: 1 orthogonal, √2 diagonal.
_LEN = np.array([1.0, math.sqrt(2.0)] * 4, dtype=np.float64)
# Contour length across which flow leaves towards the neighbour [cells] (Quinn et al. 1991).
_CONTOUR = np.array([0.5, 0.354] * 4, dtype=np.float64)
# pyflwdir D8 codes of the neighbours.
_D8 = np.array([64, 128, 1, 2, 4, 8, 16, 32], dtype=np.uint8)
D8_PIT = np.uint8(0)
D8_NODATA = np.uint8(247)


@njit(cache=True, nogil=True, inline="always")
def _inside(z, rr, cc):
    """True if (rr, cc) is on the grid and not nodata."""
    nrow, ncol = z.shape
    return 0 <= rr < nrow and 0 <= cc < ncol and not np.isnan(z[rr, cc])


@njit(cache=True, nogil=True)
def _bfs(z, dist, queue, head, tail):
    """Breadth-first search across equal-elevation unresolved cells from ``queue[head:tail]``."""
    nrow, ncol = z.shape
    while head < tail:
        idx = queue[head]
        head += 1
        r = idx // ncol
        c = idx - r * ncol
        d = dist[r, c] + 1
        for k in range(8):
            rr = r + _DR[k]
            cc = c + _DC[k]
            if 0 <= rr < nrow and 0 <= cc < ncol and dist[rr, cc] == UNRESOLVED and z[rr, cc] == z[r, c]:
                dist[rr, cc] = d
                queue[tail] = rr * ncol + cc
                tail += 1
    return tail


@njit(cache=True, nogil=True)
def flat_distance(z, extrapolate):
    """Classify cells (see the module notes) and resolve flats; int32 (rows, cols)."""
    nrow, ncol = z.shape
    dist = np.full((nrow, ncol), NODATA, dtype=np.int32)
    nflat = 0
    for r in range(nrow):
        for c in range(ncol):
            zc = z[r, c]
            if np.isnan(zc):
                continue
            drains = False
            for k in range(8):
                rr = r + _DR[k]
                cc = c + _DC[k]
                if _inside(z, rr, cc):
                    drains |= z[rr, cc] < zc
                elif extrapolate and _inside(z, r - _DR[k], c - _DC[k]):
                    drains |= z[r - _DR[k], c - _DC[k]] > zc
            if drains:
                dist[r, c] = 0
            else:
                dist[r, c] = UNRESOLVED
                nflat += 1
    if nflat == 0:
        return dist
    queue = np.empty(nflat, dtype=np.int64)
    # 1: from the draining cells next to a flat cell of the same elevation
    tail = 0
    for r in range(nrow):
        for c in range(ncol):
            if dist[r, c] != UNRESOLVED:
                continue
            for k in range(8):
                rr = r + _DR[k]
                cc = c + _DC[k]
                if _inside(z, rr, cc) and dist[rr, cc] == 0 and z[rr, cc] == z[r, c]:
                    dist[r, c] = 1
                    queue[tail] = r * ncol + c
                    tail += 1
                    break
    tail = _bfs(z, dist, queue, 0, tail)
    # 2: flats without a draining cell: their cells on the border or next to nodata are outlets
    head = tail
    for r in range(nrow):
        for c in range(ncol):
            if dist[r, c] != UNRESOLVED:
                continue
            for k in range(8):
                if not _inside(z, r + _DR[k], c + _DC[k]):
                    dist[r, c] = 0
                    queue[tail] = r * ncol + c
                    tail += 1
                    break
    _bfs(z, dist, queue, head, tail)
    return dist


@njit(cache=True, nogil=True, inline="always")
def routing_drops(z, dist, r, c, extrapolate, out):
    """Write the routing drops from (r, c) to its 8 neighbours into ``out`` [m, or flat steps].

    A drop <= 0 means no flow. A neighbour off the grid or on nodata takes
    flow only with ``extrapolate``: its elevation is then 2 z - z_opposite
    (SAGA's rule), so the drop is z_opposite - z. (One call per cell, inlined:
    a call per neighbour costs more than the work.) The tiled kernels call it
    on a window holding two more cells each side than the cells routed, so
    that there a NaN neighbour is off the grid or nodata, as on the grid.
    """
    nrow, ncol = z.shape
    d0 = dist[r, c]
    zc = z[r, c]
    for k in range(8):
        out[k] = 0.0
        rr = r + _DR[k]
        cc = c + _DC[k]
        if 0 <= rr < nrow and 0 <= cc < ncol and not np.isnan(z[rr, cc]):
            zn = z[rr, cc]
            if d0 == 0:
                out[k] = np.float64(zc) - np.float64(zn)
            elif d0 > 0:
                dn = dist[rr, cc]
                if 0 <= dn < d0 and zn == zc:
                    out[k] = np.float64(d0 - dn)
        elif extrapolate and d0 == 0:
            ro = r - _DR[k]
            co = c - _DC[k]
            if 0 <= ro < nrow and 0 <= co < ncol and not np.isnan(z[ro, co]):
                out[k] = np.float64(z[ro, co]) - np.float64(zc)


@njit(cache=True, nogil=True, inline="always")
def _steepest(drops):
    """Index of the largest drop / distance (orthogonal first on ties), or -1 where nothing drops."""
    best = -1
    best_g = 0.0
    for k in range(8):
        g = drops[k] / _LEN[k]
        if g > best_g:
            best_g = g
            best = k
    return best


@njit(cache=True, nogil=True, inline="always")
def mfd_weights(z, dist, r, c, a, exponent, quinn, linear, extrapolate, w):
    """MFD partition weights of cell (r, c) holding accumulation ``a`` [cells] into ``w``; returns (total, D8 receiver).

    The weight of a receiver (a neighbour with a drop > 0, see
    :func:`routing_drops`) is (drop / distance) ^ ``exponent`` (Freeman
    1991), times the contour length if ``quinn`` (Quinn et al. 1991); 0 for
    the others. The D8 receiver is the steepest one (largest drop / distance,
    orthogonal first on ties) when ``a`` reaches ``linear`` (> 0; SAGA's thresholded linear flow), else -1.
    The rule of :func:`mfd_accumulate`, shared with the tiled kernels of
    :mod:`susmap.factors.tiled_mfd` so that both split flow identically.
    """
    routing_drops(z, dist, r, c, extrapolate, w)
    best = -1
    if linear > 0.0 and a >= linear:
        best = _steepest(w)
    total = 0.0
    for k in range(8):
        if w[k] > 0.0:
            v = math.pow(w[k] / _LEN[k], exponent)
            if quinn:
                v *= _CONTOUR[k]
            w[k] = v
            total += v
    return total, best


@njit(cache=True, nogil=True)
def d8_directions(z, dist, extrapolate):
    """Steepest-descent D8 directions on the routing surface (pyflwdir codes), uint8 (rows, cols).

    Draining cells point to the neighbour with the largest drop / distance;
    flat cells to an equal-elevation neighbour one step closer to the flat's
    outlet (orthogonal first). Outlets, unresolved cells and cells whose
    steepest descent leaves the grid (``extrapolate``) are pits.
    """
    nrow, ncol = z.shape
    d8 = np.full((nrow, ncol), D8_NODATA, dtype=np.uint8)
    drops = np.empty(8, dtype=np.float64)
    for r in range(nrow):
        for c in range(ncol):
            if dist[r, c] == NODATA:
                continue
            routing_drops(z, dist, r, c, extrapolate, drops)
            best = _steepest(drops)
            if best >= 0 and _inside(z, r + _DR[best], c + _DC[best]):
                d8[r, c] = _D8[best]
            else:
                d8[r, c] = D8_PIT
    return d8


@njit(cache=True, nogil=True)
def mfd_accumulate(z, dist, exponent, quinn, linear, extrapolate, stack):
    """Multiple-flow-direction accumulation [cells], each valid cell counting itself; float64 (rows, cols).

    Flow is split between the receivers in proportion to (drop / distance) ^
    ``exponent`` (Freeman 1991), times the contour length if ``quinn`` (Quinn
    et al. 1991); the share of a receiver off the grid or on nodata
    (``extrapolate``) leaves. A cell whose accumulation reaches ``linear``
    [cells] (> 0) sends all its flow to its steepest receiver instead (D8;
    SAGA's "thresholded linear flow"); the D8 receiver is one of the MFD
    receivers, so the donor counts stay valid. ``stack`` is scratch space of
    at least rows * cols integers. Returns the accumulation (NaN on nodata)
    and the number of cells routed.
    """
    nrow, ncol = z.shape
    n = nrow * ncol
    drops = np.empty(8, dtype=np.float64)
    done = np.uint8(255)
    # number of donors of each cell (at most 8); 255 marks nodata / done
    ndon = np.zeros(n, dtype=np.uint8)
    acc = np.empty((nrow, ncol), dtype=np.float64)
    for r in range(nrow):
        for c in range(ncol):
            if dist[r, c] == NODATA:
                ndon[r * ncol + c] = done
                acc[r, c] = np.nan
                continue
            acc[r, c] = 1.0
            routing_drops(z, dist, r, c, extrapolate, drops)
            for k in range(8):
                if drops[k] > 0.0 and _inside(z, r + _DR[k], c + _DC[k]):
                    ndon[(r + _DR[k]) * ncol + c + _DC[k]] += 1
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
            r = i // ncol
            c = i - r * ncol
            # drops[k] becomes the partition weight; best: the only receiver when the flow is linear
            total, best = mfd_weights(z, dist, r, c, acc[r, c], exponent, quinn, linear, extrapolate, drops)
            if total <= 0.0:
                continue
            share = acc[r, c] / total
            for k in range(8):
                rr = r + _DR[k]
                cc = c + _DC[k]
                if drops[k] > 0.0 and _inside(z, rr, cc):
                    if best < 0:
                        acc[rr, cc] += share * drops[k]
                    elif k == best:
                        acc[rr, cc] += acc[r, c]
                    j = rr * ncol + cc
                    ndon[j] -= 1
                    if ndon[j] == 0:
                        stack[top] = j
                        top += 1
    return acc, routed


@njit(cache=True, nogil=True)
def tan_slope(z, cellsize):
    """tan β [m/m] from Horn's (1981) 3×3 gradient, float32 (rows, cols), NaN on nodata.

    A neighbour off the grid or on nodata is replaced by linear extrapolation
    through the centre (2 z_centre - z_opposite); where the opposite one is
    missing too, an orthogonal neighbour takes the centre's value and a
    diagonal one the sum of its two orthogonal neighbours minus the centre.
    Border cells of a plane thus get its exact slope.
    """
    nrow, ncol = z.shape
    out = np.full((nrow, ncol), np.nan, dtype=np.float32)
    v = np.empty(8, dtype=np.float64)
    for r in range(nrow):
        for c in range(ncol):
            zc = np.float64(z[r, c])
            if np.isnan(zc):
                continue
            for k in range(8):
                rr = r + _DR[k]
                cc = c + _DC[k]
                v[k] = np.float64(z[rr, cc]) if _inside(z, rr, cc) else np.nan
            for k in (0, 2, 4, 6, 1, 3, 5, 7):  # orthogonal neighbours first
                if not np.isnan(v[k]):
                    continue
                ko = (k + 4) % 8
                if _inside(z, r + _DR[ko], c + _DC[ko]):
                    v[k] = 2.0 * zc - np.float64(z[r + _DR[ko], c + _DC[ko]])
                elif k % 2 == 0:
                    v[k] = zc
                else:
                    v[k] = v[k - 1] + v[(k + 1) % 8] - zc
            # v: N, NE, E, SE, S, SW, W, NW; x east, y north
            dzdx = ((v[1] + 2.0 * v[2] + v[3]) - (v[7] + 2.0 * v[6] + v[5])) / (8.0 * cellsize)
            dzdy = ((v[7] + 2.0 * v[0] + v[1]) - (v[5] + 2.0 * v[4] + v[3])) / (8.0 * cellsize)
            out[r, c] = math.sqrt(dzdx * dzdx + dzdy * dzdy)
    return out


@njit(cache=True, nogil=True)
def stream_length(d8, streams, cellsize):
    """Stream length per cell [m], float64: its D8 link, cellsize orthogonal (or at a pit), √2 cellsize diagonal.

    0 off the streams and on nodata.
    """
    nrow, ncol = d8.shape
    out = np.zeros((nrow, ncol), dtype=np.float64)
    diag = math.sqrt(2.0) * cellsize
    for r in range(nrow):
        for c in range(ncol):
            code = d8[r, c]
            if not streams[r, c] or code == D8_NODATA:
                continue
            out[r, c] = diag if (code == 2 or code == 8 or code == 32 or code == 128) else cellsize
    return out


@njit(cache=True, nogil=True)
def disk_sum(values, radius):
    """Sum of finite ``values`` over the cells whose centres lie within ``radius`` [cells]; float64 (rows, cols).

    Row-wise prefix sums make the cost rows * cols * (2 radius + 1) additions.
    """
    nrow, ncol = values.shape
    rad = math.floor(radius)
    half = np.empty(2 * rad + 1, dtype=np.int64)
    for i in range(2 * rad + 1):
        dy = i - rad
        half[i] = math.floor(math.sqrt(radius * radius - dy * dy) + 1e-9)
    prefix = np.zeros((nrow, ncol + 1), dtype=np.float64)
    for r in range(nrow):
        acc = 0.0
        for c in range(ncol):
            acc += values[r, c]
            prefix[r, c + 1] = acc
    out = np.zeros((nrow, ncol), dtype=np.float64)
    for r in range(nrow):
        for i in range(2 * rad + 1):
            rr = r + i - rad
            if rr < 0 or rr >= nrow:
                continue
            h = half[i]
            for c in range(ncol):
                out[r, c] += prefix[rr, min(c + h, ncol - 1) + 1] - prefix[rr, max(c - h, 0)]
    return out


@njit(cache=True, nogil=True)
def hand_along_d8(idxs_ds, seq, drain, z):
    """Height above the nearest drain [m] along D8 paths (Nobre et al. 2011), float64 (n,), NaN off ``seq``.

    ``idxs_ds`` and ``seq`` (cells ordered from down- to upstream) are
    pyflwdir's; ``drain`` and ``z`` are flat. A path ending at a pit without
    meeting a drain is measured from the pit. (pyflwdir's own
    ``height_above_nearest_drain`` is a plain Python loop.)
    """
    hand = np.full(z.size, np.nan, dtype=np.float64)
    for i in range(seq.size):
        idx = seq[i]
        ds = idxs_ds[idx]
        if drain[idx] or ds == idx:
            hand[idx] = 0.0
        else:
            hand[idx] = hand[ds] + (np.float64(z[idx]) - np.float64(z[ds]))
    return hand
