"""Deep models: DLNN (paper 003), patch CNN (paper 000), factor windows, persistence, pipeline integration."""

from __future__ import annotations

import copy

import dask.array as da
import numpy as np
import pytest
import rasterio
import xarray as xr
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

torch = pytest.importorskip("torch")

from susmap.errors import StudyConfigError  # noqa: E402
from susmap.mapping.predict import predict_stack  # noqa: E402
from susmap.models import make_estimator, make_pipeline  # noqa: E402
from susmap.models.dlnn import PAPER003_PRESET, DLNNClassifier  # noqa: E402
from susmap.models.patch_cnn import PatchCNNClassifier, patch_cnn_layers  # noqa: E402
from susmap.models.persist import load_model, save_model  # noqa: E402
from susmap.models.torch_base import HISTORY_COLUMNS, plot_history, stratified_holdout  # noqa: E402
from susmap.models.windows import WindowSource, extract_windows, orientation_dependent  # noqa: E402
from susmap.runners import run_study  # noqa: E402
from susmap.study import study_from_dict  # noqa: E402


def xor_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two factors, event where exactly one is positive: no linear rule beats chance."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))  # noqa: N806
    return X, ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(int)


# --------------------------------------------------------------------------- DLNN


def test_dlnn_learns_xor_that_logistic_regression_cannot():
    X, y = xor_data(600)  # noqa: N806
    model = DLNNClassifier(seed=1).fit(X[:400], y[:400])
    acc = (model.predict(X[400:]) == y[400:]).mean()
    lr_acc = LogisticRegression().fit(X[:400], y[:400]).score(X[400:], y[400:])
    assert acc >= 0.9  # observed 0.96
    assert lr_acc <= 0.65  # observed 0.50
    proba = model.predict_proba(X[400:])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)


def test_dlnn_paper003_preset_and_history():
    X, y = xor_data(400, seed=3)  # noqa: N806
    model = DLNNClassifier(seed=0, **PAPER003_PRESET).fit(X, y)
    assert [m.out_features for m in model.network_ if hasattr(m, "out_features")] == [3, 3, 2]
    assert isinstance(model.network_[1], torch.nn.LeakyReLU) and model.network_[1].negative_slope == 0.01
    hist = model.history_
    assert list(hist.columns) == list(HISTORY_COLUMNS)
    assert len(hist) == 200 and hist["epoch"].tolist() == list(range(1, 201))
    assert hist["val_loss"].notna().all() and hist["loss"].iloc[-1] < hist["loss"].iloc[0]


def test_dlnn_seed_reproduces_and_differs():
    X, y = xor_data(300)  # noqa: N806
    a = DLNNClassifier(seed=5, epochs=30).fit(X, y).predict_proba(X)
    b = DLNNClassifier(seed=5, epochs=30).fit(X, y).predict_proba(X)
    c = DLNNClassifier(seed=6, epochs=30).fit(X, y).predict_proba(X)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_dlnn_refuses_bad_input():
    X, y = xor_data(50)  # noqa: N806
    with pytest.raises(ValueError, match="binary classifier"):
        DLNNClassifier(epochs=1).fit(X, np.zeros(50))
    with pytest.raises(ValueError, match="table of factors"):
        DLNNClassifier(epochs=1).fit(X[:, :, None], y)
    model = DLNNClassifier(epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="expecting 2 features"):
        model.predict_proba(X[:, :1])
    with pytest.raises(ValueError, match="not fitted"):
        DLNNClassifier().predict_proba(X)
    with pytest.raises(ValueError, match="optimizer"):
        DLNNClassifier(epochs=1, optimizer="rmsprop").fit(X, y)


def test_diverging_training_is_reported():
    X, y = xor_data(100)  # noqa: N806
    with pytest.raises(FloatingPointError, match="diverged"):
        DLNNClassifier(epochs=50, learning_rate=1e12, optimizer="sgd", batch_size=None).fit(X * 1e6, y)


def test_stratified_holdout_keeps_classes():
    rng = np.random.default_rng(0)
    y = np.array([0] * 80 + [1] * 20)
    train, val = stratified_holdout(y, 0.1, rng)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(100))
    assert (y[val] == 0).sum() == 8 and (y[val] == 1).sum() == 2
    assert stratified_holdout(y, 0.0, rng)[1].size == 0


def test_history_plot(tmp_path):
    X, y = xor_data(100)  # noqa: N806
    model = DLNNClassifier(epochs=5).fit(X, y)
    png = plot_history(model.history_, tmp_path / "h.png", title="t")
    assert png.stat().st_size > 1000


# --------------------------------------------------------------------------- factor windows


def test_extract_windows_values_and_borders():
    data = np.arange(2 * 6 * 7, dtype=np.float32).reshape(2, 6, 7)
    w = extract_windows(data, [0, 3], [0, 3], 3)
    assert w.shape == (2, 2, 3, 3)
    assert np.isnan(w[0, :, 0, :]).all() and np.isnan(w[0, :, :, 0]).all()  # beyond the top-left corner
    np.testing.assert_array_equal(w[0, 0, 1:, 1:], data[0, :2, :2])
    np.testing.assert_array_equal(w[1], data[:, 2:5, 2:5])
    lazy = da.from_array(data, chunks=(2, 4, 3))
    np.testing.assert_array_equal(
        extract_windows(lazy, [0, 3, 5], [0, 3, 6], 5), extract_windows(data, [0, 3, 5], [0, 3, 6], 5)
    )
    with pytest.raises(ValueError, match="odd"):
        extract_windows(data, [0], [0], 4)
    with pytest.raises(ValueError, match="outside the raster"):
        extract_windows(data, [6], [0], 3)


def test_window_source_cache_and_sharing():
    rng = np.random.default_rng(1)
    data = rng.normal(size=(3, 30, 40)).astype(np.float32)
    rows, cols = rng.integers(0, 30, 50), rng.integers(0, 40, 50)
    src = WindowSource(da.from_array(data, chunks=(3, 16, 16)), ["a", "b", "c"], prefetch=(rows, cols, 7))
    np.testing.assert_array_equal(src.windows(rows, cols, 7), extract_windows(data, rows, cols, 7))
    np.testing.assert_array_equal(src.windows(rows, cols, 3), extract_windows(data, rows, cols, 3))  # cropped
    np.testing.assert_array_equal(src.windows([1, 2], [5, 39], 9), extract_windows(data, [1, 2], [5, 39], 9))
    assert copy.deepcopy(src) is src
    model = PatchCNNClassifier(window_source=src)
    assert clone(model).window_source is src


def test_orientation_dependent_names():
    assert orientation_dependent(["slope", "Aspect", "northness", "epicentre_direction", "twi"]) == [
        "Aspect",
        "northness",
        "epicentre_direction",
    ]


# --------------------------------------------------------------------------- patch CNN


def spot_landscape(seed: int = 0, shape=(90, 110)):
    """Band 0: smooth noise; band 1: sparse point features; event where a feature lies within 3 cells.

    The cell's own values say almost nothing (a feature sits on 1 % of cells):
    only the neighbourhood separates the classes.
    """
    from scipy.ndimage import maximum_filter

    rng = np.random.default_rng(seed)
    noise = rng.normal(size=shape).astype(np.float32)
    spots = (rng.random(shape) < 0.012).astype(np.float32)
    label = maximum_filter(spots, size=7) > 0
    data = np.stack([noise, spots])
    data[:, 40:44, 50:58] = np.nan  # a nodata hole
    return data, label


def spot_samples(data, label, n, seed):
    rng = np.random.default_rng(seed)
    pos_r, pos_c = np.nonzero(label & np.isfinite(data).all(0))
    neg_r, neg_c = np.nonzero(~label & np.isfinite(data).all(0))
    i = rng.choice(pos_r.size, n // 2, replace=False)
    j = rng.choice(neg_r.size, n // 2, replace=False)
    rows = np.concatenate([pos_r[i], neg_r[j]])
    cols = np.concatenate([pos_c[i], neg_c[j]])
    return rows, cols, np.concatenate([np.ones(n // 2, int), np.zeros(n // 2, int)])


def test_cnn_learns_a_neighbourhood_rule_and_maps_like_per_window():
    data, label = spot_landscape()
    rows, cols, y = spot_samples(data, label, 400, seed=1)
    src = WindowSource(data, ["noise", "features"], prefetch=(rows, cols, 15))
    design = np.column_stack([data[:, rows, cols].T, rows, cols])
    rng = np.random.default_rng(2)
    order = rng.permutation(y.size)
    tr, te = order[:300], order[300:]
    model = PatchCNNClassifier(window_source=src, window_size=9, epochs=25, seed=0).fit(design[tr], y[tr])
    acc = (model.predict(design[te]) == y[te]).mean()
    lr_acc = LogisticRegression().fit(design[tr, :2], y[tr]).score(design[te, :2], y[te])
    assert acc >= 0.85, acc  # observed 1.00
    assert lr_acc <= 0.75, lr_acc  # cell values only: observed 0.60
    assert model.augmentation() == "dihedral"

    # wall to wall, in dask chunks with halos, equals the per-window prediction at every valid cell,
    # including cells next to the nodata hole and on the raster border
    stack = type("S", (), {})()
    stack.data = xr.DataArray(da.from_array(data, chunks=(2, 32, 40)), dims=("factor", "y", "x"))
    prob = predict_stack(stack, model).compute()
    valid = np.isfinite(data).all(axis=0)
    assert np.isnan(prob[~valid]).all() and np.isfinite(prob[valid]).all()
    r, c = np.nonzero(valid)
    border = (r == 0) | (c == 0) | (r == data.shape[1] - 1) | (c == data.shape[2] - 1)
    near_hole = (np.abs(r - 41.5) < 8) & (np.abs(c - 53.5) < 10)
    pick = np.concatenate([np.flatnonzero(border), np.flatnonzero(near_hole), rng.choice(r.size, 300)])
    per_window = model.predict_proba(extract_windows(data, r[pick], c[pick], 9))[:, 1]
    np.testing.assert_allclose(prob[r[pick], c[pick]], per_window, atol=1e-5)


def test_cnn_architecture_and_masked_padding():
    assert patch_cnn_layers(15) == ["conv", "conv", "pool", "conv", "pool"]
    assert patch_cnn_layers(5) == ["conv", "conv"]
    assert patch_cnn_layers(1) == []
    model = PatchCNNClassifier(window_size=15, epochs=1, factor_names=["slope", "elev"])
    rng = np.random.default_rng(0)
    windows = rng.normal(size=(40, 2, 15, 15)).astype(np.float32)
    windows[:5, :, :4, :] = np.nan  # touching nodata / the border
    model.fit(windows, np.tile([0, 1], 20))
    layers = [type(m).__name__ for m in model.network_.body]
    assert len(layers) == 17 and layers.count("Conv2d") == 5 and layers.count("MaxPool2d") == 2
    enc = model._encode(windows[:5])
    assert enc.shape == (5, 3, 15, 15) and np.isfinite(enc).all()
    assert (enc[:, -1, :4, :] == 0).all() and (enc[:, -1, 4:, :] == 1).all()  # the validity-mask band
    assert (enc[:, :2, :4, :] == 0).all()


def test_cnn_categorical_bands_are_one_hot():
    rng = np.random.default_rng(0)
    windows = rng.normal(size=(30, 2, 5, 5)).astype(np.float32)
    windows[:, 1] = rng.integers(1, 4, size=(30, 5, 5))
    model = PatchCNNClassifier(window_size=5, epochs=1, categorical=[1]).fit(windows, np.tile([0, 1], 15))
    assert model.classes_by_band_ == {"1": [1.0, 2.0, 3.0]}
    assert model.n_features_in_ == 2  # factor bands
    assert model.n_inputs_ == 1 + 3 + 1  # network channels: continuous, 3 classes, mask


def test_cnn_refuses_tables_and_orientation_augmentation():
    X, y = xor_data(40)  # noqa: N806
    with pytest.raises(ValueError, match="neighbourhood"):
        PatchCNNClassifier(epochs=1).fit(X, y)
    with pytest.raises(StudyConfigError, match="cannot run on a table"):
        make_pipeline("patch_cnn", {}, factor_names=["a", "b"], kinds={})
    windows = np.zeros((40, 2, 15, 15), np.float32)
    with pytest.raises(ValueError, match="orientation-dependent"):
        PatchCNNClassifier(epochs=1, augment="dihedral", factor_names=["slope", "aspect"]).fit(windows, y)
    assert PatchCNNClassifier(factor_names=["slope", "aspect"]).augmentation() == "none"
    with pytest.raises(ValueError, match="15 x 15"):
        PatchCNNClassifier(epochs=1).fit(np.zeros((40, 2, 9, 9), np.float32), y)


def test_cnn_seed_reproduces():
    data, label = spot_landscape(seed=4, shape=(40, 50))
    rows, cols, y = spot_samples(data, label, 60, seed=3)
    windows = extract_windows(data, rows, cols, 7)
    a = PatchCNNClassifier(window_size=7, epochs=3, seed=2, factor_names=["n", "f"]).fit(windows, y)
    b = PatchCNNClassifier(window_size=7, epochs=3, seed=2, factor_names=["n", "f"]).fit(windows, y)
    assert np.array_equal(a.predict_proba(windows), b.predict_proba(windows))


# --------------------------------------------------------------------------- persistence


def test_save_load_round_trip(tmp_path):
    X, y = xor_data(120)  # noqa: N806
    dl = DLNNClassifier(epochs=20, seed=3).fit(X, y)
    pt, _ = save_model(dl, tmp_path / "dlnn")
    back = load_model(tmp_path / "dlnn.json")
    np.testing.assert_array_equal(back.predict_proba(X), dl.predict_proba(X))
    assert back.history_.equals(dl.history_)

    data, label = spot_landscape(seed=5, shape=(40, 50))
    rows, cols, yy = spot_samples(data, label, 60, seed=1)
    windows = extract_windows(data, rows, cols, 7)
    cnn = PatchCNNClassifier(window_size=7, epochs=2, factor_names=["n", "f"]).fit(windows, yy)
    save_model(cnn, tmp_path / "cnn.pt")
    cnn_back = load_model(tmp_path / "cnn", device="cpu")
    np.testing.assert_array_equal(cnn_back.predict_proba(windows), cnn.predict_proba(windows))
    assert cnn_back.factor_names == ["n", "f"]
    # the weights file holds tensors only: loadable with weights_only=True
    state = torch.load(pt, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_load_refuses_bad_files(tmp_path):
    from susmap.errors import InputFileError

    with pytest.raises(InputFileError, match="not found"):
        load_model(tmp_path / "missing")
    (tmp_path / "m.pt").write_bytes(b"junk")
    (tmp_path / "m.json").write_text('{"format": "susmap-torch-model/1", "class": "os.system", "params": {}}')
    with pytest.raises(InputFileError, match="unknown model class"):
        load_model(tmp_path / "m")
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(InputFileError, match="not a susmap model config"):
        load_model(tmp_path / "m")
    with pytest.raises(TypeError, match="deep models"):
        save_model(LogisticRegression(), tmp_path / "lr")


# --------------------------------------------------------------------------- registry and pipeline


def test_registry_builds_deep_models_with_presets():
    assert isinstance(make_estimator("dlnn", {"preset": "paper003"}), DLNNClassifier)
    dlnn = make_estimator("dlnn", {"preset": "paper003"})
    assert dlnn.hidden_layer_sizes == (3, 3) and (dlnn.activation, dlnn.negative_slope) == ("leaky_relu", 0.01)
    assert (dlnn.optimizer, dlnn.learning_rate, dlnn.epochs, dlnn.batch_size) == ("adam", 0.8, 200, None)
    assert (dlnn.dropout, dlnn.weight_decay) == (0.0, 0.0)  # Table 6 names no regularisation
    assert make_estimator("patch_cnn", {"window_size": 9}).window_size == 9
    with pytest.raises(StudyConfigError, match="does not take"):
        make_estimator("dlnn", {"hidden": [3]})
    with pytest.raises(StudyConfigError, match="does not take"):
        make_estimator("patch_cnn", {"window_source": None})


def test_study_with_dlnn_and_patch_cnn_maps_with_the_cnn(make_study, synthetic):
    """Both deep models through CV and the CNN through wall-to-wall mapping, on the synthetic study."""
    study = study_from_dict(
        make_study(
            models=[
                {"name": "logistic_regression", "label": "lr"},
                {"name": "dlnn", "params": {"epochs": 60, "learning_rate": 0.01}},
                {"name": "patch_cnn", "label": "cnn", "params": {"window_size": 5, "epochs": 4}},
            ],
            validation={"schemes": ["spatial"], "folds": 3, "repeats": 1, "n_jobs": 1},
            mapping={"model": "cnn"},
        )
    )
    result = run_study(study)
    out = result.out_dir
    scores = result.cv_summary[result.cv_summary["metric"] == "auroc"].set_index("model")["mean"]
    assert set(scores.index) == {"lr", "dlnn", "cnn"}
    assert scores["dlnn"] > 0.8 and scores["cnn"] > 0.6
    assert (out / "histories" / "cnn.png").exists() and (out / "histories" / "cnn.csv").exists()
    with rasterio.open(out / "probability.tif") as src:
        prob = src.read(1)
    assert np.isnan(prob[:3, :3]).all()  # nodata of layer a
    assert np.isfinite(prob[3:, 3:]).all()


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("dlnn", {"activation": "swish"}, "'activation' parameter of DLNNClassifier must be a str among"),
        ("dlnn", {"hidden_layer_sizes": [8, 0]}, "hidden_layer_sizes"),
        (
            "dlnn",
            {"learning_rate": -1},
            r"'learning_rate' parameter of DLNNClassifier must be a float in the range \(0.0",
        ),
        ("dlnn", {"optimizer": "rmsprop"}, "optimizer"),
        ("dlnn", {"validation_fraction": 1.0}, "validation_fraction"),
        ("dlnn", {"device": "tpu"}, "device"),
        ("patch_cnn", {"window_size": 4}, "odd"),
        ("patch_cnn", {"augment": "rotate"}, "augment"),
        ("patch_cnn", {"batch_size": 0}, "batch_size"),
        ("patch_cnn", {"preset": "paper999"}, "no preset"),
    ],
)
def test_bad_deep_settings_are_refused_before_any_data(name, params, message):
    with pytest.raises(StudyConfigError, match=message):
        make_estimator(name, params)


def test_cli_refuses_bad_deep_settings_with_exit_2(make_study, synthetic, tmp_path):
    import yaml
    from typer.testing import CliRunner

    from susmap.cli import app

    study = make_study(models=[{"name": "dlnn", "params": {"epochs": 0}}])
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2
    assert "The 'epochs' parameter of DLNNClassifier must be an int in the range [1, inf). Got 0" in result.output
    assert not (synthetic["dir"] / "out").exists()
