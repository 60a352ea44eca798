"""Patch CNN: a convolutional network on the k × k factor window around each cell (paper 000, section 3).

Paper 000 feeds a 15-layer CNN with the triggering-factor layers around the
landslide cells ("spatial dependency ... neighbouring pixels", section 3) and
classifies each cell. The paper does not list the layers; susmap's network
for a window of k = 15 cells is, with the default widths (``channels=(16, 32)``,
``dense_units=32``; layer: output channels × size):

====  =====================================  =====================
  #   layer                                  output (C × k × k)
====  =====================================  =====================
      input: factors + validity mask         (F' + 1) × 15 × 15
  1   conv 3×3, valid                        16 × 13 × 13
  2   batch normalisation                    16 × 13 × 13
  3   ReLU                                   16 × 13 × 13
  4   conv 3×3, valid                        16 × 11 × 11
  5   batch normalisation                    16 × 11 × 11
  6   ReLU                                   16 × 11 × 11
  7   max pooling 3×3, stride 1              16 × 9 × 9
  8   dropout (channels)                     16 × 9 × 9
  9   conv 3×3, valid                        32 × 7 × 7
 10   batch normalisation                    32 × 7 × 7
 11   ReLU                                   32 × 7 × 7
 12   max pooling 3×3, stride 1              32 × 5 × 5
 13   dropout (channels)                     32 × 5 × 5
 14   dense (conv 5×5 = flatten + linear)    32 × 1 × 1
 15   ReLU                                   32 × 1 × 1
 16   dropout                                32 × 1 × 1
 17   dense (conv 1×1 = linear) + softmax    2 × 1 × 1
====  =====================================  =====================

Every layer is translation-equivariant (valid convolutions, stride-1 pooling,
dense layers written as convolutions), so the same network run once over a
raster block with a halo of k//2 cells gives, at every cell, exactly what it
gives for that cell's window (:meth:`PatchCNNClassifier.predict_dense`):
wall-to-wall maps need no loop over cells. Smaller windows keep the first
(k - 1) / 2 of the five size-reducing layers (1, 4, 7, 9, 12); larger windows
widen the dense layer 14 to the remaining size.

Inputs: continuous factors are standardised with the training windows' mean
and standard deviation, categorical factors one-hot encoded (classes seen in
training); cells outside the raster or with nodata in any factor are set to
0 in every channel and flagged 0 in an extra validity-mask channel (masked
padding). Augmentation by the 8 flips/rotations of the square applies only
when every factor is rotation-invariant (slope, curvatures, elevation,
wetness, distances, lithology ... but not aspect, eastness or directions, see
:func:`susmap.models.windows.orientation_dependent`).
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

from susmap.models.torch_base import TorchClassifier, import_torch, torch_threads
from susmap.models.windows import WindowSource, orientation_dependent

__all__ = ["PatchCNNClassifier", "build_patch_cnn", "patch_cnn_layers"]

AUGMENT = ("auto", "dihedral", "flips", "none")


def patch_cnn_layers(window_size: int) -> list[str]:
    """The size-reducing layers (``"conv"`` / ``"pool"``, each −2 cells) used for a window; see the module table."""
    if window_size < 1 or window_size % 2 != 1:
        raise ValueError(f"window_size must be a positive odd number of cells, not {window_size}")
    return ["conv", "conv", "pool", "conv", "pool"][: min(5, (window_size - 1) // 2)]


def build_patch_cnn(n_inputs: int, window_size: int, channels: Sequence[int], dense_units: int, dropout: float):
    """The network of the module table for ``n_inputs`` channels and a ``window_size`` window.

    ``channels`` gives the width of the first and second convolution groups
    (layers 1-8 and 9-13); ``dense_units`` that of layer 14.
    """
    nn = import_torch().nn
    c1, c2 = (int(c) for c in channels)
    layers: list = []
    width, convs = n_inputs, 0
    for op in patch_cnn_layers(window_size):
        if op == "conv":
            out = c1 if convs < 2 else c2
            layers += [nn.Conv2d(width, out, 3), nn.BatchNorm2d(out), nn.ReLU()]
            width, convs = out, convs + 1
        else:
            layers += [nn.MaxPool2d(3, stride=1), nn.Dropout2d(dropout)]
    remaining = window_size - 2 * len(patch_cnn_layers(window_size))
    layers += [
        nn.Conv2d(width, int(dense_units), remaining),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Conv2d(int(dense_units), 2, 1),
    ]
    from susmap.models.window_net import WindowNet

    return WindowNet(nn.Sequential(*layers))


_DIHEDRAL = [(k, flip) for flip in (False, True) for k in range(4)]


class PatchCNNClassifier(TorchClassifier, ClassifierMixin, BaseEstimator):
    """Convolutional network on factor windows (paper 000), scikit-learn API, PyTorch inside.

    ``fit`` / ``predict_proba`` take either factor windows, an array (n,
    n_factors, k, k) with NaN for nodata and beyond the raster, or, with a
    ``window_source``, a design matrix whose last two columns are the cells'
    row and column (how susmap's pipelines call it). A plain factor table has
    no neighbourhood and is refused.

    Parameters
    ----------
    window_size : int
        k, the odd window width in cells (default 15).
    channels : (int, int)
        Widths of the two convolution groups (layers 1-8 and 9-13).
    dense_units : int
        Width of the dense layer 14.
    dropout : float
        Dropout rate (layers 8, 13, 16).
    learning_rate, epochs, batch_size, optimizer, weight_decay
        Training by backpropagation on cross-entropy (Adam by default).
    augment : {"auto", "dihedral", "flips", "none"}
        Random flips/rotations of training windows; ``"auto"``: the 8
        symmetries of the square when no factor is orientation-dependent,
        none otherwise. Asking for it with an orientation-dependent factor
        (aspect, ...) is an error.
    factor_names : sequence of str, optional
        Names of the window bands (taken from ``window_source`` when given).
    categorical : sequence of int, optional
        Bands holding class codes (one-hot encoded); from ``window_source``
        kinds when given.
    window_source : WindowSource, optional
        Where the windows of design-matrix cells come from.
    validation_fraction, device, n_threads, predict_batch_size, seed
        As for every susmap deep model (:class:`susmap.models.dlnn.DLNNClassifier`).
    dense_rows : int
        Output rows per pass of :meth:`predict_dense` (bounds its memory).

    Attributes
    ----------
    classes_ : numpy.ndarray
        The two labels, sorted (any two: 0/1, -1/1, strings); ``classes_[1]`` is the event.
    n_features_in_ : int
        Factor bands of the windows (the design matrix's row and column are not features).
    n_inputs_ : int
        Input channels of the network: continuous bands, one per class of each
        categorical band, and the validity mask.
    network_ : torch.nn.Module
    history_ : pandas.DataFrame

    Notes
    -----
    A window of ``window_size=1`` is the cell alone: the model then also
    takes a plain factor table (n, n_factors), the 1 x 1 windows, and
    refuses NaN in it like every tabular model. In larger windows NaN marks
    nodata neighbours (masked), but the centre cell itself must have every
    factor: no prediction is made from a fill value.
    """

    _parameter_constraints: ClassVar[dict[str, list]] = {
        **TorchClassifier._parameter_constraints,
        "window_size": [Interval(Integral, 1, None, closed="left")],
        "channels": ["array-like"],
        "dense_units": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "augment": [StrOptions(set(AUGMENT))],
        "factor_names": ["array-like", None],
        "categorical": ["array-like", None],
        "window_source": [WindowSource, None],
        "dense_rows": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        window_size: int = 15,
        channels: Sequence[int] = (16, 32),
        dense_units: int = 32,
        dropout: float = 0.25,
        learning_rate: float = 1e-3,
        epochs: int = 40,
        batch_size: int | None = 64,
        optimizer: str = "adam",
        weight_decay: float = 1e-4,
        augment: str = "auto",
        factor_names: Sequence[str] | None = None,
        categorical: Sequence[int] | None = None,
        window_source: WindowSource | None = None,
        validation_fraction: float = 0.1,
        device: str = "auto",
        n_threads: int | None = 1,
        predict_batch_size: int = 4096,
        dense_rows: int = 128,
        seed: int = 0,
    ) -> None:
        self.window_size = window_size
        self.channels = channels
        self.dense_units = dense_units
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.augment = augment
        self.factor_names = factor_names
        self.categorical = categorical
        self.window_source = window_source
        self.validation_fraction = validation_fraction
        self.device = device
        self.n_threads = n_threads
        self.predict_batch_size = predict_batch_size
        self.dense_rows = dense_rows
        self.seed = seed

    def _check_settings(self) -> None:
        super()._check_settings()
        patch_cnn_layers(self.window_size)  # odd and positive
        widths = [*list(self.channels), self.dense_units]
        if len(widths) != 3 or not all(isinstance(c, Integral) and not isinstance(c, bool) and c > 0 for c in widths):
            raise ValueError(f"channels must be two positive integers, dense_units one; got {widths}")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        one_cell = isinstance(self.window_size, Integral) and self.window_size == 1
        # a plain table of factors is only the windows of size 1 (with a window_source, the last two columns
        # are cell addresses); NaN may only mark nodata neighbours, which a 1 x 1 window has none of
        tags.input_tags.two_d_array = one_cell and self.window_source is None
        tags.input_tags.allow_nan = not one_cell
        return tags

    # ------------------------------------------------------------------ inputs
    @property
    def window_halo(self) -> int:
        """Cells of context needed on each side of a cell: ``window_size // 2``."""
        return int(self.window_size) // 2

    def _names(self) -> list[str] | None:
        if self.window_source is not None:
            return list(self.window_source.names)
        return None if self.factor_names is None else [str(n) for n in self.factor_names]

    def _categorical_bands(self) -> list[int]:
        if self.categorical is not None:
            return [int(i) for i in self.categorical]
        return self.window_source.categorical if self.window_source is not None else []

    def _validate_X(self, X, y=None, *, reset: bool):  # noqa: N802, N803
        """Factor windows (n, n_factors, k, k) float32 of ``X`` (and ``y`` checked with it when fitting).

        ``X`` is windows, a design matrix ending with cell rows and columns
        (with a ``window_source``) or, for ``window_size=1``, a factor table.
        Sets (``reset``) or checks ``n_features_in_``, the number of factor
        bands. NaN is allowed in the neighbours of a window, not in its
        centre cell; inf nowhere.
        """
        k = int(self.window_size)
        ndim = X.ndim if hasattr(X, "ndim") else np.asarray(X).ndim
        args = (X, y) if reset else (X,)
        if k == 1 and self.window_source is None and ndim != 4:  # a factor table: the 1 x 1 windows
            out = validate_data(self, *args, reset=reset, dtype=np.float32)
            X = out[0] if reset else out  # noqa: N806
            windows = X[:, :, None, None]
        elif ndim == 4 or (ndim == 2 and self.window_source is not None):
            dtype = np.float32 if ndim == 4 else "numeric"
            kw = {"ensure_2d": False, "allow_nd": True, "ensure_all_finite": "allow-nan", "dtype": dtype}
            out = validate_data(self, *args, reset=reset, **kw)
            X = out[0] if reset else out  # noqa: N806
            if ndim == 4:
                if X.shape[2:] != (k, k):
                    raise ValueError(f"windows must be {k} x {k} cells (window_size), got {X.shape[2]} x {X.shape[3]}")
                windows = X
            else:
                rows, cols = X[:, -2], X[:, -1]
                if not (np.all(rows == np.round(rows)) and np.all(cols == np.round(cols))):
                    raise ValueError("the last two design-matrix columns must be integer cell rows and columns")
                windows = self.window_source.windows(rows.astype(np.int64), cols.astype(np.int64), k)
            if reset:
                self.n_features_in_ = int(windows.shape[1])
            elif windows.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {windows.shape[1]} features, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input (factor bands)."
                )
        else:
            raise ValueError(
                f"the patch CNN reads the {k} x {k} neighbourhood of each cell in the factor rasters; "
                f"a factor table of shape {np.shape(X)} has none. Give windows (n, n_factors, {k}, {k}) "
                "or a study with raster layers"
            )
        centre = windows[:, :, k // 2, k // 2]
        bad = ~np.isfinite(centre).all(axis=1)
        if bad.any():
            raise ValueError(
                f"Input X contains NaN or inf in the centre cell of {int(bad.sum())} window(s): the patch CNN "
                "predicts only cells with every factor (neighbours may be nodata); drop those cells first"
            )
        return (windows, out[1]) if reset else windows

    def _encode(self, windows: np.ndarray) -> np.ndarray:
        """Network input (n, C, h, w) of raw factor values (n, F, h, w): scaled, one-hot, NaN→0, mask band."""
        valid = np.isfinite(windows).all(axis=1, keepdims=True)
        bands = []
        cat = set(self.categorical_bands_)
        for b in range(windows.shape[1]):
            v = windows[:, b : b + 1]
            if b in cat:
                bands += [(v == c).astype(np.float32) for c in self.classes_by_band_[str(b)]]
            else:
                bands.append((v - self.band_mean_[b]) / self.band_std_[b])
        out = np.concatenate([*bands, valid.astype(np.float32)], axis=1)
        out[~np.broadcast_to(valid, out.shape)] = 0.0
        return np.ascontiguousarray(out, dtype=np.float32)

    def _inputs(self, X, *, fit: bool) -> np.ndarray:  # noqa: N803
        windows = X  # validated by _validate_X
        if fit:
            n_bands = windows.shape[1]
            names = self._names()
            if names is not None and len(names) != n_bands:
                raise ValueError(f"{len(names)} factor names for windows of {n_bands} bands")
            self.categorical_bands_ = [b for b in self._categorical_bands() if 0 <= b < n_bands]
            self.n_bands_ = n_bands
            flat = np.moveaxis(windows, 1, 0).reshape(n_bands, -1)
            mean = np.zeros(n_bands, dtype=np.float64)
            std = np.ones(n_bands, dtype=np.float64)
            self.classes_by_band_ = {}
            for b in range(n_bands):
                v = flat[b][np.isfinite(flat[b])]
                if b in self.categorical_bands_:
                    self.classes_by_band_[str(b)] = [float(c) for c in np.unique(v)]
                elif v.size:
                    mean[b], std[b] = float(v.mean()), float(v.std()) or 1.0
            self.band_mean_ = mean.astype(np.float32)
            self.band_std_ = std.astype(np.float32)
        return self._encode(windows)

    # ------------------------------------------------------------------ network and training
    def _build(self, n_inputs: int):
        return build_patch_cnn(n_inputs, int(self.window_size), self.channels, self.dense_units, self.dropout)

    def augmentation(self) -> str:
        """The augmentation used: ``"dihedral"``, ``"flips"`` or ``"none"`` (``"auto"`` resolved)."""
        if self.augment not in AUGMENT:
            raise ValueError(f"augment must be one of {', '.join(AUGMENT)}, not {self.augment!r}")
        names = self._names()
        oriented = orientation_dependent(names) if names is not None else []
        if self.augment == "auto":
            return "dihedral" if names is not None and not oriented else "none"
        if self.augment != "none" and oriented:
            raise ValueError(
                f"augment={self.augment!r} would rotate or flip orientation-dependent factors "
                f"({', '.join(oriented)}); use augment='none'"
            )
        return self.augment

    def _augment(self):
        mode = self.augmentation()
        if mode == "none":
            return None
        torch = import_torch()
        transforms = _DIHEDRAL if mode == "dihedral" else [(0, False), (0, True), (2, False), (2, True)]

        def apply(batch, rng: np.random.Generator):
            pick = rng.integers(len(transforms), size=batch.shape[0])
            out = batch.clone()
            for t, (k, flip) in enumerate(transforms):
                idx = np.flatnonzero(pick == t)
                if idx.size == 0 or (k == 0 and not flip):
                    continue
                sel = torch.as_tensor(idx, device=batch.device)
                part = batch[sel]
                if flip:
                    part = torch.flip(part, dims=(3,))
                out[sel] = torch.rot90(part, k, dims=(2, 3))
            return out

        return apply

    # ------------------------------------------------------------------ wall-to-wall prediction
    def predict_dense(self, block: np.ndarray) -> np.ndarray:
        """Event probability of the inner cells of a raster block, one network pass per strip of rows.

        ``block`` is (n_factors, h + 2·halo, w + 2·halo) float32 with NaN for
        nodata and for cells beyond the raster edge; the result is (h, w),
        NaN where the centre cell is nodata. Equal, within float tolerance,
        to :meth:`predict_proba` of each inner cell's window.
        """
        self._check_fitted()
        torch = import_torch()
        halo = self.window_halo
        block = np.asarray(block, dtype=np.float32)
        h, w = block.shape[1] - 2 * halo, block.shape[2] - 2 * halo
        out = np.full((h, w), np.nan, dtype=np.float32)
        centre = np.isfinite(block[:, halo : halo + h, halo : halo + w]).all(axis=0)
        if h <= 0 or w <= 0 or not centre.any():
            return out
        dev = next(self.network_.parameters()).device
        step = max(1, int(self.dense_rows))
        with torch_threads(self.n_threads), torch.no_grad():
            for r0 in range(0, h, step):
                r1 = min(h, r0 + step)
                if not centre[r0:r1].any():
                    continue
                x = self._encode(block[None, :, r0 : r1 + 2 * halo, :])
                logits = self.network_.body(torch.as_tensor(x, device=dev))
                logits = logits[0].double()  # (2, rows, w)
                prob = torch.softmax(logits, dim=0)[1].cpu().numpy()
                out[r0:r1] = np.where(centre[r0:r1], prob, np.nan)
        return out

    # ------------------------------------------------------------------ persistence
    def _extra_state(self):
        config = {
            "n_bands": self.n_bands_,
            "categorical_bands": list(self.categorical_bands_),
            "classes_by_band": self.classes_by_band_,
            "band_mean": self.band_mean_.tolist(),
            "band_std": self.band_std_.tolist(),
            "factor_names": self._names(),
        }
        return config, {}

    def _restore_extra(self, config, tensors) -> None:
        self.n_bands_ = int(config["n_bands"])
        self.n_features_in_ = self.n_bands_  # files of earlier versions saved the network's width there
        self.categorical_bands_ = [int(b) for b in config["categorical_bands"]]
        self.classes_by_band_ = {str(k): list(v) for k, v in config["classes_by_band"].items()}
        self.band_mean_ = np.asarray(config["band_mean"], dtype=np.float32)
        self.band_std_ = np.asarray(config["band_std"], dtype=np.float32)
        if self.factor_names is None and config.get("factor_names") is not None:
            self.factor_names = list(config["factor_names"])
