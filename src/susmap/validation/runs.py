"""Repeated cross-validation of several models on the same folds.

For every scheme, every repeat and fold, every model is fitted on the
training part (preprocessing included, so scaling never sees the test fold)
and scored on the test part. Results: one row per (scheme, model, repeat,
fold), and mean ± sd per (scheme, model, metric), NaN folds excluded.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone

from susmap.errors import SusmapWarning
from susmap.validation.metrics import METRIC_NAMES, score_all
from susmap.validation.splitters import check_fold_count, make_splitter

__all__ = ["CVResult", "cross_validate_models", "summarize_scores"]


@dataclass
class CVResult:
    """Per-fold scores, their summary, and the first repeat's fold id of each sample per scheme."""

    scores: pd.DataFrame
    summary: pd.DataFrame
    fold_ids: dict[str, np.ndarray]


def _fit_score(pipeline, X, y, train, test, threshold):  # noqa: N803
    if np.unique(y[train]).size < 2:
        return dict.fromkeys(METRIC_NAMES, float("nan"))
    model = clone(pipeline)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        model.fit(X[train], y[train])
    prob = model.predict_proba(X[test])[:, 1]
    return score_all(y[test], prob, threshold)


def cross_validate_models(
    X: np.ndarray,  # noqa: N803
    y: np.ndarray,
    coords: np.ndarray,
    pipelines: Mapping[str, object],
    *,
    schemes: Sequence[str] = ("spatial", "random"),
    n_splits: int = 5,
    n_repeats: int = 1,
    threshold: float = 0.5,
    seed: int = 0,
    n_jobs: int = 1,
) -> CVResult:
    """Score every pipeline on the same folds of every scheme.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_factors)
    y : ndarray of shape (n_samples,), 0/1
    coords : ndarray of shape (n_samples, 2)
        Sample coordinates [m] for the spatial scheme.
    pipelines : mapping
        ``{label: unfitted estimator}``; each is cloned per fold.

    Raises
    ------
    SamplingError
        More folds than samples (or than samples of the rarer class).
    """
    y = np.asarray(y).astype(int)
    check_fold_count(len(y), n_splits, y)
    tasks = []
    fold_ids: dict[str, np.ndarray] = {}
    for scheme in schemes:
        splitter = make_splitter(scheme, coords=coords, n_splits=n_splits, n_repeats=n_repeats, seed=seed)
        ids = np.full(len(y), -1, dtype=np.int64)
        for i, (train, test) in enumerate(splitter.split(X, y)):
            repeat, fold = divmod(i, n_splits)
            if repeat == 0:
                ids[test] = fold
            for label, pipe in pipelines.items():
                tasks.append(((scheme, label, repeat, fold, len(train), len(test)), (pipe, train, test)))
        fold_ids[scheme] = ids
    results = Parallel(n_jobs=n_jobs)(
        delayed(_fit_score)(pipe, X, y, train, test, threshold) for _, (pipe, train, test) in tasks
    )
    rows = []
    for (key, _), scores in zip(tasks, results, strict=True):
        scheme, label, repeat, fold, n_train, n_test = key
        rows.append(
            {
                "scheme": scheme,
                "model": label,
                "repeat": repeat,
                "fold": fold,
                "n_train": n_train,
                "n_test": n_test,
                **scores,
            }
        )
    scores = pd.DataFrame(rows)
    n_undefined = int(scores["auroc"].isna().sum())
    if n_undefined:
        warnings.warn(
            f"{n_undefined} of {len(scores)} model folds had one class only in their training or test part; "
            "their scores are undefined (NaN) and left out of the means",
            SusmapWarning,
            stacklevel=2,
        )
    return CVResult(scores=scores, summary=summarize_scores(scores), fold_ids=fold_ids)


def summarize_scores(scores: pd.DataFrame, metrics: Sequence[str] = METRIC_NAMES) -> pd.DataFrame:
    """Mean, sd and count of valid folds per (scheme, model, metric), in the schemes' order."""
    long = scores.melt(id_vars=["scheme", "model"], value_vars=list(metrics), var_name="metric")
    out = (
        long.groupby(["scheme", "model", "metric"], sort=False)["value"]
        .agg(mean="mean", sd="std", n_folds="count")
        .reset_index()
    )
    return out
