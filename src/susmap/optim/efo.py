"""Electromagnetic field optimization (EFO).

Abedinpourshotorban, Shamsuddin, Beheshti & Jawawi (2016), "Electromagnetic field optimization: a physics-inspired
metaheuristic optimization algorithm", Swarm and Evolutionary Computation 26, 8-22.

The population of N electromagnetic particles is kept sorted by objective value and split into a positive field
(the best ``round(N * p_field)``), a negative field (the worst, from rank ``round(N * (1 - n_field))`` on) and a
neutral field in between. Each iteration generates ONE new particle, coordinate by coordinate (paper eq. 5-6 and
Algorithm 1): with probability ``1 - ps_rate`` the coordinate is::

    x_j = e^k_j + phi r (e^p_j - e^k_j) + r (e^k_j - e^n_j)

with e^p, e^n and e^k particles drawn at random (per coordinate) from the positive, negative and neutral fields,
phi = (1 + sqrt 5) / 2 the golden ratio and r ~ U(0, 1) one random force per iteration; otherwise it is copied from
a random positive-field particle. A coordinate on or outside the box is replaced by ``lb + (ub - lb) * rho``
(rho ~ U(0, 1), one per iteration), and with probability ``r_rate`` one coordinate (cycling through the dimensions)
is re-initialised the same way. The new particle replaces the worst one if it is better, inserted at its rank.

The algorithm is sequential (every particle sees the population left by the previous one); the compiled loop keeps
that and removes the per-iteration Python overhead. Defaults are the authors' recommended settings (paper section 5
and their reference MATLAB code): ``r_rate=0.3``, ``ps_rate=0.2``, ``p_field=0.1``, ``n_field=0.45``.
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
    argsort_stable,
    as_bounds,
    check_budget,
    copy_row,
    rand,
    rand_index,
    uniform_fill,
)
from susmap.optim.driver import Search, cached_loop, new_search, run, search_loop

__all__ = ["EFOState", "efo", "efo_fields"]

_GOLDEN = (1.0 + math.sqrt(5.0)) / 2.0


class EFOState(NamedTuple):
    """Electromagnetic particles, kept sorted by value in ``search.population`` and ``search.fitness``.

    ``search.status`` also holds ``next_reset``, the coordinate that the next randomization re-initialises.
    """

    search: Search
    n_pos: int  # the positive field is ranks [0, n_pos)
    neg_start: int  # the neutral field is ranks [n_pos, neg_start), the negative field [neg_start, pop)
    r_rate: float
    ps_rate: float


def efo_fields(pop_size: int, p_field: float, n_field: float) -> tuple[int, int]:
    """Field boundaries on the sorted population (0-based, as in the authors' MATLAB code).

    Returns
    -------
    n_pos : int
        The positive field is ranks ``[0, n_pos)``.
    neg_start : int
        The neutral field is ranks ``[n_pos, neg_start)``, the negative field ``[neg_start, pop_size)``.
    """
    n_pos = math.floor(pop_size * p_field + 0.5)
    neg_start = math.floor(pop_size * (1.0 - n_field) + 0.5) - 1
    if n_pos < 1 or neg_start <= n_pos or neg_start >= pop_size:
        raise ValueError(
            f"pop_size={pop_size}, p_field={p_field}, n_field={n_field} leave a field empty; use a larger population"
        )
    return n_pos, neg_start


@njit(cache=True)
def ask(state: EFOState, rng: np.ndarray) -> int:
    """The initial population, then one new particle per iteration."""
    lb, ub, pos, cand = state.search.lb, state.search.ub, state.search.population, state.search.candidates
    status = state.search.status[0]
    n, d = pos.shape
    if status.phase == 0:
        uniform_fill(rng, lb, ub, cand[:n])
        return n
    if status.iteration >= state.search.history.shape[0]:
        return 0
    n_pos, neg_start = state.n_pos, state.neg_start
    n_neg = n - neg_start
    n_neu = neg_start - n_pos
    ps_rate = state.ps_rate
    force = rand(rng)
    rp = rand(rng)
    rho = rand(rng)
    x = cand[0]
    for j in range(d):
        if rand(rng) > ps_rate:
            kp = rand_index(rng, n_pos)
            kn = neg_start + rand_index(rng, n_neg)
            kk = n_pos + rand_index(rng, n_neu)
            v = pos[kk, j] + _GOLDEN * force * (pos[kp, j] - pos[kk, j]) + force * (pos[kk, j] - pos[kn, j])
        else:
            v = pos[rand_index(rng, n_pos), j]
        if v >= ub[j] or v <= lb[j]:
            v = lb[j] + (ub[j] - lb[j]) * rho
        x[j] = v
    if rp < state.r_rate:
        ri = status.next_reset
        x[ri] = lb[ri] + (ub[ri] - lb[ri]) * rho
        status.next_reset = (ri + 1) % d
    return 1


@njit(cache=True)
def tell(state: EFOState, k: int) -> None:
    """Sort the initial population; then the new particle replaces the worst if better, inserted at its rank."""
    pos, fit, cand, fv = state.search.population, state.search.fitness, state.search.candidates, state.search.values
    hist, best = state.search.history, state.search.best_x
    status = state.search.status[0]
    n = pos.shape[0]
    if status.phase == 0:
        order = argsort_stable(fv[:n])
        for r in range(n):
            copy_row(pos[r], cand[order[r]])
            fit[r] = fv[order[r]]
        status.phase = 1
    else:
        f = fv[0]
        if f < fit[n - 1]:
            p = 0
            while fit[p] <= f:
                p += 1
            for r in range(n - 1, p, -1):
                copy_row(pos[r], pos[r - 1])
                fit[r] = fit[r - 1]
            copy_row(pos[p], cand[0])
            fit[p] = f
        hist[status.iteration] = fit[0]
        status.iteration += 1
    status.best_f = fit[0]
    copy_row(best, pos[0])


@cached_loop
def loop(state: EFOState, rng: np.ndarray, objective: tuple) -> None:
    """The driver's compiled loop with EFO's steps (here, not in the driver: numba caches per source file)."""
    search_loop(ask, tell, state, rng, objective)


def efo(
    objective: Objective,
    bounds: BoundsLike,
    *,
    pop_size: int = 35,
    iterations: int = 50_000,
    seed: int | np.random.Generator | None = None,
    r_rate: float = 0.3,
    ps_rate: float = 0.2,
    p_field: float = 0.1,
    n_field: float = 0.45,
    dim: int | None = None,
    compiled: bool | None = None,
) -> OptimizeResult:
    """Minimise ``objective`` with electromagnetic field optimization.

    Parameters
    ----------
    objective : callable
        Batch objective, (k, dim) -> (k,).
    bounds : (lb, ub)
        Search box.
    pop_size : int
        Number of electromagnetic particles N (paper 002: 35).
    iterations : int
        Number of generated particles (one evaluation each); the run spends ``pop_size + iterations`` evaluations
        (paper 002: 50,000).
    seed : int, numpy.random.Generator or None
        Random seed.
    r_rate : float
        Probability of re-initialising one coordinate of the new particle (randomization rate).
    ps_rate : float
        Probability of copying a coordinate from the positive field instead of applying the field equation.
    p_field, n_field : float
        Fractions of the population in the positive and negative fields.
    dim : int, optional
        Dimension, needed when both bounds are scalars.
    compiled : bool, optional
        Force (True) or forbid (False) the compiled loop; by default compiled whenever possible.

    Returns
    -------
    OptimizeResult
    """
    check_budget(pop_size, iterations, 3)
    for name, val in (("r_rate", r_rate), ("ps_rate", ps_rate), ("p_field", p_field), ("n_field", n_field)):
        if not 0.0 <= val <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1]")
    lb, ub = as_bounds(bounds, dim)
    n = int(pop_size)
    n_pos, neg_start = efo_fields(n, p_field, n_field)
    search = new_search(lb, ub, n, n, int(iterations), next_reset=0)
    state = EFOState(search, n_pos, neg_start, float(r_rate), float(ps_rate))
    params = {
        "pop_size": n,
        "iterations": int(iterations),
        "r_rate": float(r_rate),
        "ps_rate": float(ps_rate),
        "p_field": float(p_field),
        "n_field": float(n_field),
    }
    return run("efo", state, objective, steps=(ask, tell, loop), seed=seed, compiled=compiled, params=params)
