"""Population-based optimizers (susmap.optim): test functions, the flat-vector MLP objective, reproducibility,
compiled versus Python paths, and mealpy 3.0.2 where it implements the same algorithm."""

from __future__ import annotations

import importlib
import math
from typing import NamedTuple

import numpy as np
import pytest
from numba import njit

from susmap.optim import (
    OPTIMIZERS,
    PAPER_002_PRESETS,
    PAPER_003_PRESETS,
    PSO_2011_C,
    PSO_2011_W,
    MLPObjective,
    ackley,
    as_bounds,
    constriction_coefficient,
    minimize,
    mlp_forward,
    n_weights,
    pack,
    rastrigin,
    rosenbrock,
    sphere,
    unpack,
)
from susmap.optim.base import copy_row, uniform_fill
from susmap.optim.driver import Search, new_search, run, search_loop

# ---------------------------------------------------------------------------------------------------------------------
# reference implementations (plain numpy, written from the definitions)
# ---------------------------------------------------------------------------------------------------------------------


def _ref_function(name: str, x: np.ndarray) -> np.ndarray:
    d = x.shape[1]
    if name == "sphere":
        return np.sum(x**2, axis=1)
    if name == "rosenbrock":
        return np.sum(100.0 * (x[:, 1:] - x[:, :-1] ** 2) ** 2 + (1.0 - x[:, :-1]) ** 2, axis=1)
    if name == "rastrigin":
        return 10.0 * d + np.sum(x**2 - 10.0 * np.cos(2.0 * np.pi * x), axis=1)
    return (
        -20.0 * np.exp(-0.2 * np.sqrt(np.sum(x**2, axis=1) / d))
        - np.exp(np.sum(np.cos(2.0 * np.pi * x), axis=1) / d)
        + 20.0
        + np.e
    )


def _ref_forward(w: np.ndarray, x: np.ndarray, sizes: list[int], act: str, out: str) -> np.ndarray:
    """Hand-written forward pass of the documented flat layout."""
    off = 0
    h = x
    for li in range(len(sizes) - 1):
        nin, nout = sizes[li], sizes[li + 1]
        wm = w[off : off + nin * nout].reshape(nin, nout)
        off += nin * nout
        b = w[off : off + nout]
        off += nout
        z = h @ wm + b
        if li < len(sizes) - 2:
            z = {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0.0), "logistic": lambda v: 1 / (1 + np.exp(-v))}[
                act
            ](z)
        h = z
    h = h[:, 0]
    return 1.0 / (1.0 + np.exp(-h)) if out == "sigmoid" else h


@pytest.fixture(scope="module")
def small_mlp() -> MLPObjective:
    """6-4-1 network on 80 noisy samples: a training MSE that cannot reach 0."""
    rng = np.random.default_rng(7)
    x = rng.random((80, 6))
    y = ((x - 0.5) @ rng.normal(size=6) + rng.normal(size=80) > 0).astype(float)
    return MLPObjective(x, y, hidden=4)


# ---------------------------------------------------------------------------------------------------------------------
# objectives
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [sphere, rosenbrock, rastrigin, ackley], ids=lambda f: f.name)
def test_test_functions_match_definitions_and_optimum(fn):
    rng = np.random.default_rng(0)
    lb, ub = fn.bounds(12)
    x = lb + rng.random((50, 12)) * (ub - lb)
    got = fn(x)
    np.testing.assert_allclose(got, _ref_function(fn.name, x), rtol=1e-12, atol=1e-12)
    # batched evaluation equals the per-candidate loop, bit for bit
    assert np.array_equal(got, np.array([fn(row[None])[0] for row in x]))
    assert abs(fn(fn.x_opt(12)[None])[0] - fn.f_opt) < 1e-12


def test_mlp_unpack_pack_and_forward_equal_hand_written():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 3))
    sizes = [3, 4, 2, 1]
    assert n_weights(sizes) == 3 * 4 + 4 + 4 * 2 + 2 + 2 * 1 + 1
    w = rng.normal(size=(6, n_weights(sizes)))
    layers = unpack(w[0], sizes)
    assert [lw.shape for lw, _ in layers] == [(3, 4), (4, 2), (2, 1)]
    assert [b.shape for _, b in layers] == [(4,), (2,), (1,)]
    assert np.array_equal(pack(layers), w[0])
    for act in ("tanh", "relu", "logistic"):
        for out in ("linear", "sigmoid"):
            got = mlp_forward(w, x, sizes, act, out)
            want = np.array([_ref_forward(wi, x, sizes, act, out) for wi in w])
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)


def test_mlp_tanh_accuracy_over_the_whole_range():
    # a 1-1-1 network with unit weights outputs tanh(x) itself
    x = np.concatenate([np.linspace(-25, 25, 20001), np.logspace(-12, 1.3, 500), -np.logspace(-12, 1.3, 500)])
    got = mlp_forward(np.array([1.0, 0.0, 1.0, 0.0]), x[:, None], [1, 1, 1])
    want = np.tanh(x)
    assert np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-300)) < 4e-15


def test_mlp_objective_losses_and_batching(small_mlp):
    rng = np.random.default_rng(2)
    w = rng.uniform(-1, 1, (40, small_mlp.n_weights))
    x, y = small_mlp.numba_spec.inputs.T, small_mlp.numba_spec.targets
    pred = np.array([_ref_forward(wi, x, list(small_mlp.layer_sizes), "tanh", "linear") for wi in w])
    losses = small_mlp(w)
    np.testing.assert_allclose(losses, np.mean((pred - y) ** 2, axis=1), rtol=1e-13)
    assert np.array_equal(losses, np.array([small_mlp(wi) for wi in w]))  # batch == one by one
    np.testing.assert_allclose(small_mlp.forward(w), pred, rtol=1e-13, atol=1e-14)
    xent = MLPObjective(x, y, hidden=4, output="sigmoid", loss="cross_entropy")
    p = 1.0 / (1.0 + np.exp(-pred))
    want = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p), axis=1)
    np.testing.assert_allclose(xent(w), want, rtol=1e-12)
    with pytest.raises(ValueError, match="sigmoid"):
        MLPObjective(x, y, loss="cross_entropy")
    with pytest.raises(ValueError, match="length"):
        small_mlp(np.zeros((2, small_mlp.n_weights + 1)))


def test_mlp_single_precision(small_mlp):
    x, y = small_mlp.numba_spec.inputs.T, small_mlp.numba_spec.targets
    o32 = MLPObjective(x, y, hidden=4, precision="float32")
    w = np.random.default_rng(3).uniform(-1, 1, (40, small_mlp.n_weights))
    np.testing.assert_allclose(o32(w), small_mlp(w), rtol=2e-6)
    assert np.array_equal(o32(w), np.array([o32(wi) for wi in w]))
    np.testing.assert_allclose(o32.forward(w), small_mlp.forward(w), rtol=1e-5, atol=1e-6)
    t = np.linspace(-25, 25, 20001)
    got = mlp_forward(np.array([1.0, 0.0, 1.0, 0.0]), t[:, None], [1, 1, 1], precision="float32")
    assert np.max(np.abs(got - np.tanh(t))) < 3e-7
    a = minimize("sos", o32, o32.bounds(), pop_size=10, iterations=10, seed=4)
    b = minimize("sos", o32, o32.bounds(), pop_size=10, iterations=10, seed=4, compiled=False)
    assert a.compiled and not b.compiled and np.array_equal(a.history, b.history)
    with pytest.raises(ValueError, match="precision"):
        MLPObjective(x, y, precision="float16")


# ---------------------------------------------------------------------------------------------------------------------
# optimizers reach the known optima
# ---------------------------------------------------------------------------------------------------------------------

# (algorithm, function, dim, pop_size, iterations, tolerance on the median of seeds 0, 1, 2)
# Tolerances state what each original algorithm reaches at that budget; global-best PSO and ESDA stop in local
# minima of Rastrigin-10 (a few units above 0), which the tolerance says.
CASES = [
    ("pso", sphere, 10, 40, 1000, 1e-30),
    ("pso", ackley, 10, 40, 1000, 1e-10),
    ("pso", rastrigin, 10, 100, 2000, 15.0),
    ("pso_constriction", rosenbrock, 10, 40, 5000, 1e-2),
    ("pso_constriction", sphere, 30, 40, 2000, 1e-20),
    ("efo", sphere, 10, 35, 40000, 1e-100),
    ("efo", rastrigin, 10, 35, 40000, 1e-10),
    ("efo", rosenbrock, 10, 35, 40000, 1e-2),
    ("efo", ackley, 10, 35, 40000, 1e-10),
    ("sos", sphere, 30, 30, 300, 1e-30),
    ("sos", rastrigin, 10, 30, 300, 1e-10),
    ("sos", rosenbrock, 10, 30, 1500, 1e-3),
    ("sos", ackley, 10, 30, 300, 1e-10),
    ("sceua", sphere, 10, 2, 100, 1e-20),
    ("sceua", rosenbrock, 10, 3, 400, 1e-10),
    ("sceua", rastrigin, 10, 10, 200, 1e-6),
    ("sceua", ackley, 10, 2, 200, 1e-10),
    ("esda", sphere, 10, 60, 600, 1e-15),
    ("esda", rosenbrock, 10, 60, 3000, 1e-3),
    ("esda", ackley, 10, 150, 1000, 1e-10),
    ("esda", rastrigin, 10, 150, 2000, 15.0),
]


@pytest.mark.parametrize(("name", "fn", "dim", "pop", "iters", "tol"), CASES, ids=lambda v: getattr(v, "name", v))
def test_optimizer_reaches_optimum(name, fn, dim, pop, iters, tol):
    results = [minimize(name, fn, fn.bounds(dim), pop_size=pop, iterations=iters, seed=s) for s in range(3)]
    vals = [r.fun for r in results]
    assert np.median(vals) <= tol, vals
    for r in results:
        assert r.compiled
        assert r.x.shape == (dim,)
        assert r.history.shape == (iters,)
        assert np.all(np.diff(r.history) <= 0)  # best-so-far never gets worse
        assert r.history[-1] == r.fun
        assert abs(fn(r.x[None])[0] - r.fun) <= 1e-12 * max(1.0, abs(r.fun))
        assert np.all(r.x >= fn.bounds(dim)[0]) and np.all(r.x <= fn.bounds(dim)[1])


def test_evaluation_counts():
    b = rastrigin.bounds(5)
    assert minimize("pso", rastrigin, b, pop_size=10, iterations=7, seed=0).n_evaluations == 10 * 8
    assert minimize("efo", rastrigin, b, pop_size=20, iterations=7, seed=0).n_evaluations == 20 + 7
    assert minimize("sos", rastrigin, b, pop_size=10, iterations=7, seed=0).n_evaluations == 10 * (1 + 4 * 7)
    res = minimize("esda", rastrigin, b, pop_size=30, iterations=7, seed=0)
    assert res.n_evaluations == 30 + 7 * 2 * 10 and res.params["archive_size"] == 10
    res = minimize("sceua", rastrigin, b, pop_size=2, iterations=3, seed=0)
    p, m, beta = 2, res.params["points_per_complex"], res.params["beta"]
    assert (m, res.params["subcomplex_size"], beta) == (11, 6, 11)  # Duan et al. 1994: 2n + 1, n + 1, 2n + 1
    assert p * m + 3 * p * beta <= res.n_evaluations <= p * m + 3 * 3 * p * beta


# ---------------------------------------------------------------------------------------------------------------------
# reproducibility, and the compiled loop against the Python loop
# ---------------------------------------------------------------------------------------------------------------------

BUDGETS = {
    "pso": (20, 60),
    "pso_constriction": (20, 60),
    "efo": (20, 800),
    "sos": (12, 25),
    "sceua": (2, 6),
    "esda": (24, 40),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_seed_reproducibility_and_python_path_identical(name, small_mlp):
    pop, iters = BUDGETS[name]
    lb, ub = rastrigin.bounds(8)
    a = minimize(name, rastrigin, (lb, ub), pop_size=pop, iterations=iters, seed=11)
    b = minimize(name, rastrigin, (lb, ub), pop_size=pop, iterations=iters, seed=11)
    c = minimize(name, rastrigin, (lb, ub), pop_size=pop, iterations=iters, seed=12)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.history, b.history) and a.fun == b.fun
    assert not np.array_equal(a.history, c.history)
    # the same steps driven from Python with an arbitrary callable give the same run, bit for bit
    py = minimize(name, lambda cand: rastrigin(cand), (lb, ub), pop_size=pop, iterations=iters, seed=11)
    assert not py.compiled and a.compiled
    assert np.array_equal(a.x, py.x) and np.array_equal(a.history, py.history)
    assert a.n_evaluations == py.n_evaluations
    # and on the MLP objective
    mb = small_mlp.bounds(1.0)
    m1 = minimize(name, small_mlp, mb, pop_size=pop, iterations=iters, seed=3)
    m2 = minimize(name, small_mlp, mb, pop_size=pop, iterations=iters, seed=3, compiled=False)
    assert np.array_equal(m1.history, m2.history) and m1.fun == m2.fun


# a minimal algorithm plugged into the driver: pure random search, one batch of uniform draws per iteration


class RandomSearchState(NamedTuple):
    search: Search
    batch: int


@njit
def _random_search_ask(state: RandomSearchState, rng: np.ndarray) -> int:
    search = state.search
    if search.status[0].iteration >= search.history.shape[0]:
        return 0
    uniform_fill(rng, search.lb, search.ub, search.candidates[: state.batch])
    return state.batch


@njit
def _random_search_tell(state: RandomSearchState, k: int) -> None:
    search = state.search
    status = search.status[0]
    for i in range(k):
        if search.values[i] < status.best_f:
            status.best_f = search.values[i]
            copy_row(search.best_x, search.candidates[i])
    search.history[status.iteration] = status.best_f
    status.iteration += 1


@njit
def _random_search_loop(state: RandomSearchState, rng: np.ndarray, objective: tuple) -> None:
    search_loop(_random_search_ask, _random_search_tell, state, rng, objective)


def test_driver_runs_a_plugged_in_algorithm_on_both_paths():
    lb, ub = rastrigin.bounds(4)
    steps = (_random_search_ask, _random_search_tell, _random_search_loop)

    def random_search(objective, compiled=None):
        state = RandomSearchState(new_search(lb, ub, 0, 8, 30), 8)
        return run("random", state, objective, steps=steps, seed=2, compiled=compiled, params={"batch": 8})

    fast = random_search(rastrigin)
    slow = random_search(lambda x: np.where(x[:, 0] > 0, np.nan, rastrigin(x)))  # NaN never wins
    assert fast.compiled and not slow.compiled and fast.n_evaluations == slow.n_evaluations == 8 * 30
    assert np.all(np.diff(fast.history) <= 0) and fast.history[-1] == fast.fun == rastrigin(fast.x[None])[0]
    assert np.isfinite(slow.fun) and slow.x[0] <= 0
    same = random_search(lambda x: rastrigin(x), compiled=False)
    assert np.array_equal(fast.x, same.x) and np.array_equal(fast.history, same.history)


@pytest.mark.parametrize("module", ["pso", "efo", "sceua", "sos", "esda"])
def test_compiled_loops_are_cached_on_disk(module):
    """Each algorithm's loop must stay cacheable: no run-time function pointers (see susmap.optim.driver)."""
    mod = importlib.import_module(f"susmap.optim.{module}")
    minimize(module, sphere, sphere.bounds(3), pop_size=12, iterations=2, seed=0)
    assert mod.loop.stats.cache_path is not None
    assert mod.loop.overloads and not any(c.library.has_dynamic_globals for c in mod.loop.overloads.values())


def test_generator_seed_and_plain_numpy_objective():
    gen = np.random.default_rng(5)
    res = minimize("sos", lambda x: np.sum(x**2, axis=1), (-5.0, 5.0), dim=4, pop_size=10, iterations=50, seed=gen)
    assert res.seed is None and res.fun < 1e-10 and not res.compiled
    with pytest.raises(TypeError):
        minimize("sos", sphere, sphere.bounds(3), pop_size=10, iterations=2, seed=1.5)


# ---------------------------------------------------------------------------------------------------------------------
# API details
# ---------------------------------------------------------------------------------------------------------------------


def test_bounds_parameters_and_errors():
    lb, ub = as_bounds((-1.0, [1.0, 2.0, 3.0]))
    assert lb.tolist() == [-1.0, -1.0, -1.0] and ub.tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="dim"):
        as_bounds((-1.0, 1.0))
    with pytest.raises(ValueError, match="below"):
        as_bounds((1.0, 1.0), dim=2)
    with pytest.raises(ValueError, match="unknown optimizer"):
        minimize("ga", sphere, sphere.bounds(2), pop_size=10, iterations=2)
    with pytest.raises(TypeError):
        minimize("sos", lambda x: x.sum(1), sphere.bounds(2), pop_size=10, iterations=2, compiled=True)
    with pytest.raises(ValueError, match="empty"):
        minimize("efo", sphere, sphere.bounds(2), pop_size=4, iterations=2)
    assert math.isclose(PSO_2011_W, 0.7213475204444817) and math.isclose(PSO_2011_C, 1.1931471805599454)
    chi = constriction_coefficient(2.05, 2.05)
    assert abs(chi - 0.7298) < 1e-4 and abs(chi * 2.05 - 1.4962) < 1e-4  # paper 003 Table 7: 0.73, 1.49
    res = minimize("pso_constriction", sphere, sphere.bounds(3), pop_size=10, iterations=3, seed=0)
    assert res.algorithm == "pso_constriction" and math.isclose(res.params["w"], chi)


def test_nan_objective_values_never_win():
    def objective(x: np.ndarray) -> np.ndarray:
        f = np.sum(x**2, axis=1)
        f[x[:, 0] > 0] = np.nan
        return f

    res = minimize("pso", objective, (-1.0, 1.0), dim=3, pop_size=20, iterations=50, seed=0)
    assert np.isfinite(res.fun) and res.x[0] <= 0


def test_paper_presets_run_on_the_mlp(small_mlp):
    assert {p.optimizer for p in PAPER_002_PRESETS.values()} == {"efo", "sceua", "sos", "esda"}
    assert PAPER_002_PRESETS["SOS-MLP"].pop_size == 500 and PAPER_002_PRESETS["EFO-MLP"].iterations == 50_000
    pso003 = PAPER_003_PRESETS["PSO-DLNN"]
    assert (pso003.pop_size, pso003.iterations) == (50, 500)
    start = float(np.median(small_mlp(np.random.default_rng(0).uniform(-1, 1, (50, small_mlp.n_weights)))))
    for p in [*PAPER_002_PRESETS.values(), pso003]:
        res = p.run(small_mlp, small_mlp.bounds(1.0), seed=0, pop_size=max(p.pop_size // 10, 10), iterations=5)
        assert res.fun < start


# ---------------------------------------------------------------------------------------------------------------------
# against mealpy 3.0.2 (test-only dependency)
# ---------------------------------------------------------------------------------------------------------------------

# (our name, mealpy module, mealpy class, mealpy parameters set to ours, pop_size, iterations)
MEALPY_CASES = [
    pytest.param(
        "pso_constriction",
        "mealpy.swarm_based.PSO",
        "OriginalPSO",
        {"w": 0.72984, "c1": 1.49618, "c2": 1.49618},
        20,
        150,
        id="pso",
    ),
    pytest.param(
        "efo",
        "mealpy.physics_based.EFO",
        "OriginalEFO",
        {"r_rate": 0.3, "ps_rate": 0.2, "p_field": 0.1, "n_field": 0.45},
        35,
        2000,
        id="efo",
    ),
    pytest.param("sos", "mealpy.bio_based.SOS", "OriginalSOS", {}, 20, 50, id="sos"),
]


@pytest.mark.slow  # mealpy runs its loops in Python (about 8 s for the three)
@pytest.mark.parametrize(("name", "module", "cls", "mkw", "pop", "iters"), MEALPY_CASES)
def test_not_worse_than_mealpy_on_equal_budget(name, module, cls, mkw, pop, iters, small_mlp):
    mealpy = pytest.importorskip("mealpy")
    if mealpy.__version__ != "3.0.2":
        pytest.skip("the comparison is against mealpy 3.0.2")
    import importlib

    model_cls = getattr(importlib.import_module(module), cls)
    lb, ub = small_mlp.bounds(1.0)
    problem = {
        "obj_func": lambda w: float(small_mlp(w[None, :])[0]),
        "bounds": mealpy.FloatVar(lb=lb, ub=ub),
        "minmax": "min",
        "log_to": None,
    }
    seeds = (0, 1, 2)
    theirs = [model_cls(epoch=iters, pop_size=pop, **mkw).solve(problem, seed=s).target.fitness for s in seeds]
    ours = [minimize(name, small_mlp, (lb, ub), pop_size=pop, iterations=iters, seed=s).fun for s in seeds]
    # training MSE: median over three seeds no more than 5 % above mealpy's
    assert np.median(ours) <= 1.05 * np.median(theirs), (ours, theirs)
