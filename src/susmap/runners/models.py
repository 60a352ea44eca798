"""``method: models``: stack → samples → cross-validation → map → classes → report.

The study's registry models are cross-validated on the same folds under
every validation scheme; one (``mapping.model``, or the best by AUROC of the
first scheme) is fitted on all samples and mapped at the top level of the
output folder. ``mapping.models`` (labels, or ``all``) adds one map per model
in ``maps/<label>/`` (the same four files, classified the same way), and
``maps.png`` side by side when 2 or more; the top-level map is unchanged by
it (when listed, its model is mapped into its folder too, from the same fit).
Each step is a call into
:mod:`susmap.stages`; everything is staged and moved into the output folder
at the end (:class:`susmap.outputs.OutputFolder`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sklearn.base import clone

from susmap import progress
from susmap.analysis import plot_vif, vif_table
from susmap.mapping.classes import held_out_class_table
from susmap.models.registry import check_models, check_neighbours, check_tuning
from susmap.outputs import OutputFolder
from susmap.report.document import Figure, ReportSection, Table, Text
from susmap.runners import Runner, register_runner
from susmap.stages import (
    classify_and_draw,
    dask_scheduler,
    input_files,
    pick_mapped_model,
    prepare_study_data,
    scores_by_scheme,
    study_splitters,
    write_history,
    write_metrics,
    write_model_formula,
    write_provenance,
    write_samples,
)
from susmap.stages.applicability import where_the_map_holds
from susmap.stages.compute import parallel_jobs
from susmap.stages.evaluation import (
    first_repeat_fold_models,
    held_out_event_probabilities,
    random_cells,
    rate_curves,
)
from susmap.stages.gis import GIS_FILES, write_gis_package
from susmap.stages.maps import ModelMap, map_models, write_probability_map
from susmap.stages.report import (
    alerts,
    class_table_blocks,
    cv_table,
    data_section,
    factor_analysis_section,
    methods_section,
    new_document,
    reproducibility_section,
    summary_section,
    write_report_files,
)
from susmap.study import Study
from susmap.timing import Timer
from susmap.validation import cross_validate_models, plot_fold_map
from susmap.validation.curve_figures import plot_rate_curves, plot_roc_curves
from susmap.validation.warnings import (
    edge_effect_warnings,
    inventory_warnings,
    log_warnings,
    validation_warnings,
    warnings_json,
)

__all__ = ["MAP_FILES", "OUTPUT_FILES", "StudyResult", "run_models_study"]

log = logging.getLogger(__name__)

#: Files every run writes.
OUTPUT_FILES = (
    "samples.gpkg",
    "samples.csv",
    "cv_scores.csv",
    "cv_summary.csv",
    "factor_class_tables.csv",
    "metrics.json",
    "roc.png",
    "report.html",
    "provenance.json",
    "study.yaml",
)
#: Files a run with mapping enabled adds.
MAP_FILES = (
    "probability.tif",
    "classes.tif",
    "class_table.csv",
    "held_out_class_table.csv",
    "rate_curves.png",
    "susceptibility_map.png",
    *GIS_FILES,
)


@dataclass
class StudyResult:
    """What a run produced: the output folder, its files, the scores and timings [s]."""

    out_dir: Path
    files: list[Path]
    samples: pd.DataFrame
    cv_summary: pd.DataFrame
    class_table: pd.DataFrame | None
    mapped_model: str | None
    timings: dict[str, float] = field(default_factory=dict)


def run_models_study(study: Study, out_dir: Path | None = None) -> StudyResult:
    """Run ``study`` end to end and write its outputs to ``out_dir`` (default: the study's).

    Outputs: ``samples.gpkg``/``samples.csv`` (x, y, row, col, label, factors,
    fold ids), ``cv_scores.csv`` (per fold), ``cv_summary.csv``,
    ``metrics.json``, ``probability.tif`` (float32, NaN nodata),
    ``classes.tif`` (uint8, 0 nodata), ``class_table.csv``,
    ``susceptibility_map.png``, ``report.html``, ``provenance.json``,
    ``study.yaml`` (the resolved study); with ``mapping.models``,
    ``maps/<label>/`` (the four map files per model) and ``maps.png``.

    Raises
    ------
    SusmapError
        Any bad input; nothing is written to ``out_dir`` then.
    """
    out_dir = Path(out_dir or study.outputs.directory)
    timer = Timer()
    t_start = time.perf_counter()
    # Fail on model names or parameters (the estimators' own constraints) before reading any data.
    check_models(study.models, seed=study.seed, source=str(study.source or "study"))
    check_tuning(study.models, study.validation.tuning, seed=study.seed, source=str(study.source or "study"))
    with OutputFolder(out_dir, inputs=input_files(study), writes=OUTPUT_FILES) as out, dask_scheduler(study):
        prep = prepare_study_data(study, out, timer)
        stack, samples, counts, names = prep.stack, prep.samples, prep.counts, prep.names
        X, y, coords, pipelines = prep.design, prep.y, prep.coords, prep.pipelines  # noqa: N806
        splitters = study_splitters(study, coords, prep.X, stack, times=samples.get("event_time"))
        check_neighbours(  # k-NN with more neighbours than a training part: refused before any fit
            [(f"{study.source or 'study'}: models.{i}", pipelines[m.display_name]) for i, m in enumerate(study.models)],
            ((label, splitter.split(X, y)) for label, splitter in splitters),
            {
                f"{study.source or 'study'}: models.{i}": study.validation.tuning.get(m.display_name)
                for i, m in enumerate(study.models)
            },
        )
        with timer.stage("cross-validation"), parallel_jobs(study.validation.n_jobs, "validation.n_jobs") as n_jobs:
            cv = cross_validate_models(
                X,
                y,
                coords,
                pipelines,
                schemes=splitters,
                n_splits=study.validation.folds,
                n_repeats=study.validation.repeats,
                threshold=study.validation.threshold,
                seed=study.seed,
                n_jobs=n_jobs,
                tuning=study.validation.tuning or None,
                return_predictions=True,
            )
        for scheme, ids in cv.fold_ids.items():
            samples[f"fold_{scheme}"] = ids
        with timer.stage("write tables"):
            write_samples(samples, stack, out)
            cv.scores.to_csv(out.path("cv_scores.csv"), index=False)
            cv.summary.to_csv(out.path("cv_summary.csv"), index=False)

        mapped, table, edges, n_mapped, model = None, None, None, None, None
        model_maps: list[ModelMap] = []
        if study.mapping.enabled:
            mapped = pick_mapped_model(study, cv.summary)
            spec = next(m for m in study.models if m.display_name == mapped)
            log.info("mapping with %s", mapped)
            with timer.stage("fit"), progress.task(f"fitting {mapped} on all samples", total=1) as fitting:
                model = clone(pipelines[spec.display_name]).fit(X, y)
                fitting.advance()
                write_history(model, out.path("histories/.keep").parent, mapped)
                write_model_formula(model, names, out.path("formulas/.keep").parent, mapped)
            with timer.stage("predict map"):
                write_probability_map(study, stack, model, mapped, out)
            table, edges, n_mapped = classify_and_draw(
                study, stack, samples, out, timer, f"{study.name}: susceptibility ({mapped})"
            )

            def fitted(label: str, top=model):
                if label == mapped:
                    return top
                with timer.stage("fit"):
                    other = clone(pipelines[label]).fit(X, y)
                    write_history(other, out.path("histories/.keep").parent, label)
                    write_model_formula(other, names, out.path("formulas/.keep").parent, label)
                return other

            model_maps = map_models(study, stack, samples, out, timer, fitted)
            with timer.stage("gis styles and project"):
                write_gis_package(study, stack, samples, out, edges, model_maps)

        with timer.stage("curves and factor analysis"):
            figures = _evaluation_figures(study, prep, splitters, cv, out)
            held_out = None
            if table is not None:
                probs = held_out_event_probabilities(cv.predictions, splitters[0][0], mapped)
                held_out = held_out_class_table(table, edges, probs)
                held_out.to_csv(out.path("held_out_class_table.csv"), index=False)
                folds = first_repeat_fold_models(prep, prep.pipelines[mapped], splitters[0][1])
                figures.rates = _rate_figure(study, prep, splitters[0], mapped, model, folds, out)
        holds, applicability = ReportSection("where-the-map-holds", "Where the map holds"), {}
        if mapped is not None:
            holds, applicability = where_the_map_holds(
                study, prep, mapped, model, splitters[0], cv.predictions, folds, edges, out, timer
            )
        warnings = [
            *validation_warnings(
                cv.summary,
                scheme_kinds={c.display_name: c.name for c in study.validation.scheme_configs},
                mapped_model=mapped,
                n_events=counts["events"],
                cv_scores=cv.scores,
            ),
            *inventory_warnings(counts),
        ]
        if table is not None:
            warnings += edge_effect_warnings(out.path("classes.tif"), n_classes=study.mapping.n_classes)
        log_warnings(warnings, log)
        metrics = {
            "validation": {
                "schemes": study.validation.scheme_labels,
                "folds": study.validation.folds,
                "repeats": study.validation.repeats,
                "threshold": study.validation.threshold,
            },
            "scores": scores_by_scheme(cv.summary),
            "samples": counts,
            "mapped_model": mapped,
            "warnings": warnings_json(warnings),
            "roc_auc_out_of_fold": figures.roc_auc,
        }
        if applicability:
            metrics["where_the_map_holds"] = applicability
        if figures.rates is not None:
            metrics["rate_curve_auc"] = figures.rates
        if held_out is not None:
            metrics["held_out_classes"] = held_out.to_dict(orient="records")
        if model_maps:
            metrics["maps"] = {
                m.label: {
                    "folder": m.folder,
                    "method": study.mapping.classification,
                    "edges": [float(e) for e in m.edges],
                    "mapped_cells": m.n_mapped,
                    "table": m.table.to_dict(orient="records"),
                }
                for m in model_maps
            }
        write_metrics(out, study, metrics, table, edges, n_mapped)
        timer.timings["total"] = round(time.perf_counter() - t_start, 3)
        write_provenance(out.path("provenance.json"), study, timer.timings, samples=counts)
        document = _report(
            study, prep, cv, mapped, table, held_out, n_mapped, model_maps, figures, warnings, holds, timer, out
        )
        write_report_files(out, study, document)
        committed = out.commit()
    return StudyResult(
        out_dir=out.final,
        files=committed,
        samples=samples,
        cv_summary=cv.summary,
        class_table=table,
        mapped_model=mapped,
        timings=timer.timings,
    )


@dataclass
class EvaluationFigures:
    """Figures of a run's evaluation (paths relative to the output folder) and the AUCs they show."""

    roc: str
    roc_auc: dict[str, dict[str, float]]
    folds: list[tuple[str, str]]
    vif: pd.DataFrame | None
    rates: dict[str, dict[str, float]] | None = None


def _evaluation_figures(study: Study, prep, splitters, cv, out: OutputFolder) -> EvaluationFigures:
    """Out-of-fold ROC curves of every model, one fold map per scheme, VIF of the factors."""
    labels = [label for label, _ in splitters]
    roc_auc = plot_roc_curves(cv.predictions, prep.y, labels, out.path("roc.png"))
    folds = []
    for label, splitter in splitters:
        plot_fold_map(
            splitter, prep.coords, out.path(f"fold_map_{label}.png"), title=f"{label} folds", X=prep.X, y=prep.y
        )
        folds.append((f"fold_map_{label}.png", label))
    vif = None
    continuous = [n for n in prep.names if prep.stack.kinds.get(n, "continuous") == "continuous"]
    if len(continuous) >= 2:
        vif = vif_table(pd.DataFrame(prep.X, columns=prep.names), prep.names, kinds=prep.stack.kinds)
        vif.to_csv(out.path("vif.csv"), index=False)
        plot_vif(vif, out.path("vif.png"))
    return EvaluationFigures("roc.png", roc_auc, folds, vif)


def _rate_figure(study: Study, prep, first_scheme, mapped: str, model, folds, out: OutputFolder) -> dict:
    """``rate_curves.png`` of the mapped model: success rate and out-of-fold prediction rate; their AUCs."""
    label, _ = first_scheme
    cells = random_cells(prep, 20_000, study.seed)
    success, prediction = rate_curves(prep, model, folds, cells)
    plot_rate_curves(
        {mapped: success},
        {mapped: prediction},
        out.path("rate_curves.png"),
        prediction_title=f"Prediction rate (held-out events, {label} folds)",
    )
    return {"success_rate": {mapped: success.auc}, "prediction_rate": {mapped: prediction.auc}}


def _report(study, prep, cv, mapped, table, held_out, n_mapped, model_maps, figures, warnings, holds, timer, out):
    """The run's report: summary, data, methods, results, reproducibility."""
    doc = new_document(f"Susceptibility report: {study.name}", study)
    doc.warnings = alerts(warnings)
    has_map = table is not None
    doc.sections.append(
        summary_section(
            study,
            prep.stack,
            prep.counts,
            cv.summary,
            model=mapped,
            method=f"{len(study.models)} models cross-validated on the same folds, {mapped or 'none'} mapped",
            figure="susceptibility_map.png" if has_map else None,
        )
    )
    doc.sections.append(data_section(study, prep.stack, prep.counts, mapped_cells=n_mapped))
    doc.sections.append(methods_section(study))
    results = ReportSection("results", "Results")
    validation = ReportSection("results-validation", "Cross-validation").add(
        cv_table(cv.summary), Figure(figures.roc, "Out-of-fold ROC curves of every model, first repeat")
    )
    if figures.rates is not None:
        validation.add(
            Figure(
                "rate_curves.png",
                f"Success rate of {mapped} (training events) and prediction rate (events held out in the folds of "
                f"{study.validation.scheme_labels[0]})",
            )
        )
    validation.add(*(Figure(path, f"Folds of the {label} scheme") for path, label in figures.folds))
    results.subsections.append(validation)
    vif_figures = [("vif.png", "Variance inflation factor per factor")] if figures.vif is not None else []
    results.subsections.append(
        factor_analysis_section(
            prep.class_tables,
            vif=figures.vif,
            figures=vif_figures,
            note="Factor importance per model: `susmap compare` (random-forest, permutation importance, "
            "information gain).",
        )
    )
    if has_map:
        mapsec = ReportSection("results-map", "Susceptibility map").add(
            Figure(
                "susceptibility_map.png",
                f"Susceptibility classes of {mapped} ({study.mapping.classification.replace('_', ' ')}) over the "
                "hillshade, with the events",
            ),
            *class_table_blocks(table, held_out),
        )
        results.subsections.append(mapsec)
    if model_maps:
        others = ReportSection("results-maps", "Maps per model").add(
            Text(
                "mapping.models: each model fitted on all samples and mapped into its folder, classified the same "
                "way (breaks from its own probabilities).",
                kind="note",
            ),
            *(Table(m.table, f"{m.label} ({m.folder})") for m in model_maps),
        )
        if len(model_maps) >= 2:
            others.add(Figure("maps.png", "The maps of every listed model side by side"))
        results.subsections.append(others)
    doc.sections.append(results)
    if holds.subsections:
        doc.sections.append(holds)
    extra = ["report.html", *(["report.pdf"] if study.outputs.pdf else [])]
    doc.sections.append(reproducibility_section(study, timer.timings, out.staging, extra_files=extra))
    return doc


register_runner(
    Runner(
        name="models",
        run=run_models_study,
        description="cross-validate the study's registry models on the same folds and map one",
        compares_models=True,
    )
)
