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
from susmap.models.registry import check_models, check_neighbours, check_tuning
from susmap.outputs import OutputFolder
from susmap.report import Section, cv_summary_table, write_report
from susmap.runners import Runner, register_runner
from susmap.sampling import inventory_summary
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
from susmap.stages.gis import GIS_FILES, write_gis_package
from susmap.stages.maps import ModelMap, map_models, write_probability_map
from susmap.study import Study
from susmap.timing import Timer
from susmap.validation import METRIC_NAMES, cross_validate_models

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
    "report.html",
    "provenance.json",
    "study.yaml",
)
#: Files a run with mapping enabled adds.
MAP_FILES = ("probability.tif", "classes.tif", "class_table.csv", "susceptibility_map.png", *GIS_FILES)


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
        with timer.stage("cross-validation"):
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
                n_jobs=study.validation.n_jobs,
                tuning=study.validation.tuning or None,
            )
        for scheme, ids in cv.fold_ids.items():
            samples[f"fold_{scheme}"] = ids
        with timer.stage("write tables"):
            write_samples(samples, stack, out)
            cv.scores.to_csv(out.path("cv_scores.csv"), index=False)
            cv.summary.to_csv(out.path("cv_summary.csv"), index=False)

        mapped, table, edges, n_mapped = None, None, None, None
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
        }
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
        files = [*sorted(p.name for p in out.staging.iterdir()), "report.html", "provenance.json"]
        facts = {
            "study": study.name,
            "grid": f"{stack.grid.height} x {stack.grid.width} cells of {stack.grid.res[0]:g} m, "
            f"{stack.grid.crs.to_string()}",
            "factors": ", ".join(names),
            "samples": f"{counts['events']} events, {counts['non_events']} non-events",
            "inventory": inventory_summary(counts),
            "validation": f"{study.validation.folds}-fold x {study.validation.repeats} repeats: "
            + ", ".join(study.validation.scheme_labels),
            "mapped model": mapped or "mapping disabled",
            "seed": study.seed,
            "run time": f"{timer.timings['total']:.1f} s",
        }
        write_report(
            out.path("report.html"),
            title=f"susmap report: {study.name}",
            facts=facts,
            cv_table=cv_summary_table(cv.summary, METRIC_NAMES),
            class_table=table,
            map_png="susceptibility_map.png" if table is not None else None,
            files=files,
            sections=[_maps_section(model_maps)] if model_maps else (),
        )
        write_provenance(out.path("provenance.json"), study, timer.timings, samples=counts)
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


def _maps_section(model_maps: list[ModelMap]) -> Section:
    """The report's section on the maps of ``mapping.models``: each model's class table, and ``maps.png``."""
    return Section(
        heading="Maps per model",
        note="mapping.models: each model fitted on all samples and mapped into its folder, classified the same way "
        "(breaks from its own probabilities).",
        tables=[(f"{m.label} ({m.folder})", m.table) for m in model_maps],
        images=["maps.png"] if len(model_maps) >= 2 else [],
    )


register_runner(
    Runner(
        name="models",
        run=run_models_study,
        description="cross-validate the study's registry models on the same folds and map one",
        compares_models=True,
    )
)
