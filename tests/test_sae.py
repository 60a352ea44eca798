"""Stacked sparse autoencoder (paper 001) and the framework-setting sweep (paper 001 Table 4)."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from susmap.analysis.framework_sweep import SWEEP_COLUMNS, framework_sweep, sweep_table  # noqa: E402
from susmap.models.persist import load_model, save_model  # noqa: E402
from susmap.models.sae import (  # noqa: E402
    PAPER001_PRESET,
    PRETRAIN_COLUMNS,
    StackedSparseAutoencoderClassifier,
    kl_sparsity,
    sparse_autoencoder_gradients,
    sparse_autoencoder_loss,
)

#: A small, fast setting for tests that check mechanics, not accuracy.
FAST = {"hidden_layer_sizes": (8, 8), "pretrain_epochs": 30, "epochs": 40, "device": "cpu"}


def xor_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Five factors on different scales; the event is the XOR of the signs of the first two (centred) factors."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(-1.0, 1.0, size=(n, 5))
    X = u * np.array([30.0, 500.0, 1.0, 180.0, 2.0]) + np.array([30.0, 1000.0, 0.0, 180.0, 5.0])  # noqa: N806
    y = ((u[:, 0] > 0) ^ (u[:, 1] > 0)).astype(int)
    return X, y


@pytest.fixture(scope="module")
def xor_fit() -> dict:
    X, y = xor_data(300, 0)  # noqa: N806
    Xt, yt = xor_data(2000, 1)  # noqa: N806
    model = StackedSparseAutoencoderClassifier(seed=0, device="cpu").fit(X, y)  # the class defaults
    return {"model": model, "X": X, "y": y, "Xt": Xt, "yt": yt}


# ---------------------------------------------------------------------- learning


def test_sae_learns_xor_that_logistic_regression_cannot(xor_fit):
    model, Xt, yt = xor_fit["model"], xor_fit["Xt"], xor_fit["yt"]  # noqa: N806
    sae_acc = float((model.predict(Xt) == yt).mean())
    lr_acc = float((LogisticRegression(max_iter=1000).fit(xor_fit["X"], xor_fit["y"]).predict(Xt) == yt).mean())
    # observed: SAE 0.93-0.95 (seed 0: 0.94), logistic regression 0.50
    assert sae_acc >= 0.85, sae_acc
    assert lr_acc <= 0.65, lr_acc
    proba = model.predict_proba(Xt)
    assert proba.shape == (2000, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert list(model.classes_) == [0, 1]
    assert len(model.history_) == model.epochs
    assert model.history_["val_loss"].notna().all()


def test_pretraining_lowers_reconstruction_error_layer_by_layer(xor_fit):
    model = xor_fit["model"]
    err = model.reconstruction_error_
    assert list(err.columns) == ["layer", "mse_before", "mse_after"]
    assert err["layer"].tolist() == [1, 2, 3]
    assert (err["mse_after"] < err["mse_before"]).all(), err
    hist = model.pretrain_history_
    assert list(hist.columns) == list(PRETRAIN_COLUMNS)
    assert len(hist) == 3 * model.pretrain_epochs
    for _layer, part in hist.groupby("layer"):
        assert part["epoch"].tolist() == list(range(1, model.pretrain_epochs + 1))
        assert part["loss"].iloc[-1] < part["loss"].iloc[0]
    # with β = 3 every layer ends with mean activation near ρ = 0.05
    assert model.mean_activation_.shape == (3,)
    np.testing.assert_allclose(model.mean_activation_, 0.05, atol=0.02)


def test_kl_penalty_pulls_mean_activation_towards_rho():
    X, y = xor_data(200, 3)  # noqa: N806
    common = {"hidden_layer_sizes": (16, 16), "pretrain_epochs": 150, "epochs": 1, "seed": 4, "device": "cpu"}
    sparse = StackedSparseAutoencoderClassifier(sparsity_weight=3.0, **common).fit(X, y)
    dense = StackedSparseAutoencoderClassifier(sparsity_weight=0.0, **common).fit(X, y)
    gap_sparse = np.abs(sparse.mean_activation_ - 0.05)
    gap_dense = np.abs(dense.mean_activation_ - 0.05)
    assert (gap_sparse < gap_dense).all(), (sparse.mean_activation_, dense.mean_activation_)
    assert (dense.pretrain_history_["kl"] > 0).all()


# ---------------------------------------------------------------------- loss functions


def test_kl_sparsity_matches_hand_computed_values():
    rho = 0.05
    expected = 0.05 * math.log(0.05 / 0.2) + 0.95 * math.log(0.95 / 0.8)
    assert kl_sparsity(rho, 0.2) == pytest.approx(expected, rel=1e-12)
    assert kl_sparsity(0.3, 0.6) == pytest.approx(0.3 * math.log(0.5) + 0.7 * math.log(0.7 / 0.4), rel=1e-12)
    assert kl_sparsity(rho, rho) == pytest.approx(0.0, abs=1e-15)
    arr = kl_sparsity(rho, np.array([0.05, 0.2, 0.5]))
    assert arr.shape == (3,) and arr[0] == pytest.approx(0.0, abs=1e-15) and arr[1] == pytest.approx(expected)
    assert (arr[1:] > 0).all()
    t = kl_sparsity(rho, torch.tensor([0.2], dtype=torch.float64))
    assert float(t[0]) == pytest.approx(expected, rel=1e-12)
    assert math.isfinite(kl_sparsity(rho, 0.0)) and math.isfinite(kl_sparsity(rho, 1.0))
    with pytest.raises(ValueError, match="rho must be in"):
        kl_sparsity(0.0, 0.2)


def test_sparse_autoencoder_loss_matches_hand_computation():
    x = np.array([[0.0, 1.0], [1.0, 0.5]])
    y = np.array([[0.5, 0.5], [1.0, 1.0]])
    hidden = np.array([[0.1, 0.3], [0.3, 0.1]])  # ρ̂ = (0.2, 0.2)
    w_x = np.array([[1.0, -2.0], [0.5, 0.0]])  # Σ W² = 5.25
    w_y = np.array([[3.0, 0.0], [0.0, 1.0]])  # Σ W² = 10
    terms = sparse_autoencoder_loss(
        x, y, hidden, (w_x, w_y), sparsity_target=0.05, sparsity_weight=3.0, weight_decay=0.1
    )
    reconstruction = (0.25 + 0.25 + 0.0 + 0.25) / (2 * 2)  # 1/(2n) Σ ‖x - y‖²
    penalty = 0.1 / 2 * (5.25 + 10.0)
    kl = 2 * (0.05 * math.log(0.05 / 0.2) + 0.95 * math.log(0.95 / 0.8))
    assert terms.reconstruction == pytest.approx(reconstruction)
    assert terms.weight_penalty == pytest.approx(penalty)
    assert terms.kl == pytest.approx(kl)
    assert terms.total == pytest.approx(reconstruction + penalty + 3.0 * kl)
    np.testing.assert_allclose(terms.rho_hat, [0.2, 0.2])


def test_closed_form_gradients_equal_autograd():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(40, 5, generator=g, dtype=torch.float64)
    w_x = (torch.rand(7, 5, generator=g, dtype=torch.float64) - 0.5).requires_grad_()
    b_x = torch.randn(7, generator=g, dtype=torch.float64).requires_grad_()
    w_y = (torch.rand(5, 7, generator=g, dtype=torch.float64) - 0.5).requires_grad_()
    b_y = torch.randn(5, generator=g, dtype=torch.float64).requires_grad_()
    settings = {"sparsity_target": 0.1, "sparsity_weight": 2.0, "weight_decay": 0.01}
    t = torch.sigmoid(x @ w_x.T + b_x)
    y = torch.sigmoid(t @ w_y.T + b_y)
    sparse_autoencoder_loss(x, y, t, (w_x, w_y), **settings).total.backward()
    with torch.no_grad():
        grads = sparse_autoencoder_gradients(x, w_x, b_x, w_y, b_y, **settings)
    for param, grad in zip((w_x, b_x, w_y, b_y), grads[:4], strict=True):
        torch.testing.assert_close(grad, param.grad, rtol=1e-10, atol=1e-12)
    assert float(grads.squared_error) == pytest.approx(float(((x - y.detach()) ** 2).sum()))


# ---------------------------------------------------------------------- determinism, persistence, inputs


def test_same_seed_same_probabilities_different_seed_different():
    X, y = xor_data(150, 5)  # noqa: N806
    a = StackedSparseAutoencoderClassifier(seed=1, **FAST).fit(X, y).predict_proba(X)
    b = StackedSparseAutoencoderClassifier(seed=1, **FAST).fit(X, y).predict_proba(X)
    c = StackedSparseAutoencoderClassifier(seed=2, **FAST).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_save_load_round_trip(tmp_path):
    X, y = xor_data(150, 6)  # noqa: N806
    model = StackedSparseAutoencoderClassifier(seed=3, **FAST).fit(X, y)
    pt, js = save_model(model, tmp_path / "sae")
    assert pt.is_file() and js.is_file()
    loaded = load_model(tmp_path / "sae", device="cpu")
    assert isinstance(loaded, StackedSparseAutoencoderClassifier)
    assert loaded.get_params()["hidden_layer_sizes"] in ((8, 8), [8, 8])
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.data_min_, model.data_min_)
    np.testing.assert_array_equal(loaded.data_range_, model.data_range_)
    pd.testing.assert_frame_equal(loaded.pretrain_history_, model.pretrain_history_)
    pd.testing.assert_frame_equal(loaded.reconstruction_error_, model.reconstruction_error_)
    np.testing.assert_array_equal(loaded.mean_activation_, model.mean_activation_)
    pd.testing.assert_frame_equal(loaded.history_, model.history_)


def test_min_max_scaling_clips_outside_training_range_and_zeroes_constant_factors():
    X, y = xor_data(150, 7)  # noqa: N806
    X = np.column_stack([X, np.full(len(X), 42.0)])  # noqa: N806  a constant factor
    model = StackedSparseAutoencoderClassifier(seed=0, **FAST).fit(X, y)
    np.testing.assert_array_equal(model.data_range_[-1], 0.0)
    far = X * 50.0 - 1e4  # far outside the training range, and the constant factor changed
    clipped = np.clip(far, X.min(axis=0), X.max(axis=0))
    clipped[:, -1] = -7.0  # any value of a constant factor maps to 0
    np.testing.assert_array_equal(model.predict_proba(far), model.predict_proba(clipped))


def test_refuses_bad_input_with_clear_messages():
    X, y = xor_data(60, 8)  # noqa: N806
    with pytest.raises(ValueError, match=r"table of factors \(n, n_factors\).*shape \(60, 5, 1\)"):
        StackedSparseAutoencoderClassifier(**FAST).fit(X[:, :, None], y)
    with pytest.raises(ValueError, match="binary classifier; y has 1 class"):
        StackedSparseAutoencoderClassifier(**FAST).fit(X, np.ones(60, dtype=int))
    for bad, match in (
        ({"sparsity_target": 1.5}, "sparsity_target"),
        ({"sparsity_weight": -1.0}, "sparsity_weight"),
        ({"weight_decay": float("nan")}, "weight_decay"),
        ({"hidden_layer_sizes": ()}, "hidden_layer_sizes"),
        ({"hidden_layer_sizes": (8, 0)}, "hidden_layer_sizes"),
        ({"pretrain_epochs": -1}, "pretrain_epochs"),
        ({"pretrain_learning_rate": 0.0}, "pretrain_learning_rate"),
        ({"pretrain_optimizer": "lbfgs"}, "pretrain_optimizer"),
        ({"epochs": 0}, "epochs"),
    ):
        with pytest.raises(ValueError, match=match):
            StackedSparseAutoencoderClassifier(**{**FAST, **bad}).check_params()  # before any data
        with pytest.raises(ValueError, match=match):
            StackedSparseAutoencoderClassifier(**{**FAST, **bad}).fit(X, y)
    with pytest.raises(ValueError, match="NaN"):
        StackedSparseAutoencoderClassifier(**FAST).fit(np.where(X > 1e3, np.nan, X), y)
    model = StackedSparseAutoencoderClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="expecting 5 features"):
        model.predict_proba(X[:, :4])
    with pytest.raises(ValueError, match="not fitted"):
        StackedSparseAutoencoderClassifier().predict_proba(X)


def test_params_clone_and_paper_preset():
    model = StackedSparseAutoencoderClassifier(**PAPER001_PRESET)
    params = clone(model).get_params()
    assert params["hidden_layer_sizes"] == (110, 110, 110)
    assert params["learning_rate"] == 0.8 and params["pretrain_learning_rate"] == 0.8
    assert params["epochs"] == 30000 and params["pretrain_epochs"] == 30000
    assert params["optimizer"] == "sgd" and params["pretrain_optimizer"] == "sgd" and params["batch_size"] is None
    # the preset's gradient descent at η = 0.8 is stable (here shortened to a few iterations)
    X, y = xor_data(120, 9)  # noqa: N806
    short = StackedSparseAutoencoderClassifier(**{**PAPER001_PRESET, "pretrain_epochs": 40, "epochs": 40})
    short.set_params(device="cpu").fit(X, y)
    assert np.isfinite(short.pretrain_history_["loss"]).all() and np.isfinite(short.history_["loss"]).all()
    assert (short.reconstruction_error_["mse_after"] < short.reconstruction_error_["mse_before"]).all()


# ---------------------------------------------------------------------- framework sweep


def test_framework_sweep_shape_and_table():
    X, y = xor_data(120, 10)  # noqa: N806
    frame = framework_sweep(
        StackedSparseAutoencoderClassifier,
        X,
        y,
        {"hidden_layer_sizes": [(4,), (6, 6)], "learning_rate": [1e-3, 0.01, 0.1]},
        base_params={"pretrain_epochs": 10, "epochs": 20, "device": "cpu", "validation_fraction": 0.0},
        repeats=3,
    )
    assert list(frame.columns) == list(SWEEP_COLUMNS)
    assert len(frame) == (2 + 3) * 3
    assert frame["metric"].tolist()[:3] == ["oa", "precision", "recall"]
    assert (frame["n"] == 3).all()
    table = sweep_table(frame, "learning_rate")
    assert table.shape == (3, 3)
    assert list(table.columns) == ["0.001", "0.01", "0.1"]
    assert list(table.index) == ["OA (%)", "Precision (%)", "Recall (%)"]
    assert all(re.fullmatch(r"\d+\.\d\d ± \d+\.\d\d", cell) for cell in table.to_numpy().ravel()), table
    assert list(sweep_table(frame, "hidden_layer_sizes").columns) == ["4", "6-6"]
    with pytest.raises(ValueError, match="several parameters"):
        sweep_table(frame)


def test_framework_sweep_uses_the_same_splits_for_every_value():
    X, y = xor_data(150, 11)  # noqa: N806
    X = X[:, :1] + 0.3 * X[:, 3:4] * (2 * y[:, None] - 1)  # noqa: N806  a separable-ish single factor

    def make(C: float, seed: int):  # noqa: N803
        return LogisticRegression(C=1.0, random_state=seed)  # ignores the swept value

    frame = framework_sweep(make, X, y, {"C": [0.1, 10.0]}, repeats=4, seed=2, metrics=("oa", "auroc"))
    a, b = frame[frame["value"] == 0.1], frame[frame["value"] == 10.0]
    np.testing.assert_array_equal(a["mean"].to_numpy(), b["mean"].to_numpy())
    np.testing.assert_array_equal(a["sd"].to_numpy(), b["sd"].to_numpy())
    scores = frame.attrs["scores"]
    assert len(scores) == 2 * 4 * 2
    table = sweep_table(frame, percent=False, decimals=3)
    assert list(table.index) == ["OA", "AUROC"]
    assert re.fullmatch(r"0\.\d{3} ± 0\.\d{3}", table.iloc[0, 0])
    with pytest.raises(ValueError, match="'seed' cannot be varied"):
        framework_sweep(make, X, y, {"seed": [1, 2]})
    with pytest.raises(ValueError, match="one class"):
        framework_sweep(make, X, np.zeros(150, dtype=int), {"C": [1.0]})
