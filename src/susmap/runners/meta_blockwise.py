"""``method: meta-blockwise``: a study by block-wise meta-learning (paper 004), run by ``susmap run``.

Stages, each a library call of :mod:`susmap.meta`:

1. the study's stack and samples, as for every study (:mod:`susmap.stages`);
   categorical factors enter as one 0/1 band per class (:func:`meta_inputs`);
2. factor weights of the segmentation: random-forest importance on the
   samples (paper 002's method, :func:`susmap.analysis.random_forest_importance`),
   equal, or given per factor;
3. SLIC scene segmentation into blocks (section 4.3.1);
4. pretraining, meta-tasks, meta-training and the adaptation of every block
   (:func:`susmap.meta.fit_blockwise`, sections 4.2-4.5);
5. the mosaicked probability map, computed chunk by chunk
   (:meth:`susmap.meta.BlockwiseResult.predict_lazy`), its classes and the
   map PNG with the block boundaries;
6. the few-shot comparison of section 5.3 for the protocols asked for
   (:func:`susmap.meta.evaluate_few_shot`): the K-shot table. With
   ``weights: importance`` the experiment does not reuse the map's blocks
   (their weights saw every label, query labels included): it segments per
   protocol and repeat with weights fitted on the meta-training samples
   only (:mod:`susmap.meta.splits`).

Outputs (besides ``samples``, ``factor_class_tables.csv``, ``metrics.json``,
``report.html``, ``provenance.json`` and ``study.yaml`` of every run):
``blocks.tif`` (int32, 0 nodata), ``blocks.gpkg`` (one polygon per block
with its cells, samples, role and validation OA), ``blocks.png``,
``block_summary.csv``, ``factor_importance.csv``, ``pretrain_history.csv``,
``meta_history.csv``, ``meta_training.png``, ``meta_validation.csv``,
``probability.tif``, ``classes.tif``, ``class_table.csv``,
``susceptibility_map.png``, ``few_shot.csv`` (method, K, OA mean and sd per
protocol), ``few_shot_table.csv|md`` (paper 004 Tables 3-7 layout),
``few_shot_runs.csv`` (per repeat and block), ``few_shot.png``; with
two-area protocols also ``areas.gpkg`` (the blocks cut in two areas).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd

from susmap.analysis import factor_class_tables
from susmap.errors import SamplingError, StudyConfigError
from susmap.outputs import OutputFolder
from susmap.runners import Runner, register_runner
from susmap.stack import Stack
from susmap.stages import (
    class_tables_frame,
    classify_and_draw,
    dask_scheduler,
    input_files,
    stack_and_samples,
    write_metrics,
    write_provenance,
    write_samples,
)
from susmap.stages.compute import parallel_jobs
from susmap.stages.gis import GIS_FILES, write_gis_package
from susmap.study import Study
from susmap.timing import Timer

__all__ = ["MAX_ONEHOT_CLASSES", "META_FILES", "MetaStudyResult", "meta_inputs", "run_meta_blockwise"]

log = logging.getLogger(__name__)

#: Files a ``method: meta-blockwise`` run writes besides those of every run.
META_FILES = (
    "blocks.tif",
    "blocks.gpkg",
    "blocks.png",
    "block_summary.csv",
    "factor_importance.csv",
    "pretrain_history.csv",
    "meta_history.csv",
    "meta_training.png",
    "meta_validation.csv",
)
#: Files of the map (``mapping.enabled``) and of the few-shot comparison (``meta_blockwise.experiment.enabled``).
META_MAP_FILES = ("probability.tif", "classes.tif", "class_table.csv", "susceptibility_map.png", *GIS_FILES)
META_EXPERIMENT_FILES = ("few_shot.csv", "few_shot_table.csv", "few_shot_table.md", "few_shot_runs.csv", "few_shot.png")

#: A categorical factor with more classes than this is refused (one input band per class).
MAX_ONEHOT_CLASSES = 32
#: Forest sizes of the random-forest importance that weights the factors of SLIC (map and experiment alike).
IMPORTANCE_TREES = (100, 300, 500)


@dataclass
class MetaStudyResult:
    """What a block-wise meta-learning run produced.

    Attributes
    ----------
    out_dir : Path
    files : list of Path
    samples : pandas.DataFrame
        The sample table with ``block_id`` and ``meta_task`` (train, test) columns.
    block_ids : numpy.ndarray of int32
        The blocks (0 = nodata).
    info : dict
        ``n_blocks``, ``n_tasks``, ``blocks_without_samples``.
    few_shot : pandas.DataFrame or None
        ``protocol, method, K, oa_mean, oa_sd, ...`` (None when the experiment is disabled).
    class_table : pandas.DataFrame or None
    timings : dict
        Wall time of every stage [s].
    """

    out_dir: Path
    files: list[Path]
    samples: pd.DataFrame
    block_ids: np.ndarray
    info: dict
    few_shot: pd.DataFrame | None
    class_table: pd.DataFrame | None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def few_shot_table(self) -> pd.DataFrame | None:
        """The K-shot table in paper 004's layout (OA in %, mean ± sd), or None."""
        from susmap.report.tables import paper004_table

        return None if self.few_shot is None else paper004_table(self.few_shot)


def _settings(study: Study):
    """The study's BlockwiseSettings, checked; torch must be importable. Fails before any data is read."""
    from susmap.models.torch_base import import_torch

    try:
        import_torch()
    except ImportError as err:
        raise StudyConfigError(f"method meta-blockwise: {err}") from None
    from susmap.meta import BlockwiseSettings

    settings = BlockwiseSettings.from_config(study.meta_blockwise)
    try:
        settings.check()
    except ValueError as err:
        raise StudyConfigError(f"{study.source or 'study'}: meta_blockwise: {err}") from None
    defaults = Study.model_fields
    if study.models != defaults["models"].get_default(call_default_factory=True) or (
        study.validation != defaults["validation"].get_default()
    ):
        log.warning(
            "method meta-blockwise: the 'models' and 'validation' sections are not used; "
            "the comparison is meta_blockwise.experiment"
        )
    return settings


def meta_inputs(stack: Stack) -> tuple[da.Array, list[str], list[str]]:
    """The network's input bands: continuous factors as they are, categorical factors one band per class.

    A categorical factor becomes one 0/1 indicator band per class present in
    the raster (NaN where the cell is nodata). The classes are read from the
    whole raster, not from the labels, so the encoding learns nothing from
    the samples and is the same in every block and fold.

    Returns
    -------
    (dask.array.Array, list of str, list of str)
        Bands of shape (n_bands, height, width), float32; band names
        (``factor`` or ``factor=class``); the factor each band comes from.

    Raises
    ------
    StudyConfigError
        A categorical factor with more than :data:`MAX_ONEHOT_CLASSES` classes.
    """
    from susmap.analysis import class_area_counts

    arr = stack.data.data
    bands, names, parents = [], [], []
    for i, name in enumerate(stack.names):
        band = arr[i]
        if stack.kinds.get(name) != "categorical":
            bands.append(band)
            names.append(name)
            parents.append(name)
            continue
        classes = class_area_counts(stack, name).index.to_numpy()
        if classes.size > MAX_ONEHOT_CLASSES:
            raise StudyConfigError(
                f"method meta-blockwise: categorical factor {name!r} has {classes.size} classes "
                f"(at most {MAX_ONEHOT_CLASSES} enter the network as one band each); merge classes or drop it"
            )
        for value in classes:
            bands.append(da.where(da.isnan(band), np.float32(np.nan), (band == value).astype(np.float32)))
            names.append(f"{name}={value:g}")
            parents.append(name)
    return da.stack(bands).astype(np.float32).rechunk({0: -1}), names, parents


def _segmentation_weights(
    study: Study, x: np.ndarray, y: np.ndarray, names: list[str], parents: list[str], out: OutputFolder
) -> np.ndarray:
    """Per-band SLIC weights (paper 004 eq. 1-2): importance, equal, or given per factor (one-hot bands share it)."""
    from susmap.analysis.importance import random_forest_importance
    from susmap.meta import weights_from_importance

    given = study.meta_blockwise.weights
    if given == "equal":
        return np.ones(len(names))
    if isinstance(given, dict):
        return np.array([float(given.get(p, 1.0)) for p in parents])
    table = random_forest_importance(x, y, names=names, n_trees=IMPORTANCE_TREES, seed=study.seed)
    table.to_csv(out.path("factor_importance.csv"), index=False)
    return weights_from_importance(table, names)


def _block_summary(block_ids: np.ndarray, samples: pd.DataFrame, result, cell_area: float) -> pd.DataFrame:
    """One row per block: cells, area, samples by label, role in meta-learning, model used, validation OA."""
    n = int(block_ids.max())
    cells = np.bincount(block_ids.ravel(), minlength=n + 1)[1:]
    used = samples[samples["meta_task"] != ""]
    events = np.bincount(used["block_id"][used["label"] == 1], minlength=n + 1)[1:]
    non_events = np.bincount(used["block_id"][used["label"] == 0], minlength=n + 1)[1:]
    frame = pd.DataFrame(
        {
            "block_id": np.arange(1, n + 1),
            "n_cells": cells,
            "area_km2": cells * cell_area / 1e6,
            "events": events,
            "non_events": non_events,
        }
    )
    role = {b: "meta-train" for b in result.train_blocks} | {b: "meta-test" for b in result.test_blocks}
    frame["role"] = frame["block_id"].map(role).fillna("no samples")
    frame["model"] = np.where(frame["block_id"].isin(list(result.block_params)), "adapted", "intermediate")
    val = result.validation.set_index("block_id")
    frame["validation_oa"] = frame["block_id"].map(val["oa"]) if len(val) else np.nan
    frame["validation_oa_before"] = frame["block_id"].map(val["oa_before"]) if len(val) else np.nan
    return frame


def _few_shot(
    study: Study,
    arr,
    samples: pd.DataFrame,
    values: np.ndarray,
    block_ids: np.ndarray,
    settings,
    out: OutputFolder,
    grid,
):
    """The K-shot comparison of paper 004 section 5.3 for every protocol asked for: (summary, runs)."""
    from susmap.meta import block_polygons, evaluate_few_shot, split_areas, write_block_polygons

    exp = study.meta_blockwise.experiment
    area_split = None
    if any(p != "all" for p in exp.protocols):
        area_split = (exp.areas.axis, exp.areas.fraction)
        area_ids, areas, cut = split_areas(block_ids, *area_split)
        where = grid.transform * ((cut, 0) if exp.areas.axis == "x" else (0, cut))
        log.info("two areas: cut at %s = %.1f m", exp.areas.axis, where[0] if exp.areas.axis == "x" else where[1])
        polys = block_polygons(area_ids, grid.transform, grid.crs.to_wkt())
        polys["area"] = polys["block_id"].map(areas)
        write_block_polygons(polys, out.path("areas.gpkg"), layer="areas")
    # factor weights by importance read labels: the experiment then segments per protocol and repeat with weights
    # fitted on the meta-training samples only (susmap.meta.splits); label-free weights keep the run's blocks
    honest = study.meta_blockwise.weights == "importance"
    try:
        with parallel_jobs(exp.n_jobs, "meta_blockwise.experiment.n_jobs") as n_jobs:
            return evaluate_few_shot(
                arr,
                samples,
                None if honest else block_ids,
                settings,
                seeds=range(study.seed, study.seed + exp.repeats),
                shots=exp.shots,
                methods=exp.methods,
                global_steps=exp.global_steps,
                rf_trees=exp.rf_trees,
                protocols=exp.protocols,
                area_split=area_split,
                n_jobs=n_jobs,
                sample_values=values,
                return_runs=True,
                importance_trees=IMPORTANCE_TREES,
            )
    except ValueError as err:
        raise SamplingError(f"meta_blockwise.experiment: {err}") from None


def run_meta_blockwise(study: Study, out_dir: Path | None = None) -> MetaStudyResult:
    """Run ``study`` by block-wise meta-learning (paper 004) and write its outputs (see the module docstring).

    Raises
    ------
    SusmapError
        Any bad input (settings, torch missing, too few samples in the
        blocks); nothing is written to ``out_dir`` then.
    """
    from susmap.mapping import write_lazy_raster
    from susmap.meta import (
        block_map_png,
        block_polygons,
        fit_blockwise,
        values_at,
        write_block_polygons,
    )
    from susmap.meta.figures import few_shot_png, meta_history_png
    from susmap.report.document import Facts, Figure, ReportSection, Table, Text
    from susmap.report.tables import paper004_table, to_markdown
    from susmap.stages.report import (
        class_table_blocks,
        data_section,
        methods_section,
        new_document,
        reproducibility_section,
        summary_section,
        write_report_files,
    )

    settings = _settings(study)
    cfg = study.meta_blockwise
    out_dir = Path(out_dir or study.outputs.directory)
    timer = Timer()
    t_start = time.perf_counter()
    with OutputFolder(out_dir, inputs=input_files(study)) as out, dask_scheduler(study):
        stack, samples, counts = stack_and_samples(study, out, timer)
        grid = stack.grid
        arr, bands, parents = meta_inputs(stack)
        rows, cols = samples["row"].to_numpy(), samples["col"].to_numpy()
        with timer.stage("factor class tables"):
            tables = factor_class_tables(stack, samples, stack.names, seed=study.seed)
            class_tables_frame(tables).to_csv(out.path("factor_class_tables.csv"), index=False)
        with timer.stage("factor weights"):
            x = values_at(arr, rows, cols)  # read once, passed on
            ok = np.isfinite(x).all(axis=1)
            y = samples["label"].to_numpy(dtype=int)
            if ok.sum() == 0 or np.unique(y[ok]).size < 2:
                raise SamplingError("method meta-blockwise needs samples of both classes with complete factors")
            weights = _segmentation_weights(study, x[ok], y[ok], bands, parents, out)
        with timer.stage("meta-learning"):  # SLIC segmentation, pretraining, meta-training, adaptation
            try:
                result = fit_blockwise(arr, samples, None, settings, study.seed, weights=weights, sample_values=x)
            except ValueError as err:
                raise SamplingError(f"method meta-blockwise: {err}") from None
        block_ids = result.block_ids
        log.info("%d blocks (SLIC, %d requested)", int(block_ids.max()), settings.n_blocks)
        for stage, seconds in result.timings.items():
            timer.timings[f"meta-learning: {stage}"] = round(seconds, 3)
        samples["block_id"] = block_ids[rows, cols]
        role = {b: "train" for b in result.train_blocks} | {b: "test" for b in result.test_blocks}
        samples["meta_task"] = [role.get(int(b), "") if k else "" for b, k in zip(samples["block_id"], ok, strict=True)]

        with timer.stage("write blocks"):
            write_samples(samples, stack, out)
            write_lazy_raster(
                out.path("blocks.tif"),
                da.from_array(block_ids, chunks=study.mapping.chunk_size),
                grid,
                dtype="int32",
                nodata=0,
                description="block id (SLIC scene segmentation, paper 004 section 4.3.1)",
                tags={"n_blocks": str(int(block_ids.max()))},
                compress=study.outputs.compress,
            )
            summary = _block_summary(block_ids, samples, result, grid.cell_area)
            summary.to_csv(out.path("block_summary.csv"), index=False)
            polys = block_polygons(block_ids, grid.transform, grid.crs.to_wkt())
            polys = polys.merge(summary.drop(columns="n_cells"), on="block_id", how="left")
            write_block_polygons(polys, out.path("blocks.gpkg"))
            block_map_png(
                block_ids,
                out.path("blocks.png"),
                transform=grid.transform,
                events=samples,
                title=f"{study.name}: {int(block_ids.max())} blocks (SLIC, M = {settings.compactness:g})",
                seed=study.seed,
            )
            result.pretrain_history.to_csv(out.path("pretrain_history.csv"), index=False)
            result.meta_history.to_csv(out.path("meta_history.csv"), index=False)
            result.validation.to_csv(out.path("meta_validation.csv"), index=False)
            meta_history_png(result.meta_history, out.path("meta_training.png"), title=f"{study.name}: meta-training")

        table = edges = n_mapped = None
        if study.mapping.enabled:
            with timer.stage("predict map"):
                write_lazy_raster(
                    out.path("probability.tif"),
                    result.predict_lazy(arr),
                    grid,
                    description="susceptibility: probability of an event (block-wise meta-learning, paper 004)",
                    tags={"model": "meta-blockwise", "units": "probability [0-1]"},
                    compress=study.outputs.compress,
                )
            table, edges, n_mapped = classify_and_draw(
                study,
                stack,
                samples,
                out,
                timer,
                f"{study.name}: block-wise meta-learning ({int(block_ids.max())} blocks)",
                boundaries=block_ids,
            )
            with timer.stage("gis styles and project"):
                write_gis_package(study, stack, samples, out, edges)

        few, few_table = None, None
        if cfg.experiment.enabled:
            with timer.stage("few-shot experiment"):
                few, runs = _few_shot(study, arr, samples, x, block_ids, settings, out, grid)
                few_table = paper004_table(few)
                few.to_csv(out.path("few_shot.csv"), index=False)
                runs.to_csv(out.path("few_shot_runs.csv"), index=False)
                few_table.to_csv(out.path("few_shot_table.csv"), index=False)
                out.path("few_shot_table.md").write_text(to_markdown(few_table) + "\n", encoding="utf-8")
                few_shot_png(few, out.path("few_shot.png"), title=study.name)

        info = {**result.info, "dropped_samples": result.dropped_samples}
        metrics = {
            "method": "meta-blockwise",
            "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(settings).items()},
            "samples": counts,
            "blocks": info,
            "meta_test_validation_oa": float(result.validation["oa"].mean()) if len(result.validation) else None,
        }
        if few is not None:
            metrics["few_shot"] = few.to_dict(orient="records")
        write_metrics(out, study, metrics, table, edges, n_mapped)
        timer.timings["total"] = round(time.perf_counter() - t_start, 3)
        write_provenance(out.path("provenance.json"), study, timer.timings, samples=counts, blocks=info)
        doc = new_document(f"Susceptibility report: {study.name}", study)
        doc.sections.append(
            summary_section(
                study,
                stack,
                counts,
                None,
                model=None,
                method="block-wise meta-learning (paper 004)",
                figure="susceptibility_map.png" if table is not None else None,
            )
        )
        doc.sections.append(data_section(study, stack, counts, mapped_cells=n_mapped))
        methods = methods_section(study, models=())
        methods.subsections[0] = ReportSection("methods-models", "Block-wise meta-learning (paper 004)").add(
            Facts(
                [
                    ("Inputs", ", ".join(bands)),
                    ("Pretraining", "RBM-RBM-DAE, greedy layer-wise" if settings.pretrain else "none"),
                    (
                        "Blocks",
                        f"SLIC segmentation, {settings.n_blocks} requested, compactness M = {settings.compactness:g}",
                    ),
                    (
                        "Meta-training",
                        f"{settings.meta_iterations} meta-batches of {settings.meta_batch_size} tasks, meta lr "
                        f"{settings.meta_lr:g}, inner lr {settings.inner_lr:g} x {settings.inner_steps} steps, "
                        f"{'first' if settings.first_order else 'second'}-order, "
                        f"{'eq. 6 task weights' if settings.task_weighting else 'unweighted'}",
                    ),
                    ("Preset", f"{cfg.preset}: see `susmap models` for its source and deviations"),
                ]
            )
        )
        doc.sections.append(methods)
        results = ReportSection("results", "Results")
        results.subsections.append(
            ReportSection("results-blocks", "Blocks").add(
                Facts(
                    [
                        (
                            "Blocks",
                            f"{info['n_blocks']} blocks, {info['n_tasks']} with samples "
                            f"({len(result.train_blocks)} meta-train, {len(result.test_blocks)} meta-test)",
                        )
                    ]
                ),
                Text(
                    "SLIC segmentation of the weighted, standardized factors; each block with samples is a "
                    "few-shot task, adapted from the meta-learned intermediate model.",
                    kind="note",
                ),
                Table(summary, "Blocks"),
                Figure("blocks.png", "Blocks of the scene segmentation with the events"),
                Figure("meta_training.png", "Meta-training curve"),
            )
        )
        if few_table is not None:
            results.subsections.insert(
                0,
                ReportSection("results-few-shot", "Few-shot overall accuracy (paper 004 Tables 3-7)").add(
                    Text(
                        f"OA [%] on the query samples of the meta-test blocks after adapting with K labelled "
                        f"samples per class, mean ± sd over {cfg.experiment.repeats} repeats. Protocols: all = part "
                        "of the blocks against the rest; A-D = two areas (A: part of area 1 against the rest of area "
                        "1; B: area 1 against area 2; C: parts of both against the rest of area 1; D: area 1 and "
                        "part of area 2 against the rest of area 2).",
                        kind="note",
                    ),
                    Table(few_table, "Few-shot OA"),
                    Figure("few_shot.png", "Few-shot OA against K"),
                ),
            )
        if table is not None:
            results.subsections.append(
                ReportSection("results-map", "Susceptibility map").add(
                    Figure("susceptibility_map.png", "Susceptibility classes with block boundaries and the events"),
                    *class_table_blocks(table, None),
                )
            )
        doc.sections.append(results)
        extra = ["report.html", *(["report.pdf"] if study.outputs.pdf else [])]
        doc.sections.append(reproducibility_section(study, timer.timings, out.staging, extra_files=extra))
        write_report_files(out, study, doc)
        committed = out.commit()
    return MetaStudyResult(
        out_dir=out.final,
        files=committed,
        samples=samples,
        block_ids=block_ids,
        info=info,
        few_shot=few,
        class_table=table,
        timings=timer.timings,
    )


register_runner(
    Runner(
        name="meta-blockwise",
        run=run_meta_blockwise,
        description="paper 004: SLIC blocks, pretraining, task-weighted MAML, block-wise adaptation and mosaic",
    )
)
