"""Factor analysis: VIF and tolerance, information gain, forest and permutation importance, factor-count curve.

Oracles: a three-factor construction whose R² values are known in closed
form, the determinant formula of the generalised VIF (Fox & Monette 1992)
evaluated directly, ``np.corrcoef``, entropies counted by hand (1 bit for a
balanced label), and synthetic data where one factor carries the signal
and another none. A spy estimator checks that nothing is fitted on
held-out rows.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

import susmap.analysis as analysis
from susmap.analysis import (
    accuracy_by_factor_count,
    correlation_table,
    information_gain,
    permutation_importance_cv,
    plot_factor_count_curve,
    plot_importance,
    plot_vif,
    random_forest_importance,
    vif_table,
)
from susmap.datasets import ECUADOR_FACTORS, ecuador_path
from susmap.errors import StudyConfigError, SusmapWarning
from susmap.models import make_pipeline
from susmap.validation import RepeatedRandomKFold, RepeatedSpatialKFold

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# --------------------------------------------------------------------------- data helpers


def _synthetic(n: int = 400, seed: int = 0):
    """X with a noise, a strong and a weak factor (noise first, so input order is not the answer); y; coords [m]."""
    rng = np.random.default_rng(seed)
    signal, weak, noise = rng.standard_normal((3, n))
    y = (2.0 * signal + 0.8 * weak + 0.5 * rng.standard_normal(n) > 0).astype(int)
    X = pd.DataFrame({"noise": noise, "signal": signal, "weak": weak})  # noqa: N806
    coords = rng.uniform(0, 5000, size=(n, 2))
    return X, y, coords


def _orthonormal_columns(n: int, k: int, seed: int = 0) -> np.ndarray:
    """k centred columns, orthogonal to each other, each of unit norm (exactly, up to rounding)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, k))
    a -= a.mean(axis=0)
    q, _ = np.linalg.qr(a)
    return q


def _gvif_by_determinants(design: np.ndarray, block: np.ndarray) -> float:
    """Fox & Monette (1992): GVIF = det(R11) det(R22) / det(R) from the correlation matrix."""
    r = np.corrcoef(design, rowvar=False)
    r11 = r[np.ix_(block, block)]
    r22 = r[np.ix_(~block, ~block)]
    return float(np.linalg.det(r11) * np.linalg.det(r22) / np.linalg.det(r))


class SpyClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression that records the first column of every X it is fitted on."""

    fitted: ClassVar[list[np.ndarray]] = []

    def fit(self, X, y):  # noqa: N803
        X = np.asarray(X, dtype=float)  # noqa: N806
        type(self).fitted.append(X[:, 0].copy())
        self.model_ = LogisticRegression().fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):  # noqa: N803
        return self.model_.predict_proba(np.asarray(X, dtype=float))

    def predict(self, X):  # noqa: N803
        return self.model_.predict(np.asarray(X, dtype=float))


# --------------------------------------------------------------------------- VIF and correlation


def test_vif_of_an_exactly_collinear_pair_is_inf_and_flagged():
    rng = np.random.default_rng(1)
    a, other = rng.standard_normal((2, 300))
    X = np.column_stack([a, 2.5 * a - 7.0, other])  # noqa: N806
    t = vif_table(X, ["a", "a_scaled", "other"])
    assert t["factor"].tolist() == ["a", "a_scaled", "other"]
    assert np.isinf(t.loc[0, "VIF"]) and np.isinf(t.loc[1, "VIF"])
    assert t.loc[0, "tolerance"] == 0.0 and t.loc[1, "tolerance"] == 0.0
    assert t["flag"].tolist() == [True, True, False]
    assert t.loc[2, "VIF"] == pytest.approx(1.0, abs=0.05)
    # a constant factor is collinear with the intercept: infinite too, and no crash
    t = vif_table(np.column_stack([a, other, np.full(300, 4.0)]), ["a", "other", "const"])
    assert np.isinf(t.loc[2, "VIF"]) and t.loc[2, "flag"]
    assert not t.loc[0, "flag"]


def test_vif_of_independent_factors_is_about_one():
    rng = np.random.default_rng(2)
    X = pd.DataFrame(rng.standard_normal((4000, 4)) * [1.0, 1e3, 1e-3, 50.0], columns=list("abcd"))  # noqa: N806
    t = vif_table(X)
    np.testing.assert_allclose(t["VIF"], 1.0, atol=0.01)
    np.testing.assert_allclose(t["tolerance"], 1.0 / t["VIF"])
    assert not t["flag"].any()
    assert t.attrs["n_samples"] == 4000


def test_vif_matches_closed_form_on_a_three_factor_construction():
    # x1, x2, e exactly orthonormal; x3 = a x1 + b x2 + c e. Then
    # R²(x3 | x1, x2) = (a² + b²) / (a² + b² + c²), R²(x1 | x2, x3) = a² / (a² + c²), R²(x2 | x1, x3) = b² / (b² + c²).
    a, b, c = 1.0, 2.0, 1.0
    x1, x2, e = _orthonormal_columns(500, 3).T
    x3 = a * x1 + b * x2 + c * e
    expected_r2 = np.array([a**2 / (a**2 + c**2), b**2 / (b**2 + c**2), (a**2 + b**2) / (a**2 + b**2 + c**2)])
    expected_vif = 1.0 / (1.0 - expected_r2)  # 2, 5, 6
    # units and offsets do not change a VIF
    X = pd.DataFrame({"x1": 1000.0 * x1 + 2500.0, "x2": x2 - 3.0, "x3": 0.01 * x3})  # noqa: N806
    t = vif_table(X)
    np.testing.assert_allclose(t["VIF"], expected_vif, rtol=1e-9)
    np.testing.assert_allclose(t["tolerance"], 1.0 - expected_r2, rtol=1e-9)
    np.testing.assert_allclose(t["VIF"], [2.0, 5.0, 6.0], rtol=1e-9)
    assert not t["flag"].any()
    # second oracle: the diagonal of the inverse correlation matrix
    np.testing.assert_allclose(t["VIF"], np.diag(np.linalg.inv(np.corrcoef(X.to_numpy(), rowvar=False))), rtol=1e-9)
    # the stricter rule of paper 003 (VIF 5 / TOL 0.2) at a threshold between the values
    assert vif_table(X, vif_threshold=4.0)["flag"].tolist() == [False, True, True]


def test_vif_of_categorical_factors_is_the_generalised_vif():
    rng = np.random.default_rng(3)
    n = 600
    geology = rng.choice(["granite", "schist", "slate"], size=n)
    slope = rng.normal(30, 8, n) + 6.0 * (geology == "schist")  # related to the class, not determined by it
    elev = rng.normal(2000, 300, n)
    X = pd.DataFrame({"slope": slope, "geology": geology, "elev": elev})  # noqa: N806
    t = vif_table(X)  # geology is non-numeric, so categorical without being told
    assert t["kind"].tolist() == ["continuous", "categorical", "continuous"]
    assert t["df"].tolist() == [1, 2, 1]
    # oracle: the determinant formula on the design with schist and slate indicators (granite = reference)
    design = np.column_stack([slope, geology == "schist", geology == "slate", elev]).astype(float)
    blocks = [np.array([1, 0, 0, 0], bool), np.array([0, 1, 1, 0], bool), np.array([0, 0, 0, 1], bool)]
    expected = [_gvif_by_determinants(design, blk) for blk in blocks]
    np.testing.assert_allclose(t["VIF"], expected, rtol=1e-8)
    assert t.loc[1, "VIF_df"] == pytest.approx(expected[1] ** 0.5)
    assert t.loc[1, "VIF"] > 1.05  # slope does depend on the class
    # integer class codes declared categorical give the same table
    codes = pd.Series(geology).map({"granite": 1, "schist": 2, "slate": 3}).to_numpy()
    t_codes = vif_table(
        np.column_stack([slope, codes, elev]), ["slope", "geology", "elev"], kinds={"geology": "categorical"}
    )
    np.testing.assert_allclose(t_codes["VIF"], t["VIF"], rtol=1e-10)
    # a continuous factor equal to a class indicator is exactly collinear with the block
    X["is_slate"] = (geology == "slate").astype(float)
    t = vif_table(X)
    assert np.isinf(t.set_index("factor").loc["geology", "VIF"])
    assert t.set_index("factor").loc[["geology", "is_slate"], "flag"].all()


def test_vif_leaves_out_incomplete_rows():
    x1, x2, e = _orthonormal_columns(200, 3, seed=4).T
    X = np.column_stack([x1, x2, x1 + x2 + e])  # noqa: N806
    full = vif_table(X, ["a", "b", "c"])
    with_nan = np.vstack([X, [[np.nan, 1.0, 2.0], [0.5, np.inf, 0.0]]])
    t = vif_table(with_nan, ["a", "b", "c"])
    assert t.attrs["n_samples"] == 200
    np.testing.assert_allclose(t["VIF"], full["VIF"], rtol=1e-12)


def test_vif_refuses_bad_input():
    X = np.random.default_rng(0).standard_normal((50, 3))  # noqa: N806
    with pytest.raises(ValueError, match=r"vif_table: 2 names for an X with 3 columns"):
        vif_table(X, ["a", "b"])
    with pytest.raises(ValueError, match=r"vif_table: X is an array, so names"):
        vif_table(X)
    with pytest.raises(ValueError, match=r"at least two factors"):
        vif_table(X[:, :1], ["a"])
    with pytest.raises(ValueError, match=r"vif_threshold must be a number above 1"):
        vif_table(X, ["a", "b", "c"], vif_threshold=1.0)
    with pytest.raises(ValueError, match=r"X has no column\(s\) 'slope'"):
        vif_table(pd.DataFrame(X, columns=["a", "b", "c"]), ["a", "slope"])
    with pytest.raises(ValueError, match=r"4 complete rows for 3 design columns"):
        vif_table(X[:4], ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"kind of 'a' must be 'continuous' or 'categorical'"):
        vif_table(X, ["a", "b", "c"], kinds={"a": "ordinal"})


def test_correlation_table_is_pearson_on_the_samples():
    X, _, _ = _synthetic(200)  # noqa: N806
    X["geology"] = np.where(X["noise"] > 0, "a", "b")
    corr = correlation_table(X)
    assert list(corr.columns) == ["noise", "signal", "weak"]  # categorical left out
    np.testing.assert_allclose(corr.to_numpy(), np.corrcoef(X[["noise", "signal", "weak"]].to_numpy(), rowvar=False))
    with pytest.raises(ValueError, match=r"no continuous factor"):
        correlation_table(X[["geology"]])


# --------------------------------------------------------------------------- information gain


def test_information_gain_of_a_separating_factor_is_the_label_entropy():
    y = np.array([0, 1] * 50)
    separating = y.astype(float)  # two distinct values: each is a class, no binning
    rng = np.random.default_rng(5)
    X = np.column_stack([rng.standard_normal(100), separating])  # noqa: N806
    bits = information_gain(X, y, ["noise", "separating"])
    assert bits.attrs["units"] == "bit"
    assert bits["factor"].tolist() == ["separating", "noise"]
    assert bits["rank"].tolist() == [1, 2]
    top = bits.iloc[0]
    assert top["information_gain"] == pytest.approx(1.0)  # H(Y) of a balanced label: 1 bit
    assert top["label_entropy"] == pytest.approx(1.0)
    assert top["gain_ratio"] == pytest.approx(1.0)
    assert top["n_classes"] == 2
    nats = information_gain(X, y, ["noise", "separating"], base="e")
    assert nats.attrs["units"] == "nat"
    assert nats.iloc[0]["information_gain"] == pytest.approx(np.log(2.0))
    # hand count on an unbalanced label: y = 1 1 1 0, factor classes {a: 1 1} {b: 1 0}
    # H(Y) = H(3/4) = 0.8113 bit; H(Y|F) = 1/2 * 0 + 1/2 * 1 = 0.5 bit
    t = information_gain(pd.DataFrame({"f": ["a", "a", "b", "b"]}), [1, 1, 1, 0])
    h = -(0.75 * np.log2(0.75) + 0.25 * np.log2(0.25))
    assert t.loc[0, "information_gain"] == pytest.approx(h - 0.5)


def test_information_gain_ranks_informative_above_noise():
    X, y, _ = _synthetic(600)  # noqa: N806
    t = information_gain(X, y, bins=10)
    assert t["factor"].tolist() == ["signal", "weak", "noise"]
    assert t.loc[0, "information_gain"] > 5 * t.loc[2, "information_gain"]
    assert (t["n_classes"] == 10).all()
    np.testing.assert_allclose(t["label_entropy"], t.loc[0, "label_entropy"])


def test_information_gain_refuses_bad_input():
    X, y, _ = _synthetic(50)  # noqa: N806
    with pytest.raises(ValueError, match=r"bins must be an integer ≥ 2"):
        information_gain(X, y, bins=1)
    with pytest.raises(ValueError, match=r"base must be 2 \(bits\) or 'e' \(nats\)"):
        information_gain(X, y, base=10)
    with pytest.raises(ValueError, match=r"y must be 0/1 \(1 = event\), found \[2.0\]"):
        information_gain(X, np.where(y == 1, 2, 0))
    with pytest.raises(ValueError, match=r"one label per sample \(50\)"):
        information_gain(X, y[:10])


# --------------------------------------------------------------------------- forest and permutation importance


def test_random_forest_importance_recovers_the_informative_factor():
    X, y, _ = _synthetic(400)  # noqa: N806
    t = random_forest_importance(X, y, n_trees=(20, 60), seed=3)
    assert list(t.columns) == ["rank", "factor", "trees_20", "trees_60", "mean", "sd"]
    assert t["factor"].tolist() == ["signal", "weak", "noise"]
    for col in ("trees_20", "trees_60"):
        assert t[col].idxmax() == 0 and t[col].idxmin() == 2  # the same ranking for every forest size
        assert t[col].sum() == pytest.approx(100.0)  # percent of the total impurity decrease
    mm = random_forest_importance(X, y, n_trees=(20,), seed=3, scale="minmax")
    assert mm["trees_20"].tolist()[0] == pytest.approx(100.0) and mm["trees_20"].tolist()[-1] == pytest.approx(0.0)
    top = random_forest_importance(X, y, n_trees=(20,), seed=3, scale="max")
    assert top["trees_20"].max() == pytest.approx(100.0)
    # the same seed gives the same forest
    again = random_forest_importance(X, y, n_trees=(20, 60), seed=3)
    pd.testing.assert_frame_equal(t, again)


def test_random_forest_importance_sums_the_one_hot_columns_of_a_categorical_factor():
    X, y, _ = _synthetic(300)  # noqa: N806
    X["zone"] = np.where(X["signal"] > 0.5, "high", np.where(X["signal"] < -0.5, "low", "mid"))
    t = random_forest_importance(X[["noise", "zone"]], y, n_trees=(30,), seed=0)
    assert t["factor"].tolist() == ["zone", "noise"]
    assert t["trees_30"].sum() == pytest.approx(100.0)


def test_random_forest_importance_refuses_bad_input():
    X, y, _ = _synthetic(50)  # noqa: N806
    with pytest.raises(ValueError, match=r"scale must be one of percent, max, minmax"):
        random_forest_importance(X, y, scale="sum")
    with pytest.raises(ValueError, match=r"n_trees must be positive integers"):
        random_forest_importance(X, y, n_trees=(0, 10))
    with pytest.raises(ValueError, match=r"n_trees lists a forest size twice"):
        random_forest_importance(X, y, n_trees=(10, 10))
    with pytest.raises(ValueError, match=r"y holds one class only"):
        random_forest_importance(X, np.zeros(50))
    with pytest.raises(StudyConfigError, match=r"random_forest does not take depth"):
        random_forest_importance(X, y, n_trees=(5,), params={"depth": 3})


def test_permutation_importance_on_spatial_folds_recovers_the_informative_factor():
    X, y, coords = _synthetic(400)  # noqa: N806
    splitter = RepeatedSpatialKFold(coords, n_splits=4, n_repeats=1, random_state=0)
    pipe = make_pipeline("logistic_regression", {}, factor_names=list(X.columns), kinds={})
    t = permutation_importance_cv(pipe, X, y, list(X.columns), splitter, n_repeats=3, seed=1)
    assert list(t.columns) == ["rank", "factor", "mean", "sd", "n_folds"]
    assert t["factor"].tolist() == ["signal", "weak", "noise"]
    assert t.loc[0, "mean"] > 0.2  # AUROC drops a lot without the signal
    assert abs(t.loc[2, "mean"]) < 0.02
    assert (t["n_folds"] == 4).all()
    assert t.attrs["scoring"] == "roc_auc"
    assert 0.9 < t.attrs["baseline_mean"] <= 1.0
    # an array with names gives the same answer
    t_arr = permutation_importance_cv(pipe, X.to_numpy(), y, list(X.columns), splitter, n_repeats=3, seed=1)
    pd.testing.assert_frame_equal(t, t_arr)


def test_permutation_importance_never_fits_on_held_out_rows():
    X, y, coords = _synthetic(240, seed=7)  # noqa: N806
    X = X[["signal", "noise", "weak"]]  # noqa: N806 (the spy records the first column)
    splitter = RepeatedSpatialKFold(coords, n_splits=4, n_repeats=2, random_state=5)
    SpyClassifier.fitted.clear()
    permutation_importance_cv(SpyClassifier(), X, y, None, splitter, n_repeats=2, seed=0)
    folds = list(splitter.split(X, y))
    assert len(SpyClassifier.fitted) == len(folds)  # one fit per fold, none on shuffled data
    first = X["signal"].to_numpy()
    for fitted, (train, test) in zip(SpyClassifier.fitted, folds, strict=True):
        np.testing.assert_array_equal(fitted, first[train])  # exactly the training rows, unpermuted
        assert not np.isin(fitted, first[test]).any()


def test_permutation_importance_skips_one_class_folds_with_a_warning():
    X, y, _ = _synthetic(200)  # noqa: N806
    order = np.argsort(y, kind="stable")
    X, y = X.iloc[order].reset_index(drop=True), y[order]  # noqa: N806
    # folds in input order: the first holds only non-events
    fold_of = np.arange(200) * 4 // 200

    class OrderedFolds:
        def split(self, X, y=None):  # noqa: N803
            for k in range(4):
                yield np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)

    pipe = make_pipeline("logistic_regression", {}, factor_names=list(X.columns), kinds={})
    with pytest.warns(SusmapWarning, match=r"folds had one class only"):
        t = permutation_importance_cv(pipe, X, y, None, OrderedFolds(), n_repeats=1)
    assert t.attrs["n_folds_skipped"] >= 1
    with pytest.raises(ValueError, match=r"give a splitter with split\(X, y\)"):
        permutation_importance_cv(pipe, X, y, None, None)
    with pytest.raises(ValueError, match=r"X holds missing values"):
        permutation_importance_cv(pipe, X.assign(noise=np.nan), y, None, OrderedFolds())


# --------------------------------------------------------------------------- factor-count curve


def test_accuracy_rises_when_the_informative_factor_is_added():
    X, y, coords = _synthetic(300)  # noqa: N806
    splitter = RepeatedSpatialKFold(coords, n_splits=3, n_repeats=1, random_state=0)
    seen: list[list[str]] = []

    def make_lr(names):
        seen.append(list(names))
        return make_pipeline("logistic_regression", {}, factor_names=names, kinds={})

    models = {
        "lr": make_lr,
        "rf": lambda names: make_pipeline("random_forest", {"n_estimators": 25}, factor_names=names, kinds={}),
        "bare": LogisticRegression(),  # an estimator that takes any number of columns
    }
    order = ["noise", "signal", "weak"]
    t = accuracy_by_factor_count(models, X, y, None, order, splitter)
    assert list(t.columns) == ["n_factors", "factor_added", "model", "mean", "sd", "n_folds"]
    assert len(t) == 3 * 3
    assert t["n_factors"].tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert t["factor_added"].tolist() == ["noise"] * 3 + ["signal"] * 3 + ["weak"] * 3
    assert seen == [["noise"], ["noise", "signal"], ["noise", "signal", "weak"]]
    assert (t["n_folds"] == 3).all()
    assert t.attrs["metric"] == "accuracy"
    by = t.set_index(["model", "n_factors"])["mean"]
    for model in models:
        assert by[(model, 2)] > by[(model, 1)] + 0.2  # adding the signal helps every model
    assert by[("lr", 1)] < 0.65  # noise alone is near chance
    # another metric and a random splitter
    auc = accuracy_by_factor_count(
        {"lr": make_lr}, X.to_numpy(), y, list(X.columns), ["signal"], RepeatedRandomKFold(3)
    )
    assert len(auc) == 1


def test_accuracy_by_factor_count_refuses_bad_input():
    X, y, _ = _synthetic(60)  # noqa: N806
    splitter = RepeatedRandomKFold(3)
    make = {"lr": lambda names: LogisticRegression()}
    with pytest.raises(ValueError, match=r"order names factor\(s\) 'aspect' not in"):
        accuracy_by_factor_count(make, X, y, None, ["signal", "aspect"], splitter)
    with pytest.raises(ValueError, match=r"order lists a factor twice"):
        accuracy_by_factor_count(make, X, y, None, ["signal", "signal"], splitter)
    with pytest.raises(ValueError, match=r"give the order in which factors are added"):
        accuracy_by_factor_count(make, X, y, None, None, splitter)
    with pytest.raises(ValueError, match=r"give at least one model"):
        accuracy_by_factor_count({}, X, y, None, ["signal"], splitter)
    with pytest.raises(ValueError, match=r"model 'x' must be a callable make\(names\)"):
        accuracy_by_factor_count({"x": 3}, X, y, None, ["signal"], splitter)


# --------------------------------------------------------------------------- figures


def test_figures_write_png_files(tmp_path):
    X, y, _ = _synthetic(200)  # noqa: N806
    X["copy"] = X["signal"] * 2.0  # an infinite VIF to draw
    rf = random_forest_importance(X, y, n_trees=(10, 20), seed=0)
    ig = information_gain(X, y)
    pipe = make_pipeline("logistic_regression", {}, factor_names=list(X.columns), kinds={})
    perm = permutation_importance_cv(pipe, X, y, None, RepeatedRandomKFold(3), n_repeats=1)
    curve = accuracy_by_factor_count(
        {"lr": lambda names: LogisticRegression()}, X, y, None, ["signal", "weak"], RepeatedRandomKFold(3)
    )
    paths = [
        plot_importance(rf, tmp_path / "rf.png"),
        plot_importance(perm, tmp_path / "perm.png"),
        plot_importance(ig, tmp_path / "ig.png"),
        plot_importance(ig, tmp_path / "ig_ratio.png", value="gain_ratio"),
        plot_vif(vif_table(X), tmp_path / "vif.png"),
        plot_vif(vif_table(X.drop(columns="copy") * [1, 1, 100]), tmp_path / "vif_small.png"),
        plot_factor_count_curve(curve, tmp_path / "curve.png"),
    ]
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000
    with pytest.raises(ValueError, match=r"plot_vif: the table has no column\(s\) VIF, flag"):
        plot_vif(rf, tmp_path / "bad.png")
    with pytest.raises(ValueError, match=r"plot_importance: nothing to draw"):
        plot_importance(pd.DataFrame({"factor": ["a"], "x": [1.0]}), tmp_path / "bad.png")


def test_public_names_import():
    for name in analysis.__all__:
        assert getattr(analysis, name) is not None, name
    assert {"vif_table", "information_gain", "accuracy_by_factor_count", "factor_class_tables"} <= set(analysis.__all__)


# --------------------------------------------------------------------------- the bundled Ecuador data


def test_factor_analysis_on_the_ecuador_data(capsys):
    lsl = pd.read_csv(ecuador_path("lsl.csv"))
    names = list(ECUADOR_FACTORS)
    y = lsl["lslpts"].to_numpy()  # booleans: TRUE = landslide initiation point
    vif = vif_table(lsl, names)
    ig = information_gain(lsl, y, names)
    rf = random_forest_importance(lsl, y, names, seed=42)
    splitter = RepeatedSpatialKFold(lsl[["x", "y"]].to_numpy(), n_splits=5, n_repeats=2, random_state=42)
    pipe = make_pipeline("logistic_regression", {}, factor_names=names, kinds={})
    perm = permutation_importance_cv(pipe, lsl, y, names, splitter, n_repeats=5, seed=42)
    assert vif.attrs["n_samples"] == 350
    assert not vif["flag"].any()  # terrain factors of this data are not collinear by the 10 rule
    assert (vif["VIF"] < 3).all()
    assert set(ig["factor"]) == set(names) and (ig["information_gain"] > 0).all()
    assert ig.loc[0, "label_entropy"] == pytest.approx(1.0)  # 175 landslides, 175 not
    for col in [c for c in rf.columns if c.startswith("trees_")]:
        assert rf[col].sum() == pytest.approx(100.0)
    with capsys.disabled(), pd.option_context("display.width", 160, "display.max_columns", 20):
        print("\nEcuador (lsl.csv, 350 points): VIF and tolerance")
        print(vif.round(3).to_string(index=False))
        print("information gain [bit], 10 quantile classes")
        print(ig.round(4).to_string(index=False))
        print("random-forest impurity importance [% of total], seed 42")
        print(rf.round(2).to_string(index=False))
        print("permutation importance, logistic regression, 5-fold spatial CV x 2, decrease in AUROC")
        print(perm.round(4).to_string(index=False))
