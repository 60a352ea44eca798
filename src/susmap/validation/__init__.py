"""Validation: splitters, metrics and repeated cross-validation runs."""

from susmap.validation.fold_maps import plot_fold_map
from susmap.validation.metrics import METRIC_NAMES, confusion_counts, score_all
from susmap.validation.runs import CVResult, cross_validate_models, summarize_scores
from susmap.validation.splitters import (
    SCHEME_PARAMS,
    BufferedLeaveOneOut,
    EnvironmentalKFold,
    LeaveDiscOut,
    LeaveOneBlockOut,
    RepeatedRandomKFold,
    RepeatedSpatialKFold,
    SpatialBlockKFold,
    StratifiedHoldout,
    check_fold_count,
    make_splitter,
    splits_per_repeat,
)

__all__ = [
    "METRIC_NAMES",
    "SCHEME_PARAMS",
    "BufferedLeaveOneOut",
    "CVResult",
    "EnvironmentalKFold",
    "LeaveDiscOut",
    "LeaveOneBlockOut",
    "RepeatedRandomKFold",
    "RepeatedSpatialKFold",
    "SpatialBlockKFold",
    "StratifiedHoldout",
    "check_fold_count",
    "confusion_counts",
    "cross_validate_models",
    "make_splitter",
    "plot_fold_map",
    "score_all",
    "splits_per_repeat",
    "summarize_scores",
]
