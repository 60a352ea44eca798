"""Stream a lazy (dask) 2-D array into a tiled, compressed GeoTIFF.

Blocks are computed in batches on the active dask scheduler (threads, or a
distributed cluster, whose results come back to this process) and written
window by window by this process alone, so memory holds at most one batch of
blocks and the file is never opened by two threads. Blocks are written in a
fixed order, so the same data gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import dask
import dask.array as da
import numpy as np
import rasterio
from rasterio.windows import Window

from susmap.grid import Grid

__all__ = ["geotiff_profile", "write_lazy_raster"]


def geotiff_profile(grid: Grid, dtype: str, nodata: float | int, *, tile: int = 256) -> dict:
    """Creation options of susmap's GeoTIFFs: tiled (``tile`` cells, a multiple of 16), DEFLATE, predictor."""
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": 1,
        "dtype": dtype,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": nodata,
        "compress": "deflate",
        "predictor": 3 if np.dtype(dtype).kind == "f" else 2,
        "tiled": True,
        "blockxsize": tile,
        "blockysize": tile,
        "BIGTIFF": "IF_SAFER",
    }
    return profile


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
) -> None:
    """Compute ``array`` (shape = grid shape) block by block and write it to ``path``.

    Parameters
    ----------
    batch_blocks : int, default=8
        Blocks computed at once; peak memory ≈ batch_blocks × one block
        (plus the inputs of those blocks).
    """
    if array.shape != grid.shape:
        raise ValueError(f"array shape {array.shape} differs from the grid {grid.shape}")
    blocks = array.to_delayed()
    offsets_y = np.concatenate([[0], np.cumsum(array.chunks[0])])
    offsets_x = np.concatenate([[0], np.cumsum(array.chunks[1])])
    keys = [(i, j) for i in range(blocks.shape[0]) for j in range(blocks.shape[1])]
    with rasterio.open(path, "w", **geotiff_profile(grid, dtype, nodata)) as dst:
        if description:
            dst.set_band_description(1, description)
        if tags:
            dst.update_tags(**tags)
        for start in range(0, len(keys), batch_blocks):
            batch = keys[start : start + batch_blocks]
            values = dask.compute(*[blocks[i, j] for i, j in batch])
            for (i, j), block in zip(batch, values, strict=True):
                win = Window(int(offsets_x[j]), int(offsets_y[i]), block.shape[1], block.shape[0])
                dst.write(np.asarray(block, dtype=dtype), 1, window=win)
