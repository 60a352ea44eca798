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
from typing import NamedTuple

import numpy as np
from numba import njit

from susmap.optim.base import (
    BoundsLike,
    Objective,
    OptimizeResult,
    as_bounds,
    check_budget,
    clip_row,
    copy_row,
    copy_rows,
    rand,
    rand_index,
    rand_other,
    uniform_fill,
)
from susmap.optim.driver import Search, cached_loop, new_search, run, search_loop

__all__ = ["SOSState", "sos"]

_MUTUALISM, _COMMENSALISM, _PARASITISM = 1, 2, 3


class SOSState(NamedTuple):
    """The ecosystem in ``search.population`` and ``search.fitness``.

    The status record holds the phase of the current organism (``phase``), the organism ``organism`` (i), its partner
    ``partner`` (j) and the index of the best organism ``best``.
    """

    search: Search
    x_best: np.ndarray  # (dim,) the best organism at the start of organism i's turn
    coords: np.ndarray  # (dim,) int scratch: coordinates drawn by the parasite


@njit(cache=True)
def ask(state: SOSState, rng: np.ndarray) -> int:
    """The initial ecosystem, then the candidates of organism i's current phase."""
    lb, ub, pos, cand = state.search.lb, state.search.ub, state.search.population, state.search.candidates
    status = state.search.status[0]
    xbest, perm = state.x_best, state.coords
    n, d = pos.shape
    phase = status.phase
    if phase == 0:
        uniform_fill(rng, lb, ub, cand[:n])
        return n
    if status.iteration >= state.search.history.shape[0]:
        return 0
    i = status.organism
    j = rand_other(rng, n, i)
    status.partner = j
    if phase == _MUTUALISM:
        copy_row(xbest, pos[status.best])
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
def _accept(pos: np.ndarray, fit: np.ndarray, status: np.void, target: int, x: np.ndarray, f: float) -> None:
    """Greedy replacement of organism ``target`` by ``x`` of value ``f``, keeping track of the best organism."""
    if f < fit[target]:
        fit[target] = f
        copy_row(pos[target], x)
        if f < fit[status.best]:
            status.best = target


@njit(cache=True)
def tell(state: SOSState, k: int) -> None:
    """Greedy replacements of the current phase, then the next phase (and organism)."""
    pos, fit, cand, fv = state.search.population, state.search.fitness, state.search.candidates, state.search.values
    hist, best = state.search.history, state.search.best_x
    status = state.search.status[0]
    n = pos.shape[0]
    phase = status.phase
    if phase == 0:
        copy_rows(pos, cand[:n])
        copy_row(fit, fv[:n])
        status.best = int(np.argmin(fit))
        status.organism = 0
        status.phase = _MUTUALISM
    elif phase == _MUTUALISM:
        _accept(pos, fit, status, status.organism, cand[0], fv[0])
        _accept(pos, fit, status, status.partner, cand[1], fv[1])
        status.phase = _COMMENSALISM
    elif phase == _COMMENSALISM:
        _accept(pos, fit, status, status.organism, cand[0], fv[0])
        status.phase = _PARASITISM
    else:
        _accept(pos, fit, status, status.partner, cand[0], fv[0])
        status.phase = _MUTUALISM
        status.organism += 1
        if status.organism == n:
            status.organism = 0
            hist[status.iteration] = fit[status.best]
            status.iteration += 1
    status.best_f = fit[status.best]
    copy_row(best, pos[status.best])


@cached_loop
def loop(state: SOSState, rng: np.ndarray, objective: tuple) -> None:
    """The driver's compiled loop with SOS's steps (here, not in the driver: numba caches per source file)."""
    search_loop(ask, tell, state, rng, objective)


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
    search = new_search(lb, ub, n, n, int(iterations), organism=0, partner=0, best=0)
    state = SOSState(search, np.zeros(d), np.zeros(d, dtype=np.int64))
    params = {"pop_size": n, "iterations": int(iterations)}
    return run("sos", state, objective, steps=(ask, tell, loop), seed=seed, compiled=compiled, params=params)
