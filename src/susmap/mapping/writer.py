"""Stream a lazy (dask) 2-D array into a tiled, compressed GeoTIFF.

Blocks are computed in batches on the active dask scheduler (threads, or a
distributed cluster, whose results come back to this process) and written
window by window by this process alone, so memory holds at most one batch of
blocks and the file is never opened by two threads. Blocks are written in a
fixed order, so the same data gives the same bytes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import rasterio
from rasterio.windows import Window

from susmap.grid import Grid

__all__ = ["RasterTarget", "geotiff_profile", "write_lazy_raster", "write_lazy_rasters"]


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


def write_lazy_rasters(targets: Sequence[RasterTarget], grid: Grid, *, batch_blocks: int = 8) -> None:
    """Compute several lazy arrays on ``grid`` block by block and write each to its GeoTIFF.

    Block (i, j) of every target is computed in the same ``dask.compute`` call,
    so work the arrays share (one DEM read, one derivative pass for slope,
    aspect and curvatures) is done once. Memory holds at most
    ``batch_blocks`` blocks of every target (plus their inputs).
    """
    if not targets:
        return
    chunks = targets[0].array.chunks
    arrays = []
    for t in targets:
        if t.array.shape != grid.shape:
            raise ValueError(f"{t.path.name}: array shape {t.array.shape} differs from the grid {grid.shape}")
        arrays.append(t.array if t.array.chunks == chunks else t.array.rechunk(chunks))
    blocks = [a.to_delayed() for a in arrays]
    offsets_y = np.concatenate([[0], np.cumsum(chunks[0])])
    offsets_x = np.concatenate([[0], np.cumsum(chunks[1])])
    keys = [(i, j) for i in range(len(chunks[0])) for j in range(len(chunks[1]))]
    with contextlib.ExitStack() as stack:
        dsts = []
        for t in targets:
            profile = geotiff_profile(grid, t.dtype, t.nodata, compress=t.compress)
            dst = stack.enter_context(rasterio.open(t.path, "w", **profile))
            if t.description:
                dst.set_band_description(1, t.description)
            if t.tags:
                dst.update_tags(**t.tags)
            dsts.append(dst)

        def write(n: int, batch: list[tuple[int, int]], values: tuple) -> None:
            t, dst = targets[n], dsts[n]
            for (i, j), block in zip(batch, values[n * len(batch) : (n + 1) * len(batch)], strict=True):
                win = Window(int(offsets_x[j]), int(offsets_y[i]), block.shape[1], block.shape[0])
                dst.write(np.asarray(block, dtype=t.dtype), 1, window=win)

        # each file is written by one thread at a time (GDAL datasets are not thread-safe);
        # different files are compressed and written in parallel
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=min(len(targets), os.cpu_count() or 1)))
        for start in range(0, len(keys), batch_blocks):
            batch = keys[start : start + batch_blocks]
            values = dask.compute(*[b[i, j] for b in blocks for i, j in batch])
            for future in [pool.submit(write, n, batch, values) for n in range(len(targets))]:
                future.result()


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
) -> None:
    """Compute ``array`` (shape = grid shape) block by block and write it to ``path``.

    Parameters
    ----------
    batch_blocks : int, default=8
        Blocks computed at once; peak memory ≈ batch_blocks × one block
        (plus the inputs of those blocks).
    """
    target = RasterTarget(Path(path), array, dtype, nodata, description, dict(tags or {}), compress)
    write_lazy_rasters([target], grid, batch_blocks=batch_blocks)
