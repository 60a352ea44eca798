"""Shared pieces of the population-based optimizers: result type, bounds, seeds and compiled helpers.

The compiled helpers draw from the xoshiro256+ stream of :func:`make_rng` (:func:`rand` and the draws built on it)
and copy, clip and sort vectors with explicit loops; the algorithms' ``ask``/``tell`` steps are written with them and
run by :mod:`susmap.optim.driver`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit

__all__ = [
    "BoundsLike",
    "Objective",
    "OptimizeResult",
    "argsort_stable",
    "as_bounds",
    "check_budget",
    "clip_row",
    "copy_row",
    "copy_rows",
    "make_rng",
    "rand",
    "rand_index",
    "rand_normal",
    "rand_other",
    "round_half_up",
    "sanitize",
    "uniform_fill",
]

#: A batch objective: candidates of shape (k, dim) in, objective values of shape (k,) out.
Objective = Callable[[np.ndarray], np.ndarray]
#: ``(lb, ub)`` with scalars or 1-D arrays, or an object with ``.lb`` and ``.ub`` (e.g. ``scipy.optimize.Bounds``).
BoundsLike = Any


@dataclass(frozen=True)
class OptimizeResult:
    """Outcome of one optimizer run.

    Attributes
    ----------
    x : numpy.ndarray
        Best vector found, shape (dim,), in the units of the bounds.
    fun : float
        Objective value at ``x`` (minimised), in the objective's units.
    history : numpy.ndarray
        Best value found so far after each iteration, shape (iterations,); what one iteration is depends on the
        algorithm (a velocity update for PSO, one generated particle for EFO, a pass over the ecosystem for SOS, a
        shuffling loop for SCE-UA, a discharge round for ESDA).
    n_evaluations : int
        Objective evaluations spent, including the initial population.
    wall_time_s : float
        Wall-clock time of the run in seconds (numba compilation on a first call included).
    algorithm : str
        Registry name of the algorithm, e.g. ``"sos"``.
    params : dict
        Population size, iteration budget and the algorithm's parameters as used.
    compiled : bool
        True when the whole loop ran compiled (objective was a :class:`CompiledObjective`).
    seed : int or None
        Seed the random generator was built from (None when a generator was passed in).
    """

    x: np.ndarray
    fun: float
    history: np.ndarray
    n_evaluations: int
    wall_time_s: float
    algorithm: str
    params: dict[str, Any] = field(default_factory=dict)
    compiled: bool = False
    seed: int | None = None

    @property
    def n_iterations(self) -> int:
        """Number of iterations run (length of ``history``)."""
        return int(self.history.shape[0])


def as_bounds(bounds: BoundsLike, dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Turn a bounds specification into lower and upper bound vectors.

    Parameters
    ----------
    bounds : tuple or scipy.optimize.Bounds
        ``(lb, ub)`` where each is a scalar or a 1-D array, or any object with ``lb`` and ``ub`` attributes.
    dim : int, optional
        Number of dimensions; required when both bounds are scalars, checked otherwise.

    Returns
    -------
    lb, ub : numpy.ndarray
        Float64 vectors of shape (dim,) with ``lb < ub`` everywhere, in the units of the search space.
    """
    if hasattr(bounds, "lb") and hasattr(bounds, "ub"):
        lo, hi = bounds.lb, bounds.ub
    else:
        if not isinstance(bounds, Sequence | np.ndarray) or len(bounds) != 2:
            raise ValueError("bounds must be a pair (lb, ub) of scalars or 1-D arrays")
        lo, hi = bounds[0], bounds[1]
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    if lo.ndim > 1 or hi.ndim > 1:
        raise ValueError("lb and ub must be scalars or 1-D arrays")
    n = max(lo.size if lo.ndim else 0, hi.size if hi.ndim else 0)
    if n == 0:
        if dim is None:
            raise ValueError("dim is required when both bounds are scalars")
        n = int(dim)
    elif dim is not None and int(dim) != n:
        raise ValueError(f"dim={dim} does not match bounds of length {n}")
    if n < 1:
        raise ValueError("the search space needs at least one dimension")
    lb = np.ascontiguousarray(np.broadcast_to(lo, (n,)), dtype=np.float64).copy()
    ub = np.ascontiguousarray(np.broadcast_to(hi, (n,)), dtype=np.float64).copy()
    if not (np.all(np.isfinite(lb)) and np.all(np.isfinite(ub))):
        raise ValueError("bounds must be finite")
    if np.any(lb >= ub):
        raise ValueError("every lower bound must be below its upper bound")
    return lb, ub


def make_rng(seed: int | np.random.Generator | None) -> tuple[np.ndarray, int | None]:
    """Build the random stream of a run: the 256-bit state of a xoshiro256+ generator.

    Parameters
    ----------
    seed : int, numpy.random.Generator or None
        An integer seed (reproducible run), an existing numpy generator (four 64-bit words are drawn from it, which
        advances it), or None (fresh entropy).

    Returns
    -------
    state : numpy.ndarray
        Four uint64 words, never all zero, advanced in place by :func:`rand`.
    seed : int or None
        The integer seed, or None when a generator or no seed was given.

    Notes
    -----
    xoshiro256+ (Blackman & Vigna 2021, "Scrambled linear pseudorandom number generators", ACM TOMS 47(4)) is
    inlined into the compiled loops, where it costs about a nanosecond per draw; its state is seeded through
    numpy's SeedSequence-based :func:`numpy.random.default_rng`.
    """
    if isinstance(seed, np.random.Generator):
        gen, used = seed, None
    else:
        if seed is not None and not isinstance(seed, int | np.integer):
            raise TypeError("seed must be an int, a numpy Generator or None")
        gen, used = np.random.default_rng(seed), (None if seed is None else int(seed))
    state = gen.integers(0, np.iinfo(np.uint64).max, size=4, dtype=np.uint64, endpoint=True)
    if not state.any():
        state[0] = np.uint64(0x9E3779B97F4A7C15)
    return state, used


def check_budget(pop_size: int, iterations: int, min_pop: int) -> None:
    """Validate population size and iteration budget (positive integers, ``pop_size >= min_pop``)."""
    if int(iterations) != iterations or iterations < 1:
        raise ValueError("iterations must be a positive integer")
    if int(pop_size) != pop_size or pop_size < min_pop:
        raise ValueError(f"pop_size must be an integer >= {min_pop}")


# --------------------------------------------------------------------------------------------------------------------
# Compiled helpers shared by the algorithms. ``rng`` is always the xoshiro256+ state of :func:`make_rng`.
# --------------------------------------------------------------------------------------------------------------------


_U17 = np.uint64(17)
_U45 = np.uint64(45)
_U19 = np.uint64(19)
_U11 = np.uint64(11)
_TWO_M53 = 2.0**-53


@njit(cache=True, inline="always")
def rand(rs: np.ndarray) -> float:
    """Next uniform double in [0, 1) from the xoshiro256+ state ``rs`` (4 uint64 words, advanced in place)."""
    s0, s1, s2, s3 = rs[0], rs[1], rs[2], rs[3]
    result = s0 + s3
    t = s1 << _U17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = (s3 << _U45) | (s3 >> _U19)
    rs[0], rs[1], rs[2], rs[3] = s0, s1, s2, s3
    return float(result >> _U11) * _TWO_M53


@njit(cache=True)
def rand_index(rng: np.ndarray, n: int) -> int:
    """Uniform integer in ``[0, n)`` from one uniform draw."""
    i = int(rand(rng) * n)
    return i if i < n else n - 1


@njit(cache=True)
def rand_other(rng: np.ndarray, n: int, i: int) -> int:
    """Uniform integer in ``[0, n)`` other than ``i`` (``n >= 2``)."""
    j = rand_index(rng, n - 1)
    return j + 1 if j >= i else j


@njit(cache=True)
def rand_normal(rng: np.ndarray) -> float:
    """Standard normal deviate by the Box-Muller transform of two uniform draws."""
    u1 = 1.0 - rand(rng)  # in (0, 1]
    u2 = rand(rng)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@njit(cache=True)
def round_half_up(x: float) -> int:
    """Round to the nearest integer with halves away from zero (MATLAB ``round`` for x >= 0)."""
    return math.floor(x + 0.5)


@njit(cache=True)
def uniform_fill(rng: np.ndarray, lb: np.ndarray, ub: np.ndarray, out: np.ndarray) -> None:
    """Fill the rows of ``out`` with points drawn uniformly in ``[lb, ub]``, row by row."""
    n, d = out.shape
    for i in range(n):
        for j in range(d):
            out[i, j] = lb[j] + rand(rng) * (ub[j] - lb[j])


@njit(cache=True)
def sanitize(fv: np.ndarray, k: int) -> None:
    """Replace NaN objective values by +inf so that they never win a comparison."""
    for i in range(k):
        if fv[i] != fv[i]:
            fv[i] = np.inf


@njit(cache=True)
def copy_row(dst: np.ndarray, src: np.ndarray) -> None:
    """Copy a vector into another of the same length (an explicit loop compiles much faster than slice assignment)."""
    for j in range(dst.shape[0]):
        dst[j] = src[j]


@njit(cache=True)
def copy_rows(dst: np.ndarray, src: np.ndarray) -> None:
    """Copy a matrix into another of the same shape."""
    for i in range(dst.shape[0]):
        for j in range(dst.shape[1]):
            dst[i, j] = src[i, j]


@njit(cache=True)
def clip_row(x: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> None:
    """Clip a vector to the box ``[lb, ub]`` in place."""
    for j in range(x.shape[0]):
        if x[j] < lb[j]:
            x[j] = lb[j]
        elif x[j] > ub[j]:
            x[j] = ub[j]


@njit(cache=True)
def argsort_stable(values: np.ndarray) -> np.ndarray:
    """Indices that sort ``values`` ascending, ties in index order (bottom-up merge sort)."""
    n = values.shape[0]
    idx = np.arange(n)
    tmp = np.empty(n, dtype=np.int64)
    width = 1
    while width < n:
        lo = 0
        while lo < n:
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            a, b, o = lo, mid, lo
            while a < mid and b < hi:
                if values[idx[b]] < values[idx[a]]:
                    tmp[o] = idx[b]
                    b += 1
                else:
                    tmp[o] = idx[a]
                    a += 1
                o += 1
            while a < mid:
                tmp[o] = idx[a]
                a += 1
                o += 1
            while b < hi:
                tmp[o] = idx[b]
                b += 1
                o += 1
            lo = hi
        idx, tmp = tmp, idx
        width *= 2
    return idx
