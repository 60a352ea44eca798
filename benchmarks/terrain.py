"""Terrain factors file to file against gdaldem, with equal compression, in interleaved rounds.

Builds a DEM (``--size`` cells square, default 10,000) by tiling the bundled
Ecuador DEM (``ta.tif`` band ``elev``) with mirrored copies so the tiles join
without cliffs, writes it as a tiled GeoTIFF, then runs, in ``--rounds``
interleaved rounds (A B C A B C ...), each step in its own process:

- susmap: slope + aspect + plan + profile curvature (Zevenbergen & Thorne,
  one derivative pass, four Cloud-Optimized GeoTIFFs) written by
  :func:`susmap.factors.factor_writer.write_factor_rasters`;
- the same with the previous writer (:func:`susmap.mapping.writer.write_lazy_rasters`,
  ``GDAL_CACHEMAX=256`` as this benchmark set it before), unless ``--no-previous``;
- ``gdaldem slope`` then ``gdaldem aspect`` (Horn, ``-co COMPRESS=DEFLATE -co TILED=YES``).

All with DEFLATE (``--compress``; gdaldem gets the same codec). Prints the
median wall time, the ratios and the peak resident memory of each tool
(``ru_maxrss`` of the child process), with the ``uptime`` load before each
round. Then checks susmap's Horn slope and aspect against gdaldem's on the
interior cells (both Horn 1981; tolerance :data:`SLOPE_TOL` and
:data:`ASPECT_TOL` degrees).

``--codecs`` also measures, in interleaved rounds, susmap's four factors
written with DEFLATE, ZSTD, LERC_DEFLATE and LERC_ZSTD (LERC lossless:
``MAX_Z_ERROR=0``): write time, size on disk, and the time to read the four
files back whole (what the stack does with them). ``--saga`` and
``--hydrology`` add SAGA's "Slope, Aspect, Curvature" and the hydrology
factors (fill + MFD catchment area + TWI, against SAGA when installed).

    python benchmarks/terrain.py                      # 10,000 x 10,000, 3 rounds
    python benchmarks/terrain.py --size 4000 --codecs
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
#: Agreement of susmap's Horn slope and aspect with gdaldem's [degrees]: gdaldem computes in float32
#: (susmap in float64), which moves slopes by up to about 2e-3°; aspect is compared where the slope is at
#: least :data:`ASPECT_MIN_SLOPE` degrees (on flatter cells float32 rounding turns the azimuth by more).
SLOPE_TOL = 5e-3
ASPECT_TOL = 0.1
ASPECT_MIN_SLOPE = 1.0


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


STENCIL = [
    {"name": "slope"},
    {"name": "aspect"},
    {"name": "plan_curvature"},
    {"name": "profile_curvature"},
]
HORN = [
    {"name": "slope", "params": {"method": "horn"}},
    {"name": "aspect", "params": {"method": "horn"}},
]
HYDRO = [
    {"name": "filled_dem"},
    {"name": "catchment_area", "params": {"method": "mfd", "fill": True}},
    {"name": "twi", "factor": "topographic_wetness_index", "params": {"method": "mfd", "fill": True}},
]
FACTOR_SETS = {"stencil": STENCIL, "horn": HORN, "hydro": HYDRO}


def _child(spec: dict) -> None:
    """Run one susmap step (in its own process) and print its wall time [s]."""
    import susmap.factors.derive as derive
    from susmap.study import study_from_dict

    if spec["kind"] == "read":  # read every file back whole, as the stack does
        import rasterio

        t0 = time.perf_counter()
        for path in sorted(Path(spec["out"]).glob("*.tif")):
            with rasterio.open(path) as src:
                src.read(1)
        print(json.dumps({"seconds": time.perf_counter() - t0}))
        return
    study = study_from_dict(
        {
            "name": "bench",
            "grid": {"template": spec["dem"]},
            "factors": FACTOR_SETS[spec["kind"]],
            "inventory": {"path": spec["dem"], "x": "x", "y": "y"},  # unused by factor derivation
            "mapping": {"chunk_size": spec["chunk"]},
            "outputs": {"directory": spec["out"], "compress": "deflate"},
        }
    )
    # LERC codecs are no outputs.compress choice of a study: set the value past validation
    study = study.model_copy(update={"outputs": study.outputs.model_copy(update={"compress": spec["compress"]})})
    if spec.get("previous"):
        from susmap.mapping.writer import write_lazy_rasters

        derive.write_factor_rasters = write_lazy_rasters
    t0 = time.perf_counter()
    derive.derive_factors(study, Path(spec["out"]))
    print(json.dumps({"seconds": time.perf_counter() - t0}))


#: CPU seconds (user + system) of each measured command, in order: a figure the load moves less than wall time.
LAST_CPU: list[float] = []


def measured(cmd: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Wall time [s] and peak RSS [MB] of a command run as the child of a fresh process, and its stdout."""
    code = (
        "import resource, subprocess, sys, time, json; t=time.perf_counter(); "
        "p=subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "print(json.dumps({'s': time.perf_counter()-t, 'rc': p.returncode, "
        "'mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024, 'out': p.stdout[-2000:], "
        "'cpu': (lambda u: u.ru_utime + u.ru_stime)(resource.getrusage(resource.RUSAGE_CHILDREN)), "
        "'err': p.stderr[-2000:]}))"
    )
    res = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True, env=env, check=True)
    info = json.loads(res.stdout)
    LAST_CPU.append(info["cpu"])
    if info["rc"] != 0:
        raise RuntimeError(f"{cmd[0]} failed: {info['err']}")
    return info["s"], info["mb"], info["out"]


INNER: dict[str, list[float]] = {}


def susmap_step(spec: dict, env: dict | None = None) -> tuple[float, float]:
    """Wall time [s] of the whole child process and its peak RSS [MB]; the time without imports goes to INNER."""
    Path(spec["out"]).mkdir(parents=True, exist_ok=True)
    wall, mb, text = measured([sys.executable, str(HERE), "--child", json.dumps(spec)], env)
    INNER.setdefault(spec["out"], []).append(json.loads(text.strip().splitlines()[-1])["seconds"])
    return wall, mb


def load() -> str:
    """The 1-minute load average (``uptime``)."""
    return f"{os.getloadavg()[0]:.1f}"


def gdaldem_pair(gd: str, dem: Path, work: Path, compress: str) -> tuple[float, float]:
    """``gdaldem slope`` then ``gdaldem aspect`` with the same codec: summed time [s], larger peak RSS [MB]."""
    total, peak = 0.0, 0.0
    for what in ("slope", "aspect"):
        out = work / f"gdal_{what}.tif"
        out.unlink(missing_ok=True)
        s, m, _ = measured(
            [gd, what, "-q", str(dem), str(out), "-co", f"COMPRESS={compress.upper()}", "-co", "TILED=YES"]
        )
        total, peak = total + s, max(peak, m)
    return total, peak


def agreement(susmap_dir: Path, work: Path) -> list[str]:
    """Largest differences of susmap's Horn slope and aspect from gdaldem's on interior cells (aspect: sloping)."""
    import rasterio

    lines = []
    for what, tol in (("slope", SLOPE_TOL), ("aspect", ASPECT_TOL)):
        with rasterio.open(susmap_dir / f"{what}.tif") as a, rasterio.open(work / f"gdal_{what}.tif") as b:
            ours, theirs = a.read(1)[1:-1, 1:-1], b.read(1, masked=True).filled(np.nan)[1:-1, 1:-1]
        with rasterio.open(susmap_dir / "slope.tif") as s:
            slope = s.read(1)[1:-1, 1:-1]
        keep = np.isfinite(ours) & np.isfinite(theirs) & (ours >= 0)
        if what == "aspect":
            keep &= slope >= ASPECT_MIN_SLOPE
        diff = np.abs(ours[keep] - theirs[keep])
        if what == "aspect":
            diff = np.minimum(diff, 360.0 - diff)
        worst = float(diff.max()) if diff.size else float("nan")
        verdict = "agree" if worst <= tol else "DIFFER"
        lines.append(
            f"{what}: max |susmap - gdaldem| = {worst:.2e}° on {keep.sum():,} interior cells"
            + (f" with slope >= {ASPECT_MIN_SLOPE:g}°" if what == "aspect" else "")
            + f" (tolerance {tol:g}°): "
            f"{verdict}"
        )
    return lines


def table(rows: list[tuple[str, list[float], float]], ref: str | None = None) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"{'step':<{width}} {'median s':>9} {'runs s':>22} {'peak MB':>8}" + (f"  {'vs ' + ref:>14}" if ref else ""))
    print("-" * (width + 45 + (16 if ref else 0)))
    medians = {name: statistics.median(times) for name, times, _ in rows}
    for name, times, mb in rows:
        runs = " ".join(f"{t:.1f}" for t in times)
        ratio = f"  {medians[ref] / medians[name]:>13.2f}x" if ref else ""
        print(f"{name:<{width}} {medians[name]:>9.1f} {runs:>22} {mb:>8.0f}{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compress", default="deflate", help="codec of both sides (deflate, zstd, lzw, none)")
    parser.add_argument("--no-previous", action="store_true", help="skip the previous writer")
    parser.add_argument("--codecs", action="store_true", help="also compare DEFLATE, ZSTD, LERC_DEFLATE, LERC_ZSTD")
    parser.add_argument("--saga", action="store_true", help="also time SAGA's slope+aspect+curvatures")
    parser.add_argument("--hydrology", action="store_true", help="also time fill + MFD area + TWI")
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here (default: a temp folder)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(json.loads(args.child))
        return

    work = args.workdir or Path(tempfile.mkdtemp(prefix="susmap-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    dem = work / "dem.tif"
    t0 = time.perf_counter()
    build_dem(dem, args.size)
    print(f"DEM {args.size:,} x {args.size:,} (10 m) built in {time.perf_counter() - t0:.1f} s at {dem}")
    print(
        f"cores={os.cpu_count()} chunk={args.chunk} compression={args.compress} on both sides; wall clock of each "
        "process (imports included), file to file; peak RSS = ru_maxrss of the child process"
    )

    def spec(kind: str, out: str, compress: str = args.compress, previous: bool = False) -> dict:
        return {"kind": kind, "dem": str(dem), "out": str(work / out), "chunk": args.chunk, "compress": compress,
                "previous": previous}  # fmt: skip

    gd = shutil.which("gdaldem")
    steps: dict[str, tuple] = {"susmap slope+aspect+plan+profile": (spec("stencil", "susmap"), None)}
    if not args.no_previous:
        old_env = {**os.environ, "GDAL_CACHEMAX": "256"}
        steps["  same, previous writer"] = (spec("stencil", "susmap_previous", previous=True), old_env)
    times: dict[str, list[float]] = {name: [] for name in steps}
    cpu: dict[str, list[float]] = {name: [] for name in steps}
    peaks: dict[str, float] = dict.fromkeys(steps, 0.0)
    gd_name = "gdaldem slope + aspect"
    if gd:
        times[gd_name], peaks[gd_name], cpu[gd_name] = [], 0.0, []
    loads = []
    for r in range(args.rounds):
        loads.append(load())
        for name, (s, env) in steps.items():
            t, mb = susmap_step(s, env)
            cpu[name].append(LAST_CPU[-1])
            times[name].append(t)
            peaks[name] = max(peaks[name], mb)
        if gd:
            t, mb = gdaldem_pair(gd, dem, work, args.compress)
            cpu[gd_name].append(LAST_CPU[-1] + LAST_CPU[-2])
            times[gd_name].append(t)
            peaks[gd_name] = max(peaks[gd_name], mb)
        print(f"round {r + 1}: load {loads[-1]}: " + ", ".join(f"{n.strip()} {v[-1]:.1f} s" for n, v in times.items()))
    loads.append(load())
    print(f"\n{args.size:,}² cells, {args.compress.upper()} on both sides; load (1 min) during the rounds: "
          f"{' '.join(loads)}")  # fmt: skip
    rows = [(name, times[name], peaks[name]) for name in times]
    table(rows, gd_name if gd else None)
    for name, (s, _) in steps.items():
        print(f"{name.strip()}: {statistics.median(INNER[s['out']]):.1f} s of it after the imports (median)")
    print(
        "CPU seconds (user + system, median): "
        + ", ".join(f"{n.strip()} {statistics.median(c):.1f}" for n, c in cpu.items())
    )
    if gd:
        per = statistics.median(times[gd_name]) / 2 / (statistics.median(times["susmap slope+aspect+plan+profile"]) / 4)
        print(f"per factor: susmap is {per:.2f}x gdaldem's speed (time per factor, gdaldem's / susmap's)")
        t, _ = susmap_step(spec("horn", "susmap_horn"))
        print("\nHorn slope and aspect against gdaldem's (same formula):")
        for line in agreement(work / "susmap_horn", work):
            print("  " + line)

    if args.codecs:
        codecs = ("deflate", "zstd", "lerc_deflate", "lerc_zstd")
        write: dict[str, list[float]] = {c: [] for c in codecs}
        read: dict[str, list[float]] = {c: [] for c in codecs}
        cpeak: dict[str, float] = dict.fromkeys(codecs, 0.0)
        wcpu: dict[str, list[float]] = {c: [] for c in codecs}
        rcpu: dict[str, list[float]] = {c: [] for c in codecs}
        size: dict[str, float] = {}
        loads = []
        for _ in range(args.rounds):
            loads.append(load())
            for c in codecs:
                out = f"codec_{c}"
                t, mb = susmap_step(spec("stencil", out, compress=c))
                wcpu[c].append(LAST_CPU[-1])
                write[c].append(t)
                cpeak[c] = max(cpeak[c], mb)
                size[c] = sum(p.stat().st_size for p in (work / out).glob("*.tif")) / 1e6
                _, _, text = measured([sys.executable, str(HERE), "--child", json.dumps(spec("read", out))])
                read[c].append(json.loads(text.strip().splitlines()[-1])["seconds"])
                rcpu[c].append(LAST_CPU[-1])
        loads.append(load())
        print(f"\nCodecs, susmap's four factors ({args.size:,}²; load {' '.join(loads)}):")
        print("(medians; write = the child process, imports included; CPU = user + system seconds)")
        head = ("codec", "write s", "w/o imports", "write CPU", "read s", "read CPU", "MB", "peak MB")
        print(f"{head[0]:<14}" + "".join(f" {h:>11}" for h in head[1:]))
        for c in codecs:
            inner = statistics.median(INNER[str(work / f"codec_{c}")])
            values = (statistics.median(write[c]), inner, statistics.median(wcpu[c]), statistics.median(read[c]),
                      statistics.median(rcpu[c]), size[c], cpeak[c])  # fmt: skip
            print(
                f"{c:<14}" + "".join(f" {v:>11.2f}" for v in values[:5]) + "".join(f" {v:>11.0f}" for v in values[5:])
            )

    saga = shutil.which("saga_cmd") if (args.saga or args.hydrology) else None
    extra: list[tuple[str, list[float], float]] = []
    if args.saga and saga:
        s, m, _ = measured(
            [saga, "ta_morphometry", "0", "-ELEVATION", str(dem), "-METHOD", "6",
             "-SLOPE", str(work / "saga_slope.sdat"), "-ASPECT", str(work / "saga_aspect.sdat"),
             "-C_PLAN", str(work / "saga_cplan.sdat"), "-C_PROF", str(work / "saga_cprof.sdat")]
        )  # fmt: skip
        extra.append(("SAGA slope+aspect+plan+profile (ZT)", [s], m))
    if args.hydrology:
        t, mb = susmap_step(spec("hydro", "susmap_hydro"))
        extra.append(("susmap fill+MFD area+TWI", [t], mb))
        if saga and (work / "saga_slope.sdat").exists():  # SAGA's TWI takes the slope of --saga
            fill, area = work / "saga_filled.sdat", work / "saga_carea.sdat"
            s1, m1, _ = measured([saga, "ta_preprocessor", "4", "-ELEV", str(dem), "-FILLED", str(fill)])
            s2, m2, _ = measured(
                [saga, "ta_hydrology", "0", "-ELEVATION", str(fill), "-FLOW", str(area), "-METHOD", "4"]
            )
            s3, m3, _ = measured(
                [saga, "ta_hydrology", "20", "-SLOPE", str(work / "saga_slope.sdat"), "-AREA", str(area),
                 "-TWI", str(work / "saga_twi.sdat")]
            )  # fmt: skip
            extra.append(("SAGA fill+MFD+TWI (sum)", [s1 + s2 + s3], max(m1, m2, m3)))
    if extra:
        print()
        table(extra)
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
