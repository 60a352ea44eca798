"""Networks trained by population-based optimizers (papers 002 and 003): EFO-, SCE-, SOS-, ESDA-MLP and PSO-DLNN.

Paper 002 (section "Optimization algorithms", Fig. 4) trains an n-5-1
multilayer perceptron (tansig hidden layer, purelin output) without
backpropagation: every candidate of the optimizer is the network's complete
vector of weights and biases, and its fitness is the training mean squared
error between the output and the 0/1 labels. Paper 003 tunes its DLNN with a
particle swarm (PSO-DLNN, Table 7, Fig. 10: convergence of the MSE).

:class:`SwarmMLPClassifier` does both with :mod:`susmap.optim`: the whole
population's loss is one compiled call (:class:`susmap.optim.MLPObjective`)
and the sequential algorithms run compiled loops. Inputs are min-max scaled
to [-1, 1] with the training rows' range (MATLAB's ``mapminmax``, the
scaling of the papers' toolboxes), so the trained network is a closed
formula of the raw factors (:mod:`susmap.models.formula`, paper 002 eqs. 6-7).
Outputs: with a linear (purelin) output the network value is the
"landslide susceptibility value" V_LS of paper 002, and the probability of an
event is V_LS clipped to [0, 1]; with a sigmoid output it is the probability.

What paper 003's PSO tunes is not stated (weights or settings of the DLNN):
the ``pso_dlnn`` preset searches the weights of a 3-3 network (Table 6) with
the constriction PSO of Table 7 (pop 50, 500 iterations, φ = 4.1 so
w = 0.7298 and c1 = c2 = 1.496, printed 0.73 / 1.49); searching the DLNN's
settings instead (learning rate, units, epochs, trained by backpropagation)
is :class:`PSOTunedDLNNClassifier`.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedKFold

__all__ = ["PSOTunedDLNNClassifier", "SwarmMLPClassifier", "swarm_factory"]

ACTIVATIONS = ("tanh", "relu", "logistic")
OUTPUTS = ("linear", "sigmoid")
LOSSES = ("mse", "cross_entropy")


def _act(name: str, z: np.ndarray) -> np.ndarray:
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    return 1.0 / (1.0 + np.exp(-z))


class SwarmMLPClassifier(ClassifierMixin, BaseEstimator):
    """MLP whose weights and biases are found by a population-based optimizer.

    Parameters
    ----------
    optimizer : {"efo", "sceua", "sos", "esda", "pso", "pso_constriction"}
        Algorithm of :mod:`susmap.optim`.
    hidden_layer_sizes : sequence of int
        Hidden units per layer (paper 002: one layer of 5).
    activation : {"tanh", "relu", "logistic"}
        Hidden activation (tanh = MATLAB tansig).
    output : {"linear", "sigmoid"}
        Output transform (linear = purelin).
    loss : {"mse", "cross_entropy"}
        Training objective (cross-entropy needs the sigmoid output).
    pop_size : int
        Population size (SCE-UA: number of complexes).
    iterations : int
        Iteration budget (what one iteration is depends on the algorithm,
        see :class:`susmap.optim.OptimizeResult`).
    weight_limit : float
        Every weight and bias is searched in [-limit, limit].
    optimizer_params : dict, optional
        Extra parameters of the algorithm (e.g. ``{"w": 0.73}`` for PSO).
    precision : {"float64", "float32"}
        Arithmetic of the objective (float32: about twice as fast).
    seed : int
        Seeds the optimizer.

    Attributes
    ----------
    coefs_ : list of (W, b)
        Weights (n_in, n_out) and biases per layer.
    convergence_ : numpy.ndarray
        Best training loss after each iteration (paper 002 Fig. 5, 003 Fig. 10).
    optimization_time_ : float
        Wall time of the optimization [s].
    n_evaluations_ : int
    best_loss_ : float
    data_min_, data_max_ : numpy.ndarray
        Training range of each input (for the [-1, 1] scaling).
    """

    def __init__(
        self,
        optimizer: str = "efo",
        hidden_layer_sizes: Sequence[int] = (5,),
        activation: str = "tanh",
        output: str = "linear",
        loss: str = "mse",
        pop_size: int = 35,
        iterations: int = 50_000,
        weight_limit: float = 1.0,
        optimizer_params: Mapping[str, Any] | None = None,
        precision: str = "float64",
        seed: int = 0,
    ) -> None:
        self.optimizer = optimizer
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output = output
        self.loss = loss
        self.pop_size = pop_size
        self.iterations = iterations
        self.weight_limit = weight_limit
        self.optimizer_params = optimizer_params
        self.precision = precision
        self.seed = seed

    def check_params(self) -> None:
        """Refuse impossible settings with a ValueError naming the parameter."""
        from susmap.optim import OPTIMIZERS

        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(sorted(OPTIMIZERS))}, not {self.optimizer!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, not {self.activation!r}")
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, not {self.output!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, not {self.loss!r}")
        if self.loss == "cross_entropy" and self.output != "sigmoid":
            raise ValueError("loss 'cross_entropy' needs output 'sigmoid'")
        sizes = list(self.hidden_layer_sizes)
        if not sizes or not all(isinstance(u, int) and u > 0 for u in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers, not {self.hidden_layer_sizes!r}")
        for name in ("pop_size", "iterations"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value > 0):
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if not self.weight_limit > 0:
            raise ValueError(f"weight_limit must be positive, not {self.weight_limit!r}")

    @property
    def layer_sizes_(self) -> tuple[int, ...]:
        return (self.n_features_in_, *(int(h) for h in self.hidden_layer_sizes), 1)

    def _scale(self, X) -> np.ndarray:  # noqa: N803
        X = np.asarray(X, dtype=np.float64)  # noqa: N806
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must be (n, {self.n_features_in_}) factors, got shape {X.shape}")
        span = self.data_max_ - self.data_min_
        safe = np.where(span > 0, span, 1.0)
        return np.where(span > 0, 2.0 * (X - self.data_min_) / safe - 1.0, 0.0)

    def fit(self, X, y):  # noqa: N803
        """Optimize the weights on ``X`` (n, n_factors) and binary labels ``y``."""
        from susmap.optim import MLPObjective, minimize

        self.check_params()
        X = np.asarray(X, dtype=np.float64)  # noqa: N806
        if X.ndim != 2:
            raise ValueError(f"X must be a table (n, n_factors), got shape {X.shape}")
        classes, y_idx = np.unique(np.asarray(y), return_inverse=True)
        if classes.size != 2:
            raise ValueError(f"{type(self).__name__} is a binary classifier; y has {classes.size} class(es)")
        self.classes_ = classes
        self.n_features_in_ = int(X.shape[1])
        self.data_min_ = X.min(axis=0)
        self.data_max_ = X.max(axis=0)
        objective = MLPObjective(
            self._scale(X),
            y_idx.astype(np.float64),
            hidden=tuple(self.hidden_layer_sizes),
            activation=self.activation,
            output=self.output,
            loss=self.loss,
            precision=self.precision,
        )
        result = minimize(
            self.optimizer,
            objective,
            objective.bounds(float(self.weight_limit)),
            pop_size=int(self.pop_size),
            iterations=int(self.iterations),
            seed=int(self.seed),
            **dict(self.optimizer_params or {}),
        )
        self.weights_ = np.asarray(result.x, dtype=np.float64)
        self.coefs_ = objective.unpack(self.weights_)
        self.convergence_ = np.asarray(result.history, dtype=np.float64)
        self.optimization_time_ = float(result.wall_time_s)
        self.n_evaluations_ = int(result.n_evaluations)
        self.best_loss_ = float(result.fun)
        return self

    def network_output(self, X) -> np.ndarray:  # noqa: N803
        """The network's output for raw factors ``X``: V_LS (linear output) or the event probability (sigmoid).

        Exact float64 numpy forward pass; :func:`susmap.models.formula.network_formula` writes the same
        computation as an equation and a standalone Python function.
        """
        if not hasattr(self, "coefs_"):
            raise ValueError(f"this {type(self).__name__} is not fitted yet; call fit first")
        h = self._scale(X)
        for W, b in self.coefs_[:-1]:  # noqa: N806
            h = _act(self.activation, h @ W + b)
        W, b = self.coefs_[-1]  # noqa: N806
        out = (h @ W + b)[:, 0]
        return 1.0 / (1.0 + np.exp(-out)) if self.output == "sigmoid" else out

    def predict_proba(self, X) -> np.ndarray:  # noqa: N803
        """(n, 2) probabilities; with a linear output, P(event) = V_LS clipped to [0, 1]."""
        p = np.clip(self.network_output(X), 0.0, 1.0)
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:  # noqa: N803
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]


def swarm_factory(optimizer: str, **defaults: Any):
    """A registry factory for :class:`SwarmMLPClassifier` with ``optimizer`` fixed and other defaults changed.

    The factory's signature (what a study may set) is the class's, without
    ``optimizer``, with ``defaults`` as the new defaults.
    """

    def factory(**params: Any) -> SwarmMLPClassifier:
        return SwarmMLPClassifier(optimizer=optimizer, **{**defaults, **params})

    sig = inspect.signature(SwarmMLPClassifier)
    factory.__signature__ = sig.replace(  # type: ignore[attr-defined]
        parameters=[
            p.replace(default=defaults.get(p.name, p.default)) for p in sig.parameters.values() if p.name != "optimizer"
        ]
    )
    factory.__name__ = f"{optimizer}_mlp"
    factory.__doc__ = f"MLP trained by {optimizer} (see SwarmMLPClassifier)."
    return factory


class PSOTunedDLNNClassifier(ClassifierMixin, BaseEstimator):
    """DLNN whose settings are searched by PSO, weights trained by backpropagation (the other reading of paper 003).

    The swarm searches log10(learning rate), the units of each hidden layer
    and the epochs of :class:`susmap.models.dlnn.DLNNClassifier`; a
    particle's fitness is the mean validation cross-entropy over
    ``inner_folds`` stratified folds of the training rows. The best setting
    is then fitted on all training rows. Costly: ``pop_size × (iterations +
    1) × inner_folds`` network fits.

    Parameters
    ----------
    hidden_layers : int
        Number of hidden layers (paper 003: 2).
    units : (int, int)
        Range of units per hidden layer.
    learning_rate : (float, float)
        Range of the learning rate (searched on a log scale).
    epochs : (int, int)
        Range of training epochs.
    pop_size, iterations : int
        Swarm size and iterations (paper 003 Table 7: 50 and 500; defaults are small).
    inner_folds : int
        Folds of the fitness evaluation.
    seed : int
    """

    def __init__(
        self,
        hidden_layers: int = 2,
        units: Sequence[int] = (2, 32),
        learning_rate: Sequence[float] = (1e-4, 1e-1),
        epochs: Sequence[int] = (50, 300),
        pop_size: int = 8,
        iterations: int = 5,
        inner_folds: int = 3,
        seed: int = 0,
    ) -> None:
        self.hidden_layers = hidden_layers
        self.units = units
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.pop_size = pop_size
        self.iterations = iterations
        self.inner_folds = inner_folds
        self.seed = seed

    def _settings(self, v: np.ndarray) -> dict[str, Any]:
        n = int(self.hidden_layers)
        return {
            "learning_rate": float(10.0 ** v[0]),
            "hidden_layer_sizes": tuple(round(float(u)) for u in v[1 : 1 + n]),
            "epochs": round(float(v[1 + n])),
        }

    def fit(self, X, y):  # noqa: N803
        from susmap.models.dlnn import DLNNClassifier
        from susmap.optim import minimize

        X = np.asarray(X, dtype=np.float64)  # noqa: N806
        y = np.asarray(y)
        n = int(self.hidden_layers)
        lb = np.array([np.log10(self.learning_rate[0]), *[self.units[0]] * n, self.epochs[0]], dtype=float)
        ub = np.array([np.log10(self.learning_rate[1]), *[self.units[1]] * n, self.epochs[1]], dtype=float)
        folds = list(StratifiedKFold(int(self.inner_folds), shuffle=True, random_state=self.seed).split(X, y))

        def fitness(pop: np.ndarray) -> np.ndarray:
            values = np.empty(pop.shape[0])
            for k, v in enumerate(pop):
                losses = []
                for tr, te in folds:
                    net = DLNNClassifier(**self._settings(v), validation_fraction=0.0, seed=self.seed)
                    p = np.clip(net.fit(X[tr], y[tr]).predict_proba(X[te])[:, 1], 1e-7, 1 - 1e-7)
                    t = y[te] == net.classes_[1]
                    losses.append(-np.mean(t * np.log(p) + (~t) * np.log(1 - p)))
                values[k] = float(np.mean(losses))
            return values

        result = minimize(
            "pso_constriction",
            fitness,
            (lb, ub),
            pop_size=int(self.pop_size),
            iterations=int(self.iterations),
            seed=int(self.seed),
        )
        self.best_params_ = self._settings(result.x)
        self.convergence_ = np.asarray(result.history)
        self.optimization_time_ = float(result.wall_time_s)
        self.model_ = DLNNClassifier(**self.best_params_, seed=self.seed).fit(X, y)
        self.classes_ = self.model_.classes_
        self.history_ = self.model_.history_
        return self

    def predict_proba(self, X) -> np.ndarray:  # noqa: N803
        return self.model_.predict_proba(X)

    def predict(self, X) -> np.ndarray:  # noqa: N803
        return self.model_.predict(X)


# --------------------------------------------------------------------------- registry entries

from susmap.models.registry import ModelSpec, register_model  # noqa: E402

_P002 = {"hidden_layer_sizes": (5,), "activation": "tanh", "output": "linear", "loss": "mse"}
_PAPER002 = {  # paper 002, section "Optimization algorithms": population x iterations
    "efo": {"pop_size": 35, "iterations": 50_000},
    "sceua": {"pop_size": 10, "iterations": 1000},
    "sos": {"pop_size": 500, "iterations": 1000},
    "esda": {"pop_size": 400, "iterations": 1000},
}
_NAMES = {"efo": "efo_mlp", "sceua": "sce_mlp", "sos": "sos_mlp", "esda": "esda_mlp"}
_CITES = {
    "efo": "electromagnetic field optimization (Abedinpourshotorban et al. 2016)",
    "sceua": "shuffled complex evolution SCE-UA (Duan et al. 1992)",
    "sos": "symbiotic organisms search (Cheng & Prayogo 2014)",
    "esda": "electrostatic discharge algorithm (Bouchekara 2019)",
}
for _opt, _budget in _PAPER002.items():
    register_model(
        ModelSpec(
            name=_NAMES[_opt],
            factory=swarm_factory(_opt, **_P002, **_budget),
            description=f"n-5-1 MLP (tansig, purelin) trained by {_CITES[_opt]}, paper 002; "
            f"defaults = preset paper002: pop {_budget['pop_size']} x {_budget['iterations']:,} iterations",
            scale=False,  # min-max scaled to [-1, 1] inside, part of the exported formula
            presets={"paper002": {**_P002, **_budget}},
        )
    )
#: Paper 003: Table 6 network (two hidden layers of 3, ReLU), Table 7 PSO (pop 50, 500 it., phi 4.1).
PSO_DLNN_PAPER003 = {
    "hidden_layer_sizes": (3, 3),
    "activation": "relu",
    "output": "sigmoid",
    "loss": "mse",
    "pop_size": 50,
    "iterations": 500,
    "optimizer_params": {"phi1": 2.05, "phi2": 2.05},
}
register_model(
    ModelSpec(
        name="pso_dlnn",
        factory=swarm_factory("pso_constriction", **PSO_DLNN_PAPER003),
        description="DLNN 3-3 (ReLU, sigmoid output) whose weights are searched by constriction PSO "
        "(phi 4.1: w 0.73, c1 = c2 = 1.49), paper 003; defaults = preset paper003: pop 50 x 500",
        scale=False,
        presets={"paper003": PSO_DLNN_PAPER003},
    )
)
register_model(
    ModelSpec(
        name="swarm_mlp",
        factory=SwarmMLPClassifier,
        description="MLP trained by any optimizer of susmap.optim (optimizer: pso, pso_constriction, efo, sceua, "
        "sos, esda)",
        scale=False,
    )
)
register_model(
    ModelSpec(
        name="pso_tuned_dlnn",
        factory=PSOTunedDLNNClassifier,
        description="DLNN (backpropagation) whose learning rate, units and epochs are searched by PSO "
        "(the settings reading of paper 003)",
        requires=("torch", "deep"),
    )
)
