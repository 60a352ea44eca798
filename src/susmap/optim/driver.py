"""The ask/tell driver that runs every optimizer of :mod:`susmap.optim`, and the state all of them share.

An algorithm plugs in with two numba-compiled functions and a named state:

* ``ask(state, rng) -> k``: write the next ``k`` candidate vectors into ``state.search.candidates`` (``k == 0``
  when the budget is spent);
* ``tell(state, k)``: read their objective values from ``state.search.values`` and update the state;
* ``state``: a :class:`~typing.NamedTuple` whose first field ``search`` is a :class:`Search` (the arrays and
  counters every algorithm keeps), followed by the algorithm's own arrays and parameters. In compiled code, read
  ``state.search.population`` etc. directly: a variable bound to ``state.search`` makes numba reference-count all of
  its arrays at every step, which costs about a quarter of the time of a step on a cheap objective.

One step of an algorithm is exactly the code between two objective evaluations. :func:`run` drives the pair on one of
two paths:

* the *compiled path* runs :func:`search_loop` in numba with a compiled objective kernel
  (:class:`~susmap.optim.compiled.CompiledObjective`: the MLP objective and the test functions), so sequential
  algorithms such as SOS or EFO pay no Python overhead per evaluation;
* the *Python path* calls ``ask``, hands the candidates to an arbitrary Python callable (one call per batch), writes
  the values back and calls ``tell``.

Both paths execute the same compiled steps and draw from the same random stream (the xoshiro256+ state of
:func:`~susmap.optim.base.make_rng`), so for one seed they give bit-identical results whenever the objective returns
identical values. Between the two calls the driver replaces NaN values by +inf (a NaN never wins a comparison) and
counts the evaluations, so ``tell`` sees clean values.

Why each algorithm module still holds a three-line ``loop`` (decorated with :func:`cached_loop`, calling
:func:`search_loop` with its own ``ask`` and ``tell``): numba's on-disk cache is per source file and function, and a
cached function whose arguments include compiled functions gets a fresh cache key in every process (it would
recompile every time, and its cache would grow without bound). So :func:`search_loop` is written once, here and
uncached; it is inlined at numba-IR level into each algorithm's ``loop``, where ``ask`` and ``tell`` are compile-time
constants (no run-time function pointers, which would also forbid caching). Numba finds that ``loop`` again in the
next process, and editing the algorithm's file invalidates it. Editing this file or :mod:`susmap.optim.kernels` does
not (numba tracks only the function's own file): clear the ``__pycache__`` folder after such an edit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numba import njit

from susmap.optim.base import Objective, OptimizeResult, make_rng, sanitize
from susmap.optim.compiled import CompiledObjective
from susmap.optim.kernels import KernelSpec, evaluate_batch

__all__ = ["STATUS_FIELDS", "Search", "cached_loop", "new_search", "run", "search_loop"]

#: Counters every algorithm keeps in ``Search.status``: its phase (0 = the initial population is being evaluated,
#: then algorithm-defined), iterations done, objective evaluations done and the best value found so far.
STATUS_FIELDS = [("phase", np.int64), ("iteration", np.int64), ("evaluations", np.int64), ("best_f", np.float64)]


class Search(NamedTuple):
    """The arrays and counters every algorithm keeps (``state.search``); all are modified in place.

    Attributes
    ----------
    lb, ub : numpy.ndarray
        Search box, shape (dim,).
    population : numpy.ndarray
        The algorithm's vectors (particles, organisms, devices, points of the complexes), shape (pop, dim).
    fitness : numpy.ndarray
        Their objective values, shape (pop,).
    candidates : numpy.ndarray
        Buffer that ``ask`` fills, shape (max_batch, dim).
    values : numpy.ndarray
        Objective values of the candidates, written by the driver for ``tell``, shape (max_batch,).
    history : numpy.ndarray
        Best value after each iteration, shape (iterations,); its length is the iteration budget.
    best_x : numpy.ndarray
        Best vector found so far, shape (dim,).
    status : numpy.ndarray
        One record with the :data:`STATUS_FIELDS` and the algorithm's own integer counters; in compiled code
        ``status[0].phase`` etc. read and write it in place.
    """

    lb: np.ndarray
    ub: np.ndarray
    population: np.ndarray
    fitness: np.ndarray
    candidates: np.ndarray
    values: np.ndarray
    history: np.ndarray
    best_x: np.ndarray
    status: np.ndarray


def new_search(
    lb: np.ndarray, ub: np.ndarray, pop_size: int, max_batch: int, iterations: int, **counters: int
) -> Search:
    """Allocate a :class:`Search` for a population of ``pop_size`` vectors and batches of up to ``max_batch``.

    ``counters`` names the algorithm's own integer counters in ``status`` with their initial values.
    """
    dim = lb.shape[0]
    status = np.zeros(1, dtype=[*STATUS_FIELDS, *((name, np.int64) for name in counters)])
    status["best_f"] = np.inf
    for name, value in counters.items():
        status[name] = value
    return Search(
        lb=lb.copy(),
        ub=ub.copy(),
        population=np.zeros((pop_size, dim)),
        fitness=np.full(pop_size, np.inf),
        candidates=np.zeros((max_batch, dim)),
        values=np.zeros(max_batch),
        history=np.full(iterations, np.nan),
        best_x=lb.copy(),
        status=status,
    )


@njit(inline="always")
def search_loop(ask: Callable, tell: Callable, state: tuple, rng: np.ndarray, objective: KernelSpec) -> None:
    """Run ``ask``/``tell`` to the end of the budget with the compiled objective kernel ``objective``.

    Not cached itself, and inlined into its callers (see the module docstring): each algorithm compiles it into its
    cached ``loop``.
    """
    candidates, values = state.search.candidates, state.search.values
    status = state.search.status[0]
    while True:
        k = ask(state, rng)
        if k == 0:
            break
        evaluate_batch(objective, candidates[:k], values[:k])
        sanitize(values, k)
        status.evaluations += k
        tell(state, k)


def cached_loop(loop: Callable) -> Callable:
    """Decorator compiling an algorithm's ``loop(state, rng, objective)``, which calls :func:`search_loop` with the
    algorithm's ``ask`` and ``tell``, into a function cached on disk (see the module docstring)."""
    return njit(cache=True, error_model="numpy")(loop)


def _values(raw: Any, k: int) -> np.ndarray:
    vals = np.asarray(raw, dtype=np.float64).reshape(-1)
    if vals.shape[0] != k:
        raise ValueError(f"the objective returned {vals.shape[0]} values for {k} candidates")
    return vals


def run(
    algorithm: str,
    state: tuple,
    objective: Objective,
    *,
    steps: tuple[Callable, Callable, Callable],
    seed: int | np.random.Generator | None,
    compiled: bool | None,
    params: dict[str, Any],
) -> OptimizeResult:
    """Run an algorithm to the end of its budget on either path and package the outcome.

    Parameters
    ----------
    algorithm : str
        Registry name reported in the result, e.g. ``"sos"``.
    state : NamedTuple
        The algorithm's state, ``state.search`` a fresh :class:`Search` (modified in place).
    objective : callable
        Batch objective, (k, dim) -> (k,).
    steps : (ask, tell, loop)
        The algorithm's compiled ``ask`` and ``tell`` and its cached compiled loop (see :func:`cached_loop`).
    seed : int, numpy.random.Generator or None
        Seed of the random stream (see :func:`~susmap.optim.base.make_rng`).
    compiled : bool or None
        True to require the compiled path, False to force the Python path, None to pick the compiled path whenever
        ``objective`` is a :class:`CompiledObjective`.
    params : dict
        Population size, iteration budget and the algorithm's parameters as used, for the result.

    Returns
    -------
    OptimizeResult
    """
    ask, tell, loop = steps
    rng, seed_used = make_rng(seed)
    search = state.search
    is_compiled = isinstance(objective, CompiledObjective)
    if compiled and not is_compiled:
        raise TypeError("compiled=True needs a CompiledObjective (MLPObjective or a test function)")
    use_compiled = is_compiled if compiled is None else bool(compiled)
    if is_compiled:
        objective.check_dim(search.lb.shape[0])
    t0 = time.perf_counter()
    if use_compiled:
        loop(state, rng, objective.numba_spec)
    else:
        # evaluations are counted here and stored once: a write into the status record costs a microsecond per step
        candidates, values, evaluations = search.candidates, search.values, 0
        while (k := ask(state, rng)) > 0:
            values[:k] = _values(objective(candidates[:k].copy()), k)
            sanitize(values, k)
            evaluations += k
            tell(state, k)
        search.status["evaluations"] = evaluations
    wall_time_s = time.perf_counter() - t0
    return OptimizeResult(
        x=search.best_x.copy(),
        fun=float(search.status["best_f"][0]),
        history=search.history.copy(),
        n_evaluations=int(search.status["evaluations"][0]),
        wall_time_s=float(wall_time_s),
        algorithm=algorithm,
        params=dict(params),
        compiled=use_compiled,
        seed=seed_used,
    )
