"""Shared machinery of susmap's PyTorch models (internal to the deep families).

PyTorch is an optional dependency (``pip install 'susmap[deep]'``, pinned to
``torch==2.13.0``); nothing here imports it at module import time, so the
registry can list the deep models on a machine without it and refuse them
with a clear message when they are used.

What every deep estimator shares:

* **device** – ``"auto"`` picks CUDA when present, else the CPU;
* **determinism** – weights are initialised inside a forked RNG seeded with
  the estimator's ``seed``; mini-batches are drawn by a numpy generator with
  the same seed; on the CPU the same seed and thread count give the same
  weights bit for bit (tested);
* **training history** – loss and accuracy per epoch on the training part and
  on a held-out validation part (stratified ``validation_fraction``), as in
  paper 000 Figs. 11-12 (:func:`plot_history`);
* **persistence** – :func:`susmap.models.persist.save_model` writes a state
  dict (tensors only, loadable with ``weights_only=True``) plus a JSON config.
"""

from __future__ import annotations

import abc
import contextlib
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from susmap.fit_validation import validated_fit
from susmap.models.checked import CheckedBinaryClassifier

__all__ = [
    "HISTORY_COLUMNS",
    "TorchClassifier",
    "TrainSettings",
    "import_torch",
    "plot_history",
    "resolve_device",
    "seeded",
    "stratified_holdout",
    "torch_threads",
    "train_network",
]

#: Columns of a training history table, one row per epoch.
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy")


def import_torch():
    """The ``torch`` module, or an ImportError that says how to install it."""
    try:
        import torch
    except ImportError:
        raise ImportError(
            "this model needs PyTorch: install susmap's deep extra, pip install 'susmap[deep]' (torch==2.13.0)"
        ) from None
    return torch


def resolve_device(device: str = "auto"):
    """``torch.device`` for ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``."""
    torch = import_torch()
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but PyTorch sees no CUDA device")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', not {device!r}")
    return dev


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block with torch's global RNGs seeded, restoring them afterwards (weight initialisation)."""
    torch = import_torch()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


_THREADS_LOCK = threading.Lock()
_THREADS_USERS = [0, 0]  # blocks inside torch_threads, torch's thread count before the first


@contextlib.contextmanager
def torch_threads(n_threads: int | None) -> Iterator[None]:
    """Limit torch's intra-op CPU threads inside a block (``None``: leave as is).

    Safe when several Python threads (e.g. dask's) predict at once: the count
    before the first block is restored when the last one ends.
    """
    torch = import_torch()
    if n_threads is None:
        yield
        return
    with _THREADS_LOCK:
        if _THREADS_USERS[0] == 0:
            _THREADS_USERS[1] = torch.get_num_threads()
        _THREADS_USERS[0] += 1
        torch.set_num_threads(max(1, int(n_threads)))
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS_USERS[0] -= 1
            if _THREADS_USERS[0] == 0:
                torch.set_num_threads(_THREADS_USERS[1])


def stratified_holdout(y: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation) with ``fraction`` of each class held out (at least one per class).

    ``fraction = 0`` (or a class too small to split) holds out nothing.
    """
    y = np.asarray(y)
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), not {fraction}")
    if fraction == 0.0:
        return np.arange(y.size), np.empty(0, dtype=int)
    val = []
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        n = round(fraction * idx.size)
        if idx.size < 4 or n == 0:
            continue
        val.append(rng.choice(idx, size=max(1, n), replace=False))
    val_idx = np.sort(np.concatenate(val)) if val else np.empty(0, dtype=int)
    train_idx = np.setdiff1d(np.arange(y.size), val_idx)
    return train_idx, val_idx


@dataclass(frozen=True)
class TrainSettings:
    """How to train a classifier network by backpropagation.

    Attributes
    ----------
    epochs : int
        Passes over the training data (with ``batch_size=None`` one epoch is
        one full-batch iteration, the papers' "iterations").
    learning_rate : float
        Step size η of the optimizer.
    optimizer : {"adam", "sgd"}
        Adam (Kingma & Ba 2015) or plain gradient descent (paper 001 eqs. 5-7).
    batch_size : int or None
        Mini-batch size; ``None`` trains on the full batch.
    weight_decay : float
        L2 penalty on the weights (added to the gradient by the optimizer).
    """

    epochs: int
    learning_rate: float
    optimizer: str = "adam"
    batch_size: int | None = None
    weight_decay: float = 0.0

    def make_optimizer(self, params):
        torch = import_torch()
        if self.optimizer == "adam":  # fused: one kernel for all parameters, ~1.6x faster steps on small nets
            return torch.optim.Adam(params, lr=self.learning_rate, weight_decay=self.weight_decay, fused=True)
        if self.optimizer == "sgd":
            return torch.optim.SGD(params, lr=self.learning_rate, weight_decay=self.weight_decay)
        raise ValueError(f"optimizer must be 'adam' or 'sgd', not {self.optimizer!r}")


def _batches(n: int, batch_size: int | None, rng: np.random.Generator) -> list[np.ndarray]:
    if batch_size is None or batch_size >= n:
        return [np.arange(n)]
    order = rng.permutation(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def train_network(
    net,
    X,  # noqa: N803
    y,
    settings: TrainSettings,
    *,
    rng: np.random.Generator,
    X_val=None,  # noqa: N803
    y_val=None,
    augment: Callable[[Any, np.random.Generator], Any] | None = None,
    loss_fn: Callable[[Any, Any], Any] | None = None,
    extra_loss: Callable[[], Any] | None = None,
) -> pd.DataFrame:
    """Train ``net`` (inputs → class logits) on tensors ``X``, ``y`` by cross-entropy; history per epoch.

    Parameters
    ----------
    net : torch.nn.Module
        Returns logits of shape (n, n_classes); trained in place.
    X, y : torch.Tensor
        Inputs and integer class labels, on the network's device.
    settings : TrainSettings
        Epochs, learning rate, optimizer, batch size, weight decay.
    rng : numpy.random.Generator
        Draws the mini-batches (and is passed to ``augment``).
    X_val, y_val : torch.Tensor, optional
        Held-out validation part, scored after every epoch.
    augment : callable, optional
        ``augment(batch, rng)`` returns a transformed training batch (e.g.
        random flips of factor windows).
    loss_fn : callable, optional
        ``loss_fn(logits, y)``; default mean cross-entropy.
    extra_loss : callable, optional
        Added to every batch's loss (e.g. a penalty on the weights).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`HISTORY_COLUMNS`; the loss is the mean cross-entropy
        over the epoch's batches, the accuracy that of the training batches
        as seen during the epoch (train mode, as Keras reports it).
    """
    torch = import_torch()
    loss_fn = loss_fn or torch.nn.functional.cross_entropy
    opt = settings.make_optimizer(net.parameters())
    rows = []
    n = int(X.shape[0])
    for epoch in range(1, settings.epochs + 1):
        net.train()
        total, correct = 0.0, 0
        for idx in _batches(n, settings.batch_size, rng):
            xb, yb = X[idx], y[idx]
            if augment is not None:
                xb = augment(xb, rng)
            opt.zero_grad(set_to_none=True)
            logits = net(xb)
            loss = loss_fn(logits, yb)
            if extra_loss is not None:
                loss = loss + extra_loss()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            correct += int((logits.detach().argmax(1) == yb).sum())
        row = {"epoch": epoch, "loss": total / n, "accuracy": correct / n}
        row.update(val_loss=math.nan, val_accuracy=math.nan)
        if X_val is not None and len(X_val):
            net.eval()
            with torch.no_grad():
                logits = net(X_val)
                row["val_loss"] = float(loss_fn(logits, y_val))
                row["val_accuracy"] = float((logits.argmax(1) == y_val).float().mean())
        rows.append(row)
        if not math.isfinite(row["loss"]):
            raise FloatingPointError(
                f"training diverged at epoch {epoch} (loss {row['loss']}); lower the learning rate"
            )
    net.eval()
    return pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))


def plot_history(history: pd.DataFrame, path: Path, *, title: str = "") -> Path:
    """Accuracy and loss per epoch, training and validation (paper 000 Figs. 11-12), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    for ax, key, label in ((axes[0], "accuracy", "accuracy"), (axes[1], "loss", "loss (cross-entropy)")):
        ax.plot(history["epoch"], history[key], label="training", color="tab:blue")
        val = history[f"val_{key}"]
        if val.notna().any():
            ax.plot(history["epoch"], val, label="validation", color="tab:orange")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


class TorchClassifier(CheckedBinaryClassifier, abc.ABC):
    """Mixin of the deep binary classifiers: fit skeleton, probabilities, persistence hooks.

    A subclass (also deriving from scikit-learn's ``ClassifierMixin`` and
    ``BaseEstimator``) provides

    * ``_inputs(X, fit)`` → a float32 numpy array the network reads (``fit``:
      learn any input scaling from these rows first);
    * ``_build(n_inputs)`` → the ``torch.nn.Module`` returning class logits;

    and may override ``_validate_X`` (default: a finite numeric table (n,
    n_factors), scikit-learn's ``validate_data``), ``_check_settings``
    (checks the declared ``_parameter_constraints`` cannot express),
    ``_train_settings`` (default: from the parameters ``epochs``,
    ``learning_rate``, ``optimizer``, ``batch_size``, ``weight_decay``),
    ``_fit_network`` (e.g. to pretrain first), ``_augment`` and
    ``_extra_state`` / ``_restore_extra`` (fitted non-network state).
    The parameters ``seed``, ``validation_fraction``, ``device``,
    ``n_threads`` and ``predict_batch_size`` are expected on every subclass;
    a subclass's ``_parameter_constraints`` extends the shared ones below.

    Every deep model is a binary classifier (event / no event): any two
    labels (0/1, -1/1, strings), ``classes_`` sorted; NaN or inf in a
    table of factors is refused (drop nodata rows first).
    """

    #: Constraints of the parameters every deep model has (scikit-learn's declarative parameter validation).
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "optimizer": [StrOptions({"adam", "sgd"})],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "device": [str],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "predict_batch_size": [Interval(Integral, 1, None, closed="left")],
        "seed": [Interval(Integral, 0, None, closed="left")],
    }

    seed: int
    epochs: int
    learning_rate: float
    optimizer: str
    batch_size: int | None
    weight_decay: float
    validation_fraction: float
    device: str
    n_threads: int | None
    predict_batch_size: int

    # ------------------------------------------------------------------ subclass hooks
    @abc.abstractmethod
    def _inputs(self, X, *, fit: bool) -> np.ndarray:  # noqa: N803
        """The float32 array the network reads for validated ``X`` (``fit``: learn the input scaling first)."""

    @abc.abstractmethod
    def _build(self, n_inputs: int):
        """The ``torch.nn.Module`` mapping ``n_inputs`` input features (channels) to 2 class logits."""

    def _validate_X(self, X, y=None, *, reset: bool):  # noqa: N802, N803
        """``X`` checked as a finite numeric table (n, n_factors) (and ``y`` with it when fitting).

        scikit-learn's ``validate_data``: sets (``reset``) or checks
        ``n_features_in_`` and ``feature_names_in_``; NaN and inf are refused
        with scikit-learn's message. Floats keep float32 / float64, anything
        else becomes float64.
        """
        if getattr(X, "ndim", 2) > 2:
            raise ValueError(
                f"{type(self).__name__} takes a table of factors (n, n_factors), got an array of shape {X.shape}"
            )
        if reset:
            return validate_data(self, X, y, dtype=[np.float64, np.float32])
        return validate_data(self, X, reset=False, dtype=[np.float64, np.float32])

    def _check_settings(self) -> None:
        """Checks beyond the declared constraints (ValueError naming the parameter); subclasses extend it."""
        if self.device != "auto" and str(self.device).split(":")[0] not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', not {self.device!r}")

    def _train_settings(self) -> TrainSettings:
        """Backpropagation settings from the parameters epochs, learning_rate, optimizer, batch_size, weight_decay."""
        return TrainSettings(
            epochs=int(self.epochs),
            learning_rate=float(self.learning_rate),
            optimizer=self.optimizer,
            batch_size=self.batch_size,
            weight_decay=float(self.weight_decay),
        )

    def _augment(self):
        return None

    def _fit_network(self, net, X, y, X_val, y_val, rng):  # noqa: N803
        return train_network(
            net, X, y, self._train_settings(), rng=rng, X_val=X_val, y_val=y_val, augment=self._augment()
        )

    def _extra_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(JSON-able config, tensors) of fitted state outside the network."""
        return {}, {}

    def _restore_extra(self, config: dict[str, Any], tensors: dict[str, Any]) -> None:
        return None

    # ------------------------------------------------------------------ estimator API
    @validated_fit
    def fit(self, X, y):  # noqa: N803
        """Train on inputs ``X`` and binary labels ``y`` (two classes); keeps ``history_``."""
        torch = import_torch()
        self._check_settings()  # the declared constraints were checked by validated_fit
        X, y = self._validate_X(X, y, reset=True)  # noqa: N806
        check_classification_targets(y)
        classes, y_idx = np.unique(y, return_inverse=True)
        if classes.size != 2:
            raise ValueError(
                f"Only binary classification is supported: {type(self).__name__} is a binary classifier; "
                f"y has {classes.size} class(es), it needs two (event, no event)"
            )
        rng = np.random.default_rng(self.seed)
        inputs = self._inputs(X, fit=True)
        if inputs.shape[0] != y.shape[0]:
            raise ValueError(f"X has {inputs.shape[0]} rows but y has {y.shape[0]}")
        train_idx, val_idx = stratified_holdout(y_idx, self.validation_fraction, rng)
        dev = resolve_device(self.device)
        # the seed drives the initial weights and every random op of training (dropout)
        with torch_threads(self.n_threads), seeded(self.seed):
            net = self._build(inputs.shape[1]).to(dev)
            xt = torch.as_tensor(inputs, device=dev)
            yt = torch.as_tensor(y_idx, dtype=torch.long, device=dev)
            has_val = val_idx.size > 0
            self.history_ = self._fit_network(
                net,
                xt[train_idx],
                yt[train_idx],
                xt[val_idx] if has_val else None,
                yt[val_idx] if has_val else None,
                rng,
            )
        self.classes_ = classes
        self.n_inputs_ = int(inputs.shape[1])
        self.network_ = net.eval()
        return self

    def _check_fitted(self) -> None:
        """NotFittedError (a ValueError) unless ``fit`` has run."""
        check_is_fitted(self, "network_")

    def predict_logits(self, X) -> np.ndarray:  # noqa: N803
        """Class logits (n, 2) of inputs ``X``, in batches of ``predict_batch_size`` rows."""
        self._check_fitted()
        torch = import_torch()
        inputs = self._inputs(self._validate_X(X, reset=False), fit=False)
        dev = next(self.network_.parameters()).device
        out = np.empty((inputs.shape[0], 2), dtype=np.float32)
        step = max(1, int(self.predict_batch_size))
        with torch_threads(self.n_threads), torch.no_grad():
            for i in range(0, inputs.shape[0], step):
                xb = torch.as_tensor(inputs[i : i + step], device=dev)
                out[i : i + step] = self.network_(xb).float().cpu().numpy()
        return out

    def predict_proba(self, X) -> np.ndarray:  # noqa: N803
        """Class probabilities (n, 2): softmax of the logits, columns in ``classes_`` order."""
        logits = self.predict_logits(X).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:  # noqa: N803
        """The more probable class of each row."""
        proba = self.predict_proba(X)  # first: NotFittedError before any fitted attribute is read
        return self.classes_[proba.argmax(axis=1)]

    # ------------------------------------------------------------------ persistence hooks
    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(JSON-able fitted config, tensors) for :func:`susmap.models.persist.save_model`."""
        self._check_fitted()
        config, tensors = self._extra_state()
        config = {
            "classes": self.classes_.tolist(),
            "n_features_in": self.n_features_in_,
            "n_inputs": self.n_inputs_,
            "history": self.history_.to_dict(orient="list"),
            **config,
        }
        if hasattr(self, "feature_names_in_"):
            config["feature_names_in"] = [str(n) for n in self.feature_names_in_]
        tensors = {**{f"network.{k}": v.detach().cpu() for k, v in self.network_.state_dict().items()}, **tensors}
        return config, tensors

    def _restore(self, config: dict[str, Any], tensors: dict[str, Any]) -> None:
        self.classes_ = np.asarray(config["classes"])
        self.n_features_in_ = int(config["n_features_in"])
        # files written before "n_inputs" was saved held the network's width in "n_features_in"
        self.n_inputs_ = int(config.get("n_inputs", config["n_features_in"]))
        if config.get("feature_names_in") is not None:
            self.feature_names_in_ = np.asarray(config["feature_names_in"], dtype=object)
        self.history_ = pd.DataFrame(config["history"], columns=list(HISTORY_COLUMNS))
        self._restore_extra(config, tensors)
        net = self._build(self.n_inputs_)
        net.load_state_dict({k[len("network.") :]: v for k, v in tensors.items() if k.startswith("network.")})
        self.network_ = net.to(resolve_device(self.device)).eval()
