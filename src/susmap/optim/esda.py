"""Electrostatic discharge algorithm (ESDA).

Bouchekara (2019), "Electrostatic discharge algorithm: a novel nature-inspired optimisation algorithm and its
application to worst-case tolerance analysis of an EMC filter", IET Science, Measurement & Technology 13(4), 491-499.

Source of the update rules. The article's full text was not available to us; the rules below follow the author's
reference MATLAB implementation of ESDA (``ESDA_v1``) as redistributed with benchmark collections, read as an
algorithm description (no code copied). Electronic devices (candidate solutions) carry an electrostatic charge
counter. Each iteration:

1. the best third of the population (``round(N / 3)`` devices, the archive) is the pool of discharge partners;
2. 2 * archive_size new devices are generated; for each, three distinct archive devices are drawn and ranked
   (best ``x_i``, middle ``x_j``, worst ``x_k``); with probability 1/2 a two-device discharge
   ``x = x_j + cc * N(0.7, 0.2) * (x_i - x_j)``, otherwise a three-device discharge
   ``x = x_k + cc * N1 * (x_i - x_k) + cc * N2 * (x_j - x_k)`` (N, N1, N2 independent N(0.7, 0.2) scalars, cc = 2);
   the middle device ``x_j`` gains one charge; new devices are clipped to the box;
3. discharges: for device rank r < 2 * archive_size, if its charge is 1..3, each coordinate of new device r is
   replaced, with probability 0.2, by that coordinate of a random archive device (partial discharge, charge reset
   when any coordinate was replaced); if its charge exceeds 3 new device r is re-drawn uniformly in the box (full
   discharge, charge reset);
4. the archive and the new devices are merged and sorted; the best N form the next population. The devices outside
   the archive are not kept (as in the reference code) unless 3 * archive_size < N, in which case the best of them
   fill the missing places (the reference code assumes N divisible by 3).

Deviation from the reference code: devices ranked at or beyond 2 * archive_size keep their charge untouched (the
reference code appends extra devices for them, an indexing artefact that also breaks when N is not a multiple of 3).
ESDA is population-synchronous: the 2 * archive_size new devices of an iteration are evaluated as one batch.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from susmap.optim.base import (
    BoundsLike,
    Objective,
    OptimizeResult,
    argsort_stable,
    as_bounds,
    check_budget,
    clip_row,
    copy_row,
    rand,
    rand_index,
    rand_normal,
    round_half_up,
    uniform_fill,
)
from susmap.optim.driver import Search, cached_loop, new_search, run, search_loop

__all__ = ["ESDAState", "esda"]


class ESDAState(NamedTuple):
    """Devices sorted by value in ``search.population`` and ``search.fitness``, with their charges."""

    search: Search
    charge: np.ndarray  # (pop,) int
    pool: np.ndarray  # (pop + 2 archive_size, dim): the archive and the new devices, merged
    pool_fitness: np.ndarray  # (pop + 2 archive_size,)
    pool_charge: np.ndarray  # (pop + 2 archive_size,) int
    archive_size: int
    charge_limit: int
    cc: float
    discharge_mean: float
    discharge_std: float
    partial_rate: float


@njit(cache=True)
def _three_distinct(rng: np.ndarray, a: int) -> tuple[int, int, int]:
    """Three distinct uniform indices in [0, a), returned in increasing order."""
    i1 = rand_index(rng, a)
    i2 = rand_index(rng, a - 1)
    if i2 >= i1:
        i2 += 1
    lo, hi = (i1, i2) if i1 < i2 else (i2, i1)
    i3 = rand_index(rng, a - 2)
    if i3 >= lo:
        i3 += 1
    if i3 >= hi:
        i3 += 1
    if i3 < lo:
        return i3, lo, hi
    if i3 < hi:
        return lo, i3, hi
    return lo, hi, i3


@njit(cache=True)
def ask(state: ESDAState, rng: np.ndarray) -> int:
    """The initial devices, then the 2 * archive_size new devices of a discharge round (one batch)."""
    lb, ub, pos, cand = state.search.lb, state.search.ub, state.search.population, state.search.candidates
    status = state.search.status[0]
    charge = state.charge
    n, d = pos.shape
    if status.phase == 0:
        uniform_fill(rng, lb, ub, cand[:n])
        return n
    if status.iteration >= state.search.history.shape[0]:
        return 0
    a = state.archive_size
    n_new = 2 * a
    cc, mu, sigma = state.cc, state.discharge_mean, state.discharge_std
    for r in range(n_new):
        ii, jj, kk = _three_distinct(rng, a)
        if rand(rng) > 0.5:
            g = cc * (mu + sigma * rand_normal(rng))
            for t in range(d):
                cand[r, t] = pos[jj, t] + g * (pos[ii, t] - pos[jj, t])
        else:
            g1 = cc * (mu + sigma * rand_normal(rng))
            g2 = cc * (mu + sigma * rand_normal(rng))
            for t in range(d):
                cand[r, t] = pos[kk, t] + g1 * (pos[ii, t] - pos[kk, t]) + g2 * (pos[jj, t] - pos[kk, t])
        charge[jj] += 1
        clip_row(cand[r], lb, ub)
    partial = state.partial_rate
    cmax = state.charge_limit
    for r in range(n_new):
        c = charge[r]
        if 1 <= c <= cmax:
            for t in range(d):
                if rand(rng) < partial:
                    cand[r, t] = pos[rand_index(rng, a), t]
                    charge[r] = 0
        elif c > cmax:
            for t in range(d):
                cand[r, t] = lb[t] + rand(rng) * (ub[t] - lb[t])
            charge[r] = 0
    return n_new


@njit(cache=True)
def tell(state: ESDAState, k: int) -> None:
    """Sort the initial devices; then merge the archive and the new devices and keep the best."""
    pos, fit, cand, fv = state.search.population, state.search.fitness, state.search.candidates, state.search.values
    hist, best = state.search.history, state.search.best_x
    status = state.search.status[0]
    charge, mpos, mfit, mcharge = state.charge, state.pool, state.pool_fitness, state.pool_charge
    n = pos.shape[0]
    if status.phase == 0:
        order = argsort_stable(fv[:n])
        for r in range(n):
            copy_row(pos[r], cand[order[r]])
            fit[r] = fv[order[r]]
            charge[r] = 0
        status.phase = 1
    else:
        a = state.archive_size
        m = a + k
        # merge pool: archive first (wins ties), then the new devices
        for r in range(a):
            copy_row(mpos[r], pos[r])
            mfit[r] = fit[r]
            mcharge[r] = charge[r]
        for r in range(k):
            copy_row(mpos[a + r], cand[r])
            mfit[a + r] = fv[r]
            mcharge[a + r] = 0
        order = argsort_stable(mfit[:m])
        n_take = min(n, m)
        # the non-archive devices that fill missing places must be read before pos is overwritten
        n_fill = n - n_take
        for r in range(n_fill):
            copy_row(mpos[m + r], pos[a + r])
            mfit[m + r] = fit[a + r]
            mcharge[m + r] = charge[a + r]
        for r in range(n_take):
            copy_row(pos[r], mpos[order[r]])
            fit[r] = mfit[order[r]]
            charge[r] = mcharge[order[r]]
        for r in range(n_fill):
            copy_row(pos[n_take + r], mpos[m + r])
            fit[n_take + r] = mfit[m + r]
            charge[n_take + r] = mcharge[m + r]
        hist[status.iteration] = fit[0]
        status.iteration += 1
    status.best_f = fit[0]
    copy_row(best, pos[0])


@cached_loop
def loop(state: ESDAState, rng: np.ndarray, objective: tuple) -> None:
    """The driver's compiled loop with ESDA's steps (here, not in the driver: numba caches per source file)."""
    search_loop(ask, tell, state, rng, objective)


def esda(
    objective: Objective,
    bounds: BoundsLike,
    *,
    pop_size: int = 60,
    iterations: int = 1000,
    seed: int | np.random.Generator | None = None,
    cc: float = 2.0,
    discharge_mean: float = 0.7,
    discharge_std: float = 0.2,
    partial_rate: float = 0.2,
    charge_limit: int = 3,
    dim: int | None = None,
    compiled: bool | None = None,
) -> OptimizeResult:
    """Minimise ``objective`` with the electrostatic discharge algorithm.

    Parameters
    ----------
    objective : callable
        Batch objective, (k, dim) -> (k,).
    bounds : (lb, ub)
        Search box.
    pop_size : int
        Number of devices N (paper 002: 400); at least 8 so that the archive holds three devices.
    iterations : int
        Discharge rounds; each spends ``2 * round(N / 3)`` evaluations (paper 002: 1,000).
    seed : int, numpy.random.Generator or None
        Random seed.
    cc : float
        Discharge coefficient multiplying the random factors.
    discharge_mean, discharge_std : float
        Mean and standard deviation of the normal random factors.
    partial_rate : float
        Per-coordinate probability of a partial discharge.
    charge_limit : int
        Charges beyond which a device is fully discharged (re-drawn).
    dim : int, optional
        Dimension, needed when both bounds are scalars.
    compiled : bool, optional
        Force (True) or forbid (False) the compiled loop; by default compiled whenever possible.

    Returns
    -------
    OptimizeResult
    """
    check_budget(pop_size, iterations, 8)
    if not 0.0 <= partial_rate <= 1.0:
        raise ValueError("partial_rate must lie in [0, 1]")
    if charge_limit < 1:
        raise ValueError("charge_limit must be at least 1")
    lb, ub = as_bounds(bounds, dim)
    n = int(pop_size)
    d = lb.shape[0]
    a = round_half_up(n / 3.0)
    n_pool = n + 2 * a
    search = new_search(lb, ub, n, max(n, 2 * a), int(iterations))
    state = ESDAState(
        search,
        np.zeros(n, dtype=np.int64),
        np.zeros((n_pool, d)),
        np.zeros(n_pool),
        np.zeros(n_pool, dtype=np.int64),
        a,
        int(charge_limit),
        float(cc),
        float(discharge_mean),
        float(discharge_std),
        float(partial_rate),
    )
    params = {
        "pop_size": n,
        "iterations": int(iterations),
        "archive_size": a,
        "cc": float(cc),
        "discharge_mean": float(discharge_mean),
        "discharge_std": float(discharge_std),
        "partial_rate": float(partial_rate),
        "charge_limit": int(charge_limit),
    }
    return run("esda", state, objective, steps=(ask, tell, loop), seed=seed, compiled=compiled, params=params)
