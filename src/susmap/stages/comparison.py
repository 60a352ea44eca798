"""Every model on the same folds, with every score: what ``compare`` does on cells and on mapping units alike.

- :func:`compare_on_folds`: cross-validation of every model under every
  scheme with all scores and the out-of-fold predictions (leave-one-out
  schemes scored on their pooled predictions), the papers' tables, paper
  002's cumulative ranking, the out-of-fold ROC curves and the fold maps;
  writes ``cv_scores.csv`` (test and training parts), ``cv_summary.csv``,
  ``cv_summary_all_metrics.csv``, ``cv_train_summary.csv``, ``tuning.csv``,
  ``tables/``, ``ranking.csv``, ``roc.png`` and ``fold_map_<scheme>.png``.
- :func:`factor_importance`: VIF and tolerance (paper 003), information gain
  (paper 001), random-forest importance (paper 002): tables and figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from susmap.analysis import (
    information_gain,
    plot_importance,
    plot_vif,
    random_forest_importance,
    vif_table,
)
from susmap.outputs import OutputFolder
from susmap.report.tables import comparison_tables, write_tables
from susmap.stages.compute import parallel_jobs
from susmap.study import Study
from susmap.timing import Timer
from susmap.validation import BufferedLeaveOneOut, cross_validate_models, plot_fold_map
from susmap.validation.curve_figures import plot_roc_curves
from susmap.validation.metrics import ALL_METRICS
from susmap.validation.ranking import PAPER002_CRITERIA, cumulative_ranking, summarize_scores
from susmap.validation.runs import CVResult

__all__ = ["FactorImportance", "ModelComparison", "compare_on_folds", "factor_importance"]


@dataclass
class ModelComparison:
    """What :func:`compare_on_folds` computed.

    ``test_scores`` are the held-out scores (pooled for leave-one-out
    schemes); ``scores`` adds the training parts (column ``part``).
    """

    cv: CVResult
    test_scores: pd.DataFrame
    scores: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    full_summary: pd.DataFrame
    ranking: pd.DataFrame
    roc_auc: dict[str, dict[str, float]]


def compare_on_folds(
    study: Study,
    design: np.ndarray,
    y: np.ndarray,
    coords: np.ndarray | None,
    pipelines: Mapping[str, object],
    splitters: Sequence[tuple[str, object]],
    out: OutputFolder,
    timer: Timer,
    *,
    factors: np.ndarray | None = None,
) -> ModelComparison:
    """Cross-validate ``pipelines`` on ``design`` under ``splitters``; the papers' tables, ranking, ROC, fold maps.

    ``coords`` (None for a table without coordinates: no fold maps) and
    ``factors`` (the factor values the fold maps of environmental schemes
    colour by; default ``design``) are the samples' or units'.
    """
    val = study.validation
    labels = [label for label, _ in splitters]
    with timer.stage("cross-validation"), parallel_jobs(val.n_jobs, "validation.n_jobs") as n_jobs:
        cv = cross_validate_models(
            design,
            y,
            coords,
            pipelines,
            schemes=splitters,
            n_splits=val.folds,
            n_repeats=val.repeats,
            threshold=val.threshold,
            seed=study.seed,
            n_jobs=n_jobs,
            metrics="all",
            return_predictions=True,
            tuning=val.tuning or None,
        )
    # leave-one-out schemes test one sample per fold: score their pooled out-of-fold predictions instead
    pooled = [label for label, sp in splitters if isinstance(sp, BufferedLeaveOneOut)]
    test_scores = cv.scores[~cv.scores["scheme"].isin(pooled)]
    if pooled and cv.pooled is not None:
        test_scores = pd.concat(
            [test_scores, cv.pooled[cv.pooled["scheme"].isin(pooled)].assign(fold=-1)], ignore_index=True
        )
    scores = test_scores.assign(part="test")
    if cv.train_scores is not None:
        scores = pd.concat([scores, cv.train_scores.assign(part="train")], ignore_index=True)
    scores.to_csv(out.path("cv_scores.csv"), index=False)
    cv.summary.to_csv(out.path("cv_summary.csv"), index=False)
    if cv.tuning is not None and len(cv.tuning):
        cv.tuning.to_csv(out.path("tuning.csv"), index=False)
    if cv.train_summary is not None:
        cv.train_summary.to_csv(out.path("cv_train_summary.csv"), index=False)
    with timer.stage("tables and figures"):
        tables = comparison_tables(scores, labels)
        write_tables(tables, out.path("tables/.keep").parent)
        full_summary = summarize_scores(test_scores, [m for m in ALL_METRICS if m in test_scores.columns])
        full_summary.to_csv(out.path("cv_summary_all_metrics.csv"), index=False)
        # paper 002: ranks of MSE, R, AUC, sensitivity and specificity, summed; training and testing apart
        criteria = [m for m in PAPER002_CRITERIA if m in scores.columns]
        ranking = cumulative_ranking(
            summarize_scores(scores, criteria, by=("part", "scheme", "model")), criteria, by=("part", "scheme")
        )
        ranking.to_csv(out.path("ranking.csv"), index=False)
        roc_auc = plot_roc_curves(cv.predictions, y, labels, out.path("roc.png"))
        if coords is not None:
            for label, splitter in splitters:
                plot_fold_map(
                    splitter,
                    coords,
                    out.path(f"fold_map_{label}.png"),
                    title=f"{label} folds",
                    X=design if factors is None else factors,
                    y=y,
                )
    return ModelComparison(cv, test_scores, scores, tables, full_summary, ranking, roc_auc)


@dataclass
class FactorImportance:
    """VIF and tolerance, information gain and random-forest importance of the factors."""

    vif: pd.DataFrame
    information_gain: pd.DataFrame
    rf_importance: pd.DataFrame


def factor_importance(
    frame: pd.DataFrame, y: np.ndarray, names: Sequence[str], kinds: Mapping[str, str], seed: int, out: OutputFolder
) -> FactorImportance:
    """``vif.csv|png`` (paper 003), ``information_gain.csv`` (paper 001), ``rf_importance.csv|png`` (paper 002)."""
    names = list(names)
    vif = vif_table(frame, names, kinds=kinds)
    vif.to_csv(out.path("vif.csv"), index=False)
    plot_vif(vif, out.path("vif.png"))
    ig = information_gain(frame, y, names, kinds=kinds)
    ig.to_csv(out.path("information_gain.csv"), index=False)
    rf = random_forest_importance(frame, y, names, seed=seed, kinds=kinds)
    rf.to_csv(out.path("rf_importance.csv"), index=False)
    plot_importance(rf, out.path("rf_importance.png"), title="Random-forest importance (100-500 trees)")
    return FactorImportance(vif, ig, rf)
