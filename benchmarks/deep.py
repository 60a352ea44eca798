"""Deep models: training time on the Ecuador samples, and patch-CNN wall-to-wall throughput.

Part 1 fits each deep model (and preset) once on the bundled Ecuador
landslide samples (350 points, 5 terrain factors; CPU) and prints the wall
time of the fit. Part 2 maps a 4,000 x 4,000-cell, 5-factor stack (the
Ecuador factors tiled, held in memory as a dask array) with a patch CNN
fitted on those samples, by susmap's convolutional prediction (dask blocks
of 512 x 512 with a halo of k//2), and predicts a random sample of cells by
a naive loop (one window, one forward pass per cell) to show the ratio.
Prints tables; asserts nothing.

    python benchmarks/deep.py                 # everything (several minutes on 2 cores)
    python benchmarks/deep.py --size 2000 --skip-presets
"""

from __future__ import annotations

import argparse
import tempfile
import time

import dask
import dask.array as da
import numpy as np


def _prepared():
    from susmap.datasets import demo_study_dict
    from susmap.outputs import OutputFolder
    from susmap.stages import Timer, prepare_study_data
    from susmap.study import study_from_dict

    tmp = tempfile.mkdtemp()
    d = demo_study_dict(f"{tmp}/out")
    d["models"] = [{"name": "patch_cnn", "label": "cnn"}]
    d["mapping"] = {"model": "cnn"}
    study = study_from_dict(d)
    with OutputFolder(f"{tmp}/out") as out:
        return prepare_study_data(study, out, Timer())


def _models(skip_presets: bool) -> list[tuple[str, str, dict]]:
    rows = [
        ("DLNN (default)", "dlnn", {}),
        ("SAE (default)", "sae", {}),
        ("patch CNN (k = 15, default)", "patch_cnn", {}),
    ]
    if not skip_presets:
        rows += [
            ("DLNN paper003 (3-3, 200 it.)", "dlnn", {"preset": "paper003"}),
            ("SAE paper001 (3 x 110, 30,000 it.)", "sae", {"preset": "paper001"}),
            ("patch CNN paper000 (200 epochs)", "patch_cnn", {"preset": "paper000"}),
        ]
    return rows


def training_times(prep, skip_presets: bool) -> list[tuple[str, float, int]]:
    from sklearn.base import clone

    from susmap.models import make_pipeline
    from susmap.models.dlnn import DLNNClassifier

    DLNNClassifier(epochs=2).fit(prep.X, prep.y)  # warm-up: torch's first call costs seconds
    out = []
    for label, name, params in _models(skip_presets):
        pipe = make_pipeline(
            name, params, factor_names=prep.names, kinds=prep.stack.kinds, seed=0, windows=prep.windows
        )
        t0 = time.perf_counter()
        fitted = clone(pipe).fit(prep.design, prep.y)
        out.append((label, time.perf_counter() - t0, len(fitted[-1].history_)))
    return out


def throughput(prep, size: int, naive_cells: int) -> dict[str, float]:
    from sklearn.base import clone

    from susmap.mapping.predict import predict_stack
    from susmap.models import make_pipeline
    from susmap.models.windows import extract_windows

    model = clone(
        make_pipeline("patch_cnn", {}, factor_names=prep.names, kinds=prep.stack.kinds, seed=0, windows=prep.windows)
    ).fit(prep.design, prep.y)
    cnn = model[-1]
    base = np.asarray(prep.stack.data.values, dtype=np.float32)
    reps = (1, -(-size // base.shape[1]), -(-size // base.shape[2]))
    big = np.tile(base, reps)[:, :size, :size]
    stack = type("Stack", (), {})()
    import xarray as xr

    stack.data = xr.DataArray(da.from_array(big, chunks=(big.shape[0], 512, 512)), dims=("factor", "y", "x"))
    valid = int(np.isfinite(big).all(axis=0).sum())
    t0 = time.perf_counter()
    with dask.config.set(scheduler="threads"):
        prob = predict_stack(stack, model).compute()
    t_dense = time.perf_counter() - t0

    rng = np.random.default_rng(0)
    r, c = np.nonzero(np.isfinite(big[:, :512, :512]).all(axis=0))
    pick = rng.choice(r.size, naive_cells, replace=False)
    t0 = time.perf_counter()
    naive = np.empty(naive_cells)
    for i, j in enumerate(pick):  # the naive way: one window, one forward pass per cell
        naive[i] = cnn.predict_proba(extract_windows(big, [r[j]], [c[j]], cnn.window_size))[0, 1]
    t_naive = time.perf_counter() - t0
    diff = float(np.abs(naive - prob[r[pick], c[pick]]).max())
    return {
        "cells": size * size,
        "valid": valid,
        "dense_s": t_dense,
        "dense_rate": valid / t_dense,
        "naive_rate": naive_cells / t_naive,
        "max_diff": diff,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4000, help="raster width and height in cells")
    parser.add_argument("--naive-cells", type=int, default=2000, help="cells predicted by the naive loop")
    parser.add_argument("--skip-presets", action="store_true", help="default settings only (skip the papers')")
    args = parser.parse_args()
    import torch

    prep = _prepared()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; Ecuador: {len(prep.y)} samples")
    print("\n| model | fit wall time [s] | epochs / iterations |\n|---|---:|---:|")
    for label, seconds, epochs in training_times(prep, args.skip_presets):
        print(f"| {label} | {seconds:.1f} | {epochs} |")
    res = throughput(prep, args.size, args.naive_cells)
    print(f"\npatch CNN (k = 15) over {args.size} x {args.size} cells x {len(prep.names)} factors, dask threads:")
    print("| method | cells/s | time for the whole stack [s] |\n|---|---:|---:|")
    print(f"| convolutional (map_overlap, halo 7) | {res['dense_rate']:,.0f} | {res['dense_s']:.1f} |")
    print(
        f"| naive per-window loop ({args.naive_cells} cells) | {res['naive_rate']:,.0f} | "
        f"{res['valid'] / res['naive_rate']:.0f} (extrapolated) |"
    )
    print(
        f"ratio {res['dense_rate'] / res['naive_rate']:.0f}x; max |difference| at the sampled cells "
        f"{res['max_diff']:.1e}"
    )


if __name__ == "__main__":
    main()
