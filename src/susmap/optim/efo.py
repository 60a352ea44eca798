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
    copy_row,
    drive,
    make_rng,
    new_common_state,
    rand,
    rand_index,
    sanitize,
    uniform_fill,
)

__all__ = ["efo", "efo_fields"]

_GOLDEN = (1.0 + math.sqrt(5.0)) / 2.0
# ivar layout after the shared prefix
_IRI, _INPOS, _INEG = 4, 5, 6
# fvar layout after the best value
_FR_RATE, _FPS_RATE = 1, 2


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
def _ask(state: tuple, rng: np.ndarray) -> int:
    ivar = state[S_IVAR]
    fvar = state[S_FVAR]
    lb = state[S_LB]
    ub = state[S_UB]
    pos = state[S_POS]
    cand = state[S_CAND]
    n, d = pos.shape
    if ivar[I_PHASE] == 0:
        uniform_fill(rng, lb, ub, cand[:n])
        return n
    if ivar[I_ITER] >= ivar[I_MAXITER]:
        return 0
    n_pos, neg_start = ivar[_INPOS], ivar[_INEG]
    n_neg = n - neg_start
    n_neu = neg_start - n_pos
    ps_rate = fvar[_FPS_RATE]
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
    if rp < fvar[_FR_RATE]:
        ri = ivar[_IRI]
        x[ri] = lb[ri] + (ub[ri] - lb[ri]) * rho
        ivar[_IRI] = (ri + 1) % d
    return 1


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
    if ivar[I_PHASE] == 0:
        order = argsort_stable(fv[:n])
        for r in range(n):
            copy_row(pos[r], cand[order[r]])
            fit[r] = fv[order[r]]
        ivar[I_PHASE] = 1
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
        hist[ivar[I_ITER]] = fit[0]
        ivar[I_ITER] += 1
    fvar[F_BEST] = fit[0]
    copy_row(best, pos[0])
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
    rng, seed_used = make_rng(seed)
    state = new_common_state(lb, ub, n, n, int(iterations), 3, [float(r_rate), float(ps_rate)])
    state[0][_INPOS] = n_pos
    state[0][_INEG] = neg_start
    used, wall = drive(_ask, _tell, _run_compiled, state, rng, objective, compiled)
    params = {
        "pop_size": n,
        "iterations": int(iterations),
        "r_rate": float(r_rate),
        "ps_rate": float(ps_rate),
        "p_field": float(p_field),
        "n_field": float(n_field),
    }
    return build_result(state, "efo", params, used, wall, seed_used)
