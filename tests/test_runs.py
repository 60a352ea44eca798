"""Repeated runs: training and test rows, out-of-fold predictions, any splitter, nested tuning, ranking.

Oracles: a fold refitted by hand with scikit-learn, spies that record the rows
each scaler is fitted on, a synthetic problem whose best parameter is known
(only one feature carries the signal), and paper 002's cumulative scores
recomputed by hand from its quoted accuracy values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import LeaveOneOut, RepeatedStratifiedKFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from susmap.errors import StudyConfigError, SusmapWarning
from susmap.validation.metrics import ALL_METRICS, METRIC_NAMES, score_all, youden_threshold
from susmap.validation.ranking import HEADLINE_CRITERIA, PAPER002_CRITERIA, cumulative_ranking, summarize_scores
from susmap.validation.runs import cross_validate_models
from susmap.validation.splitters import RepeatedRandomKFold, RepeatedSpatialKFold, make_splitter


def _data(n: int = 120, seed: int = 0):
    """X (n, 3): signal, noise, sample id; y from the signal; coords uniform over 5 x 5 km."""
    rng = np.random.default_rng(seed)
    signal = rng.standard_normal(n)
    y = (signal + 0.8 * rng.standard_normal(n) > 0).astype(int)
    X = np.column_stack([signal, rng.standard_normal(n), np.arange(n, dtype=float)])  # noqa: N806
    coords = rng.uniform(0, 5000, size=(n, 2))
    return X, y, coords


class _RecordingScaler(StandardScaler):
    """A StandardScaler that records the sample ids (column 2) of the rows it was fitted on (sequential runs)."""

    fitted_on: list[np.ndarray] = []  # noqa: RUF012

    def fit(self, X, y=None, sample_weight=None):  # noqa: N803
        type(self).fitted_on.append(np.asarray(X)[:, 2].astype(int).copy())
        return super().fit(X, y, sample_weight)


class _OneFeature(ClassifierMixin, BaseEstimator):
    """Logistic regression on the single column ``feature`` (0 = signal, 1 = noise, 2 = sample id)."""

    def __init__(self, feature: int = 0) -> None:
        self.feature = feature

    def fit(self, X, y):  # noqa: N803
        self.model_ = LogisticRegression().fit(np.asarray(X)[:, [self.feature]], y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):  # noqa: N803
        return self.model_.predict_proba(np.asarray(X)[:, [self.feature]])


def _spy_pipe(feature: int = 0) -> Pipeline:
    return Pipeline([("scale", _RecordingScaler()), ("model", _OneFeature(feature))])


def _lr() -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])


# --------------------------------------------------------------------------- rows and summaries


def test_training_and_test_rows():
    X, y, coords = _data()  # noqa: N806
    res = cross_validate_models(X[:, :2], y, coords, {"lr": _lr()}, n_splits=3, n_repeats=2, seed=1)
    test, train = res.scores, res.train_scores
    assert set(test["part"]) == {"test"} and set(train["part"]) == {"train"}
    keys = ["scheme", "model", "repeat", "fold", "n_train", "n_test", "threshold"]
    pd.testing.assert_frame_equal(test[keys], train[keys])
    assert len(test) == 2 * 2 * 3
    assert res.metrics == ALL_METRICS
    assert set(ALL_METRICS) <= set(test.columns)
    assert (test["threshold"] == 0.5).all()
    # summaries: headline metrics, same layout as before for the test part
    assert list(res.summary.columns) == ["scheme", "model", "metric", "mean", "sd", "n_folds"]
    assert list(res.summary["metric"].unique()) == list(METRIC_NAMES)
    assert list(res.train_summary.columns) == list(res.summary.columns)
    both = res.summarize("both", metrics=["AUC", "MSE"])
    assert list(both.columns) == ["part", "scheme", "model", "metric", "mean", "sd", "n_folds"]
    assert list(both["part"].unique()) == ["test", "train"]
    assert set(both["metric"]) == {"auroc", "mse"}
    row = both[(both["part"] == "train") & (both["scheme"] == "random") & (both["metric"] == "mse")].iloc[0]
    assert row["mean"] == pytest.approx(train.loc[train["scheme"] == "random", "mse"].mean(), rel=1e-12)
    # resubstitution fits better than held-out data, on average
    assert train["auroc"].mean() >= test["auroc"].mean()
    with pytest.raises(StudyConfigError, match="unknown metric 'gini'"):
        res.summarize(metrics=["gini"])
    narrow = cross_validate_models(X[:, :2], y, coords, {"lr": _lr()}, schemes=("random",), n_splits=3, metrics="AUC")
    with pytest.raises(StudyConfigError, match="metrics kappa were not computed; computed: auroc"):
        narrow.summarize(metrics=["kappa"])
    with pytest.raises(ValueError, match="part must be 'test', 'train' or 'both', got 'all'"):
        res.summarize("all")


def test_fold_rows_equal_a_fold_refitted_by_hand():
    X, y, coords = _data(n=90, seed=2)  # noqa: N806
    X = X[:, :2]  # noqa: N806
    res = cross_validate_models(
        X, y, coords, {"lr": _lr()}, schemes=("spatial",), n_splits=3, threshold="youden", seed=5
    )
    splits = list(make_splitter("spatial", coords=coords, n_splits=3, n_repeats=1, seed=5).split(X, y))
    for k, (train, test) in enumerate(splits):
        model = clone(_lr()).fit(X[train], y[train])
        p_train, p_test = model.predict_proba(X[train])[:, 1], model.predict_proba(X[test])[:, 1]
        thr = youden_threshold(y[train], p_train)  # chosen on the training part, applied to both
        expected_test = score_all(y[test], p_test, thr, metrics="all")
        expected_train = score_all(y[train], p_train, thr, metrics="all")
        got_test = res.scores[res.scores["fold"] == k].iloc[0]
        got_train = res.train_scores[res.train_scores["fold"] == k].iloc[0]
        assert got_test["threshold"] == thr
        for m in ALL_METRICS:
            np.testing.assert_allclose(got_test[m], expected_test[m], rtol=1e-10, equal_nan=True, err_msg=m)
            np.testing.assert_allclose(got_train[m], expected_train[m], rtol=1e-10, equal_nan=True, err_msg=m)


def test_metrics_subset_and_aliases():
    X, y, coords = _data(n=60)  # noqa: N806
    res = cross_validate_models(
        X[:, :2], y, coords, {"lr": _lr()}, schemes=("random",), n_splits=3, metrics=["AUC", "SST", "MSE"]
    )
    assert res.metrics == ("auroc", "recall", "mse")
    assert not {"accuracy", "kappa"} & set(res.scores.columns)
    assert list(res.summary["metric"].unique()) == ["auroc", "recall"]  # the headline ones among them


# --------------------------------------------------------------------------- predictions and splitters


def test_predictions_cover_every_sample_once_per_repeat():
    X, y, coords = _data(n=80, seed=3)  # noqa: N806
    X = X[:, :2]  # noqa: N806
    pipes = {"lr": _lr(), "lr_strong": Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(C=0.01))])}
    n_repeats = 2
    res = cross_validate_models(X, y, coords, pipes, n_splits=4, n_repeats=n_repeats, seed=0, return_predictions=True)
    pred = res.predictions
    assert list(pred.columns) == ["scheme", "repeat", "fold", "model", "sample", "label", "prob"]
    assert len(pred) == 2 * 2 * n_repeats * len(y)  # schemes x models x repeats x samples
    counts = pred.groupby(["scheme", "model", "repeat"])["sample"].agg(["nunique", "size"])
    assert (counts["nunique"] == len(y)).all() and (counts["size"] == len(y)).all()
    np.testing.assert_array_equal(pred["label"], y[pred["sample"]])
    assert pred["prob"].between(0, 1).all()
    # the fold's AUROC recomputed from the predictions equals the fold row
    first = pred[(pred["scheme"] == "spatial") & (pred["model"] == "lr") & (pred["repeat"] == 1) & (pred["fold"] == 2)]
    row = res.scores.query("scheme == 'spatial' and model == 'lr' and repeat == 1 and fold == 2").iloc[0]
    assert score_all(first["label"], first["prob"])["auroc"] == pytest.approx(row["auroc"], rel=1e-12)
    assert len(first) == row["n_test"]
    # fold_ids of the first repeat agree with the predictions
    rep0 = pred[(pred["scheme"] == "random") & (pred["model"] == "lr") & (pred["repeat"] == 0)]
    np.testing.assert_array_equal(res.fold_ids["random"][rep0["sample"]], rep0["fold"])
    assert cross_validate_models(X, y, coords, pipes, n_splits=4, seed=0).predictions is None


def test_splitter_objects_and_pairs():
    X, y, coords = _data(n=90, seed=4)  # noqa: N806
    X = X[:, :2]  # noqa: N806
    schemes = [
        ("sk_repeated", RepeatedStratifiedKFold(n_splits=3, n_repeats=2, random_state=0)),
        ("my_spatial", RepeatedSpatialKFold(coords, 3, 1, random_state=2)),
        "random",
    ]
    res = cross_validate_models(X, y, coords, {"lr": _lr()}, schemes=schemes, n_splits=4, return_predictions=True)
    counts = res.scores.groupby("scheme", sort=False).size()
    assert counts.to_dict() == {"sk_repeated": 6, "my_spatial": 3, "random": 4}
    sk = res.scores[res.scores["scheme"] == "sk_repeated"]
    assert sorted(zip(sk["repeat"], sk["fold"], strict=True)) == [(r, f) for r in range(2) for f in range(3)]
    assert list(res.fold_ids) == ["sk_repeated", "my_spatial", "random"]
    # the splitter's own folds are used
    expected = list(StratifiedKFold(3).split(X, y))
    res2 = cross_validate_models(X, y, None, {"lr": _lr()}, schemes={"sk": StratifiedKFold(3)})
    np.testing.assert_array_equal(res2.scores["n_test"], [len(t) for _, t in expected])
    with pytest.raises(TypeError, match="a scheme is a name or a \\(name, splitter\\) pair, got 3"):
        cross_validate_models(X, y, coords, {"lr": _lr()}, schemes=[3])
    with pytest.raises(TypeError, match="scheme 'x': a splitter needs a split\\(\\) method, got int"):
        cross_validate_models(X, y, coords, {"lr": _lr()}, schemes=[("x", 3)])
    with pytest.raises(StudyConfigError, match="scheme names must not repeat"):
        cross_validate_models(X, y, coords, {"lr": _lr()}, schemes=["random", ("random", StratifiedKFold(3))])


def test_parallel_equals_sequential_with_tuning_and_predictions():
    X, y, coords = _data(n=80, seed=6)  # noqa: N806
    kw = {
        "n_splits": 3,
        "seed": 3,
        "return_predictions": True,
        "tuning": {"m": {"param_grid": {"feature": [1, 0]}, "inner_folds": 2}},
    }
    pipes = {"m": Pipeline([("scale", StandardScaler()), ("model", _OneFeature())]), "lr": _lr()}
    a = cross_validate_models(X, y, coords, pipes, **kw)
    b = cross_validate_models(X, y, coords, pipes, n_jobs=2, backend="threading", **kw)
    pd.testing.assert_frame_equal(a.scores, b.scores)
    pd.testing.assert_frame_equal(a.train_scores, b.train_scores)
    pd.testing.assert_frame_equal(a.predictions, b.predictions)
    pd.testing.assert_frame_equal(a.tuning, b.tuning)


# --------------------------------------------------------------------------- nested tuning


@pytest.mark.parametrize("scheme", ["spatial", "random"])
def test_nested_tuning_picks_the_informative_feature_and_never_sees_test_rows(scheme):
    X, y, coords = _data(n=120, seed=8)  # noqa: N806
    n_splits, inner_folds, candidates = 3, 3, [1, 0]  # feature 1 is noise, 0 the signal
    _RecordingScaler.fitted_on = []
    res = cross_validate_models(
        X,
        y,
        coords,
        {"m": _spy_pipe()},
        schemes=(scheme,),
        n_splits=n_splits,
        seed=0,
        tuning={"m": {"param_grid": {"feature": candidates}, "inner_folds": inner_folds}},
    )
    tuning = res.tuning
    assert list(tuning.columns) == [
        "scheme",
        "model",
        "repeat",
        "fold",
        "scoring",
        "inner_score",
        "n_candidates",
        "model__feature",
    ]
    assert len(tuning) == n_splits
    assert (tuning["model__feature"] == 0).all()  # the signal, in every outer fold
    assert (tuning["inner_score"] > 0.6).all() and (tuning["scoring"] == "auroc").all()

    # spy: per outer fold, candidates x inner folds inner fits, then one refit on the whole training part
    seen = _RecordingScaler.fitted_on
    per_fold = len(candidates) * inner_folds + 1
    assert len(seen) == n_splits * per_fold
    splits = list(make_splitter(scheme, coords=coords, n_splits=n_splits, n_repeats=1, seed=0).split(X, y))
    spread = []
    for k, (train, test) in enumerate(splits):
        fits = seen[k * per_fold : (k + 1) * per_fold]
        for ids in fits:
            assert np.intersect1d(ids, test).size == 0  # never a validation row
            assert np.isin(ids, train).all()
        np.testing.assert_array_equal(np.sort(fits[-1]), np.sort(train))  # the refit: the whole training part
        for ids in fits[:inner_folds]:  # first candidate's inner folds
            inner_test = np.setdiff1d(train, ids)
            assert 0 < inner_test.size < train.size
            spread.append(coords[inner_test].std(axis=0).sum() / coords[train].std(axis=0).sum())
    # inner folds are spatial (compact k-means clusters) under the spatial scheme, random otherwise
    if scheme == "spatial":
        assert max(spread) < 0.8
    else:
        assert min(spread) > 0.8


def test_random_search_and_short_parameter_names():
    X, y, coords = _data(n=90, seed=9)  # noqa: N806
    pipes = {"m": Pipeline([("scale", StandardScaler()), ("model", _OneFeature())])}
    res = cross_validate_models(
        X,
        y,
        coords,
        pipes,
        schemes=("random",),
        n_splits=3,
        tuning={"m": {"param_distributions": {"feature": [1, 0, 2]}, "n_iter": 3, "scoring": "MSE"}},
    )
    assert (res.tuning["model__feature"] == 0).all()
    assert (res.tuning["scoring"] == "mse").all() and (res.tuning["n_candidates"] == 3).all()
    assert (res.tuning["inner_score"] < 0.25).all()  # MSE: lower is better, and 0.25 is a constant 0.5


def test_tuning_errors():
    X, y, coords = _data(n=60)  # noqa: N806
    pipes = {"lr": _lr()}

    def run(tuning, **kw):
        return cross_validate_models(X, y, coords, pipes, n_splits=3, tuning=tuning, **kw)

    with pytest.raises(StudyConfigError, match="tuning: no model labelled 'rf'; models: lr"):
        run({"rf": {"param_grid": {"C": [1]}}})
    with pytest.raises(StudyConfigError, match="tuning of 'lr': unknown parameter 'depth'; known: "):
        run({"lr": {"param_grid": {"depth": [1]}}})
    with pytest.raises(StudyConfigError, match="give exactly one of 'param_grid' and 'param_distributions'"):
        run({"lr": {"param_grid": {"C": [1]}, "param_distributions": {"C": [1]}}})
    with pytest.raises(StudyConfigError, match="tuning of 'lr': unknown key\\(s\\) folds"):
        run({"lr": {"param_grid": {"C": [1]}, "folds": 3}})
    with pytest.raises(StudyConfigError, match="inner_folds must be an integer >= 2, got 1"):
        run({"lr": {"param_grid": {"C": [1]}, "inner_folds": 1}})
    with pytest.raises(StudyConfigError, match="spatial inner folds need the sample coordinates"):
        cross_validate_models(
            X,
            y,
            None,
            pipes,
            schemes=[("k", StratifiedKFold(3))],
            tuning={"lr": {"param_grid": {"C": [1]}, "inner": "spatial"}},
        )
    with pytest.raises(StudyConfigError, match=r"threshold must be a number in \(0, 1\) or 'youden', got 1\.5"):
        cross_validate_models(X, y, coords, pipes, n_splits=3, threshold=1.5)


# --------------------------------------------------------------------------- spy: preprocessing


def test_no_scaler_is_fitted_on_validation_rows():
    X, y, coords = _data(n=90, seed=10)  # noqa: N806
    _RecordingScaler.fitted_on = []
    n_splits, n_repeats = 3, 2
    cross_validate_models(
        X, y, coords, {"m": _spy_pipe()}, schemes=("spatial", "random"), n_splits=n_splits, n_repeats=n_repeats, seed=4
    )
    seen = _RecordingScaler.fitted_on
    splits = [
        split
        for scheme in ("spatial", "random")
        for split in make_splitter(scheme, coords=coords, n_splits=n_splits, n_repeats=n_repeats, seed=4).split(X, y)
    ]
    assert len(seen) == len(splits) == 2 * n_splits * n_repeats
    for ids, (train, test) in zip(seen, splits, strict=True):
        np.testing.assert_array_equal(np.sort(ids), np.sort(train))
        assert np.intersect1d(ids, test).size == 0


# --------------------------------------------------------------------------- cumulative ranking

# Paper 002, training phase: AUC, specificity [%], sensitivity [%], MSE, R of four hybrid MLPs.
PAPER002_TRAIN = {
    "EFO-MLP": {"auroc": 0.975, "specificity": 94.12, "recall": 94.12, "mse": 0.0769, "pearson_r": 0.8331},
    "SCE-MLP": {"auroc": 0.941, "specificity": 90.76, "recall": 85.71, "mse": 0.1039, "pearson_r": 0.7648},
    "SOS-MLP": {"auroc": 0.961, "specificity": 84.87, "recall": 93.28, "mse": 0.0889, "pearson_r": 0.8053},
    "ESDA-MLP": {"auroc": 0.960, "specificity": 89.08, "recall": 95.80, "mse": 0.0876, "pearson_r": 0.8070},
}
# Testing phase: note the specificity tie of SOS and ESDA.
PAPER002_TEST = {
    "EFO-MLP": {"auroc": 0.879, "specificity": 86.27, "recall": 76.47, "mse": 0.1528, "pearson_r": 0.6571},
    "SCE-MLP": {"auroc": 0.853, "specificity": 70.59, "recall": 86.27, "mse": 0.1707, "pearson_r": 0.6109},
    "SOS-MLP": {"auroc": 0.817, "specificity": 66.67, "recall": 90.20, "mse": 0.1847, "pearson_r": 0.5582},
    "ESDA-MLP": {"auroc": 0.805, "specificity": 66.67, "recall": 84.31, "mse": 0.2132, "pearson_r": 0.5088},
}


def _summary(values: dict, scheme: str) -> pd.DataFrame:
    rows = [
        {"scheme": scheme, "model": model, "metric": m, "mean": v, "sd": 0.0, "n_folds": 1}
        for model, scores in values.items()
        for m, v in scores.items()
    ]
    return pd.DataFrame(rows)


def test_cumulative_ranking_paper002_by_hand():
    summary = pd.concat([_summary(PAPER002_TRAIN, "train"), _summary(PAPER002_TEST, "test")], ignore_index=True)
    table = cumulative_ranking(summary)
    train = table[table["scheme"] == "train"].set_index("model")
    # per metric 1 (worst) .. 4 (best); MSE lower is better:
    # EFO  AUC 4, SPF 4, SST 3, MSE 4, R 4 = 19     SCE  AUC 1, SPF 3, SST 1, MSE 1, R 1 = 7
    # SOS  AUC 3, SPF 1, SST 2, MSE 2, R 2 = 10     ESDA AUC 2, SPF 2, SST 4, MSE 3, R 3 = 14
    assert train["cumulative_score"].to_dict() == {"EFO-MLP": 19, "ESDA-MLP": 14, "SOS-MLP": 10, "SCE-MLP": 7}
    assert list(train.index) == ["EFO-MLP", "ESDA-MLP", "SOS-MLP", "SCE-MLP"]  # sorted by rank
    assert train["rank"].tolist() == [1, 2, 3, 4]
    assert train.loc["EFO-MLP", "score_recall"] == 3 and train.loc["EFO-MLP", "score_mse"] == 4
    # without specificity these are the totals paper 002 quotes (15, 12, 9, 4)
    four = cumulative_ranking(summary[summary["scheme"] == "train"], criteria=["MSE", "R", "AUC", "SST"])
    assert four.set_index("model")["cumulative_score"].to_dict() == {
        "EFO-MLP": 15,
        "ESDA-MLP": 12,
        "SOS-MLP": 9,
        "SCE-MLP": 4,
    }
    # testing phase, SOS and ESDA tie on specificity: average scores 1.5 each (ties="min": 1 each)
    # EFO 4+4+1+4+4 = 17, SCE 3+3+3+3+3 = 15, SOS 2+1.5+4+2+2 = 11.5, ESDA 1+1.5+2+1+1 = 6.5
    test = table[table["scheme"] == "test"].set_index("model")["cumulative_score"]
    assert test.to_dict() == {"EFO-MLP": 17, "SCE-MLP": 15, "SOS-MLP": 11.5, "ESDA-MLP": 6.5}
    test_min = cumulative_ranking(summary[summary["scheme"] == "test"], ties="min").set_index("model")
    assert test_min.loc["SOS-MLP", "cumulative_score"] == 11 and test_min.loc["ESDA-MLP", "cumulative_score"] == 6
    # the paper's quoted testing totals (13, 12, 9, 5): four criteria without specificity give 13, 12, 10, 5
    four_test = cumulative_ranking(summary[summary["scheme"] == "test"], criteria=["MSE", "R", "AUC", "SST"])
    assert four_test.set_index("model")["cumulative_score"].to_dict() == {
        "EFO-MLP": 13,
        "SCE-MLP": 12,
        "SOS-MLP": 10,
        "ESDA-MLP": 5,
    }


# Three models, every score of both criteria sets; the two sets order the models oppositely.
SMALL_TABLE = {
    "A": {"mse": 0.10, "pearson_r": 0.70, "auroc": 0.90, "recall": 0.70, "specificity": 0.80,
          "accuracy": 0.70, "precision": 0.60, "f1": 0.65},
    "B": {"mse": 0.15, "pearson_r": 0.60, "auroc": 0.85, "recall": 0.90, "specificity": 0.75,
          "accuracy": 0.80, "precision": 0.70, "f1": 0.78},
    "C": {"mse": 0.20, "pearson_r": 0.50, "auroc": 0.80, "recall": 0.80, "specificity": 0.85,
          "accuracy": 0.85, "precision": 0.90, "f1": 0.85},
}  # fmt: skip


def test_cumulative_ranking_criteria_sets_by_hand():
    assert PAPER002_CRITERIA == ("mse", "pearson_r", "auroc", "recall", "specificity")
    assert HEADLINE_CRITERIA == ("auroc", "accuracy", "precision", "recall", "specificity", "f1", "mse")
    summary = _summary(SMALL_TABLE, "spatial")
    # Scores 1 (worst) .. 3 (best) per criterion, MSE lower is better:
    #            mse  R  auc  sst  spf  acc  ppv  f1
    #   A         3   3   3    1    2    1    1    1
    #   B         2   2   2    3    1    2    2    2
    #   C         1   1   1    2    3    3    3    3
    # paper 002 (mse, R, auc, sst, spf):  A 3+3+3+1+2 = 12, B 2+2+2+3+1 = 10, C 1+1+1+2+3 = 8
    # headline (auc, acc, ppv, sst, spf, f1, mse): A 3+1+1+1+2+1+3 = 12, B 2+2+2+3+1+2+2 = 14,
    #                                              C 1+3+3+2+3+3+1 = 16
    paper = cumulative_ranking(summary)  # the default is paper 002's five criteria
    assert paper["model"].tolist() == ["A", "B", "C"] and paper["rank"].tolist() == [1, 2, 3]
    assert paper["cumulative_score"].tolist() == [12, 10, 8]
    assert [c for c in paper.columns if c.startswith("score_")] == [f"score_{m}" for m in PAPER002_CRITERIA]
    assert paper.set_index("model").loc["A", ["score_mse", "score_recall", "score_specificity"]].tolist() == [3, 1, 2]
    seven = cumulative_ranking(summary, criteria=HEADLINE_CRITERIA)
    assert seven["model"].tolist() == ["C", "B", "A"] and seven["cumulative_score"].tolist() == [16, 14, 12]
    # every metric of the summary (all eight): A 12+1+1+1 = 15, B 10+2+2+2 = 16, C 8+3+3+3 = 17
    every = cumulative_ranking(summary, criteria=None)
    assert every["model"].tolist() == ["C", "B", "A"] and every["cumulative_score"].tolist() == [17, 16, 15]
    # paper 002 ranks training and testing apart: a testing part where A and C trade places
    swapped = {"A": SMALL_TABLE["C"], "B": SMALL_TABLE["B"], "C": SMALL_TABLE["A"]}
    both = pd.concat([summary.assign(part="train"), _summary(swapped, "spatial").assign(part="test")])
    parts = cumulative_ranking(both, by=("part", "scheme"))
    assert parts[["part", "model", "cumulative_score"]].values.tolist() == [
        ["train", "A", 12], ["train", "B", 10], ["train", "C", 8],
        ["test", "C", 12], ["test", "B", 10], ["test", "A", 8],
    ]  # fmt: skip
    # the headline summary of a run lacks MSE and R: the message says what to do
    with pytest.raises(StudyConfigError, match=r"criteria mse, pearson_r are not in the summary.*metrics='all'"):
        cumulative_ranking(summary[~summary["metric"].isin(["mse", "pearson_r"])])


def test_cumulative_ranking_directions_and_nan():
    summary = _summary({"a": {"mse": 0.1, "auroc": 0.7}, "b": {"mse": 0.2, "auroc": np.nan}}, "s")
    table = cumulative_ranking(summary, criteria=None).set_index("model")
    assert table.loc["a", "score_mse"] == 2 and table.loc["b", "score_mse"] == 1  # lower MSE is better
    assert table.loc["b", "score_auroc"] == 1  # NaN scores as the worst
    flipped = cumulative_ranking(summary, criteria=["mse"], higher_is_better={"mse": True}).set_index("model")
    assert flipped.loc["b", "score_mse"] == 2
    with pytest.raises(StudyConfigError, match="criteria kappa are not in the summary; it has mse, auroc"):
        cumulative_ranking(summary, criteria=["kappa"])
    with pytest.raises(ValueError, match="ties must be 'average', 'min' or 'max', got 'dense'"):
        cumulative_ranking(summary, ties="dense")


def test_cumulative_ranking_of_a_run():
    X, y, coords = _data(n=90, seed=12)  # noqa: N806
    pipes = {"signal": _spy_pipe(0), "noise": _spy_pipe(1)}
    res = cross_validate_models(X, y, coords, pipes, n_splits=3, seed=0, metrics="all")
    table = cumulative_ranking(res.summarize())
    assert set(table["scheme"]) == {"spatial", "random"}
    best = table[table["rank"] == 1]
    assert (best["model"] == "signal").all()
    both = cumulative_ranking(res.summarize("both", PAPER002_CRITERIA), by=("part", "scheme"))
    assert len(both) == 2 * 2 * 2 and list(both.columns[:3]) == ["part", "scheme", "model"]
    headline = cumulative_ranking(res.summary, HEADLINE_CRITERIA[:-1])  # the summary holds no MSE
    assert (headline[headline["rank"] == 1]["model"] == "signal").all()


def test_summarize_scores_by_argument():
    scores = pd.DataFrame(
        {
            "scheme": ["s"] * 4,
            "model": ["m"] * 4,
            "part": ["test", "test", "train", "train"],
            "auroc": [0.6, 0.8, 0.9, np.nan],
        }
    )
    out = summarize_scores(scores, ["auroc"], by=("part", "scheme", "model"))
    assert out["mean"].tolist() == pytest.approx([0.7, 0.9])
    assert out["n_folds"].tolist() == [2, 1]
    assert np.isnan(out["sd"].iloc[1])  # one valid fold


def test_random_kfold_named_scheme_unchanged():
    X, y, coords = _data(n=60, seed=13)  # noqa: N806
    res = cross_validate_models(X[:, :2], y, coords, {"lr": _lr()}, schemes=("random",), n_splits=3, seed=2)
    expected = [len(t) for _, t in RepeatedRandomKFold(3, 1, random_state=2).split(X, y)]
    assert res.scores["n_test"].tolist() == expected


def test_pooled_scores_and_leave_one_out():
    X, y, coords = _data(n=40, seed=14)  # noqa: N806
    X = X[:, :2]  # noqa: N806
    # leave-one-out: every fold's AUROC is undefined (one test sample), the pooled one is not
    with pytest.warns(SusmapWarning, match="40 of 40 model folds had one class only"):
        res = cross_validate_models(X, y, coords, {"lr": _lr()}, schemes=[("loo", LeaveOneOut())])
    assert res.scores["auroc"].isna().all()
    pooled = res.pooled
    assert list(pooled.columns[:5]) == ["scheme", "model", "repeat", "n_folds", "n_test"]
    assert len(pooled) == 1 and pooled["n_folds"].iloc[0] == 40 and pooled["n_test"].iloc[0] == 40
    oof = cross_val_predict(_lr(), X, y, cv=LeaveOneOut(), method="predict_proba")[:, 1]
    assert pooled["auroc"].iloc[0] == pytest.approx(roc_auc_score(y, oof), rel=1e-12)
    assert pooled["accuracy"].iloc[0] == pytest.approx(np.mean((oof >= 0.5) == y), rel=1e-12)
    # k-fold with per-fold Youden thresholds: pooled scores from the predictions, each fold's threshold
    res = cross_validate_models(
        X,
        y,
        coords,
        {"lr": _lr()},
        schemes=("random",),
        n_splits=4,
        n_repeats=2,
        threshold="youden",
        return_predictions=True,
    )
    pred = res.predictions.merge(res.scores[["repeat", "fold", "threshold"]], on=["repeat", "fold"])
    for repeat, grp in pred.groupby("repeat"):
        row = res.pooled[res.pooled["repeat"] == repeat].iloc[0]
        assert row["auroc"] == pytest.approx(roc_auc_score(grp["label"], grp["prob"]), rel=1e-12)
        hits = (grp["prob"] >= grp["threshold"]) == (grp["label"] == 1)
        assert row["accuracy"] == pytest.approx(hits.mean(), rel=1e-12)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_setting_a_fold_cannot_take_is_one_message_naming_the_model(n_jobs):
    from sklearn.neighbors import KNeighborsClassifier

    from susmap.errors import ModelFitError

    X, y, coords = _data(60)  # noqa: N806
    pipes = {"lr": LogisticRegression(), "knn-big": KNeighborsClassifier(n_neighbors=55)}
    with pytest.raises(
        ModelFitError, match=r"models: 'knn-big' cannot be fitted on a random training fold of 4\d samples"
    ):
        cross_validate_models(X, y, coords, pipes, schemes=["random"], n_splits=5, n_repeats=1, n_jobs=n_jobs)
