"""``susmap compare``: every configured model on the same folds, with the papers' tables and figures.

For each validation scheme of the study (spatial first by default) every
model is cross-validated on the same folds; training and held-out scores are
kept (paper 003 Table 5 shows both). Outputs, next to the usual sample and
class tables:

- ``tables/paper000_table4_<scheme>.csv|md`` … ``paper003_table5_<scheme>``:
  the comparison in the papers' layouts (:mod:`susmap.report.tables`);
- ``ranking.csv``: paper 002's cumulative score per scheme;
- ``roc.png``: out-of-fold ROC curves of every model (first repeat), one panel per scheme;
- ``rate_curves.png``: success rate (model fitted on all samples, all events)
  and prediction rate (model fitted on the training part of the first fold
  of the first scheme, its held-out events), share of events against share
  of area, cells ranked by susceptibility;
- ``fold_map_<scheme>.png``;
- factor analysis: ``vif.csv|png`` (paper 003), ``information_gain.csv``
  (paper 001), ``rf_importance.csv|png`` (100-500 trees, paper 002),
  ``permutation_importance.csv|png`` (first model, held-out folds of one
  repeat of the first scheme), ``factor_count.csv|png`` (paper 001 Fig. 12,
  every model, same folds);
- ``comparison.json`` (machine-readable), ``report.html``, ``provenance.json``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.base import clone

from susmap.analysis import (
    accuracy_by_factor_count,
    permutation_importance_cv,
    plot_factor_count_curve,
    plot_importance,
)
from susmap.analysis.model_maps import class_shares, optimization_records, plot_class_shares, plot_convergence
from susmap.models.registry import check_models, check_neighbours, check_tuning
from susmap.outputs import OutputFolder, write_json
from susmap.report.document import Figure, ReportSection, Table, Text
from susmap.report.tables import to_markdown
from susmap.runners import require_model_comparison
from susmap.stages import (
    StudyData,
    dask_scheduler,
    input_files,
    pick_mapped_model,
    prepare_study_data,
    study_splitters,
    write_history,
    write_model_formula,
    write_provenance,
)
from susmap.stages.applicability import where_the_map_holds
from susmap.stages.comparison import compare_on_folds, factor_importance
from susmap.stages.evaluation import first_repeat_fold_models, random_cells, rate_curves
from susmap.stages.report import (
    alerts,
    cv_table,
    data_section,
    factor_analysis_section,
    methods_section,
    new_document,
    papers_layout_sections,
    reproducibility_section,
    summary_section,
    write_report_files,
)
from susmap.study import Study
from susmap.timing import Timer
from susmap.validation.curve_figures import plot_rate_curves
from susmap.validation.curves import RateCurve
from susmap.validation.warnings import inventory_warnings, log_warnings, validation_warnings, warnings_json

__all__ = ["CompareResult", "run_compare"]

log = logging.getLogger(__name__)


@dataclass
class CompareResult:
    """What ``run_compare`` produced."""

    out_dir: Path
    files: list[Path]
    scores: pd.DataFrame
    summary: pd.DataFrame
    ranking: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    timings: dict[str, float]


def _rate_curves(prep: StudyData, study: Study, splitter, path: Path, histories: Path) -> tuple[dict, dict, dict, dict]:
    """Success-rate and out-of-fold prediction-rate curves of every model (``stages.evaluation.rate_curves``).

    Returns their AUCs, the models fitted on all samples, each one's
    probabilities on the random cell sample and its fold models (first repeat). Deep models fitted here also
    leave their training history (``histories/<model>.csv`` and ``.png``,
    paper 000 Figs. 11-12).
    """
    cells = random_cells(prep, 20000, study.seed)
    aucs: dict[str, dict[str, float]] = {"success_rate": {}, "prediction_rate": {}}
    success_curves: dict[str, RateCurve] = {}
    prediction_curves: dict[str, RateCurve] = {}
    fitted, cell_probs, folds = {}, {}, {}
    for label, pipe in prep.pipelines.items():
        full = clone(pipe).fit(prep.design, prep.y)
        write_history(full, histories, label)
        fitted[label] = full
        cell_probs[label] = full.predict_proba(cells)[:, 1]
        folds[label] = first_repeat_fold_models(prep, pipe, splitter)
        success, prediction = rate_curves(prep, full, folds[label], cells, cell_probs[label])
        aucs["success_rate"][label] = success.auc
        aucs["prediction_rate"][label] = prediction.auc
        success_curves[label] = success
        prediction_curves[label] = prediction
    plot_rate_curves(
        success_curves, prediction_curves, path, prediction_title="Prediction rate (held-out events, first scheme)"
    )
    return aucs, fitted, cell_probs, folds


def _model_outputs(
    prep: StudyData, study: Study, fitted: dict, cell_probs: dict, out
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Class shares per model (paper 002 Fig. 7); optimizer times, convergence and formulas of swarm-trained nets."""
    shares = class_shares(cell_probs, method=study.mapping.classification, n_classes=study.mapping.n_classes)
    shares.to_csv(out.path("class_shares.csv"), index=False)
    plot_class_shares(
        shares,
        out.path("class_shares.png"),
        title=f"Susceptibility classes per model ({study.mapping.classification.replace('_', ' ')})",
    )
    records, curves = optimization_records(fitted)
    if curves:
        records.to_csv(out.path("optimization.csv"), index=False)
        plot_convergence(curves, out.path("convergence.png"))
        for label in curves:
            write_model_formula(fitted[label], prep.names, out.path("formulas/.keep").parent, label)
    return shares, records


def _report(study, prep, summary, tables, ranking, splitters, analysis, optimization, warnings, holds, timer, out):
    """The comparison's report: summary, data, methods, results (papers' tables, curves, factors), reproducibility."""
    vif, ig, rf, perm = analysis
    val = study.validation
    doc = new_document(f"Model comparison: {study.name}", study)
    doc.warnings = alerts(warnings)
    doc.sections.append(
        summary_section(
            study,
            prep.stack,
            prep.counts,
            summary,
            model=None,
            method=f"{len(prep.pipelines)} models ({', '.join(prep.pipelines)}) cross-validated on the same folds",
        )
    )
    doc.sections.append(data_section(study, prep.stack, prep.counts))
    doc.sections.append(methods_section(study))
    results = ReportSection("results", "Results")
    results.subsections.append(ReportSection("results-validation", "Cross-validation").add(cv_table(summary)))
    results.subsections += papers_layout_sections(
        tables, val.scheme_labels, ranking, folds=val.folds, repeats=val.repeats
    )
    results.subsections.append(
        ReportSection("results-curves", "ROC and rate curves").add(
            Figure("roc.png", "Out-of-fold ROC curves of every model, first repeat, one panel per scheme"),
            Figure(
                "rate_curves.png",
                f"Success rate (models fitted on all samples) and prediction rate (events held out in the folds of "
                f"{val.scheme_labels[0]}, first repeat)",
            ),
            *(Figure(f"fold_map_{label}.png", f"Folds of the {label} scheme") for label, _ in splitters),
        )
    )
    figures = [("vif.png", "Variance inflation factor per factor"), ("rf_importance.png", "Random-forest importance")]
    if perm is not None:
        figures += [
            ("permutation_importance.png", "Permutation importance on held-out folds"),
            ("factor_count.png", "Accuracy against the number of factors (paper 001 Fig. 12)"),
        ]
    results.subsections.append(
        factor_analysis_section(
            prep.class_tables,
            vif=vif,
            tables=[("Information gain (paper 001)", ig), ("Random-forest importance (paper 002)", rf)],
            figures=figures,
        )
    )
    results.subsections.append(
        ReportSection("results-classes", "Susceptibility classes per model (paper 002 Fig. 7)").add(
            Text("Each model's own classes on a random sample of cells; share of the area in each.", kind="note"),
            Figure("class_shares.png", "Share of the area per class and model"),
        )
    )
    if len(optimization):
        results.subsections.append(
            ReportSection("results-swarm", "Networks trained by metaheuristics (papers 002, 003)").add(
                Text(
                    "Fitted on all samples: optimization time and best training loss; convergence per iteration; "
                    "each network as a formula in formulas/ (text, LaTeX, standalone Python, weights).",
                    kind="note",
                ),
                Table(optimization, "Optimization"),
                Figure("convergence.png", "Convergence per iteration"),
            )
        )
    histories = sorted(p.name for p in out.path("histories/.keep").parent.glob("*.png"))
    if histories:
        results.subsections.append(
            ReportSection("results-histories", "Training histories of the deep models").add(
                Text(
                    "Fitted on all samples; accuracy and loss per epoch on the training part and a held-out "
                    "validation part (paper 000 Figs. 11-12).",
                    kind="note",
                ),
                *(Figure(f"histories/{name}", f"Training history: {Path(name).stem}") for name in histories),
            )
        )
    doc.sections.append(results)
    if holds.subsections:
        doc.sections.append(holds)
    extra = ["report.html", *(["report.pdf"] if study.outputs.pdf else [])]
    doc.sections.append(reproducibility_section(study, timer.timings, out.staging, extra_files=extra))
    return doc


def run_compare(study: Study, out_dir: Path | None = None) -> CompareResult:
    """Compare every model of ``study`` under every validation scheme; write tables, figures and a report.

    A study on mapping units (``mapping_unit.kind`` other than cells) goes to
    :func:`susmap.runners.units_compare.run_units_compare`.
    """
    require_model_comparison(study, "compare")
    if study.mapping_unit.kind != "cells":  # polygons, slope units, a table of units
        from susmap.runners.units_compare import run_units_compare

        return run_units_compare(study, out_dir)
    source = str(study.source or "study")
    check_models(study.models, seed=study.seed, source=source)  # every model parameter, before any data is read
    check_tuning(study.models, study.validation.tuning, seed=study.seed, source=source)
    out_dir = Path(out_dir or study.outputs.directory)
    timer = Timer()
    t_start = time.perf_counter()
    val = study.validation
    with OutputFolder(out_dir, inputs=input_files(study)) as out, dask_scheduler(study):
        prep = prepare_study_data(study, out, timer)
        labels = val.scheme_labels
        splitters = study_splitters(study, prep.coords, prep.X, prep.stack, times=prep.samples.get("event_time"))
        check_neighbours(  # k-NN with more neighbours than a training part: refused before any fit
            [(f"{source}: models.{i}", prep.pipelines[m.display_name]) for i, m in enumerate(study.models)],
            ((label, splitter.split(prep.design, prep.y)) for label, splitter in splitters),
            {f"{source}: models.{i}": val.tuning.get(m.display_name) for i, m in enumerate(study.models)},
        )
        comparison_run = compare_on_folds(
            study, prep.design, prep.y, prep.coords, prep.pipelines, splitters, out, timer, factors=prep.X
        )
        cv, scores = comparison_run.cv, comparison_run.scores
        tables, full_summary, ranking = comparison_run.tables, comparison_run.full_summary, comparison_run.ranking
        roc_auc = comparison_run.roc_auc
        with timer.stage("tables and figures"):
            rates, fitted, cell_probs, fold_models = _rate_curves(
                prep, study, splitters[0][1], out.path("rate_curves.png"), out.path("histories/.keep").parent
            )
            shares, optimization = _model_outputs(prep, study, fitted, cell_probs, out)
        with timer.stage("factor analysis"):
            frame = pd.DataFrame(prep.X, columns=prep.names)
            importance = factor_importance(frame, prep.y, prep.names, prep.stack.kinds, study.seed, out)
            vif, ig, rf = importance.vif, importance.information_gain, importance.rf_importance
            # the analyses refit every model many times: one repeat of the first scheme's folds is enough
            # on permuted columns and factor subsets: models that read cell values, not factor windows
            first_label, first_splitter = study_splitters(
                study, prep.coords, prep.X, prep.stack, n_repeats=1, times=prep.samples.get("event_time")
            )[0]
            tabular = prep.tabular()
            if tabular:
                first_model = next(iter(tabular))
                perm = permutation_importance_cv(
                    tabular[first_model], frame, prep.y, prep.names, first_splitter, seed=study.seed
                )
                perm.to_csv(out.path("permutation_importance.csv"), index=False)
                plot_importance(
                    perm,
                    out.path("permutation_importance.png"),
                    title=f"Permutation importance, {first_model}, {first_label} folds",
                )
                order = list(ig["factor"])
                builders = {
                    m.display_name: (lambda names, m=m: prep.make(m, names))
                    for m in study.models
                    if m.display_name in tabular
                }
                counts = accuracy_by_factor_count(builders, frame, prep.y, prep.names, order, first_splitter)
                counts.to_csv(out.path("factor_count.csv"), index=False)
                plot_factor_count_curve(
                    counts, out.path("factor_count.png"), title=f"Accuracy vs factors ({first_label} CV)"
                )
            else:
                perm = counts = None
                log.info("permutation importance and factor count skipped: every model reads factor windows")

        warnings = [
            *validation_warnings(
                cv.summary,
                scheme_kinds={c.display_name: c.name for c in val.scheme_configs},
                mapped_model=None,
                n_events=prep.counts["events"],
                cv_scores=cv.scores,
            ),
            *inventory_warnings(prep.counts),
        ]
        log_warnings(warnings, log)
        best = pick_mapped_model(study, cv.summary)
        holds, applicability = where_the_map_holds(
            study, prep, best, fitted[best], splitters[0], cv.predictions, fold_models[best], None, out, timer
        )
        comparison = {
            "schemes": labels,
            "warnings": warnings_json(warnings),
            "folds": val.folds,
            "repeats": val.repeats,
            "summary": full_summary.to_dict(orient="records"),
            "train_summary": None if cv.train_summary is None else cv.train_summary.to_dict(orient="records"),
            "ranking": ranking.to_dict(orient="records"),
            "roc_auc_out_of_fold": roc_auc,
            "rate_curve_auc": rates,
            "class_shares": shares.to_dict(orient="records"),
            "optimization": optimization.to_dict(orient="records"),
            "vif": vif.to_dict(orient="records"),
            "information_gain": ig.to_dict(orient="records"),
            "samples": prep.counts,
        }
        if applicability:
            comparison["where_the_map_holds"] = applicability
        write_json(out.path("comparison.json"), comparison)
        timer.timings["total"] = round(time.perf_counter() - t_start, 3)
        write_provenance(out.path("provenance.json"), study, timer.timings, samples=prep.counts)
        document = _report(
            study,
            prep,
            cv.summary,
            tables,
            ranking,
            splitters,
            (vif, ig, rf, perm),
            optimization,
            warnings,
            holds,
            timer,
            out,
        )
        write_report_files(out, study, document)
        committed = out.commit()
    log.info("comparison:\n%s", to_markdown(next(iter(tables.values()))))
    return CompareResult(
        out_dir=out.final,
        files=committed,
        scores=scores,
        summary=cv.summary,
        ranking=ranking,
        tables=tables,
        timings=timer.timings,
    )
