"""Validation: splitters, metrics and repeated cross-validation runs."""

from susmap.validation.metrics import METRIC_NAMES, confusion_counts, score_all
from susmap.validation.runs import CVResult, cross_validate_models, summarize_scores
from susmap.validation.splitters import RepeatedRandomKFold, RepeatedSpatialKFold, check_fold_count, make_splitter

__all__ = [
    "METRIC_NAMES",
    "CVResult",
    "RepeatedRandomKFold",
    "RepeatedSpatialKFold",
    "check_fold_count",
    "confusion_counts",
    "cross_validate_models",
    "make_splitter",
    "score_all",
    "summarize_scores",
]
