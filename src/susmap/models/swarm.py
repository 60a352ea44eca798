"""Networks trained by population-based optimizers (papers 002 and 003): EFO-, SCE-, SOS-, ESDA-MLP and PSO-DLNN.

Paper 002 (section "Optimization algorithms", Fig. 4) trains an n-5-1
multilayer perceptron (tansig hidden layer, purelin output) without
backpropagation: every candidate of the optimizer is the network's complete
vector of weights and biases, and its fitness is the training mean squared
error between the output and the 0/1 labels. Paper 003 tunes its DLNN with a
particle swarm (PSO-DLNN, Table 7, Fig. 10: convergence of the MSE).

The presets (populations, budgets, sources and every deviation from the
papers) are defined once, in :mod:`susmap.optim.registry`; ``sce_mlp``'s
``paper002`` budget matches the paper's SCE/EFO time ratio (715 s / 1,161 s)
and ``paper002_printed`` keeps the printed 1,000 iterations.

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
the ``pso_dlnn`` preset searches the weights of a 3-3 leaky-ReLU network
(Table 6: "reluLeak 0.01") with
the constriction PSO of Table 7 (pop 50, 500 iterations, φ = 4.1 so
w = 0.7298 and c1 = c2 = 1.496, printed 0.73 / 1.49); searching the DLNN's
settings instead (learning rate, units, epochs, trained by backpropagation)
is :class:`PSOTunedDLNNClassifier`.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedKFold
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from susmap.fit_validation import validated_fit
from susmap.models.checked import CheckedBinaryClassifier
from susmap.optim.kernels import LEAKY_RELU_SLOPE

__all__ = ["PSOTunedDLNNClassifier", "SwarmMLPClassifier", "swarm_factory"]

ACTIVATIONS = ("tanh", "relu", "leaky_relu", "logistic")  # leaky_relu: slope LEAKY_RELU_SLOPE = 0.01 below 0
OUTPUTS = ("linear", "sigmoid")
LOSSES = ("mse", "cross_entropy")


def _act(name: str, z: np.ndarray) -> np.ndarray:
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0.0, z, LEAKY_RELU_SLOPE * z)
    return 1.0 / (1.0 + np.exp(-z))


class SwarmMLPClassifier(CheckedBinaryClassifier, ClassifierMixin, BaseEstimator):
    """MLP whose weights and biases are found by a population-based optimizer.

    Parameters
    ----------
    optimizer : {"efo", "sceua", "sos", "esda", "pso", "pso_constriction"}
        Algorithm of :mod:`susmap.optim`.
    hidden_layer_sizes : sequence of int
        Hidden units per layer (paper 002: one layer of 5).
    activation : {"tanh", "relu", "leaky_relu", "logistic"}
        Hidden activation (tanh = MATLAB tansig; leaky_relu: slope 0.01 below zero, paper 003).
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
    classes_ : numpy.ndarray
        The two labels, sorted (any two: 0/1, -1/1, strings); ``classes_[1]`` is the event (target 1 of the loss).
    n_features_in_ : int
    feature_names_in_ : numpy.ndarray
        Only when ``X`` in ``fit`` had string column names.

    Notes
    -----
    A binary classifier (event / no event). NaN or inf in ``X`` is refused
    (drop nodata rows first): the [-1, 1] scaling has no value for it.
    """

    _parameter_constraints: ClassVar[dict[str, list]] = {
        "optimizer": [str],  # one of susmap.optim.OPTIMIZERS, checked in _check_settings (imported lazily)
        "hidden_layer_sizes": ["array-like"],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "output": [StrOptions(set(OUTPUTS))],
        "loss": [StrOptions(set(LOSSES))],
        "pop_size": [Interval(Integral, 1, None, closed="left")],
        "iterations": [Interval(Integral, 1, None, closed="left")],
        "weight_limit": [Interval(Real, 0, None, closed="neither")],
        "optimizer_params": [Mapping, None],
        "precision": [StrOptions({"float64", "float32"})],
        "seed": [Interval(Integral, 0, None, closed="left")],
    }

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

    def _check_settings(self) -> None:
        """Checks the declared constraints cannot express (ValueError naming the parameter)."""
        from susmap.optim import OPTIMIZERS

        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(sorted(OPTIMIZERS))}, not {self.optimizer!r}")
        if self.loss == "cross_entropy" and self.output != "sigmoid":
            raise ValueError("loss 'cross_entropy' needs output 'sigmoid'")
        sizes = self.hidden_layer_sizes
        if (
            isinstance(sizes, str)
            or not len(sizes)
            or not all(isinstance(u, Integral) and not isinstance(u, bool) and u > 0 for u in sizes)
        ):
            raise ValueError(f"hidden_layer_sizes must be positive integers, not {self.hidden_layer_sizes!r}")

    @property
    def layer_sizes_(self) -> tuple[int, ...]:
        return (self.n_features_in_, *(int(h) for h in self.hidden_layer_sizes), 1)

    def _scale(self, X) -> np.ndarray:  # noqa: N803
        """Validated ``X`` min-max scaled to [-1, 1] by the training range (a constant factor maps to 0)."""
        span = self.data_max_ - self.data_min_
        safe = np.where(span > 0, span, 1.0)
        return np.where(span > 0, 2.0 * (X - self.data_min_) / safe - 1.0, 0.0)

    @validated_fit
    def fit(self, X, y):  # noqa: N803
        """Optimize the weights on ``X`` (n, n_factors) and binary labels ``y``."""
        from susmap.optim import MLPObjective, minimize

        self._check_settings()  # the declared constraints were checked by validated_fit
        X, y = validate_data(self, X, y, dtype=np.float64)  # noqa: N806
        check_classification_targets(y)
        classes, y_idx = np.unique(y, return_inverse=True)
        if classes.size != 2:
            raise ValueError(
                f"Only binary classification is supported: {type(self).__name__} is a binary classifier; "
                f"y has {classes.size} class(es), it needs two (event, no event)"
            )
        self.classes_ = classes
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
        check_is_fitted(self, "coefs_")
        h = self._scale(validate_data(self, X, reset=False, dtype=np.float64))
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
        event = self.predict_proba(X)[:, 1] >= 0.5  # first: NotFittedError before any fitted attribute is read
        return self.classes_[event.astype(int)]


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


class PSOTunedDLNNClassifier(CheckedBinaryClassifier, ClassifierMixin, BaseEstimator):
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

    Attributes
    ----------
    best_params_ : dict
        The best setting found (learning_rate, hidden_layer_sizes, epochs).
    model_ : DLNNClassifier
        Fitted with ``best_params_`` on all training rows.
    classes_ : numpy.ndarray
        The two labels, sorted.
    convergence_ : numpy.ndarray
        Best fitness after each iteration.
    n_features_in_ : int
    """

    _parameter_constraints: ClassVar[dict[str, list]] = {
        "hidden_layers": [Interval(Integral, 1, None, closed="left")],
        "units": ["array-like"],
        "learning_rate": ["array-like"],
        "epochs": ["array-like"],
        "pop_size": [Interval(Integral, 1, None, closed="left")],
        "iterations": [Interval(Integral, 1, None, closed="left")],
        "inner_folds": [Interval(Integral, 2, None, closed="left")],
        "seed": [Interval(Integral, 0, None, closed="left")],
    }

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

    def _check_settings(self) -> None:
        """Each searched range a pair (low, high), low <= high: units and epochs >= 1, learning rates > 0."""
        for name, floor in (("units", "1 <="), ("learning_rate", "0 <"), ("epochs", "1 <=")):
            pair = getattr(self, name)
            ok = not isinstance(pair, str) and len(pair) == 2
            ok = ok and all(isinstance(v, Real) and not isinstance(v, bool) and np.isfinite(v) for v in pair)
            above = ok and (pair[0] > 0 if name == "learning_rate" else pair[0] >= 1)
            if not (above and pair[0] <= pair[1]):
                raise ValueError(f"{name} must be a range (low, high) with {floor} low <= high, not {pair!r}")

    def _settings(self, v: np.ndarray) -> dict[str, Any]:
        n = int(self.hidden_layers)
        return {
            "learning_rate": float(10.0 ** v[0]),
            "hidden_layer_sizes": tuple(round(float(u)) for u in v[1 : 1 + n]),
            "epochs": round(float(v[1 + n])),
        }

    @validated_fit
    def fit(self, X, y):  # noqa: N803
        """Search the settings on ``X`` (n, n_factors) and binary labels ``y``, then fit the best on all rows."""
        from susmap.models.dlnn import DLNNClassifier
        from susmap.optim import minimize

        self._check_settings()  # the declared constraints were checked by validated_fit
        X, y = validate_data(self, X, y, dtype=np.float64)  # noqa: N806
        check_classification_targets(y)
        n_classes = np.unique(y).size
        if n_classes != 2:
            raise ValueError(
                f"Only binary classification is supported: {type(self).__name__} is a binary classifier; "
                f"y has {n_classes} class(es), it needs two (event, no event)"
            )
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
        """(n, 2) probabilities of the fitted best DLNN, columns in ``classes_`` order."""
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(validate_data(self, X, reset=False, dtype=np.float64))

    def predict(self, X) -> np.ndarray:  # noqa: N803
        """The more probable class of each row."""
        check_is_fitted(self, "model_")
        return self.model_.predict(validate_data(self, X, reset=False, dtype=np.float64))


# --------------------------------------------------------------------------- registry entries

from susmap.models.registry import ModelSpec, register_model  # noqa: E402
from susmap.optim.registry import PAPER_002_PRESETS, PAPER_002_SCE_PRINTED, PAPER_003_PRESETS  # noqa: E402

# The presets are defined once, with their sources and deviations, in susmap.optim.registry; here they become the
# registry models' presets and defaults.
_PAPER002_MODELS = {"efo_mlp": "EFO-MLP", "sce_mlp": "SCE-MLP", "sos_mlp": "SOS-MLP", "esda_mlp": "ESDA-MLP"}
_CITES = {
    "efo": "electromagnetic field optimization (Abedinpourshotorban et al. 2016)",
    "sceua": "shuffled complex evolution SCE-UA (Duan et al. 1992)",
    "sos": "symbiotic organisms search (Cheng & Prayogo 2014)",
    "esda": "electrostatic discharge algorithm (Bouchekara 2019)",
}
#: The method origin of each optimizer (keys of susmap.references), after paper 002 (xu2024).
_OPTIMIZER_REFERENCES = {
    "efo": ("abedinpourshotorban2016",),
    "sceua": ("duan1992", "duan1994"),
    "sos": ("cheng2014",),
    "esda": ("bouchekara2019",),
}
for _name, _key in _PAPER002_MODELS.items():
    _training = PAPER_002_PRESETS[_key]
    _presets = {"paper002": _training.preset()}
    if _training.optimizer == "sceua":
        _presets["paper002_printed"] = PAPER_002_SCE_PRINTED.preset()
    register_model(
        ModelSpec(
            name=_name,
            factory=swarm_factory(_training.optimizer, **_training.model_params()),
            description=f"n-5-1 MLP (tansig, purelin) trained by {_CITES[_training.optimizer]}, paper 002; "
            f"defaults = preset paper002: pop {_training.pop_size} x {_training.iterations:,} iterations",
            scale=False,  # min-max scaled to [-1, 1] inside, part of the exported formula
            presets=_presets,
            references=("xu2024", *_OPTIMIZER_REFERENCES[_training.optimizer]),
        )
    )
_PSO_DLNN = PAPER_003_PRESETS["PSO-DLNN"]
#: Paper 003: Table 6 network (two hidden layers of 3, leaky ReLU 0.01), Table 7 PSO (pop 50, 500 it., phi 4.1).
PSO_DLNN_PAPER003 = _PSO_DLNN.model_params()
register_model(
    ModelSpec(
        name="pso_dlnn",
        references=("band2020", "kennedy1995", "clerc2002"),
        factory=swarm_factory(_PSO_DLNN.optimizer, **PSO_DLNN_PAPER003),
        description="DLNN 3-3 (leaky ReLU 0.01, sigmoid output) whose weights are searched by constriction PSO "
        "(phi 4.1: w 0.73, c1 = c2 = 1.49), paper 003; defaults = preset paper003: pop 50 x 500",
        scale=False,
        presets={"paper003": _PSO_DLNN.preset()},
    )
)
register_model(
    ModelSpec(
        name="swarm_mlp",
        references=(
            "xu2024",
            "kennedy1995",
            "clerc2002",
            *(key for keys in _OPTIMIZER_REFERENCES.values() for key in keys),
        ),
        factory=SwarmMLPClassifier,
        description="MLP trained by any optimizer of susmap.optim (optimizer: pso, pso_constriction, efo, sceua, "
        "sos, esda)",
        scale=False,
    )
)
register_model(
    ModelSpec(
        name="pso_tuned_dlnn",
        references=("band2020", "kennedy1995", "shi1998", "kingma2015", "paszke2019"),
        factory=PSOTunedDLNNClassifier,
        description="DLNN (backpropagation) whose learning rate, units and epochs are searched by PSO "
        "(the settings reading of paper 003)",
        requires=("torch", "deep"),
    )
)
