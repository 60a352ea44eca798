"""Time and peak memory of the 'where the map holds' rasters on a synthetic stack: AOA, uncertainty, SHAP maps.

Each writer runs in its own child process on a lazy stack of 5 random float32
factors (``--size`` cells square, 512² chunks), trained on 500 samples; the
peak memory is the child's own peak (``VmHWM``, see ``peak_memory.py``) (importing susmap alone is about
250 MB of it). The SHAP maps use a shallow forest (20 trees, depth 6):
TreeSHAP's cost grows with the leaves, and a fully grown 100-tree forest
costs about 6 ms per cell (see :mod:`susmap.analysis.explain`).

    python benchmarks/where_map_holds.py [--size 4000] [--only aoa uncertainty shap]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr
from affine import Affine
from peak_memory import peak_rss_mib
from pyproj import CRS

NAMES = ["f1", "f2", "f3", "f4", "f5"]


def _stack(size: int):
    from susmap.grid import Grid
    from susmap.stack import Stack

    data = da.random.RandomState(0).random((len(NAMES), size, size), chunks=(len(NAMES), 512, 512)).astype("float32")
    grid = Grid(crs=CRS.from_epsg(32717), transform=Affine(10, 0, 700000, 0, -10, 9560000), width=size, height=size)
    arr = xr.DataArray(data, dims=("factor", "y", "x"), coords={"factor": NAMES})
    return Stack(grid=grid, data=arr, kinds=dict.fromkeys(NAMES, "continuous"))


def _job(kind: str, size: int, folder: str, queue) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    stack = _stack(size)
    rng = np.random.default_rng(0)
    X = rng.random((500, len(NAMES)))  # noqa: N806
    y = (X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.standard_normal(500) > 0.8).astype(int)
    start = time.perf_counter()
    if kind == "aoa":
        from susmap.analysis.aoa import training_di, write_aoa

        train = training_di(X, np.array([1.0, 0.5, 0.2, 0.1, 0.1]), np.arange(500) % 5, names=NAMES)
        write_aoa(stack, train, Path(folder))
    elif kind == "uncertainty":
        from susmap.analysis.uncertainty import write_uncertainty

        models = [LogisticRegression().fit(X[np.arange(500) % 5 != k], y[np.arange(500) % 5 != k]) for k in range(5)]
        write_uncertainty(stack, models, Path(folder), edges=np.array([0, 0.2, 0.4, 0.6, 0.8, 1.0]), final=models[0])
    else:
        from susmap.analysis.explain import write_shap_maps

        forest = RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0).fit(X, y)
        write_shap_maps(stack, forest, X, Path(folder), factors=NAMES[:3], label="rf")
    seconds = time.perf_counter() - start
    queue.put((kind, seconds, peak_rss_mib()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4000)
    parser.add_argument("--only", nargs="+", default=["aoa", "uncertainty", "shap"])
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    print(f"stack {args.size}² x {len(NAMES)} float32 ({args.size**2 * len(NAMES) * 4 / 2**20:.0f} MiB if held whole)")
    print(f"{'writer':<12} {'time [s]':>9} {'peak RSS [MiB]':>15}   load")
    for kind in args.only:
        with tempfile.TemporaryDirectory() as folder:
            queue = ctx.Queue()
            proc = ctx.Process(target=_job, args=(kind, args.size, folder, queue))
            proc.start()
            name, seconds, rss = queue.get()
            proc.join()
            load = " ".join(f"{v:.2f}" for v in os.getloadavg())
            print(f"{name:<12} {seconds:>9.1f} {rss:>15.0f}   {load}")


if __name__ == "__main__":
    main()
