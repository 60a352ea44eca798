"""Population-based optimizers for training networks without backpropagation (papers 002 and 003).

One interface for all algorithms: an objective evaluated on a batch of candidate vectors ``(k, dim) -> (k,)``, a
search box, a population size, an iteration budget and a seed; the result carries the best vector, the best value,
the convergence history, the number of evaluations and the wall time.

>>> from susmap.optim import minimize, sphere
>>> res = minimize("sos", sphere, sphere.bounds(10), pop_size=30, iterations=200, seed=1)
>>> res.fun < 1e-8
True

Algorithms (registry names in :data:`OPTIMIZERS`):

* ``"pso"`` / ``"pso_constriction"``: particle swarm optimization, Standard PSO 2011 constants or the Clerc-Kennedy
  constriction form (phi = 4.1, paper 003);
* ``"efo"``: electromagnetic field optimization (Abedinpourshotorban et al. 2016);
* ``"sceua"``: shuffled complex evolution (Duan et al. 1992, 1994);
* ``"sos"``: symbiotic organisms search (Cheng & Prayogo 2014);
* ``"esda"``: electrostatic discharge algorithm (Bouchekara 2019).

Each algorithm is a compiled ``ask``/``tell`` pair on a named state, run by :mod:`susmap.optim.driver`. Objectives
with a compiled kernel (:class:`MLPObjective`, the test functions) run the whole optimization loop in numba; any other
Python callable runs the same compiled steps from a Python loop.

Modules: ``base`` (result type, bounds, seeds, compiled helpers), ``driver`` (the ask/tell driver and the shared
state), one module per algorithm (``pso``, ``efo``, ``sceua``, ``sos``, ``esda``), ``kernels`` (the numba objective
kernels), ``compiled`` (:class:`CompiledObjective`), ``mlp_objective``, ``test_functions`` and ``registry`` (names,
presets and :func:`minimize`).
"""

from susmap.optim.base import OptimizeResult, as_bounds, make_rng
from susmap.optim.compiled import CompiledObjective
from susmap.optim.efo import efo
from susmap.optim.esda import esda
from susmap.optim.mlp_objective import MLPObjective, layer_sizes_for, mlp_forward, n_weights, pack, unpack
from susmap.optim.pso import PSO_2011_C, PSO_2011_W, constriction_coefficient, pso
from susmap.optim.registry import (
    OPTIMIZERS,
    PAPER_002_PRESETS,
    PAPER_002_SCE_PRINTED,
    PAPER_003_PRESETS,
    TrainingPreset,
    minimize,
)
from susmap.optim.sceua import sceua
from susmap.optim.sos import sos
from susmap.optim.test_functions import TEST_FUNCTIONS, TestFunction, ackley, rastrigin, rosenbrock, sphere

__all__ = [
    "OPTIMIZERS",
    "PAPER_002_PRESETS",
    "PAPER_002_SCE_PRINTED",
    "PAPER_003_PRESETS",
    "PSO_2011_C",
    "PSO_2011_W",
    "TEST_FUNCTIONS",
    "CompiledObjective",
    "MLPObjective",
    "OptimizeResult",
    "TestFunction",
    "TrainingPreset",
    "ackley",
    "as_bounds",
    "constriction_coefficient",
    "efo",
    "esda",
    "layer_sizes_for",
    "make_rng",
    "minimize",
    "mlp_forward",
    "n_weights",
    "pack",
    "pso",
    "rastrigin",
    "rosenbrock",
    "sceua",
    "sos",
    "sphere",
    "unpack",
]
