"""Unsupervised greedy layer-wise pretraining of the meta-learner's network (paper 004, sections 4.2 and 4.6).

Three unsupervised modules are trained bottom-up on unlabelled factor
vectors (greedy layer-wise, Salakhutdinov & Hinton 2009), each on the
hidden representation of the one below:

1. **RBM 1**, Gaussian-Bernoulli (real-valued, standardised visible units of
   unit variance; binary hidden units), energy
   ``E(v, h) = ½‖v - a‖² - bᵀh - hᵀWv``, free energy
   ``F(v) = ½‖v - a‖² - Σ_j softplus(b_j + W_j v)``;
2. **RBM 2**, Bernoulli-Bernoulli on the hidden probabilities of RBM 1,
   ``F(v) = -aᵀv - Σ_j softplus(b_j + W_j v)``;
3. a **denoising autoencoder** (Vincent et al. 2008) on the hidden
   probabilities of RBM 2: masking noise sets a fraction ``corruption`` of
   the inputs to 0, a sigmoid encoder and a sigmoid decoder reconstruct the
   clean input (mean squared error).

The RBMs follow the log-likelihood gradient of eq. 1, whose model
expectation is approximated by contrastive divergence (CD-k, Hinton 2002;
k = 1 by default): the data vector starts a Gibbs chain ``v0 → h0 ~ p(h|v0)
→ v1 = E[v|h0]`` (the mean of the visible units, as is usual for Gaussian
and for probability-valued inputs), and the parameters descend
``F(v0) - F(v1)`` with ``v1`` held fixed, whose gradient is minus the CD-1
estimate ``<v hᵀ>_data - <v hᵀ>_recon``. Section 4.6: all modules trained by
Adam, the RBMs at learning rate 1e-3 and the DAE at 1e-5, 20 epochs each
(the DAE's default here is 1e-3, see :class:`PretrainSettings`).

The stack initialises the meta-learner (section 4.2: "the model is composed
of sequential stacked unsupervised learning modules"): layer 1 = RBM 1's
``(W, b)``, layer 2 = RBM 2's, layer 3 = the DAE encoder, each followed by a
sigmoid (the hidden units' activation probabilities), then a freshly
initialised 2-class output layer. Hidden sizes default to 32-32-16 –
wider than the handful of factors, as the paper widens the hidden layers
"to generate more independent and descriptive hidden units".

Inputs are standardised (zero mean, unit variance per factor) with the
statistics of the unlabelled vectors, which the unit-variance Gaussian RBM
assumes; the same scaling is applied everywhere downstream.

Unlabelled vectors come from raster cells (:func:`sample_valid_cells`),
not only from the inventory, so the representation covers the whole study
area.

PyTorch is imported inside the functions (optional dependency).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from susmap.meta.blocks import as_array, is_dask, valid_mask, values_at

__all__ = [
    "PRETRAIN_HISTORY_COLUMNS",
    "PretrainSettings",
    "Pretrained",
    "RBMState",
    "pretrain_network",
    "sample_valid_cells",
    "standardize",
    "train_dae",
    "train_rbm",
]

#: Columns of the pretraining history (one row per module and epoch; epoch 0 = before training).
PRETRAIN_HISTORY_COLUMNS = ("module", "epoch", "reconstruction_error", "free_energy", "denoising_error")


@dataclass(frozen=True)
class PretrainSettings:
    """Settings of the unsupervised pretraining (paper 004 sections 4.2 and 4.6).

    Attributes
    ----------
    hidden : tuple of int
        Hidden units of RBM 1, RBM 2 and the DAE encoder (default 32-32-16).
    epochs : int
        Passes over the unlabelled vectors per module (paper: 20).
    rbm_learning_rate : float
        Adam step size of the RBMs (paper: 1e-3).
    dae_learning_rate : float
        Adam step size of the DAE (paper: 1e-5; default 1e-3: at 1e-5 the
        DAE stays near its random initialisation, whose outputs hardly vary
        across cells – see :class:`susmap.meta.settings.BlockwiseSettings`).
    batch_size : int
        Mini-batch size (the paper gives none; 128).
    cd_steps : int
        Gibbs steps k of contrastive divergence (paper: CD-k with k = 1).
    corruption : float
        Share of the DAE's inputs zeroed by masking noise (Vincent et al. 2008 use 0.1-0.4).
    """

    hidden: tuple[int, int, int] = (32, 32, 16)
    epochs: int = 20
    rbm_learning_rate: float = 1e-3
    dae_learning_rate: float = 1e-3
    batch_size: int = 128
    cd_steps: int = 1
    corruption: float = 0.2

    def check(self) -> None:
        """Refuse impossible settings with a ValueError naming the setting."""
        if len(self.hidden) != 3 or not all(isinstance(u, int | np.integer) and u > 0 for u in self.hidden):
            raise ValueError(f"hidden must be three positive integers (RBM 1, RBM 2, DAE), got {self.hidden!r}")
        for name in ("epochs", "batch_size", "cd_steps"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("rbm_learning_rate", "dae_learning_rate"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if not 0.0 <= self.corruption < 1.0:
            raise ValueError(f"corruption must be in [0, 1), got {self.corruption!r}")


@dataclass
class RBMState:
    """A trained restricted Boltzmann machine.

    Attributes
    ----------
    weight : numpy.ndarray of shape (n_hidden, n_visible)
        ``W``; ``p(h_j = 1 | v) = σ(b_j + W_j v)``.
    hidden_bias, visible_bias : numpy.ndarray
        ``b`` and ``a``.
    visible : {"gaussian", "bernoulli"}
        Type of the visible units.
    history : pandas.DataFrame
        ``epoch, reconstruction_error, free_energy`` (epoch 0: before training).
    """

    weight: np.ndarray
    hidden_bias: np.ndarray
    visible_bias: np.ndarray
    visible: str
    history: pd.DataFrame

    def transform(self, v: np.ndarray) -> np.ndarray:
        """Hidden activation probabilities ``σ(b + W v)`` of visible vectors (n, n_visible) → (n, n_hidden)."""
        z = np.asarray(v, dtype=np.float64) @ self.weight.T.astype(np.float64) + self.hidden_bias
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


@dataclass
class Pretrained:
    """Result of :func:`pretrain_network`.

    Attributes
    ----------
    params : dict of str to numpy.ndarray
        Initial parameters of the meta-learner's network, in the naming of
        :func:`susmap.meta.maml.build_network` (``"0.weight"``, ``"0.bias"``,
        ``"2.weight"``, ... , the last pair the 2-class output layer).
    mean, scale : numpy.ndarray of shape (n_factors,)
        Input standardisation ``(x - mean) / scale``.
    history : pandas.DataFrame
        :data:`PRETRAIN_HISTORY_COLUMNS`, modules ``"rbm1"``, ``"rbm2"``, ``"dae"``.
    settings : PretrainSettings
    """

    params: dict[str, np.ndarray]
    mean: np.ndarray
    scale: np.ndarray
    history: pd.DataFrame
    settings: PretrainSettings = field(default_factory=PretrainSettings)


# ---------------------------------------------------------------------------------------------- data


def sample_valid_cells(
    stack: Any, n: int, seed: int = 0, *, exact_limit: int = 16_000_000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Factor vectors of ``n`` random valid cells (uniform, without replacement).

    Parameters
    ----------
    stack : array-like of shape (n_factors, height, width)
        numpy or dask array (or xarray DataArray / Stack), NaN = nodata.
    n : int
        Cells wanted; all valid cells if there are fewer.
    seed : int
        Seeds the draw.
    exact_limit : int
        Largest number of cells of a dask stack drawn from its full mask.

    Returns
    -------
    values : numpy.ndarray of float32, shape (m, n_factors)
    rows, cols : numpy.ndarray of int64, shape (m,)
        The cells, in raster order.

    Notes
    -----
    A numpy stack, or a dask stack of up to ``exact_limit`` cells, has its
    validity mask computed and the cells drawn from it exactly. A larger
    dask stack is sampled by rejection (random cells drawn in rounds,
    invalid and repeated ones discarded, only the drawn cells read), which
    reads a few times ``n`` cells instead of the whole stack; if the stack
    has fewer than ``n`` valid cells, the rounds stop after 50 and return
    the valid cells they found.
    """
    arr = as_array(stack)
    _, h, w = arr.shape
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    rng = np.random.default_rng(seed)
    if h * w <= exact_limit or not is_dask(arr):
        flat = np.flatnonzero(valid_mask(arr))
        if flat.size == 0:
            raise ValueError("the stack has no valid cell")
        pick = np.sort(rng.choice(flat, size=min(n, flat.size), replace=False))
        rows, cols = np.divmod(pick, w)
        return values_at(arr, rows, cols), rows.astype(np.int64), cols.astype(np.int64)
    taken: np.ndarray = np.empty(0, dtype=np.int64)
    kept_vals: list[np.ndarray] = []
    kept_cells: list[np.ndarray] = []
    have = 0
    draw = 2 * n
    for _ in range(50):
        cand = np.setdiff1d(np.unique(rng.integers(0, h * w, size=draw)), taken)
        if cand.size == 0:
            if taken.size >= h * w:
                break
            continue
        taken = np.union1d(taken, cand)
        r, c = np.divmod(cand, w)
        vals = values_at(arr, r, c)
        ok = np.isfinite(vals).all(axis=1)
        kept_vals.append(vals[ok])
        kept_cells.append(cand[ok])
        have += int(ok.sum())
        if have >= n:
            break
        rate = max(ok.mean(), 1e-3)
        draw = int(min(4 * (n - have) / rate + 16, 50_000_000))
    cells = np.concatenate(kept_cells)
    vals = np.concatenate(kept_vals)
    if cells.size == 0:
        raise ValueError("no valid cell found by sampling the stack")
    keep = np.sort(rng.permutation(cells.size)[:n])
    order = np.argsort(cells[keep])
    cells, vals = cells[keep][order], vals[keep][order]
    rows, cols = np.divmod(cells, w)
    return vals.astype(np.float32), rows.astype(np.int64), cols.astype(np.int64)


def standardize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-factor mean and standard deviation (1 where constant) of the finite rows of ``x`` (n, n_factors)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x).all(axis=1)]
    if x.shape[0] == 0:
        raise ValueError("no complete row to standardise with")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[~(scale > 0)] = 1.0
    return mean.astype(np.float32), scale.astype(np.float32)


# ---------------------------------------------------------------------------------------------- modules


def _batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def train_rbm(
    v: np.ndarray,
    n_hidden: int,
    *,
    visible: str = "gaussian",
    epochs: int = 20,
    learning_rate: float = 1e-3,
    batch_size: int = 64,
    cd_steps: int = 1,
    seed: int = 0,
) -> RBMState:
    """Train an RBM by CD-k with Adam (paper 004 section 4.2, eq. 1; Hinton 2002).

    Parameters
    ----------
    v : numpy.ndarray of shape (n, n_visible)
        Training vectors: standardised factors (``visible="gaussian"``, unit
        variance assumed) or probabilities in [0, 1] (``"bernoulli"``).
    n_hidden : int
        Hidden units.
    visible : {"gaussian", "bernoulli"}
        Gaussian-Bernoulli or Bernoulli-Bernoulli RBM.
    epochs, learning_rate, batch_size, cd_steps : int, float, int, int
        Passes over ``v``, Adam step size, mini-batch size, Gibbs steps k.
    seed : int
        Seeds the initial weights (``N(0, 0.01²)``, Hinton 2010), the
        mini-batches and the Gibbs sampling.

    Returns
    -------
    RBMState
        With the history of the reconstruction error (mean squared
        difference between ``v`` and its mean-field reconstruction
        ``E[v | h = p(h|v)]``, per visible unit) and the mean free energy of
        ``v``, before training (epoch 0) and after every epoch.
    """
    from susmap.models.torch_base import import_torch

    torch = import_torch()
    if visible not in ("gaussian", "bernoulli"):
        raise ValueError(f"visible must be 'gaussian' or 'bernoulli', got {visible!r}")
    x = torch.as_tensor(np.asarray(v, dtype=np.float32))
    n, n_vis = x.shape
    gen = torch.Generator().manual_seed(int(seed))
    rng = np.random.default_rng(seed)
    weight = (0.01 * torch.randn(n_hidden, n_vis, generator=gen)).requires_grad_()
    hbias = torch.zeros(n_hidden, requires_grad=True)
    if visible == "gaussian":
        vbias0 = x.mean(0)
    else:  # log(p / (1 - p)) of the mean activation (Hinton 2010, section 8.1)
        p = x.mean(0).clamp(1e-3, 1 - 1e-3)
        vbias0 = torch.log(p / (1 - p))
    vbias = vbias0.clone().requires_grad_()
    opt = torch.optim.Adam([weight, hbias, vbias], lr=learning_rate)
    softplus = torch.nn.functional.softplus

    def free_energy(vv: Any) -> Any:
        hidden_term = softplus(vv @ weight.T + hbias).sum(1)
        if visible == "gaussian":
            return 0.5 * ((vv - vbias) ** 2).sum(1) - hidden_term
        return -(vv @ vbias) - hidden_term

    def visible_mean(h: Any) -> Any:
        z = h @ weight + vbias
        return z if visible == "gaussian" else torch.sigmoid(z)

    def scores(epoch: int) -> dict[str, Any]:
        with torch.no_grad():
            ph = torch.sigmoid(x @ weight.T + hbias)
            recon = visible_mean(ph)
            err = float(((x - recon) ** 2).mean())
            fe = float(free_energy(x).mean())
        return {"epoch": epoch, "reconstruction_error": err, "free_energy": fe}

    rows = [scores(0)]
    for epoch in range(1, int(epochs) + 1):
        for idx in _batches(n, int(batch_size), rng):
            v0 = x[torch.as_tensor(idx)]
            with torch.no_grad():
                vk = v0
                for _ in range(int(cd_steps)):
                    ph = torch.sigmoid(vk @ weight.T + hbias)
                    h = torch.bernoulli(ph, generator=gen)
                    vk = visible_mean(h)
            loss = free_energy(v0).mean() - free_energy(vk).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        rows.append(scores(epoch))
    return RBMState(
        weight=weight.detach().numpy().copy(),
        hidden_bias=hbias.detach().numpy().copy(),
        visible_bias=vbias.detach().numpy().copy(),
        visible=visible,
        history=pd.DataFrame(rows),
    )


def train_dae(
    x: np.ndarray,
    n_hidden: int,
    *,
    corruption: float = 0.2,
    epochs: int = 20,
    learning_rate: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Train a denoising autoencoder with masking noise by Adam (paper 004 section 4.2; Vincent et al. 2008).

    Encoder ``h = σ(W x̃ + b)`` of the corrupted input ``x̃`` (a share
    ``corruption`` of the inputs set to 0), decoder ``x̂ = σ(W' h + c)``
    (untied weights), loss the mean squared error ``‖x̂ - x‖²`` per input
    against the clean input; weights initialised as torch's ``Linear``
    (uniform ±1/√fan_in).

    Parameters
    ----------
    x : numpy.ndarray of shape (n, n_inputs)
        Inputs in [0, 1] (the hidden probabilities of RBM 2).
    n_hidden : int
        Encoder units.
    corruption, epochs, learning_rate, batch_size : float, int, float, int
        Masking share, passes over ``x``, Adam step size, mini-batch size.
    seed : int
        Seeds the weights, the mini-batches and the noise.

    Returns
    -------
    (dict, pandas.DataFrame)
        Parameters ``encoder.weight, encoder.bias, decoder.weight,
        decoder.bias`` and the history ``epoch, denoising_error`` (the loss
        on all of ``x`` under one fixed corruption draw, so epochs compare;
        epoch 0 = before training).
    """
    from susmap.models.torch_base import import_torch, seeded

    torch = import_torch()
    nn = torch.nn
    data = torch.as_tensor(np.asarray(x, dtype=np.float32))
    n, n_in = data.shape
    with seeded(seed):
        encoder = nn.Linear(n_in, n_hidden)
        decoder = nn.Linear(n_hidden, n_in)
    gen = torch.Generator().manual_seed(int(seed) + 1)
    rng = np.random.default_rng(seed)
    params = [*encoder.parameters(), *decoder.parameters()]
    opt = torch.optim.Adam(params, lr=learning_rate)
    keep_eval = (torch.rand(data.shape, generator=torch.Generator().manual_seed(int(seed) + 2)) >= corruption).float()

    def reconstruct(inp: Any) -> Any:
        return torch.sigmoid(decoder(torch.sigmoid(encoder(inp))))

    def score(epoch: int) -> dict[str, Any]:
        with torch.no_grad():
            err = float(((reconstruct(data * keep_eval) - data) ** 2).mean())
        return {"epoch": epoch, "denoising_error": err}

    rows = [score(0)]
    for epoch in range(1, int(epochs) + 1):
        for idx in _batches(n, int(batch_size), rng):
            xb = data[torch.as_tensor(idx)]
            keep = (torch.rand(xb.shape, generator=gen) >= corruption).float()
            loss = ((reconstruct(xb * keep) - xb) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        rows.append(score(epoch))
    out = {
        "encoder.weight": encoder.weight.detach().numpy().copy(),
        "encoder.bias": encoder.bias.detach().numpy().copy(),
        "decoder.weight": decoder.weight.detach().numpy().copy(),
        "decoder.bias": decoder.bias.detach().numpy().copy(),
    }
    return out, pd.DataFrame(rows)


def pretrain_network(
    x: np.ndarray,
    settings: PretrainSettings | None = None,
    *,
    seed: int = 0,
    n_threads: int | None = 1,
    mean: Sequence[float] | None = None,
    scale: Sequence[float] | None = None,
) -> Pretrained:
    """Greedy layer-wise pretraining RBM 1 → RBM 2 → DAE on unlabelled vectors (paper 004 section 4.2).

    Parameters
    ----------
    x : numpy.ndarray of shape (n, n_factors)
        Unlabelled factor vectors in their own units (rows with NaN are
        dropped), e.g. :func:`sample_valid_cells` plus the sample vectors.
    settings : PretrainSettings, optional
        Defaults: paper 004 section 4.6.
    seed : int
        Seeds every module (module i uses ``seed + i``) and the output layer.
    n_threads : int or None
        Torch CPU threads (1: reproducible bit for bit).
    mean, scale : sequence of float, optional
        Input standardisation; default: that of ``x`` (:func:`standardize`).

    Returns
    -------
    Pretrained
        The network's initial parameters (RBM 1, RBM 2, DAE encoder, then a
        new 2-class output layer), the standardisation and the history.
    """
    from susmap.meta.maml import init_params
    from susmap.models.torch_base import torch_threads

    settings = settings or PretrainSettings()
    settings.check()
    x = np.asarray(x, dtype=np.float32)
    x = x[np.isfinite(x).all(axis=1)]
    if x.shape[0] < 2:
        raise ValueError("pretraining needs at least two complete unlabelled vectors")
    if mean is None or scale is None:
        mean_a, scale_a = standardize(x)
    else:
        mean_a, scale_a = np.asarray(mean, dtype=np.float32), np.asarray(scale, dtype=np.float32)
    z = (x - mean_a) / scale_a
    h1, h2, h3 = (int(u) for u in settings.hidden)
    common = {"epochs": settings.epochs, "batch_size": settings.batch_size}
    with torch_threads(n_threads):
        rbm1 = train_rbm(
            z,
            h1,
            visible="gaussian",
            learning_rate=settings.rbm_learning_rate,
            cd_steps=settings.cd_steps,
            seed=seed,
            **common,
        )
        p1 = rbm1.transform(z)
        rbm2 = train_rbm(
            p1,
            h2,
            visible="bernoulli",
            learning_rate=settings.rbm_learning_rate,
            cd_steps=settings.cd_steps,
            seed=seed + 1,
            **common,
        )
        p2 = rbm2.transform(p1)
        dae, dae_hist = train_dae(
            p2, h3, corruption=settings.corruption, learning_rate=settings.dae_learning_rate, seed=seed + 2, **common
        )
        params = init_params(x.shape[1], settings.hidden, seed=seed + 3)  # output layer: Glorot, as MAML's
    params["0.weight"], params["0.bias"] = rbm1.weight, rbm1.hidden_bias
    params["2.weight"], params["2.bias"] = rbm2.weight, rbm2.hidden_bias
    params["4.weight"], params["4.bias"] = dae["encoder.weight"], dae["encoder.bias"]
    params = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in params.items()}
    history = pd.concat(
        [
            rbm1.history.assign(module="rbm1"),
            rbm2.history.assign(module="rbm2"),
            dae_hist.assign(module="dae"),
        ],
        ignore_index=True,
    ).reindex(columns=list(PRETRAIN_HISTORY_COLUMNS))
    return Pretrained(params=params, mean=mean_a, scale=scale_a, history=history, settings=settings)
