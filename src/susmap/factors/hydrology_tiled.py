"""The hydrology factors by tiles (``tiled: true``): memory bounded by a tile, intermediates on disk.

:mod:`susmap.factors.hydrology` calls these with ``tiled=True``. The routing
runs tile by tile through :mod:`susmap.factors.tiled_routing` (filling,
Barnes 2016; D8 accumulation, Barnes 2017; indices; HAND) and
:mod:`susmap.factors.tiled_mfd` (MFD and Quinn accumulation), reading the
DEM (the context's lazy dask array) window by window. Intermediates (the
filled DEM, each accumulation, the D8 directions) and results are float32
GeoTIFFs in the context's work folder (:attr:`FactorContext.workdir`, or a
temporary folder kept for the context's life), memoised in ``ctx.cache`` as
the whole-grid intermediates are, so TWI, SPI, streams and HAND of one study
share one filled DEM and one accumulation. Each factor returns a lazy dask
array reading its raster (or computing its chunks from windows of the
rasters), so the factor writer copies it chunk by chunk.

On a dask.distributed cluster (dask's scheduler is a client's ``get``, as
:func:`susmap.stages.compute.dask_scheduler` sets it), each tiled pass runs
as one task on a worker (:func:`on_cluster_or_here`), on that worker's
threads (:func:`~susmap.factors.tiled_routing.tile_map`), so the client holds
none of the routing. The task gets file-based arguments only: the DEM is
first written once as a float32 GeoTIFF in the work folder (``dem.tif``, by a
worker task storing ``ctx.dem.data`` window by window), and every pass reads
rasters by path and writes its own (paths and a CRS/transform profile cross
the wire, no open file). The work folder must then be on the filesystem the
workers share (:mod:`susmap.factors.derive` puts it in the output folder).
Locally the routines run in this process, on the DEM's lazy array, as
before.

Tile size: the multiple of the study's chunk size nearest to
:data:`TILE_CELLS` (1024) cells, at least one chunk: 1024 for chunks of
256, 512 or 1024, 2048 for chunks of 2048. Memory: one tile with its halo
(about 60 bytes a cell of the tile for the routing) plus the tile edges.

Results equal the whole-grid factors (``tiled=False``): bit for bit for the
filled DEM (positive elevations, see :mod:`susmap.factors.tiled_routing`),
D8 accumulation and the areas, TWI, SPI and LS, streams and drainage
density; HAND and MFD to float rounding. ``distance_to_stream`` is capped:
min(EDT, ``max_distance_m``), exact up to the cap.
"""

from __future__ import annotations

import math
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import rasterio
from dask.base import tokenize
from numba import njit
from scipy import ndimage

from susmap.factors import routing_kernels as k
from susmap.factors.factor_writer import WRITE_CACHE_BYTES
from susmap.factors.registry import FactorContext
from susmap.factors.tiled_mfd import tiled_mfd_accumulation
from susmap.factors.tiled_routing import (
    RasterTiles,
    RasterWriter,
    tiled_d8_accumulation,
    tiled_fill,
    tiled_flow_index,
    tiled_hand,
    tiles,
)

__all__ = [
    "TILE_CELLS",
    "accumulation",
    "directions",
    "distance_to_stream",
    "drainage_density",
    "filled",
    "flow_index",
    "hand",
    "lazy",
    "on_cluster_or_here",
    "stream_values",
    "surface",
    "tile_size",
]

TILE_CELLS = 1024  # target tile size [cells]; the tile is the nearest multiple of the chunk size
_D8_NODATA = 247


def tile_size(ctx: FactorContext) -> int:
    """Tile size [cells]: the multiple of ``ctx.chunks`` nearest to :data:`TILE_CELLS`, at least one chunk."""
    return int(ctx.chunks) * max(1, round(TILE_CELLS / int(ctx.chunks)))


def _workdir(ctx: FactorContext) -> Path:
    """Where the tiled rasters go: ``ctx.workdir``, or a temporary folder kept in ``ctx.cache``."""
    if ctx.workdir is not None:
        Path(ctx.workdir).mkdir(parents=True, exist_ok=True)
        return Path(ctx.workdir)
    tmp = ctx.memo("hydrology:tiled:tmpdir", lambda: tempfile.TemporaryDirectory(prefix="susmap-hydrology-"))
    return Path(tmp.name)


def _path(ctx: FactorContext, key: str) -> Path:
    """The raster file of cache key ``key`` in the work folder."""
    return _workdir(ctx) / (re.sub(r"[^\w.+-]+", "_", key) + ".tif")


def _bounded_gdal_cache() -> rasterio.Env:
    """GDAL's block cache capped at 64 MB while a tiled routine runs.

    Each tile is read and written once, so a larger cache holds nothing
    useful; uncapped (5 % of the RAM) it grew the tiled TWI's peak from 615 to
    1,617 MB between 4,000² and 8,000² grids.
    """
    return rasterio.Env(GDAL_CACHEMAX=WRITE_CACHE_BYTES)


def _profile(ctx: FactorContext) -> dict[str, Any]:
    """The georeferencing of the tiled rasters (picklable: a CRS and an affine transform)."""
    return {"crs": ctx.grid.crs, "transform": ctx.grid.transform}


def _cluster_client() -> Any:
    """The dask.distributed client that is dask's scheduler in this thread, or None.

    A client is the scheduler when ``dask.config``'s ``scheduler`` is its
    ``get`` (:func:`susmap.stages.compute.dask_scheduler`), or is
    ``"dask.distributed"`` with a default client (``Client()`` made as
    default). distributed is imported only when it is already loaded (it is
    the optional extra ``cluster``). None inside a worker's task: a task
    waiting on another task of its own cluster could hold the last thread.
    """
    scheduler = dask.config.get("scheduler", None)
    client = getattr(scheduler, "__self__", None)
    if not (hasattr(client, "submit") and hasattr(client, "nthreads")):
        client = None
        if scheduler in ("dask.distributed", "distributed") and "distributed" in sys.modules:
            from distributed import default_client

            try:
                client = default_client()
            except ValueError:  # no default client
                return None
    if client is None:
        return None
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:  # not in a worker's task
        return client
    return None


def on_cluster_or_here(func: Callable[..., Any], *args: Any) -> Any:
    """``func(*args)``: as one task on a worker of the active dask.distributed client, else in this process.

    The task is submitted with ``pure=False`` (its key is ``func``'s name and
    a random token, shown so in the dashboard's task stream) and waited for;
    an exception raised on the worker is raised here, of its own type and
    with its message. ``func`` must be a module-level function and ``args``
    picklable (paths, numbers, a profile, a dask array).
    """
    client = _cluster_client()
    if client is None:
        return func(*args)
    return client.submit(func, *args, pure=False).result()


def _store_dem(dem: da.Array, path: str, profile: dict[str, Any]) -> str:
    """Write the lazy DEM [m] to ``path`` as a float32 GeoTIFF, chunk by chunk (dask's threads here).

    Memory: the chunks in flight of dask's local threaded scheduler; each is
    written under a lock as it comes.
    """
    shape = (int(dem.shape[0]), int(dem.shape[1]))
    with _bounded_gdal_cache(), RasterWriter(path, shape, profile) as out:
        da.store(dem.astype(np.float32), out, lock=True, scheduler="threads")
    return path


def _fill_pass(dem: Any, tile: int, path: str, shape: tuple[int, int], profile: dict, workdir: str) -> str:
    """:func:`~susmap.factors.tiled_routing.tiled_fill` of ``dem`` into a new raster ``path``."""
    with _bounded_gdal_cache(), RasterWriter(path, shape, profile) as out:
        tiled_fill(dem, tile, out=out, workdir=workdir)
    return path


def _d8_pass(
    surface: Any,
    tile: int,
    paths: tuple[str, str],
    shape: tuple[int, int],
    profile: dict,
    extrapolate: bool,
    workdir: str,
) -> tuple[str, str]:
    """:func:`~susmap.factors.tiled_routing.tiled_d8_accumulation` into new rasters (accumulation, directions)."""
    with (
        _bounded_gdal_cache(),
        RasterWriter(paths[0], shape, profile) as out,
        RasterWriter(paths[1], shape, profile) as d8,
    ):
        tiled_d8_accumulation(surface, tile, out=out, extrapolate=extrapolate, workdir=workdir, directions=d8)
    return paths


def _mfd_pass(
    surface: Any, tile: int, path: str, shape: tuple[int, int], profile: dict, workdir: str, options: dict[str, Any]
) -> str:
    """:func:`~susmap.factors.tiled_mfd.tiled_mfd_accumulation` (keyword ``options``) into a new raster ``path``."""
    with _bounded_gdal_cache(), RasterWriter(path, shape, profile) as out:
        tiled_mfd_accumulation(surface, tile, out=out, workdir=workdir, **options)
    return path


def _index_pass(
    surface: Any,
    acc: str,
    cellsize: float,
    index: str,
    tile: int,
    path: str,
    shape: tuple[int, int],
    profile: dict,
    options: dict[str, Any],
) -> str:
    """:func:`~susmap.factors.tiled_routing.tiled_flow_index` into a new raster ``path``."""
    with _bounded_gdal_cache(), RasterWriter(path, shape, profile) as out:
        tiled_flow_index(surface, acc, cellsize, index, tile, out=out, **options)
    return path


def _hand_pass(
    paths: tuple[str, str, str], cells: float, tile: int, path: str, shape: tuple[int, int], profile: dict
) -> str:
    """:func:`~susmap.factors.tiled_routing.tiled_hand` of (filled DEM, directions, accumulation) into ``path``."""
    with _bounded_gdal_cache(), RasterWriter(path, shape, profile) as out:
        tiled_hand(*paths, cells, tile, out=out)
    return path


class _RasterArray:
    """A float32 GeoTIFF as a lazy array for :func:`dask.array.from_array`: each read opens it (thread-safe)."""

    def __init__(self, path: Path, shape: tuple[int, int]) -> None:
        self.path = str(path)
        self.shape = shape
        self.dtype = np.dtype(np.float32)
        self.ndim = 2

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        import rasterio
        from rasterio.windows import Window

        r0, r1, _ = key[0].indices(self.shape[0])
        c0, c1, _ = key[1].indices(self.shape[1])
        if r1 <= r0 or c1 <= c0:
            return np.empty((max(r1 - r0, 0), max(c1 - c0, 0)), dtype=np.float32)
        with rasterio.open(self.path) as src:
            return src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0)).astype(np.float32, copy=False)


def lazy(ctx: FactorContext, path: Path) -> da.Array:
    """The raster ``path`` on the grid as a lazy float32 dask array in the study's chunks."""
    name = "hydrology-tiled-" + tokenize(str(path), os.stat(path).st_mtime_ns)
    return da.from_array(
        _RasterArray(path, ctx.grid.shape),
        chunks=ctx.chunks,
        lock=False,
        name=name,
        meta=np.empty((0, 0), dtype=np.float32),
    )


def _dem(ctx: FactorContext) -> Any:
    """The DEM for the routines: its lazy array (read window by window), or on a cluster its float32 GeoTIFF's path.

    On a cluster the DEM is written once (memoised) into the work folder by
    a worker task (:func:`_store_dem`), so the routing tasks get a path.
    """
    if _cluster_client() is None:
        return ctx.dem.data

    def compute() -> Path:
        path = _path(ctx, "dem")
        on_cluster_or_here(_store_dem, ctx.dem.data, str(path), _profile(ctx))
        return path

    return str(ctx.memo("hydrology:tiled:dem", compute))


def filled(ctx: FactorContext) -> Path:
    """The depression-filled DEM [m] (:func:`~susmap.factors.tiled_routing.tiled_fill`), a GeoTIFF; memoised."""

    def compute() -> Path:
        path = _path(ctx, "filled_dem")
        args = (_dem(ctx), tile_size(ctx), str(path), ctx.grid.shape, _profile(ctx), str(_workdir(ctx)))
        on_cluster_or_here(_fill_pass, *args)
        return path

    return ctx.memo("hydrology:tiled:filled_dem", compute)


def surface(ctx: FactorContext, fill: bool) -> Any:
    """The routing surface: the filled DEM's raster, or the DEM itself."""
    return str(filled(ctx)) if fill else _dem(ctx)


def _d8(ctx: FactorContext, fill: bool, extrapolate: bool) -> tuple[Path, Path]:
    """D8 accumulation [cells] and directions (pyflwdir codes) rasters; memoised."""

    def compute() -> tuple[Path, Path]:
        key = f"acc_d8_fill={fill}_extrapolate={extrapolate}"
        acc, dirs = _path(ctx, key), _path(ctx, key + "_dirs")
        args = (surface(ctx, fill), tile_size(ctx), (str(acc), str(dirs)), ctx.grid.shape, _profile(ctx))
        on_cluster_or_here(_d8_pass, *args, extrapolate, str(_workdir(ctx)))
        return acc, dirs

    return ctx.memo(f"hydrology:tiled:d8:fill={fill}:extrapolate={extrapolate}", compute)


def directions(ctx: FactorContext, fill: bool = True, extrapolate: bool = True) -> Path:
    """The D8 directions raster (pyflwdir codes, 247 nodata) of the routing surface."""
    return _d8(ctx, fill, extrapolate)[1]


def accumulation(
    ctx: FactorContext,
    key: str,
    *,
    method: str,
    fill: bool,
    exponent: float,
    linear: float,
    extrapolate: bool,
) -> Path:
    """Flow accumulation [cells] raster of one routing (``key``: the whole-grid cache key); memoised.

    ``method`` "d8" by :func:`~susmap.factors.tiled_routing.tiled_d8_accumulation`,
    "mfd" or "quinn" by :func:`~susmap.factors.tiled_mfd.tiled_mfd_accumulation`
    (``linear`` in cells).
    """
    if method == "d8":
        return _d8(ctx, fill, extrapolate)[0]

    def compute() -> Path:
        path = _path(ctx, key)
        options = {
            "method": method,
            "exponent": 1.0 if method == "quinn" else exponent,
            "linear": linear,
            "extrapolate": extrapolate,
        }
        args = (surface(ctx, fill), tile_size(ctx), str(path), ctx.grid.shape, _profile(ctx), str(_workdir(ctx)))
        on_cluster_or_here(_mfd_pass, *args, options)
        return path

    return ctx.memo(f"hydrology:tiled:{key}", compute)


def flow_index(
    ctx: FactorContext, fill: bool, acc: Path, key: str, index: str, cellsize: float, **kwargs: Any
) -> da.Array:
    """TWI, SPI or LS (:func:`~susmap.factors.tiled_routing.tiled_flow_index`) as a lazy array; memoised."""

    def compute() -> Path:
        path = _path(ctx, key)
        args = (surface(ctx, fill), str(acc), cellsize, index, tile_size(ctx), str(path), ctx.grid.shape)
        on_cluster_or_here(_index_pass, *args, _profile(ctx), kwargs)
        return path

    return lazy(ctx, ctx.memo(f"hydrology:tiled:{key}", compute))


def stream_values(ctx: FactorContext, acc: Path, cells: float) -> da.Array:
    """1 where the accumulation reaches ``cells``, 0 elsewhere, NaN where the filled DEM is nodata; lazy."""
    valid = ~da.isnan(lazy(ctx, filled(ctx)))
    mask = lazy(ctx, acc) >= cells  # NaN (nodata) compares False
    return da.where(valid, mask.astype(np.float32), np.float32(np.nan))


def hand(ctx: FactorContext, acc: Path, cells: float, key: str) -> da.Array:
    """HAND [m] (:func:`~susmap.factors.tiled_routing.tiled_hand`) along the D8 directions of the filled DEM; lazy."""

    def compute() -> Path:
        path = _path(ctx, key)
        paths = (str(filled(ctx)), str(directions(ctx)), str(acc))
        on_cluster_or_here(_hand_pass, paths, cells, tile_size(ctx), str(path), ctx.grid.shape, _profile(ctx))
        return path

    return lazy(ctx, ctx.memo(f"hydrology:tiled:{key}", compute))


def _by_chunks(ctx: FactorContext, func: Any) -> da.Array:
    """A lazy float32 array whose chunk (r0, r1, c0, c1) is ``func(r0, r1, c0, c1)``."""

    def block(_: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        (r0, r1), (c0, c1) = block_info[None]["array-location"]  # type: ignore[index]
        return func(r0, r1, c0, c1)

    template = da.empty(ctx.grid.shape, chunks=ctx.chunks, dtype=np.float32)
    return da.map_blocks(block, template, dtype=np.float32, meta=np.empty((0, 0), dtype=np.float32))


def distance_to_stream(ctx: FactorContext, acc: Path, cells: float, cap: float, cellsize: float) -> da.Array:
    """min(distance to the nearest stream cell centre, ``cap``) [m], chunk by chunk; lazy.

    Each chunk's EDT (:func:`scipy.ndimage.distance_transform_edt`, the cell
    size as sampling) runs on the chunk grown by ceil(cap / cellsize) cells
    (inside the grid): a stream within ``cap`` of a cell lies in that window,
    so the window's distance is the whole-grid one wherever that is at most
    ``cap``; elsewhere both exceed the cap and the cell gets ``cap``. NaN
    where the filled DEM is nodata.
    """
    halo = math.ceil(cap / cellsize)
    nrow, ncol = ctx.grid.shape
    accp, zp = str(acc), str(filled(ctx))

    def chunk(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        wr0, wr1, wc0, wc1 = max(r0 - halo, 0), min(r1 + halo, nrow), max(c0 - halo, 0), min(c1 + halo, ncol)
        with RasterTiles(accp) as a, np.errstate(invalid="ignore"):
            mask = a.read(wr0, wr1, wc0, wc1) >= cells
        if mask.any():
            dist = ndimage.distance_transform_edt(~mask, sampling=cellsize)[r0 - wr0 : r1 - wr0, c0 - wc0 : c1 - wc0]
            out = np.minimum(dist.astype(np.float32), np.float32(cap))
        else:
            out = np.full((r1 - r0, c1 - c0), np.float32(cap), dtype=np.float32)
        with RasterTiles(zp) as z:
            out[np.isnan(z.read(r0, r1, c0, c1))] = np.nan
        return out

    return _by_chunks(ctx, chunk)


@njit(cache=True, nogil=True)
def _disk_sum_tile(values, carry, radius, row0, col0, r0, r1, c0, c1, nrow, ncol):  # pragma: no cover - numba
    """:func:`~susmap.factors.routing_kernels.disk_sum` of the grid, for the cells r0:r1, c0:c1 of a window.

    ``values`` is the window (grid rows row0..., columns col0...) and
    ``carry[i]`` the grid's row prefix sum before column col0 (what
    ``disk_sum`` accumulates from column 0), so the prefix sums, and thus
    the window sums, are the whole-grid ones bit for bit. Returns the sums
    (float64) and the window's prefix sums (for the next window's carry).
    """
    wr, wc = values.shape
    rad = math.floor(radius)
    half = np.empty(2 * rad + 1, dtype=np.int64)
    for i in range(2 * rad + 1):
        dy = i - rad
        half[i] = math.floor(math.sqrt(radius * radius - dy * dy) + 1e-9)
    prefix = np.empty((wr, wc + 1), dtype=np.float64)
    for r in range(wr):
        acc = carry[r]
        prefix[r, 0] = acc
        for c in range(wc):
            acc += values[r, c]
            prefix[r, c + 1] = acc
    out = np.zeros((r1 - r0, c1 - c0), dtype=np.float64)
    for r in range(r0, r1):
        for i in range(2 * rad + 1):
            rr = r + i - rad
            if rr < 0 or rr >= nrow:
                continue
            h = half[i]
            for c in range(c0, c1):
                out[r - r0, c - c0] += (
                    prefix[rr - row0, min(c + h, ncol - 1) + 1 - col0] - prefix[rr - row0, max(c - h, 0) - col0]
                )
    return out, prefix


def _density_pass(
    paths: tuple[str, str, str],
    cells: float,
    radius: float,
    cellsize: float,
    tile: int,
    path: str,
    shape: tuple[int, int],
    profile: dict,
) -> str:
    """Drainage density [km/km2] of :func:`drainage_density` from (accumulation, directions, filled DEM) into ``path``.

    ``radius`` in cells, ``cellsize`` in m.
    """
    nrow, ncol = shape
    halo = math.ceil(radius)
    acc, dirs, zpath = paths
    with (
        _bounded_gdal_cache(),
        RasterWriter(path, shape, profile) as out,
        RasterTiles(acc) as areader,
        RasterTiles(dirs) as dreader,
        RasterTiles(zpath) as zreader,
    ):
        carry_len = carry_val = np.zeros(0)
        for r0, r1, c0, c1 in tiles((nrow, ncol), tile):
            wr0, wr1, wc0, wc1 = max(r0 - halo, 0), min(r1 + halo, nrow), max(c0 - halo, 0), min(c1 + halo, ncol)
            if c0 == 0:  # a new row of tiles: prefix sums start at column 0
                carry_len = carry_val = np.zeros(wr1 - wr0)
            with np.errstate(invalid="ignore"):
                mask = areader.read(wr0, wr1, wc0, wc1) >= cells
            d8 = dreader.read(wr0, wr1, wc0, wc1)
            d8 = np.where(np.isnan(d8), _D8_NODATA, d8).astype(np.uint8)
            valid = ~np.isnan(zreader.read(wr0, wr1, wc0, wc1))
            length = k.stream_length(d8, mask, cellsize)  # [m] per cell
            args = (radius, wr0, wc0, r0, r1, c0, c1, nrow, ncol)
            density, plen = _disk_sum_tile(length, carry_len, *args)  # [m] in the window
            count, pval = _disk_sum_tile(valid.astype(np.float32), carry_val, *args)
            nxt = max(c1 - halo, 0) - wc0  # the next tile's window starts at column c1 - halo
            carry_len, carry_val = plen[:, nxt].copy(), pval[:, nxt].copy()
            with np.errstate(invalid="ignore", divide="ignore"):
                density /= count  # [m / cell]
            density *= 1e3 / cellsize**2  # [km/km2]
            density[~valid[r0 - wr0 : r1 - wr0, c0 - wc0 : c1 - wc0]] = np.nan
            out[r0:r1, c0:c1] = density.astype(np.float32)
    return path


def drainage_density(
    ctx: FactorContext, acc: Path, cells: float, radius_m: float, cellsize: float, key: str
) -> da.Array:
    """Drainage density [km/km2] tile by tile, equal to the whole-grid one bit for bit; lazy.

    Each tile's window reaches ceil(radius_m / cellsize) cells beyond it
    (inside the grid): stream lengths from the D8 directions of the filled
    DEM (:func:`~susmap.factors.routing_kernels.stream_length`) and the valid
    cells, summed over the disk as
    :func:`~susmap.factors.routing_kernels.disk_sum` does, with its row
    prefix sums carried from tile to tile along each row of tiles (tiles in
    row-major order), so the sums are the whole-grid ones.
    """

    def compute() -> Path:
        path = _path(ctx, key)
        paths = (str(acc), str(directions(ctx)), str(filled(ctx)))
        args = (paths, cells, radius_m / cellsize, cellsize, tile_size(ctx), str(path), ctx.grid.shape)
        on_cluster_or_here(_density_pass, *args, _profile(ctx))
        return path

    return lazy(ctx, ctx.memo(f"hydrology:tiled:{key}", compute))
