"""Terrain and hydrology factors on a 10 000 x 10 000 DEM, file to file, against gdaldem and SAGA.

Builds the DEM by tiling the bundled Ecuador DEM (``ta.tif`` band ``elev``)
with mirrored copies so the tiles join without cliffs, writes it as a tiled
GeoTIFF, then times:

1. susmap: slope + aspect + plan + profile curvature (one derivative pass,
   four GeoTIFFs); gdaldem slope alone and aspect alone (Horn; Debian
   ``gdal-bin``), SAGA "Slope, Aspect, Curvature" (Zevenbergen & Thorne,
   Debian ``saga``), when installed.
2. susmap: fill (Wang & Liu) + MFD catchment area + TWI; SAGA Fill Sinks
   (Wang & Liu) + Flow Accumulation (MFD) + TWI, when installed.

Every step runs in its own process; its peak resident memory is measured
(ru_maxrss). Prints a table with the ratios; asserts nothing.

    python benchmarks/terrain.py                # 10 000 x 10 000
    python benchmarks/terrain.py --size 4000    # quicker
    python benchmarks/terrain.py --skip-saga    # SAGA takes minutes
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()


def build_dem(path: Path, size: int) -> None:
    """Tile the Ecuador DEM with mirrored copies to size x size cells (10 m), nodata filled by neighbours."""
    import rasterio
    from affine import Affine
    from scipy import ndimage

    from susmap.datasets import ecuador_path

    with rasterio.open(ecuador_path("ta.tif")) as src:
        dem = src.read(4).astype(np.float32)
    holes = ~np.isfinite(dem)
    if holes.any():  # fill the 619 nodata cells with their nearest value so tiles have no holes
        idx = ndimage.distance_transform_edt(holes, return_distances=False, return_indices=True)
        dem = dem[tuple(idx)]
    block = np.block([[dem, dem[:, ::-1]], [dem[::-1, :], dem[::-1, ::-1]]])
    reps = (-(-size // block.shape[0]), -(-size // block.shape[1]))
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:32717",
        "transform": Affine(10, 0, 600000, 0, -10, 9700000),
        "nodata": -9999.0,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    strip = 1024
    with rasterio.open(path, "w", **profile) as dst:
        for r0 in range(0, size, strip):
            h = min(strip, size - r0)
            rows = np.arange(r0, r0 + h) % block.shape[0]
            band = np.tile(block[rows], (1, reps[1]))[:, :size]
            dst.write(band, 1, window=rasterio.windows.Window(0, r0, size, h))


def _study(dem: Path, out: Path, factors: list[dict], chunk: int) -> dict:
    return {
        "name": "bench",
        "grid": {"template": str(dem)},
        "factors": factors,
        "inventory": {"path": str(dem), "x": "x", "y": "y"},  # unused by factor derivation
        "mapping": {"chunk_size": chunk},
        "outputs": {"directory": str(out), "compress": os.environ.get("SUSMAP_BENCH_COMPRESS", "none")},
    }


STENCIL = [
    {"name": "slope"},
    {"name": "aspect"},
    {"name": "plan_curvature"},
    {"name": "profile_curvature"},
]
HYDRO = [
    {"name": "filled_dem"},
    {"name": "catchment_area", "params": {"method": "mfd", "fill": True}},
    {"name": "twi", "factor": "topographic_wetness_index", "params": {"method": "mfd", "fill": True}},
]


def _child(kind: str, dem: str, out: str, chunk: int) -> None:
    """Run one susmap step (in its own process) and print its wall time."""
    from susmap.factors.derive import derive_factors
    from susmap.study import study_from_dict

    factors = STENCIL if kind == "stencil" else HYDRO
    study = study_from_dict(_study(Path(dem), Path(out), factors, chunk))
    t0 = time.perf_counter()
    derive_factors(study, Path(out))
    print(json.dumps({"seconds": time.perf_counter() - t0}))


def measured(cmd: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Wall time [s] and peak RSS [MB] of a command run as a child of a fresh process."""
    code = (
        "import resource, subprocess, sys, time, json; t=time.perf_counter(); "
        "p=subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "print(json.dumps({'s': time.perf_counter()-t, 'rc': p.returncode, "
        "'mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024, 'out': p.stdout[-2000:], "
        "'err': p.stderr[-2000:]}))"
    )
    res = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True, env=env, check=True)
    info = json.loads(res.stdout)
    if info["rc"] != 0:
        raise RuntimeError(f"{cmd[0]} failed: {info['err']}")
    return info["s"], info["mb"], info["out"]


def _susmap_step(kind: str, dem: Path, out: Path, chunk: int, compress: str = "none") -> tuple[float, float, float]:
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GDAL_CACHEMAX": "256", "SUSMAP_BENCH_COMPRESS": compress}
    wall, mb, text = measured([sys.executable, str(HERE), "--child", kind, str(dem), str(out), str(chunk)], env)
    inner = json.loads(text.strip().splitlines()[-1])["seconds"]
    return inner, mb, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=1024)
    parser.add_argument("--skip-saga", action="store_true")
    parser.add_argument("--skip-hydrology", action="store_true", help="only the stencil factors")
    parser.add_argument(
        "--compress", default="none", help="susmap's GeoTIFF compression (gdaldem and SAGA write uncompressed)"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here (default: a temp folder)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], args.child[2], int(args.child[3]))
        return

    work = args.workdir or Path(tempfile.mkdtemp(prefix="susmap-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    dem = work / "dem.tif"
    t0 = time.perf_counter()
    build_dem(dem, args.size)
    print(f"DEM {args.size} x {args.size} (10 m) built in {time.perf_counter() - t0:.1f} s at {dem}")
    print(
        f"cores={os.cpu_count()} chunk={args.chunk} susmap output compression={args.compress}; "
        "times are file to file, wall clock, peak RSS per process"
    )
    rows: list[tuple[str, float, float]] = []

    from susmap.factors import available_factors

    t, mb, _ = _susmap_step("stencil", dem, work / "susmap_stencil", args.chunk, args.compress)
    rows.append(("susmap slope+aspect+plan+profile (ZT)", t, mb))
    if args.compress == "none":
        t2, mb2, _ = _susmap_step("stencil", dem, work / "susmap_stencil_deflate", args.chunk, "deflate")
        rows.append(("  same, DEFLATE-compressed output", t2, mb2))
    gd = shutil.which("gdaldem")
    if gd:
        for what in ("slope", "aspect"):
            s, m, _ = measured([gd, what, "-q", str(dem), str(work / f"gdal_{what}.tif")])
            rows.append((f"gdaldem {what} (Horn)", s, m))
    saga = None if args.skip_saga else shutil.which("saga_cmd")
    if saga:
        s, m, _ = measured(
            [saga, "ta_morphometry", "0", "-ELEVATION", str(dem), "-METHOD", "6",
             "-SLOPE", str(work / "saga_slope.sdat"), "-ASPECT", str(work / "saga_aspect.sdat"),
             "-C_PLAN", str(work / "saga_cplan.sdat"), "-C_PROF", str(work / "saga_cprof.sdat")]
        )  # fmt: skip
        rows.append(("SAGA slope+aspect+plan+profile (ZT)", s, m))

    if not args.skip_hydrology and "topographic_wetness_index" in available_factors():
        t, mb, _ = _susmap_step("hydro", dem, work / "susmap_hydro", args.chunk, args.compress)
        rows.append(("susmap fill+MFD area+TWI", t, mb))
        if saga:
            fill = work / "saga_filled.sdat"
            s1, m1, _ = measured([saga, "ta_preprocessor", "4", "-ELEV", str(dem), "-FILLED", str(fill)])
            rows.append(("SAGA fill (Wang & Liu)", s1, m1))
            area = work / "saga_carea.sdat"
            s2, m2, _ = measured(
                [saga, "ta_hydrology", "0", "-ELEVATION", str(fill), "-FLOW", str(area), "-METHOD", "4"]
            )
            rows.append(("SAGA MFD flow accumulation", s2, m2))
            s3, m3, _ = measured(
                [saga, "ta_hydrology", "20", "-SLOPE", str(work / "saga_slope.sdat"), "-AREA", str(area),
                 "-TWI", str(work / "saga_twi.sdat")]
            )  # fmt: skip
            rows.append(("SAGA TWI", s3, m3))
            rows.append(("SAGA fill+MFD+TWI (sum)", s1 + s2 + s3, max(m1, m2, m3)))

    width = max(len(r[0]) for r in rows)
    print(f"\n{'step':<{width}} {'seconds':>9} {'peak MB':>9}")
    print("-" * (width + 20))
    for name, s, m in rows:
        print(f"{name:<{width}} {s:>9.1f} {m:>9.0f}")
    times = {name: s for name, s, _ in rows}
    ours = times["susmap slope+aspect+plan+profile (ZT)"]
    print()
    if "gdaldem slope (Horn)" in times:
        print(f"gdaldem slope alone / susmap 4 stencil factors: {times['gdaldem slope (Horn)'] / ours:.2f}")
    if "SAGA slope+aspect+plan+profile (ZT)" in times:
        print(f"SAGA 4 factors / susmap 4 factors: {times['SAGA slope+aspect+plan+profile (ZT)'] / ours:.2f}")
    if "SAGA fill+MFD+TWI (sum)" in times and "susmap fill+MFD area+TWI" in times:
        ratio = times["SAGA fill+MFD+TWI (sum)"] / times["susmap fill+MFD area+TWI"]
        print(f"SAGA fill+MFD+TWI / susmap fill+MFD+TWI: {ratio:.2f}")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
