"""Where the map holds: area of applicability and uncertainty of the mapped model (``analysis:`` of the study).

- Area of applicability (Meyer & Pebesma 2021, as CAST's ``aoa()``): the
  factors standardized and weighted by the mapped model's permutation
  importance under the first validation scheme (one repeat, held-out folds);
  the training DI cross-validated over that scheme's folds; ``di.tif``,
  ``aoa.tif`` (and ``lpd.tif``), ``aoa.png`` with the area outside greyed;
  the out-of-fold AUROC of the samples inside and outside.
- Uncertainty: the fold models of the first repeat (the same fits as the
  out-of-fold prediction rate) rate every cell: ``uncertainty.tif`` (sd,
  p05, p95) and ``class_agreement.tif``, summarized and drawn in
  ``uncertainty.png``.

Each returns the report's blocks and the numbers for ``metrics.json``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from susmap.analysis import permutation_importance_cv
from susmap.analysis.aoa import plot_aoa, training_di, write_aoa
from susmap.analysis.uncertainty import plot_uncertainty, uncertainty_summary, write_uncertainty
from susmap.outputs import OutputFolder
from susmap.report.document import Facts, Figure, ReportSection, Table, Text
from susmap.stages.data import StudyData, reads_windows
from susmap.stages.evaluation import FoldModel
from susmap.stages.explanations import explain_model
from susmap.stages.maps import hillshade_dem
from susmap.study import Study
from susmap.timing import Timer
from susmap.validation.fold_maps import FixedSplits, first_repeat_splits, fold_ids_from_splits
from susmap.validation.metrics import auroc

__all__ = ["area_of_applicability", "prediction_uncertainty", "where_the_map_holds"]

log = logging.getLogger(__name__)


def _importance_weights(study: Study, prep: StudyData, label: str, splitter) -> tuple[np.ndarray, pd.DataFrame | None]:
    """Permutation importance of model ``label`` under ``splitter`` (one repeat), as AOA weights.

    A patch model (factor windows) cannot be permuted column by column: its
    factors get equal weights then, and the table is None.
    """
    pipeline = prep.pipelines[label]
    if reads_windows(pipeline):
        log.info("area of applicability: %s reads factor windows; factors weighted equally", label)
        return np.ones(len(prep.names)), None
    frame = pd.DataFrame(prep.X, columns=prep.names)
    table = permutation_importance_cv(pipeline, frame, prep.y, prep.names, splitter, seed=study.seed)
    weights = table.set_index("factor").loc[prep.names, "mean"].to_numpy(dtype=float)
    if not np.any(weights > 0):  # no factor helps: distances on equal weights rather than none
        log.warning("area of applicability: no factor has a positive permutation importance; equal weights used")
        weights = np.ones(len(prep.names))
    return weights, table


def _auroc_or_nan(y: np.ndarray, p: np.ndarray) -> float:
    ok = np.isfinite(p)
    return float(auroc(y[ok], p[ok])) if ok.any() and np.unique(y[ok]).size == 2 else float("nan")


def area_of_applicability(
    study: Study,
    prep: StudyData,
    label: str,
    scheme: tuple[str, object],
    predictions: pd.DataFrame | None,
    out: OutputFolder,
    *,
    classes: bool,
) -> tuple[list, dict]:
    """``di.tif``, ``aoa.tif`` (``lpd.tif``) and ``aoa.png`` of model ``label``; report blocks and metrics.

    ``scheme`` is the first validation scheme ``(label, splitter)``: its first
    repeat's folds weight the factors (permutation importance) and
    cross-validate the training DI. ``predictions`` (out-of-fold, for the
    AUROC inside and outside) may be None.
    """
    cfg = study.analysis
    scheme_label, splitter = scheme
    splits = first_repeat_splits(splitter, prep.X, prep.y)
    folds = fold_ids_from_splits(splits, len(prep.y))
    if folds is not None and (folds < 0).any():  # a holdout: the samples it never tests form their own fold
        folds = np.where(folds < 0, folds.max() + 1, folds)
    weights, importance = _importance_weights(study, prep, label, FixedSplits(splits))  # one repeat, as documented
    categorical = [prep.stack.kinds.get(n, "continuous") == "categorical" for n in prep.names]
    train = training_di(
        prep.X, weights, folds, categorical=categorical, names=prep.names, rule=cfg.aoa_threshold, lpd=cfg.lpd
    )
    result = write_aoa(prep.stack, train, out.staging, lpd=cfg.lpd, compress=study.outputs.compress)
    inside = train.train_di <= train.threshold
    metrics = {
        "model": label,
        "weights": {n: float(w) for n, w in zip(prep.names, np.clip(weights, 0, None), strict=True)},
        "threshold": float(train.threshold),
        "rule": train.rule,
        "mean_distance": float(train.mean_distance),
        "cells_inside": result.cells_inside,
        "cells_outside": result.cells_outside,
        "share_outside": float(result.share_outside),
        "training_samples_outside": int((~inside).sum()),
    }
    rule = "CAST: min(Q3 + 1.5 IQR, max)" if train.rule == "cast" else "outlier-removed maximum (Tukey hinges)"
    rows = [
        ("DI threshold", f"{train.threshold:.3f} ({rule} of the training DI)"),
        ("Area outside", f"{result.share_outside:.1%} of the mapped cells ({result.cells_outside:,} cells)"),
        ("Training samples outside", f"{int((~inside).sum())} of {len(inside)} (their DI to other folds)"),
    ]
    if predictions is not None:
        sel = predictions[
            (predictions["scheme"] == scheme_label) & (predictions["model"] == label) & (predictions["repeat"] == 0)
        ].sort_values("sample")
        if len(sel) == len(prep.y):
            p = sel["prob"].to_numpy(dtype=float)
            a_in, a_out = _auroc_or_nan(prep.y[inside], p[inside]), _auroc_or_nan(prep.y[~inside], p[~inside])
            metrics["auroc_inside"], metrics["auroc_outside"] = a_in, a_out
            rows.append(
                (
                    "Out-of-fold AUROC",
                    f"{a_in:.3f} inside, {'n/a' if np.isnan(a_out) else f'{a_out:.3f}'} outside ({scheme_label})",
                )
            )
    blocks: list = [
        Text(
            "The area of applicability (Meyer & Pebesma 2021, as CAST's aoa()): each cell's dissimilarity index DI is "
            "its distance to the nearest training sample in the space of the factors, standardized and weighted by "
            f"their permutation importance for {label} under the {scheme_label} folds, divided by the mean distance "
            "between training samples. Cells whose DI exceeds the threshold learnt from the training samples' own "
            "cross-validated DI lie outside: there the model extrapolates into factor combinations it never saw.",
            kind="note",
        ),
        Facts(rows, caption="Area of applicability"),
    ]
    if classes:
        plot_aoa(
            out.path("classes.tif"),
            result.aoa_path,
            out.path("aoa.png"),
            dem=hillshade_dem(study, prep.stack),
            title=f"{study.name}: susceptibility ({label}) and area of applicability",
        )
        blocks.append(Figure("aoa.png", "The classified map with the area outside the AOA greyed and hatched"))
    if importance is not None:
        importance.to_csv(out.path("aoa_weights.csv"), index=False)
        blocks.append(Table(importance, f"Factor weights: permutation importance of {label} (drop of AUROC)"))
    return blocks, metrics


def prediction_uncertainty(
    study: Study,
    prep: StudyData,
    label: str,
    fold_models: Sequence[FoldModel],
    final,
    edges: np.ndarray | None,
    out: OutputFolder,
) -> tuple[list, dict]:
    """``uncertainty.tif`` and ``class_agreement.tif`` from the fold models; report blocks and metrics."""
    if reads_windows(prep.pipelines[label]):  # patch models map through their own dense path, not block by block
        text = f"{label} reads factor windows around each cell; its fold models' uncertainty map is not computed"
        log.warning("analysis.uncertainty: %s", text)
        return [Text(text + ".", kind="note")], {"model": label, "skipped": text}
    models = [f.model for f in fold_models]
    paths = write_uncertainty(
        prep.stack, models, out.staging, edges=edges, final=final, compress=study.outputs.compress, label=label
    )
    agreement = paths.get("class_agreement")
    summary = uncertainty_summary(paths["uncertainty"], agreement)
    plot_uncertainty(paths["uncertainty"], out.path("uncertainty.png"), agreement_path=agreement)
    rows = [
        ("Fold models", f"{len(models)} ({label} refitted without each fold of the first scheme's first repeat)"),
        ("Mean sd", f"{summary['mean_sd']:.3f} (95 % of cells below {summary['p95_sd']:.3f})"),
    ]
    if "share_agreeing" in summary:
        rows.append(
            ("Class agreement", f"{summary['share_agreeing']:.1%} of cells: most fold models give the map's class")
        )
    blocks = [
        Text(
            "How much the probability moves when the training samples change: the standard deviation and the 5th and "
            "95th percentiles of the fold models' probabilities per cell (uncertainty.tif), and the share of fold "
            "models putting a cell in the map's class (class_agreement.tif).",
            kind="note",
        ),
        Facts(rows, caption="Uncertainty"),
        Figure("uncertainty.png", "Spread of the fold models' probabilities and their agreement with the map's class"),
    ]
    return blocks, {"model": label, "fold_models": len(models), **summary}


def where_the_map_holds(
    study: Study,
    prep: StudyData,
    label: str,
    model,
    scheme: tuple[str, object],
    predictions: pd.DataFrame | None,
    fold_models: Sequence[FoldModel],
    edges: np.ndarray | None,
    out: OutputFolder,
    timer: Timer,
) -> tuple[ReportSection, dict]:
    """The report section "Where the map holds" and its ``metrics.json`` entry, as ``study.analysis`` asks.

    ``label``/``model``: the mapped model (fitted on all samples);
    ``scheme``: the first validation scheme; ``fold_models``: ``label``
    refitted in the folds of that scheme's first repeat; ``edges``: the map's
    class edges (None without a classified map: no class agreement, no
    class profiles, no AOA figure).
    """
    cfg = study.analysis
    classes = edges is not None
    section, metrics = ReportSection("where-the-map-holds", "Where the map holds"), {}
    if cfg.aoa:
        with timer.stage("area of applicability"):
            blocks, metrics["aoa"] = area_of_applicability(
                study, prep, label, scheme, predictions, out, classes=classes
            )
        section.subsections.append(ReportSection("aoa", "Area of applicability").add(*blocks))
    if cfg.uncertainty:
        with timer.stage("uncertainty"):
            blocks, metrics["uncertainty"] = prediction_uncertainty(
                study, prep, label, fold_models, model if classes else None, edges, out
            )
        section.subsections.append(ReportSection("uncertainty", "Uncertainty").add(*blocks))
    if cfg.explain:
        with timer.stage("explanations"):
            blocks, metrics["explanations"] = explain_model(study, prep, label, model, out, classes=classes)
        section.subsections.append(ReportSection("explanations", f"Why {label} rates a cell high").add(*blocks))
    return section, metrics
