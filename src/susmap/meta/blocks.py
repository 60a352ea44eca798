"""Scene segmentation into blocks by SLIC on the weighted factor stack (paper 004, section 4.3.1, eq. 2).

The study area is cut into ``K`` superpixels ("blocks") by simple linear
iterative clustering (SLIC, Achanta et al. 2012) on the factor composition,
with the distance of eq. 2

    d_f = ‖(w_1 z_1, w_2 z_2, ...)_j - (w_1 z_1, w_2 z_2, ...)_i‖,
    d_s = √((x_j - x_i)² + (y_j - y_i)²),
    D   = √(d_f² + (d_s / S)² M²),

``z_m`` the standardised factors, ``w_m`` their weights, ``S = √(N/K)`` the
grid interval [cells] and ``M`` the compactness. (Eq. 2 prints ``d_f`` as a
squared norm inside a root that squares it again; standard SLIC, used here,
takes the Euclidean norm.) :func:`skimage.segmentation.slic` computes it
with the features divided by ``M`` – the same argmin – after rescaling the
whole feature image (all channels jointly) to [0, 1]; so ``M`` compares a
feature difference, in units of the range of the weighted standardised
factors, with a spatial offset in units of ``S``. Paper 004 section 4.6
runs the pixel assignment 5 times (``max_num_iter=5``).

Factor weights
--------------
Eq. 2 weights each factor by its contribution to landslide occurrence. The
weights are an argument; the pipeline will pass the random-forest
importance of the factors on the labelled samples
(:func:`susmap.analysis.importance.random_forest_importance`, mean over the
forest sizes; :func:`weights_from_importance` turns its table into weights).

Large rasters
-------------
SLIC keeps the whole (height, width, factors) image in memory in float64 and
its cost grows with the number of cells, so a stack of more than
``max_cells`` cells is **block-averaged** by an integer factor ``f`` (mean
of the valid cells of every ``f × f`` window; a coarse cell is valid if any
of its fine cells is) and segmented at the coarse resolution. Each valid
full-resolution cell then takes the label of the coarse cell it lies in
(nearest-neighbour upsampling, which is mask-aware by construction: the
parent of a valid fine cell is valid and labelled), and nodata cells get 0.
This keeps every valid cell in exactly one block and costs one pass over the
stack; block boundaries are only as fine as the coarse grid, i.e. they are
located to within ``f`` cells, which is immaterial for blocks that are
hundreds of cells across (``S`` ≫ ``f`` whenever ``K`` ≪ ``max_cells``).
A segmentation at full resolution would cost memory and time in proportion
to the raster, for boundaries that no task sees.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "as_array",
    "block_average",
    "block_map_png",
    "block_polygons",
    "downsample_factor",
    "is_dask",
    "relabel_blocks",
    "segment_blocks",
    "split_areas",
    "valid_mask",
    "values_at",
    "weights_from_importance",
    "write_block_polygons",
]


def as_array(stack: Any) -> Any:
    """The (factor, y, x) numpy or dask array of a stack given as an array, an xarray DataArray or a Stack."""
    data = stack
    if not (isinstance(data, np.ndarray) or is_dask(data)):
        data = getattr(data, "data", data)  # xarray DataArray → its array; Stack → its DataArray
        if not (isinstance(data, np.ndarray) or is_dask(data)):
            data = getattr(data, "data", data)
    if not (isinstance(data, np.ndarray) or is_dask(data)):
        data = np.asarray(data)
    if data.ndim != 3:
        raise ValueError(f"the stack must be an array of shape (factor, height, width), got {data.shape}")
    return data


def is_dask(arr: Any) -> bool:
    """Whether ``arr`` is a dask array."""
    return type(arr).__module__.startswith("dask")


def valid_mask(stack: Any) -> np.ndarray:
    """Boolean (height, width): True where every factor is finite (computed for a dask stack)."""
    arr = as_array(stack)
    if is_dask(arr):
        import dask.array as da

        return np.asarray(da.isfinite(arr).all(axis=0).compute())
    return np.isfinite(arr).all(axis=0)


def values_at(stack: Any, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Factor values at cells, float32 of shape (n, n_factors); reads only those cells of a dask stack."""
    arr = as_array(stack)
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    if rows.size == 0:
        return np.empty((0, arr.shape[0]), dtype=np.float32)
    h, w = arr.shape[1:]
    if rows.min() < 0 or cols.min() < 0 or rows.max() >= h or cols.max() >= w:
        raise ValueError(f"cells outside the grid of {h} x {w}")
    if is_dask(arr):
        import dask.array as da

        out = da.stack([arr[f].vindex[rows, cols] for f in range(arr.shape[0])], axis=1).compute()
        return np.asarray(out, dtype=np.float32)
    return np.asarray(arr[:, rows, cols].T, dtype=np.float32)


def downsample_factor(shape: tuple[int, int], max_cells: int) -> int:
    """Smallest integer ``f`` with ``ceil(h/f) · ceil(w/f) ≤ max_cells``."""
    h, w = int(shape[0]), int(shape[1])
    if max_cells < 1:
        raise ValueError(f"max_cells must be positive, got {max_cells}")
    f = max(1, math.ceil(math.sqrt(h * w / max_cells)))
    while math.ceil(h / f) * math.ceil(w / f) > max_cells:
        f += 1
    return f


def _average_numpy(arr: np.ndarray, f: int) -> np.ndarray:
    n, h, w = arr.shape
    hc, wc = math.ceil(h / f), math.ceil(w / f)
    pad = np.full((n, hc * f, wc * f), np.nan, dtype=np.float32)
    pad[:, :h, :w] = arr
    windows = pad.reshape(n, hc, f, wc, f)
    finite = np.isfinite(windows)
    counts = finite.sum(axis=(2, 4))
    sums = np.where(finite, windows, 0.0).sum(axis=(2, 4), dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan).astype(np.float32)  # no valid cell: nodata


def _block_average_lazy(arr: Any, f: int) -> Any:
    """:func:`block_average` of a dask stack, not yet computed."""
    import dask.array as da

    arr = arr.astype(np.float32)
    arr = da.where(da.isfinite(arr).all(axis=0)[None], arr, np.float32(np.nan))
    if f == 1:
        return arr
    step = max(f, (max(arr.chunksize[1:]) // f) * f)
    arr = arr.rechunk({0: -1, 1: step, 2: step})
    chunks = (arr.chunks[0], *(tuple(math.ceil(c / f) for c in arr.chunks[i]) for i in (1, 2)))
    return arr.map_blocks(_average_numpy, f, dtype=np.float32, chunks=chunks)


def block_average(stack: Any, factor: int) -> np.ndarray:
    """Mean of the valid cells of every ``factor × factor`` window, float32 (n_factors, ceil(h/f), ceil(w/f)).

    Cells where any factor is NaN count as nodata for every factor; a window
    without a valid cell is NaN. A dask stack is reduced chunk by chunk (the
    chunks are aligned to multiples of ``factor`` first).
    """
    arr = as_array(stack)
    f = int(factor)
    if f < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    if is_dask(arr):
        return np.asarray(_block_average_lazy(arr, f).compute(), dtype=np.float32)
    arr = np.asarray(arr, dtype=np.float32)
    arr = np.where(np.isfinite(arr).all(axis=0)[None], arr, np.float32(np.nan))
    return arr if f == 1 else _average_numpy(arr, f)


def weights_from_importance(table: pd.DataFrame, names: Sequence[str], column: str = "mean") -> np.ndarray:
    """Factor weights for eq. 2 from an importance table, in the order of ``names``, mean 1.

    ``table`` is what :func:`susmap.analysis.importance.random_forest_importance`
    (or :func:`~susmap.analysis.importance.information_gain`) returns: one
    row per factor with columns ``factor`` and ``column``. Negative
    importances count as 0; all-zero importances give equal weights.
    """
    imp = table.set_index("factor")[column]
    missing = [n for n in names if n not in imp.index]
    if missing:
        raise ValueError(f"the importance table has no row for {missing}")
    w = np.clip(np.array([float(imp[n]) for n in names]), 0.0, None)
    if not np.isfinite(w).all() or w.sum() <= 0:
        return np.ones(len(names))
    return w / w.mean()


def relabel_blocks(labels: np.ndarray, rows_per_chunk: int = 512) -> np.ndarray:
    """Labels (non-negative ints) renumbered 1 ... n in order of first appearance in raster order; 0 stays 0.

    Works through ``rows_per_chunk`` rows at a time with a lookup table, so
    the only full-size array is the int32 output (a whole-raster
    ``np.unique`` would hold several int64 copies: 2.5 GB more at 8000 x 8000).
    """
    labels = np.asarray(labels)
    out = np.zeros(labels.shape, dtype=np.int32)
    if labels.size == 0:
        return out
    lut = np.zeros(int(labels.max()) + 1, dtype=np.int32)
    next_id = 1
    for r0 in range(0, labels.shape[0], rows_per_chunk):
        chunk = labels[r0 : r0 + rows_per_chunk]
        flat = chunk.ravel()
        values, first = np.unique(flat, return_index=True)
        new = (values > 0) & (lut[values] == 0)
        for value in values[new][np.argsort(first[new], kind="stable")]:
            lut[value] = next_id
            next_id += 1
        out[r0 : r0 + rows_per_chunk] = lut[chunk]
    return out


def _fill_unlabelled(labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Valid cells SLIC left at 0 take the label of the nearest labelled cell."""
    from scipy import ndimage

    hole = mask & (labels == 0)
    if not hole.any() or not (labels > 0).any():
        return labels
    _, (ri, ci) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    out = labels.copy()
    out[hole] = labels[ri[hole], ci[hole]]
    return out


def segment_blocks(
    stack: Any,
    n_blocks: int = 64,
    *,
    compactness: float = 0.5,
    weights: Sequence[float] | np.ndarray | None = None,
    max_cells: int = 1_500_000,
    max_num_iter: int = 5,
    clip_sd: float = 3.0,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Blocks (superpixels) of the study area by SLIC on the weighted standardised factors (paper 004 4.3.1).

    Parameters
    ----------
    stack : array-like of shape (n_factors, height, width)
        Factor values (numpy or dask, or an xarray DataArray / Stack), NaN =
        nodata; a cell is valid where every factor is finite.
    n_blocks : int, default=64
        Blocks requested, ``K`` (paper 004 section 4.6: 64 for FJ, 196 for FL).
        SLIC returns about this many (connectivity enforcement merges small
        fragments and may split others).
    compactness : float, default=0.5
        ``M`` of eq. 2: weight of spatial proximity against feature
        similarity, the feature image rescaled to [0, 1] (see the module
        notes). Small values follow factor boundaries (ragged blocks),
        large ones give regular blocks. On the synthetic regional landscape
        (six factors, 100 blocks requested) the share of the factors'
        variance left within blocks was 0.67 at M = 0.2 (89 blocks), 0.71
        at 0.5 (100 blocks) and 0.74 at 5 (100 nearly regular blocks); at
        M ≤ 0.1 SLIC's connectivity enforcement merged the ragged segments
        into 36 or fewer blocks. 0.5 follows the factors somewhat while
        keeping the requested number of blocks.
    weights : sequence of float, optional
        Weight ``w_m`` of every factor (any positive scale; divided by their
        mean). Default: equal weights. The pipeline passes random-forest
        importances (:func:`weights_from_importance` of
        :func:`susmap.analysis.importance.random_forest_importance`).
    max_cells : int, default=1_500_000
        Larger stacks are block-averaged to at most this many cells before
        segmenting, and labels are assigned back to full resolution
        (module notes).
    max_num_iter : int, default=5
        SLIC assignment iterations (paper 004 section 4.6: 5).
    clip_sd : float, default=3.0
        Standardised factors are clipped to ±``clip_sd`` so that an outlier
        does not stretch the [0, 1] rescaling of the feature image.
    valid : numpy.ndarray of bool, optional
        Precomputed validity mask (height, width); computed from the stack if
        not given.

    Returns
    -------
    numpy.ndarray of int32, shape (height, width)
        Block id 1 ... n of every valid cell, numbered in raster order of
        first appearance; 0 on nodata. Every valid cell is in exactly one
        block.

    Raises
    ------
    ValueError
        No valid cell, bad weights or parameters.
    """
    from skimage.segmentation import slic

    arr = as_array(stack)
    n_f, h, w = arr.shape
    if n_blocks < 1:
        raise ValueError(f"n_blocks must be positive, got {n_blocks}")
    if compactness <= 0:
        raise ValueError(f"compactness must be positive, got {compactness}")
    wts = np.ones(n_f) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if wts.size != n_f or not np.isfinite(wts).all() or np.any(wts < 0) or wts.sum() <= 0:
        raise ValueError(f"weights must be {n_f} non-negative finite numbers, not all 0; got {weights!r}")
    wts = wts / wts.mean()
    f = downsample_factor((h, w), max_cells)
    if valid is None and is_dask(arr):  # one pass over the stack for the mask and the (coarse) image
        import dask
        import dask.array as da

        full_valid, coarse = dask.compute(da.isfinite(arr).all(axis=0), _block_average_lazy(arr, f))
        full_valid, coarse = np.asarray(full_valid), np.asarray(coarse, dtype=np.float32)
    else:
        full_valid = valid_mask(arr) if valid is None else np.asarray(valid, dtype=bool)
        if full_valid.shape != (h, w):
            raise ValueError(f"valid mask of shape {full_valid.shape} does not match the stack ({h}, {w})")
        if f == 1:
            coarse = np.where(full_valid[None], np.asarray(arr, dtype=np.float32), np.float32(np.nan))
        else:
            coarse = block_average(arr, f)
    if not full_valid.any():
        raise ValueError("the stack has no valid cell (a cell is valid where every factor is finite)")
    mask = np.isfinite(coarse).all(axis=0)

    # standardise over valid coarse cells, clip, weight (eq. 2: w_m z_m)
    vals = coarse[:, mask].astype(np.float64)
    mean = vals.mean(axis=1)
    sd = vals.std(axis=1)
    sd[sd == 0] = 1.0
    z = np.clip((vals - mean[:, None]) / sd[:, None], -clip_sd, clip_sd) * wts[:, None]
    image = np.zeros((*mask.shape, n_f), dtype=np.float64)
    image[mask] = z.T

    labels = slic(
        image,
        n_segments=int(n_blocks),
        compactness=float(compactness),
        max_num_iter=int(max_num_iter),
        sigma=0,
        convert2lab=False,
        enforce_connectivity=True,
        start_label=1,
        mask=mask,
        channel_axis=-1,
    ).astype(np.int32)
    labels = _fill_unlabelled(np.where(mask, labels, 0), mask)
    if not (labels > 0).any():  # SLIC labels nothing when one segment is asked for: one block
        labels = mask.astype(np.int32)

    if f > 1:
        rows = np.arange(h) // f
        cols = np.arange(w) // f
        labels = labels[rows[:, None], cols[None, :]]
    labels[~full_valid] = 0
    return relabel_blocks(labels)


def split_areas(
    block_ids: np.ndarray, axis: str = "x", fraction: float = 0.5
) -> tuple[np.ndarray, dict[int, int], int]:
    """Cut the study area in two along a grid line and every block that straddles it (two-area experiments).

    Paper 004's experiments B-D train on one area (FJ) and adapt to another
    (FL). With one study area, a straight cut makes two: area 1 west of the
    cut (``axis="x"``) or north of it (``axis="y"``), area 2 the rest. The
    cut lies on the grid line where the share of the valid cells (block
    id > 0) on the area-1 side is nearest to ``fraction``, so
    ``fraction=0.5`` halves the valid area.

    Parameters
    ----------
    block_ids : numpy.ndarray of int, shape (height, width)
        Blocks, 0 = nodata.
    axis : {"x", "y"}
        Cut across columns (x: a north-south line) or rows (y: an east-west line).
    fraction : float in (0, 1)
        Share of the valid cells in area 1.

    Returns
    -------
    (numpy.ndarray of int32, dict of int to int, int)
        Block ids renumbered so that no block spans the cut (0 stays nodata),
        the area (1 or 2) of every new block, and the cut: the first column
        (row) of area 2.
    """
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    if not 0.0 < float(fraction) < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    ids = np.asarray(block_ids)
    valid = ids > 0
    if not valid.any():
        raise ValueError("the block raster has no valid cell")
    per_line = valid.sum(axis=0 if axis == "x" else 1)
    cum = np.cumsum(per_line)
    cut = int(np.argmin(np.abs(cum - float(fraction) * cum[-1]))) + 1
    cut = min(max(cut, 1), per_line.size - 1)
    line = np.arange(ids.shape[1] if axis == "x" else ids.shape[0])
    area = np.where(line < cut, 1, 2).astype(np.int64)
    area_cells = area[None, :] if axis == "x" else area[:, None]
    combined = np.where(valid, ids.astype(np.int64) * 2 + (area_cells - 1), 0)
    new_ids = relabel_blocks(combined)
    pairs = np.unique(np.stack([new_ids[valid], combined[valid] % 2 + 1]), axis=1)
    return new_ids, {int(b): int(a) for b, a in pairs.T}, cut


def block_polygons(block_ids: np.ndarray, transform: Any, crs: Any) -> Any:
    """Block outlines as a GeoDataFrame: one (multi)polygon per block id.

    Parameters
    ----------
    block_ids : numpy.ndarray of int, shape (height, width)
        Output of :func:`segment_blocks` (0 = nodata, not polygonised).
    transform : affine.Affine
        Cell → map coordinates of the grid.
    crs : anything :mod:`pyproj` reads
        CRS of the map coordinates.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``block_id``, ``n_cells``, ``area_m2`` (in CRS units²) and
        ``geometry``, sorted by block id.
    """
    import geopandas as gpd
    import rasterio.features
    from shapely.geometry import shape as to_shape

    ids = np.ascontiguousarray(block_ids, dtype=np.int32)
    geoms, values = [], []
    for geom, value in rasterio.features.shapes(ids, mask=ids > 0, transform=transform, connectivity=4):
        geoms.append(to_shape(geom))
        values.append(int(value))
    frame = gpd.GeoDataFrame({"block_id": values}, geometry=geoms, crs=crs)
    frame = frame.dissolve(by="block_id", as_index=False).sort_values("block_id").reset_index(drop=True)
    counts = np.bincount(ids.ravel(), minlength=int(ids.max()) + 1)
    frame["n_cells"] = counts[frame["block_id"].to_numpy()]
    frame["area_m2"] = frame.geometry.area
    return frame[["block_id", "n_cells", "area_m2", "geometry"]]


def write_block_polygons(frame: Any, path: str | Path, layer: str = "blocks") -> Path:
    """Write block polygons (:func:`block_polygons`) as a GeoPackage layer; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_file(path, layer=layer, driver="GPKG")
    return path


def block_map_png(
    block_ids: np.ndarray,
    path: str | Path,
    *,
    transform: Any | None = None,
    events: pd.DataFrame | None = None,
    title: str = "",
    seed: int = 0,
) -> Path:
    """A PNG map of the blocks: random pastel colour per block, boundaries in black, optional samples.

    Parameters
    ----------
    block_ids : numpy.ndarray of int, shape (height, width)
        Block ids (0 = nodata, drawn white).
    path : path
        PNG to write.
    transform : affine.Affine, optional
        Draw in map coordinates [m] instead of cell indices.
    events : pandas.DataFrame, optional
        Samples with columns ``row``, ``col`` and ``label`` (1: event, drawn
        as red triangles; 0: non-event, blue dots).
    title : str
        Figure title.
    seed : int
        Seeds the block colours.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from skimage.segmentation import find_boundaries

    ids = np.asarray(block_ids)
    h, w = ids.shape
    n = int(ids.max())
    rng = np.random.default_rng(seed)
    colours = np.ones((n + 1, 4))
    colours[1:, :3] = 0.55 + 0.45 * rng.random((n, 3))
    rgba = colours[ids]
    edges = find_boundaries(ids, mode="inner") & (ids > 0)
    rgba[edges] = (0.0, 0.0, 0.0, 1.0)
    if transform is not None:
        x0, y0 = transform * (0, 0)
        x1, y1 = transform * (w, h)
        extent = (min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1))
    else:
        extent = (-0.5, w - 0.5, h - 0.5, -0.5)
    fig, ax = plt.subplots(figsize=(7, 7 * h / max(w, 1) + 0.6), constrained_layout=True)
    ax.imshow(rgba, extent=extent, interpolation="nearest", cmap=ListedColormap(colours))
    if events is not None and len(events):
        r = events["row"].to_numpy(dtype=float) + 0.5
        c = events["col"].to_numpy(dtype=float) + 0.5
        if transform is not None:
            xs, ys = transform * (c, r)
        else:
            xs, ys = c - 0.5, r - 0.5
        xs, ys = np.asarray(xs), np.asarray(ys)
        lab = events["label"].to_numpy().astype(int)
        ax.scatter(xs[lab == 0], ys[lab == 0], s=8, c="tab:blue", label="non-event", linewidths=0)
        ax.scatter(xs[lab == 1], ys[lab == 1], s=14, c="tab:red", marker="^", label="event", linewidths=0)
        ax.legend(loc="lower right", fontsize=8, framealpha=0.8)
    ax.set_title(title or f"{n} blocks")
    if transform is not None:
        ax.set_xlabel("x [m]")
        ax.set_ylabel("y [m]")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
