"""Numba kernels for terrain stencils (internal; use :mod:`susmap.factors.terrain`).

Every kernel takes a block that already carries its halo and writes an output
of the same shape; halo cells and cells whose window holds a NaN get NaN.
Window notation (row 0 = north):

    z1 z2 z3
    z4 z5 z6
    z7 z8 z9
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__: list[str] = []

HORN = 0
ZEVENBERGEN_THORNE = 1

# Output codes of the derivative kernel.
SLOPE_DEGREES = 0
SLOPE_PERCENT = 1
ASPECT = 2
EASTNESS = 3
NORTHNESS = 4
ASPECT_SECTOR = 5
PLAN_CURVATURE = 6
PROFILE_CURVATURE = 7
TANGENTIAL_CURVATURE = 8
TOTAL_CURVATURE = 9
HILLSHADE = 10

# Window operations.
TPI = 0
RELIEF = 1
TRI = 2


@njit(cache=True, nogil=True)
def derivatives(z, cellsize, method, codes, sun_azimuth, sun_altitude, z_factor, out):  # pragma: no cover (jit)
    """Slope, aspect, curvatures and hillshade of a block (see the module docstring).

    ``z`` (rows, cols) float32 with a 1-cell halo; ``codes`` the outputs to
    write into ``out`` (n_codes, rows, cols) float32. Derivatives: Horn (1981)
    or Zevenbergen & Thorne (1987) for p, q; always Zevenbergen & Thorne for
    r, t, s (second derivatives).
    """
    rows, cols = z.shape
    h = cellsize
    n = codes.shape[0]
    nan = np.float32(np.nan)
    zen = math.radians(90.0 - sun_altitude)
    az = math.radians(sun_azimuth)
    for k in range(n):
        for j in range(cols):
            out[k, 0, j] = nan
            out[k, rows - 1, j] = nan
        for i in range(rows):
            out[k, i, 0] = nan
            out[k, i, cols - 1] = nan
    for i in range(1, rows - 1):
        for j in range(1, cols - 1):
            z1 = z[i - 1, j - 1] * z_factor
            z2 = z[i - 1, j] * z_factor
            z3 = z[i - 1, j + 1] * z_factor
            z4 = z[i, j - 1] * z_factor
            z5 = z[i, j] * z_factor
            z6 = z[i, j + 1] * z_factor
            z7 = z[i + 1, j - 1] * z_factor
            z8 = z[i + 1, j] * z_factor
            z9 = z[i + 1, j + 1] * z_factor
            total = z1 + z2 + z3 + z4 + z5 + z6 + z7 + z8 + z9
            if math.isnan(total):
                for k in range(n):
                    out[k, i, j] = nan
                continue
            if method == HORN:
                p = ((z3 + 2.0 * z6 + z9) - (z1 + 2.0 * z4 + z7)) / (8.0 * h)
                q = ((z1 + 2.0 * z2 + z3) - (z7 + 2.0 * z8 + z9)) / (8.0 * h)
            else:
                p = (z6 - z4) / (2.0 * h)
                q = (z2 - z8) / (2.0 * h)
            r = (z4 + z6 - 2.0 * z5) / (h * h)
            t = (z2 + z8 - 2.0 * z5) / (h * h)
            s = (-z1 + z3 + z7 - z9) / (4.0 * h * h)
            pq = p * p + q * q
            grad = math.sqrt(pq)
            flat = pq == 0.0
            for k in range(n):
                code = codes[k]
                if code == SLOPE_DEGREES:
                    v = math.degrees(math.atan(grad))
                elif code == SLOPE_PERCENT:
                    v = 100.0 * grad
                elif code in (ASPECT, ASPECT_SECTOR):
                    if flat:
                        v = -1.0 if code == ASPECT else 0.0
                    else:
                        a = math.degrees(math.atan2(-p, -q))
                        if a < 0.0:
                            a += 360.0
                        v = a if code == ASPECT else float(int((a + 22.5) % 360.0 // 45.0) + 1)
                elif code == EASTNESS:
                    v = 0.0 if flat else -p / grad
                elif code == NORTHNESS:
                    v = 0.0 if flat else -q / grad
                elif code == PLAN_CURVATURE:
                    v = 0.0 if flat else -(q * q * r - 2.0 * p * q * s + p * p * t) / (pq * grad)
                elif code == PROFILE_CURVATURE:
                    v = 0.0 if flat else -(p * p * r + 2.0 * p * q * s + q * q * t) / (pq * (1.0 + pq) ** 1.5)
                elif code == TANGENTIAL_CURVATURE:
                    v = 0.0 if flat else -(q * q * r - 2.0 * p * q * s + p * p * t) / (pq * math.sqrt(1.0 + pq))
                elif code == TOTAL_CURVATURE:
                    v = r * r + 2.0 * s * s + t * t
                else:  # HILLSHADE
                    slope = math.atan(grad)
                    if flat:
                        v = 255.0 * math.cos(zen)
                    else:
                        aspect = math.atan2(-p, -q)
                        v = 255.0 * (
                            math.cos(zen) * math.cos(slope) + math.sin(zen) * math.sin(slope) * math.cos(az - aspect)
                        )
                        if v < 0.0:
                            v = 0.0
                out[k, i, j] = v


@njit(cache=True, nogil=True)
def window_stat(z, offsets, depth, op, out):  # pragma: no cover (jit)
    """A statistic over a window of ``offsets`` (n, 2) around each cell of a block with halo ``depth``.

    op TPI: z0 - mean of the window (centre excluded); RELIEF: max - min of
    the window (centre included); TRI: sqrt(sum((z_i - z0)²)) (Riley 1999).
    """
    rows, cols = z.shape
    m = offsets.shape[0]
    nan = np.float32(np.nan)
    for i in range(rows):
        for j in range(cols):
            if i < depth or j < depth or i >= rows - depth or j >= cols - depth:
                out[i, j] = nan
                continue
            z0 = z[i, j]
            if math.isnan(z0):
                out[i, j] = nan
                continue
            acc = 0.0
            lo = z0
            hi = z0
            bad = False
            for k in range(m):
                v = z[i + offsets[k, 0], j + offsets[k, 1]]
                if math.isnan(v):
                    bad = True
                    break
                if op == TPI:
                    acc += v
                elif op == RELIEF:
                    if v < lo:
                        lo = v
                    if v > hi:
                        hi = v
                else:
                    acc += (v - z0) * (v - z0)
            if bad:
                out[i, j] = nan
            elif op == TPI:
                out[i, j] = z0 - acc / m
            elif op == RELIEF:
                out[i, j] = hi - lo
            else:
                out[i, j] = math.sqrt(acc)
