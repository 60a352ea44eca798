"""Distance to features: the tiled EDT against today's whole-grid EDT, time and peak memory.

A square grid of ``--size`` cells (10 m) and ``--lines`` random polylines
(roads and rivers: 2-6 vertices, 0.5-20 % of the grid side per step, some
reaching beyond the grid edge) in a GeoPackage. Each method runs in its own
child process, which reports its wall time and its peak resident memory
(``VmHWM``, see ``peak_memory.py``):

- ``whole``: :func:`susmap.factors.proximity.distance_to_features` (one EDT of
  the grown grid), result saved to a ``.npy`` file;
- ``tiled``: :func:`susmap.factors.tiled_distance.tiled_distance_to_features`,
  exact, computed chunk by chunk (dask threads) and reduced (max, sum), never
  stored whole;
- ``capped``: the same with ``max_distance_m`` (``--cap``);
- ``check``: the tiled result compared chunk by chunk with the saved
  whole-grid one (largest difference, share of bit-identical cells; not timed).

    python benchmarks/tiled_distance.py [--size 10000] [--lines 300] [--chunks 1024] [--cap 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from peak_memory import peak_rss_mib


def make_features(path: str, size: int, lines: int, seed: int, spread: float = 1.05) -> None:
    """``lines`` random polylines starting over [-5 %, ``spread``] of a size x size grid of 10 m cells (x and y)."""
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(seed)
    side = size * 10.0
    geoms = []
    for _ in range(lines):
        n = int(rng.integers(2, 7))
        start = rng.uniform(-0.05 * side, spread * side, size=2)
        steps = rng.normal(size=(n - 1, 2))
        steps *= (
            rng.uniform(0.005, 0.2 * min(1.0, spread), size=(n - 1, 1))
            * side
            / np.linalg.norm(steps, axis=1, keepdims=True)
        )
        xy = np.vstack([start, start + np.cumsum(steps, axis=0)])
        geoms.append(shapely.linestrings(xy[:, 0], side - xy[:, 1]))  # y down from the top edge at `side`
    gpd.GeoDataFrame(geometry=geoms, crs="EPSG:32717").to_file(path)


def context(size: int, chunks: int):
    from affine import Affine
    from rasterio.crs import CRS

    from susmap.factors.registry import FactorContext
    from susmap.grid import Grid

    grid = Grid(
        crs=CRS.from_epsg(32717), transform=Affine(10.0, 0, 0.0, 0, -10.0, size * 10.0), height=size, width=size
    )
    return FactorContext(grid=grid, dem=None, chunks=chunks)  # type: ignore[arg-type]


def child(mode: str, path: str, size: int, chunks: int, cap: float, out: str) -> dict:
    """One method in this process: its time [s], its result's max and sum, and (check) the comparison."""

    import dask
    import dask.array as da

    ctx = context(size, chunks)
    t0 = time.perf_counter()
    info: dict = {"mode": mode}
    if mode == "whole":
        from susmap.factors.proximity import distance_to_features

        d = distance_to_features(ctx, path).values
        info["seconds"] = time.perf_counter() - t0
        info["max"], info["sum"] = float(d.max()), float(d.astype(np.float64).sum())
        np.save(out, d)
    else:
        from susmap.factors.tiled_distance import tiled_distance_to_features

        arr = tiled_distance_to_features(ctx, path, max_distance_m=cap if mode == "capped" else None).data
        with dask.config.set(scheduler="threads", num_workers=os.cpu_count()):
            if mode == "check":
                ref = da.from_array(np.load(out, mmap_mode="r"), chunks=arr.chunks)
                diff = da.abs(arr - ref).max()
                same = (arr == ref).mean()
                diff, same = da.compute(diff, same)
                info["max_abs_diff"], info["identical"] = float(diff), float(same)
            else:
                mx, sm = da.compute(arr.max(), arr.astype(np.float64).sum())
                info["seconds"] = time.perf_counter() - t0
                info["max"], info["sum"] = float(mx), float(sm)
    info["peak_mib"] = peak_rss_mib()
    return info


def run_child(mode: str, path: str, args: argparse.Namespace, out: str) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--path", path, "--out", out]
    cmd += ["--size", str(args.size), "--chunks", str(args.chunks), "--cap", str(args.cap)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=10000, help="grid side [cells] (10 m cells)")
    ap.add_argument("--lines", type=int, default=300, help="number of random polylines")
    ap.add_argument("--chunks", type=int, default=1024, help="chunk side [cells] of the tiled result")
    ap.add_argument("--cap", type=float, default=2000.0, help="max_distance_m [m] of the capped variant")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--spread", type=float, default=1.05, help="lines start within [-0.05, spread] x the grid side (0.1: a corner)"
    )
    ap.add_argument("--modes", nargs="+", default=["whole", "tiled", "capped", "check"])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.path, args.size, args.chunks, args.cap, args.out)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path, out = os.path.join(tmp, "lines.gpkg"), os.path.join(tmp, "whole.npy")
        make_features(path, args.size, args.lines, args.seed, args.spread)
        print(
            f"grid {args.size:,} x {args.size:,} cells of 10 m, {args.lines} polylines (spread {args.spread:g}), "
            f"chunks {args.chunks}"
        )
        print(f"{'method':<8} {'time [s]':>9} {'peak [MiB]':>11} {'max [m]':>9}  note")
        for mode in args.modes:
            r = run_child(mode, path, args, out)
            if mode == "check":
                print(
                    f"{'check':<8} {'':>9} {r['peak_mib']:>11.0f} {'':>9}  tiled vs whole: max |diff| "
                    f"{r['max_abs_diff']:.3g} m, bit-identical cells {100 * r['identical']:.4f} %"
                )
            else:
                note = f"cap {args.cap:g} m" if mode == "capped" else ""
                print(f"{mode:<8} {r['seconds']:>9.1f} {r['peak_mib']:>11.0f} {r['max']:>9.1f}  {note}")


if __name__ == "__main__":
    main()
