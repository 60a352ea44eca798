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
from typing import Any

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
    copy_row,
    copy_rows,
    drive,
    make_rng,
    new_common_state,
    rand,
    sanitize,
    uniform_fill,
)

__all__ = ["PSO_2011_C", "PSO_2011_W", "constriction_coefficient", "pso"]

# positions of the algorithm's own arrays in the state tuple
_S_VEL, _S_PBEST, _S_PBEST_F = 10, 11, 12

#: Standard PSO 2011 inertia weight 1 / (2 ln 2).
PSO_2011_W = 1.0 / (2.0 * math.log(2.0))
#: Standard PSO 2011 acceleration coefficients 0.5 + ln 2.
PSO_2011_C = 0.5 + math.log(2.0)

# fvar layout after the best value
_FW, _FC1, _FC2, _FVMAX = 1, 2, 3, 4


def constriction_coefficient(phi1: float = 2.05, phi2: float = 2.05) -> float:
    """Clerc & Kennedy (2002) constriction factor chi = 2 / |2 - phi - sqrt(phi^2 - 4 phi)|, phi = phi1 + phi2 > 4."""
    phi = phi1 + phi2
    if phi <= 4.0:
        raise ValueError("the constriction form needs phi1 + phi2 > 4")
    return 2.0 / abs(2.0 - phi - math.sqrt(phi * phi - 4.0 * phi))


@njit(cache=True)
def _ask(state: tuple, rng: np.ndarray) -> int:
    ivar = state[S_IVAR]
    fvar = state[S_FVAR]
    lb = state[S_LB]
    ub = state[S_UB]
    pos = state[S_POS]
    cand = state[S_CAND]
    best = state[S_BEST]
    vel = state[_S_VEL]
    pbest = state[_S_PBEST]
    n, d = pos.shape
    if ivar[I_PHASE] == 0:
        uniform_fill(rng, lb, ub, cand[:n])
        for i in range(n):
            for j in range(d):
                vel[i, j] = (lb[j] - cand[i, j]) + rand(rng) * (ub[j] - lb[j])
        return n
    if ivar[I_ITER] >= ivar[I_MAXITER]:
        return 0
    w, c1, c2, vmax = fvar[_FW], fvar[_FC1], fvar[_FC2], fvar[_FVMAX]
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
def _tell(state: tuple, k: int) -> None:
    ivar = state[S_IVAR]
    fvar = state[S_FVAR]
    pos = state[S_POS]
    fit = state[S_FIT]
    cand = state[S_CAND]
    fv = state[S_FV]
    hist = state[S_HIST]
    best = state[S_BEST]
    pbest = state[_S_PBEST]
    pbest_f = state[_S_PBEST_F]
    sanitize(fv, k)
    n = pos.shape[0]
    init = ivar[I_PHASE] == 0
    if init:
        copy_rows(pos, cand[:n])
        copy_rows(pbest, cand[:n])
        ivar[I_PHASE] = 1
    for i in range(n):
        fit[i] = fv[i]
        if fv[i] < pbest_f[i]:
            pbest_f[i] = fv[i]
            copy_row(pbest[i], pos[i])
            if fv[i] < fvar[F_BEST]:
                fvar[F_BEST] = fv[i]
                copy_row(best, pos[i])
    if not init:
        hist[ivar[I_ITER]] = fvar[F_BEST]
        ivar[I_ITER] += 1
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
    rng, seed_used = make_rng(seed)
    n = int(pop_size)
    d = lb.shape[0]
    state = (
        *new_common_state(lb, ub, n, n, int(iterations), 0, [ww, cc1, cc2, float(v_max)]),
        np.zeros((n, d)),
        np.zeros((n, d)),
        np.full(n, np.inf),
    )
    used, wall = drive(_ask, _tell, _run_compiled, state, rng, objective, compiled)
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
    return build_result(state, name, params, used, wall, seed_used)
