"""Tiled depression filling and D8 flow accumulation: memory bounded by one tile plus the tile edges.

The whole-grid routines of :mod:`susmap.factors.hydrology` hold the DEM and
its intermediates in memory (about 40 bytes a cell). The routines here read
the surface tile by tile (from a numpy or dask array, or window by window from
a raster file), keep only what crosses the tile edges between passes, solve a
small global problem over those edges, and write their results tile by tile.
They give the same results as the whole-grid routines:

- :func:`tiled_fill` equals ``pyflwdir.dem.fill_depressions(dem,
  nodata=nan)`` (Wang & Liu 2006, what ``filled_dem`` uses) bit for bit,
  provided every filled depth W − z is exact in float32 (true whenever
  W / 2 ≤ z, that is for positive elevations and depressions shallower than
  their own elevation; see Notes);
- :func:`tiled_d8_accumulation` equals the D8 accumulation of
  :mod:`susmap.factors.hydrology` (flat classes and flat distances of
  :func:`susmap.factors.routing_kernels.flat_distance`, directions of
  :func:`susmap.factors.routing_kernels.d8_directions`, cell counts of
  :meth:`pyflwdir.FlwdirRaster.upstream_area`) exactly: integer cell counts.

Tiled priority-flood (Barnes 2016)
----------------------------------
Pass 1, per tile alone: a priority flood (Barnes et al. 2014's variant with a
plain queue for cells inside depressions) seeded with the tile's perimeter
cells (at their own elevation) and the true outlets (cells with a nodata or
off-grid neighbour, looked up in a one-cell halo). It gives each cell its
local water level W_loc (the lowest level at which it drains to the tile
perimeter or an outlet) and a label: the perimeter "watershed" it floods
from; outlets carry the label "ocean". Wherever two labels touch, the label
graph gets an edge weighted max(W_loc a, W_loc b) (the lowest one kept). Only
the perimeter labels and elevations leave the tile (W_loc and the labels are
parked in a temporary directory); cells of neighbouring tiles that touch
(8-connected) give edges weighted max(z a, z b). Global step: a minimax
priority flood (Dijkstra with max instead of +) over the label graph from the
ocean gives each label its spill elevation S. Pass 2, per tile: W = max(W_loc,
S(label)) and the filled DEM is z + (W − z) in float32, the operation
pyflwdir performs. W is the exact minimax level: every path from a cell to an
outlet either reaches the tile perimeter (so costs ≥ W_loc) or is a chain of
label edges none cheaper than its own maximum (so costs ≥ S); and the label
tree plus that chain is such a path.

Tiled D8 accumulation (Barnes 2017)
-----------------------------------
Directions need the flat distances of ``flat_distance``: the number of
8-connected steps across a flat (a set of equal-elevation cells without a
lower neighbour) to its nearest draining cell (phase 1), or, for flats with
none, to its cells on the border or next to nodata (phase 2). These are
shortest paths that may cross many tiles (a filled lake larger than a tile),
so each phase is solved by exchange to convergence: each tile runs a
breadth-first search seeded by its own sources and by the distances its
neighbours have so far on the cells of its one-cell halo; a tile is solved
again only when a halo distance drops low enough to shorten a path into one
of its flat cells; distances only decrease, and at the fixed point they
satisfy the shortest-path equations, so they are the whole-grid ones. Rounds
sweep the tiles forward and backward in turn (Gauss-Seidel), so a flat
spanning k tiles needs at most about k rounds, usually 2-4.
Then, per tile: directions by ``d8_directions`` on the tile with its halo
(so they are the whole-grid directions), accumulation inside the tile, and
for every cell whose flow leaves the tile its receiver and its accumulated
count; for every perimeter cell, the exit cell its flow reaches inside the
tile. Global step: on the graph of exit cells (an exit drains into the exit
of its receiver's path), the outflow of each exit is its own count plus the
outflows draining into it (topological order; the D8 graph is acyclic). Last
pass, per tile: the inflows enter at the receiving perimeter cells and are
accumulated again along the tile's directions (kept on disk from the
previous pass: one byte a cell).

Indices and HAND from the tiled results
---------------------------------------
:func:`tiled_flow_index` computes TWI, SPI or LS tile by tile (local slope
on a one-cell halo), bit-identical to hydrology's ``method="d8",
fill=True`` factors. :func:`tiled_hand` gives HAND along the tiled D8
directions: per tile, the recursion downstream first; for each perimeter
cell, either its HAND (its path ends at a drain or pit in the tile) or its
drop to the receiver where its path leaves the tile; a global step sums
those drops along the chain of tiles; a second pass starts each tile's
recursion from the HAND of its outside receivers.

Notes
-----
pyflwdir raises a cell in a depression by adding dz = W_parent − z in
float32, so when that difference is not exact a filled value may differ from
W by an ulp, depending on the flood's order; the tiled fill writes
z + (W − z), which equals it whenever the difference is exact (W / 2 ≤ z ≤ W,
Sterbenz's lemma; for instance all DEMs with elevations ≥ half their highest
spill level). Where it is not (elevations around 0 m), pyflwdir's own values
depend on its global flood order, which no tiling can reproduce: on random
DEMs of -0.5 to 1.5 m, 15 % of the cells differ, by at most 4e-7 m.

Tiles in parallel: every pass that solves tiles alone (pass 1 and 2 of the
fill, the first round of the flat distances, directions and accumulation
inside tiles, the indices, both passes of HAND) runs on a pool of
:func:`tile_workers` threads (the numba kernels release the GIL), a bounded
number of tiles ahead of the one being stored, and stores the results in
tile order, so results do not depend on the number of threads. The global
steps and the exchange rounds of the flat distances stay serial.

Memory: one tile per thread (plus as many waiting to be stored) with a
two-cell halo and its intermediates (about 60 bytes a cell of the tile),
plus the edge data (a few values per cell on tile
borders). Disk: 8 bytes a cell (W_loc and labels) for the fill, 1 byte a cell
(directions) for the accumulation, in a temporary directory removed at the
end.

References
----------
Barnes, R. (2016). Parallel priority-flood depression filling for trillion
cell digital elevation models on desktops or clusters. Computers &
Geosciences 96, 56-68. doi:10.1016/j.cageo.2016.07.001
Barnes, R. (2017). Parallel non-divergent flow accumulation for trillion cell
digital elevation models on desktops or clusters. Environmental Modelling &
Software 92, 202-212. doi:10.1016/j.envsoft.2017.02.022
Barnes, R., Lehman, C., Mulla, D. (2014). Priority-flood: an optimal
depression-filling and watershed-labeling algorithm for digital elevation
models. Computers & Geosciences 62, 117-127.
Wang, L., Liu, H. (2006). An efficient method for identifying and filling
surface depressions in digital elevation models for hydrologic analysis and
modelling. Int. J. Geogr. Inf. Sci. 20(2), 193-213.
Garbrecht, J., Martz, L.W. (1997). The assignment of drainage direction over
flat surfaces in raster digital elevation models. J. Hydrol. 193, 204-213.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np
from numba import njit, types
from numba.typed import Dict

from susmap.errors import RasterReadError, SusmapError
from susmap.factors.routing_kernels import d8_directions, tan_slope

INDICES = ("twi", "spi", "ls")

__all__ = [
    "INDICES",
    "ArrayTiles",
    "FlatSolver",
    "RasterTiles",
    "RasterWriter",
    "TileReader",
    "as_tile_reader",
    "read_padded",
    "tile_map",
    "tile_output",
    "tile_shape",
    "tile_workers",
    "tiled_d8_accumulation",
    "tiled_fill",
    "tiled_flow_index",
    "tiled_hand",
    "tiles",
]

_DR = np.array([-1, -1, 0, 1, 1, 1, 0, -1], dtype=np.int64)
_DC = np.array([0, 1, 1, 1, 0, -1, -1, -1], dtype=np.int64)
_INF = np.int32(2**31 - 1)  # flat distance not (yet) known
_NODATA = np.int32(-1)
_UNRESOLVED = np.int32(-2)
_D8_NODATA = 247
# neighbour index k of each pyflwdir D8 code (-1: pit, nodata or no code)
_CODE_K = np.full(256, -1, dtype=np.int64)
for _k, _code in enumerate((64, 128, 1, 2, 4, 8, 16, 32)):
    _CODE_K[_code] = _k


# ----------------------------------------------------------------------------- tile sources and sinks


@runtime_checkable
class TileReader(Protocol):
    """A grid read window by window: ``shape`` (rows, cols) and ``read(r0, r1, c0, c1)`` -> float32, NaN = nodata."""

    shape: tuple[int, int]

    def read(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Rows r0:r1 and columns c0:c1 (inside the grid) as float32, NaN = nodata."""
        ...


class ArrayTiles:
    """Windows of a 2-D numpy or dask array (anything sliceable that ``np.asarray`` reads); NaN = nodata."""

    def __init__(self, array: Any) -> None:
        if getattr(array, "ndim", None) != 2:
            raise SusmapError(f"tiled routing needs a 2-D grid; got an array of shape {getattr(array, 'shape', None)}")
        self.array = array
        self.shape = (int(array.shape[0]), int(array.shape[1]))

    def read(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Rows r0:r1, columns c0:c1 as float32."""
        block = self.array[r0:r1, c0:c1]
        if hasattr(block, "compute"):
            block = block.compute()
        return np.asarray(block, dtype=np.float32)


class RasterTiles:
    """Windows of one band of a raster file (rasterio); its nodata value and masked cells become NaN."""

    def __init__(self, path: str | os.PathLike[str], band: int = 1) -> None:
        import rasterio

        self.path = Path(path)
        try:
            self._src = rasterio.open(self.path)
        except rasterio.errors.RasterioIOError as exc:
            raise RasterReadError(f"cannot read the raster {self.path}: {exc}") from exc
        if not 1 <= band <= self._src.count:
            raise RasterReadError(f"{self.path} has {self._src.count} band(s); band {band} does not exist")
        self.band = band
        self.shape = (int(self._src.height), int(self._src.width))
        self._lock = threading.Lock()  # one GDAL dataset handle is not safe across threads

    def read(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Rows r0:r1, columns c0:c1 as float32, NaN = nodata (safe from several threads)."""
        from rasterio.windows import Window

        with self._lock:
            block = self._src.read(self.band, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True)
        return np.ma.filled(block.astype(np.float32), np.float32(np.nan))

    @property
    def profile(self) -> dict[str, Any]:
        """The rasterio profile of the file (CRS, transform, ...)."""
        return dict(self._src.profile)

    def close(self) -> None:
        """Close the file."""
        self._src.close()

    def __enter__(self) -> RasterTiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RasterWriter:
    """A float32 single-band GeoTIFF written window by window: ``writer[r0:r1, c0:c1] = block`` (NaN = nodata).

    ``profile`` gives the georeferencing (``crs``, ``transform``; e.g.
    :attr:`RasterTiles.profile`); the file is tiled (256 × 256) and
    uncompressed, so any window writes in place.
    """

    def __init__(self, path: str | os.PathLike[str], shape: tuple[int, int], profile: dict[str, Any] | None = None):
        import rasterio

        prof = {k: v for k, v in (profile or {}).items() if k in ("crs", "transform")}
        prof.update(
            driver="GTiff",
            height=shape[0],
            width=shape[1],
            count=1,
            dtype="float32",
            nodata=np.float32(np.nan),
            tiled=True,
            blockxsize=256,
            blockysize=256,
        )
        self.path = Path(path)
        self.shape = shape
        self._dst = rasterio.open(self.path, "w", **prof)

    def __setitem__(self, key: tuple[slice, slice], block: np.ndarray) -> None:
        from rasterio.windows import Window

        rs, cs = key
        self._dst.write(
            np.asarray(block, dtype=np.float32),
            1,
            window=Window(cs.start, rs.start, cs.stop - cs.start, rs.stop - rs.start),
        )

    def close(self) -> None:
        """Flush and close the file."""
        self._dst.close()

    def __enter__(self) -> RasterWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_T = TypeVar("_T")
_R = TypeVar("_R")


def tile_workers() -> int:
    """Threads that solve tiles at once: ``SUSMAP_TILE_WORKERS`` if set, else one per core."""
    value = os.environ.get("SUSMAP_TILE_WORKERS")
    if value:
        try:
            n = int(value)
        except ValueError:
            raise SusmapError(f"SUSMAP_TILE_WORKERS must be a positive integer; got {value!r}") from None
        if n < 1:
            raise SusmapError(f"SUSMAP_TILE_WORKERS must be a positive integer; got {value!r}")
        return n
    return os.cpu_count() or 1


def tile_map(func: Callable[[_T], _R], items: Iterable[_T], workers: int | None = None) -> Iterator[_R]:
    """``func(item)`` for each item, in order, computed on a pool of threads at most 2 × workers ahead.

    The caller stores each result as it comes (writing a file in tile order
    from one thread), so at most 2 × ``workers`` results wait in memory. One
    worker runs in the calling thread, without a pool.
    """
    workers = tile_workers() if workers is None else workers
    if workers <= 1:
        yield from map(func, items)
        return
    pending: deque = deque()
    source = iter(items)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="susmap-tile") as pool:
        for item in source:
            pending.append(pool.submit(func, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _store_tiles(out: Any, windows: list[tuple[int, int, int, int]], blocks: Iterable[np.ndarray]) -> Any:
    """Write each tile's block (from :func:`tile_map`, in tile order) into ``out``; returns ``out``."""
    for (r0, r1, c0, c1), block in zip(windows, blocks, strict=True):
        out[r0:r1, c0:c1] = block
    return out


def _valid_perimeter(d8: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat indices, rows and columns of a tile's perimeter cells that are not nodata (D8 code 247)."""
    nr, nc = d8.shape
    per = np.zeros((nr, nc), dtype=bool)
    per[[0, -1], :] = True
    per[:, [0, -1]] = True
    pi = np.flatnonzero(per.ravel() & (d8.ravel() != _D8_NODATA))
    pr, pc = np.divmod(pi, nc)
    return pi, pr, pc


def as_tile_reader(source: Any) -> TileReader:
    """A :class:`TileReader` for ``source``: itself if it is one, a raster path, or a numpy / dask array."""
    if isinstance(source, TileReader):
        return source
    if isinstance(source, str | os.PathLike):
        return RasterTiles(source)
    return ArrayTiles(source)


def tile_shape(tile: int | tuple[int, int]) -> tuple[int, int]:
    """The validated tile size (rows, cols) [cells] from an int or a pair; SusmapError otherwise."""
    size = (tile, tile) if isinstance(tile, int | np.integer) else tuple(tile)
    if len(size) != 2 or any(isinstance(t, bool) or not isinstance(t, int | np.integer) or t < 1 for t in size):
        raise SusmapError(f"the 'tile' size of tiled routing must be a positive integer or (rows, cols); got {tile!r}")
    if (size[0] + 4) * (size[1] + 4) >= 2**31:
        raise SusmapError(f"the 'tile' size of tiled routing must hold fewer than 2**31 cells; got {tile!r}")
    return int(size[0]), int(size[1])


def tiles(shape: tuple[int, int], tile: int | tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """Row-major tile windows (r0, r1, c0, c1) covering a grid of ``shape`` with tiles of ``tile`` cells."""
    tr, tc = tile_shape(tile)
    return [
        (r0, min(r0 + tr, shape[0]), c0, min(c0 + tc, shape[1]))
        for r0 in range(0, shape[0], tr)
        for c0 in range(0, shape[1], tc)
    ]


def read_padded(reader: TileReader, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """Window r0:r1, c0:c1 (may reach past the grid), NaN outside the grid; C-contiguous float32."""
    nrow, ncol = reader.shape
    out = np.full((r1 - r0, c1 - c0), np.float32(np.nan), dtype=np.float32)
    a0, a1, b0, b1 = max(r0, 0), min(r1, nrow), max(c0, 0), min(c1, ncol)
    if a0 < a1 and b0 < b1:
        out[a0 - r0 : a1 - r0, b0 - c0 : b1 - c0] = reader.read(a0, a1, b0, b1)
    return out


def tile_output(out: Any, shape: tuple[int, int]) -> Any:
    """``out`` checked to have ``shape``, or a new float32 array of it."""
    if out is None:
        return np.empty(shape, dtype=np.float32)
    if tuple(getattr(out, "shape", ())) != shape:
        raise SusmapError(
            f"the output of tiled routing must have the grid's shape {shape}; got {getattr(out, 'shape', None)}"
        )
    return out


class _Lines:
    """Values on the tile border rows and columns of the grid (full length), and halos read from them."""

    def __init__(self, shape: tuple[int, int], windows: list[tuple[int, int, int, int]], fill: Any, dtype: Any):
        self.shape = shape
        self.fill = fill
        rows = {r for w in windows for r in (w[0], w[1] - 1)}
        cols = {c for w in windows for c in (w[2], w[3] - 1)}
        self.rows = {r: np.full(shape[1], fill, dtype=dtype) for r in rows}
        self.cols = {c: np.full(shape[0], fill, dtype=dtype) for c in cols}

    def put(self, w: tuple[int, int, int, int], a: np.ndarray) -> bool:
        """Store tile ``w``'s border values; True if any changed."""
        r0, r1, c0, c1 = w
        changed = False
        for line, sl, vals in (
            (self.rows[r0], slice(c0, c1), a[0]),
            (self.rows[r1 - 1], slice(c0, c1), a[-1]),
            (self.cols[c0], slice(r0, r1), a[:, 0]),
            (self.cols[c1 - 1], slice(r0, r1), a[:, -1]),
        ):
            if not np.array_equal(line[sl], vals):
                changed = True
                line[sl] = vals
        return changed

    def ring(self, w: tuple[int, int, int, int], window: np.ndarray) -> None:
        """Write tile ``w``'s own border values into the ring inside the halo of ``window``."""
        r0, r1, c0, c1 = w
        window[1, 1:-1] = self.rows[r0][c0:c1]
        window[-2, 1:-1] = self.rows[r1 - 1][c0:c1]
        window[1:-1, 1] = self.cols[c0][r0:r1]
        window[1:-1, -2] = self.cols[c1 - 1][r0:r1]

    def halo(self, w: tuple[int, int, int, int], window: np.ndarray) -> None:
        """Write the one-cell halo of tile ``w`` into the border of ``window`` (tile + 1 cell each side)."""
        r0, r1, c0, c1 = w
        nrow, ncol = self.shape
        b0, b1 = max(c0 - 1, 0), min(c1 + 1, ncol)
        a0, a1 = max(r0 - 1, 0), min(r1 + 1, nrow)
        if r0 > 0:
            window[0, b0 - c0 + 1 : b1 - c0 + 1] = self.rows[r0 - 1][b0:b1]
        if r1 < nrow:
            window[-1, b0 - c0 + 1 : b1 - c0 + 1] = self.rows[r1][b0:b1]
        if c0 > 0:
            window[a0 - r0 + 1 : a1 - r0 + 1, 0] = self.cols[c0 - 1][a0:a1]
        if c1 < ncol:
            window[a0 - r0 + 1 : a1 - r0 + 1, -1] = self.cols[c1][a0:a1]


def _neighbours(
    windows: list[tuple[int, int, int, int]], tile: tuple[int, int], shape: tuple[int, int]
) -> list[list[int]]:
    """Indices of the (up to 8) tiles around each tile of the row-major layout."""
    ntc = -(-shape[1] // tile[1])
    ntr = -(-shape[0] // tile[0])
    out = []
    for t in range(len(windows)):
        i, j = divmod(t, ntc)
        out.append(
            [
                a * ntc + b
                for a in range(i - 1, i + 2)
                for b in range(j - 1, j + 2)
                if 0 <= a < ntr and 0 <= b < ntc and (a, b) != (i, j)
            ]
        )
    return out


# ----------------------------------------------------------------------------- numba kernels


@njit(cache=True, nogil=True)
def _hpush(hk, hv, n, key, val):
    """Push (key, val) on the binary min-heap hk/hv of size n; returns the new size."""
    i = n
    hk[i] = key
    hv[i] = val
    while i > 0:
        p = (i - 1) >> 1
        if hk[p] <= hk[i]:
            break
        hk[p], hk[i] = hk[i], hk[p]
        hv[p], hv[i] = hv[i], hv[p]
        i = p
    return n + 1


@njit(cache=True, nogil=True)
def _hpop(hk, hv, n):
    """Pop the smallest key of the heap of size n; returns (key, val, new size)."""
    key = hk[0]
    val = hv[0]
    n -= 1
    if n > 0:
        hk[0] = hk[n]
        hv[0] = hv[n]
        i = 0
        while True:
            a = 2 * i + 1
            if a >= n:
                break
            b = a + 1
            m = b if b < n and hk[b] < hk[a] else a
            if hk[i] <= hk[m]:
                break
            hk[m], hk[i] = hk[i], hk[m]
            hv[m], hv[i] = hv[i], hv[m]
            i = m
    return key, val, n


@njit(cache=True, nogil=True)
def _flood_tile(zw):
    """Local priority flood of the tile ``zw[1:-1, 1:-1]`` (``zw`` has a one-cell halo, NaN off the grid).

    Returns the local water level W_loc [m] (float32, NaN = nodata), the labels
    (int32: 0 nodata, 1 ocean, ≥ 2 perimeter watersheds), the number of labels
    used (the next free label) and the label edges (a, b, weight [m]) with
    a < b and the lowest weight of each pair.
    """
    nr = zw.shape[0] - 2
    nc = zw.shape[1] - 2
    n = nr * nc
    w = np.empty((nr, nc), dtype=np.float32)
    lab = np.zeros((nr, nc), dtype=np.int32)
    closed = np.zeros(n, dtype=np.uint8)
    hk = np.empty(n, dtype=np.float32)
    hv = np.empty(n, dtype=np.int32)
    hn = 0
    pit = np.empty(n, dtype=np.int32)
    ph = 0
    pt = 0
    for r in range(nr):
        for c in range(nc):
            z = zw[r + 1, c + 1]
            w[r, c] = z
            if np.isnan(z):
                closed[r * nc + c] = 1
                continue
            outlet = False
            for k in range(8):
                if np.isnan(zw[r + 1 + _DR[k], c + 1 + _DC[k]]):
                    outlet = True
                    break
            if outlet or r == 0 or r == nr - 1 or c == 0 or c == nc - 1:
                if outlet:
                    lab[r, c] = 1
                closed[r * nc + c] = 1
                hn = _hpush(hk, hv, hn, z, r * nc + c)
    edges = Dict.empty(key_type=types.int64, value_type=types.float32)
    nlab = 2
    while ph < pt or hn > 0:
        if ph < pt:
            i = np.int64(pit[ph])
            ph += 1
        else:
            _, i32, hn = _hpop(hk, hv, hn)
            i = np.int64(i32)
        r = i // nc
        c = i - r * nc
        v = w[r, c]
        lc = lab[r, c]
        if lc == 0:  # a perimeter seed nobody flooded: a new watershed
            lc = nlab
            nlab += 1
            lab[r, c] = lc
        for k in range(8):
            rr = r + _DR[k]
            cc = c + _DC[k]
            if rr < 0 or rr >= nr or cc < 0 or cc >= nc or np.isnan(zw[rr + 1, cc + 1]):
                continue
            j = rr * nc + cc
            ln = lab[rr, cc]
            if closed[j] == 0:
                closed[j] = 1
                lab[rr, cc] = lc
                zn = zw[rr + 1, cc + 1]
                if zn <= v:
                    w[rr, cc] = v
                    pit[pt] = j
                    pt += 1
                else:
                    w[rr, cc] = zn
                    hn = _hpush(hk, hv, hn, zn, j)
            elif ln == 0:  # a perimeter seed still queued, at or above v: joins this watershed
                lab[rr, cc] = lc
            elif ln != lc:
                a = min(ln, lc)
                b = max(ln, lc)
                key = (np.int64(a) << 32) | np.int64(b)
                wt = max(v, w[rr, cc])
                if key not in edges or edges[key] > wt:
                    edges[key] = wt
    ne = len(edges)
    ea = np.empty(ne, dtype=np.int64)
    eb = np.empty(ne, dtype=np.int64)
    ew = np.empty(ne, dtype=np.float32)
    m = 0
    for key, wt in edges.items():
        ea[m] = key >> 32
        eb[m] = key & 0xFFFFFFFF
        ew[m] = wt
        m += 1  # noqa: SIM113 (numba: no enumerate over a typed dict)
    return w, lab, nlab, ea, eb, ew


@njit(cache=True, nogil=True)
def _spill(nnodes, eu, ev, ew):
    """Spill elevation [m] of every label node: minimax path weight from node 0 (the ocean), float64.

    Node 0 gets -inf; a node with no path keeps +inf.
    """
    deg = np.zeros(nnodes + 1, dtype=np.int64)
    for e in range(eu.size):
        deg[eu[e] + 1] += 1
        deg[ev[e] + 1] += 1
    for i in range(nnodes):
        deg[i + 1] += deg[i]
    adj = np.empty(deg[nnodes], dtype=np.int64)
    adjw = np.empty(deg[nnodes], dtype=np.float64)
    fillp = deg[:-1].copy()
    for e in range(eu.size):
        adj[fillp[eu[e]]] = ev[e]
        adjw[fillp[eu[e]]] = ew[e]
        fillp[eu[e]] += 1
        adj[fillp[ev[e]]] = eu[e]
        adjw[fillp[ev[e]]] = ew[e]
        fillp[ev[e]] += 1
    spill = np.full(nnodes, np.inf)
    spill[0] = -np.inf
    cap = adj.size + 1
    hk = np.empty(cap, dtype=np.float64)
    hv = np.empty(cap, dtype=np.int64)
    hn = _hpush(hk, hv, 0, -np.inf, 0)
    while hn > 0:
        key, u, hn = _hpop(hk, hv, hn)
        if key > spill[u]:
            continue
        for p in range(deg[u], deg[u + 1]):
            v = adj[p]
            cand = max(key, adjw[p])
            if cand < spill[v]:
                spill[v] = cand
                hn = _hpush(hk, hv, hn, cand, v)
    return spill


@njit(cache=True, nogil=True)
def _classify(zw2, extrapolate):
    """Routing class of the cells of ``zw2[1:-1, 1:-1]`` (the rule of ``routing_kernels.flat_distance``), int32.

    0: drains (a strictly lower valid neighbour, or with ``extrapolate`` a
    descent across a missing neighbour), -2: flat, -1: nodata. ``zw2`` holds
    the window with one more cell each side (NaN off the grid).
    """
    nr = zw2.shape[0] - 2
    nc = zw2.shape[1] - 2
    cls = np.empty((nr, nc), dtype=np.int32)
    for r in range(nr):
        for c in range(nc):
            zc = zw2[r + 1, c + 1]
            if np.isnan(zc):
                cls[r, c] = _NODATA
                continue
            drains = False
            for k in range(8):
                zn = zw2[r + 1 + _DR[k], c + 1 + _DC[k]]
                if not np.isnan(zn):
                    drains |= zn < zc
                elif extrapolate:
                    zo = zw2[r + 1 - _DR[k], c + 1 - _DC[k]]
                    if not np.isnan(zo):
                        drains |= zo > zc
            cls[r, c] = 0 if drains else _UNRESOLVED
    return cls


@njit(cache=True, nogil=True)
def _flat_bfs(zh, cls, d, phase):
    """Flat distances of the tile ``[1:-1, 1:-1]`` of a window with a one-cell halo, in place in ``d`` (int32).

    Phase 1: the steps to the nearest draining cell (class 0) of the same
    elevation through flat cells (class -2); phase 2: for the flat cells left
    at ``_INF`` by phase 1 (passed in ``d`` as ``_INF``, resolved ones as
    ``-3``), the steps to those of them with a missing neighbour (0). Halo
    cells of ``d`` hold the distances the neighbouring tiles have so far
    (``_INF`` where none); they seed the search with the tile's own sources:
    a breadth-first search whose queue (distances never decreasing) is merged
    with the halo seeds sorted by distance.
    """
    nr, nc = zh.shape
    grow = np.zeros((nr, nc), dtype=np.uint8)
    queue = np.empty(nr * nc, dtype=np.int32)
    qh = 0
    qt = 0
    for r in range(1, nr - 1):
        for c in range(1, nc - 1):
            if cls[r, c] != _UNRESOLVED:
                continue
            if phase == 1:
                grow[r, c] = 1
                d[r, c] = _INF
                for k in range(8):
                    rr = r + _DR[k]
                    cc = c + _DC[k]
                    if cls[rr, cc] == 0 and zh[rr, cc] == zh[r, c]:
                        d[r, c] = 1
                        queue[qt] = r * nc + c
                        qt += 1
                        break
            elif d[r, c] == _INF:
                grow[r, c] = 1
                for k in range(8):
                    if np.isnan(zh[r + _DR[k], c + _DC[k]]):
                        d[r, c] = 0
                        queue[qt] = r * nc + c
                        qt += 1
                        break
    # halo seeds: flat cells of the ring with a distance from the neighbouring tile
    seeds = np.empty(2 * (nr + nc), dtype=np.int64)
    nseed = 0
    for r in range(nr):
        step = 1 if r == 0 or r == nr - 1 else nc - 1
        for c in range(0, nc, step):
            if cls[r, c] == _UNRESOLVED and 0 <= d[r, c] < _INF:
                seeds[nseed] = r * nc + c
                nseed += 1
    seeds = seeds[:nseed]
    sd = np.empty(nseed, dtype=np.int64)
    for m in range(nseed):
        sd[m] = d[seeds[m] // nc, seeds[m] % nc]
    order = np.argsort(sd, kind="mergesort")
    s = 0
    while s < nseed or qh < qt:
        if qh < qt and (s >= nseed or d[queue[qh] // nc, queue[qh] % nc] <= sd[order[s]]):
            i = np.int64(queue[qh])
            qh += 1
            r = i // nc
            c = i - r * nc
            di = d[r, c]
        else:
            i = seeds[order[s]]
            di = sd[order[s]]
            s += 1
            r = i // nc
            c = i - r * nc
            if d[r, c] < di:
                continue
        for k in range(8):
            rr = r + _DR[k]
            cc = c + _DC[k]
            if 0 <= rr < nr and 0 <= cc < nc and grow[rr, cc] == 1 and zh[rr, cc] == zh[r, c] and d[rr, cc] > di + 1:
                d[rr, cc] = di + 1
                queue[qt] = rr * nc + cc
                qt += 1


@njit(cache=True, nogil=True)
def _halo_pairs(zh, cls):
    """Pairs (halo cell, tile cell) of a window, flat indices: both flat, 8-adjacent, of the same elevation.

    A lower distance on such a halo cell is the only way new halo values can
    change the tile's flat distances.
    """
    nr, nc = zh.shape
    hal = np.empty(8 * 2 * (nr + nc), dtype=np.int64)
    til = np.empty(8 * 2 * (nr + nc), dtype=np.int64)
    m = 0
    for r in range(nr):
        step = 1 if r == 0 or r == nr - 1 else nc - 1
        for c in range(0, nc, step):
            if cls[r, c] != _UNRESOLVED:
                continue
            for k in range(8):
                rr = r + _DR[k]
                cc = c + _DC[k]
                if 1 <= rr < nr - 1 and 1 <= cc < nc - 1 and cls[rr, cc] == _UNRESOLVED and zh[rr, cc] == zh[r, c]:
                    hal[m] = r * nc + c
                    til[m] = rr * nc + cc
                    m += 1
    return hal[:m].copy(), til[:m].copy()


@njit(cache=True, nogil=True)
def _compose_dist(cls, d1, d2):
    """The ``flat_distance`` classes: 0 drains, -1 nodata, phase-1 or phase-2 steps, -2 unresolved; int32."""
    out = cls.copy()
    nr, nc = cls.shape
    for r in range(nr):
        for c in range(nc):
            if cls[r, c] == _UNRESOLVED:
                if 0 <= d1[r, c] < _INF:
                    out[r, c] = d1[r, c]
                elif 0 <= d2[r, c] < _INF:
                    out[r, c] = d2[r, c]
    return out


@njit(cache=True, nogil=True)
def _d8_accumulate(d8, extra):
    """D8 accumulation [cells] inside one tile, each valid cell counting 1 + ``extra`` (its inflow), float64.

    Returns the accumulation (NaN on nodata), the in-tile receiver of each
    cell (flat index, -1 at pits, nodata and where flow leaves the tile) and
    the flat index of the exit cell each cell's flow reaches (its own index
    for an exit, -1 where the path ends at a pit in the tile).
    """
    nr, nc = d8.shape
    n = nr * nc
    recv = np.full(n, -1, dtype=np.int32)
    ndon = np.zeros(n, dtype=np.uint8)
    acc = np.empty(n, dtype=np.float64)
    leaves = np.zeros(n, dtype=np.uint8)
    for r in range(nr):
        for c in range(nc):
            i = r * nc + c
            code = d8[r, c]
            if code == _D8_NODATA:
                acc[i] = np.nan
                continue
            acc[i] = 1.0 + extra[r, c]
            k = _CODE_K[code]
            if k < 0:
                continue
            rr = r + _DR[k]
            cc = c + _DC[k]
            if 0 <= rr < nr and 0 <= cc < nc:
                recv[i] = rr * nc + cc
                ndon[rr * nc + cc] += 1
            else:
                leaves[i] = 1
    order = np.empty(n, dtype=np.int32)
    stack = np.empty(n, dtype=np.int32)
    m = 0
    for i0 in range(n):
        if ndon[i0] != 0 or np.isnan(acc[i0]):
            continue
        stack[0] = i0
        top = 1
        while top > 0:
            top -= 1
            i = stack[top]
            ndon[i] = 255  # done
            order[m] = i
            m += 1
            j = recv[i]
            if j >= 0:
                acc[j] += acc[i]
                ndon[j] -= 1
                if ndon[j] == 0:
                    stack[top] = j
                    top += 1
    exit_of = np.full(n, -1, dtype=np.int32)
    for p in range(m - 1, -1, -1):
        i = order[p]
        if leaves[i]:
            exit_of[i] = i
        elif recv[i] >= 0:
            exit_of[i] = exit_of[recv[i]]
    return acc.reshape((nr, nc)), exit_of, leaves


@njit(cache=True, nogil=True)
def _exit_outflows(own, down):
    """Total outflow [cells] of every exit: its own count plus the outflows of the exits draining into it.

    ``down[x]`` is the exit that exit x's flow reaches next (-1: none); the
    exit graph is acyclic (a D8 graph).
    """
    n = own.size
    ndon = np.zeros(n, dtype=np.int64)
    for x in range(n):
        if down[x] >= 0:
            ndon[down[x]] += 1
    total = own.copy()
    stack = np.empty(n, dtype=np.int64)
    top = 0
    for x in range(n):
        if ndon[x] == 0:
            stack[top] = x
            top += 1
    done = 0
    while top > 0:
        top -= 1
        x = stack[top]
        done += 1
        y = down[x]
        if y >= 0:
            total[y] += total[x]
            ndon[y] -= 1
            if ndon[y] == 0:
                stack[top] = y
                top += 1
    return total, done


@njit(cache=True, nogil=True)
def _hand_tile(d8, zw, drain, base):
    """Height above the nearest drain [m] inside one tile along its D8 paths (Nobre et al. 2011), float64.

    ``zw`` is the surface with a one-cell halo; ``base`` [m] is the HAND of
    the receiver outside the tile of each cell whose flow leaves it. The
    recursion of ``routing_kernels.hand_along_d8``, downstream first: 0 on
    drains and pits, else the receiver's HAND plus the drop to it. Returns
    HAND (NaN on nodata) and the flat index of the cell where each cell's
    path leaves the tile (-1 where it ends at a drain or pit).
    """
    nr, nc = d8.shape
    n = nr * nc
    recv = np.full(n, -1, dtype=np.int32)
    ndon = np.zeros(n, dtype=np.uint8)
    valid = np.zeros(n, dtype=np.uint8)
    for r in range(nr):
        for c in range(nc):
            code = d8[r, c]
            if code == _D8_NODATA:
                continue
            i = r * nc + c
            valid[i] = 1
            k = _CODE_K[code]
            if k < 0:
                continue
            rr = r + _DR[k]
            cc = c + _DC[k]
            if 0 <= rr < nr and 0 <= cc < nc:
                recv[i] = rr * nc + cc
                ndon[rr * nc + cc] += 1
    order = np.empty(n, dtype=np.int32)
    stack = np.empty(n, dtype=np.int32)
    m = 0
    for i0 in range(n):
        if ndon[i0] != 0 or valid[i0] == 0:
            continue
        stack[0] = i0
        top = 1
        while top > 0:
            top -= 1
            i = stack[top]
            ndon[i] = 255
            order[m] = i
            m += 1
            j = recv[i]
            if j >= 0:
                ndon[j] -= 1
                if ndon[j] == 0:
                    stack[top] = j
                    top += 1
    hand = np.full(n, np.nan)
    exit_of = np.full(n, -1, dtype=np.int32)
    for p in range(m - 1, -1, -1):
        i = order[p]
        r = i // nc
        c = i - r * nc
        k = _CODE_K[d8[r, c]]
        if drain[r, c] or k < 0:
            hand[i] = 0.0
        elif recv[i] >= 0:
            j = recv[i]
            rj = j // nc
            hand[i] = hand[j] + (np.float64(zw[r + 1, c + 1]) - np.float64(zw[rj + 1, j - rj * nc + 1]))
            exit_of[i] = exit_of[j]
        else:
            hand[i] = base[r, c] + (np.float64(zw[r + 1, c + 1]) - np.float64(zw[r + 1 + _DR[k], c + 1 + _DC[k]]))
            exit_of[i] = i
    return hand.reshape((nr, nc)), exit_of


@njit(cache=True, nogil=True)
def _chain_sum(local, link):
    """total[y] = local[y] + total[link[y]] along acyclic links (-1: end), downstream first; float64."""
    n = local.size
    total = np.full(n, np.nan)
    stack = np.empty(n, dtype=np.int64)
    for y0 in range(n):
        if not np.isnan(total[y0]):
            continue
        top = 0
        y = y0
        while y >= 0 and np.isnan(total[y]):
            stack[top] = y
            top += 1
            y = link[y]
        below = 0.0 if y < 0 else total[y]
        while top > 0:
            top -= 1
            y = stack[top]
            below = local[y] + below
            total[y] = below
    return total


# ----------------------------------------------------------------------------- tiled fill


def tiled_fill(
    dem: Any,
    tile: int | tuple[int, int] = 1024,
    out: Any = None,
    workdir: str | os.PathLike[str] | None = None,
) -> Any:
    """Depression-filled DEM [m] by tiles (Barnes 2016), equal to ``pyflwdir.dem.fill_depressions(dem, nodata=nan)``.

    Outlets are the valid cells on the grid border or next to nodata, as in
    :func:`susmap.factors.hydrology.filled_dem` (Wang & Liu 2006). Memory: one
    tile with a one-cell halo plus the tile edges; disk: 8 bytes a cell in a
    temporary directory (under ``workdir``), removed at the end.

    Parameters
    ----------
    dem : numpy or dask array, raster path or TileReader
        Elevations [m], NaN (or the raster's nodata) = nodata.
    tile : int or (int, int), default=1024
        Tile size [cells].
    out : array-like, optional
        Where to write the result, by tiles (``out[r0:r1, c0:c1] = block``):
        a numpy array or memmap, a :class:`RasterWriter`, ...; by default a
        new float32 numpy array.
    workdir : path, optional
        Parent of the temporary directory.

    Returns
    -------
    ``out`` (float32 filled elevations [m], NaN = nodata).
    """
    reader = as_tile_reader(dem)
    shape = reader.shape
    windows = tiles(shape, tile)
    out = tile_output(out, shape)
    lab_lines = _Lines(shape, windows, -1, np.int64)
    z_lines = _Lines(shape, windows, np.nan, np.float32)
    eu: list[np.ndarray] = []
    ev: list[np.ndarray] = []
    ew: list[np.ndarray] = []
    nnodes = 1  # node 0: the ocean
    with tempfile.TemporaryDirectory(prefix="susmap-fill-", dir=workdir) as tmp:
        maps = []

        def flood(window: tuple[int, int, int, int]) -> tuple[np.ndarray, tuple]:
            r0, r1, c0, c1 = window
            zw = read_padded(reader, r0 - 1, r1 + 1, c0 - 1, c1 + 1)
            return zw, _flood_tile(zw)

        for t, ((r0, r1, c0, c1), (zw, flooded)) in enumerate(zip(windows, tile_map(flood, windows), strict=True)):
            w, lab, nlab, ea, eb, wt = flooded
            # global label: 0 ocean, local l >= 2 -> nnodes + l - 2; -1 nodata
            lut = np.arange(-1, nlab - 1, dtype=np.int64) + (nnodes - 1)
            lut[0] = -1
            lut[1] = 0
            maps.append(lut)
            glab = lut[lab]
            eu.append(lut[ea])
            ev.append(lut[eb])
            ew.append(wt)
            nnodes += nlab - 2
            lab_lines.put((r0, r1, c0, c1), glab)
            z_lines.put((r0, r1, c0, c1), zw[1:-1, 1:-1])
            np.save(Path(tmp, f"w{t}.npy"), w)
            np.save(Path(tmp, f"l{t}.npy"), lab)
        # cross-tile edges: 8-connected cells on either side of every tile seam
        for lines_lab, lines_z, bounds in (
            (lab_lines.rows, z_lines.rows, sorted({w[0] for w in windows} - {0})),
            (lab_lines.cols, z_lines.cols, sorted({w[2] for w in windows} - {0})),
        ):
            for b in bounds:
                la, lb, za, zb = lines_lab[b - 1], lines_lab[b], lines_z[b - 1], lines_z[b]
                for off in (-1, 0, 1):
                    sa = slice(max(0, -off), la.size - max(0, off))
                    sb = slice(max(0, off), la.size - max(0, -off))
                    a, bb = la[sa], lb[sb]
                    ok = (a >= 0) & (bb >= 0) & (a != bb)
                    eu.append(a[ok])
                    ev.append(bb[ok])
                    ew.append(np.maximum(za[sa][ok], zb[sb][ok]))
        spill = _spill(
            nnodes,
            np.concatenate(eu).astype(np.int64),
            np.concatenate(ev).astype(np.int64),
            np.concatenate(ew).astype(np.float64),
        ).astype(np.float32)
        del eu, ev, ew, lab_lines, z_lines

        def raise_tile(t: int) -> np.ndarray:
            r0, r1, c0, c1 = windows[t]
            w = np.load(Path(tmp, f"w{t}.npy"))
            lab = np.load(Path(tmp, f"l{t}.npy"))
            z = read_padded(reader, r0, r1, c0, c1)
            level = np.maximum(w, spill[maps[t][lab]])  # nodata (label 0 -> -1) reads spill[-1]; w is NaN there
            return np.where(level > z, z + (level - z), z)

        _store_tiles(out, windows, tile_map(raise_tile, range(len(windows))))
    return out


# ----------------------------------------------------------------------------- tiled D8 accumulation


class FlatSolver:
    """Flat distances of every tile by exchange of halo distances to convergence (both phases).

    Each solve remembers the halo values it used next to the tile's own flats;
    a tile is solved again only when one of those changed. Distances are not
    kept: the last pass solves each tile once more with the final halos.
    """

    def __init__(
        self,
        reader: TileReader,
        windows: list[tuple[int, int, int, int]],
        tile: tuple[int, int],
        extrapolate: bool,
    ):
        self.reader = reader
        self.windows = windows
        self.extrapolate = extrapolate
        self.around = _neighbours(windows, tile, reader.shape)
        n = len(windows)
        self.lines = (_Lines(reader.shape, windows, _INF, np.int32), _Lines(reader.shape, windows, _INF, np.int32))
        self.has = (np.zeros(n, dtype=bool), np.zeros(n, dtype=bool))  # tiles with flats of phase 1 / phase 2
        self.used: tuple[dict[int, tuple[np.ndarray, np.ndarray]], ...] = ({}, {})
        self.rounds = [0, 0]
        self.solves = [0, 0]

    def window(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """The surface (tile + 1-cell halo, C-contiguous) and its classes."""
        r0, r1, c0, c1 = self.windows[t]
        zw2 = read_padded(self.reader, r0 - 2, r1 + 2, c0 - 2, c1 + 2)
        return np.ascontiguousarray(zw2[1:-1, 1:-1]), _classify(zw2, self.extrapolate)

    def _halo(self, t: int, phase: int, shape: tuple[int, int]) -> np.ndarray:
        d = np.full(shape, _INF, dtype=np.int32)
        self.lines[phase - 1].halo(self.windows[t], d)
        return d

    def _solve(self, t: int, phase: int, zh: np.ndarray, cls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Phase-1 distances of tile t's window with the current halo, and with ``phase`` 2 the phase-2 ones."""
        d1 = self._halo(t, 1, zh.shape)
        if phase == 1:
            self.used[0][t] = _halo_pairs(zh, cls)
        if self.has[0][t]:
            _flat_bfs(zh, cls, d1, 1)
            self.solves[0] += phase == 1
        d2 = self._halo(t, 2, zh.shape)
        if phase == 2:
            self.used[1][t] = _halo_pairs(zh, cls)
            d2[(d1 < _INF) | (cls != _UNRESOLVED)] = -3  # resolved in phase 1, or not flat
            if self.has[1][t]:
                _flat_bfs(zh, cls, d2, 2)
                self.solves[1] += 1
        return d1, d2

    def _changed(self, t: int, phase: int) -> bool:
        """True if a halo distance of tile t is now low enough to shorten a path into the tile."""
        hal, til = self.used[phase - 1][t]
        r0, r1, c0, c1 = self.windows[t]
        d = self._halo(t, phase, (r1 - r0 + 2, c1 - c0 + 2))
        self.lines[phase - 1].ring((r0, r1, c0, c1), d)
        d = d.ravel()
        return bool(np.any(d[hal].astype(np.int64) + 1 < d[til]))

    def converge(self) -> None:
        """Iterate each phase until no halo distance next to a flat changes.

        Gauss-Seidel over the tiles, sweeping forward and backward in turn, so a
        flat crossing many tiles needs few rounds in any direction.
        """
        n = len(self.windows)
        for phase in (1, 2):
            todo = list(range(n)) if phase == 1 else [int(t) for t in np.flatnonzero(self.has[0])]
            first = True
            while todo:
                self.rounds[phase - 1] += 1
                nxt: set[int] = set()
                # reading and classifying a window needs no halo: done ahead on the tile threads
                for t, (zh, cls) in zip(todo, tile_map(self.window, todo), strict=True):
                    if first and phase == 1:
                        self.has[0][t] = bool((cls[1:-1, 1:-1] == _UNRESOLVED).any())
                        if not self.has[0][t]:
                            continue
                    d1, d2 = self._solve(t, phase, zh, cls)
                    if first and phase == 2:
                        self.has[1][t] = bool(((cls == _UNRESOLVED) & (d1 == _INF))[1:-1, 1:-1].any())
                        if not self.has[1][t]:
                            continue
                        _flat_bfs(zh, cls, d2, 2)
                        self.solves[1] += 1
                    inner = (d1 if phase == 1 else d2)[1:-1, 1:-1].copy()
                    inner[inner < 0] = _INF
                    if self.lines[phase - 1].put(self.windows[t], inner):
                        nxt.update(self.around[t])
                todo = sorted(
                    (u for u in nxt if self.has[phase - 1][u] and self._changed(u, phase)),
                    reverse=self.rounds[phase - 1] % 2 == 1,
                )
                first = False

    def dist(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """The surface (tile + halo) and the ``flat_distance`` classes of tile t with its halo, int32."""
        zh, cls = self.window(t)
        d1, d2 = self._solve(t, 0, zh, cls)
        if self.has[1][t]:
            d2[(d1 < _INF) | (cls != _UNRESOLVED)] = -3
            _flat_bfs(zh, cls, d2, 2)
        return zh, _compose_dist(cls, d1, d2)


def tiled_d8_accumulation(
    surface: Any,
    tile: int | tuple[int, int] = 1024,
    out: Any = None,
    extrapolate: bool = True,
    workdir: str | os.PathLike[str] | None = None,
    directions: Any = None,
) -> Any:
    """D8 flow accumulation [cells] by tiles (Barnes 2017), equal to the whole-grid D8 of :mod:`hydrology`.

    Directions are those of :func:`susmap.factors.routing_kernels.d8_directions`
    on the flat classes of :func:`susmap.factors.routing_kernels.flat_distance`
    (flats drain along the steps to their outlet, Garbrecht & Martz 1997),
    accumulated as :meth:`pyflwdir.FlwdirRaster.upstream_area` with
    ``unit="cell"`` does: each valid cell counts itself. Pass the filled DEM
    (:func:`tiled_fill`) for hydrology's ``fill=True`` routing, the DEM for
    ``fill=False``. Memory: one tile with a two-cell halo plus the tile edges;
    disk: 1 byte a cell.

    Parameters
    ----------
    surface : numpy or dask array, raster path or TileReader
        Routing surface [m], NaN = nodata.
    tile : int or (int, int), default=1024
        Tile size [cells].
    out : array-like, optional
        Where to write the result by tiles; by default a new float32 array.
    extrapolate : bool, default=True
        hydrology's ``outflow="extrapolate"`` (True) or ``"outlets"`` (False).
    workdir : path, optional
        Parent of the temporary directory.
    directions : array-like, optional
        Where to write the D8 directions too, by tiles (pyflwdir codes: E 1,
        SE 2, S 4, SW 8, W 16, NW 32, N 64, NE 128, pit 0, nodata 247), for
        :func:`tiled_hand`.

    Returns
    -------
    ``out``: accumulation [cells] (float32), NaN on nodata.
    """
    reader = as_tile_reader(surface)
    shape = reader.shape
    size = tile_shape(tile)
    windows = tiles(shape, size)
    out = tile_output(out, shape)
    tmpdir = tempfile.TemporaryDirectory(prefix="susmap-d8-", dir=workdir)
    with tmpdir as tmp:
        return _d8_tiles(reader, windows, size, bool(extrapolate), out, tmp, directions)


def _d8_tiles(
    reader: TileReader,
    windows: list[tuple[int, int, int, int]],
    size: tuple[int, int],
    extrapolate: bool,
    out: Any,
    tmp: str,
    directions: Any,
) -> Any:
    """The passes of :func:`tiled_d8_accumulation` with its temporary directory ``tmp``."""
    shape = reader.shape
    flats = FlatSolver(reader, windows, size, extrapolate)
    flats.converge()
    ncol = shape[1]
    ex_cell: list[np.ndarray] = []  # exits: global cell, global receiver, count inside the tile
    ex_recv: list[np.ndarray] = []
    ex_own: list[np.ndarray] = []
    en_cell: list[np.ndarray] = []  # perimeter cells: global cell and the global exit their flow reaches
    en_exit: list[np.ndarray] = []

    def route(t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        zh, dist = flats.dist(t)
        d8 = np.ascontiguousarray(d8_directions(zh, dist, bool(extrapolate))[1:-1, 1:-1])
        return (d8, *_d8_accumulate(d8, np.zeros(d8.shape)))

    for t, ((r0, _r1, c0, _c1), (d8, acc, exit_of, leaves)) in enumerate(
        zip(windows, tile_map(route, range(len(windows))), strict=True)
    ):
        np.save(Path(tmp, f"d{t}.npy"), d8)
        nc = d8.shape[1]
        ii = np.flatnonzero(leaves)
        rr, cc = np.divmod(ii, nc)
        k = _CODE_K[d8.ravel()[ii]]
        ex_cell.append((rr + r0) * ncol + cc + c0)
        ex_recv.append((rr + r0 + _DR[k]) * ncol + cc + c0 + _DC[k])
        ex_own.append(acc.ravel()[ii])
        pi, pr, pc = _valid_perimeter(d8)
        en_cell.append((pr + r0) * ncol + pc + c0)
        e = exit_of[pi].astype(np.int64)
        er, ec = np.divmod(e, nc)
        en_exit.append(np.where(e >= 0, (er + r0) * ncol + ec + c0, -1))
    cells = np.concatenate(ex_cell)
    recv = np.concatenate(ex_recv)
    own = np.concatenate(ex_own)
    ent = np.concatenate(en_cell)
    ent_exit = np.concatenate(en_exit)
    del ex_cell, ex_recv, ex_own, en_cell, en_exit
    eo = np.argsort(ent)
    ent, ent_exit = ent[eo], ent_exit[eo]
    xo = np.argsort(cells)
    cells, recv, own = cells[xo], recv[xo], own[xo]
    # the exit each exit's flow reaches next: through its receiver (a perimeter cell of another tile)
    nxt_cell = ent_exit[np.searchsorted(ent, recv)]
    down = np.where(nxt_cell >= 0, np.searchsorted(cells, np.maximum(nxt_cell, 0)), -1)
    total, done = _exit_outflows(own, down)
    if done != cells.size:
        raise RuntimeError(f"tiled D8 routing ordered {done} of {cells.size} tile exits; please report this")
    inflow_cell, idx = np.unique(recv, return_inverse=True)
    inflow = np.bincount(idx, weights=total, minlength=inflow_cell.size)
    inflow_rc = np.divmod(inflow_cell, ncol)

    def accumulate(t: int) -> tuple[np.ndarray, np.ndarray]:
        r0, r1, c0, c1 = windows[t]
        d8 = np.load(Path(tmp, f"d{t}.npy"))
        extra = np.zeros(d8.shape)
        sel = (inflow_rc[0] >= r0) & (inflow_rc[0] < r1) & (inflow_rc[1] >= c0) & (inflow_rc[1] < c1)
        extra[inflow_rc[0][sel] - r0, inflow_rc[1][sel] - c0] = inflow[sel]
        return d8, _d8_accumulate(d8, extra)[0].astype(np.float32)

    for (r0, r1, c0, c1), (d8, acc) in zip(windows, tile_map(accumulate, range(len(windows))), strict=True):
        if directions is not None:
            directions[r0:r1, c0:c1] = d8
        out[r0:r1, c0:c1] = acc
    return out


# ----------------------------------------------------------------------------- indices from tiled results


def tiled_flow_index(
    surface: Any,
    accumulation: Any,
    cellsize: float,
    index: str = "twi",
    tile: int | tuple[int, int] = 1024,
    out: Any = None,
    min_slope: float = 1e-3,
    area_exponent: float = 0.6,
    slope_exponent: float = 1.3,
) -> Any:
    """TWI [ln(m)], SPI [m] or LS [1] by tiles from a routing surface and its accumulation [cells].

    The float32 operations of :mod:`susmap.factors.hydrology`, tile by tile:
    a = accumulation × cellsize [m]; tan β from
    :func:`susmap.factors.routing_kernels.tan_slope` (Horn 1981) on the tile
    with a one-cell halo, so it equals the whole-grid slope; then
    ``"twi"``: ln(a / max(tan β, ``min_slope``)) (Beven & Kirkby 1979),
    ``"spi"``: a · tan β (Moore et al. 1991), ``"ls"``: (a / 22.13)^m ·
    (sin β / 0.0896)^n (Moore & Burch 1986). With the tiled filled DEM and
    its tiled D8 accumulation this equals hydrology's ``method="d8",
    fill=True`` indices bit for bit.

    Parameters
    ----------
    surface : numpy or dask array, raster path or TileReader
        Routing surface [m] (the filled DEM), NaN = nodata.
    accumulation : numpy or dask array, raster path or TileReader
        Flow accumulation [cells] over ``surface`` (:func:`tiled_d8_accumulation`).
    cellsize : float
        Cell size [m] (projected grid).
    index : {"twi", "spi", "ls"}, default="twi"
    tile : int or (int, int), default=1024
        Tile size [cells].
    out : array-like, optional
        Where to write the result by tiles; by default a new float32 array.
    min_slope : float, default=0.001
        Lower bound of tan β [m/m] in TWI.
    area_exponent, slope_exponent : float, default=0.6, 1.3
        Exponents m and n of LS.

    Returns
    -------
    ``out`` (float32, NaN on nodata).
    """
    if index not in INDICES:
        raise SusmapError(f"the 'index' of tiled_flow_index must be one of {', '.join(INDICES)}; got {index!r}")
    for name, value in (
        ("cellsize", cellsize),
        ("min_slope", min_slope),
        ("area_exponent", area_exponent),
        ("slope_exponent", slope_exponent),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value) or value <= 0:
            raise SusmapError(f"the {name!r} of tiled_flow_index must be a positive number; got {value!r}")
    zreader = as_tile_reader(surface)
    areader = as_tile_reader(accumulation)
    if tuple(areader.shape) != tuple(zreader.shape):
        raise SusmapError(f"the accumulation's shape {areader.shape} differs from the surface's {zreader.shape}")
    shape = zreader.shape
    out = tile_output(out, shape)
    windows = tiles(shape, tile)

    def index_tile(window: tuple[int, int, int, int]) -> np.ndarray:
        r0, r1, c0, c1 = window
        tanb = tan_slope(read_padded(zreader, r0 - 1, r1 + 1, c0 - 1, c1 + 1), float(cellsize))[1:-1, 1:-1]
        acc = areader.read(r0, r1, c0, c1)
        if index == "twi":
            val = acc * np.float32(cellsize)
            val /= np.maximum(tanb, np.float32(min_slope))
            np.log(val, out=val)
        elif index == "spi":
            val = acc * np.float32(cellsize)
            val *= tanb
        else:
            val = acc * np.float32(cellsize / 22.13)
            np.power(val, np.float32(area_exponent), out=val)
            sinb = np.hypot(tanb, np.float32(1.0))
            np.divide(tanb, sinb, out=sinb)
            sinb /= np.float32(0.0896)
            np.power(sinb, np.float32(slope_exponent), out=sinb)
            val *= sinb
        return val

    return _store_tiles(out, windows, tile_map(index_tile, windows))


def tiled_hand(
    surface: Any,
    directions: Any,
    accumulation: Any,
    threshold: float,
    tile: int | tuple[int, int] = 1024,
    out: Any = None,
) -> Any:
    """Height above the nearest drainage, HAND [m] (Nobre et al. 2011), by tiles.

    Drains are the cells whose accumulation reaches ``threshold`` [cells]
    (hydrology's streams: D8 over the filled DEM); HAND is the drop along the
    D8 path (``directions`` from :func:`tiled_d8_accumulation`) to the first
    drain, or to the pit where the path ends, as
    :func:`susmap.factors.hydrology.height_above_nearest_drainage`. Pass 1
    gives, for every perimeter cell, its HAND inside the tile or its drop to
    the receiver where its path leaves the tile; a global step sums those
    drops along the chain of tiles (downstream first); pass 2 starts each
    tile's recursion from the HAND of the receivers outside it. Sums are
    associated per tile, so values equal the whole-grid ones to float64
    rounding (stored as float32).

    Parameters
    ----------
    surface : numpy or dask array, raster path or TileReader
        The filled DEM [m], NaN = nodata.
    directions : numpy or dask array, raster path or TileReader
        D8 directions (pyflwdir codes) of ``surface``.
    accumulation : numpy or dask array, raster path or TileReader
        D8 accumulation [cells] of ``surface``.
    threshold : float
        Smallest accumulation of a drain [cells].
    tile : int or (int, int), default=1024
        Tile size [cells].
    out : array-like, optional
        Where to write the result by tiles; by default a new float32 array.

    Returns
    -------
    ``out``: HAND [m] (float32), 0 on drains, NaN on nodata.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not threshold > 0:
        raise SusmapError(f"the 'threshold' of tiled_hand must be a positive number of cells; got {threshold!r}")
    zreader, dreader, areader = as_tile_reader(surface), as_tile_reader(directions), as_tile_reader(accumulation)
    shape = zreader.shape
    if tuple(dreader.shape) != shape or tuple(areader.shape) != shape:
        raise SusmapError(
            f"tiled_hand: surface {shape}, directions {dreader.shape} and accumulation {areader.shape} differ"
        )
    windows = tiles(shape, tile)
    out = tile_output(out, shape)
    ncol = shape[1]

    def tile_inputs(w: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r0, r1, c0, c1 = w
        d8 = np.ascontiguousarray(dreader.read(r0, r1, c0, c1).astype(np.uint8))
        zw = read_padded(zreader, r0 - 1, r1 + 1, c0 - 1, c1 + 1)
        with np.errstate(invalid="ignore"):
            drain = areader.read(r0, r1, c0, c1) >= np.float32(threshold)
        return d8, zw, drain

    cells: list[np.ndarray] = []  # perimeter cells: global index, local HAND or drop sum, global next perimeter cell
    local: list[np.ndarray] = []
    link: list[np.ndarray] = []

    def first_pass(w: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        d8, zw, drain = tile_inputs(w)
        return (d8, *_hand_tile(d8, zw, drain, np.zeros(d8.shape)))

    for (r0, _r1, c0, _c1), (d8, hand, exit_of) in zip(windows, tile_map(first_pass, windows), strict=True):
        nc = d8.shape[1]
        pi, pr, pc = _valid_perimeter(d8)
        cells.append((pr + r0) * ncol + pc + c0)
        local.append(hand.ravel()[pi])
        e = exit_of[pi].astype(np.int64)
        er, ec = np.divmod(np.maximum(e, 0), nc)
        k = _CODE_K[d8[er, ec]]
        link.append(np.where(e >= 0, (er + r0 + _DR[k]) * ncol + ec + c0 + _DC[k], -1))
    gcell = np.concatenate(cells)
    order = np.argsort(gcell)
    gcell = gcell[order]
    glocal = np.concatenate(local)[order]
    glink = np.concatenate(link)[order]
    del cells, local, link
    nxt = np.where(glink >= 0, np.searchsorted(gcell, np.maximum(glink, 0)), -1)
    total = _chain_sum(glocal, nxt)

    def second_pass(w: tuple[int, int, int, int]) -> np.ndarray:
        r0, _r1, c0, _c1 = w
        d8, zw, drain = tile_inputs(w)
        nr, nc = d8.shape
        base = np.zeros((nr, nc))
        k = _CODE_K[d8]
        rr = np.arange(nr)[:, None] + _DR[k]
        cc = np.arange(nc)[None, :] + _DC[k]
        er, ec = np.nonzero((k >= 0) & ((rr < 0) | (rr >= nr) | (cc < 0) | (cc >= nc)))  # flow leaves the tile
        recv = (rr[er, ec] + r0) * ncol + cc[er, ec] + c0
        base[er, ec] = total[np.searchsorted(gcell, recv)]
        del k, rr, cc
        return _hand_tile(d8, zw, drain, base)[0].astype(np.float32)

    return _store_tiles(out, windows, tile_map(second_pass, windows))
