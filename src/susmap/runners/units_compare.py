"""``susmap compare`` on mapping units: every model under every scheme on the same unit folds.

The units (polygons, slope units or a table; :func:`susmap.runners.units.prepare_units`,
shared with ``susmap run``) take the place of the sample table of the cell
comparison (:mod:`susmap.runners.compare`). Outputs:

- ``cv_scores.csv`` (test and training parts), ``cv_summary.csv``,
  ``cv_summary_all_metrics.csv``, ``cv_train_summary.csv``;
- ``tables/paper000_table4_<scheme>.csv|md`` … ``paper003_table5_<scheme>``
  (:func:`susmap.report.tables.comparison_tables`);
- ``ranking.csv``: paper 002's cumulative ranks of MSE, R, AUC, sensitivity
  and specificity, training and testing apart;
- ``roc.png``: out-of-fold ROC curves, first repeat, one panel per scheme;
- ``rate_curves.png``: success and prediction rate with the units as the
  area: share of the units' area [m²] (of the unit count for a table
  without ``area_m2``) against share of landslide units, units ranked by
  susceptibility (:func:`unit_rate_curve`); success rate of each model
  fitted on all units, prediction rate of the landslide units held out in
  the folds of one repeat of the first scheme, each rated by the model
  fitted without it (:func:`unit_prediction_rate`);
- ``class_tables_units.csv``: each model's own classes of the units (units,
  area, landslide units per class; paper 002 Fig. 7 by units);
- ``fold_map_<scheme>.png`` on the unit centroids (units with coordinates);
- factor analysis on the unit table: ``vif.csv|png`` (paper 003),
  ``information_gain.csv`` (paper 001), ``rf_importance.csv|png`` (paper
  002), ``permutation_importance.csv|png`` (first model, one repeat of the
  first scheme), ``factor_class_tables.csv`` (frequency ratios counted in units);
- ``units.csv`` (the units, their factors, labels and first-repeat folds),
  ``comparison.json``, ``report.html``, ``provenance.json``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone

from susmap.analysis import (
    permutation_importance_cv,
    plot_importance,
)
from susmap.mapping import compute_breaks
from susmap.mapping.classes import assign_classes
from susmap.outputs import OutputFolder, write_json
from susmap.report.document import Figure, ReportSection, Table, Text
from susmap.report.tables import to_markdown
from susmap.runners.units import (
    BUFFERED_SCHEMES,
    UnitData,
    check_unit_study,
    class_table_units,
    prepare_units,
    unit_factor_class_tables,
    unit_inventory_warnings,
    unit_pipelines,
    unit_splitters,
    units_data_section,
    units_summary_section,
)
from susmap.stages import dask_scheduler, input_files
from susmap.stages.comparison import compare_on_folds, factor_importance
from susmap.stages.records import write_provenance
from susmap.stages.report import (
    alerts,
    cv_table,
    factor_analysis_section,
    methods_section,
    new_document,
    papers_layout_sections,
    reproducibility_section,
    write_report_files,
)
from susmap.study import Study
from susmap.timing import Timer
from susmap.validation.curve_figures import plot_rate_curves
from susmap.validation.curves import RateCurve
from susmap.validation.warnings import log_warnings, validation_warnings, warnings_json

__all__ = ["UnitsCompareResult", "run_units_compare", "unit_prediction_rate", "unit_rate_curve"]

log = logging.getLogger(__name__)


@dataclass
class UnitsCompareResult:
    """What :func:`run_units_compare` produced: as :class:`susmap.runners.compare.CompareResult`, plus unit counts."""

    out_dir: Path
    files: list[Path]
    scores: pd.DataFrame
    summary: pd.DataFrame
    ranking: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    timings: dict[str, float]
    counts: dict[str, int] = field(default_factory=dict)


def unit_rate_curve(prob: np.ndarray, events: np.ndarray, area: np.ndarray | None = None) -> RateCurve:
    """Success- or prediction-rate curve of units: share of the units' area against share of landslide units.

    Units are ranked by ``prob``, highest first; at each distinct
    probability ``t`` the curve's point is (area of the units with
    ``prob >= t`` / area of all units, landslide units with ``prob >= t`` /
    all landslide units), from (0, 0) to (1, 1); AUC by the trapezoid rule
    (Chung & Fabbri 2003 with units for cells).

    Parameters
    ----------
    prob : ndarray of shape (n_units,)
        Susceptibility of every unit.
    events : ndarray of shape (n_units,)
        1 for a landslide unit, else 0.
    area : ndarray of shape (n_units,), optional
        Unit areas [m²]; None counts every unit as one (a table without areas).

    Examples
    --------
    Four units of area 1, 1, 2, 4 ranked 0.9, 0.8, 0.3, 0.1; the landslide
    units are the first two: the curve reaches 1 at area share 2/8, so
    AUC = 0.25 / 2 + 0.75 = 0.875.

    >>> round(unit_rate_curve(np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 1, 0, 0]),
    ...                       np.array([1.0, 1, 2, 4])).auc, 3)
    0.875
    """
    p = np.asarray(prob, dtype=float)
    e = np.asarray(events).astype(bool)
    w = np.ones_like(p) if area is None else np.asarray(area, dtype=float)
    order = np.argsort(-p, kind="mergesort")
    ps = p[order]
    last = np.r_[np.flatnonzero(np.diff(ps)), ps.size - 1]  # last position of each run of equal values
    area_share = np.cumsum(w[order])[last] / w.sum()
    event_share = np.cumsum(e[order])[last] / max(int(e.sum()), 1)
    x, y = np.r_[0.0, area_share], np.r_[0.0, event_share]
    return RateCurve(area_share=x, event_share=y, thresholds=np.r_[np.inf, ps[last]], auc=float(np.trapezoid(y, x)))


def unit_prediction_rate(
    fold_probs: Sequence[np.ndarray], fold_events: Sequence[np.ndarray], area: np.ndarray | None = None
) -> RateCurve:
    """Out-of-fold prediction-rate curve of units: every landslide unit rated by the model that did not see it.

    Fold ``k``'s model rates every unit (``fold_probs[k]``); its curve is
    :func:`unit_rate_curve` of those probabilities over all units' area with
    the fold's held-out landslide units (``fold_events[k]``, a 0/1 mask) as
    events, in event counts. The pooled curve is the sum of the folds' counts
    at each area share (straight segments between each fold's points)
    divided by all held-out landslide units (Chung & Fabbri 2003's
    prediction rate, pooled over the folds as
    :func:`susmap.validation.curves.prediction_rate_from_folds` does for cells).
    ``thresholds`` is +inf at (0, 0) and NaN elsewhere (the folds' models
    have their own probabilities).

    Examples
    --------
    Four units of area 1; fold 1's model ranks its held-out landslide unit
    first (area share 1/4), fold 2's ranks its one third (3/4): the folds'
    AUCs are 0.875 and 0.375, the pooled curve (0, 0), (1/4, 1/2), (1/2, 1/2),
    (3/4, 1), (1, 1) has AUC 0.625, their mean.

    >>> p1, p2 = np.array([0.9, 0.5, 0.3, 0.1]), np.array([0.9, 0.5, 0.3, 0.1])
    >>> round(unit_prediction_rate([p1, p2], [np.array([1, 0, 0, 0]), np.array([0, 0, 1, 0])]).auc, 3)
    0.625
    """
    if len(fold_probs) != len(fold_events) or not fold_probs:
        raise ValueError("unit_prediction_rate needs one probability array and one event mask per fold, at least one")
    curves = []
    for probs, events in zip(fold_probs, fold_events, strict=True):
        n = int(np.asarray(events).astype(bool).sum())
        if n:
            c = unit_rate_curve(probs, events, area)
            curves.append((c.area_share, c.event_share * n))
    if not curves:
        raise ValueError("unit_prediction_rate: no fold holds a held-out landslide unit")
    grid = np.unique(np.concatenate([a for a, _ in curves]))
    counts = sum(np.interp(grid, a, c) for a, c in curves)
    shares = counts / counts[-1]
    thresholds = np.r_[np.inf, np.full(grid.size - 1, np.nan)]
    return RateCurve(area_share=grid, event_share=shares, thresholds=thresholds, auc=float(np.trapezoid(shares, grid)))


def _rates_and_classes(study: Study, data: UnitData, pipelines: dict, splitter, scheme: str, out):
    """Area-weighted rate curves of every model (``rate_curves.png``) and its own classes of the units.

    Success rate: the model fitted on all units. Prediction rate: the models
    fitted on the training parts of ``splitter`` (one repeat of the first
    scheme), each rating all units, their held-out landslide units as events.
    """
    X, y = data.X, data.y  # noqa: N806
    area = data.frame["area_m2"].to_numpy(dtype=float) if "area_m2" in data.frame else None
    m = study.mapping
    aucs: dict[str, dict[str, float]] = {"success_rate": {}, "prediction_rate": {}}
    success, prediction, tables = {}, {}, []
    folds = list(splitter.split(X, y))
    for label, pipe in pipelines.items():
        prob = clone(pipe).fit(X, y).predict_proba(X)[:, 1]
        success[label] = unit_rate_curve(prob, y, area)
        fold_probs, fold_events = [], []
        for train, test in folds:
            fold_probs.append(clone(pipe).fit(X[train], y[train]).predict_proba(X)[:, 1])
            held_out = np.zeros(len(y), dtype=bool)
            held_out[test] = True
            fold_events.append(held_out & (y == 1))
        prediction[label] = unit_prediction_rate(fold_probs, fold_events, area)
        aucs["success_rate"][label] = success[label].auc
        aucs["prediction_rate"][label] = prediction[label].auc
        sample = prob
        if len(prob) > m.class_sample:
            sample = np.random.default_rng(study.seed).choice(prob, size=m.class_sample, replace=False)
        edges = compute_breaks(m.classification, sample, m.n_classes, vmin=float(prob.min()), vmax=float(prob.max()))
        table = class_table_units(assign_classes(prob, edges), y, edges, area)
        tables.append(table.assign(model=label)[["model", *table.columns]])
    what = "unit area" if area is not None else "units"
    plot_rate_curves(
        success,
        prediction,
        out.path("rate_curves.png"),
        prediction_title=f"Prediction rate (held-out landslide units, {scheme})",
    )
    shares = pd.concat(tables, ignore_index=True)
    shares.to_csv(out.path("class_tables_units.csv"), index=False)
    return aucs, shares, what


def run_units_compare(study: Study, out_dir: Path | None = None) -> UnitsCompareResult:
    """``susmap compare`` on a study whose ``mapping_unit.kind`` is polygons, slope_units or table.

    Every model of the study is cross-validated on the same unit folds of
    every scheme (spatial schemes on the unit centroids; buffered schemes
    also leave the test units' neighbours out of training); writes the
    files listed in this module's docstring to ``out_dir`` (default: the
    study's), all or nothing.

    Raises
    ------
    SusmapError
        Any bad input; nothing is written to ``out_dir`` then.
    """
    check_unit_study(study, "compare")
    out_dir = Path(out_dir or study.outputs.directory)
    timer = Timer()
    t_start = time.perf_counter()
    val = study.validation
    inputs = [p for p in input_files(study) if Path(p).is_file()]
    with OutputFolder(out_dir, inputs=inputs) as out, dask_scheduler(study):
        data, rule = prepare_units(study, out, timer)
        X, y = data.X, data.y  # noqa: N806
        pipelines = unit_pipelines(study, data)
        splitters = unit_splitters(study, data)
        labels = [label for label, _ in splitters]
        comparison_run = compare_on_folds(study, X, y, data.coords, pipelines, splitters, out, timer)
        cv, scores = comparison_run.cv, comparison_run.scores
        tables, full_summary, ranking = comparison_run.tables, comparison_run.full_summary, comparison_run.ranking
        roc_auc = comparison_run.roc_auc
        frame = data.frame
        for scheme, ids in cv.fold_ids.items():
            frame[f"fold_{scheme}"] = ids
        frame.to_csv(out.path("units.csv"), index=False)
        with timer.stage("tables and figures"):
            first_label, first_splitter = unit_splitters(study, data, n_repeats=1)[0]
            rates, shares, rate_what = _rates_and_classes(study, data, pipelines, first_splitter, first_label, out)
        with timer.stage("factor analysis"):
            factors = pd.DataFrame(X, columns=data.names)
            importance = factor_importance(factors, y, data.names, data.kinds, study.seed, out)
            vif, ig, rf = importance.vif, importance.information_gain, importance.rf_importance
            first_model = next(iter(pipelines))
            perm = permutation_importance_cv(
                pipelines[first_model], factors, y, data.names, first_splitter, seed=study.seed
            )
            perm.to_csv(out.path("permutation_importance.csv"), index=False)
            plot_importance(
                perm,
                out.path("permutation_importance.png"),
                title=f"Permutation importance, {first_model}, {first_label} folds",
            )
            factor_tables = unit_factor_class_tables(frame, data.names, data.kinds)
            factor_tables.to_csv(out.path("factor_class_tables.csv"), index=False)
        warnings = [
            *validation_warnings(
                cv.summary,
                scheme_kinds={c.display_name: c.name for c in val.scheme_configs},
                mapped_model=None,
                n_events=int(y.sum()),
                cv_scores=cv.scores,
            ),
            *unit_inventory_warnings(data.counts),
        ]
        log_warnings(warnings, log)
        comparison = {
            "mapping_unit": {"kind": study.mapping_unit.kind, "label": str(rule) if rule else None},
            "schemes": labels,
            "warnings": warnings_json(warnings),
            "folds": val.folds,
            "repeats": val.repeats,
            "summary": full_summary.to_dict(orient="records"),
            "train_summary": None if cv.train_summary is None else cv.train_summary.to_dict(orient="records"),
            "ranking": ranking.to_dict(orient="records"),
            "roc_auc_out_of_fold": roc_auc,
            "rate_curve_auc": rates,
            "rate_curve_area": rate_what,
            "class_tables_units": shares.to_dict(orient="records"),
            "vif": vif.to_dict(orient="records"),
            "information_gain": ig.to_dict(orient="records"),
            "units": data.counts,
            "factors": data.names,
        }
        write_json(out.path("comparison.json"), comparison)
        timer.timings["total"] = round(time.perf_counter() - t_start, 3)
        write_provenance(out.path("provenance.json"), study, timer.timings, inputs=inputs, units=data.counts)
        doc = _report(
            study, data, rule, cv.summary, tables, ranking, splitters, (vif, ig, rf, perm), factor_tables, shares,
            rate_what, timer, out,
        )  # fmt: skip
        doc.warnings = alerts(warnings)
        write_report_files(out, study, doc)
        committed = out.commit()
    log.info("comparison:\n%s", to_markdown(next(iter(tables.values()))))
    return UnitsCompareResult(
        out_dir=out.final,
        files=committed,
        scores=scores,
        summary=cv.summary,
        ranking=ranking,
        tables=tables,
        timings=timer.timings,
        counts=data.counts,
    )


def _report(
    study, data, rule, summary, tables, ranking, splitters, analysis, factor_tables, shares, rate_what, timer, out
):
    """The comparison's report on units: summary, data, methods, papers' tables, curves, factors, classes."""
    vif, ig, rf, perm = analysis
    val = study.validation
    mu = study.mapping_unit
    doc = new_document(f"Model comparison: {study.name} ({mu.kind.replace('_', ' ')})", study)
    doc.sections.append(units_summary_section(study, data, summary, None))
    doc.sections.append(units_data_section(study, data, rule))
    doc.sections.append(methods_section(study))
    results = ReportSection("results", "Results")
    validation = ReportSection("results-validation", "Cross-validation").add(cv_table(summary))
    if data.adjacency is not None and any(c.name in BUFFERED_SCHEMES for c in val.scheme_configs):
        validation.add(
            Text("Buffered schemes also leave every unit adjacent to a test unit out of its training part.", "note")
        )
    results.subsections.append(validation)
    results.subsections += papers_layout_sections(
        tables, [label for label, _ in splitters], ranking, folds=val.folds, repeats=val.repeats, on=" on units"
    )
    curves = ReportSection("results-curves", "ROC and rate curves").add(
        Figure("roc.png", "Out-of-fold ROC curves of every model, first repeat, one panel per scheme"),
        Text(
            f"Rate curves on units: share of the {rate_what} against share of the landslide units, units ranked by "
            "susceptibility.",
            kind="note",
        ),
        Figure(
            "rate_curves.png",
            f"Success rate (models fitted on all units) and prediction rate (landslide units held out in the "
            f"folds of one repeat of {splitters[0][0]}, rated by the model fitted without them)",
        ),
    )
    if data.coords is not None:
        curves.add(
            *(
                Figure(f"fold_map_{label}.png", f"Folds of the {label} scheme (unit centroids)")
                for label, _ in splitters
            )
        )
    results.subsections.append(curves)
    results.subsections.append(
        factor_analysis_section(
            None,
            vif=vif,
            tables=[
                ("Information gain (paper 001)", ig),
                ("Random-forest importance (paper 002)", rf),
                ("Permutation importance on held-out folds", perm),
                (
                    "Units and landslide units per factor class (continuous factors: quintiles of the units' values); "
                    "frequency ratio = landslide share / unit share",
                    factor_tables,
                ),
            ],
            figures=[
                ("vif.png", "Variance inflation factor per factor"),
                ("rf_importance.png", "Random-forest importance"),
                ("permutation_importance.png", "Permutation importance on held-out folds"),
            ],
            note="On the unit table: one row per unit, its factors as in units.csv.",
        )
    )
    results.subsections.append(
        ReportSection("results-classes", "Susceptibility classes per model (paper 002 Fig. 7, by units)").add(
            Text(
                f"Each model fitted on all units, its own classes ({study.mapping.classification.replace('_', ' ')}) "
                "of the units' probabilities; units, area and landslide units per class.",
                kind="note",
            ),
            Table(shares, "Classes per model"),
        )
    )
    doc.sections.append(results)
    extra = ["report.html", *(["report.pdf"] if study.outputs.pdf else [])]
    doc.sections.append(reproducibility_section(study, timer.timings, out.staging, extra_files=extra))
    return doc
