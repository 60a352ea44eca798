"""Population-based MLP training: the presets of paper 002 against the paper's times and mealpy 3.0.2.

First table: objective evaluations per preset (the five presets of papers 002 and 003, plus SCE-MLP with the
printed 1,000 iterations), measured, against the paper's times, each as a ratio to EFO-MLP. The paper reports SCE
cheaper than EFO (715 s vs 1,161 s); the SCE-MLP preset's budget is chosen so that its evaluations are about
EFO's x 715 / 1,161 (see the preset's deviations: ``susmap models``).

Paper 002 trains a 14-5-1 network (tansig hidden layer, purelin output, training MSE) on 238 samples with four
optimizers and names speed as their weakness: 1,161 s (EFO), 715 s (SCE), 91,293 s (SOS) and 2,745 s (ESDA).
This script runs each preset with susmap.optim on a synthetic problem of the same size (14 factors in [0, 1],
238 samples, binary labels from a noisy logistic model, fixed seed), weights and biases searched in [-1, 1], with
the network evaluated in double precision (the default of MLPObjective) and in single precision, and, in the same
run, mealpy 3.0.2 on the same (double-precision) objective and budget where mealpy has the algorithm (EFO, SOS, and
PSO for the extra PSO-DLNN row of paper 003). mealpy calls the same compiled MLP loss, one candidate per call, which
is its interface. Numba compilation is done by a small warm-up run and is not in the times. Prints a table; asserts
nothing.

    python benchmarks/swarm.py                     # full budgets (a few minutes, mostly mealpy's SOS)
    python benchmarks/swarm.py --quick             # budgets divided by 10
    python benchmarks/swarm.py --no-mealpy         # susmap only
    python benchmarks/swarm.py --evaluations-only  # the evaluations table only (about a minute)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from susmap.optim import MLPObjective
from susmap.optim.registry import PAPER_002_PRESETS, PAPER_002_SCE_PRINTED, PAPER_003_PRESETS, TrainingPreset

# mealpy class used for each registry name (mealpy 3.0.2; SCE-UA and ESDA are not in mealpy)
MEALPY_CLASSES = {
    "efo": ("mealpy.physics_based.EFO", "OriginalEFO"),
    "sos": ("mealpy.bio_based.SOS", "OriginalSOS"),
    "pso_constriction": ("mealpy.swarm_based.PSO", "OriginalPSO"),
}


def make_problem(seed: int = 2024, n_samples: int = 238, n_factors: int = 14) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic stand-in for paper 002's data: factors in [0, 1], labels from a noisy logistic model."""
    rng = np.random.default_rng(seed)
    x = rng.random((n_samples, n_factors))
    coef = rng.normal(0.0, 2.0, n_factors)
    logit = (x - 0.5) @ coef + rng.normal(0.0, 0.5, n_samples)
    y = (logit > np.median(logit)).astype(float)
    return x, y


def mealpy_params(preset: TrainingPreset, result_params: dict) -> dict:
    """The same algorithm parameters for mealpy as our run used."""
    if preset.optimizer == "efo":
        return {k: result_params[k] for k in ("r_rate", "ps_rate", "p_field", "n_field")}
    if preset.optimizer == "pso_constriction":
        return {"w": result_params["w"], "c1": result_params["c1"], "c2": result_params["c2"]}
    return {}


def run_mealpy(
    preset: TrainingPreset,
    objective: MLPObjective,
    lb: np.ndarray,
    ub: np.ndarray,
    iterations: int,
    params: dict,
    seed: int,
) -> tuple[float, float]:
    """Run mealpy's version of the preset; returns (wall time s, best training MSE)."""
    import importlib

    from mealpy import FloatVar

    module, name = MEALPY_CLASSES[preset.optimizer]
    cls = getattr(importlib.import_module(module), name)

    def obj_func(solution: np.ndarray) -> float:
        return float(objective(solution[None, :])[0])

    problem = {"obj_func": obj_func, "bounds": FloatVar(lb=lb, ub=ub), "minmax": "min", "log_to": None}
    model = cls(epoch=iterations, pop_size=preset.pop_size, **params)
    t0 = time.perf_counter()
    best = model.solve(problem, seed=seed)
    return time.perf_counter() - t0, float(best.target.fitness)


def evaluations_table(presets: list[TrainingPreset], results: dict, iterations: dict[str, int]) -> None:
    """Print the measured objective evaluations of each preset and the paper's time, both relative to EFO-MLP."""
    evaluations = {name: res.n_evaluations for name, res in results.items()}
    efo = PAPER_002_PRESETS["EFO-MLP"]
    header = (
        f"{'preset':<21} {'pop':>4} {'iter':>6} {'evaluations':>11} {'paper s':>8} {'evals/EFO':>9} "
        f"{'paper s/EFO':>11} {'MSE f64':>8}"
    )
    print("objective evaluations per preset (measured), relative to EFO-MLP")
    print(header)
    print("-" * len(header))
    for p in presets:
        paper = p.paper_time_s
        paper_txt = f"{paper:8,.0f}" if paper is not None else f"{'-':>8}"
        time_ratio = f"{paper / efo.paper_time_s:11.3f}" if paper is not None else f"{'-':>11}"
        ratio = evaluations[p.name] / evaluations[efo.name]
        print(
            f"{p.name:<21} {p.pop_size:>4} {iterations[p.name]:>6} {evaluations[p.name]:>11,} {paper_txt} "
            f"{ratio:9.3f} {time_ratio} {results[p.name].fun:8.5f}",
            flush=True,
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="divide every iteration budget by 10")
    parser.add_argument("--no-mealpy", action="store_true", help="skip the mealpy runs")
    parser.add_argument("--seed", type=int, default=1, help="optimizer seed (same for susmap and mealpy)")
    parser.add_argument("--evaluations-only", action="store_true", help="print the evaluations table only")
    args = parser.parse_args()

    x, y = make_problem()
    objective = MLPObjective(x, y, hidden=5, activation="tanh", output="linear", loss="mse")
    objective32 = MLPObjective(x, y, hidden=5, activation="tanh", output="linear", loss="mse", precision="float32")
    lb, ub = objective.bounds(1.0)
    presets = [*PAPER_002_PRESETS.values(), PAPER_002_SCE_PRINTED, *PAPER_003_PRESETS.values()]
    have_mealpy = False
    if not (args.no_mealpy or args.evaluations_only):
        try:
            import mealpy

            have_mealpy = mealpy.__version__ == "3.0.2"
            if not have_mealpy:
                print(f"mealpy {mealpy.__version__} found, 3.0.2 required: mealpy columns skipped")
        except ImportError:
            print("mealpy not installed: mealpy columns skipped (pip install mealpy==3.0.2)")

    # warm-up: compile every optimizer's loop for this objective type
    for p in presets:
        p.run(objective, (lb, ub), seed=0, pop_size=max(p.pop_size // 10, 10), iterations=2)
        if not args.evaluations_only:
            p.run(objective32, (lb, ub), seed=0, pop_size=max(p.pop_size // 10, 10), iterations=2)

    budgets = {p.name: max(p.iterations // 10, 1) if args.quick else p.iterations for p in presets}
    results = {p.name: p.run(objective, (lb, ub), seed=args.seed, iterations=budgets[p.name]) for p in presets}
    print(f"14-{objective.layer_sizes[1]}-1 MLP, {objective.n_weights} weights, {objective.n_samples} samples")
    evaluations_table(presets, results, budgets)
    if args.evaluations_only:
        return

    header = (
        f"{'preset':<21} {'pop':>4} {'iter':>6} {'evals':>9} {'f64 s':>7} {'f32 s':>7} {'paper s':>8} "
        f"{'paper/f64':>9} {'MSE f64':>8} {'MSE f32':>8} {'mealpy s':>9} {'mealpy/f64':>10} {'mealpy MSE':>10}"
    )
    print(header)
    print("-" * len(header))
    totals = {"f64": 0.0, "f32": 0.0, "paper": 0.0}
    for p in presets:
        iterations = budgets[p.name]
        res = results[p.name]
        res32 = p.run(objective32, (lb, ub), seed=args.seed, iterations=iterations)
        paper = p.paper_time_s
        if paper is not None and p is not PAPER_002_SCE_PRINTED:
            totals["f64"] += res.wall_time_s
            totals["f32"] += res32.wall_time_s
            totals["paper"] += paper
        paper_txt = f"{paper:8.0f}" if paper is not None else f"{'-':>8}"
        ratio_txt = f"{paper / res.wall_time_s:9.0f}" if paper is not None else f"{'-':>9}"
        m_txt = f"{'-':>9} {'-':>10} {'-':>10}"
        if have_mealpy and p.optimizer in MEALPY_CLASSES:
            mt, mf = run_mealpy(p, objective, lb, ub, iterations, mealpy_params(p, res.params), args.seed)
            m_txt = f"{mt:9.1f} {mt / res.wall_time_s:10.1f} {mf:10.5f}"
        print(
            f"{p.name:<21} {p.pop_size:>4} {iterations:>6} {res.n_evaluations:>9} {res.wall_time_s:7.2f} "
            f"{res32.wall_time_s:7.2f} {paper_txt} {ratio_txt} {res.fun:8.5f} {res32.fun:8.5f} {m_txt}",
            flush=True,
        )
    scale = " (budgets / 10)" if args.quick else ""
    print(
        f"paper-002 presets together{scale}: {totals['f64']:.1f} s in float64, {totals['f32']:.1f} s in float32; "
        f"paper {totals['paper']:,.0f} s"
    )


if __name__ == "__main__":
    main()
