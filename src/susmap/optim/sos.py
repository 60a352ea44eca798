"""Symbiotic organisms search (SOS).

Cheng & Prayogo (2014), "Symbiotic Organisms Search: a new metaheuristic optimization algorithm", Computers &
Structures 139, 98-112, section 3 and Fig. 2, following the authors' reference MATLAB code for the details the
text leaves open.

Organisms are visited one after the other; organism i goes through three phases, each ending with a greedy
replacement, and every phase sees the ecosystem as the previous one left it (the algorithm is sequential and is
kept so: the compiled loop removes the Python overhead, not the order of the updates). With X_best the best organism
at the start of organism i's turn and j a random organism other than i, drawn anew in each phase:

* mutualism (eq. 1-3): MV = (X_i + X_j) / 2, BF1, BF2 in {1, 2} with probability 1/2 each,
  X_i' = X_i + rand * (X_best - MV * BF1) and X_j' = X_j + rand * (X_best - MV * BF2), rand a vector of U(0, 1);
  each replaces its parent if better (two evaluations);
* commensalism (eq. 4): X_i' = X_i + rand(-1, 1) * (X_best - X_j) (vector of U(-1, 1)), replaces X_i if better;
* parasitism: a parasite vector copies X_i and re-draws ``ceil(rand * dim)`` randomly chosen coordinates uniformly in
  the box; it replaces X_j if better.

New vectors are clipped to the box. One iteration is a pass over all organisms, ``4 * pop_size`` evaluations. The
best organism is tracked as replacements happen (the reference code rescans the ecosystem at each organism; the two
agree except that on an exact tie the incumbent stays best). SOS has no algorithm-specific parameter.
"""

from __future__ import annotations

import math

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
    as_bounds,
    build_result,
    check_budget,
    clip_row,
    copy_row,
    copy_rows,
    drive,
    make_rng,
    new_common_state,
    rand,
    rand_index,
    rand_other,
    sanitize,
    uniform_fill,
)

__all__ = ["sos"]

# positions of the algorithm's own arrays in the state tuple
_S_XBEST, _S_PERM = 10, 11

# ivar layout after the shared prefix: current organism, its partner, index of the best organism
_II, _IJ, _IBEST = 4, 5, 6
_MUTUALISM, _COMMENSALISM, _PARASITISM = 1, 2, 3


@njit(cache=True)
def _ask(state: tuple, rng: np.ndarray) -> int:
    ivar = state[S_IVAR]
    lb = state[S_LB]
    ub = state[S_UB]
    pos = state[S_POS]
    cand = state[S_CAND]
    xbest = state[_S_XBEST]
    perm = state[_S_PERM]
    n, d = pos.shape
    phase = ivar[I_PHASE]
    if phase == 0:
        uniform_fill(rng, lb, ub, cand[:n])
        return n
    if ivar[I_ITER] >= ivar[I_MAXITER]:
        return 0
    i = ivar[_II]
    j = rand_other(rng, n, i)
    ivar[_IJ] = j
    if phase == _MUTUALISM:
        copy_row(xbest, pos[ivar[_IBEST]])
        bf1 = 2.0 if rand(rng) >= 0.5 else 1.0
        bf2 = 2.0 if rand(rng) >= 0.5 else 1.0
        for t in range(d):
            mv = 0.5 * (pos[i, t] + pos[j, t])
            cand[0, t] = pos[i, t] + rand(rng) * (xbest[t] - bf1 * mv)
        for t in range(d):
            mv = 0.5 * (pos[i, t] + pos[j, t])
            cand[1, t] = pos[j, t] + rand(rng) * (xbest[t] - bf2 * mv)
        clip_row(cand[0], lb, ub)
        clip_row(cand[1], lb, ub)
        return 2
    if phase == _COMMENSALISM:
        for t in range(d):
            cand[0, t] = pos[i, t] + (2.0 * rand(rng) - 1.0) * (xbest[t] - pos[j, t])
        clip_row(cand[0], lb, ub)
        return 1
    copy_row(cand[0], pos[i])
    n_pick = math.ceil(rand(rng) * d)
    n_pick = max(n_pick, 1)
    for t in range(d):
        perm[t] = t
    for t in range(n_pick):
        r = t + rand_index(rng, d - t)
        tmp = perm[t]
        perm[t] = perm[r]
        perm[r] = tmp
    for t in range(n_pick):
        c = perm[t]
        cand[0, c] = rand(rng) * (ub[c] - lb[c]) + lb[c]
    return 1


@njit(cache=True)
def _accept(ivar: np.ndarray, pos: np.ndarray, fit: np.ndarray, target: int, x: np.ndarray, f: float) -> None:
    if f < fit[target]:
        fit[target] = f
        copy_row(pos[target], x)
        if f < fit[ivar[_IBEST]]:
            ivar[_IBEST] = target


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
    sanitize(fv, k)
    n = pos.shape[0]
    phase = ivar[I_PHASE]
    if phase == 0:
        copy_rows(pos, cand[:n])
        copy_row(fit, fv[:n])
        ivar[_IBEST] = int(np.argmin(fit))
        ivar[_II] = 0
        ivar[I_PHASE] = _MUTUALISM
    elif phase == _MUTUALISM:
        _accept(ivar, pos, fit, ivar[_II], cand[0], fv[0])
        _accept(ivar, pos, fit, ivar[_IJ], cand[1], fv[1])
        ivar[I_PHASE] = _COMMENSALISM
    elif phase == _COMMENSALISM:
        _accept(ivar, pos, fit, ivar[_II], cand[0], fv[0])
        ivar[I_PHASE] = _PARASITISM
    else:
        _accept(ivar, pos, fit, ivar[_IJ], cand[0], fv[0])
        ivar[I_PHASE] = _MUTUALISM
        ivar[_II] += 1
        if ivar[_II] == n:
            ivar[_II] = 0
            hist[ivar[I_ITER]] = fit[ivar[_IBEST]]
            ivar[I_ITER] += 1
    fvar[F_BEST] = fit[ivar[_IBEST]]
    copy_row(best, pos[ivar[_IBEST]])
    ivar[I_NEVAL] += k


@njit(cache=True, error_model="numpy")
def _run_compiled(state: tuple, rng: np.ndarray, spec: tuple) -> None:
    cand, fv = state[S_CAND], state[S_FV]
    while True:
        k = _ask(state, rng)
        if k == 0:
            break
        evaluate_batch(spec, cand[:k], fv[:k])
        _tell(state, k)


def sos(
    objective: Objective,
    bounds: BoundsLike,
    *,
    pop_size: int = 50,
    iterations: int = 1000,
    seed: int | np.random.Generator | None = None,
    dim: int | None = None,
    compiled: bool | None = None,
) -> OptimizeResult:
    """Minimise ``objective`` with symbiotic organisms search.

    Parameters
    ----------
    objective : callable
        Batch objective, (k, dim) -> (k,).
    bounds : (lb, ub)
        Search box.
    pop_size : int
        Ecosystem size (paper 002: 500).
    iterations : int
        Passes over the ecosystem; the run spends ``pop_size * (1 + 4 * iterations)`` evaluations (paper 002: 1,000).
    seed : int, numpy.random.Generator or None
        Random seed.
    dim : int, optional
        Dimension, needed when both bounds are scalars.
    compiled : bool, optional
        Force (True) or forbid (False) the compiled loop; by default compiled whenever possible.

    Returns
    -------
    OptimizeResult
    """
    check_budget(pop_size, iterations, 2)
    lb, ub = as_bounds(bounds, dim)
    n = int(pop_size)
    d = lb.shape[0]
    rng, seed_used = make_rng(seed)
    state = (
        *new_common_state(lb, ub, n, n, int(iterations), 3, []),
        np.zeros(d),
        np.zeros(d, dtype=np.int64),
    )
    used, wall = drive(_ask, _tell, _run_compiled, state, rng, objective, compiled)
    return build_result(state, "sos", {"pop_size": n, "iterations": int(iterations)}, used, wall, seed_used)
