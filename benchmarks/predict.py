"""Wall-to-wall prediction against a plain rasterio loop, Pyspatialml and the floors, ratios from one run.

Builds a stack of ``--factors`` (14) float32 GeoTIFFs of ``--size``² cells
(tiled 256, deflate, as factor rasters usually are), fits a random forest of
100 fully grown trees (``n_jobs=-1``) and a logistic regression (standard
scaling in a pipeline) on 20,000 cells labelled by a noisy rule, then times,
in interleaved rounds (every tool once per round, the order rotated), each
tool writing the same probability map (float32, NaN nodata, a deflate
Cloud-Optimized GeoTIFF with average overviews):

- ``susmap``: :func:`susmap.mapping.predict_stack` +
  :func:`susmap.mapping.write_lazy_raster`, as ``susmap run`` maps (the stack
  is opened before the clock starts, without the counting pass);
- ``susmap-base``: the same with the source of ``--base`` (a git revision,
  checked out under a temporary folder with ``git archive``), for a before /
  after comparison in one run;
- ``loop``: a plain rasterio loop over 512-row strips (14 reads, the model's
  ``predict_proba`` on the valid cells, one write), then GDAL's COG copy;
- ``pyspatialml``: ``Raster(...).predict_proba`` then the COG copy, when the
  package is importable, from this environment or from the folder given as
  ``--pyspatialml-path`` (``pip install --no-deps --target DIR pyspatialml``
  keeps it out of the project's environment); else skipped with a message;
- ``floor-infer``: ``predict_proba`` on every valid cell held in memory (the
  reading before the clock starts);
- ``floor-io``: reading the inputs and writing one output of the same
  options, no model;
- ``idle``: the model loaded and susmap, rasterio and scikit-learn
  imported, nothing run: the memory every tool starts from.

Each measurement runs in its own child process: its time is the work only
(imports and model loading excluded), its memory the child's peak resident
set (``VmHWM``, see ``peak_memory.py``), with GDAL's block cache capped (``--gdal-cache-mb``, 64)
for every tool alike. The maps of all tools are compared with susmap's
(largest absolute difference over cells; the NaN masks must be equal).
Prints, per model, the median seconds (and CPU seconds: on a shared machine
the CPU a tool gets depends on its threads), the ratio to susmap, the ratio
of susmap to the floors, and the median peak memory, with the load average
(``uptime``) seen during the runs.

    python benchmarks/predict.py --size 2000 --rounds 3
    python benchmarks/predict.py --size 5000 --base HEAD~1
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
from peak_memory import peak_rss_mib

HERE = Path(__file__).resolve()
REPO = HERE.parent.parent
STRIP = 512
COG_OPTIONS = {
    "BLOCKSIZE": 256,
    "BIGTIFF": "IF_SAFER",
    "OVERVIEW_RESAMPLING": "AVERAGE",
    "COMPRESS": "DEFLATE",
    "LEVEL": 1,
    "PREDICTOR": "FLOATING_POINT",
}
TOOLS = ("susmap", "susmap-base", "loop", "pyspatialml", "floor-infer", "floor-io", "idle")


# --------------------------------------------------------------------------- set-up (parent)


def make_stack(folder: Path, n: int, n_factors: int) -> list[Path]:
    """``n_factors`` smooth noisy float32 rasters of n × n cells, nodata -9999 in a corner of the first."""
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

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
        "predictor": 3,
    }
    paths = []
    for f in range(n_factors):
        path = folder / f"f{f:02d}.tif"
        rng = np.random.default_rng(f)
        with rasterio.open(path, "w", **profile) as dst:
            for r0 in range(0, n, STRIP):
                h = min(STRIP, n - r0)
                yy, xx = np.mgrid[r0 : r0 + h, 0:n].astype(np.float32)
                block = np.sin(xx / (50 + 10 * f)) + np.cos(yy / (70 + 5 * f)) + 0.3 * rng.standard_normal((h, n))
                if f == 0 and r0 == 0:
                    block[: n // 10, : n // 10] = -9999.0
                dst.write(block.astype(np.float32), 1, window=Window(0, r0, n, h))
        paths.append(path)
    return paths


def fit_models(paths: list[Path], n: int, folder: Path, n_train: int = 20000) -> dict[str, Path]:
    """Fit the RF-100 and the scaled logistic regression on ``n_train`` random valid cells; pickle them."""
    import rasterio
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    rows = rng.integers(0, n, 3 * n_train)
    cols = rng.integers(0, n, 3 * n_train)
    X = np.empty((rows.size, len(paths)), np.float64)  # noqa: N806
    for j, p in enumerate(paths):
        with rasterio.open(p) as src:
            band = src.read(1, masked=True).filled(np.nan)
        X[:, j] = band[rows, cols]
    X = X[np.isfinite(X).all(axis=1)][:n_train]  # noqa: N806
    logit = X[:, 0] + 0.8 * X[:, 1] - 0.5 * X[:, 2] + 0.3 * X[:, 3] * X[:, 4]
    y = (logit + rng.normal(0, 1.0, len(X)) > 0).astype(int)
    models = {
        "rf100": RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=0),
        "logistic": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
    }
    out = {}
    for name, model in models.items():
        model.fit(X, y)
        out[name] = folder / f"{name}.pkl"
        out[name].write_bytes(pickle.dumps(model))
    return out


def base_source(rev: str, folder: Path) -> Path:
    """The ``src`` folder of git revision ``rev``, unpacked under ``folder`` (``git archive``)."""
    tar = folder / "base.tar"
    subprocess.run(["git", "-C", str(REPO), "archive", "-o", str(tar), rev, "src"], check=True)
    with tarfile.open(tar) as t:
        t.extractall(folder / "base", filter="data")
    return folder / "base" / "src"


# --------------------------------------------------------------------------- the tools (child)


def _cog(src: Path, dst: Path) -> None:
    import rasterio.shutil

    rasterio.shutil.copy(str(src), str(dst), driver="COG", **COG_OPTIONS)


def _out_profile(src) -> dict:
    return {
        "driver": "GTiff",
        "width": src.width,
        "height": src.height,
        "count": 1,
        "dtype": "float32",
        "crs": src.crs,
        "transform": src.transform,
        "nodata": float("nan"),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "zstd",
        "zstd_level": 1,
        "predictor": 3,
    }


def _strips(paths, out: Path, fn) -> None:
    """Read every input in 512-row strips, ``fn(block (k, h, w) float32 NaN = nodata)`` → (h, w), write; COG copy."""
    import contextlib

    import rasterio
    from rasterio.windows import Window

    with contextlib.ExitStack() as stack:
        srcs = [stack.enter_context(rasterio.open(p)) for p in paths]
        part = out.with_suffix(".part.tif")
        dst = stack.enter_context(rasterio.open(part, "w", **_out_profile(srcs[0])))
        n_rows, n_cols = srcs[0].height, srcs[0].width
        for r0 in range(0, n_rows, STRIP):
            win = Window(0, r0, n_cols, min(STRIP, n_rows - r0))
            block = np.stack([s.read(1, window=win, masked=True).filled(np.nan) for s in srcs])
            dst.write(fn(block), 1, window=win)
    _cog(part, out)
    part.unlink()


def _predict_cells(model, block: np.ndarray) -> np.ndarray:
    valid = np.isfinite(block).all(axis=0)
    out = np.full(block.shape[1:], np.nan, np.float32)
    if valid.any():
        out[valid] = model.predict_proba(block[:, valid].T.astype(np.float64))[:, 1]
    return out


def run_tool(tool: str, folder: Path, model_name: str) -> dict:
    """Run one tool once; returns its seconds (work only) and output path."""
    paths = sorted(folder.glob("f*.tif"))
    model = pickle.loads((folder / f"{model_name}.pkl").read_bytes())
    out = folder / f"map-{tool}-{model_name}.tif"
    out.unlink(missing_ok=True)
    if tool in ("susmap", "susmap-base"):
        from susmap.mapping import predict_stack, write_lazy_raster
        from susmap.stack import open_stack
        from susmap.study import AlignmentConfig, GridConfig, LayerConfig

        layers = [LayerConfig(name=p.stem, path=p) for p in paths]
        stack = open_stack(GridConfig(template=paths[0]), layers, AlignmentConfig(), count=False)
        t0 = time.perf_counter()
        write_lazy_raster(out, predict_stack(stack, model), stack.grid)
    elif tool == "loop":
        t0 = time.perf_counter()
        _strips(paths, out, lambda b: _predict_cells(model, b))
    elif tool == "pyspatialml":
        if not hasattr(np, "find_common_type"):  # pyspatialml 0.22 calls what NumPy 2 removed; same result
            np.find_common_type = lambda array_types, scalar_types: np.result_type(*array_types, *scalar_types)
        from pyspatialml import Raster

        r = Raster([str(p) for p in paths])
        t0 = time.perf_counter()
        part = out.with_suffix(".part.tif")
        r.predict_proba(model, file_path=str(part), dtype="float32", nodata=np.nan, overwrite=True)
        import rasterio

        with rasterio.open(part) as src:  # the event class's band only, as the other tools write it
            band = src.read(2 if src.count == 2 else 1, masked=True).filled(np.nan).astype(np.float32)
            profile = _out_profile(src)
        single = out.with_suffix(".one.tif")
        with rasterio.open(single, "w", **profile) as dst:
            dst.write(band, 1)
        _cog(single, out)
        part.unlink()
        single.unlink()
    elif tool == "floor-infer":
        import rasterio

        block = np.stack([rasterio.open(p).read(1, masked=True).filled(np.nan) for p in paths])
        valid = np.isfinite(block).all(axis=0)
        X = block[:, valid].T.astype(np.float64)  # noqa: N806
        del block
        t0 = time.perf_counter()
        model.predict_proba(X)
        out = None
    elif tool == "floor-io":
        t0 = time.perf_counter()
        _strips(paths, out, lambda b: b[0])
        out = None
    elif tool == "idle":
        import rasterio

        import susmap.mapping  # noqa: F401

        t0 = time.perf_counter()
        out = None
    else:
        raise ValueError(f"unknown tool {tool!r}")
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "out": str(out) if out else None}


def _child(tool: str, folder: str, model_name: str) -> None:
    cpu0 = time.process_time()
    res = run_tool(tool, Path(folder), model_name)
    res["cpu_s"] = time.process_time() - cpu0  # set-up included (model load, stack opening), no imports
    res["peak_mb"] = peak_rss_mib()
    print("RESULT " + json.dumps(res))


# --------------------------------------------------------------------------- driver (parent)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def spawn(
    tool: str, folder: Path, model_name: str, gdal_cache_mb: int, base_src: Path | None, psml: Path | None = None
) -> dict:
    env = {**os.environ, "GDAL_CACHEMAX": str(gdal_cache_mb)}
    if tool == "susmap-base":
        env["PYTHONPATH"] = str(base_src)
    if tool == "pyspatialml" and psml is not None:
        env["PYTHONPATH"] = str(psml)
    proc = subprocess.run(
        [sys.executable, str(HERE), "--child", tool, str(folder), model_name],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{tool} {model_name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][7:])


def compare(a: str, b: str) -> float:
    """Largest absolute difference between two maps (inf when their NaN masks differ)."""
    import rasterio

    with rasterio.open(a) as sa, rasterio.open(b) as sb:
        x, y = sa.read(1), sb.read(1)
    if not np.array_equal(np.isnan(x), np.isnan(y)):
        return float("inf")
    ok = ~np.isnan(x)
    return float(np.max(np.abs(x[ok].astype(np.float64) - y[ok]))) if ok.any() else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=5000, help="cells per side (default 5000; 2000 for a quick check)")
    parser.add_argument("--factors", type=int, default=14)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=["rf100", "logistic"], choices=["rf100", "logistic"])
    parser.add_argument("--tools", nargs="+", default=[t for t in TOOLS if t != "susmap-base"], choices=TOOLS)
    parser.add_argument("--base", help="git revision whose susmap runs as susmap-base (e.g. HEAD~1)")
    parser.add_argument("--gdal-cache-mb", type=int, default=64)
    parser.add_argument("--pyspatialml-path", type=Path, help="folder holding pyspatialml (pip install --target)")
    parser.add_argument("--keep", type=Path, help="folder to build the stack in and keep (default: a temporary one)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    tools = list(args.tools)
    if args.base and "susmap-base" not in tools:
        tools.insert(1, "susmap-base")
    if "susmap-base" in tools and not args.base:
        parser.error("susmap-base needs --base REV")
    if "pyspatialml" in tools:
        env = {**os.environ, **({"PYTHONPATH": str(args.pyspatialml_path)} if args.pyspatialml_path else {})}
        found = subprocess.run([sys.executable, "-c", "import pyspatialml"], env=env, capture_output=True, check=False)
        if found.returncode:
            print(
                "pyspatialml is not importable: skipped (pip install --no-deps --target DIR pyspatialml, "
                "then --pyspatialml-path DIR)"
            )
            tools.remove("pyspatialml")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        paths = sorted(folder.glob("f*.tif"))
        if len(paths) != args.factors:
            paths = make_stack(folder, args.size, args.factors)
        fit_models(paths, args.size, folder)
        base_src = base_source(args.base, Path(tmp)) if args.base else None
        print(
            f"stack {args.size}² × {args.factors} float32 deflate, built and fitted in "
            f"{time.perf_counter() - t0:.0f} s; cores {os.cpu_count()}; GDAL_CACHEMAX {args.gdal_cache_mb} MB;"
            f" rounds {args.rounds}"
        )
        results: dict[tuple[str, str], list[dict]] = {}
        loads = []
        for r in range(args.rounds):
            for model_name in args.models:
                order = tools[r % len(tools) :] + tools[: r % len(tools)]
                for tool in order:
                    res = spawn(tool, folder, model_name, args.gdal_cache_mb, base_src, args.pyspatialml_path)
                    res["load"] = load()
                    loads.append(os.getloadavg()[0])
                    results.setdefault((model_name, tool), []).append(res)
                    print(
                        f"  round {r} {model_name:8s} {tool:12s} {res['seconds']:7.2f} s {res['cpu_s']:6.1f} cpu-s"
                        f" {res['peak_mb']:6.0f} MB  load {res['load']}",
                        flush=True,
                    )
        for model_name in args.models:
            med = {t: float(np.median([x["seconds"] for x in results[(model_name, t)]])) for t in tools}
            mem = {t: float(np.median([x["peak_mb"] for x in results[(model_name, t)]])) for t in tools}
            cpu = {t: float(np.median([x["cpu_s"] for x in results[(model_name, t)]])) for t in tools}
            ref = results[(model_name, "susmap")][-1]["out"] if "susmap" in tools else None
            print(f"\n{model_name}: {args.size}² × {args.factors}, medians of {args.rounds} rounds")
            header = f"{'tool':12s} {'median s':>9s} {'tool/susmap':>12s} {'CPU s':>7s} {'peak RSS MB':>12s}"
            header += f" {'max |Δp| vs susmap':>19s}"
            print(header)
            print("-" * len(header))
            for t in tools:
                out = results[(model_name, t)][-1]["out"]
                diff = f"{compare(ref, out):.2e}" if ref and out and t != "susmap" else "-"
                ratio = f"{med[t] / med['susmap']:.2f}" if "susmap" in med else "-"
                print(f"{t:12s} {med[t]:9.2f} {ratio:>12s} {cpu[t]:7.1f} {mem[t]:12.0f} {diff:>19s}")
            if "susmap" in med:
                for floor in ("floor-infer", "floor-io"):
                    if floor in med:
                        print(f"susmap / {floor}: {med['susmap'] / med[floor]:.2f}")
                both = [med[f] for f in ("floor-infer", "floor-io") if f in med]
                if len(both) == 2:
                    print(f"susmap / max(floors): {med['susmap'] / max(both):.2f}")
        print(
            f"\nload average (1 min) during the runs: median {np.median(loads):.2f}, max {max(loads):.2f};"
            f" at the end: {load()}"
        )


if __name__ == "__main__":
    main()
