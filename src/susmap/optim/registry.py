"""One entry point for all optimizers, and the training presets of papers 002 and 003."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from susmap.optim.base import BoundsLike, Objective, OptimizeResult
from susmap.optim.efo import efo
from susmap.optim.esda import esda
from susmap.optim.pso import pso
from susmap.optim.sceua import sceua
from susmap.optim.sos import sos

__all__ = ["OPTIMIZERS", "PAPER_002_PRESETS", "PAPER_003_PRESETS", "Preset", "minimize"]


def _pso_constriction(objective: Objective, bounds: BoundsLike, **kwargs: Any) -> OptimizeResult:
    return pso(objective, bounds, variant="constriction", **kwargs)


#: Registry name -> optimizer function (all share the signature of :func:`minimize` without ``name``).
OPTIMIZERS: dict[str, Callable[..., OptimizeResult]] = {
    "pso": pso,
    "pso_constriction": _pso_constriction,
    "efo": efo,
    "sceua": sceua,
    "sos": sos,
    "esda": esda,
}


def minimize(
    name: str,
    objective: Objective,
    bounds: BoundsLike,
    *,
    pop_size: int,
    iterations: int,
    seed: int | np.random.Generator | None = None,
    **params: Any,
) -> OptimizeResult:
    """Minimise a batch objective with a population-based optimizer chosen by name.

    Parameters
    ----------
    name : str
        One of :data:`OPTIMIZERS`: ``"pso"`` (Standard PSO 2011 constants), ``"pso_constriction"`` (Clerc-Kennedy,
        phi = 4.1), ``"efo"``, ``"sceua"``, ``"sos"``, ``"esda"``.
    objective : callable
        Objective on a batch of candidate vectors, ``(k, dim) -> (k,)``. A
        :class:`~susmap.optim.compiled.CompiledObjective` (:class:`~susmap.optim.mlp_objective.MLPObjective`, the
        test functions) makes the whole run compiled.
    bounds : (lb, ub)
        Search box, scalars or vectors (pass ``dim=`` with scalars).
    pop_size : int
        Population size (for SCE-UA: the number of complexes).
    iterations : int
        Iteration budget; see each algorithm for what an iteration is.
    seed : int, numpy.random.Generator or None
        Random seed; the same seed gives the same result.
    **params
        Algorithm parameters (e.g. ``w``, ``c1``, ``c2``, ``variant`` for PSO; ``r_rate``, ``ps_rate``, ``p_field``,
        ``n_field`` for EFO), plus ``dim`` and ``compiled``.

    Returns
    -------
    OptimizeResult
        Best vector, best value, convergence history, evaluations and wall time.
    """
    try:
        fn = OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose from {sorted(OPTIMIZERS)}") from None
    return fn(objective, bounds, pop_size=pop_size, iterations=iterations, seed=seed, **params)


@dataclass(frozen=True)
class Preset:
    """An optimizer configuration published for training a network.

    Attributes
    ----------
    name : str
        Label, e.g. ``"EFO-MLP"``.
    optimizer : str
        Registry name.
    pop_size, iterations : int
        Population size and iteration budget as published.
    params : dict
        Extra optimizer parameters.
    hidden : tuple of int or None
        Hidden layer sizes of the network, None where the preset fixes only the optimizer.
    paper_time_s : float or None
        Training time reported by the paper in seconds.
    source : str
        Where the numbers come from.
    """

    name: str
    optimizer: str
    pop_size: int
    iterations: int
    params: dict[str, Any] = field(default_factory=dict)
    hidden: tuple[int, ...] | None = (5,)
    paper_time_s: float | None = None
    source: str = ""

    def run(
        self, objective: Objective, bounds: BoundsLike, seed: int | None = None, **overrides: Any
    ) -> OptimizeResult:
        """Run this preset (``overrides`` may change ``pop_size``, ``iterations`` or parameters)."""
        kw = {"pop_size": self.pop_size, "iterations": self.iterations, **self.params, **overrides}
        return minimize(self.optimizer, objective, bounds, seed=seed, **kw)


_P002 = "paper 002: n-5-1 MLP (tansig hidden, purelin output), training MSE on 238 samples, 14 factors"
#: Paper 002's four hybrid MLPs with their reported training times.
PAPER_002_PRESETS: dict[str, Preset] = {
    "EFO-MLP": Preset("EFO-MLP", "efo", 35, 50_000, paper_time_s=1161.0, source=_P002),
    "SCE-MLP": Preset("SCE-MLP", "sceua", 10, 1000, paper_time_s=715.0, source=_P002),
    "SOS-MLP": Preset("SOS-MLP", "sos", 500, 1000, paper_time_s=91_293.0, source=_P002),
    "ESDA-MLP": Preset("ESDA-MLP", "esda", 400, 1000, paper_time_s=2745.0, source=_P002),
}
#: Paper 003's PSO-trained network (Table 7: population 50, 500 iterations, phi = 4.1, w = 0.73, c1 = c2 = 1.49).
PAPER_003_PRESETS: dict[str, Preset] = {
    "PSO-DLNN": Preset(
        "PSO-DLNN",
        "pso_constriction",
        50,
        500,
        params={"phi1": 2.05, "phi2": 2.05},
        hidden=None,
        source="paper 003, Table 7 (network architecture set by the estimator)",
    ),
}
