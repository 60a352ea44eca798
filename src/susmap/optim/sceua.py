"""Shuffled complex evolution (SCE-UA).

Duan, Sorooshian & Gupta (1992), "Effective and efficient global optimization for conceptual rainfall-runoff
models", Water Resources Research 28(4), 1015-1031, with the parameter recommendations of Duan, Sorooshian & Gupta
(1994), "Optimal use of the SCE-UA global optimization method for calibrating watershed models", Journal of
Hydrology 158, 265-284.

SCE (1992, section "The SCE-UA method", steps 0-6): s = p m points are sampled uniformly in the box, sorted, and
dealt into p complexes (complex k takes ranks k, k + p, k + 2p, ...). Each complex evolves independently by the
competitive complex evolution (CCE) strategy, then the complexes are shuffled (all points re-sorted and dealt
again). One iteration of this module is one such shuffling loop.

CCE (1992, steps 1-6 of the CCE strategy), repeated beta times per complex:

1. choose q distinct points of the complex with the trapezoidal probabilities rho_i = 2 (m + 1 - i) / (m (m + 1))
   (i = rank in the complex), forming the sub-complex B (a repeated point is drawn again; draws by Walker's alias
   method, one uniform number each);
2. alpha times: with g the centroid of the q - 1 best points of B and u the worst, reflect r = 2 g - u; if r leaves
   the feasible box, replace it by a point drawn uniformly in the smallest hypercube H containing the complex;
   if f(r) < f(u), r replaces u; otherwise try the contraction c = (g + u) / 2, which replaces u if f(c) < f(u);
   otherwise a point drawn uniformly in H replaces u unconditionally;
3. put B back and sort the complex.

The CCE steps are sequential (each sees the complex left by the previous one) and are kept so: the complexes are
evolved one after the other, exactly as in the 1992 description, one evaluation at a time; the compiled loop removes
the Python overhead. The points of each complex are stored contiguously between shuffles, and the hypercube H is
updated incrementally as points are replaced instead of being recomputed from the whole complex at every use (same
result, less work).

Defaults (1994 recommendations): m = 2n + 1 points per complex, q = n + 1, alpha = 1, beta = 2n + 1 (n = dimension).
``pop_size`` is the number of complexes p.
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
    copy_row,
    copy_rows,
    rand,
    uniform_fill,
)
from susmap.optim.driver import Search, cached_loop, new_search, run, search_loop

__all__ = ["SCEState", "sceua", "trapezoid_alias_table"]

# phases of a CCE step after the initial sample
_REFLECT, _CONTRACT, _RANDOM = 1, 2, 3


class SCEState(NamedTuple):
    """All points in ``search.population`` and ``search.fitness``, complex k in rows ``k m .. (k + 1) m - 1``.

    ``search.status`` also holds the complex being evolved (``complex``), its CCE step (``cce_step``), the offspring
    of the current sub-complex (``offspring``) and whether ``cube_lo``/``cube_hi`` hold that complex's hypercube
    (``hypercube_valid``).
    """

    search: Search
    members: np.ndarray  # (p, m) int: rows of each complex in fitness order
    subcomplex: np.ndarray  # (q,) int: ranks in the complex of the sub-complex, in rank order
    drawn: np.ndarray  # (m,) int scratch: ranks drawn for the sub-complex
    centroid: np.ndarray  # (dim,)
    cube_lo: np.ndarray  # (dim,) smallest hypercube H containing the current complex
    cube_hi: np.ndarray  # (dim,)
    rank_prob: np.ndarray  # (m,) Walker alias table of the trapezoidal rank probabilities
    rank_alias: np.ndarray  # (m,) int
    shuffle_pos: np.ndarray  # (p m, dim) scratch of the shuffle
    shuffle_fit: np.ndarray  # (p m,)
    q: int  # sub-complex size
    alpha: int  # offspring per sub-complex
    beta: int  # CCE steps per complex between shuffles


def trapezoid_alias_table(m: int) -> tuple[np.ndarray, np.ndarray]:
    """Walker alias table (Vose 1991) of the CCE rank probabilities rho_i = 2 (m + 1 - i) / (m (m + 1)), i = 1..m.

    Returns ``(prob, alias)``: draw ``u ~ U(0, m)``, ``i = floor(u)``; the rank is ``i`` if ``u - i < prob[i]``,
    else ``alias[i]`` (0-based). One uniform draw per rank.
    """
    w = 2.0 * (m - np.arange(m)) / (m * (m + 1.0)) * m
    prob = np.ones(m)
    alias = np.arange(m, dtype=np.int64)
    small = [i for i in range(m) if w[i] < 1.0]
    large = [i for i in range(m) if w[i] >= 1.0]
    while small and large:
        s_i = small.pop()
        l_i = large.pop()
        prob[s_i] = w[s_i]
        alias[s_i] = l_i
        w[l_i] = (w[l_i] + w[s_i]) - 1.0
        (small if w[l_i] < 1.0 else large).append(l_i)
    return prob, alias


@njit(cache=True)
def _draw_subcomplex(
    rng: np.ndarray, q: int, prob: np.ndarray, alias: np.ndarray, mark: np.ndarray, sub: np.ndarray
) -> None:
    """Draw q distinct ranks with the trapezoidal probabilities (repeats drawn again) into ``sub``, in rank order."""
    m = prob.shape[0]
    for _ in range(q):
        while True:
            u = rand(rng) * m
            i = int(u)
            if i >= m:
                i = m - 1
            rk = i if u - i < prob[i] else alias[i]
            if mark[rk] == 0:
                break
        mark[rk] = 1
    t = 0
    for rk in range(m):
        if mark[rk] == 1:
            sub[t] = rk
            t += 1
            mark[rk] = 0


@njit(cache=True)
def _shuffle(pos: np.ndarray, fit: np.ndarray, cidx: np.ndarray, tmp_pos: np.ndarray, tmp_fit: np.ndarray) -> None:
    """Sort all points and deal them into the complexes (complex k gets ranks k, k + p, k + 2p, ...).

    The points of complex k are stored contiguously in rows ``k m .. (k + 1) m - 1`` (so that the hypercube and
    centroid computations stream through memory); ``cidx[k]`` lists those rows in fitness order.
    """
    p, m = cidx.shape
    order = argsort_stable(fit)
    for k in range(p):
        for j in range(m):
            src = order[k + p * j]
            copy_row(tmp_pos[k * m + j], pos[src])
            tmp_fit[k * m + j] = fit[src]
            cidx[k, j] = k * m + j
    copy_rows(pos, tmp_pos)
    copy_row(fit, tmp_fit)


@njit(cache=True)
def _hypercube_point(
    rng: np.ndarray,
    pos: np.ndarray,
    k: int,
    m: int,
    lk: np.ndarray,
    hk: np.ndarray,
    status: np.void,
    out: np.ndarray,
) -> None:
    """Uniform point in the smallest hypercube H containing complex ``k`` (rows ``k m .. (k + 1) m - 1``).

    H is kept in ``lk``, ``hk`` and recomputed only when ``status.hypercube_valid == 0``.
    """
    d = pos.shape[1]
    if status.hypercube_valid == 0:
        first = pos[k * m]
        for t in range(d):
            lk[t] = first[t]
            hk[t] = first[t]
        for r in range(k * m + 1, (k + 1) * m):
            row = pos[r]
            for t in range(d):
                v = row[t]
                lk[t] = v if v < lk[t] else lk[t]
                hk[t] = v if v > hk[t] else hk[t]
        status.hypercube_valid = 1
    for t in range(d):
        out[t] = lk[t] + rand(rng) * (hk[t] - lk[t])


@njit(cache=True)
def _hypercube_replace(
    pos: np.ndarray, k: int, m: int, lk: np.ndarray, hk: np.ndarray, status: np.void, old_id: int, new: np.ndarray
) -> None:
    """Keep H of complex ``k`` up to date when its point ``pos[old_id]`` is replaced by ``new``.

    Bounds move out when the new point exceeds them; a bound that the old point defined and the new point does not
    reach is recomputed over the other points of the complex.
    """
    if status.hypercube_valid == 0:
        return
    old = pos[old_id]
    for t in range(pos.shape[1]):
        nv = new[t]
        ov = old[t]
        if nv <= lk[t]:
            lk[t] = nv
        elif ov == lk[t]:
            v = nv
            for r in range(k * m, (k + 1) * m):
                x = pos[r, t]
                if r != old_id and x < v:
                    v = x
            lk[t] = v
        if nv >= hk[t]:
            hk[t] = nv
        elif ov == hk[t]:
            v = nv
            for r in range(k * m, (k + 1) * m):
                x = pos[r, t]
                if r != old_id and x > v:
                    v = x
            hk[t] = v


@njit(cache=True)
def ask(state: SCEState, rng: np.ndarray) -> int:
    """The initial sample, then one offspring of a CCE step: reflection, contraction or random point."""
    lb, ub, pos, cand = state.search.lb, state.search.ub, state.search.population, state.search.candidates
    status = state.search.status[0]
    cidx, sub, g = state.members, state.subcomplex, state.centroid
    p, m = cidx.shape
    d = pos.shape[1]
    q = state.q
    phase = status.phase
    if phase == 0:
        uniform_fill(rng, lb, ub, cand[: p * m])
        return p * m
    if status.iteration >= state.search.history.shape[0]:
        return 0
    k = status.complex
    x = cand[0]
    if phase == _REFLECT:
        if status.offspring == 0:
            # CCE step 1: the sub-complex, in rank (= fitness) order
            _draw_subcomplex(rng, q, state.rank_prob, state.rank_alias, state.drawn, sub)
        worst = cidx[k, sub[q - 1]]
        for t in range(d):
            g[t] = 0.0
        for u in range(q - 1):
            row = pos[cidx[k, sub[u]]]
            for t in range(d):
                g[t] += row[t]
        outside = False
        for t in range(d):
            g[t] /= q - 1
            xr = 2.0 * g[t] - pos[worst, t]
            x[t] = xr
            if xr < lb[t] or xr > ub[t]:
                outside = True
        if outside:
            _hypercube_point(rng, pos, k, m, state.cube_lo, state.cube_hi, status, x)
    elif phase == _CONTRACT:
        worst = cidx[k, sub[q - 1]]
        for t in range(d):
            x[t] = 0.5 * (g[t] + pos[worst, t])
    else:
        _hypercube_point(rng, pos, k, m, state.cube_lo, state.cube_hi, status, x)
    return 1


@njit(cache=True)
def _end_offspring(state: SCEState) -> None:
    """After an offspring: re-sort the sub-complex, or end the CCE step, the complex, the shuffling loop."""
    fit = state.search.fitness
    status = state.search.status[0]
    cidx, sub = state.members, state.subcomplex
    p, m = cidx.shape
    q = state.q
    k = status.complex
    status.offspring += 1
    if status.offspring < state.alpha:
        # re-sort the sub-complex: only its worst point changed
        v = sub[q - 1]
        f_new = fit[cidx[k, v]]
        s = q - 2
        while s >= 0 and fit[cidx[k, sub[s]]] > f_new:
            sub[s + 1] = sub[s]
            s -= 1
        sub[s + 1] = v
        return
    status.offspring = 0
    # CCE step 3: sort the complex
    row = cidx[k]
    if state.alpha == 1:
        # only the point at the worst rank of the sub-complex changed: move it to its place
        r = sub[q - 1]
        v = row[r]
        f_new = fit[v]
        while r > 0 and fit[row[r - 1]] > f_new:
            row[r] = row[r - 1]
            r -= 1
        while r < m - 1 and fit[row[r + 1]] < f_new:
            row[r] = row[r + 1]
            r += 1
        row[r] = v
    else:
        for t in range(1, m):
            v = row[t]
            f_new = fit[v]
            s = t - 1
            while s >= 0 and fit[row[s]] > f_new:
                row[s + 1] = row[s]
                s -= 1
            row[s + 1] = v
    status.cce_step += 1
    if status.cce_step < state.beta:
        return
    # this complex is done: next complex, or shuffle after the last one
    status.cce_step = 0
    status.hypercube_valid = 0
    status.complex += 1
    if status.complex < p:
        return
    status.complex = 0
    _shuffle(state.search.population, fit, cidx, state.shuffle_pos, state.shuffle_fit)
    state.search.history[status.iteration] = status.best_f
    status.iteration += 1


@njit(cache=True)
def tell(state: SCEState, k: int) -> None:
    """Deal the initial sample into complexes; then accept or reject the offspring (CCE step 2)."""
    pos, fit, cand, fv = state.search.population, state.search.fitness, state.search.candidates, state.search.values
    best = state.search.best_x
    status = state.search.status[0]
    cidx = state.members
    phase = status.phase
    if phase == 0:
        copy_rows(pos, cand[:k])
        copy_row(fit, fv[:k])
        b = int(np.argmin(fit))
        status.best_f = fit[b]
        copy_row(best, pos[b])
        _shuffle(pos, fit, cidx, state.shuffle_pos, state.shuffle_fit)
        status.hypercube_valid = 0
        status.phase = _REFLECT
        return
    c = status.complex
    m = cidx.shape[1]
    worst = cidx[c, state.subcomplex[state.q - 1]]
    f = fv[0]
    if phase != _RANDOM and not f < fit[worst]:
        status.phase = phase + 1
        return
    _hypercube_replace(pos, c, m, state.cube_lo, state.cube_hi, status, worst, cand[0])
    copy_row(pos[worst], cand[0])
    fit[worst] = f
    if f < status.best_f:
        status.best_f = f
        copy_row(best, cand[0])
    status.phase = _REFLECT
    _end_offspring(state)


@cached_loop
def loop(state: SCEState, rng: np.ndarray, objective: tuple) -> None:
    """The driver's compiled loop with SCE-UA's steps (here, not in the driver: numba caches per source file)."""
    search_loop(ask, tell, state, rng, objective)


def sceua(
    objective: Objective,
    bounds: BoundsLike,
    *,
    pop_size: int = 2,
    iterations: int = 100,
    seed: int | np.random.Generator | None = None,
    points_per_complex: int | None = None,
    subcomplex_size: int | None = None,
    alpha: int = 1,
    beta: int | None = None,
    dim: int | None = None,
    compiled: bool | None = None,
) -> OptimizeResult:
    """Minimise ``objective`` with shuffled complex evolution (SCE-UA).

    Parameters
    ----------
    objective : callable
        Batch objective, (k, dim) -> (k,).
    bounds : (lb, ub)
        Search box.
    pop_size : int
        Number of complexes p (paper 002's "population 10" is read as p = 10).
    iterations : int
        Number of shuffling loops (paper 002: 1,000). Each loop spends between ``p * beta * alpha`` and three times
        that many evaluations (about 1.35 times on the paper-002 network: ~2,200 evaluations per loop for p = 10 and
        81 weights).
    seed : int, numpy.random.Generator or None
        Random seed.
    points_per_complex : int, optional
        m, default 2n + 1.
    subcomplex_size : int, optional
        q, default n + 1 (2 <= q <= m).
    alpha : int
        Offspring per sub-complex, default 1.
    beta : int, optional
        CCE steps per complex between shuffles, default 2n + 1.
    dim : int, optional
        Dimension, needed when both bounds are scalars.
    compiled : bool, optional
        Force (True) or forbid (False) the compiled loop; by default compiled whenever possible.

    Returns
    -------
    OptimizeResult
    """
    check_budget(pop_size, iterations, 1)
    lb, ub = as_bounds(bounds, dim)
    d = lb.shape[0]
    p = int(pop_size)
    m = 2 * d + 1 if points_per_complex is None else int(points_per_complex)
    q = d + 1 if subcomplex_size is None else int(subcomplex_size)
    bet = 2 * d + 1 if beta is None else int(beta)
    if not 2 <= q <= m:
        raise ValueError("need 2 <= subcomplex_size <= points_per_complex")
    if alpha < 1 or bet < 1:
        raise ValueError("alpha and beta must be positive")
    s = p * m
    search = new_search(lb, ub, s, s, int(iterations), complex=0, cce_step=0, offspring=0, hypercube_valid=0)
    state = SCEState(
        search,
        np.zeros((p, m), dtype=np.int64),
        np.zeros(q, dtype=np.int64),
        np.zeros(m, dtype=np.int64),
        np.zeros(d),
        np.zeros(d),
        np.zeros(d),
        *trapezoid_alias_table(m),
        np.zeros((s, d)),
        np.zeros(s),
        q,
        int(alpha),
        bet,
    )
    params = {
        "pop_size": p,
        "iterations": int(iterations),
        "points_per_complex": m,
        "subcomplex_size": q,
        "alpha": int(alpha),
        "beta": bet,
    }
    return run("sceua", state, objective, steps=(ask, tell, loop), seed=seed, compiled=compiled, params=params)
