"""Chunked wall-to-wall prediction: speed and peak memory against raster size.

Writes a synthetic 5-factor stack of N x N cells (float32 GeoTIFFs, tiled),
fits a model on 2,000 samples, then predicts and writes the probability map
with susmap's chunked pipeline. Each size runs in a fresh subprocess so its
peak resident memory (ru_maxrss) is its own; GDAL's block cache, which fills
up to GDAL_CACHEMAX whatever susmap does, is capped (64 MB by default) so the
peak shows susmap's own memory. Prints a table; asserts nothing.

    python benchmarks/bench_predict.py                 # sizes 1000 2000 4000
    python benchmarks/bench_predict.py --sizes 1000 8000 --model random_forest
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from peak_memory import peak_rss_mib


def _make_stack(folder: Path, n: int, n_factors: int = 5) -> list[Path]:
    import rasterio
    from affine import Affine

    profile = {
        "driver": "GTiff",
        "width": n,
        "height": n,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:32717",
        "transform": Affine(10, 0, 700000, 0, -10, 9600000),
        "nodata": -9999.0,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    paths = []
    strip = 512
    for f in range(n_factors):
        path = folder / f"f{f}.tif"
        rng = np.random.default_rng(f)
        with rasterio.open(path, "w", **profile) as dst:
            for r0 in range(0, n, strip):
                h = min(strip, n - r0)
                yy, xx = np.mgrid[r0 : r0 + h, 0:n].astype(np.float32)
                block = np.sin(xx / (50 + 10 * f)) + np.cos(yy / (70 + 5 * f)) + 0.1 * rng.standard_normal((h, n))
                if f == 0 and r0 == 0:
                    block[:10, :10] = -9999.0
                dst.write(block.astype(np.float32), 1, window=rasterio.windows.Window(0, r0, n, h))
        paths.append(path)
    return paths


def _child(folder: str, n: int, model_name: str, chunk: int) -> None:
    from susmap.mapping import predict_stack, write_lazy_raster
    from susmap.models import make_pipeline
    from susmap.stack import open_stack
    from susmap.study import AlignmentConfig, GridConfig, LayerConfig

    folder_p = Path(folder)
    paths = sorted(folder_p.glob("f*.tif"))
    layers = [LayerConfig(name=p.stem, path=p) for p in paths]
    t0 = time.perf_counter()
    stack = open_stack(GridConfig(template=paths[0]), layers, AlignmentConfig(), chunks=chunk)
    t_open = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    rows = rng.integers(0, n, 2000)
    cols = rng.integers(0, n, 2000)
    X = stack.values_at(rows, cols)  # noqa: N806
    ok = np.isfinite(X).all(axis=1)
    X = X[ok]  # noqa: N806
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    params = {"n_estimators": 100} if model_name == "random_forest" else {}
    model = make_pipeline(model_name, params, factor_names=stack.names, kinds=stack.kinds).fit(X, y)
    t0 = time.perf_counter()
    write_lazy_raster(folder_p / "prob.tif", predict_stack(stack, model), stack.grid)
    t_pred = time.perf_counter() - t0
    peak_mb = peak_rss_mib()
    print(json.dumps({"open_s": t_open, "predict_write_s": t_pred, "peak_mb": peak_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000])
    parser.add_argument("--model", default="logistic_regression")
    parser.add_argument("--chunk", type=int, default=512)
    parser.add_argument("--gdal-cache-mb", type=int, default=64, help="GDAL block cache (counts in peak RSS)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]), args.model, args.chunk)
        return
    print(
        f"model={args.model} chunk={args.chunk} factors=5 cores={os.cpu_count()} GDAL_CACHEMAX={args.gdal_cache_mb} MB"
    )
    header = f"{'cells':>12} {'stack MB':>9} {'open s':>7} {'predict+write s':>16} {'Mcells/s':>9} {'peak RSS MB':>12}"
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            _make_stack(Path(tmp), n)
            out = subprocess.run(
                [sys.executable, __file__, "--child", tmp, str(n), "--model", args.model, "--chunk", str(args.chunk)],
                env={**os.environ, "GDAL_CACHEMAX": str(args.gdal_cache_mb)},
                check=True,
                capture_output=True,
                text=True,
            )
            res = json.loads(out.stdout.strip().splitlines()[-1])
        cells = n * n
        print(
            f"{cells:>12,} {cells * 5 * 4 / 1e6:>9.0f} {res['open_s']:>7.2f} {res['predict_write_s']:>16.2f} "
            f"{cells / res['predict_write_s'] / 1e6:>9.2f} {res['peak_mb']:>12.0f}"
        )


if __name__ == "__main__":
    main()
