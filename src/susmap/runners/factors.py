"""``susmap factors``: derive the study's factors and summarise every factor."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from susmap.analysis import factor_class_tables
from susmap.errors import StudyConfigError
from susmap.factors.derive import DerivedFactor, derive_factors, factor_context
from susmap.factors.summary import (
    categorical_names,
    correlation_matrix,
    cramers_v_matrix,
    factor_moments,
    factor_statistics,
    plot_correlation,
)
from susmap.outputs import OutputFolder
from susmap.stack import open_layer, open_stack
from susmap.stages import class_tables_frame, dask_scheduler, draw_samples, input_files, write_provenance
from susmap.study import Study
from susmap.timing import Timer

__all__ = ["FactorsResult", "run_factors"]

log = logging.getLogger(__name__)


@dataclass
class FactorsResult:
    """What ``run_factors`` produced."""

    out_dir: Path
    files: list[Path]
    summary: pd.DataFrame
    correlation: pd.DataFrame
    derived: list[DerivedFactor]
    cramers_v: pd.DataFrame | None = None


def run_factors(study: Study, out_dir: Path | None = None) -> FactorsResult:
    """Derive the study's factors and summarise every factor (input layers and derived).

    Writes ``factors/<name>.tif`` for each derived factor, ``factor_summary.csv``
    (units, description, min, max, mean, std, valid and nodata cells, and
    which association table holds the factor), ``factor_correlation.csv`` and
    ``factor_correlation.png`` (Pearson r between the continuous factors over
    cells where all factors have data), ``factor_cramers_v.csv`` and
    ``factor_cramers_v.png`` when two or more factors are categorical
    (Cramér's V between them, over the same cells; class codes never enter
    Pearson's r), ``factor_class_tables.csv`` (area, events and frequency
    ratio per class of every factor, paper 000 Table 1) and
    ``provenance.json``.
    """
    if study.grid is None:  # mapping_unit.kind: table
        raise StudyConfigError(
            f"{study.source or 'study'}: mapping_unit.kind 'table' has no grid: 'susmap factors' derives and "
            "summarises raster factors; 'susmap run' writes the table's factor class tables"
        )
    out_dir = Path(out_dir or study.outputs.directory)
    timer = Timer()
    with OutputFolder(out_dir, inputs=input_files(study)) as out, dask_scheduler(study):
        with timer.stage("derive factors"):
            derived = derive_factors(study, out.path("factors/.keep").parent)
        with timer.stage("summary"):
            ctx, _ = factor_context(study)
            arrays = {name: arr.data for name, arr in ctx.layers.items()}
            meta = {layer.name: {"source": str(layer.path), "kind": layer.kind, "units": ""} for layer in study.layers}
            for d in derived:
                arrays[d.name] = open_layer(d.as_layer(), ctx.grid, study.alignment, chunks=study.mapping.chunk_size)
                meta[d.name] = {"source": d.factor, "kind": d.kind, "units": d.units, "description": d.description}
            kinds = {name: m["kind"] for name, m in meta.items()}
            auxiliary = {layer.name: layer.role for layer in study.layers if layer.role != "predictor"}
            moments = factor_moments(arrays)
            summary = factor_statistics(arrays, meta, moments)
            # associations between the model's inputs only: auxiliary layers (rules, masks, hillshade) are summarised
            predictors = {name: arr for name, arr in arrays.items() if name not in auxiliary}
            # (an extra pass over the predictors only when auxiliary layers would change the joint cells)
            corr = correlation_matrix(predictors, None if auxiliary else moments, kinds)
            cats = categorical_names(list(predictors), kinds)
            cramers = cramers_v_matrix(predictors, kinds) if len(cats) >= 2 else None
            summary["role"] = [auxiliary.get(name, "predictor") for name in summary["factor"]]
            summary["association"] = [
                f"none: {auxiliary[name]} layer"
                if name in auxiliary
                else ("cramers_v" if len(cats) >= 2 else "none: the only categorical factor")
                if name in cats
                else "pearson"
                for name in summary["factor"]
            ]
            summary.to_csv(out.path("factor_summary.csv"), index=False)
            corr.to_csv(out.path("factor_correlation.csv"), index_label="factor")
            if len(corr):
                plot_correlation(
                    corr, out.path("factor_correlation.png"), title=f"{study.name}: Pearson r of continuous factors"
                )
            if cramers is not None:
                cramers.to_csv(out.path("factor_cramers_v.csv"), index_label="factor")
                plot_correlation(
                    cramers,
                    out.path("factor_cramers_v.png"),
                    title=f"{study.name}: Cramér's V of categorical factors",
                    label="V",
                    vmin=0.0,
                )
            if cats:
                log.info(
                    "categorical factors %s: left out of the Pearson correlation%s",
                    ", ".join(cats),
                    "; Cramér's V in factor_cramers_v.csv" if cramers is not None else "",
                )
        with timer.stage("factor class tables"):
            layers = [*study.layers, *(d.as_layer() for d in derived)]
            stack = open_stack(study.grid, layers, study.alignment, chunks=study.mapping.chunk_size)
            samples, _ = draw_samples(study, stack)
            tables = factor_class_tables(stack, samples, stack.names, seed=study.seed)
            class_tables_frame(tables).to_csv(out.path("factor_class_tables.csv"), index=False)
        write_provenance(out.path("provenance.json"), study, timer.timings)
        committed = out.commit()
    return FactorsResult(
        out_dir=out.final, files=committed, summary=summary, correlation=corr, derived=derived, cramers_v=cramers
    )
