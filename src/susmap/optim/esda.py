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

import numpy as np
from numba import njit

from susmap.optim.kernels import evaluate_batch
from susmap.optim.base import (
    F_BEST,
    I_ITER,
    I_MAXITER,
    I_NEVAL,
    I_PHASE,
    S_BEST,
    S_CAND,
    S_FIT,
    S_FV,
    S_FVAR,
    S_HIST,
    S_IVAR,
    S_LB,
    S_POS,
    S_UB,
    BoundsLike,
    Objective,
    OptimizeResult,
    argsort_stable,
    as_bounds,
    build_result,
    check_budget,
    clip_row,
    copy_row,
    drive,
    make_rng,
    new_common_state,
    rand,
    rand_index,
    rand_normal,
    round_half_up,
    sanitize,
    uniform_fill,
)

__all__ = ["esda"]

# positions of the algorithm's own arrays in the state tuple
_S_CHARGE, _S_MPOS, _S_MFIT, _S_MCHARGE = 10, 11, 12, 13

# ivar layout after the shared prefix
_IARCH, _ICHARGE_MAX = 4, 5
# fvar layout after the best value
_FCC, _FMU, _FSIGMA, _FPARTIAL = 1, 2, 3, 4


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
def _ask(state: tuple, rng: np.ndarray) -> int:
    ivar = state[S_IVAR]
    fvar = state[S_FVAR]
    lb = state[S_LB]
    ub = state[S_UB]
    pos = state[S_POS]
    cand = state[S_CAND]
    charge = state[_S_CHARGE]
    n, d = pos.shape
    if ivar[I_PHASE] == 0:
        uniform_fill(rng, lb, ub, cand[:n])
        return n
    if ivar[I_ITER] >= ivar[I_MAXITER]:
        return 0
    a = ivar[_IARCH]
    n_new = 2 * a
    cc, mu, sigma = fvar[_FCC], fvar[_FMU], fvar[_FSIGMA]
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
    partial = fvar[_FPARTIAL]
    cmax = ivar[_ICHARGE_MAX]
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
def _tell(state: tuple, k: int) -> None:
    ivar = state[S_IVAR]
    fvar = state[S_FVAR]
    pos = state[S_POS]
    fit = state[S_FIT]
    cand = state[S_CAND]
    fv = state[S_FV]
    hist = state[S_HIST]
    best = state[S_BEST]
    charge = state[_S_CHARGE]
    mpos = state[_S_MPOS]
    mfit = state[_S_MFIT]
    mcharge = state[_S_MCHARGE]
    sanitize(fv, k)
    n = pos.shape[0]
    ivar[I_NEVAL] += k
    if ivar[I_PHASE] == 0:
        order = argsort_stable(fv[:n])
        for r in range(n):
            copy_row(pos[r], cand[order[r]])
            fit[r] = fv[order[r]]
            charge[r] = 0
        ivar[I_PHASE] = 1
    else:
        a = ivar[_IARCH]
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
        hist[ivar[I_ITER]] = fit[0]
        ivar[I_ITER] += 1
    fvar[F_BEST] = fit[0]
    copy_row(best, pos[0])


@njit(cache=True, error_model="numpy")
def _run_compiled(state: tuple, rng: np.ndarray, spec: tuple) -> None:
    cand, fv = state[S_CAND], state[S_FV]
    while True:
        k = _ask(state, rng)
        if k == 0:
            break
        evaluate_batch(spec, cand[:k], fv[:k])
        _tell(state, k)


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
    rng, seed_used = make_rng(seed)
    n_pool = n + 2 * a
    state = (
        *new_common_state(
            lb,
            ub,
            n,
            max(n, 2 * a),
            int(iterations),
            2,
            [float(cc), float(discharge_mean), float(discharge_std), float(partial_rate)],
        ),
        np.zeros(n, dtype=np.int64),
        np.zeros((n_pool, d)),
        np.zeros(n_pool),
        np.zeros(n_pool, dtype=np.int64),
    )
    state[0][_IARCH] = a
    state[0][_ICHARGE_MAX] = int(charge_limit)
    used, wall = drive(_ask, _tell, _run_compiled, state, rng, objective, compiled)
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
    return build_result(state, "esda", params, used, wall, seed_used)
