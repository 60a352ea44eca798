"""Explanations: ALE and PD against analytic curves, SHAP additivity and known values, chunked SHAP maps, profiles."""

from __future__ import annotations

import pickle
import sys

import dask.array as da
import numpy as np
import pytest
import rasterio
import xarray as xr
from rasterio.crs import CRS
from rasterio.transform import from_origin
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from susmap.analysis.explain import (
    ExplainDependencyError,
    accumulated_local_effects,
    class_profiles,
    partial_dependence_curve,
    plot_class_profiles,
    plot_effects,
    plot_shap_summary,
    shap_importance,
    shap_maps,
    shap_values,
    write_shap_maps,
)
from susmap.errors import ModelFitError, StudyConfigError
from susmap.grid import Grid
from susmap.stack import Stack

pytest.importorskip("shap")


class Formula(ClassifierMixin, BaseEstimator):
    """A fitted-model stand-in whose event probability is a given function of the columns."""

    def __init__(self, kind: str = "linear"):
        self.kind = kind

    def fit(self, X, y=None):  # noqa: N803
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict_proba(self, X):  # noqa: N803
        X = np.asarray(X, dtype=np.float64)  # noqa: N806
        if self.kind == "linear":  # 0.2 + 0.3 x0
            p = 0.2 + 0.3 * X[:, 0]
        elif self.kind == "product":  # x0 x1 / 9
            p = X[:, 0] * X[:, 1] / 9.0
        elif self.kind == "levels":  # 0.1 + b(level of x0) + 0.05 x1
            p = 0.1 + np.select([X[:, 0] == 1, X[:, 0] == 2, X[:, 0] == 5], [0.0, 0.2, 0.5]) + 0.05 * X[:, 1]
        else:  # additive in all: 0.2 + 0.3 x0 + 0.1 x1 - 0.05 x2
            p = 0.2 + 0.3 * X[:, 0] + 0.1 * X[:, 1] - 0.05 * X[:, 2]
        return np.c_[1 - p, p]


def correlated(n: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(0, 1, n)
    return np.c_[x0, 0.8 * x0 + 0.2 * rng.uniform(0, 1, n), rng.normal(size=n)]


# --------------------------------------------------------------------------- ALE and PD


def test_ale_and_pd_of_a_linear_probability_are_exact():
    X = correlated()  # noqa: N806
    model = Formula("linear").fit(X)
    ale = accumulated_local_effects(model, X, 0, bins=10, names=["slope", "b", "c"])
    assert ale.feature == "slope" and ale.kind == "ale" and ale.x.size == 11 and ale.counts.sum() == 400
    np.testing.assert_allclose(ale.effect, 0.3 * (ale.x - X[:, 0].mean()), atol=1e-9)
    assert ale.offset == pytest.approx(0.2 + 0.3 * X[:, 0].mean())
    pdp = partial_dependence_curve(model, X, 0, grid=15)
    assert pdp.kind == "pdp" and pdp.x.size == 15
    assert pdp.x[0] == pytest.approx(X[:, 0].min()) and pdp.x[-1] == pytest.approx(X[:, 0].max())
    np.testing.assert_allclose(pdp.effect, 0.3 * (pdp.x - X[:, 0].mean()), atol=1e-9)
    # a factor the model ignores has no effect
    flat = accumulated_local_effects(model, X, 1)
    np.testing.assert_allclose(flat.effect, 0.0, atol=1e-12)


def test_ale_differs_from_pd_under_correlation_by_hand():
    # p = x0 x1 / 9 on (0,0), (1,1), (2,2), (3,3): x1 = x0, so the local slope in x0 is x1 ~ x0
    X = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])  # noqa: N806
    model = Formula("product").fit(X)
    ale = accumulated_local_effects(model, X, 0, bins=3)
    np.testing.assert_allclose(ale.x, [0, 1, 2, 3])
    np.testing.assert_array_equal(ale.counts, [2, 1, 1])  # first bin [0, 1] holds x = 0 and x = 1
    # local effects /9: bin [0,1]: mean(x1 of 0, 1) × 1 = 0.5; (1,2]: 2; (2,3]: 3 -> sums 0, 0.5, 2.5, 5.5
    # centred on the samples (at x = 0, 1, 2, 3): mean 8.5 / 4 = 2.125
    np.testing.assert_allclose(ale.effect, np.array([-2.125, -1.625, 0.375, 3.375]) / 9, atol=1e-12)
    # PD(x) = x mean(x1) / 9 = 1.5 x / 9, linear; centred: -2.25, -0.75, 0.75, 2.25 (/9)
    pdp = partial_dependence_curve(model, X, 0, grid=4)
    np.testing.assert_allclose(pdp.effect, np.array([-2.25, -0.75, 0.75, 2.25]) / 9, atol=1e-12)
    # ALE is convex like x0² / 2 along the data, PD a straight line: they differ where the data are
    assert np.abs(ale.effect - pdp.effect).max() > 0.1 / 9


def test_categorical_ale_is_the_level_effect_minus_its_sample_mean():
    rng = np.random.default_rng(1)
    levels = rng.choice([1.0, 2.0, 5.0], size=300, p=[0.5, 0.3, 0.2])
    X = np.c_[levels, rng.uniform(0, 1, 300)]  # noqa: N806
    model = Formula("levels").fit(X)
    b = {1.0: 0.0, 2.0: 0.2, 5.0: 0.5}
    mean_b = np.mean([b[v] for v in levels])
    ale = accumulated_local_effects(model, X, 0, categorical=True)
    np.testing.assert_array_equal(ale.x, [1, 2, 5])
    assert ale.categorical and ale.counts.sum() == 300
    np.testing.assert_allclose(ale.effect, [b[v] - mean_b for v in (1.0, 2.0, 5.0)], atol=1e-12)
    pdp = partial_dependence_curve(model, X, 0, categorical=True)
    np.testing.assert_allclose(pdp.effect, ale.effect, atol=1e-12)


def test_effect_figure_and_bad_input(tmp_path):
    X = correlated()  # noqa: N806
    model = Formula("linear").fit(X)
    curves = [accumulated_local_effects(model, X, j) for j in range(3)] + [partial_dependence_curve(model, X, 0)]
    cat = accumulated_local_effects(
        Formula("levels").fit(X), np.c_[np.repeat([1.0, 2.0], 200), X[:, 1]], 0, categorical=True, names=["land", "b"]
    )
    path = plot_effects([*curves, cat], tmp_path / "effects.png", ncols=2)
    assert path.stat().st_size > 5000
    with pytest.raises(StudyConfigError, match="feature index 7"):
        accumulated_local_effects(model, X, 7)
    with pytest.raises(StudyConfigError, match="NaN"):
        accumulated_local_effects(model, np.r_[X, [[np.nan, 0, 0]]], 0)
    with pytest.raises(StudyConfigError, match="constant"):
        accumulated_local_effects(model, np.c_[np.ones(10), np.arange(10.0)], 0)


# --------------------------------------------------------------------------- SHAP values


def forest_data(n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))  # noqa: N806
    y = (X[:, 0] + 0.5 * X[:, 1] * X[:, 2] + 0.3 * rng.normal(size=n) > 0).astype(int)
    return X, y


def test_forest_shap_is_additive_in_probability():
    X, y = forest_data()  # noqa: N806
    rf = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    res = shap_values(rf, X, X[:50], names=["a", "b", "c"])
    assert res.method == "tree_path_dependent" and res.values.shape == (50, 3)
    np.testing.assert_allclose(res.base_value + res.values.sum(1), rf.predict_proba(X[:50])[:, 1], atol=1e-9)
    imp = shap_importance(res)
    assert list(imp.columns) == ["factor", "mean_abs_shap"] and imp["factor"].iloc[0] == "a"
    # a scaling pipeline keeps the columns: the tree is explained on scaled inputs, same values
    pipe = Pipeline([("scale", StandardScaler()), ("model", RandomForestClassifier(n_estimators=20, random_state=0))])
    pipe.fit(X, y)
    res_p = shap_values(pipe, X, X[:50], names=["a", "b", "c"])
    assert res_p.method == "tree_path_dependent"
    np.testing.assert_allclose(res_p.base_value + res_p.values.sum(1), pipe.predict_proba(X[:50])[:, 1], atol=1e-9)


def test_column_transformer_reordering_columns_is_mapped_back():
    X, y = forest_data()  # noqa: N806
    pre = ColumnTransformer([("b", "passthrough", [2, 0]), ("a", StandardScaler(), [1])])
    pipe = Pipeline([("pre", pre), ("model", RandomForestClassifier(n_estimators=10, random_state=0))]).fit(X, y)
    res = shap_values(pipe, X, X[:40], names=["a", "b", "c"])
    assert res.method == "tree_path_dependent"
    direct = shap_values(pipe[-1], pre.transform(X), pre.transform(X[:40]), names=["c", "a", "b"])
    np.testing.assert_allclose(res.values, direct.values[:, [1, 2, 0]], atol=1e-12)


def test_boosting_is_interventional_on_probability():
    X, y = forest_data()  # noqa: N806
    gb = GradientBoostingClassifier(n_estimators=30, random_state=0).fit(X, y)
    res = shap_values(gb, X, X[:30], names=["a", "b", "c"], max_background=100)
    assert res.method == "tree_interventional"
    np.testing.assert_allclose(res.base_value + res.values.sum(1), gb.predict_proba(X[:30])[:, 1], atol=1e-6)


def test_agnostic_shap_of_an_additive_model_is_known():
    # interventional Shapley value of an additive f: w_j (x_j - mean of the background's x_j)
    rng = np.random.default_rng(2)
    bg = rng.uniform(0, 1, size=(80, 3))
    xs = rng.uniform(0, 1, size=(10, 3))
    model = Formula("additive").fit(bg)
    res = shap_values(model, bg, xs, names=["a", "b", "c"])
    assert res.method == "exact"
    w = np.array([0.3, 0.1, -0.05])
    np.testing.assert_allclose(res.values, w * (xs - bg.mean(0)), atol=1e-9)
    np.testing.assert_allclose(res.base_value + res.values.sum(1), model.predict_proba(xs)[:, 1], atol=1e-9)


class Wide(ClassifierMixin, BaseEstimator):
    """P(event) = 0.5 + Σ w_j x_j over 11 columns (additive): beyond the exact explainer's limit."""

    w = np.linspace(-0.02, 0.02, 11)

    def fit(self, X, y=None):  # noqa: N803
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):  # noqa: N803
        p = 0.5 + np.asarray(X, dtype=np.float64) @ self.w
        return np.c_[1 - p, p]


def test_permutation_estimate_beyond_the_exact_limit():
    # every permutation of an additive model gives the same marginal contributions: exact values
    rng = np.random.default_rng(5)
    bg = rng.uniform(0, 1, size=(30, 11))
    xs = rng.uniform(0, 1, size=(3, 11))
    res = shap_values(Wide().fit(bg), bg, xs, names=[f"v{i}" for i in range(11)])
    assert res.method == "permutation"
    np.testing.assert_allclose(res.values, Wide.w * (xs - bg.mean(0)), atol=1e-9)


def test_onehot_pipeline_falls_back_to_the_agnostic_explainer(tmp_path):
    X, y = forest_data()  # noqa: N806
    X[:, 2] = np.digitize(X[:, 2], [-0.5, 0.5])  # a categorical factor: levels 0, 1, 2
    pre = ColumnTransformer([("c", "passthrough", [0, 1]), ("k", OneHotEncoder(handle_unknown="ignore"), [2])])
    pipe = Pipeline([("pre", pre), ("model", RandomForestClassifier(n_estimators=10, random_state=0))]).fit(X, y)
    res = shap_values(pipe, X, X[:20], names=["a", "b", "k"], max_background=50)
    assert res.method == "exact" and res.values.shape == (20, 3)
    np.testing.assert_allclose(res.base_value + res.values.sum(1), pipe.predict_proba(X[:20])[:, 1], atol=1e-9)
    lr = Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression())]).fit(X, y)
    res_lr = shap_values(lr, X, X[:20], names=["a", "b", "k"], max_background=50)
    assert res_lr.method == "exact"
    np.testing.assert_allclose(res_lr.base_value + res_lr.values.sum(1), lr.predict_proba(X[:20])[:, 1], atol=1e-9)
    path = plot_shap_summary(res, tmp_path / "shap.png")
    assert path.stat().st_size > 5000


def test_missing_shap_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "shap", None)
    X, y = forest_data(50)  # noqa: N806
    rf = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    with pytest.raises(ExplainDependencyError, match=r"pip install 'shap>=0\.46'"):
        shap_values(rf, X, X[:5], names=["a", "b", "c"])


# --------------------------------------------------------------------------- maps and profiles


def small_stack(values: np.ndarray, chunk: int = 5, kinds: dict | None = None) -> Stack:
    k, h, w = values.shape
    grid = Grid(crs=CRS.from_epsg(32617), transform=from_origin(500000, 9800000, 30, 30), height=h, width=w)
    names = [f"f{i}" for i in range(k)]
    data = xr.DataArray(
        da.from_array(values.astype(np.float32), chunks=(k, chunk, chunk)),
        dims=("factor", "y", "x"),
        coords={"factor": names},
    )
    return Stack(grid=grid, data=data, kinds=kinds or dict.fromkeys(names, "continuous"))


def test_chunked_shap_maps_equal_direct_values(tmp_path):
    rng = np.random.default_rng(3)
    h, w = 12, 17
    values = rng.normal(size=(3, h, w))
    values[1, 2, 3] = np.nan
    values[:, 10, 0] = np.nan
    stack = small_stack(values)
    X, y = forest_data()  # noqa: N806
    rf = RandomForestClassifier(n_estimators=15, random_state=0).fit(X, y)
    maps = shap_maps(stack, rf, X, factors=["f2", "f0"], chunk_rows=7)
    got = {f: m.compute() for f, m in maps.items()}
    cells = values.astype(np.float32).reshape(3, -1).T.astype(np.float64)
    valid = np.isfinite(cells).all(1)
    direct = shap_values(rf, X, cells[valid], names=["f0", "f1", "f2"])
    for f, j in (("f2", 2), ("f0", 0)):
        flat = got[f].reshape(-1)
        assert np.isnan(flat[~valid]).all()
        np.testing.assert_allclose(flat[valid], direct.values[:, j], atol=1e-6)
    # the graph (with the prepared explainer) pickles, for a cluster of worker processes
    again = pickle.loads(pickle.dumps(maps["f0"])).compute()
    np.testing.assert_array_equal(again, got["f0"])
    paths = write_shap_maps(stack, rf, X, tmp_path, factors=["f2", "f0"], label="rf")
    assert sorted(p.name for p in paths.values()) == ["shap_f0.tif", "shap_f2.tif"]
    with rasterio.open(paths["f2"]) as src:
        assert src.dtypes[0] == "float32" and src.tags()["factor"] == "f2"
        np.testing.assert_allclose(src.read(1), got["f2"], atol=0, equal_nan=True)


def test_maps_refuse_non_tree_models_unless_allowed():
    rng = np.random.default_rng(4)
    values = rng.uniform(0, 1, size=(3, 6, 7))
    stack = small_stack(values, chunk=4)
    bg = rng.uniform(0, 1, size=(40, 3))
    model = Formula("additive").fit(bg)
    with pytest.raises(ModelFitError, match="allow_agnostic=True"):
        shap_maps(stack, model, bg, factors=["f0"])
    with pytest.raises(StudyConfigError, match="not in the stack"):
        shap_maps(stack, model, bg, factors=["slope"], allow_agnostic=True)
    maps = shap_maps(stack, model, bg, factors=["f0", "f1"], allow_agnostic=True)
    x = values.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(maps["f0"].compute(), 0.3 * (x[0] - bg[:, 0].mean()), atol=1e-6)
    np.testing.assert_allclose(maps["f1"].compute(), 0.1 * (x[1] - bg[:, 1].mean()), atol=1e-6)


def test_class_profiles_by_quantile_bin(tmp_path):
    h, w = 10, 20
    f0 = np.arange(h * w, dtype=np.float64).reshape(h, w)  # 0 … 199
    level = np.where(np.arange(h * w).reshape(h, w) % 4 == 0, 3.0, 7.0)  # 1 in 4 cells at level 3
    f2 = np.full((h, w), 5.0)
    f2[0, 0] = np.nan  # dropped (and class 0 there anyway)
    stack = small_stack(
        np.stack([f0, level, f2]), chunk=6, kinds={"f0": "continuous", "f1": "categorical", "f2": "continuous"}
    )
    classes = (1 + f0 // 50).astype(np.uint8)  # the quartile bin of f0: 1..4
    classes[0, 0] = 0  # nodata
    path = tmp_path / "classes.tif"
    profile = {"driver": "GTiff", "width": w, "height": h, "count": 1, "dtype": "uint8", "nodata": 0}
    with rasterio.open(path, "w", crs=stack.grid.crs, transform=stack.grid.transform, **profile) as dst:
        dst.write(classes, 1)
    df = class_profiles(stack, path, ["f0", "f1"], sample=10_000)
    cont = df[df["factor"] == "f0"].set_index("class")
    assert list(cont.index) == [1, 2, 3, 4]
    for c in (2, 3, 4):
        cells = np.arange(50 * (c - 1), 50 * c, dtype=np.float64)
        assert cont.loc[c, "n"] == 50
        assert cont.loc[c, "median"] == pytest.approx(np.median(cells))
        assert cont.loc[c, "p10"] == pytest.approx(np.percentile(cells, 10))
        assert cont.loc[c, "p90"] == pytest.approx(np.percentile(cells, 90))
    assert cont.loc[1, "n"] == 49 and cont.loc[1, "median"] == pytest.approx(25.0)  # cells 1 … 49
    cat = df[df["factor"] == "f1"]
    share3 = cat[(cat["class"] == 2) & (cat["level"] == 3.0)]["share"].iloc[0]
    assert share3 == pytest.approx(12 / 50)  # 50 … 99 holds 12 multiples of 4: 52, 56, …, 96
    # a sample smaller than the mapped cells is uniform and sized
    small = class_profiles(stack, path, ["f0"], sample=60, seed=1)
    assert small["n"].sum() == 60
    assert plot_class_profiles(df, tmp_path / "profiles.png").stat().st_size > 5000
    with pytest.raises(StudyConfigError, match="not in the stack"):
        class_profiles(stack, path, ["slope"])
    with pytest.raises(StudyConfigError, match="does not exist"):
        class_profiles(stack, tmp_path / "nope.tif", ["f0"])
