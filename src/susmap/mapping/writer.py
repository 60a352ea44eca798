"""Stream a lazy (dask) 2-D array into a Cloud-Optimized GeoTIFF.

Blocks are streamed into a tiled, compressed GeoTIFF beside the output
(``.<name>.part/<name>``), which GDAL's COG driver then copies into the output
with internal overviews (average for floating-point data, nearest for
integers unless told otherwise), reading it block by block: no step holds
the raster whole. Nothing in the file depends on the time of writing.

With the local scheduler, when no block needs a task of another block
(a prediction over the stack: each block reads its own windows), one pool
of long-lived threads (``num_workers`` of dask's configuration, else one
per core) computes the blocks, each from its own part of the graph, with a
bounded number in flight (:data:`IN_FLIGHT` per thread: memory stays flat
whatever the raster's size), while this thread writes them in row-major
order as they come (so the same data gives the same bytes) and BLAS runs on
one thread per block. When blocks share work (the halo of a stencil, one
DEM read for several outputs), all blocks are computed in one dask graph and
each is written as soon as the blocks before it are (a store target that
keeps row-major order), so shared inputs are read once. On a distributed
cluster, blocks are computed there in batches and written by this process.
GDAL datasets are never used by two threads at once; the final COG copy
compresses on all cores (GDAL's ``NUM_THREADS``).

A write that fails (a full disk above all) raises :class:`OutputError`
with one line naming the file and, for a full disk, the disk it is on; a
read failure of an input raster passes through as it is.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import dask
import dask.array as da
import dask.core
import numpy as np
import rasterio
import rasterio.shutil
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.windows import Window
from threadpoolctl import threadpool_limits

from susmap import progress
from susmap.errors import OutputError, SusmapError
from susmap.grid import Grid

__all__ = [
    "IN_FLIGHT",
    "NEARLY_FULL",
    "PART_COMPRESS",
    "RasterTarget",
    "cloud_optimize",
    "geotiff_profile",
    "local_scheduler",
    "overview_resampling",
    "part_path",
    "remove_part",
    "write_failure",
    "write_lazy_raster",
    "write_lazy_rasters",
    "write_window",
]


COMPRESSION = {
    "deflate": {"compress": "deflate", "zlevel": 1},
    "zstd": {"compress": "zstd", "zstd_level": 1},
    "lzw": {"compress": "lzw"},
    "none": {},
}


def geotiff_profile(grid: Grid, dtype: str, nodata: float | int, *, tile: int = 256, compress: str = "deflate") -> dict:
    """Creation options of susmap's GeoTIFFs: tiled (``tile`` cells, a multiple of 16), compressed.

    ``compress``: ``deflate`` (level 1: nearly the size of level 6 at twice the
    speed; readable everywhere), ``zstd`` (faster still, needs GDAL ≥ 2.3),
    ``lzw`` or ``none``; with a floating-point predictor for float data.
    """
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": 1,
        "dtype": dtype,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": tile,
        "blockysize": tile,
        "BIGTIFF": "IF_SAFER",
    }
    if compress not in COMPRESSION:
        raise ValueError(f"compression must be one of {', '.join(COMPRESSION)}, not {compress!r}")
    if compress != "none":
        profile.update(COMPRESSION[compress], predictor=3 if np.dtype(dtype).kind == "f" else 2)
    return profile


#: GDAL COG driver creation options of each ``compress`` value (levels as in :data:`COMPRESSION`).
COG_COMPRESSION = {
    "deflate": {"COMPRESS": "DEFLATE", "LEVEL": 1},
    "zstd": {"COMPRESS": "ZSTD", "LEVEL": 1},
    "lzw": {"COMPRESS": "LZW"},
    "none": {"COMPRESS": "NONE"},
}
OVERVIEW_RESAMPLINGS = ("average", "nearest", "mode")
#: Compression of the streamed part files (scratch, read once by the COG copy): fast, still small on disk.
PART_COMPRESS = "zstd"


def overview_resampling(dtype: str) -> str:
    """Default overview resampling: ``average`` for floating-point (continuous) data, ``nearest`` for integers."""
    return "average" if np.dtype(dtype).kind == "f" else "nearest"


def part_path(path: Path) -> Path:
    """Where the streamed, not yet cloud-optimized GeoTIFF of ``path`` is written.

    A file of the same name in a hidden folder beside ``path``
    (``.<name>.part/<name>``), created here; :func:`remove_part` removes both
    once ``path`` is written (or has failed).
    """
    path = Path(path)
    part = path.parent / f".{path.name}.part" / path.name
    part.parent.mkdir(parents=True, exist_ok=True)
    return part


def remove_part(path: Path) -> None:
    """Remove the part file of ``path`` (see :func:`part_path`), its sidecar and its folder, if there."""
    folder = Path(path).parent / f".{Path(path).name}.part"
    for p in (folder / Path(path).name, folder / f"{Path(path).name}.aux.xml"):
        with contextlib.suppress(OSError):
            p.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()


def cloud_optimize(
    src: Path, dst: Path, *, compress: str = "deflate", resampling: str | None = None, tile: int = 256
) -> None:
    """Copy the tiled GeoTIFF ``src`` into the Cloud-Optimized GeoTIFF ``dst`` with internal overviews.

    GDAL's COG driver builds the overviews (halving down to one ``tile``;
    ``resampling``: ``average``, ``nearest`` or ``mode``, by default
    :func:`overview_resampling` of the data type) and the output's tiles
    reading ``src`` block by block. Band description, tags, nodata and
    colour table are kept; the same ``src`` gives the same bytes.
    """
    if compress not in COG_COMPRESSION:
        raise ValueError(f"compression must be one of {', '.join(COG_COMPRESSION)}, not {compress!r}")
    with rasterio.open(src) as ds:
        dtype = ds.dtypes[0]
    resampling = resampling or overview_resampling(dtype)
    if resampling not in OVERVIEW_RESAMPLINGS:
        raise ValueError(f"overview resampling must be one of {', '.join(OVERVIEW_RESAMPLINGS)}, not {resampling!r}")
    # NUM_THREADS: tiles are compressed on all cores; the file's bytes do not depend on it
    options = {
        "BLOCKSIZE": tile,
        "BIGTIFF": "IF_SAFER",
        "OVERVIEW_RESAMPLING": resampling.upper(),
        "NUM_THREADS": "ALL_CPUS",
    }
    options.update(COG_COMPRESSION[compress])
    if compress != "none":
        options["PREDICTOR"] = "FLOATING_POINT" if np.dtype(dtype).kind == "f" else "STANDARD"
    try:
        rasterio.shutil.copy(str(src), str(dst), driver="COG", **options)
    except (OSError, RasterioError):
        raise
    except Exception as err:  # GDAL's CPLE_* errors (a full disk while copying) are no RasterioError
        raise RasterioIOError(f"{Path(dst).name}: {err}") from err


#: Free bytes below which a failed write with an unclear cause is put down to a full disk.
NEARLY_FULL = 1 << 20
_NO_SPACE = ("no space left", "free disk space", "disk full", "disk is full", "not enough space", "quota exceeded")


def _mount_point(path: Path) -> Path:
    """The mount point of the file system holding ``path`` (or its nearest existing folder)."""
    folder = Path(os.path.abspath(path))
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    while not os.path.ismount(folder) and folder != folder.parent:
        folder = folder.parent
    return folder


def write_failure(
    err: BaseException, paths: Sequence[Path], *, folder: Path | None = None, check_space: bool = False
) -> OutputError:
    """One-line :class:`OutputError` for a failed write of ``paths``: a full disk named as such.

    A full disk reads ``no space left on <mount point> (<free> free) while
    writing <file>``; any other failure ``<file>: cannot write (<cause>)``.
    ``folder`` (the output folder) locates the disk when no path is known.
    ``check_space``: also call it a full disk when less than
    :data:`NEARLY_FULL` bytes are free there (GDAL's GeoPackage driver
    reports a full disk as an SQLite error, not as ENOSPC).
    """
    paths = [Path(p) for p in paths]
    names = ", ".join(p.name for p in paths) or "the outputs"
    text = " ".join(str(e) for e in (err, err.__cause__) if e is not None)
    where = _mount_point(paths[0].parent if paths else Path(folder or Path.cwd()))
    full = getattr(err, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or any(k in text.lower() for k in _NO_SPACE)
    if check_space and not full:
        with contextlib.suppress(OSError):
            full = shutil.disk_usage(where).free < NEARLY_FULL
    if full:
        try:
            free = shutil.disk_usage(where).free
            room = f" ({free / 2**20:.1f} MiB free)"
        except OSError:
            room = ""
        return OutputError(
            f"no space left on {where}{room} while writing {names}; free some space or choose an output "
            "folder on another disk (--out); earlier outputs are untouched"
        )
    cause = (getattr(err, "strerror", None) or str(err).strip() or type(err).__name__).splitlines()[0]
    where = paths[0] if len(paths) == 1 else names
    return OutputError(f"{where}: cannot write ({cause})")


@dataclass(frozen=True)
class RasterTarget:
    """One lazy 2-D array and the GeoTIFF it goes to."""

    path: Path
    array: da.Array
    dtype: str = "float32"
    nodata: float | int = np.nan
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    compress: str = "deflate"
    #: overview resampling (``average``, ``nearest``, ``mode``); None: by data type (:func:`overview_resampling`)
    resampling: str | None = None


def write_window(dst: rasterio.io.DatasetWriter, block: np.ndarray, row: int, col: int, dtype: str) -> None:
    """Write ``block`` (as ``dtype``) into band 1 of ``dst`` at ``row``, ``col``; a failure names the file.

    Every path of :func:`write_lazy_rasters` writes its blocks through this
    one function: a full disk or an I/O error becomes the same
    :func:`write_failure` message whichever path ran.
    """
    block = np.asarray(block, dtype=dtype)
    try:
        dst.write(block, 1, window=Window(col, row, block.shape[1], block.shape[0]))
    except (OSError, RasterioError) as err:
        raise write_failure(err, [Path(dst.name)]) from err


class _OrderedBlockWriter:
    """A ``dask.array.store`` target that writes blocks to one GeoTIFF in a fixed (row-major) order.

    Blocks arriving early wait in memory until the blocks before them have
    been written, so the file's tile layout, and hence its bytes, do not
    depend on thread timing. The lock makes GDAL see one writer at a time.
    """

    def __init__(self, dst: rasterio.io.DatasetWriter, chunks: tuple[tuple[int, ...], tuple[int, ...]], dtype: str):
        self.dst = dst
        self.dtype = dtype
        oy = np.concatenate([[0], np.cumsum(chunks[0])[:-1]]).astype(int)
        ox = np.concatenate([[0], np.cumsum(chunks[1])[:-1]]).astype(int)
        self.order = [(int(y), int(x)) for y in oy for x in ox]
        self.next = 0
        self.pending: dict[tuple[int, int], np.ndarray] = {}
        self.lock = threading.Lock()

    def __setitem__(self, key: tuple[slice, slice], value: np.ndarray) -> None:
        with self.lock:
            self.pending[(key[0].start or 0, key[1].start or 0)] = value
            while self.next < len(self.order) and self.order[self.next] in self.pending:
                y, x = self.order[self.next]
                write_window(self.dst, self.pending.pop((y, x)), y, x, self.dtype)
                self.next += 1


def local_scheduler() -> bool:
    """True when dask runs in this process (threads or synchronous), False on a dask.distributed cluster.

    On a cluster (``dask.config`` ``scheduler`` is a client's ``get``, as
    :func:`susmap.stages.compute.dask_scheduler` sets it) the writers compute
    blocks there in bounded batches instead of on a pool of local threads.
    """
    scheduler = dask.config.get("scheduler", None)
    return scheduler is None or (
        isinstance(scheduler, str) and scheduler in ("threads", "threading", "sync", "synchronous")
    )


class _Offset:
    """Shift the row slices of a store target by ``row0`` (for bands of rows)."""

    def __init__(self, target: _OrderedBlockWriter, row0: int) -> None:
        self.target = target
        self.row0 = int(row0)

    def __setitem__(self, key: tuple[slice, slice], value: np.ndarray) -> None:
        rows = slice((key[0].start or 0) + self.row0, (key[0].stop or 0) + self.row0)
        self.target[rows, key[1]] = value


def write_lazy_rasters(
    targets: Sequence[RasterTarget], grid: Grid, *, batch_blocks: int = 8, band_bytes: float = 512e6
) -> None:
    """Compute several lazy arrays on ``grid`` and write each to its GeoTIFF, block by block.

    All targets are computed in one dask graph, so work they share (one DEM
    read, one derivative pass for slope, aspect and curvatures, the halo
    chunks of neighbouring blocks) is done once, and writing overlaps
    computing. Blocks are written in row-major order whatever the order
    they are computed in, so the same data gives the same file bytes. The
    graph runs in bands of block rows holding about ``band_bytes`` of output,
    which bounds memory (the halo rows at band edges are read twice). On a
    dask.distributed cluster, blocks are computed there in batches of
    ``batch_blocks`` and written here.
    """
    if not targets:
        return
    try:
        try:
            _write_all(targets, grid, batch_blocks, band_bytes)
            for t in targets:
                cloud_optimize(part_path(t.path), t.path, compress=t.compress, resampling=t.resampling)
        finally:
            for t in targets:
                remove_part(t.path)
    except SusmapError:  # a write failure already named, or an input that cannot be read
        raise
    except (OSError, RasterioError) as err:  # opening, a block or closing (GDAL flushes on close)
        raise write_failure(err, [t.path for t in targets]) from err


def _write_all(targets: Sequence[RasterTarget], grid: Grid, batch_blocks: int, band_bytes: float) -> None:
    chunks = targets[0].array.chunks
    arrays = []
    for t in targets:
        if t.array.shape != grid.shape:
            raise ValueError(f"{t.path.name}: array shape {t.array.shape} differs from the grid {grid.shape}")
        arrays.append(t.array if t.array.chunks == chunks else t.array.rechunk(chunks))
    with contextlib.ExitStack() as stack:
        dsts = []
        for t in targets:
            # the part's tiles are compressed on GDAL's threads, off the thread that writes them
            profile = {**geotiff_profile(grid, t.dtype, t.nodata, compress=PART_COMPRESS), "num_threads": "ALL_CPUS"}
            dst = stack.enter_context(rasterio.open(part_path(t.path), "w", **profile))
            if t.description:
                dst.set_band_description(1, t.description)
            if t.tags:
                dst.update_tags(**t.tags)
            dsts.append(dst)
        if local_scheduler():
            plan = _independent_blocks(arrays)
            if plan is not None:
                _write_independent(plan, dsts, targets, chunks)
                return
            writers = [_OrderedBlockWriter(dst, chunks, t.dtype) for dst, t in zip(dsts, targets, strict=True)]
            # bands of block rows bound the memory (blocks waiting for their turn, inputs in flight)
            row_bytes = grid.width * max(chunks[0]) * sum(np.dtype(t.dtype).itemsize for t in targets)
            rows_per_band = max(1, int(band_bytes // max(row_bytes, 1)))
            starts = np.concatenate([[0], np.cumsum(chunks[0])]).astype(int)
            for b0 in range(0, len(chunks[0]), rows_per_band):
                r0, r1 = starts[b0], starts[min(b0 + rows_per_band, len(chunks[0]))]
                da.store([a[r0:r1] for a in arrays], [_Offset(w, r0) for w in writers], lock=False)
            for w in writers:
                if w.next != len(w.order):
                    raise RuntimeError(f"{w.dst.name}: {len(w.order) - w.next} blocks were not written")
            return
        _write_in_batches(arrays, targets, dsts, chunks, batch_blocks, stack)


#: Blocks in flight per worker thread (computing, or computed and waiting for their turn to be written).
IN_FLIGHT = 2


@dataclass
class _BlockPlan:
    """The graph of the output blocks, each block's own part of it, and the data nodes the blocks share."""

    graph: dict
    keys: list[list[tuple]]  # per block (row-major), the key of each target
    parts: list[set]  # per block, the keys it computes
    shared: dict  # data (no task) needed by several blocks, computed once


def _independent_blocks(arrays: Sequence[da.Array]) -> _BlockPlan | None:
    """How to compute the blocks of ``arrays`` one by one, or None when a task is needed by two blocks.

    The arrays' optimised graph is walked from each output block (row-major,
    the targets' blocks at the same position together) to the keys it needs.
    A block may share only data (the array objects behind ``from_array``,
    constants), which are computed once; a task needed by two blocks (a
    halo, a band read for several blocks) makes the graph dependent, and the
    caller computes it in one dask graph instead.
    """
    optimised = dask.optimize(*arrays)
    graph: dict = {}
    for a in optimised:
        graph.update(dict(a.__dask_graph__()))
    grids = [np.asarray(a.__dask_keys__(), dtype=object) for a in optimised]
    n_rows, n_cols = len(arrays[0].chunks[0]), len(arrays[0].chunks[1])
    owner: dict = {}
    shared: set = set()
    keys, parts = [], []
    for i in range(n_rows):
        for j in range(n_cols):
            block_keys = [tuple(g[i, j]) for g in grids]
            part: set = set()
            todo = list(block_keys)
            while todo:
                key = todo.pop()
                if key in part:
                    continue
                part.add(key)
                first = owner.setdefault(key, len(parts))
                if first != len(parts):
                    if dask.core.istask(graph[key]):
                        return None
                    shared.add(key)
                todo.extend(dask.core.get_dependencies(graph, key))
            keys.append(block_keys)
            parts.append(part)
    # dask.core.get runs every node of the graph it is given: give it only the nodes wanted
    names = sorted(shared, key=str)
    values = dask.core.get({k: graph[k] for k in names}, names) if names else []
    return _BlockPlan(graph, keys, [p - shared for p in parts], dict(zip(names, values, strict=True)))


def _workers() -> int:
    """Threads of the local pool: dask's ``num_workers`` (``compute.num_workers``), else one per core; 0: sync."""
    scheduler = dask.config.get("scheduler", None)
    if scheduler in ("sync", "synchronous"):
        return 0
    return int(dask.config.get("num_workers", None) or os.cpu_count() or 1)


def _one_openmp_thread() -> None:
    """Run OpenMP (torch's CPU operators) on this pool thread alone: blocks, not operators, are the parallel work.

    A pool thread starts with OpenMP's default team (one thread per core)
    whatever the calling thread's limit, so a deep model's block would start
    as many threads as there are cores on every pool thread at once.
    """
    threadpool_limits(limits=1, user_api="openmp")


def _write_independent(plan: _BlockPlan, dsts, targets: Sequence[RasterTarget], chunks) -> None:
    """Compute the blocks of ``plan`` on one pool of threads, at most :data:`IN_FLIGHT` per thread, write in order."""
    oy = np.concatenate([[0], np.cumsum(chunks[0])[:-1]]).astype(int)
    ox = np.concatenate([[0], np.cumsum(chunks[1])[:-1]]).astype(int)
    windows = [(int(y), int(x)) for y in oy for x in ox]

    def compute(n: int) -> list[np.ndarray]:
        part = {k: plan.graph[k] for k in plan.parts[n]}
        return list(dask.core.get(part, plan.keys[n], cache=dict(plan.shared)))

    def write(n: int, blocks: list[np.ndarray]) -> None:
        y, x = windows[n]
        for dst, t, block in zip(dsts, targets, blocks, strict=True):
            write_window(dst, block, y, x, t.dtype)

    workers = _workers()
    n_blocks = len(windows)
    names = ", ".join(t.path.name for t in targets)
    with progress.task(f"computing and writing {names} (blocks)", n_blocks) as bar:
        if workers == 0:
            for n in range(n_blocks):
                write(n, compute(n))
                bar.advance()
            return
        # BLAS on one thread per block (blocks are the parallel work); set once here, restored after.
        # OpenMP's thread count (torch's intra-op threads) is per thread: each pool thread sets its own.
        with (
            threadpool_limits(limits=1),
            ThreadPoolExecutor(max_workers=workers, initializer=_one_openmp_thread) as pool,
        ):
            pending: dict[int, object] = {}
            submitted = 0
            try:
                for n in range(n_blocks):
                    while submitted < n_blocks and submitted - n < IN_FLIGHT * workers:
                        pending[submitted] = pool.submit(compute, submitted)
                        submitted += 1
                    write(n, pending.pop(n).result())
                    bar.advance()
            finally:
                for future in pending.values():
                    future.cancel()


def _cluster_client():
    """The dask.distributed client whose ``get`` is dask's scheduler (see :func:`local_scheduler`), or None."""
    client = getattr(dask.config.get("scheduler", None), "__self__", None)
    return client if hasattr(client, "compute") and hasattr(client, "nthreads") else None


def _write_in_batches(arrays, targets, dsts, chunks, batch_blocks, stack) -> None:
    """Compute blocks in batches (on a cluster) and write them from this process, files in parallel.

    On a dask.distributed client a batch holds at least :data:`IN_FLIGHT`
    blocks per worker thread, and the next batch is computing on the
    cluster while this one is written: at most two batches of blocks are
    held at once, whatever the raster's size.
    """
    blocks = [a.to_delayed() for a in arrays]
    offsets_y = np.concatenate([[0], np.cumsum(chunks[0])])
    offsets_x = np.concatenate([[0], np.cumsum(chunks[1])])
    keys = [(i, j) for i in range(len(chunks[0])) for j in range(len(chunks[1]))]
    client = _cluster_client()
    if client is not None:
        batch_blocks = max(batch_blocks, IN_FLIGHT * sum(client.nthreads().values()))
    batches = [keys[start : start + batch_blocks] for start in range(0, len(keys), batch_blocks)]

    def submit(batch: list[tuple[int, int]]):
        tasks = [b[i, j] for b in blocks for i, j in batch]
        return client.compute(tasks) if client is not None else tasks

    def write(n: int, batch: list[tuple[int, int]], values) -> None:
        t, dst = targets[n], dsts[n]
        for (i, j), block in zip(batch, values[n * len(batch) : (n + 1) * len(batch)], strict=True):
            write_window(dst, block, int(offsets_y[i]), int(offsets_x[j]), t.dtype)

    # each file is written by one thread at a time (GDAL datasets are not thread-safe)
    pool = stack.enter_context(ThreadPoolExecutor(max_workers=min(len(targets), os.cpu_count() or 1)))
    names = ", ".join(t.path.name for t in targets)
    with progress.task(f"computing and writing {names} (batches of blocks)", len(batches)) as bar:
        pending = submit(batches[0]) if batches else None
        for k, batch in enumerate(batches):
            # on a cluster the next batch computes while this one is written (locally: delayed objects only)
            following = submit(batches[k + 1]) if k + 1 < len(batches) else None
            values = client.gather(pending) if client is not None else dask.compute(*pending)
            for future in [pool.submit(write, n, batch, values) for n in range(len(targets))]:
                future.result()
            del values  # two batches at most: the one computing and the one being written
            pending = following
            bar.advance()


def write_lazy_raster(
    path: Path,
    array: da.Array,
    grid: Grid,
    *,
    dtype: str = "float32",
    nodata: float | int = np.nan,
    description: str | None = None,
    tags: dict[str, str] | None = None,
    batch_blocks: int = 8,
    compress: str = "deflate",
    resampling: str | None = None,
) -> None:
    """Compute ``array`` (shape = grid shape) block by block and write it to ``path`` (a Cloud-Optimized GeoTIFF).

    Parameters
    ----------
    batch_blocks : int, default=8
        On a distributed cluster, blocks computed at once; peak memory ≈
        batch_blocks × one block (plus the inputs of those blocks). Locally,
        independent blocks are bounded by :data:`IN_FLIGHT` per thread.
    resampling : str, optional
        Overview resampling: ``average``, ``nearest`` or ``mode``; by
        default ``average`` for floating-point data, ``nearest`` for integers.
    """
    target = RasterTarget(Path(path), array, dtype, nodata, description, dict(tags or {}), compress, resampling)
    write_lazy_rasters([target], grid, batch_blocks=batch_blocks)
