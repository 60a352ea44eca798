"""Scores of a binary susceptibility model.

Threshold scores come from the confusion matrix at a probability threshold
(0.5 by default): TP, FP, TN, FN counted with label 1 = event.

- accuracy = (TP + TN) / N
- precision (PPV) = TP / (TP + FP)
- recall (sensitivity) = TP / (TP + FN)
- specificity = TN / (TN + FP)
- F1 = 2 precision recall / (precision + recall)

AUROC is the area under the ROC curve (threshold-free), equal to
:func:`sklearn.metrics.roc_auc_score`. A ratio whose denominator is 0 is NaN,
as is AUROC when the labels hold one class only.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

__all__ = ["METRIC_NAMES", "confusion_counts", "score_all"]

METRIC_NAMES = ("auroc", "accuracy", "precision", "recall", "specificity", "f1")


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
    return float(num / den) if den else float("nan")


def score_all(y_true: np.ndarray, y_prob: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Every score of :data:`METRIC_NAMES` for one set of predictions."""
    c = confusion_counts(y_true, y_prob, threshold)
    tp, fp, tn, fn = c["tp"], c["fp"], c["tn"], c["fn"]
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    y_true = np.asarray(y_true)
    auroc = float(roc_auc_score(y_true, y_prob)) if np.unique(y_true).size == 2 else float("nan")
    return {
        "auroc": auroc,
        "accuracy": _ratio(tp + tn, tp + tn + fp + fn),
        "precision": precision,
        "recall": recall,
        "specificity": _ratio(tn, tn + fp),
        "f1": f1,
    }
