"""Synthetic worst-case DEMs [m] for the tiled routing tests, and the whole-grid fill they are checked against.

Every generator is deterministic (seeded) and returns float32 (what the
tiled routines read; NaN = nodata):

- :func:`spiral_valley`: a square spiral corridor from the centre to the
  border, so that one flow path crosses tile edges dozens of times;
- :func:`crater`: a closed basin larger than the small tiles, notched rim;
- :func:`terraces`: terrain rounded to whole metres (many flats, some with
  no draining cell) with a plateau crossing tiles;
- :func:`fractal`: spectral power-law terrain with many pits;
- :func:`noise_with_holes`, :func:`valleys_with_holes`, :func:`with_holes`:
  nodata blobs inside and ragged nodata strips along two edges
  (:func:`punch_holes`).

Tests import it as a plain module (``from synthetic_dems import crater``):
``tests/`` is on ``sys.path`` as for ``conftest``.
"""

from __future__ import annotations

import numpy as np
import pyflwdir


def whole_fill(dem: np.ndarray) -> np.ndarray:
    """The whole-grid filled DEM [m], float32: ``pyflwdir.dem.fill_depressions`` with NaN nodata (as filled_dem)."""
    filled, _ = pyflwdir.dem.fill_depressions(dem, nodata=np.float32(np.nan))
    return np.ascontiguousarray(filled, dtype=np.float32)


def spiral_valley(n: int = 61, ripple: int = 6) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A square spiral corridor descending from the centre to the border; returns the DEM and the corridor cells.

    The corridor (floor 10 m + 0.01 m a step from its exit, head first in the
    returned list) winds out from the centre between 1-cell walls of
    50 + 0.5 ((row + col) mod ``ripple``) m.
    """
    levels = np.add.outer(np.arange(n), np.arange(n)) % ripple
    dem = np.float32(50.0) + np.float32(0.5) * levels.astype(np.float32)
    r = c = n // 2
    path = [(r, c)]
    moves = ((0, 1), (1, 0), (0, -1), (-1, 0))
    step, k = 2, 0
    while True:
        dr, dc = moves[k % 4]
        done = False
        for _ in range(step):
            r, c = r + dr, c + dc
            path.append((r, c))
            if r in (0, n - 1) or c in (0, n - 1):  # the corridor's exit
                done = True
                break
        if done:
            break
        k += 1
        if k % 2 == 0:
            step += 2
    for i, (pr, pc) in enumerate(path):
        dem[pr, pc] = 10.0 + 0.01 * (len(path) - i)
    return dem, path


def crater(n: int = 70, m: int = 80) -> np.ndarray:
    """A closed basin ~40 cells across (larger than the small tiles) with a notch in its rim, on a slope, with noise."""
    rng = np.random.default_rng(1)
    rr, cc = np.mgrid[0:n, 0:m]
    rad = np.hypot(rr - n / 2, cc - m / 2)
    dem = 1000.0 + 0.2 * cc + 30.0 * np.exp(-(((rad - 22.0) / 3.0) ** 2)) - 10.0 * (rad < 20) + rng.random((n, m))
    dem[n // 2, m // 2 + 20 : m // 2 + 25] -= 15.0  # the notch: the lake spills east
    return dem.astype(np.float32)


def terraces(n: int = 64, m: int = 75) -> np.ndarray:
    """Random terrain rounded to whole metres: many flats, some without a draining cell, a plateau across tiles."""
    rng = np.random.default_rng(2)
    dem = 500.0 + 8.0 * rng.random((n, m)) + 0.15 * np.arange(m)
    dem[20:45, 10:40] = 505.0  # a plateau crossing tiles
    return np.round(dem).astype(np.float32)


def fractal(n: int = 96, m: int = 90, beta: float = 3.2, seed: int = 4) -> np.ndarray:
    """Spectral (power-law, exponent ``beta``) fractal terrain [m], 1000-1200 m, with many pits."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(n)[:, None]
    fx = np.fft.rfftfreq(m)[None, :]
    f = np.hypot(fy, fx)
    f[0, 0] = 1.0
    spec = (rng.normal(size=f.shape) + 1j * rng.normal(size=f.shape)) * f ** (-beta / 2)
    spec[0, 0] = 0.0
    z = np.fft.irfft2(spec, s=(n, m))
    z = (z - z.min()) / (z.max() - z.min())
    return (1000.0 + 200.0 * z + 0.5 * rng.random((n, m))).astype(np.float32)


def punch_holes(dem: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Set to NaN, in place, 6 random square blobs (1-5 cells half-side) and ragged strips 0-3 cells wide along the
    top and right edges; returns ``dem``."""
    n, m = dem.shape
    for _ in range(6):
        r, c, s = rng.integers(0, n), rng.integers(0, m), rng.integers(1, 6)
        dem[max(r - s, 0) : r + s, max(c - s, 0) : c + s] = np.nan
    for c in range(m):
        dem[: rng.integers(0, 4), c] = np.nan
    for r in range(n):
        dem[r, m - rng.integers(0, 4) :] = np.nan
    return dem


def with_holes(dem: np.ndarray, seed: int = 3) -> np.ndarray:
    """A copy of ``dem`` with NaN blobs inside and ragged NaN strips along two edges (:func:`punch_holes`)."""
    return punch_holes(dem.copy(), np.random.default_rng(seed))


def noise_with_holes(n: int = 50, m: int = 57, seed: int = 3) -> np.ndarray:
    """Random noise (0-3 m) on a gentle slope (0.05 m a column) at 100 m, with :func:`punch_holes`' nodata."""
    rng = np.random.default_rng(seed)
    dem = (100.0 + 3.0 * rng.random((n, m)) + 0.05 * np.arange(m)).astype(np.float32)
    return punch_holes(dem, rng)


def valleys_with_holes(n: int = 66, m: int = 75, seed: int = 3) -> np.ndarray:
    """Noisy valleys (a V along the middle column, sinusoidal ridges) at ~500 m, with :func:`punch_holes`' nodata."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[0:n, 0:m]
    dem = 500.0 + 2.0 * np.abs(cc - m / 2) + 0.5 * rr + 10.0 * np.sin(rr / 7.0) * np.cos(cc / 9.0)
    dem = (dem + 3.0 * rng.random((n, m))).astype(np.float32)
    return punch_holes(dem, rng)
