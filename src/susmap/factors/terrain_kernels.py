"""Numba kernels for terrain stencils behind :mod:`susmap.factors.terrain` (call that API, not these).

Every kernel takes a block that already carries its halo and writes the
block without its halo; cells whose window holds a NaN get NaN.
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


# Fast-math without the no-NaN/no-Inf assumptions: NaN tests must keep working.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
N_OUTPUTS = 11
RAD2DEG = 180.0 / math.pi


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def derivatives(z, cellsize, method, slots, sun_azimuth, sun_altitude, z_factor, out):  # pragma: no cover (jit)
    """Slope, aspect, curvatures and hillshade of a block (see the module docstring).

    ``z`` (rows, cols) float32 with a 1-cell halo; ``slots[code]`` is the
    plane of ``out`` (n, rows - 2, cols - 2) float32 (the block without its
    halo) that output ``code`` goes to, or -1 when it is not wanted. Derivatives: Horn (1981) or Zevenbergen &
    Thorne (1987) for p, q; always Zevenbergen & Thorne for r, t, s.
    """
    rows, cols = z.shape
    n = out.shape[0]
    nan = np.float32(np.nan)
    inv2h = 1.0 / (2.0 * cellsize)
    inv8h = 1.0 / (8.0 * cellsize)
    invh2 = 1.0 / (cellsize * cellsize)
    inv4h2 = 1.0 / (4.0 * cellsize * cellsize)
    zen = math.radians(90.0 - sun_altitude)
    az = math.radians(sun_azimuth)
    cos_zen = math.cos(zen)
    sin_zen = math.sin(zen)
    s_deg = slots[SLOPE_DEGREES]
    s_pct = slots[SLOPE_PERCENT]
    s_asp = slots[ASPECT]
    s_east = slots[EASTNESS]
    s_north = slots[NORTHNESS]
    s_sect = slots[ASPECT_SECTOR]
    s_plan = slots[PLAN_CURVATURE]
    s_prof = slots[PROFILE_CURVATURE]
    s_tang = slots[TANGENTIAL_CURVATURE]
    s_tot = slots[TOTAL_CURVATURE]
    s_hill = slots[HILLSHADE]
    need_aspect = s_asp >= 0 or s_sect >= 0 or s_hill >= 0
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
            if math.isnan(z1 + z2 + z3 + z4 + z5 + z6 + z7 + z8 + z9):
                for k in range(n):
                    out[k, i - 1, j - 1] = nan
                continue
            if method == HORN:
                p = ((z3 + 2.0 * z6 + z9) - (z1 + 2.0 * z4 + z7)) * inv8h
                q = ((z1 + 2.0 * z2 + z3) - (z7 + 2.0 * z8 + z9)) * inv8h
            else:
                p = (z6 - z4) * inv2h
                q = (z2 - z8) * inv2h
            pq = p * p + q * q
            grad = math.sqrt(pq)
            flat = pq == 0.0
            if s_deg >= 0:
                out[s_deg, i - 1, j - 1] = math.atan(grad) * RAD2DEG
            if s_pct >= 0:
                out[s_pct, i - 1, j - 1] = 100.0 * grad
            a = -1.0
            if need_aspect and not flat:
                a = math.atan2(-p, -q) * RAD2DEG
                if a < 0.0:
                    a += 360.0
            if s_asp >= 0:
                out[s_asp, i - 1, j - 1] = a
            if s_sect >= 0:
                out[s_sect, i - 1, j - 1] = 0.0 if flat else float(int(((a + 22.5) % 360.0) // 45.0) + 1)
            if s_east >= 0:
                out[s_east, i - 1, j - 1] = 0.0 if flat else -p / grad
            if s_north >= 0:
                out[s_north, i - 1, j - 1] = 0.0 if flat else -q / grad
            if s_plan >= 0 or s_prof >= 0 or s_tang >= 0 or s_tot >= 0:
                r = (z4 + z6 - 2.0 * z5) * invh2
                t = (z2 + z8 - 2.0 * z5) * invh2
                s = (-z1 + z3 + z7 - z9) * inv4h2
                w = 1.0 + pq
                across = q * q * r - 2.0 * p * q * s + p * p * t
                if s_plan >= 0:
                    out[s_plan, i - 1, j - 1] = 0.0 if flat else -across / (pq * grad)
                if s_prof >= 0:
                    along = p * p * r + 2.0 * p * q * s + q * q * t
                    out[s_prof, i - 1, j - 1] = 0.0 if flat else -along / (pq * w * math.sqrt(w))
                if s_tang >= 0:
                    out[s_tang, i - 1, j - 1] = 0.0 if flat else -across / (pq * math.sqrt(w))
                if s_tot >= 0:
                    out[s_tot, i - 1, j - 1] = r * r + 2.0 * s * s + t * t
            if s_hill >= 0:
                if flat:
                    v = 255.0 * cos_zen
                else:
                    slope = math.atan(grad)
                    v = 255.0 * (cos_zen * math.cos(slope) + sin_zen * math.sin(slope) * math.cos(az - math.radians(a)))
                    if v < 0.0:
                        v = 0.0
                out[s_hill, i - 1, j - 1] = v


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def window_stat(z, offsets, depth, op, out):  # pragma: no cover (jit)
    """A statistic over a window of ``offsets`` (n, 2) around each cell of a block with halo ``depth``.

    op TPI: z0 - mean of the window (centre excluded); RELIEF: max - min of
    the window (centre included); TRI: sqrt(sum((z_i - z0)²)) (Riley 1999).
    ``out`` is the block without its halo: (rows - 2 depth, cols - 2 depth).
    """
    rows, cols = z.shape
    m = offsets.shape[0]
    nan = np.float32(np.nan)
    for i in range(depth, rows - depth):
        for j in range(depth, cols - depth):
            z0 = z[i, j]
            if math.isnan(z0):
                out[i - depth, j - depth] = nan
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
                out[i - depth, j - depth] = nan
            elif op == TPI:
                out[i - depth, j - depth] = z0 - acc / m
            elif op == RELIEF:
                out[i - depth, j - depth] = hi - lo
            else:
                out[i - depth, j - depth] = math.sqrt(acc)
