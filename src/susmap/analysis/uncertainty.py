"""Spread of the susceptibility prediction across fold models, cell by cell, chunked over the stack.

Given the models fitted in the folds of one cross-validation repeat (or any
list of fitted models: a bootstrap of the final model), every cell gets

* ``sd``: the standard deviation of the models' event probabilities
  (sample standard deviation, denominator M − 1 for M models: the models are
  a sample of the fits the data allow);
* ``p05``, ``p95``: their 5th and 95th percentiles (linear interpolation
  between order statistics, R type 7 = numpy's default; with five models the
  5th percentile lies 20 % of the way from the lowest to the second lowest);
* ``agreement``: the share of the models that put the cell in the same
  susceptibility class as the final map, with the final map's class edges
  (classes as :func:`susmap.mapping.assign_classes`: ``edges[i-1] < p <= edges[i]``).

Cells where a factor is NaN are NaN in every band. Prediction runs block by
block like :func:`susmap.mapping.predict_stack` (each model predicts the
valid cells of the block), so the raster is never held whole; one block
costs M + 1 probability arrays of ``c²`` float32 cells besides the models'
working memory.

Outputs: ``uncertainty.tif`` (float32, 3 bands: sd, p05, p95, with band
descriptions) and ``class_agreement.tif`` (float32 share 0–1, NaN nodata),
both Cloud-Optimized GeoTIFFs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import numpy as np
import rasterio
from rasterio.errors import RasterioError
from rasterio.windows import Window

from susmap.errors import ModelFitError, StudyConfigError
from susmap.mapping import assign_classes, predict_block
from susmap.mapping.figures import style_map_axes
from susmap.mapping.writer import (
    PART_COMPRESS,
    RasterTarget,
    cloud_optimize,
    geotiff_profile,
    part_path,
    remove_part,
    write_failure,
    write_lazy_rasters,
)
from susmap.stack import Stack

__all__ = [
    "BAND_DESCRIPTIONS",
    "PERCENTILES",
    "UncertaintyMaps",
    "plot_uncertainty",
    "uncertainty_block",
    "uncertainty_maps",
    "uncertainty_summary",
    "write_uncertainty",
]

#: Percentiles of the fold models' probabilities in bands 2 and 3 of ``uncertainty.tif``.
PERCENTILES = (5.0, 95.0)
#: Band descriptions of ``uncertainty.tif``.
BAND_DESCRIPTIONS = (
    "sd: standard deviation of the fold models' event probabilities",
    "p05: 5th percentile of the fold models' event probabilities",
    "p95: 95th percentile of the fold models' event probabilities",
)
#: Rows of the multi-band copy per window when ``uncertainty.tif`` is assembled.
_COPY_ROWS = 256


def _check_models(models: Sequence) -> list:
    models = list(models)
    if len(models) < 2:
        raise ModelFitError(f"uncertainty: at least two fitted fold models are needed, got {len(models)}")
    for i, m in enumerate(models):
        if not hasattr(m, "predict_proba"):
            raise ModelFitError(f"uncertainty: fold model {i} ({type(m).__name__}) has no predict_proba")
        final = m[-1] if hasattr(m, "steps") else m
        if hasattr(final, "predict_dense"):
            raise ModelFitError(
                f"uncertainty: fold model {i} ({type(final).__name__}) predicts from windows of cells; "
                "only cell-wise models are supported here"
            )
    return models


def uncertainty_block(
    block: np.ndarray, models: Sequence, edges: np.ndarray | None = None, final=None, final_prob=None
) -> np.ndarray:
    """(4, h, w) float32: sd, p05, p95 and class agreement of the models on a (n_factors, h, w) block.

    ``final`` (a fitted model) or ``final_prob`` (its probabilities, (h, w))
    gives the reference class; without ``edges`` or either of them the
    agreement band is NaN. NaN where any factor is NaN.
    """
    out = np.full((4, *block.shape[1:]), np.nan, dtype=np.float32)
    valid = np.isfinite(block).all(axis=0)
    if not valid.any():
        return out
    probs = np.stack([predict_block(block, m)[valid] for m in models]).astype(np.float64)  # (M, n_valid)
    out[0][valid] = probs.std(axis=0, ddof=1)
    lo, hi = np.percentile(probs, PERCENTILES, axis=0)
    out[1][valid] = lo
    out[2][valid] = hi
    if edges is not None and (final is not None or final_prob is not None):
        ref = predict_block(block, final)[valid] if final is not None else np.asarray(final_prob)[valid]
        ref_cls = assign_classes(ref, edges)
        same = assign_classes(probs, edges) == ref_cls[None, :]
        agree = same.mean(axis=0)
        agree[ref_cls == 0] = np.nan  # no final value (a NaN probability)
        out[3][valid] = agree
    return out


def _block_with_final(block: np.ndarray, final_block: np.ndarray, models, edges) -> np.ndarray:
    """:func:`uncertainty_block` with the final probabilities given as a (1, h, w) block."""
    return uncertainty_block(block, models, edges, final_prob=final_block[0])


@dataclass(frozen=True)
class UncertaintyMaps:
    """Lazy (dask) float32 maps (height, width), chunked like the stack; NaN = nodata.

    ``agreement`` is None when no class edges were given.
    """

    sd: da.Array
    p05: da.Array
    p95: da.Array
    agreement: da.Array | None


def uncertainty_maps(
    stack: Stack,
    models: Sequence,
    *,
    edges: np.ndarray | None = None,
    final=None,
) -> UncertaintyMaps:
    """Lazy spread of the fold models' probabilities over ``stack`` (nothing is computed here).

    Parameters
    ----------
    models : sequence of fitted estimators
        At least two, sklearn-like with ``predict_proba`` (classes [0, 1]),
        taking the stack's factors in order: e.g. the fold models of one
        cross-validation repeat.
    edges : ndarray of shape (k + 1,), optional
        Class edges of the final map (probabilities); with ``final``, the
        agreement band is computed.
    final : fitted estimator or dask/numpy array (height, width), optional
        The final model (predicted block by block here), or the final
        probability map itself (e.g. ``probability.tif`` opened lazily).
    """
    models = _check_models(models)
    data = stack.data.data
    if data.numblocks[0] != 1:
        data = data.rechunk({0: -1})
    chunks = ((4,), *data.chunks[1:])
    meta = np.empty((0, 0, 0), np.float32)
    if edges is not None:
        edges = np.asarray(edges, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) < 0):
            raise StudyConfigError(f"uncertainty: class edges must be an increasing sequence, got {edges.tolist()}")
    if final is not None and not hasattr(final, "predict_proba"):
        arr = da.asarray(final)
        if arr.shape != stack.grid.shape:
            raise StudyConfigError(
                f"uncertainty: the final probability map has shape {arr.shape}, the grid {stack.grid.shape}"
            )
        arr = arr.astype(np.float64).rechunk(data.chunks[1:])
        stats = da.map_blocks(
            _block_with_final, data, arr[None], models, edges, chunks=chunks, dtype=np.float32, meta=meta
        )
    else:
        stats = data.map_blocks(uncertainty_block, models, edges, final, chunks=chunks, dtype=np.float32, meta=meta)
    with_agreement = edges is not None and final is not None
    return UncertaintyMaps(sd=stats[0], p05=stats[1], p95=stats[2], agreement=stats[3] if with_agreement else None)


def _stack_bands(sources: Sequence[Path], dst_path: Path, grid, descriptions: Sequence[str], tags, compress) -> None:
    """Copy single-band float32 GeoTIFFs into one multi-band Cloud-Optimized GeoTIFF, a band of rows at a time."""
    part = part_path(dst_path)
    try:
        profile = geotiff_profile(grid, "float32", np.nan, compress=PART_COMPRESS)
        profile["count"] = len(sources)
        with contextlib.ExitStack() as es:
            srcs = [es.enter_context(rasterio.open(p)) for p in sources]
            dst = es.enter_context(rasterio.open(part, "w", **profile))
            for b, text in enumerate(descriptions, start=1):
                dst.set_band_description(b, text)
            dst.update_tags(**tags)
            for r0 in range(0, grid.height, _COPY_ROWS):
                window = Window(0, r0, grid.width, min(_COPY_ROWS, grid.height - r0))
                for b, src in enumerate(srcs, start=1):
                    dst.write(src.read(1, window=window), b, window=window)
        cloud_optimize(part, dst_path, compress=compress)
    except (OSError, RasterioError) as err:
        raise write_failure(err, [dst_path]) from err
    finally:
        remove_part(dst_path)


def write_uncertainty(
    stack: Stack,
    models: Sequence,
    folder: Path,
    *,
    edges: np.ndarray | None = None,
    final=None,
    compress: str = "deflate",
    label: str = "",
) -> dict[str, Path]:
    """Write ``uncertainty.tif`` (sd, p05, p95) and, with ``edges`` and ``final``, ``class_agreement.tif``.

    All bands come from one chunked pass over the stack (each block's models
    predict once for every band); the three bands are then copied into one
    3-band Cloud-Optimized GeoTIFF with band descriptions, a band of rows at a
    time. ``label`` (the model's name) goes into the tags. Returns
    ``{"uncertainty": path, "class_agreement": path}`` (the second only when written).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    maps = uncertainty_maps(stack, models, edges=edges, final=final)
    n = len(list(models))
    tags = {"models": str(n), "units": "probability [0-1]"}
    if label:
        tags["model"] = label
    scratch = folder / ".uncertainty.tif.bands"
    scratch.mkdir(exist_ok=True)
    band_paths = [scratch / f"{name}.tif" for name in ("sd", "p05", "p95")]
    targets = [
        RasterTarget(p, arr, "float32", np.nan, text, tags, PART_COMPRESS)
        for p, arr, text in zip(band_paths, (maps.sd, maps.p05, maps.p95), BAND_DESCRIPTIONS, strict=True)
    ]
    out = {"uncertainty": folder / "uncertainty.tif"}
    if maps.agreement is not None:
        out["class_agreement"] = folder / "class_agreement.tif"
        agree_tags = {**tags, "units": "share of models [0-1]", "classes": str(len(edges) - 1)}
        text = "class agreement: share of the fold models giving the final map's class"
        targets.append(
            RasterTarget(out["class_agreement"], maps.agreement, "float32", np.nan, text, agree_tags, compress)
        )
    try:
        write_lazy_rasters(targets, stack.grid)
        _stack_bands(band_paths, out["uncertainty"], stack.grid, BAND_DESCRIPTIONS, tags, compress)
    finally:
        for p in band_paths:
            with contextlib.suppress(OSError):
                p.unlink()
        with contextlib.suppress(OSError):
            scratch.rmdir()
    return out


def uncertainty_summary(uncertainty_path: Path, agreement_path: Path | None = None, *, rows: int = 512) -> dict:
    """Mean and 95th percentile of the sd band, and the share of cells whose class most fold models share.

    Read a band of ``rows`` rows at a time (never the raster whole); the
    95th percentile comes from a histogram of the sd in steps of 0.001
    (probabilities lie in [0, 1], so sd ≤ 0.5). Returns ``mean_sd``,
    ``p95_sd``, ``cells`` and, with ``agreement_path``, ``share_agreeing``:
    the share of valid cells where more than half of the fold models give
    the final map's class.
    """
    counts = np.zeros(501, dtype=np.int64)
    total, n = 0.0, 0
    agree, n_agree = 0, 0
    with rasterio.open(uncertainty_path) as src:
        agr = rasterio.open(agreement_path) if agreement_path else None
        try:
            for top in range(0, src.height, rows):
                win = Window(0, top, src.width, min(rows, src.height - top))
                sd = src.read(1, window=win)
                ok = np.isfinite(sd)
                total += float(sd[ok].sum())
                n += int(ok.sum())
                counts += np.bincount(np.clip(np.round(sd[ok] * 1000).astype(int), 0, 500), minlength=501)
                if agr is not None:
                    a = agr.read(1, window=win)
                    ok_a = np.isfinite(a)
                    agree += int((a[ok_a] > 0.5).sum())
                    n_agree += int(ok_a.sum())
        finally:
            if agr is not None:
                agr.close()
    out = {"cells": n, "mean_sd": total / n if n else float("nan")}
    out["p95_sd"] = float(np.searchsorted(np.cumsum(counts), 0.95 * n) / 1000) if n else float("nan")
    if agreement_path:
        out["share_agreeing"] = agree / n_agree if n_agree else float("nan")
    return out


def plot_uncertainty(uncertainty_path: Path, out_png: Path, *, agreement_path: Path | None = None, max_pixels=900):
    """The sd of the fold models' probabilities (and, beside it, the class agreement), read decimated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rasterio.enums import Resampling

    paths = [(uncertainty_path, "sd of the fold models' probability", "magma_r", (0, None))]
    if agreement_path is not None:
        paths.append((agreement_path, "share of fold models giving the map's class", "RdYlGn", (0, 1)))
    fig, axes = plt.subplots(1, len(paths), figsize=(6.2 * len(paths), 5.6), dpi=110, squeeze=False)
    for ax, (path, title, cmap, (lo, hi)) in zip(axes[0], paths, strict=True):
        with rasterio.open(path) as src:
            scale = max(1.0, max(src.height, src.width) / max_pixels)
            shape = (max(1, round(src.height / scale)), max(1, round(src.width / scale)))
            a = src.read(1, out_shape=shape, resampling=Resampling.average)
            left, bottom, right, top = src.bounds
        img = ax.imshow(
            np.ma.masked_invalid(a),
            cmap=cmap,
            vmin=lo,
            vmax=hi,
            extent=(left, right, bottom, top),
            interpolation="nearest",
        )
        fig.colorbar(img, ax=ax, shrink=0.8)
        style_map_axes(ax, title)
    fig.tight_layout()
    fig.savefig(out_png, metadata={"Software": None})
    plt.close(fig)
