"""Slope-unit delineation: time and peak memory against DEM size.

Builds an N × N fractal DEM at 10 m in memory (spectral synthesis, power
spectrum ∝ k^-3.5, 1,500 m of relief, a 2 % regional slope, 0.1 m of
white noise), then times
:func:`susmap.units.delineate_slope_units` with the default
:class:`~susmap.units.SlopeUnitParameters`. Each size runs in a fresh
subprocess, after the numba kernels have been compiled on a small DEM, so
its peak resident memory (``VmHWM``, see ``peak_memory.py``) is its own; the table shows the
peak before the delineation (interpreter, libraries and DEM) and at its
end. Prints a table and the machine's load (``uptime``); asserts nothing.

    python benchmarks/slope_units.py                 # 2000 and 5000
    python benchmarks/slope_units.py --size 1000     # a quick trial
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
from peak_memory import peak_rss_mib


def fractal_dem(n: int, seed: int = 0, beta: float = 3.5, relief: float = 1500.0, tilt: float = 0.02) -> np.ndarray:
    """N × N float32 fractal surface [m] at 10 m cells.

    Random phases with amplitude ∝ k^(-beta/2), rescaled to ``relief`` m,
    plus a regional slope ``tilt`` [m/m] down to the north (so that fewer
    closed depressions fill into flats) and 0.1 m of white noise.
    """
    from scipy import fft

    rng = np.random.default_rng(seed)
    k = np.hypot(fft.fftfreq(n).astype(np.float32)[:, None], fft.rfftfreq(n).astype(np.float32)[None, :])
    k[0, 0] = 1.0
    amplitude = k ** np.float32(-beta / 2)
    del k
    phase = rng.random(amplitude.shape, dtype=np.float32) * np.float32(2 * np.pi)
    spec = amplitude * np.exp(1j * phase).astype(np.complex64)
    del amplitude, phase
    spec[0, 0] = 0
    z = fft.irfft2(spec, s=(n, n), workers=-1).astype(np.float32)
    del spec
    z -= z.min()
    z *= np.float32(relief / z.max())
    z += (np.arange(n, dtype=np.float32) * np.float32(10.0 * tilt))[:, None]
    z += rng.normal(0.0, 0.1, z.shape).astype(np.float32)
    return z


def _peak_mb() -> float:
    return peak_rss_mib()


def worker(n: int) -> dict:
    from affine import Affine

    from susmap.units import delineate_slope_units

    delineate_slope_units(fractal_dem(64, seed=1), Affine(10, 0, 0, 0, -10, 640))  # compile the kernels
    t0 = time.perf_counter()
    dem = fractal_dem(n)
    t_dem = time.perf_counter() - t0
    before = _peak_mb()
    t0 = time.perf_counter()
    units = delineate_slope_units(dem, Affine(10, 0, 500_000, 0, -10, 9_000_000 + 10 * n))
    seconds = time.perf_counter() - t0
    table = units.table
    return {
        "size": n,
        "cells": n * n,
        "dem_s": t_dem,
        "seconds": seconds,
        "peak_before_mb": before,
        "peak_mb": _peak_mb(),
        "units": len(table),
        "iterations": len(units.thresholds),
        "median_area_ha": float(table["area_m2"].median() / 1e4),
        "mean_cv": float(np.average(table["circular_variance"], weights=table["cells"])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, nargs="+", default=[2000, 5000], help="DEM sizes N (N × N cells)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return
    rows = []
    for n in args.size:
        load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        out = subprocess.run([sys.executable, __file__, "--worker", str(n)], capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            raise SystemExit(f"size {n} failed")
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["load"] = load.split("load average:")[-1].strip()
        rows.append(row)
    print(
        f"{'N':>6} {'cells':>11} {'time s':>8} {'peak MB':>8} {'before MB':>9} {'units':>7} {'iter':>4} "
        f"{'median ha':>9} {'mean CV':>7}  load (1, 5, 15 min) before the run"
    )
    for r in rows:
        print(
            f"{r['size']:>6} {r['cells']:>11,} {r['seconds']:>8.1f} {r['peak_mb']:>8.0f} {r['peak_before_mb']:>9.0f} "
            f"{r['units']:>7,} {r['iterations']:>4} {r['median_area_ha']:>9.2f} {r['mean_cv']:>7.3f}  {r['load']}"
        )


if __name__ == "__main__":
    main()
