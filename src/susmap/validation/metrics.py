"""Scores of a binary susceptibility model: confusion-matrix, ranking and error scores.

Threshold scores come from the confusion matrix at a probability threshold
(0.5 by default, or Youden's J): TP, FP, TN, FN counted with label 1 = event
and ``prob >= threshold`` predicted as event. N = TP + FP + TN + FN.

================  =======================================  ===========================================
name              aliases (papers' names)                  definition
================  =======================================  ===========================================
``accuracy``      OA, overall_accuracy                     (TP + TN) / N
``precision``     PPV                                      TP / (TP + FP)
``recall``        sensitivity, SST, TPR                    TP / (TP + FN)
``specificity``   SPF, TNR                                 TN / (TN + FP)
``npv``           negative_predictive_value                TN / (TN + FN)
``f1``            F-measure, F1-score                      2 TP / (2 TP + FP + FN)
``mpcd``          maximum_probability_of_correct_decision  (1 - α)(1 - β), α = FP / (FP + TN),
                                                           β = FN / (FN + TP) (paper 003)
``kappa``         Cohen's kappa                            (p_o - p_e) / (1 - p_e), p_o = accuracy,
                                                           p_e = ((TP+FP)(TP+FN) + (TN+FN)(TN+FP)) / N²
``lr_positive``   PLR, LR+                                 recall / (1 - specificity)
``lr_negative``   NLR, LR-                                 (1 - recall) / specificity
``auroc``         AUC, ROC-AUC                             area under the ROC curve
``mse``           Brier score                              mean((y - p)²)
``rmse``                                                   sqrt(mse)
``mae``                                                    mean(|y - p|)
``mape``                                                   mean(|y - p| / |y|) over samples with y ≠ 0
``pearson_r``     R, Pearson                               Pearson correlation of p and y (paper 002)
================  =======================================  ===========================================

Conventions
-----------
- A ratio whose denominator is 0 is NaN (no positive predictions: precision
  NaN; no events: recall NaN; a perfect classifier: LR+ = recall / 0 is NaN,
  not infinite, so that means over folds stay finite). Scores built from NaN
  ratios (F1 excepted, whose own denominator decides) are NaN too.
- AUROC is the Mann-Whitney statistic with average ranks for ties, equal to
  :func:`sklearn.metrics.roc_auc_score`; NaN when the labels hold one class.
- Pearson R is NaN when the labels or the probabilities are constant.
- **MAPE for 0/1 targets.** The percentage error ``|y - p| / |y|`` divides
  by zero on every non-event. We keep the textbook formula and average it
  over the samples where it is defined, the events (y = 1), where it is the
  shortfall ``1 - p``. MAPE thus measures how far below certainty the model
  rates the events; it ignores false alarms, which MSE, RMSE and MAE (all
  samples) do see. NaN when there is no event. Paper 000 (Table 5) reports
  MAPE for 0/1 targets without its definition (and its RMSE is not the
  square root of its MSE), so its values cannot be reproduced; scikit-learn's
  ``mean_absolute_percentage_error`` instead divides by machine epsilon and
  gives values near 1e15 for any non-event with p > 0.
- The papers' printed formulas have slips we do not copy: paper 003 prints
  NPV as TP / (TP + FN) (that is SST); we use TN / (TN + FN).

References
----------
Paper 003 (SST, SPF, PPV, NPV, F-measure, MPCD, Table 5); paper 000 (MSE,
MAPE, RMSE, Tables 4-5); paper 002 (Pearson R, MSE, eqs. 4-5). Youden, W. J.
(1950), Index for rating diagnostic tests, Cancer 3(1), 32-35. Cohen, J.
(1960), A coefficient of agreement for nominal scales, Educ. Psychol. Meas.
20(1), 37-46.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from susmap.errors import StudyConfigError

__all__ = [
    "ALL_METRICS",
    "HIGHER_IS_BETTER",
    "METRIC_ALIASES",
    "METRIC_NAMES",
    "auroc",
    "confusion_counts",
    "confusion_scores",
    "is_higher_better",
    "mape",
    "pearson_r",
    "resolve_metric",
    "resolve_metrics",
    "score_all",
    "score_prepared",
    "youden_threshold",
]

#: The headline scores of reports and the run summary.
METRIC_NAMES = ("auroc", "accuracy", "precision", "recall", "specificity", "f1")

#: Every score :func:`score_all` can compute, headline scores first.
ALL_METRICS = (
    *METRIC_NAMES,
    "npv",
    "mpcd",
    "kappa",
    "lr_positive",
    "lr_negative",
    "mse",
    "rmse",
    "mae",
    "mape",
    "pearson_r",
)

#: Whether a larger value of a score is better (error scores and LR- are not).
HIGHER_IS_BETTER: dict[str, bool] = {m: m not in {"mse", "rmse", "mae", "mape", "lr_negative"} for m in ALL_METRICS}

#: Papers' and common names -> canonical score name (keys normalized: lower case, "_" for spaces and "-").
METRIC_ALIASES: dict[str, str] = {
    "oa": "accuracy",
    "overall_accuracy": "accuracy",
    "acc": "accuracy",
    "ppv": "precision",
    "positive_predictive_value": "precision",
    "sensitivity": "recall",
    "sst": "recall",
    "tpr": "recall",
    "true_positive_rate": "recall",
    "spf": "specificity",
    "tnr": "specificity",
    "true_negative_rate": "specificity",
    "negative_predictive_value": "npv",
    "f_measure": "f1",
    "f1_score": "f1",
    "f_score": "f1",
    "maximum_probability_of_correct_decision": "mpcd",
    "cohen_kappa": "kappa",
    "cohens_kappa": "kappa",
    "cohen's_kappa": "kappa",
    "plr": "lr_positive",
    "lr+": "lr_positive",
    "positive_likelihood_ratio": "lr_positive",
    "nlr": "lr_negative",
    "lr_": "lr_negative",  # "LR-" normalized
    "negative_likelihood_ratio": "lr_negative",
    "auc": "auroc",
    "roc_auc": "auroc",
    "auc_roc": "auroc",
    "area_under_curve": "auroc",
    "brier": "mse",
    "brier_score": "mse",
    "mean_squared_error": "mse",
    "root_mean_squared_error": "rmse",
    "mean_absolute_error": "mae",
    "mean_absolute_percentage_error": "mape",
    "r": "pearson_r",
    "pearson": "pearson_r",
    "pearson_correlation": "pearson_r",
}

_CONFUSION = (
    "accuracy",
    "precision",
    "recall",
    "specificity",
    "f1",
    "npv",
    "mpcd",
    "kappa",
    "lr_positive",
    "lr_negative",
)
_NAN = float("nan")


def _normalize(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def resolve_metric(name: str) -> str:
    """The canonical name of a score given by its name or an alias (case-insensitive).

    >>> resolve_metric("SST"), resolve_metric("F-measure"), resolve_metric("auroc")
    ('recall', 'f1', 'auroc')

    Raises
    ------
    StudyConfigError
        An unknown name; the message lists the known ones.
    """
    if not isinstance(name, str):
        raise StudyConfigError(f"a metric name must be a string, got {name!r}")
    key = _normalize(name)
    if key in ALL_METRICS:
        return key
    if key in METRIC_ALIASES:
        return METRIC_ALIASES[key]
    raise StudyConfigError(
        f"unknown metric {name!r}; known: {', '.join(ALL_METRICS)} (aliases: {', '.join(sorted(METRIC_ALIASES))})"
    )


def resolve_metrics(names: str | Iterable[str] | None) -> tuple[str, ...]:
    """Canonical names of several scores, duplicates dropped, order kept.

    ``None`` gives :data:`METRIC_NAMES`; ``"all"`` gives :data:`ALL_METRICS`.
    """
    if names is None:
        return METRIC_NAMES
    if isinstance(names, str):
        return ALL_METRICS if _normalize(names) == "all" else (resolve_metric(names),)
    return tuple(dict.fromkeys(resolve_metric(n) for n in names))


def _check_pair(y_true, y_prob) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    p = np.asarray(y_prob, dtype=float)
    if y.ndim != 1 or p.shape != y.shape:
        raise ValueError(f"y_true and y_prob must be 1-d arrays of one length, got shapes {y.shape} and {p.shape}")
    if y.dtype != bool:
        if y.size and not np.isin(y, (0, 1)).all():
            raise ValueError(f"y_true must hold 0/1 labels, got values {np.unique(y)[:5].tolist()}")
        y = y.astype(bool)
    return y, p


def confusion_counts(y_true: np.ndarray, y_prob: np.ndarray, threshold: float = 0.5) -> dict[str, int]:
    """TP, FP, TN, FN with ``y_prob >= threshold`` predicted as event."""
    y_true = np.asarray(y_true).astype(bool)
    pred = np.asarray(y_prob) >= threshold
    return {
        "tp": int(np.sum(pred & y_true)),
        "fp": int(np.sum(pred & ~y_true)),
        "tn": int(np.sum(~pred & ~y_true)),
        "fn": int(np.sum(~pred & y_true)),
    }


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else _NAN


def confusion_scores(tp: int, fp: int, tn: int, fn: int) -> dict[str, float]:
    """Every confusion-matrix score (see the module table) from the four counts.

    >>> s = confusion_scores(tp=3, fp=2, tn=4, fn=1)
    >>> round(s["mpcd"], 4), round(s["kappa"], 4)
    (0.5, 0.4)
    """
    n = tp + fp + tn + fn
    recall = _ratio(tp, tp + fn)
    specificity = _ratio(tn, tn + fp)
    accuracy = _ratio(tp + tn, n)
    # chance agreement from the row and column totals of the confusion matrix
    p_e = _ratio((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp), n * n)
    kappa = _ratio(accuracy - p_e, 1.0 - p_e) if not math.isnan(p_e) and p_e != 1.0 else _NAN
    return {
        "accuracy": accuracy,
        "precision": _ratio(tp, tp + fp),
        "recall": recall,
        "specificity": specificity,
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "npv": _ratio(tn, tn + fn),
        # (1 - alpha)(1 - beta) with alpha = FP / (FP + TN) = 1 - specificity, beta = FN / (FN + TP) = 1 - recall
        "mpcd": specificity * recall,
        "kappa": kappa,
        "lr_positive": _ratio(recall, 1.0 - specificity) if not math.isnan(recall) else _NAN,
        "lr_negative": _ratio(1.0 - recall, specificity) if not math.isnan(recall) else _NAN,
    }


def auroc(y_true: np.ndarray, y_prob: np.ndarray) -> float:
    """Area under the ROC curve: the probability that an event outranks a non-event (ties count 1/2).

    Computed from average ranks (Mann-Whitney U / (n1 n0)); equal to
    :func:`sklearn.metrics.roc_auc_score`. NaN when ``y_true`` holds one class.
    """
    y, p = _check_pair(y_true, y_prob)
    return _auroc(y, p)


def _auroc(y: np.ndarray, p: np.ndarray) -> float:
    n1 = int(np.count_nonzero(y))
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return _NAN
    order = np.argsort(p, kind="mergesort")
    ps = p[order]
    first = np.r_[True, ps[1:] != ps[:-1]]  # first position of each run of equal values
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], ps.size]
    mean_rank = (starts + ends + 1) / 2.0  # mean of the 1-based ranks starts+1 .. ends
    rank_sum = float(mean_rank[np.cumsum(first) - 1][y[order]].sum())
    return (rank_sum - n1 * (n1 + 1) / 2.0) / (n1 * n0)


def mape(y_true: np.ndarray, y_prob: np.ndarray) -> float:
    """Mean absolute percentage error for 0/1 targets: ``mean(1 - p)`` over the events.

    ``|y - p| / |y|`` is undefined (division by zero) on non-events, so it is
    averaged over the events only; see the module notes. NaN without events.
    """
    y, p = _check_pair(y_true, y_prob)
    return _mape(y, p)


def _mape(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.abs(1.0 - p[y]))) if y.any() else _NAN


def pearson_r(y_true: np.ndarray, y_prob: np.ndarray) -> float:
    """Pearson correlation between the predicted probability and the 0/1 label (point-biserial); paper 002 eq. 5.

    NaN when either is constant.
    """
    y, p = _check_pair(y_true, y_prob)
    return _pearson(y.astype(float), p)


def _pearson(y: np.ndarray, p: np.ndarray) -> float:
    if y.size < 2:
        return _NAN
    dy = y - y.mean()
    dp = p - p.mean()
    den = math.sqrt(float(dy @ dy) * float(dp @ dp))
    return float(dy @ dp) / den if den > 0 else _NAN


def youden_threshold(y_true: np.ndarray, y_prob: np.ndarray) -> float:
    """The probability threshold that maximizes Youden's J = recall + specificity - 1.

    Candidate thresholds are the distinct predicted probabilities (``prob >=
    threshold`` is an event), as the points of :func:`~susmap.validation.curves.roc_points`;
    among equally good ones the largest is taken. NaN when ``y_true`` holds
    one class.

    >>> youden_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.8
    """
    from susmap.validation.curves import roc_points

    y, p = _check_pair(y_true, y_prob)
    if y.all() or not y.any():
        return _NAN
    roc = roc_points(y, p)
    j = roc.tpr[1:] - roc.fpr[1:]  # skip the (0, 0) point at threshold +inf
    return float(roc.thresholds[1:][int(np.argmax(j))])


def score_all(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    threshold: float | str = 0.5,
    metrics: str | Iterable[str] | None = None,
) -> dict[str, float]:
    """Scores of one set of predicted probabilities.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        0/1 labels (1 = event).
    y_prob : array-like of shape (n_samples,)
        Predicted event probabilities [0, 1].
    threshold : float or "youden", default=0.5
        ``prob >= threshold`` is predicted as event. ``"youden"`` picks the
        threshold of :func:`youden_threshold` on these same predictions (an
        optimistic choice on test data: cross-validation picks it on the
        training part instead). A NaN threshold makes every
        confusion-matrix score NaN.
    metrics : str, iterable of str or None, default=None
        Names or aliases; ``None`` gives the headline :data:`METRIC_NAMES`,
        ``"all"`` every score of :data:`ALL_METRICS`.

    Returns
    -------
    dict
        ``{canonical name: value}`` in the order asked for.
    """
    names = resolve_metrics(metrics)
    y, p = _check_pair(y_true, y_prob)
    if isinstance(threshold, str):
        if _normalize(threshold) != "youden":
            raise StudyConfigError(f"threshold must be a number in (0, 1) or 'youden', got {threshold!r}")
        threshold = youden_threshold(y, p)
    return score_prepared(y, p, float(threshold), names)


def score_prepared(
    y: np.ndarray, p: np.ndarray, threshold: float | np.ndarray, names: tuple[str, ...]
) -> dict[str, float]:
    """:func:`score_all` without its input checks, for callers that prepared the inputs once.

    Cross-validation runs score thousands of folds and inner folds; they
    check the labels, probabilities and metric names once per run and call
    this per fold.

    Parameters
    ----------
    y : ndarray of bool, shape (n_samples,)
        Labels, True = event (not checked: 0/1 integers give wrong counts).
    p : ndarray of float, shape (n_samples,)
        Predicted event probabilities, same length as ``y``.
    threshold : float or ndarray of float, shape (n_samples,)
        ``p >= threshold`` is predicted as event; one threshold per sample
        scores pooled folds that each used their own. Any NaN makes every
        confusion-matrix score NaN. ``"youden"`` is not resolved here.
    names : tuple of str
        Canonical metric names (from :func:`resolve_metrics`), not aliases.

    Returns
    -------
    dict
        ``{name: value}`` in the order of ``names``.
    """
    out: dict[str, float] = {}
    if any(m in _CONFUSION for m in names):
        thr = np.asarray(threshold, dtype=float)
        if np.isnan(thr).any():
            out.update(dict.fromkeys(_CONFUSION, _NAN))
        else:
            pred = p >= thr
            tp = int(np.count_nonzero(pred & y))
            fp = int(np.count_nonzero(pred)) - tp
            fn = int(np.count_nonzero(y)) - tp
            tn = y.size - tp - fp - fn
            out.update(confusion_scores(tp, fp, tn, fn))
    if "auroc" in names:
        out["auroc"] = _auroc(y, p)
    if any(m in ("mse", "rmse", "mae") for m in names):
        err = y.astype(float) - p
        out["mse"] = float(np.mean(err * err)) if y.size else _NAN
        out["rmse"] = math.sqrt(out["mse"]) if y.size else _NAN
        out["mae"] = float(np.mean(np.abs(err))) if y.size else _NAN
    if "mape" in names:
        out["mape"] = _mape(y, p)
    if "pearson_r" in names:
        out["pearson_r"] = _pearson(y.astype(float), p)
    return {m: out[m] for m in names}


def is_higher_better(metric: str, higher_is_better: bool | Mapping[str, bool] | None = None) -> bool:
    """Whether larger values of ``metric`` are better.

    ``higher_is_better`` overrides the table :data:`HIGHER_IS_BETTER`: one
    bool for every metric, or a mapping for some of them.
    """
    if isinstance(higher_is_better, bool):
        return higher_is_better
    if higher_is_better is not None and metric in higher_is_better:
        return bool(higher_is_better[metric])
    return HIGHER_IS_BETTER.get(resolve_metric(metric), True)
