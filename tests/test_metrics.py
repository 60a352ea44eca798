"""Metrics and curves: hand-computed confusion matrices, edge cases, scikit-learn as oracle.

Oracles: confusion matrices counted by hand (arithmetic in the comments),
scikit-learn's metric functions, ``np.corrcoef``, a pairwise Mann-Whitney
count, and the analytic area of a rate curve whose events hold the top cells.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    class_likelihood_ratios,
    cohen_kappa_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from susmap.errors import StudyConfigError
from susmap.validation.curves import rate_curve, roc_points
from susmap.validation.metrics import (
    ALL_METRICS,
    HIGHER_IS_BETTER,
    METRIC_ALIASES,
    METRIC_NAMES,
    auroc,
    confusion_counts,
    confusion_scores,
    is_higher_better,
    mape,
    pearson_r,
    resolve_metric,
    resolve_metrics,
    score_all,
    youden_threshold,
)

# 5 events, 7 non-events. At threshold 0.5 (>= is an event):
# events 0.95, 0.8, 0.6 -> TP = 3; events 0.4, 0.3 -> FN = 2;
# non-events 0.7, 0.55 -> FP = 2; 0.45, 0.2, 0.15, 0.1, 0.05 -> TN = 5.  N = 12.
Y = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
P = np.array([0.95, 0.8, 0.6, 0.4, 0.3, 0.7, 0.55, 0.45, 0.2, 0.15, 0.1, 0.05])


def test_confusion_scores_by_hand():
    assert confusion_counts(Y, P) == {"tp": 3, "fp": 2, "tn": 5, "fn": 2}
    s = score_all(Y, P, metrics="all")
    assert tuple(s) == ALL_METRICS
    assert s["accuracy"] == pytest.approx(8 / 12)  # (3 + 5) / 12
    assert s["precision"] == pytest.approx(3 / 5)  # 3 / (3 + 2)
    assert s["recall"] == pytest.approx(3 / 5)  # 3 / (3 + 2)
    assert s["specificity"] == pytest.approx(5 / 7)  # 5 / (5 + 2)
    assert s["npv"] == pytest.approx(5 / 7)  # 5 / (5 + 2)
    assert s["f1"] == pytest.approx(0.6)  # 2*3 / (2*3 + 2 + 2)
    # MPCD = (1 - alpha)(1 - beta), alpha = 2/7, beta = 2/5 -> 5/7 * 3/5 = 3/7
    assert s["mpcd"] == pytest.approx(3 / 7)
    # kappa: p_o = 8/12 = 96/144; p_e = (5*5 + 7*7) / 144 = 74/144 (predicted events 5 x events 5,
    # predicted non-events 7 x non-events 7); (96 - 74) / (144 - 74) = 22/70 = 11/35
    assert s["kappa"] == pytest.approx(11 / 35)
    assert s["lr_positive"] == pytest.approx(2.1)  # (3/5) / (2/7) = 21/10
    assert s["lr_negative"] == pytest.approx(0.56)  # (2/5) / (5/7) = 14/25
    # AUROC: non-events below each event: 0.95 -> 7, 0.8 -> 7, 0.6 -> 6, 0.4 -> 4, 0.3 -> 4; 28 / 35
    assert s["auroc"] == pytest.approx(0.8)
    # squared errors: events (1-p)^2 = .0025 .04 .16 .36 .49 (1.0525); non-events p^2 = .49 .3025 .2025
    # .04 .0225 .01 .0025 (1.07); MSE = 2.1225 / 12
    assert s["mse"] == pytest.approx(2.1225 / 12)
    assert s["rmse"] == pytest.approx(math.sqrt(2.1225 / 12))
    assert s["mae"] == pytest.approx((1.95 + 2.2) / 12)  # |1-p| on events 1.95, p on non-events 2.2
    assert s["mape"] == pytest.approx(1.95 / 5)  # mean of 1 - p over the 5 events
    assert s["pearson_r"] == pytest.approx(np.corrcoef(Y, P)[0, 1], rel=1e-12)


def test_confusion_scores_function_and_doctest_numbers():
    s = confusion_scores(tp=3, fp=2, tn=4, fn=1)
    assert s["mpcd"] == pytest.approx(0.75 * 4 / 6)
    # p_o = 7/10, p_e = (5*4 + 5*6)/100 = 0.5 -> kappa = 0.2 / 0.5
    assert s["kappa"] == pytest.approx(0.4)


def test_scores_equal_sklearn_on_random_predictions():
    rng = np.random.default_rng(11)
    for _ in range(5):
        y = rng.integers(0, 2, size=300)
        prob = np.clip(0.35 * y + rng.random(300) * 0.65, 0, 1)
        pred = (prob >= 0.5).astype(int)
        s = score_all(y, prob, metrics="all")
        assert s["accuracy"] == pytest.approx(accuracy_score(y, pred), rel=1e-12)
        assert s["precision"] == pytest.approx(precision_score(y, pred), rel=1e-12)
        assert s["recall"] == pytest.approx(recall_score(y, pred), rel=1e-12)
        assert s["specificity"] == pytest.approx(recall_score(y, pred, pos_label=0), rel=1e-12)
        assert s["npv"] == pytest.approx(precision_score(y, pred, pos_label=0), rel=1e-12)
        assert s["f1"] == pytest.approx(f1_score(y, pred), rel=1e-12)
        assert s["kappa"] == pytest.approx(cohen_kappa_score(y, pred), rel=1e-12)
        lr_pos, lr_neg = class_likelihood_ratios(y, pred)
        assert s["lr_positive"] == pytest.approx(lr_pos, rel=1e-12)
        assert s["lr_negative"] == pytest.approx(lr_neg, rel=1e-12)
        assert s["auroc"] == pytest.approx(roc_auc_score(y, prob), rel=1e-12)
        assert s["pearson_r"] == pytest.approx(np.corrcoef(y, prob)[0, 1], rel=1e-12)


def test_headline_names_and_aliases():
    assert METRIC_NAMES == ("auroc", "accuracy", "precision", "recall", "specificity", "f1")
    assert ALL_METRICS[: len(METRIC_NAMES)] == METRIC_NAMES
    assert set(score_all(Y, P)) == set(METRIC_NAMES)  # default: the headline scores, as before
    assert set(HIGHER_IS_BETTER) == set(ALL_METRICS)
    assert set(METRIC_ALIASES.values()) <= set(ALL_METRICS)
    papers = {
        "OA": "accuracy",
        "PPV": "precision",
        "SST": "recall",
        "sensitivity": "recall",
        "SPF": "specificity",
        "NPV": "npv",
        "F-measure": "f1",
        "MPCD": "mpcd",
        "Cohen kappa": "kappa",
        "LR+": "lr_positive",
        "LR-": "lr_negative",
        "AUC": "auroc",
        "ROC-AUC": "auroc",
        "MSE": "mse",
        "RMSE": "rmse",
        "MAPE": "mape",
        "R": "pearson_r",
    }
    for alias, name in papers.items():
        assert resolve_metric(alias) == name, alias
    assert resolve_metrics(["SST", "recall", "PPV"]) == ("recall", "precision")
    assert resolve_metrics("all") == ALL_METRICS
    assert resolve_metrics(None) == METRIC_NAMES
    s = score_all(Y, P, metrics=["SST", "SPF", "PPV", "NPV", "AUC", "F-measure"])  # paper 003 Table 5
    assert list(s) == ["recall", "specificity", "precision", "npv", "auroc", "f1"]
    assert not is_higher_better("MSE") and not is_higher_better("lr_negative") and is_higher_better("kappa")
    assert is_higher_better("mse", {"mse": True}) and not is_higher_better("auroc", False)


def test_unknown_metric_and_bad_inputs():
    with pytest.raises(StudyConfigError, match="unknown metric 'gini'; known: auroc"):
        score_all(Y, P, metrics=["gini"])
    with pytest.raises(ValueError, match="must hold 0/1 labels, got values"):
        score_all(np.array([0, 1, 2]), np.array([0.1, 0.5, 0.9]))
    with pytest.raises(ValueError, match=r"1-d arrays of one length, got shapes \(3,\) and \(2,\)"):
        score_all(np.array([0, 1, 1]), np.array([0.1, 0.5]))
    with pytest.raises(StudyConfigError, match="threshold must be a number in \\(0, 1\\) or 'youden', got 'median'"):
        score_all(Y, P, threshold="median")


def test_no_positive_predictions():
    # all probabilities below 0.5: TP = FP = 0, TN = 3, FN = 2
    y = np.array([1, 1, 0, 0, 0])
    s = score_all(y, np.array([0.4, 0.3, 0.2, 0.1, 0.45]), metrics="all")
    assert math.isnan(s["precision"])  # 0 / 0
    assert s["recall"] == 0.0 and s["specificity"] == 1.0 and s["f1"] == 0.0
    assert s["npv"] == pytest.approx(3 / 5)
    assert s["mpcd"] == 0.0  # (1 - 0)(1 - 1)
    assert math.isnan(s["lr_positive"])  # 0 / (1 - 1)
    assert s["lr_negative"] == pytest.approx(1.0)  # (1 - 0) / 1
    # p_o = 3/5, p_e = (0*2 + 5*3)/25 = 3/5 -> kappa 0
    assert s["kappa"] == pytest.approx(0.0)
    assert s["auroc"] == pytest.approx(4 / 6)  # 0.4 and 0.3 each beat 0.2 and 0.1, not 0.45: 4 of 6 pairs


def test_perfect_classifier():
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    prob = np.array([0.9, 0.8, 0.6, 0.4, 0.3, 0.1, 0.0])
    s = score_all(y, prob, metrics="all")
    for m in ("accuracy", "precision", "recall", "specificity", "npv", "f1", "mpcd", "kappa", "auroc"):
        assert s[m] == pytest.approx(1.0), m
    assert math.isnan(s["lr_positive"])  # recall / (1 - specificity) = 1 / 0: NaN, not infinite
    assert s["lr_negative"] == 0.0
    assert s["mape"] == pytest.approx((0.1 + 0.2 + 0.4) / 3)  # still short of certainty on the events
    assert s["pearson_r"] == pytest.approx(np.corrcoef(y, prob)[0, 1], rel=1e-12)


def test_all_one_labels():
    # every sample an event: TP 2 (0.6, 0.9), FN 1 (0.2), FP = TN = 0
    y = np.ones(3, dtype=int)
    s = score_all(y, np.array([0.2, 0.6, 0.9]), metrics="all")
    assert math.isnan(s["auroc"]) and math.isnan(s["specificity"]) and math.isnan(s["pearson_r"])
    assert math.isnan(s["mpcd"]) and math.isnan(s["lr_positive"]) and math.isnan(s["lr_negative"])
    assert s["npv"] == 0.0  # 0 / (0 + 1)
    assert s["precision"] == 1.0 and s["recall"] == pytest.approx(2 / 3)
    # p_o = 2/3, p_e = (2*3 + 1*0)/9 = 2/3 -> kappa 0
    assert s["kappa"] == pytest.approx(0.0)
    assert s["mape"] == pytest.approx((0.8 + 0.4 + 0.1) / 3)
    # no events at all: MAPE undefined
    assert math.isnan(mape(np.zeros(3, dtype=int), np.array([0.1, 0.2, 0.3])))
    assert math.isnan(pearson_r(np.array([0, 1, 0]), np.full(3, 0.5)))  # constant probabilities


def test_auroc_and_roc_equal_sklearn_with_ties():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, size=400)
    prob = np.round(rng.random(400) * 0.7 + 0.3 * y, 1)  # rounded: many ties
    assert auroc(y, prob) == pytest.approx(roc_auc_score(y, prob), rel=1e-12)
    roc = roc_points(y, prob)
    fpr, tpr, thr = roc_curve(y, prob, drop_intermediate=False)
    np.testing.assert_allclose(roc.fpr, fpr, rtol=0, atol=1e-15)
    np.testing.assert_allclose(roc.tpr, tpr, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(roc.thresholds, thr)
    fpr_t, tpr_t, thr_t = roc  # unpacks like sklearn's tuple
    assert thr_t[0] == np.inf and fpr_t[0] == 0.0 and tpr_t[-1] == 1.0
    assert roc.auc == pytest.approx(roc_auc_score(y, prob), rel=1e-12)
    with pytest.raises(ValueError, match="needs events and non-events; got 0 events and 4 non-events"):
        roc_points(np.zeros(4, dtype=int), np.linspace(0, 1, 4))


def test_youden_threshold():
    # thresholds 0.8 (TPR .5, FPR 0), 0.4 (.5, .5), 0.35 (1, .5), 0.1 (1, 1): J = .5, 0, .5, 0 -> the larger, 0.8
    assert youden_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.8
    # brute force over every candidate threshold
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, size=200)
    prob = np.round(rng.random(200) * 0.6 + 0.4 * y, 2)
    best_t, best_j = None, -np.inf
    for t in np.unique(prob)[::-1]:
        c = confusion_counts(y, prob, t)
        j = c["tp"] / (c["tp"] + c["fn"]) + c["tn"] / (c["tn"] + c["fp"]) - 1
        if j > best_j + 1e-12:
            best_t, best_j = t, j
    assert youden_threshold(y, prob) == best_t
    s = score_all(y, prob, threshold="youden", metrics=["recall", "specificity"])
    assert s["recall"] + s["specificity"] - 1 == pytest.approx(best_j)
    assert math.isnan(youden_threshold(np.ones(4, dtype=int), np.linspace(0, 1, 4)))
    assert all(math.isnan(v) for v in score_all(np.ones(4, dtype=int), np.linspace(0, 1, 4), "youden").values())


# --------------------------------------------------------------------------- rate curves


def test_rate_curve_by_hand_with_ties():
    # 8 map cells; events on cells valued 0.9 and 0.5 (one of three 0.5 cells)
    cells = np.array([0.9, 0.7, 0.5, 0.5, 0.5, 0.3, 0.2, 0.1])
    events = np.array([0.9, 0.5])
    curve = rate_curve(cells, events)
    # thresholds .9 .7 .5 .3 .2 .1: area 1/8, 2/8, 5/8, 6/8, 7/8, 1; events 1/2, 1/2, 1, 1, 1, 1
    np.testing.assert_allclose(curve.area_share, [0, 1 / 8, 2 / 8, 5 / 8, 6 / 8, 7 / 8, 1])
    np.testing.assert_allclose(curve.event_share, [0, 0.5, 0.5, 1, 1, 1, 1])
    np.testing.assert_array_equal(curve.thresholds, [np.inf, 0.9, 0.7, 0.5, 0.3, 0.2, 0.1])
    # trapezoids: 1/8 * .25 + 1/8 * .5 + 3/8 * .75 + 3/8 * 1 = (0.25 + 0.5 + 2.25 + 3) / 8 = 0.75
    assert curve.auc == pytest.approx(0.75)
    # = P(event cell outranks a map cell), ties 1/2: (7.5 + 4.5) / 16 = 0.75
    pairwise = np.mean((events[:, None] > cells[None, :]) + 0.5 * (events[:, None] == cells[None, :]))
    assert curve.auc == pytest.approx(pairwise)


def test_rate_curve_ties_are_order_free_and_nan_is_ignored():
    rng = np.random.default_rng(1)
    cells = np.round(rng.random(500), 1)
    events = np.round(rng.random(40) * 0.5 + 0.5, 1)
    a = rate_curve(cells, events)
    b = rate_curve(rng.permutation(np.r_[cells, np.nan, np.nan]).reshape(-1, 2), rng.permutation(events))
    for x, z in zip(a[:3], b[:3], strict=True):
        np.testing.assert_array_equal(x, z)
    assert a.auc == b.auc
    pairwise = np.mean((events[:, None] > cells[None, :]) + 0.5 * (events[:, None] == cells[None, :]))
    assert a.auc == pytest.approx(pairwise, rel=1e-12)


@pytest.mark.parametrize("share", [0.05, 0.2, 0.5])
def test_rate_curve_perfect_ranking(share):
    # events hold exactly the top `share` of 1000 distinct cells: the curve reaches 1 at area `share`,
    # so AUC = share / 2 + (1 - share) = 1 - share / 2
    cells = np.arange(1000.0)
    events = cells[-int(share * 1000) :]
    assert rate_curve(cells, events).auc == pytest.approx(1 - share / 2)


def test_rate_curve_random_ranking_is_half():
    rng = np.random.default_rng(7)
    cells = rng.random(200_000)
    events = rng.choice(cells, size=5_000, replace=False)
    assert rate_curve(cells, events).auc == pytest.approx(0.5, abs=0.01)


def test_rate_curve_errors():
    with pytest.raises(ValueError, match="at least one valid \\(non-NaN\\) map value"):
        rate_curve(np.full(3, np.nan), [0.5])
    with pytest.raises(ValueError, match="at least one valid \\(non-NaN\\) event value"):
        rate_curve([0.1, 0.2], [])
