"""A province-scale study end to end on a dask LocalCluster: time per stage, peak memory per worker.

Builds (once; ``--keep`` reuses it) a synthetic province of ``--size``² cells
of 10 m, a 10 m DEM made of the bundled Ecuador DEM mirrored in both
directions (so it is continuous: 415 × 383 cells repeat every 830 × 766
cells) on top of a regional relief (a smooth random surface of 1,500 m
amplitude, 30 km wavelength, with a tilt, so rivers run across many tiles),
with thematic layers:

- ``lithology``: 6 classes in blocks of 2-6 km (categorical);
- ``ndvi``: a smooth field with cell noise (continuous, [-0.2, 0.9]);
- ``rainfall``: an orographic gradient [mm/yr] (continuous);
- ``faults.gpkg`` (long straight faults) and ``roads.gpkg`` (winding roads);
- ``inventory.csv``: about ``--events`` landslides and as many non-events,
  drawn cell by cell from a known rule (logistic in slope, lithology, NDVI
  and distance to the nearest fault), so the models have something to find.

Every raster is written window by window (deflate, tiled 512) and nothing
holds the whole grid. The study (``study.yaml`` beside the data) derives
slope, plan and profile curvature (stencils), the topographic wetness index
and HAND (tiled flow routing), the distance to streams and to faults and
roads (tiled distance transforms), fits a logistic regression and a random
forest (``--trees`` trees of depth ≤ ``--depth``) under 5-fold spatial
cross-validation, maps ``--map-model`` and classifies it in 5 natural-breaks
classes. It runs as ``susmap run study.yaml --scheduler ADDRESS`` in a child
process against a LocalCluster of ``--workers`` worker processes (one
thread each, ``--memory-limit`` each) started by this script. A monitor
polls, every second, the resident memory of each worker and of the client
process (psutil) and the workers' process ids (a changed id is a restart).

Prints the run's time per stage (``provenance.json``), the peak resident
memory per worker and of the client, the worker restarts, and the load
(``uptime``) before, during and after.

    python benchmarks/province.py --size 3000 --keep /tmp/province-3k
    python benchmarks/province.py --size 30000 --keep /data/province-30k
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
ECUADOR_DEM = ROOT.parent / "shared" / "data" / "ecuador" / "dem_10m.tif"
CELL = 10.0  # [m]
X0, Y0 = 500_000.0, 9_800_000.0  # top-left corner [m], UTM 17S
CRS = "EPSG:32717"
WINDOW = 2048  # rows and columns written at once
N_LITHOLOGY = 6


# --------------------------------------------------------------------------- the synthetic province


def _coarse_field(size: int, step_cells: int, seed: int, smooth: float) -> tuple[np.ndarray, int]:
    """A smooth random field in [-1, 1], one node per ``step_cells`` cells (FFT-filtered noise)."""
    n = size // step_cells + 3
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n, n))
    ky = np.fft.fftfreq(n)[:, None]
    kx = np.fft.fftfreq(n)[None, :]
    field = np.fft.ifft2(np.fft.fft2(noise) * np.exp(-((kx**2 + ky**2) * smooth**2))).real
    field -= field.min()
    field /= max(field.max(), 1e-12)
    return (2 * field - 1).astype(np.float64), step_cells


def _sample_coarse(field: tuple[np.ndarray, int], rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear value of a coarse field at cell (row, col) centres (broadcast)."""
    values, step = field
    fy = rows / step
    fx = cols / step
    iy = np.clip(np.floor(fy).astype(np.int64), 0, values.shape[0] - 2)
    ix = np.clip(np.floor(fx).astype(np.int64), 0, values.shape[1] - 2)
    wy = fy - iy
    wx = fx - ix
    return (
        values[iy, ix] * (1 - wy) * (1 - wx)
        + values[iy + 1, ix] * wy * (1 - wx)
        + values[iy, ix + 1] * (1 - wy) * wx
        + values[iy + 1, ix + 1] * wy * wx
    )


def _mirror_index(idx: np.ndarray, n: int) -> np.ndarray:
    """Index into a length-``n`` axis mirrored without repeating the edge: 0..n-1, n-2..1, 0..."""
    period = 2 * (n - 1)
    m = np.mod(idx, period)
    return np.where(m < n, m, period - m)


def _lines(rng: np.random.Generator, size: int, n: int, winding: float, vertices: int) -> list:
    """``n`` polylines across the province [m]: straight-ish (faults, winding 0.05) or winding (roads)."""
    from shapely.geometry import LineString

    extent = size * CELL
    out = []
    for _ in range(n):
        x, y = rng.uniform(0, extent, 2)
        heading = rng.uniform(0, 2 * np.pi)
        length = rng.uniform(0.2, 0.8) * extent
        pts = [(x, y)]
        for _ in range(vertices):
            heading += rng.normal(0, winding)
            x += np.cos(heading) * length / vertices
            y += np.sin(heading) * length / vertices
            pts.append((x, y))
        out.append(LineString([(X0 + px, Y0 - py) for px, py in pts]))
    return out


def build_province(folder: Path, size: int, events: int, seed: int = 7) -> dict[str, float]:
    """Write the province's rasters, vectors and inventory under ``folder``; returns seconds per part."""
    import geopandas as gpd
    import pandas as pd
    import rasterio
    from affine import Affine
    from rasterio.windows import Window
    from scipy import ndimage

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    with rasterio.open(ECUADOR_DEM) as src:
        base = src.read(1, masked=True).astype(np.float64)
    base = base.filled(np.nan)
    base -= np.nanmean(base)
    base = np.where(np.isnan(base), 0.0, base)  # the Ecuador DEM has no hole; a hole would repeat
    relief = _coarse_field(size, 500, seed, smooth=6.0)  # 5 km nodes, ~30 km features
    litho = rng.integers(1, N_LITHOLOGY + 1, size=(size // 300 + 2, size // 300 + 2))  # 3 km blocks
    green = _coarse_field(size, 100, seed + 1, smooth=4.0)
    faults = _lines(rng, size, max(3, size // 3000), 0.05, 20)
    roads = _lines(rng, size, max(5, size // 1500), 0.6, 60)
    gpd.GeoDataFrame({"kind": ["fault"] * len(faults)}, geometry=faults, crs=CRS).to_file(folder / "faults.gpkg")
    gpd.GeoDataFrame({"kind": ["road"] * len(roads)}, geometry=roads, crs=CRS).to_file(folder / "roads.gpkg")
    fault_geoms = gpd.GeoSeries(faults, crs=CRS)

    profile = {
        "driver": "GTiff",
        "height": size,
        "width": size,
        "count": 1,
        "crs": CRS,
        "transform": Affine(CELL, 0, X0, 0, -CELL, Y0),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "num_threads": "all_cpus",
        "bigtiff": "if_safer",
    }
    f32 = {**profile, "dtype": "float32", "nodata": -9999.0}
    u8 = {**profile, "dtype": "uint8", "nodata": 0}
    # events per window in proportion to its cells; candidates are 20x the events, kept by the rule
    per_cell = 20 * 2 * events / size**2
    points: list[pd.DataFrame] = []
    with (
        rasterio.open(folder / "dem.tif", "w", **f32) as dem_dst,
        rasterio.open(folder / "lithology.tif", "w", **u8) as lit_dst,
        rasterio.open(folder / "ndvi.tif", "w", **f32) as ndvi_dst,
        rasterio.open(folder / "rainfall.tif", "w", **f32) as rain_dst,
    ):
        for r0 in range(0, size, WINDOW):
            for c0 in range(0, size, WINDOW):
                h, w = min(WINDOW, size - r0), min(WINDOW, size - c0)
                rows = np.arange(r0 - 1, r0 + h + 1, dtype=np.float64)[:, None]
                cols = np.arange(c0 - 1, c0 + w + 1, dtype=np.float64)[None, :]
                local = base[
                    _mirror_index(rows.astype(np.int64), base.shape[0]),
                    _mirror_index(cols.astype(np.int64), base.shape[1]),
                ]
                regional = 1500.0 * _sample_coarse(relief, rows, cols) + 0.01 * CELL * (rows + cols) / 2
                z = (2500.0 + local + regional).astype(np.float32)
                slope = np.degrees(np.arctan(np.hypot(*np.gradient(z.astype(np.float64), CELL))))[1:-1, 1:-1]
                z = z[1:-1, 1:-1]
                rr, cc = rows[1:-1], cols[:, 1:-1]
                lith = litho[(rr // 300).astype(np.int64), (cc // 300).astype(np.int64)].astype(np.uint8)
                wrng = np.random.default_rng([seed, r0, c0])
                ndvi = (0.35 + 0.35 * _sample_coarse(green, rr, cc) + 0.08 * wrng.standard_normal((h, w))).clip(
                    -0.2, 0.9
                )
                rain = 1200.0 + 0.4 * (z - 2500.0) + 200.0 * _sample_coarse(relief, rr + 7000, cc)
                win = Window(c0, r0, w, h)
                dem_dst.write(z, 1, window=win)
                lit_dst.write(lith, 1, window=win)
                ndvi_dst.write(ndvi.astype(np.float32), 1, window=win)
                rain_dst.write(rain.astype(np.float32), 1, window=win)
                n_cand = wrng.poisson(per_cell * h * w)
                pr = wrng.integers(0, h, n_cand)
                pc = wrng.integers(0, w, n_cand)
                px = X0 + (c0 + pc + 0.5) * CELL
                py = Y0 - (r0 + pr + 0.5) * CELL
                points.append(
                    pd.DataFrame({"x": px, "y": py, "slope": slope[pr, pc], "lith": lith[pr, pc], "ndvi": ndvi[pr, pc]})
                )
    t_rasters = time.perf_counter() - t0
    cand = pd.concat(points, ignore_index=True)
    cand["fault_km"] = (
        gpd.GeoSeries(gpd.points_from_xy(cand.x, cand.y), crs=CRS).distance(fault_geoms.union_all()).to_numpy() / 1e3
    )
    lith_effect = np.array([0.0, -0.8, 0.0, 0.6, 1.0, -0.4, 0.3])
    logit = -3.2 + 0.09 * cand.slope + lith_effect[cand.lith] - 2.0 * cand.ndvi - 0.5 * cand.fault_km
    p = 1 / (1 + np.exp(-logit))
    lab = rng.random(len(cand)) < p
    n = min(events, int(lab.sum()), int((~lab).sum()))
    pos = cand[lab].sample(n, random_state=seed)
    neg = cand[~lab].sample(n, random_state=seed + 1)
    inv = pd.concat([pos.assign(landslide=True), neg.assign(landslide=False)])[["x", "y", "landslide"]]
    inv.to_csv(folder / "inventory.csv", index=False)
    del ndimage
    return {"rasters_s": t_rasters, "total_s": time.perf_counter() - t0, "events": n}


def study_dict(folder: Path, args: argparse.Namespace) -> dict:
    """The province study: what a regional analyst would run."""
    tiled = {"tiled": True}
    stream = {"threshold": 1e6, "method": "d8"}  # 1 km² streams
    return {
        "name": f"province-{args.size}",
        "seed": 1,
        "grid": {"template": str(folder / "dem.tif")},
        "layers": [
            {"name": "lithology", "path": str(folder / "lithology.tif"), "kind": "categorical"},
            {"name": "ndvi", "path": str(folder / "ndvi.tif"), "kind": "continuous"},
            {"name": "rainfall", "path": str(folder / "rainfall.tif"), "kind": "continuous"},
        ],
        "factors": [
            {"name": "slope", "factor": "slope"},
            {"name": "plan_curvature", "factor": "plan_curvature"},
            {"name": "profile_curvature", "factor": "profile_curvature"},
            {"name": "twi", "factor": "topographic_wetness_index", "params": {"method": "d8", "fill": True, **tiled}},
            {"name": "hand", "factor": "height_above_nearest_drainage", "params": {**stream, **tiled}},
            {
                "name": "dist_stream",
                "factor": "distance_to_stream",
                "params": {**stream, **tiled, "max_distance_m": 5000.0},
            },
            {
                "name": "dist_fault",
                "factor": "distance_to_features",
                "params": {"path": str(folder / "faults.gpkg"), **tiled, "max_distance_m": 10000.0},
            },
            {
                "name": "dist_road",
                "factor": "distance_to_features",
                "params": {"path": str(folder / "roads.gpkg"), **tiled, "max_distance_m": 5000.0},
            },
        ],
        "inventory": {
            "path": str(folder / "inventory.csv"),
            "geometry": "points",
            "x": "x",
            "y": "y",
            "crs": CRS,
            "label": "landslide",
        },
        "models": [
            {"name": "logistic_regression"},
            {"name": "random_forest", "params": {"n_estimators": args.trees, "max_depth": args.depth}},
        ],
        "validation": {"schemes": ["spatial"], "folds": 5, "repeats": 1},
        "mapping": {
            "model": args.map_model,
            "classification": "natural_breaks",
            "n_classes": 5,
            "chunk_size": args.chunk,
        },
        "outputs": {"directory": str(folder / "run")},
    }


# --------------------------------------------------------------------------- the monitor


class Monitor(threading.Thread):
    """Polls resident memory [MB] of the workers and the client every ``period`` s; counts worker restarts."""

    def __init__(self, client, period: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.period = period
        self.peaks: dict[str, float] = {}
        self.pids: dict[str, set[int]] = {}
        self.client_pid: int | None = None
        self.client_peak = 0.0
        self.loads: list[float] = []
        self.timeline: list[tuple[float, float]] = []  # (unix time, client RSS [MB]): the client's memory by stage
        self.stop = threading.Event()

    def run(self) -> None:
        import psutil

        last_pids = 0.0
        while not self.stop.is_set():
            now = time.monotonic()
            if now - last_pids > 5 or not self.pids:
                try:
                    for addr, pid in self.client.run(os.getpid).items():
                        self.pids.setdefault(addr, set()).add(pid)
                except Exception:  # a worker being restarted does not stop the monitor
                    pass
                last_pids = now
            for addr, pids in self.pids.items():
                for pid in pids:
                    try:
                        rss = psutil.Process(pid).memory_info().rss / 2**20
                    except psutil.Error:
                        continue
                    self.peaks[addr] = max(self.peaks.get(addr, 0.0), rss)
            if self.client_pid:
                with contextlib.suppress(psutil.Error):
                    rss = psutil.Process(self.client_pid).memory_info().rss / 2**20
                    self.client_peak = max(self.client_peak, rss)
                    self.timeline.append((time.time(), rss))
            self.loads.append(os.getloadavg()[0])
            self.stop.wait(self.period)

    def restarts(self) -> int:
        return sum(len(p) - 1 for p in self.pids.values()) + max(0, len(self.pids) - self._n_workers)

    _n_workers = 0


def _size_gb(folder: Path, exclude: str | None = None) -> float:
    """Bytes of the files under ``folder`` [GB], leaving out its subfolder ``exclude``."""
    if not folder.exists():
        return 0.0
    files = (
        f for f in folder.rglob("*") if f.is_file() and not (exclude and f.relative_to(folder).parts[0] == exclude)
    )
    return sum(f.stat().st_size for f in files) / 1e9


def uptime() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_study(folder: Path, args: argparse.Namespace) -> dict:
    """Run the study on a LocalCluster; returns timings, peaks, restarts."""
    import yaml
    from distributed import Client, LocalCluster

    out: dict = {"load_before": uptime()}
    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=args.memory_limit,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        study = study_dict(folder, args)
        path = folder / "study.yaml"
        path.write_text(yaml.safe_dump(study, sort_keys=False))
        mon = Monitor(client)
        mon._n_workers = args.workers
        mon.start()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "susmap"), "run", str(path), "--scheduler", cluster.scheduler_address],
            cwd=folder,
        )
        mon.client_pid = proc.pid
        rc = proc.wait()
        out["wall_s"] = time.perf_counter() - t0
        mon.stop.set()
        mon.join()
        out["rc"] = rc
        out["worker_peak_mb"] = dict(mon.peaks)
        out["client_peak_mb"] = mon.client_peak
        out["client_timeline"] = mon.timeline
        out["restarts"] = mon.restarts()
        out["load_during_median"] = float(np.median(mon.loads)) if mon.loads else math.nan
        out["load_during_max"] = max(mon.loads) if mon.loads else math.nan
    prov = folder / "run" / "provenance.json"
    out["timings_s"] = json.loads(prov.read_text()).get("timings_s", {}) if prov.exists() else {}
    metrics = folder / "run" / "metrics.json"
    if metrics.exists():
        out["metrics"] = json.loads(metrics.read_text())
    out["load_after"] = uptime()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=30000, help="cells per side (default 30000)")
    ap.add_argument("--events", type=int, default=2000, help="landslides in the inventory (as many non-events)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="6GB", help="per worker (dask's memory_limit)")
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--depth", type=int, default=12)
    ap.add_argument("--map-model", default="random_forest", choices=["random_forest", "logistic_regression", "best"])
    ap.add_argument("--chunk", type=int, default=1024, help="mapping.chunk_size [cells]")
    ap.add_argument("--keep", type=Path, help="folder to build the province in and keep (reused when present)")
    ap.add_argument("--build-only", action="store_true")
    args = ap.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory(prefix="susmap-province-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        marker = folder / "built.json"
        if not marker.exists() or json.loads(marker.read_text()).get("size") != args.size:
            print(f"building a {args.size:,}² province in {folder} (load {uptime()}) ...", flush=True)
            built = build_province(folder, args.size, args.events)
            marker.write_text(json.dumps({"size": args.size, **built}))
            print(f"built in {built['total_s']:.0f} s (rasters {built['rasters_s']:.0f} s), {built['events']} events")
        if args.build_only:
            return
        res = run_study(folder, args)
        cells = args.size**2
        print(
            f"\nprovince {args.size:,}² = {cells / 1e6:,.0f} M cells of 10 m; {args.workers} workers × 1 thread, "
            f"memory_limit {args.memory_limit}; RF {args.trees} trees depth ≤ {args.depth}, map {args.map_model}"
        )
        print(f"exit code {res['rc']}; wall {res['wall_s']:.0f} s; worker restarts {res['restarts']}")
        print(f"{'stage':32s} {'s':>9s}")
        print("-" * 42)
        for stage, s in res["timings_s"].items():
            print(f"{stage:32s} {s:9.1f}")
        print(f"{'peak RSS':32s} {'MB':>9s}")
        for addr, mb in sorted(res["worker_peak_mb"].items()):
            print(f"  worker {addr:25s} {mb:9.0f}")
        print(f"  client (susmap run)             {res['client_peak_mb']:9.0f}")
        print(
            f"load: before {res['load_before']}; during median {res['load_during_median']:.2f}, max "
            f"{res['load_during_max']:.2f}; after {res['load_after']}"
        )
        scores = (res.get("metrics") or {}).get("scores") or {}
        if scores:
            print("spatial CV:", json.dumps(scores)[:600])
        print(
            f"disk: inputs {_size_gb(folder, exclude='run'):.2f} GB, outputs {_size_gb(folder / 'run'):.2f} GB "
            f"({_size_gb(folder / 'run' / 'factors'):.2f} GB of derived factors)"
        )
        (folder / "province_result.json").write_text(json.dumps(res, indent=1, default=str))


if __name__ == "__main__":
    main()
