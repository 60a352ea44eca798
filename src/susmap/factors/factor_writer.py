"""Write derived factors as Cloud-Optimized GeoTIFFs with the compression off the computing pass.

:func:`write_factor_rasters` runs in two steps:

1. **One computing pass.** Every target's lazy array is computed in one dask
   graph (a DEM block is read once, with its halo, for slope, aspect and both
   curvatures), in bands of block rows (``band_bytes``), which bounds memory
   by the blocks in flight, whatever the grid's height. Each
   block goes straight to an *uncompressed* tiled part file (no block waits
   for its turn; no compression on this path), and for floating-point
   factors its overview pyramid (means of 2 × 2 cells, NaN ignored, as
   GDAL's ``AVERAGE``) is computed in the same worker thread and written to
   one part file per overview level.
2. **Compression.** Each factor is copied into its Cloud-Optimized GeoTIFF by
   GDAL's COG driver from a VRT that lists the part file and its overview
   levels, so GDAL only compresses (on ``NUM_THREADS=ALL_CPUS``: all cores,
   and the factors are copied concurrently) and writes the COG layout; it
   neither reads the data twice nor computes overviews.

The full-resolution values are those of the arrays, bit for bit; only the
compression and the overviews' provenance differ from
:func:`susmap.mapping.writer.write_lazy_rasters`, which this module falls
back to on a dask.distributed cluster.

Compression, measured on slope, aspect, plan and profile curvature of a
4,000² DEM (``benchmarks/terrain.py --codecs``; CPU seconds, which the load of
a shared machine moves less than wall time): DEFLATE level 1 took 2.95 s to
write the four COGs and 0.77 s to read them back, 275 MB; ZSTD level 1 0.94 s
and 0.50 s, 281 MB; LERC_DEFLATE (lossless, ``MAX_Z_ERROR=0``) 3.68 s and
0.94 s, 275 MB; LERC_ZSTD 1.56 s and 0.80 s, 285 MB. ZSTD is the codec of
choice for derived factors; DEFLATE stays the study's default
(``outputs.compress``, readable everywhere) and the study's value is always
used. The predictor (``PREDICTOR=3`` for floats) is used only where it pays
(:func:`predictor_pays`): terrain derivatives have noisy mantissas, and with
it their files were no smaller (slope 66 MB with it, 64 MB without) while
compression was slower; a DEM gains a third. ``lerc_deflate`` and
``lerc_zstd`` are accepted here for measurement.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import threading
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dask.array as da
import numpy as np
import rasterio
import rasterio.io
import rasterio.shutil
from numba import njit
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.transform import from_origin
from rasterio.windows import Window

from susmap.errors import OutputError, SusmapError
from susmap.grid import Grid
from susmap.mapping.writer import (
    RasterTarget,
    geotiff_profile,
    local_scheduler,
    overview_resampling,
    part_path,
    write_failure,
    write_lazy_rasters,
)

__all__ = [
    "FACTOR_COG_OPTIONS",
    "block_pyramid",
    "mean_2x2",
    "overview_count",
    "predictor_pays",
    "write_factor_rasters",
]

#: GDAL COG creation options of each compression (DEFLATE and ZSTD at level 1, no predictor; LERC lossless).
FACTOR_COG_OPTIONS: dict[str, dict[str, str | int]] = {
    "deflate": {"COMPRESS": "DEFLATE", "LEVEL": 1},
    "zstd": {"COMPRESS": "ZSTD", "LEVEL": 1},
    "lzw": {"COMPRESS": "LZW"},
    "none": {"COMPRESS": "NONE"},
    "lerc_deflate": {"COMPRESS": "LERC_DEFLATE", "MAX_Z_ERROR": 0, "LEVEL": 1},
    "lerc_zstd": {"COMPRESS": "LERC_ZSTD", "MAX_Z_ERROR": 0, "LEVEL": 1},
}
TILE = 256
#: GDAL's block cache while writing [bytes]: parts are written once and read once, so a cache only adds memory.
WRITE_CACHE_BYTES = 64 * 2**20
_GDAL_TYPES = {
    "uint8": "Byte",
    "int8": "Int8",
    "uint16": "UInt16",
    "int16": "Int16",
    "uint32": "UInt32",
    "int32": "Int32",
    "float32": "Float32",
    "float64": "Float64",
}


@njit(cache=True, nogil=True)
def _mean_2x2(src, out):  # pragma: no cover (jit)
    rows, cols = src.shape
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            acc = 0.0
            n = 0
            for di in range(2):
                y = 2 * i + di
                if y >= rows:
                    break
                for dj in range(2):
                    x = 2 * j + dj
                    if x >= cols:
                        break
                    v = src[y, x]
                    if not math.isnan(v):
                        acc += v
                        n += 1
            out[i, j] = acc / n if n > 0 else np.nan


def mean_2x2(block: np.ndarray) -> np.ndarray:
    """Halve a float block: each cell the mean of the non-NaN cells of a 2 × 2 window (NaN when all are NaN).

    An odd last row or column is averaged over the cells it has, as GDAL's
    ``AVERAGE`` overview resampling does at the raster's edge. Sums are
    accumulated in float64 and rounded once to float32.
    """
    src = np.ascontiguousarray(block, dtype=np.float32)
    out = np.empty(((src.shape[0] + 1) // 2, (src.shape[1] + 1) // 2), dtype=np.float32)
    _mean_2x2(src, out)
    return out


def block_pyramid(block: np.ndarray, levels: int) -> list[np.ndarray]:
    """The ``levels`` overview levels of a block: each level :func:`mean_2x2` of the one before."""
    out = []
    cur = block
    for _ in range(levels):
        cur = mean_2x2(cur)
        out.append(cur)
    return out


def overview_count(height: int, width: int, tile: int = TILE) -> int:
    """Overview levels of a COG (halving until the smallest fits in one ``tile``), as GDAL's COG driver makes."""
    n, factor = 0, 1
    while -(-height // factor) > tile or -(-width // factor) > tile:
        factor *= 2
        n += 1
    return n


class _PartFiles:
    """The uncompressed part files of one target: full resolution and its overview levels, one lock each."""

    def __init__(self, target: RasterTarget, grid: Grid, levels: int, stack: contextlib.ExitStack) -> None:
        self.target = target
        self.main = part_path(target.path)
        self.levels = levels
        self.paths = [self.main]
        self.dsts = [
            stack.enter_context(
                rasterio.open(self.main, "w", **geotiff_profile(grid, target.dtype, target.nodata, compress="none"))
            )
        ]
        for k in range(1, levels + 1):
            f = 2**k
            height, width = -(-grid.height // f), -(-grid.width // f)
            profile = geotiff_profile(grid, target.dtype, target.nodata, compress="none")
            profile.update(height=height, width=width, transform=grid.transform * grid.transform.scale(f, f))
            path = self.main.with_name(f"{self.main.name}.ovr{k}.tif")
            self.paths.append(path)
            self.dsts.append(stack.enter_context(rasterio.open(path, "w", **profile)))
        self.locks = [threading.Lock() for _ in self.dsts]

    def write(self, row0: int, col0: int, block: np.ndarray) -> None:
        block = np.asarray(block, dtype=self.target.dtype)
        planes = [block, *block_pyramid(block, self.levels)]  # the pyramid outside the locks: in parallel
        for k, (plane, dst, lock) in enumerate(zip(planes, self.dsts, self.locks, strict=True)):
            f = 2**k
            window = Window(col0 // f, row0 // f, plane.shape[1], plane.shape[0])
            with lock:
                try:
                    dst.write(plane, 1, window=window)
                except (OSError, RasterioError) as err:
                    raise write_failure(err, [self.target.path]) from err

    def vrt(self, grid: Grid) -> Path:
        """A VRT of the full-resolution part with the overview parts as its overviews, with the target's metadata."""
        t = self.target
        root = ET.Element("VRTDataset", rasterXSize=str(grid.width), rasterYSize=str(grid.height))
        if grid.crs is not None:
            ET.SubElement(root, "SRS", dataAxisToSRSAxisMapping="1,2").text = grid.crs.to_wkt()
        tr = grid.transform
        ET.SubElement(root, "GeoTransform").text = ", ".join(
            repr(float(v)) for v in (tr.c, tr.a, tr.b, tr.f, tr.d, tr.e)
        )
        meta = ET.SubElement(root, "Metadata")
        for key, value in {"AREA_OR_POINT": "Area", **t.tags}.items():
            ET.SubElement(meta, "MDI", key=str(key)).text = str(value)
        band = ET.SubElement(root, "VRTRasterBand", dataType=_GDAL_TYPES[np.dtype(t.dtype).name], band="1")
        if t.description:
            ET.SubElement(band, "Description").text = t.description
        if t.nodata is not None:
            ET.SubElement(band, "NoDataValue").text = "nan" if math.isnan(float(t.nodata)) else repr(t.nodata)
        source = ET.SubElement(band, "SimpleSource")
        ET.SubElement(source, "SourceFilename", relativeToVRT="0").text = str(self.main)
        ET.SubElement(source, "SourceBand").text = "1"
        for path in self.paths[1:]:
            ovr = ET.SubElement(band, "Overview")
            ET.SubElement(ovr, "SourceFilename", relativeToVRT="0").text = str(path)
            ET.SubElement(ovr, "SourceBand").text = "1"
        vrt = self.main.with_name(f"{self.main.name}.vrt")
        ET.ElementTree(root).write(vrt, encoding="utf-8")
        return vrt


class _BandSink:
    """A ``dask.array.store`` target: blocks of one band of rows (starting at ``row0``) to a target's part files."""

    def __init__(self, parts: _PartFiles, row0: int) -> None:
        self.parts, self.row0 = parts, int(row0)

    def __setitem__(self, key: tuple[slice, slice], value: np.ndarray) -> None:
        self.parts.write((key[0].start or 0) + self.row0, key[1].start or 0, value)


def _pyramid_levels(target: RasterTarget, grid: Grid, chunks: tuple[tuple[int, ...], tuple[int, ...]]) -> int:
    """Overview levels computed in the pass: all of them for averaged float32 data whose blocks halve evenly, else 0."""
    levels = overview_count(grid.height, grid.width)
    resampling = target.resampling or overview_resampling(target.dtype)
    if resampling != "average" or np.dtype(target.dtype) != np.float32:  # the pyramid is computed in float32
        return 0
    interior = [*chunks[0][:-1], *chunks[1][:-1]]
    return levels if all(c % 2**levels == 0 for c in interior) else 0


def _cog_options(compress: str, resampling: str, threads: str) -> dict:
    if compress not in FACTOR_COG_OPTIONS:
        raise ValueError(f"compression must be one of {', '.join(FACTOR_COG_OPTIONS)}, not {compress!r}")
    options = {"BLOCKSIZE": TILE, "BIGTIFF": "IF_SAFER", "OVERVIEW_RESAMPLING": resampling.upper()}
    options.update(FACTOR_COG_OPTIONS[compress])
    if compress != "none":
        options["NUM_THREADS"] = threads
    return options


#: Cells (a square window at the centre of the raster) on which :func:`predictor_pays` tries the predictor.
PREDICTOR_SAMPLE = 512
#: The predictor is used when it makes the sample at least this much smaller.
PREDICTOR_GAIN = 0.05


def predictor_pays(part: Path, compress: str) -> bool:
    """Whether GDAL's predictor (3, floating point; 2 for integers) makes ``compress`` worth its time on ``part``.

    Compresses the central :data:`PREDICTOR_SAMPLE`² window of the raster
    with and without it (in memory, GDAL's own codecs) and says yes when it
    saves at least :data:`PREDICTOR_GAIN` of the bytes: smooth rasters (a
    filled DEM, distances) gain a third, terrain derivatives with noisy
    mantissas gain nothing and only pay the predictor's time. The same data
    gives the same answer. LERC and no compression take no predictor.
    """
    if compress not in ("deflate", "zstd", "lzw"):
        return False
    with rasterio.open(part) as src:
        h, w = min(PREDICTOR_SAMPLE, src.height), min(PREDICTOR_SAMPLE, src.width)
        window = Window((src.width - w) // 2, (src.height - h) // 2, w, h)
        sample = src.read(1, window=window)
        profile = {"driver": "GTiff", "width": w, "height": h, "count": 1, "dtype": src.dtypes[0]}
    profile["transform"] = from_origin(0.0, float(h), 1.0, 1.0)
    predictor = 3 if np.dtype(sample.dtype).kind == "f" else 2
    codec = {"compress": compress, **{"deflate": {"zlevel": 1}, "zstd": {"zstd_level": 1}}.get(compress, {})}
    sizes = []
    for extra in ({}, {"predictor": predictor}):
        with rasterio.io.MemoryFile() as mem:
            with mem.open(**profile, **codec, **extra) as dst:
                dst.write(sample, 1)
            sizes.append(len(mem.read()))
    return sizes[1] <= (1.0 - PREDICTOR_GAIN) * sizes[0]


def _copy(src: Path, part: Path, target: RasterTarget, threads: str) -> None:
    resampling = target.resampling or overview_resampling(target.dtype)
    options = _cog_options(target.compress, resampling, threads)
    if predictor_pays(part, target.compress):
        options["PREDICTOR"] = "FLOATING_POINT" if np.dtype(target.dtype).kind == "f" else "STANDARD"
    try:
        rasterio.shutil.copy(str(src), str(target.path), driver="COG", **options)
    except (OSError, RasterioError):
        raise
    except Exception as err:  # GDAL's CPLE_* errors (a full disk while copying) are no RasterioError
        raise RasterioIOError(f"{target.path.name}: {err}") from err


def write_factor_rasters(
    targets: Sequence[RasterTarget], grid: Grid, *, band_bytes: float = 640e6, copies: int | None = None
) -> None:
    """Compute lazy arrays on ``grid`` in one pass and write each to its Cloud-Optimized GeoTIFF.

    Parameters
    ----------
    targets : sequence of RasterTarget
        Arrays with the grid's shape and their files; ``compress`` is one of
        :data:`FACTOR_COG_OPTIONS` (the study's ``outputs.compress``).
    band_bytes : float, default=640e6
        Output [bytes] of the band of block rows given to dask at once (at
        least one block row). Blocks are written as they come, so this bounds
        what dask holds in flight (input blocks read ahead, intermediate
        results), not the output; the input rows at a band's edges are read
        by both bands (4 block rows of 1,024 at 10,000² cells: 1.5 reads of
        the DEM instead of 3 with one block row, 730 MB peak against 650 MB).
    copies : int, optional
        Files compressed at once (default: 2, or 1 on one core), each on
        GDAL's ``NUM_THREADS=ALL_CPUS``.

    Raises
    ------
    OutputError
        A file cannot be written (a full disk named as such).
    """
    if not targets:
        return
    if not local_scheduler():
        write_lazy_rasters(targets, grid)
        return
    folders = [part_path(t.path).parent for t in targets]
    try:
        try:
            with rasterio.Env(GDAL_CACHEMAX=WRITE_CACHE_BYTES):
                vrts = _compute_parts(targets, grid, band_bytes)
                workers = max(1, min(len(targets), copies or min(2, os.cpu_count() or 1)))
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    jobs = [
                        pool.submit(_copy, vrt, part_path(t.path), t, "ALL_CPUS")
                        for vrt, t in zip(vrts, targets, strict=True)
                    ]
                    for future in jobs:
                        future.result()
        finally:
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)
    except SusmapError:
        raise
    except (OSError, RasterioError) as err:
        raise write_failure(err, [t.path for t in targets]) from err


def _compute_parts(targets: Sequence[RasterTarget], grid: Grid, band_bytes: float) -> list[Path]:
    chunks = targets[0].array.chunks
    arrays = []
    for t in targets:
        if t.array.shape != grid.shape:
            raise ValueError(f"{t.path.name}: array shape {t.array.shape} differs from the grid {grid.shape}")
        if t.compress not in FACTOR_COG_OPTIONS:
            raise OutputError(
                f"{t.path.name}: compression {t.compress!r} is not one of {', '.join(FACTOR_COG_OPTIONS)}"
            )
        arrays.append(t.array if t.array.chunks == chunks else t.array.rechunk(chunks))
    with contextlib.ExitStack() as stack:
        parts = [_PartFiles(t, grid, _pyramid_levels(t, grid, chunks), stack) for t in targets]
        row_bytes = grid.width * max(chunks[0]) * sum(np.dtype(t.dtype).itemsize for t in targets)
        rows_per_band = max(1, int(band_bytes // max(row_bytes, 1)))
        starts = np.concatenate([[0], np.cumsum(chunks[0])]).astype(int)
        for b0 in range(0, len(chunks[0]), rows_per_band):
            r0, r1 = starts[b0], starts[min(b0 + rows_per_band, len(chunks[0]))]
            da.store([a[r0:r1] for a in arrays], [_BandSink(p, r0) for p in parts], lock=False)
    return [p.vrt(grid) for p in parts]
