"""Validation: splitters (coverage, seeding, spatial compactness), metrics, repeated CV runs.

Oracles: sklearn's ``check_cv_coverage`` properties written out, a
confusion matrix counted by hand, ``roc_auc_score`` and a pairwise
Mann-Whitney count, and the published qualitative result on the Ecuador data
(spatial CV scores lower than random CV).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from susmap.datasets import ECUADOR_FACTORS
from susmap.errors import SamplingError, SusmapWarning
from susmap.models import make_pipeline
from susmap.validation import (
    METRIC_NAMES,
    RepeatedRandomKFold,
    RepeatedSpatialKFold,
    confusion_counts,
    cross_validate_models,
    make_splitter,
    score_all,
)

# --------------------------------------------------------------------------- data helpers


def _random_data(n: int = 120, seed: int = 0):
    """X (n, 2), y (0/1, both classes), coords uniform over 5 x 5 km."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))  # noqa: N806
    y = (X[:, 0] + 0.7 * rng.standard_normal(n) > 0).astype(int)
    coords = rng.uniform(0, 5000, size=(n, 2))
    return X, y, coords


def _four_clusters(per: int = 25, seed: int = 0):
    """Points around 4 centres 10 km apart (sd 100 m); cluster id of each point."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [10_000.0, 0.0], [0.0, 10_000.0], [10_000.0, 10_000.0]])
    cluster = np.repeat(np.arange(4), per)
    coords = centres[cluster] + rng.normal(0, 100, size=(4 * per, 2))
    order = rng.permutation(4 * per)
    return coords[order], cluster[order]


def _splitters(coords, n_splits, n_repeats, seed):
    return {
        "random": RepeatedRandomKFold(n_splits, n_repeats, random_state=seed),
        "spatial": RepeatedSpatialKFold(coords, n_splits, n_repeats, random_state=seed),
    }


def _check_coverage(splits, n: int, n_splits: int, n_repeats: int) -> None:
    """Train/test disjoint and complementary; every sample tested exactly once per repeat."""
    assert len(splits) == n_splits * n_repeats
    for r in range(n_repeats):
        tested = np.zeros(n, dtype=int)
        for train, test in splits[r * n_splits : (r + 1) * n_splits]:
            assert np.intersect1d(train, test).size == 0
            assert np.union1d(train, test).size == n
            assert train.size + test.size == n
            assert test.size > 0
            tested[test] += 1
        np.testing.assert_array_equal(tested, np.ones(n, dtype=int))


# --------------------------------------------------------------------------- splitters


@pytest.mark.parametrize("scheme", ["random", "spatial"])
@pytest.mark.parametrize(("n_splits", "n_repeats"), [(2, 1), (5, 3), (7, 2)])
def test_splitter_coverage(scheme, n_splits, n_repeats):
    X, y, coords = _random_data()  # noqa: N806
    splitter = _splitters(coords, n_splits, n_repeats, seed=3)[scheme]
    assert splitter.get_n_splits() == n_splits * n_repeats
    assert splitter.get_n_splits(X, y) == n_splits * n_repeats
    splits = list(splitter.split(X, y))
    _check_coverage(splits, len(y), n_splits, n_repeats)


@pytest.mark.parametrize("scheme", ["random", "spatial"])
def test_splitter_seeding(scheme):
    X, y, coords = _random_data()  # noqa: N806

    def tests(seed):
        return [test for _, test in _splitters(coords, 5, 2, seed)[scheme].split(X, y)]

    same_a, same_b, other = tests(42), tests(42), tests(43)
    assert all(np.array_equal(a, b) for a, b in zip(same_a, same_b, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(same_a, other, strict=True))
    # the repeats of one run differ from each other
    first, second = same_a[:5], same_a[5:]
    assert not all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_random_kfold_is_stratified():
    X, y, _ = _random_data(n=103)  # noqa: N806
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    for _, test in RepeatedRandomKFold(5, 2, random_state=1).split(X, y):
        # StratifiedKFold: per-class counts per fold differ from the even share by less than one
        assert abs(y[test].sum() - n_pos / 5) < 1
        assert abs((1 - y[test]).sum() - n_neg / 5) < 1


def test_random_kfold_without_y_still_covers():
    X = np.zeros((23, 1))  # noqa: N806
    _check_coverage(list(RepeatedRandomKFold(4, 2, random_state=0).split(X)), 23, 4, 2)


def test_spatial_folds_are_the_spatial_clusters():
    coords, cluster = _four_clusters()
    X = np.zeros((len(coords), 1))  # noqa: N806
    splitter = RepeatedSpatialKFold(coords, n_splits=4, n_repeats=3, random_state=0)
    splits = list(splitter.split(X))
    _check_coverage(splits, len(coords), 4, 3)
    for _, test in splits:
        # each test fold is exactly one whole cluster
        assert np.unique(cluster[test]).size == 1
        assert test.size == 25
    ids = splitter.fold_ids()
    assert ids.shape == (3, len(coords))
    for row in ids:
        # fold labels and clusters are the same partition (up to renaming)
        pairs = set(zip(row.tolist(), cluster.tolist(), strict=True))
        assert len(pairs) == 4


def test_spatial_folds_are_compact_on_uniform_points():
    X, y, coords = _random_data(n=300, seed=5)  # noqa: N806
    spread_all = coords.std(axis=0).sum()
    for _, test in RepeatedSpatialKFold(coords, 5, 2, random_state=1).split(X):
        assert coords[test].std(axis=0).sum() < 0.75 * spread_all
    # random folds are not: each spans about the whole area
    for _, test in RepeatedRandomKFold(5, 1, random_state=1).split(X, y):
        assert coords[test].std(axis=0).sum() > 0.75 * spread_all


@pytest.mark.parametrize("scheme", ["random", "spatial"])
def test_splitters_work_with_sklearn_cross_validate(scheme):
    X, y, coords = _random_data()  # noqa: N806
    splitter = _splitters(coords, 4, 2, seed=0)[scheme]
    res = cross_validate(LogisticRegression(), X, y, cv=splitter, scoring="roc_auc")
    assert res["test_score"].shape == (8,)
    assert np.all((res["test_score"] > 0.5) & (res["test_score"] <= 1.0))


def test_make_splitter():
    _, _, coords = _random_data()
    sp = make_splitter("spatial", coords=coords, n_splits=3, n_repeats=2, seed=9)
    assert isinstance(sp, RepeatedSpatialKFold) and sp.get_n_splits() == 6 and sp.random_state == 9
    rnd = make_splitter("random", coords=coords, n_splits=4, n_repeats=1, seed=9)
    assert isinstance(rnd, RepeatedRandomKFold) and rnd.get_n_splits() == 4
    with pytest.raises(ValueError, match="unknown validation scheme 'kriging'"):
        make_splitter("kriging", coords=coords, n_splits=3, n_repeats=1, seed=0)


def test_splitter_errors():
    X = np.zeros((10, 1))  # noqa: N806
    y = np.array([0] * 7 + [1] * 3)
    with pytest.raises(SamplingError, match="11 folds but only 10 samples"):
        list(RepeatedRandomKFold(11).split(X, np.arange(10) % 2))
    with pytest.raises(SamplingError, match="5 folds but the rarer class has only 3 samples"):
        list(RepeatedRandomKFold(5).split(X, y))
    coords = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]] * 6 + [[0.0, 0.0], [1.0, 1.0]])  # 3 distinct places
    with pytest.raises(SamplingError, match="5 spatial folds but only 3 distinct sample locations"):
        list(RepeatedSpatialKFold(coords, 5).split(np.zeros((20, 1))))
    with pytest.raises(SamplingError, match="25 folds but only 20 samples"):
        list(RepeatedSpatialKFold(coords, 25).split(np.zeros((20, 1))))
    with pytest.raises(ValueError, match="X has 10 rows but coords has 20"):
        list(RepeatedSpatialKFold(coords, 2).split(X))
    assert issubclass(SamplingError, ValueError)


# --------------------------------------------------------------------------- metrics

# 4 events, 6 non-events. At threshold 0.5 (>= is an event):
# events 0.9, 0.8, 0.5 -> TP = 3; event 0.3 -> FN = 1;
# non-events 0.7, 0.6 -> FP = 2; 0.2, 0.1, 0.4, 0.05 -> TN = 4.
Y_TRUE = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
Y_PROB = np.array([0.9, 0.8, 0.5, 0.3, 0.7, 0.2, 0.1, 0.4, 0.6, 0.05])


def test_confusion_counts_by_hand():
    assert confusion_counts(Y_TRUE, Y_PROB) == {"tp": 3, "fp": 2, "tn": 4, "fn": 1}
    # 0.5 itself is an event at threshold 0.5 but not at 0.55
    assert confusion_counts(Y_TRUE, Y_PROB, threshold=0.55) == {"tp": 2, "fp": 2, "tn": 4, "fn": 2}
    assert confusion_counts(Y_TRUE, Y_PROB, threshold=0.65) == {"tp": 2, "fp": 1, "tn": 5, "fn": 2}


def test_score_all_by_hand():
    s = score_all(Y_TRUE, Y_PROB)
    assert set(s) == set(METRIC_NAMES)
    assert s["accuracy"] == pytest.approx(7 / 10)
    assert s["precision"] == pytest.approx(3 / 5)
    assert s["recall"] == pytest.approx(3 / 4)
    assert s["specificity"] == pytest.approx(4 / 6)
    assert s["f1"] == pytest.approx(2 * 0.6 * 0.75 / (0.6 + 0.75))  # = 2/3
    # AUROC: of the 4 x 6 event/non-event pairs, 6 + 6 + 4 + 3 = 19 rank the event higher
    assert s["auroc"] == pytest.approx(19 / 24)


def test_score_all_threshold_matters():
    s = score_all(Y_TRUE, Y_PROB, threshold=0.55)  # TP 2, FP 2, TN 4, FN 2
    assert s["accuracy"] == pytest.approx(6 / 10)
    assert s["precision"] == pytest.approx(2 / 4)
    assert s["recall"] == pytest.approx(2 / 4)
    assert s["specificity"] == pytest.approx(4 / 6)
    assert s["f1"] == pytest.approx(0.5)
    assert s["auroc"] == pytest.approx(19 / 24)  # threshold-free


def test_auroc_equals_sklearn_and_pairwise_count_with_ties():
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, size=200)
    prob = np.round(rng.random(200) * 0.6 + 0.3 * y, 1)  # rounded: many ties
    pos, neg = prob[y == 1], prob[y == 0]
    pairwise = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (
        pos.size * neg.size
    )
    auroc = score_all(y, prob)["auroc"]
    assert auroc == pytest.approx(roc_auc_score(y, prob), rel=1e-12)
    assert auroc == pytest.approx(pairwise, rel=1e-12)


def test_zero_denominators_give_nan():
    # nothing predicted as an event: precision 0/0
    s = score_all(np.array([1, 0, 1, 0]), np.array([0.1, 0.2, 0.3, 0.4]))
    assert np.isnan(s["precision"])
    assert s["recall"] == 0.0 and s["specificity"] == 1.0 and s["f1"] == 0.0
    assert s["accuracy"] == pytest.approx(0.5)
    # no events and none predicted: recall and F1 0/0; AUROC undefined with one class
    s = score_all(np.zeros(5, dtype=int), np.full(5, 0.2))
    assert np.isnan(s["recall"]) and np.isnan(s["f1"]) and np.isnan(s["precision"])
    assert np.isnan(s["auroc"])
    assert s["specificity"] == 1.0 and s["accuracy"] == 1.0


def test_one_class_labels_give_nan_auroc():
    s = score_all(np.ones(6, dtype=int), np.linspace(0.1, 0.9, 6))
    assert np.isnan(s["auroc"])
    assert np.isnan(s["specificity"])  # no non-events
    assert s["recall"] == pytest.approx(3 / 6)  # 0.1, 0.26, 0.42 | 0.58, 0.74, 0.9 >= 0.5
    assert s["precision"] == 1.0


# --------------------------------------------------------------------------- cross_validate_models


def _pipelines(seed: int = 0) -> dict:
    names = ["f1", "f2"]
    return {
        "lr": make_pipeline("logistic_regression", None, factor_names=names, kinds={}, seed=seed),
        "rf": make_pipeline("random_forest", {"n_estimators": 15}, factor_names=names, kinds={}, seed=seed),
    }


def test_cross_validate_models_tables():
    X, y, coords = _random_data(n=150, seed=2)  # noqa: N806
    n_splits, n_repeats = 3, 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", SusmapWarning)  # both classes in every fold here
        res = cross_validate_models(X, y, coords, _pipelines(), n_splits=n_splits, n_repeats=n_repeats, seed=4)
    scores = res.scores
    assert len(scores) == 2 * 2 * n_repeats * n_splits
    keys = scores[["scheme", "model", "repeat", "fold"]]
    assert not keys.duplicated().any()
    assert set(scores["scheme"]) == {"spatial", "random"}
    assert set(scores["model"]) == {"lr", "rf"}
    assert set(scores["repeat"]) == set(range(n_repeats))
    assert set(scores["fold"]) == set(range(n_splits))
    assert (scores["n_train"] + scores["n_test"] == len(y)).all()
    # both models are scored on the very same folds
    per_model = scores.pivot_table(index=["scheme", "repeat", "fold"], columns="model", values="n_test")
    np.testing.assert_array_equal(per_model["lr"], per_model["rf"])
    # each repeat tests every sample once
    n_test = scores.groupby(["scheme", "model", "repeat"])["n_test"].sum()
    assert (n_test == len(y)).all()
    assert scores[list(METRIC_NAMES)].notna().all().all()

    # summary: mean / sd / count of the per-fold rows
    summary = res.summary
    assert len(summary) == 2 * 2 * len(METRIC_NAMES)
    assert list(summary["scheme"].unique()) == ["spatial", "random"]
    for row in summary.itertuples():
        vals = scores.loc[(scores["scheme"] == row.scheme) & (scores["model"] == row.model), row.metric]
        assert row.mean == pytest.approx(vals.mean(), rel=1e-12)
        assert row.sd == pytest.approx(vals.std(ddof=1), rel=1e-12)
        assert row.n_folds == n_splits * n_repeats

    # fold ids of the first repeat cover every sample and match the splitter's
    assert set(res.fold_ids) == {"spatial", "random"}
    for scheme, ids in res.fold_ids.items():
        assert ids.shape == (len(y),)
        assert set(ids.tolist()) == set(range(n_splits))
        splitter = make_splitter(scheme, coords=coords, n_splits=n_splits, n_repeats=n_repeats, seed=4)
        for k, (_, test) in enumerate(list(splitter.split(X, y))[:n_splits]):
            np.testing.assert_array_equal(np.sort(np.nonzero(ids == k)[0]), np.sort(test))


def test_cross_validate_models_is_reproducible_and_parallel_safe():
    X, y, coords = _random_data(n=90, seed=6)  # noqa: N806
    kw = {"n_splits": 3, "n_repeats": 1, "seed": 1}
    a = cross_validate_models(X, y, coords, _pipelines(), **kw).scores
    b = cross_validate_models(X, y, coords, _pipelines(), n_jobs=2, **kw).scores
    pd.testing.assert_frame_equal(a, b)


class _RecordingScaler(StandardScaler):
    """A StandardScaler that records the rows it was fitted on (sequential runs only)."""

    fitted_on: list[np.ndarray] = []  # noqa: RUF012

    def fit(self, X, y=None, sample_weight=None):  # noqa: N803
        type(self).fitted_on.append(np.array(X, copy=True))
        return super().fit(X, y, sample_weight)


def test_scaling_is_fitted_inside_each_training_fold():
    X, y, coords = _random_data(n=90, seed=7)  # noqa: N806
    X[:, 0] += 3 * (coords[:, 0] > 2500)  # the spatial folds' means differ
    pre = ColumnTransformer([("continuous", _RecordingScaler(), [0, 1])])
    pipe = Pipeline([("preprocess", pre), ("model", LogisticRegression())])
    _RecordingScaler.fitted_on = []
    n_splits = 3
    res = cross_validate_models(X, y, coords, {"lr": pipe}, schemes=("spatial",), n_splits=n_splits, seed=0)
    seen = _RecordingScaler.fitted_on
    assert len(seen) == n_splits
    splitter = make_splitter("spatial", coords=coords, n_splits=n_splits, n_repeats=1, seed=0)
    for fitted, (train, _) in zip(seen, splitter.split(X, y), strict=True):
        np.testing.assert_array_equal(fitted, X[train])  # the training fold only, never the test rows
        assert not np.allclose(fitted.mean(axis=0), X.mean(axis=0))
    np.testing.assert_array_equal(res.scores["n_train"], [len(t) for t, _ in splitter.split(X, y)])
    # the given pipeline itself is never fitted (each fold fits a clone)
    with pytest.raises(NotFittedError, match="not fitted"):
        check_is_fitted(pipe.named_steps["preprocess"])


def test_make_pipeline_is_unfitted_and_not_mutated_by_cv():
    X, y, coords = _random_data(n=60, seed=8)  # noqa: N806
    pipe = make_pipeline("logistic_regression", None, factor_names=["f1", "f2"], kinds={}, seed=0)
    assert isinstance(pipe, Pipeline)
    first = pipe.steps[0][1]
    assert isinstance(first, ColumnTransformer)
    with pytest.raises(NotFittedError, match="not fitted"):
        check_is_fitted(first)
    before = clone(pipe).get_params(deep=True)
    cross_validate_models(X, y, coords, {"lr": pipe}, n_splits=3, seed=0)
    with pytest.raises(NotFittedError, match="not fitted"):
        check_is_fitted(pipe.named_steps["preprocess"])
    with pytest.raises(NotFittedError, match="not fitted"):
        check_is_fitted(pipe.named_steps["model"])
    assert repr(pipe.get_params(deep=True)) == repr(before)


def test_one_class_training_fold_gives_nan_and_warning():
    # three far-apart clusters: the events all sit in one of them
    rng = np.random.default_rng(3)
    centres = np.array([[0.0, 0.0], [20_000.0, 0.0], [0.0, 20_000.0]])
    cluster = np.repeat([0, 1, 2], [12, 20, 20])
    coords = centres[cluster] + rng.normal(0, 50, size=(52, 2))
    y = (cluster == 0).astype(int)
    X = rng.standard_normal((52, 2)) + y[:, None]  # noqa: N806
    pipes = {"lr": make_pipeline("logistic_regression", None, factor_names=["f1", "f2"], kinds={}, seed=0)}
    with pytest.warns(SusmapWarning, match="one class only"):
        res = cross_validate_models(X, y, coords, pipes, schemes=("spatial",), n_splits=3, seed=0)
    scores = res.scores
    assert len(scores) == 3
    ids = res.fold_ids["spatial"]
    event_fold = int(np.unique(ids[y == 1])[0])
    assert np.unique(ids[y == 1]).size == 1  # the event cluster is one fold
    # testing the event cluster: trained on non-events only -> every score undefined
    row = scores[scores["fold"] == event_fold].iloc[0]
    assert all(np.isnan(row[m]) for m in METRIC_NAMES)
    # the other folds trained on both classes but test one class: AUROC NaN, accuracy defined
    others = scores[scores["fold"] != event_fold]
    assert others["auroc"].isna().all()
    assert others["accuracy"].notna().all()
    summary = res.summary.set_index("metric")
    assert summary.loc["auroc", "n_folds"] == 0
    assert summary.loc["accuracy", "n_folds"] == 2


def test_cross_validate_models_refuses_too_many_folds():
    X, y, coords = _random_data(n=20)  # noqa: N806
    with pytest.raises(SamplingError, match="30 folds but only 20 samples"):
        cross_validate_models(X, y, coords, _pipelines(), n_splits=30)
    y = np.array([1, 1] + [0] * 18)
    with pytest.raises(SamplingError, match="rarer class has only 2 samples"):
        cross_validate_models(X, y, coords, _pipelines(), n_splits=3)


# --------------------------------------------------------------------------- Ecuador demo data


def test_ecuador_spatial_cv_is_lower_than_random_cv(ecuador_lsl):
    df = ecuador_lsl
    assert len(df) == 350 and df["lslpts"].sum() == 175
    X = df[list(ECUADOR_FACTORS)].to_numpy(dtype=float)  # noqa: N806
    y = df["lslpts"].astype(int).to_numpy()
    coords = df[["x", "y"]].to_numpy()
    pipes = {"lr": make_pipeline("logistic_regression", None, factor_names=ECUADOR_FACTORS, kinds={}, seed=42)}
    res = cross_validate_models(X, y, coords, pipes, n_splits=5, n_repeats=2, seed=42)
    auc = res.summary[res.summary["metric"] == "auroc"].set_index("scheme")["mean"]
    assert 0.6 < auc["spatial"] < 0.9
    assert 0.6 < auc["random"] < 0.9
    assert auc["spatial"] < auc["random"]
    # random folds are balanced in size, spatial (cluster) folds are not
    n_test = res.scores.groupby("scheme")["n_test"]
    assert n_test.max()["random"] - n_test.min()["random"] <= 1
    assert n_test.max()["spatial"] - n_test.min()["spatial"] > 1
