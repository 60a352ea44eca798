"""Stacked sparse autoencoder with a softmax classifier, SAE (paper 001, section 2, eqs. 1-12).

The factors of a cell are min-max scaled to [0, 1] (paper 001 section 2.2, Fig. 2,
"normalization processing"; the sigmoid decoder of eq. 2 can only reproduce
values in [0, 1]). Then, **greedy layer-wise pretraining**: autoencoder k
encodes its input h (the scaled factors for k = 1, the hidden output of
autoencoder k - 1 otherwise, eq. 8) as

    t = f(W_x h + b_x)          (eq. 1)

and decodes it as

    y = f(W_y t + b_y)          (eq. 2),   f(z) = 1 / (1 + exp(-z)),

with the parameters θ = {W_x, b_x, W_y, b_y} minimising the sparse
autoencoder loss (eqs. 3-4 and 10-12)

    J = 1/(2n) Σ_i ‖h_i - y_i‖²  +  (λ/2) (Σ W_x² + Σ W_y²)  +  β Σ_j KL(ρ ‖ ρ̂_j),
    KL(ρ ‖ ρ̂_j) = ρ log(ρ / ρ̂_j) + (1 - ρ) log((1 - ρ) / (1 - ρ̂_j)),
    ρ̂_j = 1/n Σ_i t_j(h_i)       (mean activation of hidden unit j),

by full-batch gradient descent θ ← θ - η ∂J/∂θ (eqs. 5-7; Adam as an
option). The trained encoders are then stacked, a softmax layer (linear map
to two logits) is put on top, and the whole network is fine-tuned end to
end by backpropagation of the cross-entropy (paper 001 section 2.1).

Choices the paper leaves open
-----------------------------
* ρ, β and λ are not given: the defaults are UFLDL's usual values,
  ρ = 0.05, β = 3, λ = 1e-4 (Ng, "Sparse autoencoder", CS294A notes).
* Eq. 3 prints the weight decay as ``2λΩ(W)``; we use the standard
  sparse-autoencoder term ``(λ/2) Ω(W)``, Ω(W) = Σ W² (eq. 4) over the
  encoder and decoder weights (not the biases), whose gradient is ``λ W``.
  Fine-tuning passes λ to the optimizer's ``weight_decay``, which adds the
  same gradient ``λ θ`` to every parameter (biases included).
* Eqs. 5-7 print ``+ η ∂J/∂θ``; descent is ``-``.
* Pretraining uses the training part only (not the held-out validation
  rows), so validation curves stay honest.

Paper 001's optimum (section 4.1, Fig. 6, Table 4) is the ``paper001``
preset :data:`PAPER001`: three hidden layers of 110 units, learning
rate 0.8, 30,000 iterations, here full-batch gradient descent for both
pretraining and fine-tuning. On a CPU it takes minutes per fit.

The class defaults are a fast setting (about 1-2 s per fit on 300 rows of
5 factors on one CPU thread): three layers of 64 units, each autoencoder
pretrained for 200 full-batch Adam iterations at η = 0.03, then 700
full-batch Adam iterations at η = 0.01 of fine-tuning. Plain gradient
descent stays available (``pretrain_optimizer="sgd"``, the preset) but
does not suit a small budget: with η ≤ 1 a few hundred iterations barely
reduce the reconstruction error, and with η = 5-10 the sparse units
saturate and fine-tuning can stall at chance (both observed on synthetic
XOR and ring data).

References
----------
Paper 001: a deep learning framework with stacked sparse autoencoders for
earthquake-induced landslide prediction (section 2, eqs. 1-12; section 4.1).
Ng, A. (2011). Sparse autoencoder. CS294A lecture notes, Stanford.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, ClassVar, NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import Interval, StrOptions

from susmap.models.torch_base import TorchClassifier, TrainSettings, import_torch, seeded, train_network
from susmap.presets import Preset, deviations

__all__ = [
    "PAPER001",
    "PAPER001_PRESET",
    "PRETRAIN_COLUMNS",
    "AutoencoderGradients",
    "SparseAutoencoderLoss",
    "StackedSparseAutoencoderClassifier",
    "kl_sparsity",
    "sparse_autoencoder_gradients",
    "sparse_autoencoder_loss",
]

#: Paper 001 section 4.1: 3 hidden layers of 110 units, η = 0.8, 30,000 full-batch gradient-descent iterations.
PAPER001 = Preset(
    {
        "hidden_layer_sizes": (110, 110, 110),
        "pretrain_epochs": 30000,
        "pretrain_learning_rate": 0.8,
        "pretrain_optimizer": "sgd",
        "epochs": 30000,
        "learning_rate": 0.8,
        "optimizer": "sgd",
        "batch_size": None,
    },
    source="paper 001 section 2.1 (sigmoid autoencoders, eqs. 1-12, SGD, greedy layer-wise pretraining, softmax "
    "fine-tuning), section 2.2 (normalization), section 4.1 (110 hidden units, 3 hidden layers, learning rate 0.8 "
    "of Table 4, 30,000 iterations)",
    deviations=deviations(
        (
            "full-batch gradient descent for 'stochastic gradient descent'",
            "the paper gives no batch size; full batches make the 30,000 iterations well defined and the fit "
            "deterministic",
        ),
        (
            "learning rate 0.8 and 30,000 iterations used for the pretraining of every autoencoder and for the "
            "fine-tuning",
            "section 4.1 gives one learning rate and one iteration count without saying which training they apply to",
        ),
        (
            "sparsity target rho 0.05, sparsity weight beta 3, weight decay lambda 1e-4",
            "the paper does not give them; these are the usual values of Ng's sparse autoencoder notes (UFLDL)",
        ),
        (
            "weight decay (lambda / 2) sum W^2 over encoder and decoder weights, for eq. 3's printed 2 lambda Omega(W)",
            "the standard sparse-autoencoder term, whose gradient is lambda W; eq. 3's factor 2 is read as a typo",
        ),
        (
            "parameters move against the gradient, for eqs. 5-7's printed '+ eta dJ/dtheta'",
            "descent needs the minus sign",
        ),
        (
            "10 % of the training rows (stratified) are held out for the validation curves; pretraining uses the "
            "other 90 % only",
            "susmap draws training and validation curves; validation_fraction: 0 trains on every row",
        ),
    ),
)
#: The parameters of :data:`PAPER001` (``StackedSparseAutoencoderClassifier(**PAPER001_PRESET)``).
PAPER001_PRESET: dict[str, Any] = dict(PAPER001.params)

#: Columns of ``pretrain_history_``, one row per layer and pretraining iteration.
PRETRAIN_COLUMNS = ("layer", "epoch", "loss", "reconstruction_mse", "kl", "mean_activation")

#: ρ̂ is kept in [_EPS, 1 - _EPS] inside the KL divergence (log of 0 otherwise).
_EPS = 1e-6


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.split(".")[0] == "torch"


def kl_sparsity(rho: float, rho_hat: Any) -> Any:
    """KL divergence between Bernoulli(ρ) and Bernoulli(ρ̂_j), per hidden unit (paper 001 eq. 11).

    ``KL(ρ ‖ ρ̂) = ρ log(ρ / ρ̂) + (1 - ρ) log((1 - ρ) / (1 - ρ̂))``, in nats;
    0 when ρ̂ = ρ, growing without bound as ρ̂ → 0 or 1 (ρ̂ is clipped to
    [1e-6, 1 - 1e-6] to stay finite).

    Parameters
    ----------
    rho : float
        Sparsity target ρ in (0, 1), the desired mean activation.
    rho_hat : float, numpy.ndarray or torch.Tensor
        Mean activations ρ̂_j of the hidden units (eq. 12), in [0, 1].

    Returns
    -------
    float, numpy.ndarray or torch.Tensor
        The divergence of each unit, same shape and kind as ``rho_hat``
        (differentiable for a tensor); eq. 10 sums it over the units.
    """
    if not 0.0 < rho < 1.0:
        raise ValueError(f"the sparsity target rho must be in (0, 1), not {rho}")
    if _is_tensor(rho_hat):
        torch = import_torch()
        r = rho_hat.clamp(_EPS, 1.0 - _EPS)
        return rho * torch.log(rho / r) + (1.0 - rho) * torch.log((1.0 - rho) / (1.0 - r))
    r = np.clip(np.asarray(rho_hat, dtype=np.float64), _EPS, 1.0 - _EPS)
    kl = rho * np.log(rho / r) + (1.0 - rho) * np.log((1.0 - rho) / (1.0 - r))
    return float(kl) if kl.ndim == 0 else kl


class SparseAutoencoderLoss(NamedTuple):
    """The terms of the sparse autoencoder loss J (paper 001 eq. 10), as returned by :func:`sparse_autoencoder_loss`.

    Attributes
    ----------
    total
        J = reconstruction + weight_penalty + β · kl.
    reconstruction
        1/(2n) Σ_i ‖x_i - y_i‖² (eq. 3, first term).
    weight_penalty
        (λ/2) Σ W² over the given weight matrices (eqs. 3-4).
    kl
        Σ_j KL(ρ ‖ ρ̂_j) (eq. 11), without the weight β.
    rho_hat
        ρ̂_j, the mean activation of each hidden unit over the n samples (eq. 12).
    """

    total: Any
    reconstruction: Any
    weight_penalty: Any
    kl: Any
    rho_hat: Any


def sparse_autoencoder_loss(
    x: Any,
    y: Any,
    hidden: Any,
    weights: Sequence[Any],
    *,
    sparsity_target: float = 0.05,
    sparsity_weight: float = 3.0,
    weight_decay: float = 1e-4,
) -> SparseAutoencoderLoss:
    """Sparse autoencoder loss J of paper 001 eq. 10 (with eqs. 3, 4, 11 and 12).

    ``J = 1/(2n) Σ_i ‖x_i - y_i‖² + (λ/2) Σ_W Σ W² + β Σ_j KL(ρ ‖ ρ̂_j)``,
    ρ̂_j = 1/n Σ_i t_ij. The paper prints the weight decay as ``2λΩ(W)``;
    this is the standard ``(λ/2) Ω(W)`` (gradient ``λ W``).

    Parameters
    ----------
    x : numpy.ndarray or torch.Tensor, shape (n, m)
        Inputs of the autoencoder (in [0, 1]).
    y : numpy.ndarray or torch.Tensor, shape (n, m)
        Its reconstructions (eq. 2).
    hidden : numpy.ndarray or torch.Tensor, shape (n, p)
        Hidden activations t (eq. 1), in (0, 1).
    weights : sequence of arrays or tensors
        The weight matrices penalised (W_x and W_y; biases are not).
    sparsity_target : float
        ρ in (0, 1).
    sparsity_weight : float
        β ≥ 0.
    weight_decay : float
        λ ≥ 0.

    Returns
    -------
    SparseAutoencoderLoss
        Total and terms, as tensors (differentiable) for tensor inputs,
        as floats / arrays for numpy inputs.
    """
    n = x.shape[0]
    if n == 0:
        raise ValueError("the sparse autoencoder loss needs at least one sample")
    diff = x - y
    reconstruction = (diff * diff).sum() / (2.0 * n)
    penalty = sum((w * w).sum() for w in weights) * (weight_decay / 2.0) if weights else 0.0 * reconstruction
    rho_hat = hidden.mean(0)
    kl = kl_sparsity(sparsity_target, rho_hat).sum()
    total = reconstruction + penalty + sparsity_weight * kl
    if not _is_tensor(total):
        rho_hat = np.asarray(rho_hat, dtype=np.float64)
        return SparseAutoencoderLoss(float(total), float(reconstruction), float(penalty), float(kl), rho_hat)
    return SparseAutoencoderLoss(total, reconstruction, penalty, kl, rho_hat)


class AutoencoderGradients(NamedTuple):
    """Gradients of the sparse autoencoder loss J (eq. 10), from :func:`sparse_autoencoder_gradients`.

    Attributes
    ----------
    w_x, b_x, w_y, b_y
        ∂J/∂W_x, ∂J/∂b_x, ∂J/∂W_y, ∂J/∂b_y, shaped like the parameters.
    squared_error
        Σ_i ‖x_i - y_i‖² of the forward pass (J's first term is this / 2n).
    rho_hat
        ρ̂_j of the forward pass (eq. 12).
    """

    w_x: Any
    b_x: Any
    w_y: Any
    b_y: Any
    squared_error: Any
    rho_hat: Any


def sparse_autoencoder_gradients(
    x: Any,
    w_x: Any,
    b_x: Any,
    w_y: Any,
    b_y: Any,
    *,
    sparsity_target: float = 0.05,
    sparsity_weight: float = 3.0,
    weight_decay: float = 1e-4,
) -> AutoencoderGradients:
    """Closed-form gradients of J (eq. 10) for one autoencoder, by backpropagation (torch tensors).

    With t = f(x W_xᵀ + b_x) (eq. 1), y = f(t W_yᵀ + b_y) (eq. 2) and n rows:

    * δ_y = (y - x) ⊙ y ⊙ (1 - y) / n,
    * δ_t = (δ_y W_y + β (-ρ/ρ̂ + (1 - ρ)/(1 - ρ̂)) / n) ⊙ t ⊙ (1 - t),
    * ∂J/∂W_y = δ_yᵀ t + λ W_y, ∂J/∂b_y = Σ_i δ_y,
    * ∂J/∂W_x = δ_tᵀ x + λ W_x, ∂J/∂b_x = Σ_i δ_t,

    the gradients of the updates of eqs. 5-7. ρ̂ is clipped to
    [1e-6, 1 - 1e-6] as in :func:`kl_sparsity`.

    Parameters
    ----------
    x : torch.Tensor, shape (n, m)
        Inputs in [0, 1].
    w_x, b_x : torch.Tensor, shapes (p, m), (p,)
        Encoder weights and biases.
    w_y, b_y : torch.Tensor, shapes (m, p), (m,)
        Decoder weights and biases.
    sparsity_target, sparsity_weight, weight_decay : float
        ρ, β and λ.

    Returns
    -------
    AutoencoderGradients
    """
    torch = import_torch()
    n = x.shape[0]
    t = torch.sigmoid(torch.addmm(b_x, x, w_x.t()))
    y = torch.sigmoid(torch.addmm(b_y, t, w_y.t()))
    diff = y - x
    rho_hat = t.mean(0)
    r = rho_hat.clamp(_EPS, 1.0 - _EPS)
    rho = sparsity_target
    sparse = (sparsity_weight / n) * ((1.0 - rho) / (1.0 - r) - rho / r)
    d_y = diff * y * (1.0 - y) / n
    d_t = torch.addmm(sparse, d_y, w_y) * t * (1.0 - t)
    return AutoencoderGradients(
        w_x=torch.addmm(w_x, d_t.t(), x, beta=weight_decay),
        b_x=d_t.sum(0),
        w_y=torch.addmm(w_y, d_y.t(), t, beta=weight_decay),
        b_y=d_y.sum(0),
        squared_error=diff.square().sum(),
        rho_hat=rho_hat,
    )


def _sae_network(n_inputs: int, hidden: Sequence[int]):
    """``Linear → Sigmoid`` per hidden layer (the stacked encoders, eqs. 1, 8), then ``Linear`` to 2 logits."""
    nn = import_torch().nn
    layers = []
    width = int(n_inputs)
    for units in hidden:
        layers += [_linear(width, int(units)), nn.Sigmoid()]
        width = int(units)
    layers.append(_linear(width, 2))
    return nn.Sequential(*layers)


def _linear(n_in: int, n_out: int):
    """A linear layer with UFLDL's initialisation: W ~ U(-r, r), r = sqrt(6 / (n_in + n_out + 1)), b = 0."""
    torch = import_torch()
    layer = torch.nn.Linear(n_in, n_out)
    r = math.sqrt(6.0 / (n_in + n_out + 1))
    with torch.no_grad():
        layer.weight.uniform_(-r, r)
        layer.bias.zero_()
    return layer


class StackedSparseAutoencoderClassifier(TorchClassifier, ClassifierMixin, BaseEstimator):
    """Stacked sparse autoencoder with a softmax layer, paper 001 (scikit-learn API, PyTorch inside).

    Fitting min-max scales the factors to [0, 1], pretrains one sparse
    autoencoder per hidden layer greedily (eqs. 1-2, 10-12, gradient descent
    eqs. 5-7), stacks the encoders (eq. 8) under a softmax layer and
    fine-tunes the whole network on the cross-entropy. The pipeline should
    not standard-scale first (registry ``scale=False``).

    Parameters
    ----------
    hidden_layer_sizes : sequence of int
        Units per hidden layer, one autoencoder each; the depth is its
        length. Default three layers of 64 (paper 001: three of 110).
    sparsity_target : float
        ρ, the target mean activation of the hidden units (eq. 11), in (0, 1).
    sparsity_weight : float
        β, the weight of the KL sparsity penalty (eq. 10); 0 turns it off.
    weight_decay : float
        λ, the L2 weight decay (eqs. 3-4) in pretraining and fine-tuning.
    pretrain_epochs : int
        Full-batch iterations per autoencoder (0: no pretraining, the
        encoders keep their random initial weights).
    pretrain_learning_rate : float
        Step size η of pretraining.
    pretrain_optimizer : {"adam", "sgd"}
        Adam (default, robust in few iterations) or gradient descent
        (eqs. 5-7, the paper's), for pretraining.
    learning_rate : float
        Step size of fine-tuning.
    epochs : int
        Fine-tuning passes over the training rows (≥ 1; "iterations" with
        full batches).
    batch_size : int or None
        Fine-tuning mini-batch size; ``None``: full batch.
    optimizer : {"adam", "sgd"}
        Fine-tuning optimizer.
    validation_fraction : float
        Share of the training rows held out (stratified) for the validation
        curves of ``history_``; they take no part in pretraining either.
    device : str
        ``"auto"`` (CUDA if present), ``"cpu"`` or ``"cuda"``.
    n_threads : int or None
        Torch CPU threads while fitting and predicting.
    predict_batch_size : int
        Rows per forward pass when predicting.
    seed : int
        Seeds the initial weights (encoders, decoders, softmax layer), the
        validation split and the mini-batches.

    Attributes
    ----------
    network_ : torch.nn.Module
        The fine-tuned stack: ``Linear → Sigmoid`` per layer, then ``Linear`` to 2 logits.
    history_ : pandas.DataFrame
        Fine-tuning loss and accuracy per epoch, training and validation.
    pretrain_history_ : pandas.DataFrame
        One row per layer (1-based) and pretraining iteration (columns
        :data:`PRETRAIN_COLUMNS`): the loss J (eq. 10), the reconstruction
        MSE (mean over rows and inputs of (h - y)²; J's first term is
        m/2 times it for m inputs), Σ_j KL(ρ ‖ ρ̂_j) (eq. 11) and the mean
        over units of ρ̂_j (eq. 12), from the forward pass of the iteration
        (before its update).
    mean_activation_ : numpy.ndarray
        Per layer, the mean over units of ρ̂_j on the training rows at the
        end of pretraining.
    reconstruction_error_ : pandas.DataFrame
        Per layer (columns ``layer, mse_before, mse_after``): the
        reconstruction MSE of its autoencoder on its training input before
        and after its pretraining.
    classes_ : numpy.ndarray
        The two labels, sorted (any two: 0/1, -1/1, strings); ``classes_[1]`` is the event.
    n_features_in_ : int
    feature_names_in_ : numpy.ndarray
        Only when ``X`` in ``fit`` had string column names.
    data_min_, data_range_ : numpy.ndarray
        Min-max scaler: minimum and range of each factor over the rows given
        to ``fit`` (range 0 for a constant factor, which then maps to 0).
    """

    _parameter_constraints: ClassVar[dict[str, list]] = {
        **TorchClassifier._parameter_constraints,
        "hidden_layer_sizes": ["array-like"],
        "sparsity_target": [Interval(Real, 0, 1, closed="neither")],
        "sparsity_weight": [Interval(Real, 0, None, closed="left")],
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left")],
        "pretrain_learning_rate": [Interval(Real, 0, None, closed="neither")],
        "pretrain_optimizer": [StrOptions({"adam", "sgd"})],
    }

    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] = (64, 64, 64),
        sparsity_target: float = 0.05,
        sparsity_weight: float = 3.0,
        weight_decay: float = 1e-4,
        pretrain_epochs: int = 200,
        pretrain_learning_rate: float = 0.03,
        pretrain_optimizer: str = "adam",
        learning_rate: float = 0.01,
        epochs: int = 700,
        batch_size: int | None = None,
        optimizer: str = "adam",
        validation_fraction: float = 0.1,
        device: str = "auto",
        n_threads: int | None = 1,
        predict_batch_size: int = 65536,
        seed: int = 0,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.sparsity_target = sparsity_target
        self.sparsity_weight = sparsity_weight
        self.weight_decay = weight_decay
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_learning_rate = pretrain_learning_rate
        self.pretrain_optimizer = pretrain_optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.validation_fraction = validation_fraction
        self.device = device
        self.n_threads = n_threads
        self.predict_batch_size = predict_batch_size
        self.seed = seed

    # ------------------------------------------------------------------ checks
    def _hidden(self) -> tuple[int, ...]:
        sizes = self.hidden_layer_sizes
        ok = isinstance(sizes, Sequence | np.ndarray) and not isinstance(sizes, str) and len(sizes) > 0
        if not ok or not all(isinstance(u, int | np.integer) and not isinstance(u, bool) and u > 0 for u in sizes):
            raise ValueError(f"hidden_layer_sizes must be a non-empty sequence of positive integers, not {sizes!r}")
        return tuple(int(u) for u in sizes)

    def _check_settings(self) -> None:
        """Checks the declared constraints cannot express: ``hidden_layer_sizes`` positive integers, finite λ, β."""
        super()._check_settings()
        self._hidden()
        for name in ("sparsity_weight", "weight_decay"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")

    def check_params(self) -> None:
        """Refuse impossible settings with a ValueError naming the parameter (before any data is read).

        The declared constraints (those shared by every deep model, see
        :meth:`TorchClassifier.check_params`, and: 0 < ρ < 1, β ≥ 0, λ ≥ 0,
        ``pretrain_learning_rate`` > 0, ``pretrain_epochs`` ≥ 0,
        ``pretrain_optimizer`` in {"adam", "sgd"}), then
        ``hidden_layer_sizes`` positive integers and λ, β finite.
        """
        super().check_params()

    # ------------------------------------------------------------------ TorchClassifier hooks
    def _inputs(self, X, *, fit: bool) -> np.ndarray:  # noqa: N803
        """Factors min-max scaled to [0, 1] by the range of the rows given to ``fit``, clipped outside it; float32.

        ``X`` is already a finite table (``_validate_X``).
        """
        X = np.asarray(X, dtype=np.float64)  # noqa: N806
        if fit:
            if X.shape[0] < 2:
                raise ValueError(f"SAE needs at least 2 training rows, got {X.shape[0]}")
            self.data_min_ = X.min(axis=0)
            self.data_range_ = X.max(axis=0) - self.data_min_
        rng_ = np.where(self.data_range_ > 0, self.data_range_, 1.0)
        scaled = np.where(self.data_range_ > 0, (X - self.data_min_) / rng_, 0.0)
        return np.clip(scaled, 0.0, 1.0).astype(np.float32)

    def _build(self, n_inputs: int):
        return _sae_network(n_inputs, self._hidden())

    def _fit_network(self, net, X, y, X_val, y_val, rng):  # noqa: N803
        self._pretrain(net, X)
        return train_network(net, X, y, self._train_settings(), rng=rng, X_val=X_val, y_val=y_val)

    # ------------------------------------------------------------------ pretraining
    def _pretrain(self, net, X) -> None:  # noqa: N803
        """Greedy layer-wise pretraining of the encoders of ``net`` on the rows ``X`` (in place)."""
        torch = import_torch()
        encoders = [m for m in net if isinstance(m, torch.nn.Linear)][:-1]
        settings = TrainSettings(
            epochs=int(self.pretrain_epochs),
            learning_rate=float(self.pretrain_learning_rate),
            optimizer=self.pretrain_optimizer,
        )
        histories, mean_act, errors = [], [], []
        h = X
        for k, encoder in enumerate(encoders, start=1):
            # each decoder from its own seed, derived from (seed, layer), so fits are reproducible
            dec_seed = int(np.random.SeedSequence([int(self.seed), k]).generate_state(1)[0])
            with seeded(dec_seed):
                decoder = _linear(encoder.out_features, encoder.in_features).to(h.device)
            hist, before, after = self._pretrain_layer(encoder, decoder, h, settings)
            hist[:, 0] = k
            histories.append(hist)
            with torch.no_grad():
                h = torch.sigmoid(encoder(h))
            mean_act.append(float(h.mean()))
            errors.append((k, before, after))
        self.pretrain_history_ = pd.DataFrame(
            np.concatenate(histories) if histories else np.empty((0, len(PRETRAIN_COLUMNS))),
            columns=list(PRETRAIN_COLUMNS),
        ).astype({"layer": int, "epoch": int})
        self.mean_activation_ = np.asarray(mean_act, dtype=np.float64)
        self.reconstruction_error_ = pd.DataFrame(errors, columns=["layer", "mse_before", "mse_after"])

    def _pretrain_layer(self, encoder, decoder, h, settings: TrainSettings) -> tuple[np.ndarray, float, float]:
        """Train one autoencoder (eqs. 1-2) on loss J (eq. 10); returns (history array, MSE before, MSE after).

        The gradients are the closed-form backpropagation of J
        (:func:`sparse_autoencoder_gradients`), about three times cheaper
        per iteration than autograd on small layers; the history is taken
        from the forward pass of each iteration, before its update.
        """
        torch = import_torch()
        rho, beta, lam = float(self.sparsity_target), float(self.sparsity_weight), float(self.weight_decay)
        params = (encoder.weight, encoder.bias, decoder.weight, decoder.bias)

        def mse() -> float:
            with torch.no_grad():
                out = torch.sigmoid(decoder(torch.sigmoid(encoder(h))))
                return float(((h - out) ** 2).mean())

        before = mse()
        epochs = settings.epochs
        sq_err = torch.empty(epochs, dtype=h.dtype, device=h.device)
        w_sq = torch.empty(epochs, dtype=h.dtype, device=h.device)
        rho_hat = torch.empty((epochs, encoder.out_features), dtype=h.dtype, device=h.device)
        opt = settings.make_optimizer(params)
        with torch.no_grad():
            for epoch in range(epochs):
                grads = sparse_autoencoder_gradients(
                    h, *params, sparsity_target=rho, sparsity_weight=beta, weight_decay=lam
                )
                sq_err[epoch] = grads.squared_error
                rho_hat[epoch] = grads.rho_hat
                w_sq[epoch] = params[0].square().sum() + params[2].square().sum()
                for p, g in zip(params, grads[:4], strict=True):
                    p.grad = g
                opt.step()
                if (epoch + 1) % 1000 == 0 and not bool(torch.isfinite(sq_err[epoch])):
                    epochs = epoch + 1  # diverged: stop here, report below
                    break
        for p in params:
            p.grad = None
        sq_err, w_sq, rho_hat = sq_err[:epochs], w_sq[:epochs], rho_hat[:epochs]
        n, width = float(h.shape[0]), float(h.shape[1])
        kl = kl_sparsity(rho, rho_hat.double().cpu().numpy()).sum(axis=1) if epochs else np.empty(0)
        reconstruction = sq_err.double().cpu().numpy() / (2.0 * n)
        hist = np.zeros((epochs, len(PRETRAIN_COLUMNS)))
        hist[:, 1] = np.arange(1, epochs + 1)
        hist[:, 2] = reconstruction + (lam / 2.0) * w_sq.double().cpu().numpy() + beta * kl
        hist[:, 3] = reconstruction * (2.0 / width)
        hist[:, 4] = kl
        hist[:, 5] = rho_hat.double().cpu().numpy().mean(axis=1) if epochs else np.empty(0)
        if not np.isfinite(hist[:, 2]).all():
            raise FloatingPointError(f"pretraining diverged (loss {hist[-1, 2]}); lower pretrain_learning_rate")
        return hist, before, mse()

    # ------------------------------------------------------------------ persistence
    def _extra_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        torch = import_torch()
        config = {
            "mean_activation": self.mean_activation_.tolist(),
            "reconstruction_error": self.reconstruction_error_.to_dict(orient="list"),
        }
        tensors = {
            "scaler.data_min": torch.as_tensor(self.data_min_, dtype=torch.float64),
            "scaler.data_range": torch.as_tensor(self.data_range_, dtype=torch.float64),
            "pretrain_history": torch.as_tensor(self.pretrain_history_.to_numpy(dtype=np.float64)),
        }
        return config, tensors

    def _restore_extra(self, config: dict[str, Any], tensors: dict[str, Any]) -> None:
        self.data_min_ = tensors["scaler.data_min"].double().numpy()
        self.data_range_ = tensors["scaler.data_range"].double().numpy()
        hist = tensors["pretrain_history"].double().numpy().reshape(-1, len(PRETRAIN_COLUMNS))
        self.pretrain_history_ = pd.DataFrame(hist, columns=list(PRETRAIN_COLUMNS)).astype({"layer": int, "epoch": int})
        self.mean_activation_ = np.asarray(config["mean_activation"], dtype=np.float64)
        self.reconstruction_error_ = pd.DataFrame(
            config["reconstruction_error"], columns=["layer", "mse_before", "mse_after"]
        )
