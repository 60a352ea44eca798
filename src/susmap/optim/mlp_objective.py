"""Multilayer perceptron whose weights and biases are one flat vector, as a compiled population objective.

Papers 002 (EFO-, SCE-, SOS- and ESDA-MLP) and 003 (PSO-DLNN) train networks with population-based optimizers
instead of backpropagation: each candidate of the optimizer is the complete parameter vector of a network and the
objective is its training error. Paper 002 uses an n-5-1 network with a tansig (tanh) hidden layer, a purelin
(linear) output and the training mean squared error.

Flat layout of a network with layer sizes ``(n_0, n_1, ..., n_L)`` (``n_0`` = number of features, ``n_L`` = 1): for
each layer l = 1..L in order, its weight matrix ``W_l`` of shape ``(n_{l-1}, n_l)`` in row-major order, followed by
its bias vector ``b_l`` of length ``n_l``. The forward pass is ``h_l = act(h_{l-1} W_l + b_l)`` for hidden layers and
``out = h_{L-1} W_L + b_L`` (then a logistic sigmoid when ``output="sigmoid"``).

The loss of a whole population (pop, n_weights) is computed by one compiled call; each candidate is evaluated by the
same kernel whether it comes alone or in a batch, so batched and per-candidate evaluations are identical.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from susmap.optim.compiled import CompiledObjective
from susmap.optim.kernels import (
    ACT_LEAKY_RELU,
    ACT_LOGISTIC,
    ACT_RELU,
    ACT_TANH,
    KIND_MLP,
    LOSS_MSE,
    LOSS_XENT,
    OUT_LINEAR,
    OUT_SIGMOID,
    PREC_F32,
    PREC_F64,
    mlp_predict_batch,
)

__all__ = ["MLPObjective", "layer_sizes_for", "mlp_forward", "n_weights", "pack", "unpack"]

_ACTIVATIONS = {
    "tanh": ACT_TANH,
    "tansig": ACT_TANH,
    "relu": ACT_RELU,
    "leaky_relu": ACT_LEAKY_RELU,
    "logistic": ACT_LOGISTIC,
    "logsig": ACT_LOGISTIC,
}
_OUTPUTS = {"linear": OUT_LINEAR, "purelin": OUT_LINEAR, "sigmoid": OUT_SIGMOID, "logistic": OUT_SIGMOID}
_LOSSES = {"mse": LOSS_MSE, "cross_entropy": LOSS_XENT, "log_loss": LOSS_XENT}
_PRECISIONS = {"float64": PREC_F64, "float32": PREC_F32}


def layer_sizes_for(n_features: int, hidden: int | Sequence[int]) -> tuple[int, ...]:
    """Layer sizes ``(n_features, h1, ..., 1)`` of a single-output network."""
    hid = (int(hidden),) if isinstance(hidden, int | np.integer) else tuple(int(h) for h in hidden)
    sizes = (int(n_features), *hid, 1)
    if any(s < 1 for s in sizes):
        raise ValueError("layer sizes must be positive")
    return sizes


def n_weights(layer_sizes: Sequence[int]) -> int:
    """Length of the flat parameter vector of a network with these layer sizes (weights plus biases)."""
    s = [int(v) for v in layer_sizes]
    return int(sum(s[i] * s[i + 1] + s[i + 1] for i in range(len(s) - 1)))


def unpack(w: np.ndarray, layer_sizes: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split a flat parameter vector into ``[(W_1, b_1), ..., (W_L, b_L)]``.

    Parameters
    ----------
    w : numpy.ndarray
        Flat vector of length ``n_weights(layer_sizes)``.
    layer_sizes : sequence of int
        ``(n_features, h1, ..., 1)``.

    Returns
    -------
    list of (numpy.ndarray, numpy.ndarray)
        Weight matrices of shape (n_in, n_out) and bias vectors of shape (n_out,) (views into ``w``).
    """
    w = np.asarray(w, dtype=np.float64)
    s = [int(v) for v in layer_sizes]
    if w.ndim != 1 or w.shape[0] != n_weights(s):
        raise ValueError(f"expected a flat vector of length {n_weights(s)}")
    layers = []
    off = 0
    for nin, nout in itertools.pairwise(s):
        wmat = w[off : off + nin * nout].reshape(nin, nout)
        off += nin * nout
        layers.append((wmat, w[off : off + nout]))
        off += nout
    return layers


def pack(layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Inverse of :func:`unpack`: concatenate ``[(W_1, b_1), ...]`` into one flat vector."""
    parts = []
    for wmat, bias in layers:
        parts.append(np.asarray(wmat, dtype=np.float64).ravel())
        parts.append(np.asarray(bias, dtype=np.float64).ravel())
    return np.concatenate(parts)


def _codes(activation: str, output: str, loss: str) -> tuple[int, int, int]:
    try:
        act = _ACTIVATIONS[activation]
        out = _OUTPUTS[output]
        los = _LOSSES[loss]
    except KeyError as err:
        raise ValueError(
            f"unknown setting {err.args[0]!r}: activation in {sorted(_ACTIVATIONS)}, output in {sorted(_OUTPUTS)}, "
            f"loss in {sorted(_LOSSES)}"
        ) from None
    if los == LOSS_XENT and out != OUT_SIGMOID:
        raise ValueError("cross-entropy needs output='sigmoid'")
    return act, out, los


def _precision(precision: str) -> int:
    try:
        return _PRECISIONS[precision]
    except KeyError:
        raise ValueError(f"precision must be one of {sorted(_PRECISIONS)}") from None


def _iparams(sizes: Sequence[int], act: int, out: int, los: int, prec: int) -> np.ndarray:
    return np.array([act, out, los, prec, len(sizes) - 1, *sizes], dtype=np.int64)


def _as_xt(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError("X must be a (n_samples, n_features) array")
    if not np.all(np.isfinite(x)):
        raise ValueError("X must be finite")
    return np.ascontiguousarray(x.T)


def mlp_forward(
    weights: np.ndarray,
    x: np.ndarray,
    layer_sizes: Sequence[int],
    activation: str = "tanh",
    output: str = "linear",
    precision: str = "float64",
) -> np.ndarray:
    """Outputs of a population of networks on the same inputs.

    Parameters
    ----------
    weights : numpy.ndarray
        Flat parameter vectors, shape (pop, n_weights) (or (n_weights,) for one network).
    x : numpy.ndarray
        Inputs, shape (n_samples, n_features).
    layer_sizes : sequence of int
        ``(n_features, h1, ..., 1)``.
    activation : {"tanh", "relu", "leaky_relu", "logistic"}
        Hidden-layer activation ("tansig" and "logsig" are accepted as MATLAB names; leaky_relu has slope
        :data:`~susmap.optim.kernels.LEAKY_RELU_SLOPE` = 0.01 below zero, paper 003 Table 6).
    output : {"linear", "sigmoid"}
        Output transform ("purelin" accepted).
    precision : {"float64", "float32"}
        Arithmetic of the network (see :class:`MLPObjective`).

    Returns
    -------
    numpy.ndarray
        Float64, shape (pop, n_samples), or (n_samples,) for a single 1-D weight vector.
    """
    sizes = [int(v) for v in layer_sizes]
    act, out, _ = _codes(activation, output, "mse")
    prec = _precision(precision)
    xt = _as_xt(x)
    if xt.shape[0] != sizes[0] or sizes[-1] != 1:
        raise ValueError("layer_sizes must start with the number of features and end with 1")
    wb = np.asarray(weights, dtype=np.float64)
    single = wb.ndim == 1
    wb = np.ascontiguousarray(np.atleast_2d(wb))
    if wb.shape[1] != n_weights(sizes):
        raise ValueError(f"weight vectors must have length {n_weights(sizes)}")
    res = np.empty((wb.shape[0], xt.shape[1]))
    xt32 = xt.astype(np.float32) if prec == PREC_F32 else np.zeros((0, 0), np.float32)
    mlp_predict_batch(wb, xt, xt32, _iparams(sizes, act, out, LOSS_MSE, prec), res)
    return res[0] if single else res


class MLPObjective(CompiledObjective):
    """Training loss of a flat-vector MLP as a compiled population objective.

    Parameters
    ----------
    x : numpy.ndarray
        Training inputs, shape (n_samples, n_features) (conditioning factors, usually scaled to [0, 1] or z-scores).
    y : numpy.ndarray
        Targets, shape (n_samples,) (e.g. 1 landslide / 0 non-landslide).
    hidden : int or sequence of int
        Hidden layer sizes; paper 002 uses one layer of 5 (an n-5-1 network).
    activation : {"tanh", "relu", "leaky_relu", "logistic"}
        Hidden activation (paper 002: tansig = tanh; paper 003: leaky ReLU, slope 0.01 below zero).
    output : {"linear", "sigmoid"}
        Output transform (paper 002: purelin = linear).
    loss : {"mse", "cross_entropy"}
        Mean squared error of the outputs (paper 002) or mean binary cross-entropy (needs ``output="sigmoid"``;
        computed from the logits).
    precision : {"float64", "float32"}
        Arithmetic of the network. "float32" evaluates the layers in single precision (inputs and weights rounded
        to float32, about 7 significant digits, twice the SIMD width) and accumulates the loss in double precision;
        it is about twice as fast and changes the loss by about 1e-7 relative, far below what separates candidate
        networks. "float64" (default) is exact to rounding.

    Notes
    -----
    Calling the object on a population ``(pop, n_weights)`` returns the loss of every candidate, shape (pop,).
    Inside the optimizers' compiled loops the same kernel runs without Python overhead.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        hidden: int | Sequence[int] = 5,
        activation: str = "tanh",
        output: str = "linear",
        loss: str = "mse",
        precision: str = "float64",
    ) -> None:
        xt = _as_xt(x)
        yy = np.ascontiguousarray(y, dtype=np.float64).reshape(-1)
        if yy.shape[0] != xt.shape[1]:
            raise ValueError("X and y have different numbers of samples")
        if not np.all(np.isfinite(yy)):
            raise ValueError("y must be finite")
        act, out, los = _codes(activation, output, loss)
        prec = _precision(precision)
        if los == LOSS_XENT and (yy.min() < 0.0 or yy.max() > 1.0):
            raise ValueError("cross-entropy needs targets in [0, 1]")
        self.layer_sizes = layer_sizes_for(xt.shape[0], hidden)
        self.activation = activation
        self.output = output
        self.loss = loss
        self.precision = precision
        self.n_samples = int(xt.shape[1])
        self.n_features = int(xt.shape[0])
        self.n_weights = n_weights(self.layer_sizes)
        xt32 = xt.astype(np.float32) if prec == PREC_F32 else None
        super().__init__(KIND_MLP, self.n_weights, _iparams(self.layer_sizes, act, out, los, prec), xt, yy, xt32)

    def bounds(self, limit: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Search box ``[-limit, limit]`` for every weight and bias, as ``(lb, ub)`` vectors."""
        if limit <= 0:
            raise ValueError("limit must be positive")
        return np.full(self.n_weights, -float(limit)), np.full(self.n_weights, float(limit))

    def unpack(self, w: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Split one flat vector into ``[(W_1, b_1), ...]`` (see :func:`unpack`)."""
        return unpack(w, self.layer_sizes)

    def forward(self, weights: np.ndarray, x: np.ndarray | None = None) -> np.ndarray:
        """Network outputs for a population of weight vectors, on the training inputs or on ``x``.

        Returns shape (pop, n_samples), or (n_samples,) for one 1-D weight vector.
        """
        xx = self._spec[2].T if x is None else x
        return mlp_forward(weights, xx, self.layer_sizes, self.activation, self.output, self.precision)

    def __repr__(self) -> str:
        sizes = "-".join(str(s) for s in self.layer_sizes)
        return (
            f"MLPObjective({sizes}, activation={self.activation!r}, output={self.output!r}, loss={self.loss!r}, "
            f"precision={self.precision!r})"
        )
