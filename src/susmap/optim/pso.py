"""Particle swarm optimization (global-best topology, synchronous updates).

Velocity and position update of particle i in dimension j (Shi & Eberhart 1998, "A modified particle swarm
optimizer", IEEE ICEC, eq. 1-2)::

    v_ij <- w v_ij + c1 r1_ij (p_ij - x_ij) + c2 r2_ij (g_j - x_ij),    x_ij <- x_ij + v_ij

with r1, r2 ~ U(0, 1) drawn per particle and dimension, p_i the particle's best position and g the swarm's best.

Two parameter sets:

* ``variant="inertia"`` (default): the constants of Standard PSO 2011 (Clerc 2011, "Standard Particle Swarm
  Optimisation", HAL hal-00764996; Zambrano-Bigiarini, Clerc & Rojas 2013, IEEE CEC), w = 1 / (2 ln 2) ~ 0.721 and
  c1 = c2 = 0.5 + ln 2 ~ 1.193;
* ``variant="constriction"``: Clerc & Kennedy (2002), "The particle swarm - explosion, stability, and convergence in
  a multidimensional complex space", IEEE Trans. Evol. Comput. 6(1), eq. 4.8-4.9 (type 1'')::

      v <- chi [v + phi1 r1 (p - x) + phi2 r2 (g - x)],  chi = 2 / |2 - phi - sqrt(phi^2 - 4 phi)|,  phi = phi1 + phi2

  with phi1 = phi2 = 2.05 (phi = 4.1, chi ~ 0.7298), i.e. w ~ 0.73 and c1 = c2 ~ 1.49, the values of paper 003's
  PSO-DLNN (Table 7: population 50, 500 iterations).

Details taken from SPSO 2011 (Clerc 2011, section 3): velocities start uniform in [lb - x, ub - x]; a coordinate that
leaves the box is set on the bound and its velocity is multiplied by -0.5. Velocities are limited to
``v_max * (ub - lb)`` per dimension (``v_max=1``, the search range, by default). The swarm is updated synchronously:
all particles move, then all are evaluated (one batch), then personal and global bests are updated.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numba import njit

from susmap.optim.base import (
    BoundsLike,
    Objective,
    OptimizeResult,
    as_bounds,
    check_budget,
    copy_row,
    copy_rows,
    rand,
    uniform_fill,
)
from susmap.optim.driver import Search, cached_loop, new_search, run, search_loop

__all__ = ["PSO_2011_C", "PSO_2011_W", "PSOState", "constriction_coefficient", "pso"]

#: Standard PSO 2011 inertia weight 1 / (2 ln 2).
PSO_2011_W = 1.0 / (2.0 * math.log(2.0))
#: Standard PSO 2011 acceleration coefficients 0.5 + ln 2.
PSO_2011_C = 0.5 + math.log(2.0)


class PSOState(NamedTuple):
    """A swarm: positions in ``search.population``, their current values in ``search.fitness``."""

    search: Search
    velocity: np.ndarray  # (pop, dim)
    personal_best: np.ndarray  # (pop, dim)
    personal_best_f: np.ndarray  # (pop,)
    w: float
    c1: float
    c2: float
    v_max: float  # velocity limit as a fraction of the search range


def constriction_coefficient(phi1: float = 2.05, phi2: float = 2.05) -> float:
    """Clerc & Kennedy (2002) constriction factor chi = 2 / |2 - phi - sqrt(phi^2 - 4 phi)|, phi = phi1 + phi2 > 4."""
    phi = phi1 + phi2
    if phi <= 4.0:
        raise ValueError("the constriction form needs phi1 + phi2 > 4")
    return 2.0 / abs(2.0 - phi - math.sqrt(phi * phi - 4.0 * phi))


@njit(cache=True)
def ask(state: PSOState, rng: np.ndarray) -> int:
    """The initial swarm and its velocities, then each velocity update moves the whole swarm (one batch)."""
    lb, ub, pos, cand = state.search.lb, state.search.ub, state.search.population, state.search.candidates
    best, hist = state.search.best_x, state.search.history
    status = state.search.status[0]
    vel, pbest = state.velocity, state.personal_best
    n, d = pos.shape
    if status.phase == 0:
        uniform_fill(rng, lb, ub, cand[:n])
        for i in range(n):
            for j in range(d):
                vel[i, j] = (lb[j] - cand[i, j]) + rand(rng) * (ub[j] - lb[j])
        return n
    if status.iteration >= hist.shape[0]:
        return 0
    w, c1, c2, vmax = state.w, state.c1, state.c2, state.v_max
    for i in range(n):
        for j in range(d):
            r1 = rand(rng)
            r2 = rand(rng)
            v = w * vel[i, j] + c1 * r1 * (pbest[i, j] - pos[i, j]) + c2 * r2 * (best[j] - pos[i, j])
            lim = vmax * (ub[j] - lb[j])
            if v > lim:
                v = lim
            elif v < -lim:
                v = -lim
            x = pos[i, j] + v
            if x < lb[j]:
                x = lb[j]
                v = -0.5 * v
            elif x > ub[j]:
                x = ub[j]
                v = -0.5 * v
            vel[i, j] = v
            pos[i, j] = x
            cand[i, j] = x
    return n


@njit(cache=True)
def tell(state: PSOState, k: int) -> None:
    """Personal and global bests after the swarm was evaluated."""
    pos, fit, cand, fv = state.search.population, state.search.fitness, state.search.candidates, state.search.values
    best, hist = state.search.best_x, state.search.history
    status = state.search.status[0]
    pbest, pbest_f = state.personal_best, state.personal_best_f
    n = pos.shape[0]
    init = status.phase == 0
    if init:
        copy_rows(pos, cand[:n])
        copy_rows(pbest, cand[:n])
        status.phase = 1
    for i in range(n):
        fit[i] = fv[i]
        if fv[i] < pbest_f[i]:
            pbest_f[i] = fv[i]
            copy_row(pbest[i], pos[i])
            if fv[i] < status.best_f:
                status.best_f = fv[i]
                copy_row(best, pos[i])
    if not init:
        hist[status.iteration] = status.best_f
        status.iteration += 1


@cached_loop
def loop(state: PSOState, rng: np.ndarray, objective: tuple) -> None:
    """The driver's compiled loop with PSO's steps (here, not in the driver: numba caches per source file)."""
    search_loop(ask, tell, state, rng, objective)


def pso(
    objective: Objective,
    bounds: BoundsLike,
    *,
    pop_size: int = 50,
    iterations: int = 500,
    seed: int | np.random.Generator | None = None,
    variant: str = "inertia",
    w: float | None = None,
    c1: float | None = None,
    c2: float | None = None,
    phi1: float = 2.05,
    phi2: float = 2.05,
    v_max: float = 1.0,
    dim: int | None = None,
    compiled: bool | None = None,
) -> OptimizeResult:
    """Minimise ``objective`` with global-best particle swarm optimization.

    Parameters
    ----------
    objective : callable
        Batch objective, (k, dim) -> (k,).
    bounds : (lb, ub)
        Search box (scalars or vectors).
    pop_size : int
        Swarm size (paper 003: 50).
    iterations : int
        Number of velocity updates; the run spends ``pop_size * (iterations + 1)`` evaluations (paper 003: 500).
    seed : int, numpy.random.Generator or None
        Random seed.
    variant : {"inertia", "constriction"}
        Parameter set (see the module docstring).
    w, c1, c2 : float, optional
        Inertia weight and acceleration coefficients of the inertia variant (default: Standard PSO 2011 values).
    phi1, phi2 : float
        Acceleration coefficients of the constriction variant (default 2.05 each, phi = 4.1).
    v_max : float
        Velocity limit as a fraction of the search range per dimension.
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
    if variant == "inertia":
        ww = PSO_2011_W if w is None else float(w)
        cc1 = PSO_2011_C if c1 is None else float(c1)
        cc2 = PSO_2011_C if c2 is None else float(c2)
    elif variant == "constriction":
        if w is not None or c1 is not None or c2 is not None:
            raise ValueError("the constriction variant takes phi1 and phi2, not w, c1, c2")
        chi = constriction_coefficient(phi1, phi2)
        ww, cc1, cc2 = chi, chi * phi1, chi * phi2
    else:
        raise ValueError("variant must be 'inertia' or 'constriction'")
    if v_max <= 0:
        raise ValueError("v_max must be positive")
    n = int(pop_size)
    d = lb.shape[0]
    search = new_search(lb, ub, n, n, int(iterations))
    coefficients = (float(ww), float(cc1), float(cc2), float(v_max))
    state = PSOState(search, np.zeros((n, d)), np.zeros((n, d)), np.full(n, np.inf), *coefficients)
    params: dict[str, Any] = {
        "pop_size": n,
        "iterations": int(iterations),
        "variant": variant,
        "w": ww,
        "c1": cc1,
        "c2": cc2,
        "v_max": float(v_max),
    }
    if variant == "constriction":
        params.update(phi1=float(phi1), phi2=float(phi2))
    name = "pso" if variant == "inertia" else "pso_constriction"
    return run(name, state, objective, steps=(ask, tell, loop), seed=seed, compiled=compiled, params=params)
