"""Numba kernels behind :mod:`susmap.units.slope_units` (call that API, not these).

Every kernel works on flat (row-major) arrays of a whole grid held in memory.
Flow directions are pyflwdir's internal representation: ``idxs_ds[i]`` is the
flat index of the cell that ``i`` drains to (``i`` itself for a pit or an
outlet, a negative value for nodata) and ``idxs_seq`` lists the valid cells
from the outlets upstream, so a cell's downstream neighbour always comes
before it.

Neighbour codes run counter-clockwise in map view (row 0 = north), starting
east: 0 E, 1 NE, 2 N, 3 NW, 4 W, 5 SW, 6 S, 7 SE. "Left" and "right" of a
stream are seen looking downstream.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__: list[str] = []

# Row and column offsets of the neighbour codes (counter-clockwise from east).
_DR = np.array([0, -1, -1, -1, 0, 1, 1, 1], dtype=np.int64)
_DC = np.array([1, 1, 0, -1, -1, -1, 0, 1], dtype=np.int64)
# Code of the offset (dr, dc), indexed by (dr + 1) * 3 + (dc + 1); -1 for (0, 0).
_CODE = np.array([3, 2, 1, 4, -1, 0, 5, 6, 7], dtype=np.int64)


@njit(cache=True, nogil=True)
def _value(z, r, c):  # pragma: no cover (jit)
    """Elevation at (r, c), NaN outside the grid."""
    if 0 <= r < z.shape[0] and 0 <= c < z.shape[1]:
        return z[r, c]
    return np.nan


@njit(cache=True, nogil=True)
def horn_downslope(z, dx, dy, flat_tan, east, north):  # pragma: no cover (jit)
    """Unit vector of the downslope direction (aspect) of each cell, Horn (1981) 3 × 3.

    ``z``: 2-D float DEM, NaN = nodata. A NaN or missing (border) neighbour
    is extrapolated linearly through the centre (2 z_centre - z_opposite);
    where the opposite is missing too, an orthogonal one takes the centre's
    elevation and a diagonal one the plane through its two orthogonal
    neighbours, so a plane keeps its exact aspect up to the border. ``east``/``north`` receive the
    components of the unit vector pointing downslope (sin and cos of the
    aspect azimuth, clockwise from north); both stay 0 where the cell is
    nodata or flat (tan slope < ``flat_tan``). Returns the number of
    non-flat valid cells.
    """
    nrow, ncol = z.shape
    count = 0
    for r in range(nrow):
        for c in range(ncol):
            zc = z[r, c]
            if np.isnan(zc):
                continue
            w = np.empty(9)
            for diagonal in (False, True):
                for dr in (-1, 0, 1):
                    for dc in (-1, 0, 1):
                        if (dr != 0 and dc != 0) != diagonal:
                            continue
                        v = _value(z, r + dr, c + dc)
                        if np.isnan(v):
                            opposite = _value(z, r - dr, c - dc)
                            if not np.isnan(opposite):
                                v = 2.0 * zc - opposite
                            elif diagonal:  # plane through the two orthogonal neighbours
                                v = w[(dr + 1) * 3 + 1] + w[4 + dc] - zc
                            else:
                                v = zc
                        w[(dr + 1) * 3 + (dc + 1)] = v
            # w: 0 NW, 1 N, 2 NE, 3 W, 4 C, 5 E, 6 SW, 7 S, 8 SE
            dzdx = ((w[2] + 2.0 * w[5] + w[8]) - (w[0] + 2.0 * w[3] + w[6])) / (8.0 * dx)
            dzdy = ((w[0] + 2.0 * w[1] + w[2]) - (w[6] + 2.0 * w[7] + w[8])) / (8.0 * dy)
            g = np.sqrt(dzdx * dzdx + dzdy * dzdy)
            if g < flat_tan:
                continue
            east[r, c] = -dzdx / g
            north[r, c] = -dzdy / g
            count += 1
    return count


@njit(cache=True, nogil=True)
def stream_reaches(idxs_seq, idxs_ds, stream, reach):  # pragma: no cover (jit)
    """Number the reaches of a D8 stream network; returns the number of reaches.

    A reach runs from a stream head or a confluence down to the cell just
    above the next confluence (or to the outlet): a stream cell continues the
    reach of its downstream cell when that cell has exactly one upstream
    stream cell, and starts a new reach otherwise. ``reach`` (int64, per
    cell) receives 0 .. n-1 on stream cells and is left untouched elsewhere.
    """
    n = idxs_ds.size
    n_up = np.zeros(n, dtype=np.int32)
    for i in idxs_seq:
        if stream[i]:
            j = idxs_ds[i]
            if j != i:
                n_up[j] += 1
    nr = 0
    for i in idxs_seq:
        if not stream[i]:
            continue
        j = idxs_ds[i]
        if j != i and n_up[j] == 1:
            reach[i] = reach[j]
        else:
            reach[i] = nr
            nr += 1
    return nr


@njit(cache=True, nogil=True)
def _code_of(a, b, ncol):  # pragma: no cover (jit)
    """Neighbour code of cell ``b`` seen from its neighbour ``a``."""
    dr = b // ncol - a // ncol
    dc = b % ncol - a % ncol
    return _CODE[(dr + 1) * 3 + (dc + 1)]


@njit(cache=True, nogil=True)
def _side(s, c, idxs_ds, stream, reach, nrow, ncol):  # pragma: no cover (jit)
    """Half-basin id for a cell ``c`` whose flow enters the stream at its neighbour ``s``.

    The stream lines through ``s`` are rays towards its downstream cell (the
    out-ray) and towards each upstream stream cell (in-rays); they cut the
    neighbourhood into sectors and ``c`` lies in one. The sector just
    counter-clockwise of the out-ray is the left side of ``s``'s reach, the
    one just clockwise of it the right side; a sector between two in-rays
    (the wedge between two tributaries above a confluence) is the right side
    of the tributary whose ray bounds it clockwise. At a stream head the
    missing in-ray is the straight continuation of the out-ray; at an outlet
    the missing out-ray points to the middle of the widest gap between
    in-rays. Left of reach r is 2 r + 1, right 2 r + 2.
    """
    theta = _code_of(s, c, ncol)
    rs = s // ncol
    cs = s % ncol
    ray = np.zeros(8, dtype=np.bool_)
    n_in = 0
    for k in range(8):
        rr = rs + _DR[k]
        cc = cs + _DC[k]
        if 0 <= rr < nrow and 0 <= cc < ncol:
            u = rr * ncol + cc
            if stream[u] and idxs_ds[u] == s and u != s:
                ray[k] = True
                n_in += 1
    j = idxs_ds[s]
    if j != s:
        out = _code_of(s, j, ncol)
    elif n_in == 0:
        out = (theta + 4) % 8
    else:
        # middle of the widest gap between in-rays
        best = -1
        out = 0
        for k in range(8):
            if not ray[k]:
                continue
            gap = 1
            while not ray[(k + gap) % 8]:
                gap += 1
            if gap > best:
                best = gap
                out = (k + gap // 2) % 8
    if n_in == 0:
        ray[(out + 4) % 8] = True
    ray[out] = True
    prev = (theta + 7) % 8
    while not ray[prev]:
        prev = (prev + 7) % 8
    nxt = (theta + 1) % 8
    while not ray[nxt]:
        nxt = (nxt + 1) % 8
    if prev == out:
        return 2 * reach[s] + 1
    if nxt == out:
        return 2 * reach[s] + 2
    u = (rs + _DR[prev]) * ncol + (cs + _DC[prev])
    return 2 * reach[u] + 2


@njit(cache=True, nogil=True)
def half_basins(idxs_seq, idxs_ds, stream, reach, n_reach, nrow, ncol, hb):  # pragma: no cover (jit)
    """Half-basin id of every valid cell; returns the largest id.

    Stream cells belong to the left half-basin of their reach. Any other cell
    takes the half-basin where its D8 path first meets the stream: the side
    of the stream line on which its last non-stream cell enters (see
    :func:`_side`). A diagonal step that crosses a diagonal stream link
    (the two other cells of its 2 × 2 block are stream cells draining one
    into the other) enters the stream there, at the link's upper cell, so
    D8's crossing paths cannot carry a cell to the far side. Cells that reach
    an outlet without meeting a stream form one unit per outlet, numbered
    after the 2 n reach sides. ``hb`` (int64, per cell) is written for every
    cell of ``idxs_seq``.
    """
    nxt = 2 * n_reach + 1
    for i in idxs_seq:
        if stream[i]:
            hb[i] = 2 * reach[i] + 1
            continue
        j = idxs_ds[i]
        if j == i:
            hb[i] = nxt
            nxt += 1
            continue
        ri = i // ncol
        ci = i % ncol
        rj = j // ncol
        cj = j % ncol
        if ri != rj and ci != cj:
            a = rj * ncol + ci
            b = ri * ncol + cj
            if stream[a] and stream[b]:
                if idxs_ds[a] == b:
                    hb[i] = _side(a, i, idxs_ds, stream, reach, nrow, ncol)
                    continue
                if idxs_ds[b] == a:
                    hb[i] = _side(b, i, idxs_ds, stream, reach, nrow, ncol)
                    continue
        if stream[j]:
            hb[i] = _side(j, i, idxs_ds, stream, reach, nrow, ncol)
        else:
            hb[i] = hb[j]
    return nxt - 1


@njit(cache=True, nogil=True)
def border_pairs(ids, small):  # pragma: no cover (jit)
    """4-neighbour borders between different units where at least one is small.

    ``ids``: 2-D int unit ids (0 = nodata); ``small[id]``: whether unit ``id``
    is to be cleaned. Returns arrays (a, b) of the two ids of every such
    cell edge (each edge once).
    """
    nrow, ncol = ids.shape
    count = 0
    for r in range(nrow):
        for c in range(ncol):
            a = ids[r, c]
            if a == 0:
                continue
            if c + 1 < ncol:
                b = ids[r, c + 1]
                if b != 0 and b != a and (small[a] or small[b]):
                    count += 1
            if r + 1 < nrow:
                b = ids[r + 1, c]
                if b != 0 and b != a and (small[a] or small[b]):
                    count += 1
    out_a = np.empty(count, dtype=np.int64)
    out_b = np.empty(count, dtype=np.int64)
    k = 0
    for r in range(nrow):
        for c in range(ncol):
            a = ids[r, c]
            if a == 0:
                continue
            if c + 1 < ncol:
                b = ids[r, c + 1]
                if b != 0 and b != a and (small[a] or small[b]):
                    out_a[k] = a
                    out_b[k] = b
                    k += 1
            if r + 1 < nrow:
                b = ids[r + 1, c]
                if b != 0 and b != a and (small[a] or small[b]):
                    out_a[k] = a
                    out_b[k] = b
                    k += 1
    return out_a, out_b


@njit(cache=True, nogil=True)
def piece_labels(parent, hbv, hb_max, labels, owner):  # pragma: no cover (jit)
    """Label the pieces (previous unit, new half-basin) of the cells still to split.

    ``parent``/``hbv``: previous unit (>= 0) and new half-basin of each cell.
    Half-basins that lie inside one previous unit (the usual case: lower
    thresholds only add streams) are labelled 0 .. m-1 in order of first
    appearance by a dense lookup, with ``owner[label]`` their previous unit
    (``owner`` needs ``hb_max + 1`` slots). Cells of a half-basin that spans
    several previous units get label -1 for the caller to pair. Returns
    (m, number of cells labelled -1).
    """
    seen = np.full(hb_max + 1, -1, dtype=np.int64)
    split = np.zeros(hb_max + 1, dtype=np.bool_)
    for k in range(parent.size):
        h = hbv[k]
        if seen[h] < 0:
            seen[h] = parent[k]
        elif seen[h] != parent[k]:
            split[h] = True
    first = np.full(hb_max + 1, -1, dtype=np.int64)
    m = 0
    n_split = 0
    for k in range(parent.size):
        h = hbv[k]
        if split[h]:
            labels[k] = -1
            n_split += 1
            continue
        if first[h] < 0:
            first[h] = m
            owner[m] = parent[k]
            m += 1
        labels[k] = first[h]
    return m, n_split
