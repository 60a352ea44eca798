"""Tiled fill + D8 accumulation against today's whole-grid path: time and peak memory (issue 19).

Builds a synthetic fractal DEM of ``--size`` × ``--size`` cells (spectral
synthesis, power-law exponent 3.2, 1000-1200 m, 5 % of it nodata in blobs)
as a tiled GeoTIFF, then runs in two fresh child processes:

- ``whole``: today's path of :mod:`susmap.factors.hydrology` for the filled
  D8 accumulation: the whole DEM read into memory,
  ``pyflwdir.dem.fill_depressions`` (Wang & Liu 2006), ``flat_distance``,
  ``d8_directions``, pyflwdir's ``upstream_area`` in cells;
- ``tiled``: :func:`susmap.factors.tiled_routing.tiled_fill` read window by
  window from the GeoTIFF and written tile by tile to a GeoTIFF, then
  :func:`~susmap.factors.tiled_routing.tiled_d8_accumulation` over that file.

Each child prints its wall time per step and its peak resident memory
(VmHWM, including the interpreter and numba; the DEM is built in a child
too, so no parent memory is counted); both write their
results to GeoTIFFs, which the parent compares block by block (fill
bit-identical, accumulation exact). GDAL's block cache is capped at 64 MB in
both children. Numba kernels are compiled (and cached) by a small warm-up run
before the timed children.

Usage::

    python benchmarks/tiled_routing.py --size 10000 --tile 1024
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


def make_dem(path: Path, size: int, seed: int = 0) -> None:
    """Fractal DEM [m] (FFT synthesis, exponent 3.2, 1000-1200 m) with nodata blobs, as a tiled GeoTIFF."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(size).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(size).astype(np.float32)[None, :]
    spec = np.hypot(fy, fx)
    spec[0, 0] = 1.0
    spec **= np.float32(-3.2 / 2)
    spec = spec * (
        rng.standard_normal(spec.shape, dtype=np.float32) + 1j * rng.standard_normal(spec.shape, dtype=np.float32)
    )
    spec[0, 0] = 0.0
    z = np.fft.irfft2(spec, s=(size, size)).astype(np.float32)
    del spec
    lo, hi = float(z.min()), float(z.max())
    z -= lo
    z *= np.float32(200.0 / (hi - lo))
    z += np.float32(1000.0)
    z += rng.random(z.shape, dtype=np.float32) * np.float32(0.5)
    nblob = max(1, size * size // 20000)
    for r, c, s in zip(
        rng.integers(0, size, nblob), rng.integers(0, size, nblob), rng.integers(2, 12, nblob), strict=True
    ):
        z[max(r - s, 0) : r + s, max(c - s, 0) : c + s] = np.nan
    profile = {
        "driver": "GTiff",
        "height": size,
        "width": size,
        "count": 1,
        "dtype": "float32",
        "nodata": np.float32(np.nan),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "crs": "EPSG:32717",
        "transform": from_origin(500000.0, 9800000.0, 10.0, 10.0),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(z, 1)


def run_whole(folder: Path) -> dict[str, float]:
    """Today's whole-grid path; writes filled_whole.tif and acc_whole.tif."""
    import pyflwdir
    import rasterio

    from susmap.factors import routing_kernels as rk

    times = {}
    t0 = time.perf_counter()
    with rasterio.open(folder / "dem.tif") as src:
        profile = src.profile
        dem = np.ascontiguousarray(src.read(1), dtype=np.float32)
    times["read"] = time.perf_counter() - t0
    t = time.perf_counter()
    filled, _ = pyflwdir.dem.fill_depressions(dem, nodata=np.float32(np.nan))
    filled = np.ascontiguousarray(filled, dtype=np.float32)
    times["fill"] = time.perf_counter() - t
    del dem
    t = time.perf_counter()
    dist = rk.flat_distance(filled, True)
    d8 = rk.d8_directions(filled, dist, True)
    del dist
    acc = pyflwdir.from_array(d8, ftype="d8", check_ftype=False).upstream_area(unit="cell").astype(np.float32)
    acc[np.isnan(filled)] = np.nan
    times["d8_accumulation"] = time.perf_counter() - t
    t = time.perf_counter()
    for name, arr in (("filled_whole", filled), ("acc_whole", acc)):
        with rasterio.open(folder / f"{name}.tif", "w", **profile) as dst:
            dst.write(arr, 1)
    times["write"] = time.perf_counter() - t
    times["total"] = time.perf_counter() - t0
    return times


def run_tiled(folder: Path, tile: int) -> dict[str, float]:
    """The tiled path, file to file; writes filled_tiled.tif and acc_tiled.tif."""
    from susmap.factors.tiled_routing import RasterTiles, RasterWriter, tiled_d8_accumulation, tiled_fill

    times = {}
    t0 = time.perf_counter()
    with (
        RasterTiles(folder / "dem.tif") as src,
        RasterWriter(folder / "filled_tiled.tif", src.shape, src.profile) as dst,
    ):
        tiled_fill(src, tile=tile, out=dst, workdir=folder)
    times["fill"] = time.perf_counter() - t0
    times["peak_after_fill_mib"] = peak_mib()
    t = time.perf_counter()
    with (
        RasterTiles(folder / "filled_tiled.tif") as src,
        RasterWriter(folder / "acc_tiled.tif", src.shape, src.profile) as dst,
    ):
        tiled_d8_accumulation(src, tile=tile, out=dst, workdir=folder)
    times["d8_accumulation"] = time.perf_counter() - t
    times["total"] = time.perf_counter() - t0
    return times


def compare(folder: Path, block: int = 2048) -> dict[str, bool]:
    """Block-by-block equality of the whole-grid and tiled results."""
    import rasterio
    from rasterio.windows import Window

    same = {}
    for name in ("filled", "acc"):
        ok = True
        with rasterio.open(folder / f"{name}_whole.tif") as a, rasterio.open(folder / f"{name}_tiled.tif") as b:
            for r in range(0, a.height, block):
                w = Window(0, r, a.width, min(block, a.height - r))
                ok &= bool(np.array_equal(a.read(1, window=w), b.read(1, window=w), equal_nan=True))
        same[name] = ok
    return same


def peak_mib() -> float:
    """Peak resident memory of this process [MiB] (:func:`peak_memory.peak_rss_mib`)."""
    return peak_rss_mib()


def child(mode: str, folder: Path, tile: int, size: int) -> None:
    if mode == "make":
        make_dem(folder / "dem.tif", size, seed=0 if size > 300 else 1)
        print(json.dumps({"mode": mode}))
        return
    times = run_whole(folder) if mode == "whole" else run_tiled(folder, tile)
    print(json.dumps({"mode": mode, "times": times, "peak_mib": peak_mib()}))


def spawn(mode: str, folder: Path, tile: int, size: int = 0) -> dict:
    env = dict(os.environ, GDAL_CACHEMAX="64")
    res = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--folder", str(folder), "--tile", str(tile), "--size", str(size)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        raise SystemExit(f"{mode} child failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=10_000, help="grid side [cells] (default 10000)")
    ap.add_argument("--tile", type=int, default=1024, help="tile side [cells] (default 1024)")
    ap.add_argument("--folder", type=Path, default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--child", choices=("make", "whole", "tiled"), default=None, help=argparse.SUPPRESS)
    ap.add_argument("--skip-whole", action="store_true", help="run only the tiled path")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.folder, args.tile, args.size)
        return
    with tempfile.TemporaryDirectory(prefix="susmap-bench-") as tmp:
        folder = args.folder or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        warm = folder / "warm"
        warm.mkdir(exist_ok=True)
        spawn("make", warm, 64, 300)
        spawn("tiled", warm, 64)
        spawn("whole", warm, 64)
        t = time.perf_counter()
        spawn("make", folder, args.tile, args.size)  # in a child: the parent stays small
        print(f"DEM {args.size} x {args.size} built in {time.perf_counter() - t:.1f} s; tile {args.tile}")
        rows = [spawn("tiled", folder, args.tile)]
        if not args.skip_whole:
            rows.insert(0, spawn("whole", folder, args.tile))
        print(f"{'path':<7} {'fill [s]':>9} {'D8 acc [s]':>11} {'total [s]':>10} {'peak RSS [MiB]':>15}")
        for row in rows:
            tm = row["times"]
            cols = f"{tm['fill']:>9.1f} {tm['d8_accumulation']:>11.1f} {tm['total']:>10.1f}"
            print(f"{row['mode']:<7} {cols} {row['peak_mib']:>15.0f}")
        print(f"tiled peak after the fill [MiB]: {rows[-1]['times']['peak_after_fill_mib']:.0f}")
        if not args.skip_whole:
            print("whole-grid read / write [s]:", f"{rows[0]['times']['read']:.1f} / {rows[0]['times']['write']:.1f}")
            print("equal (fill bit-identical, accumulation exact):", compare(folder))


if __name__ == "__main__":
    main()
