"""Deep learning neural network, DLNN (paper 003, section 2.5.3 and Table 6).

A fully connected feed-forward network: the factors of a cell in, hidden
layers with ReLU (``h(x) = max(0, x)``) or leaky ReLU (slope 0.01 below zero,
Table 6 "reluLeak 0.01"), a softmax output over {no event, event}, trained on
the cross-entropy ``L = -1/N Σ [T ln Y + (1 - T) ln(1 - Y)]`` by Adam (or by
gradient descent). Inputs are standard-scaled inside each fold by the
pipeline (:func:`susmap.models.make_pipeline`).

Paper 003's optimum (Table 6) is the ``paper003`` preset (:data:`PAPER003`):
two hidden layers of 3 units ("3-3"), leaky ReLU 0.01, η = 0.8, 200
iterations, trained by Adam (section 1: the DLNN's units are trained by
Adam), full batch, without dropout or weight decay (the paper names none).
Adam keeps η = 0.8 as printed: on standardized factors the training loss
spikes in the first epochs but does not diverge; the preset's deviations
list this and every other reading of the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import Interval, StrOptions

from susmap.models.torch_base import TorchClassifier, import_torch
from susmap.presets import Preset, deviations

__all__ = ["PAPER003", "PAPER003_PRESET", "DLNNClassifier", "dense_stack"]

#: Paper 003 Table 6, trained by Adam: parameters, source and deviations.
PAPER003 = Preset(
    {
        "hidden_layer_sizes": (3, 3),
        "activation": "leaky_relu",
        "negative_slope": 0.01,
        "learning_rate": 0.8,
        "epochs": 200,
        "optimizer": "adam",
        "batch_size": None,
        "dropout": 0.0,
        "weight_decay": 0.0,
    },
    source="paper 003 section 2.5.3 (ReLU network, two-label output, cross-entropy loss), Table 6 (hidden units "
    "3-3, reluLeak 0.01, eta 0.8, 200 iterations, softmax), section 1 (DLNN units trained by Adam)",
    deviations=deviations(
        (
            "eta 0.8 of Table 6 used as Adam's step size",
            "the paper names Adam (section 1) and eta 0.8 (Table 6) without tying one to the other; kept as "
            "printed: on standardized factors the training loss spikes in the first epochs (up to about 5 on XOR "
            "data) but does not diverge; learning_rate: 0.01 gives a smooth curve",
        ),
        (
            "'Iteration 200' read as 200 full-batch epochs",
            "the paper gives no batch size",
        ),
        (
            "two output units with softmax and the cross-entropy of section 2.5.3; Table 6's 'Function Sigmoid' is "
            "not used",
            "Table 6 lists ReLU, softmax and sigmoid without saying where each applies; section 2.5.3 defines the "
            "two-label output and the cross-entropy",
        ),
        (
            "10 % of the training rows (stratified) are held out for the validation curves of histories/",
            "susmap draws training and validation curves; the paper trains on its whole 70 % split "
            "(validation_fraction: 0 does the same)",
        ),
        (
            "continuous factors standard-scaled inside each training fold; initial weights PyTorch's default "
            "(Kaiming uniform)",
            "the paper gives neither the scaling nor the initialization",
        ),
    ),
)
#: The parameters of :data:`PAPER003` (``DLNNClassifier(**PAPER003_PRESET)``).
PAPER003_PRESET = dict(PAPER003.params)

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh")


def _activation(name: str, negative_slope: float):
    nn = import_torch().nn
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(negative_slope)
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "tanh":
        return nn.Tanh()
    raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, not {name!r}")


def dense_stack(
    n_inputs: int, hidden: Sequence[int], activation: str, negative_slope: float = 0.01, dropout: float = 0.0
):
    """``Linear → activation (→ dropout)`` per hidden layer, then ``Linear`` to 2 logits (softmax in the loss)."""
    nn = import_torch().nn
    layers = []
    width = n_inputs
    for units in hidden:
        layers += [nn.Linear(width, int(units)), _activation(activation, negative_slope)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = int(units)
    layers.append(nn.Linear(width, 2))
    return nn.Sequential(*layers)


class DLNNClassifier(TorchClassifier, ClassifierMixin, BaseEstimator):
    """Deep ReLU network classifier of paper 003 (scikit-learn API, PyTorch inside).

    Parameters
    ----------
    hidden_layer_sizes : sequence of int
        Units per hidden layer (default three layers of 32, 32, 16).
    activation : {"relu", "leaky_relu", "sigmoid", "tanh"}
        Hidden activation; paper 003 uses ReLU with a 0.01 leak.
    negative_slope : float
        Slope of leaky ReLU below zero.
    dropout : float
        Dropout rate after each hidden layer (0: none).
    learning_rate : float
        Step size η.
    epochs : int
        Passes over the training data ("iterations" with full batches).
    batch_size : int or None
        Mini-batch size; ``None``: full batch.
    optimizer : {"adam", "sgd"}
        Adam (default) or gradient descent.
    weight_decay : float
        L2 penalty.
    validation_fraction : float
        Share of the training rows held out (stratified) to record the
        validation curves of ``history_``; 0 keeps every row for training.
    device : str
        ``"auto"`` (CUDA if present), ``"cpu"`` or ``"cuda"``.
    n_threads : int or None
        Torch CPU threads while fitting and predicting (1: reproducible and
        best for small tables; None: torch's default).
    predict_batch_size : int
        Rows per forward pass when predicting.
    seed : int
        Seeds the initial weights and the mini-batches.

    Attributes
    ----------
    classes_ : numpy.ndarray
        The two labels, sorted (any two: 0/1, -1/1, strings); ``classes_[1]`` is the event.
    n_features_in_ : int
    feature_names_in_ : numpy.ndarray
        Only when ``X`` in ``fit`` had string column names.
    n_inputs_ : int
        Input width of the network (= ``n_features_in_``).
    network_ : torch.nn.Module
    history_ : pandas.DataFrame
        Loss and accuracy per epoch, training and validation.
    """

    _parameter_constraints: ClassVar[dict[str, list]] = {
        **TorchClassifier._parameter_constraints,
        "hidden_layer_sizes": ["array-like"],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "negative_slope": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] = (32, 32, 16),
        activation: str = "relu",
        negative_slope: float = 0.01,
        dropout: float = 0.2,
        learning_rate: float = 1e-3,
        epochs: int = 200,
        batch_size: int | None = 256,
        optimizer: str = "adam",
        weight_decay: float = 1e-4,
        validation_fraction: float = 0.1,
        device: str = "auto",
        n_threads: int | None = 1,
        predict_batch_size: int = 65536,
        seed: int = 0,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.negative_slope = negative_slope
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.device = device
        self.n_threads = n_threads
        self.predict_batch_size = predict_batch_size
        self.seed = seed

    def _check_settings(self) -> None:
        super()._check_settings()
        sizes = self.hidden_layer_sizes
        if (
            isinstance(sizes, str)
            or not len(sizes)
            or not all(isinstance(u, Integral) and not isinstance(u, bool) and u > 0 for u in sizes)
        ):
            raise ValueError(f"hidden_layer_sizes must be positive integers, not {self.hidden_layer_sizes!r}")

    def _inputs(self, X, *, fit: bool) -> np.ndarray:  # noqa: N803
        return np.asarray(X, dtype=np.float32)

    def _build(self, n_inputs: int):
        return dense_stack(n_inputs, self.hidden_layer_sizes, self.activation, self.negative_slope, self.dropout)
