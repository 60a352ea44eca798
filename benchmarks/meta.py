"""Block-wise meta-learning (paper 004): stage timings and few-shot OA on Ecuador and a synthetic landscape.

For each data set the benchmark

1. runs the whole method once (:func:`susmap.meta.fit_blockwise`): random-
   forest factor importance and SLIC segmentation, unsupervised pretraining
   (RBM → RBM → DAE), task building, meta-training, validation on the
   meta-test blocks, adaptation of every block, and the mosaic prediction of
   the whole grid – and prints the wall time of every stage;
2. compares, by :func:`susmap.meta.evaluate_few_shot` (paper 004 section 5.3,
   protocol A: meta-train on 60 % of the blocks, test on the other 40 %),
   the overall accuracy on the meta-test blocks' query samples after
   adapting with K = 1, 5 and M/2 labelled samples, for a global MLP, a
   global random forest, the pretrained network fine-tuned globally
   (RL-based), plain MAML and the proposed method, over repeated seeds.

Data sets: the bundled Ecuador study (350 labelled points, 5 terrain
factors, 415 x 383 cells of 10 m; 16 blocks) and the synthetic regional
landscape (:func:`susmap.datasets.synthetic.regional_landscape`, 256 x 256
cells, 4 regions with contradicting landslide rules, 3000 labelled cells;
100 blocks). Settings: :meth:`BlockwiseSettings.quick` (the paper's network,
α = 0.1, 5 inner and adaptation steps, but meta-training at learning rate
1e-2 for 500 meta-batches instead of 1e-4 for 5000); ``--paper`` uses the
paper's budget (several times slower). One torch thread. Prints tables;
asserts nothing.

    python benchmarks/meta.py                      # both data sets, 3 seeds (about 5 minutes on 2 cores)
    python benchmarks/meta.py --seeds 1 --skip-ecuador
    python benchmarks/meta.py --out /tmp/meta      # also write block maps, block polygons and the mosaics
    python benchmarks/meta.py --large 8000 --skip-ecuador --skip-synthetic --seeds 0
                                                   # segmentation + lazy mosaic of an 8000 x 8000 x 5 stack

``--large N`` builds an N x N x 5 dask stack (smooth random fields, chunks
of 1024, never held whole), fits the method on 2000 sampled cells with 64
blocks, and writes the mosaic to a GeoTIFF through
:meth:`BlockwiseResult.predict_lazy`; it prints the wall time of the
segmentation (block-averaged SLIC + parent assignment) and of the mosaic,
the mosaic's cells per second and the process's peak resident memory
against the size of the stack.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from peak_memory import peak_rss_mib


def ecuador() -> dict[str, Any]:
    from susmap.datasets import demo_study_dict
    from susmap.stack import open_stack
    from susmap.stages import draw_samples
    from susmap.study import study_from_dict

    study = study_from_dict(demo_study_dict(tempfile.mkdtemp()))
    stack = open_stack(study.grid, study.layers, study.alignment)
    samples, _ = draw_samples(study, stack)
    return {
        "name": "Ecuador (bundled demo)",
        "stack": stack.data.data,  # dask (factor, y, x), NaN nodata
        "samples": samples,
        "transform": stack.grid.transform,
        "crs": stack.grid.crs,
        "n_blocks": 16,
    }


def synthetic() -> dict[str, Any]:
    from susmap.datasets.synthetic import regional_landscape

    land = regional_landscape((256, 256), n_regions=4, n_samples=3000, seed=0)
    return {
        "name": f"synthetic regional landscape (Bayes OA {land.bayes_accuracy:.3f})",
        "stack": land.factors,
        "samples": land.samples,
        "transform": land.transform,
        "crs": land.crs,
        "n_blocks": 100,
        "truth": land.probability,
    }


def stage_timings(data: dict[str, Any], settings, out: Path | None) -> pd.DataFrame:
    from susmap.meta import block_map_png, block_polygons, fit_blockwise, importance_weights, segment_blocks, values_at

    samples = data["samples"]
    t0 = time.perf_counter()
    x = values_at(data["stack"], samples["row"].to_numpy(), samples["col"].to_numpy())
    ok = np.isfinite(x).all(axis=1)
    weights = importance_weights(x[ok], samples["label"].to_numpy()[ok], seed=0)
    t_importance = time.perf_counter() - t0
    t0 = time.perf_counter()
    ids = segment_blocks(data["stack"], data["n_blocks"], compactness=settings.compactness, weights=weights)
    t_segment = time.perf_counter() - t0
    res = fit_blockwise(data["stack"], samples, ids, settings, seed=0)
    prob = res.predict(data["stack"])
    timings = {"factor importance (RF)": t_importance, "segmentation (SLIC)": t_segment, **res.timings}
    rows = [{"stage": k, "seconds": v} for k, v in timings.items()]
    rows.append({"stage": "total", "seconds": sum(timings.values())})
    table = pd.DataFrame(rows)
    print(
        f"  {int(ids.max())} blocks, {len(res.train_blocks)} meta-training and {len(res.test_blocks)} meta-test tasks, "
        f"{res.n_samples} samples; validation OA at K = {settings.meta_shots}: "
        f"{res.validation['oa'].mean():.3f} (intermediate model unadapted {res.validation['oa_before'].mean():.3f}); "
        f"{int(np.isfinite(prob).sum())} cells mapped"
    )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        stem = data["name"].split()[0].lower()
        block_map_png(ids, out / f"{stem}_blocks.png", transform=data["transform"], events=samples)
        block_polygons(ids, data["transform"], data["crs"]).to_file(out / f"{stem}_blocks.gpkg", driver="GPKG")
        np.save(out / f"{stem}_probability.npy", prob)
    data["block_ids"] = ids
    data["mosaic"] = prob
    return table


def map_against_truth(data: dict[str, Any], seed: int = 0) -> pd.DataFrame:
    """The mosaic and a global random forest's map against the true probability (synthetic landscape only).

    Spearman correlation and mean absolute error over all valid cells, and
    AUC / OA at 0.5 against fresh labels drawn from the true probability
    (the true probability itself scores the Bayes optimum on those labels).
    """
    from scipy.stats import spearmanr
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score

    from susmap.meta import values_at

    stack, truth, mosaic = data["stack"], data["truth"], data["mosaic"]
    valid = np.isfinite(truth) & np.isfinite(mosaic) & np.isfinite(stack).all(axis=0)
    samples = data["samples"]
    x = values_at(stack, samples["row"].to_numpy(), samples["col"].to_numpy())
    forest = RandomForestClassifier(300, min_samples_leaf=5, random_state=seed, n_jobs=-1)
    forest.fit(x, samples["label"].to_numpy())
    maps = {
        "block-wise meta-learning (mosaic)": mosaic[valid],
        "global random forest": forest.predict_proba(stack[:, valid].T)[:, 1],
        "true probability": truth[valid],
    }
    labels = np.random.default_rng(seed).random(int(valid.sum())) < truth[valid]
    rows = []
    for name, p in maps.items():
        rows.append(
            {
                "map": name,
                "spearman vs truth": spearmanr(p, truth[valid])[0],
                "MAE vs truth": float(np.abs(p - truth[valid]).mean()),
                "AUC (fresh labels)": roc_auc_score(labels, p),
                "OA at 0.5 (fresh labels)": float(np.mean((p >= 0.5) == labels)),
            }
        )
    return pd.DataFrame(rows)


def oa_table(data: dict[str, Any], settings, seeds: list[int]) -> pd.DataFrame:
    from susmap.meta import evaluate_few_shot

    t0 = time.perf_counter()
    table = evaluate_few_shot(data["stack"], data["samples"], data["block_ids"], settings, seeds=seeds)
    print(f"  ({time.perf_counter() - t0:.0f} s for {len(seeds)} seed(s))")
    table["OA"] = [f"{m:.3f} ± {s:.3f}" for m, s in zip(table["oa_mean"], table["oa_sd"], strict=True)]
    wide = table.pivot(index="method", columns="K", values="OA")
    order = [m for m in ("global_mlp", "global_rf", "pretrained_global", "maml", "proposed") if m in wide.index]
    wide = wide.loc[order, [k for k in ("1", "5", "M/2") if k in wide.columns]]
    wide.columns = [f"K = {k}" for k in wide.columns]
    return wide


def _smooth_field(block: np.ndarray, block_info=None) -> np.ndarray:
    """Deterministic smooth field of a chunk: sums of sines of the global cell coordinates."""
    (f0, _), (r0, r1), (c0, c1) = block_info[None]["array-location"]
    rows = np.arange(r0, r1, dtype=np.float32)[:, None]
    cols = np.arange(c0, c1, dtype=np.float32)[None, :]
    k = f0 + 1
    field = np.sin(rows / (150.0 * k)) + np.cos(cols / (230.0 / k)) + 0.3 * np.sin((rows + cols) / 37.0)
    return field[None].astype(np.float32)


def large_raster(n: int, settings) -> pd.DataFrame:
    """Time and peak memory of segmentation and lazy mosaic on an n x n x 5 dask stack."""

    import dask
    import dask.array as da
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    from susmap.grid import Grid
    from susmap.mapping import write_lazy_raster
    from susmap.meta import fit_blockwise, segment_blocks, values_at

    stack = da.map_blocks(
        _smooth_field, da.zeros((5, n, n), chunks=(1, 1024, 1024), dtype=np.float32), dtype=np.float32
    ).rechunk((5, 1024, 1024))
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, n, 2000), rng.integers(0, n, 2000)
    x = values_at(stack, rows, cols)
    labels = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(0, 0.5, len(rows)) > 0).astype(int)
    samples = pd.DataFrame({"row": rows, "col": cols, "label": labels})
    out = []
    with dask.config.set(scheduler="threads"):
        t0 = time.perf_counter()
        ids = segment_blocks(stack, 64, compactness=settings.compactness, max_cells=settings.max_segment_cells)
        out.append({"stage": "segmentation", "seconds": time.perf_counter() - t0})
        t0 = time.perf_counter()
        res = fit_blockwise(stack, samples, ids, settings, seed=0)
        out.append({"stage": "fit (pretraining, meta-training, adaptation)", "seconds": time.perf_counter() - t0})
        grid = Grid(CRS.from_epsg(32617), from_origin(500000, 4600000, 10, 10), n, n)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            write_lazy_raster(Path(tmp) / "probability.tif", res.predict_lazy(stack), grid)
            t_map = time.perf_counter() - t0
        out.append({"stage": f"mosaic to GeoTIFF ({n * n / t_map:,.0f} cells/s)", "seconds": t_map})
    peak = peak_rss_mib() / 1024
    print(f"  {int(ids.max())} blocks; stack {5 * n * n * 4 / 2**30:.2f} GiB float32; peak RSS {peak:.2f} GiB")
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="repetitions of the few-shot comparison")
    parser.add_argument("--paper", action="store_true", help="the paper's meta-training budget (1e-4, 5000 batches)")
    parser.add_argument("--skip-ecuador", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="write block maps, polygons and mosaics here")
    parser.add_argument("--large", type=int, default=0, help="also time an N x N x 5 stack (segmentation, mosaic)")
    args = parser.parse_args()

    from susmap.meta import BlockwiseSettings

    settings = BlockwiseSettings() if args.paper else BlockwiseSettings.quick()
    print(
        f"settings: meta_lr {settings.meta_lr}, {settings.meta_iterations} meta-batches of {settings.meta_batch_size}, "
        f"α = {settings.inner_lr}, {settings.inner_steps} inner / {settings.adapt_steps} adaptation steps, "
        f"hidden {settings.hidden}, {settings.n_unlabelled} unlabelled cells, {settings.pretrain_epochs} epochs"
    )
    datasets = []
    if not args.skip_ecuador:
        datasets.append(ecuador)
    if not args.skip_synthetic:
        datasets.append(synthetic)
    pd.set_option("display.width", 160)
    for make in datasets:
        data = make()
        print(f"\n== {data['name']}: stage timings (one fit, seed 0) ==")
        print(stage_timings(data, settings, args.out).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
        if "truth" in data:
            print(f"\n== {data['name']}: maps against the true probability, all valid cells ==")
            print(map_against_truth(data).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        if args.seeds > 0:
            print(f"\n== {data['name']}: few-shot OA on the meta-test blocks' query samples (mean ± sd over seeds) ==")
            print(oa_table(data, settings, list(range(args.seeds))).to_string())
    if args.large:
        print(f"\n== {args.large} x {args.large} x 5 stack (dask, chunks 1024): segmentation and lazy mosaic ==")
        print(large_raster(args.large, settings).to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
