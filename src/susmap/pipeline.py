"""Run a whole study: stack → samples → cross-validation → map → classes → report.

Each stage is a library call of its own module; this module only wires them
together, times them and writes the outputs (all staged, then moved into the
output folder at the end, see :class:`susmap.outputs.OutputFolder`).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dask
import geopandas as gpd
import numpy as np
import pandas as pd
import yaml
from sklearn.base import clone

from susmap.analysis import class_area_counts, factor_class_tables
from susmap.errors import StudyConfigError
from susmap.factors.derive import DerivedFactor, derive_factors, factor_context
from susmap.factors.summary import correlation_matrix, factor_moments, factor_statistics, plot_correlation
from susmap.inventory import inventory_cells, read_inventory
from susmap.mapping import (
    class_table,
    classify_raster,
    compute_breaks,
    predict_stack,
    sample_raster,
    write_lazy_raster,
)
from susmap.mapping.figures import plot_class_map
from susmap.models import get_model, make_estimator, make_pipeline
from susmap.models.windows import WindowSource
from susmap.outputs import OutputFolder, file_sha256, package_versions, write_json
from susmap.report import cv_summary_table, write_report
from susmap.sampling import build_samples
from susmap.stack import Stack, open_layer, open_stack
from susmap.study import Study
from susmap.validation import METRIC_NAMES, cross_validate_models, make_splitter

__all__ = [
    "MAP_FILES",
    "OUTPUT_FILES",
    "FactorsResult",
    "StudyResult",
    "run_factors",
    "run_study",
    "write_history",
    "write_model_formula",
]

log = logging.getLogger(__name__)

HILLSHADE_NAMES = ("elev", "elevation", "dem", "dtm", "altitude")

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
MAP_FILES = ("probability.tif", "classes.tif", "class_table.csv", "susceptibility_map.png")


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


@dataclass
class FactorsResult:
    """What ``run_factors`` produced."""

    out_dir: Path
    files: list[Path]
    summary: pd.DataFrame
    correlation: pd.DataFrame
    derived: list[DerivedFactor]


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        log.info("%s ...", name)
        yield
        self.timings[name] = round(time.perf_counter() - t0, 3)
        log.info("%s done in %.1f s", name, self.timings[name])


@contextlib.contextmanager
def _scheduler(study: Study) -> Iterator[None]:
    sched = study.compute.scheduler
    if sched in ("threads", "synchronous"):
        opts = {"scheduler": sched}
        if study.compute.num_workers and sched == "threads":
            opts["num_workers"] = study.compute.num_workers
        with dask.config.set(**opts):
            yield
        return
    try:
        from distributed import Client
    except ImportError:
        raise StudyConfigError(
            f"compute.scheduler: {sched!r} needs dask.distributed; install susmap[cluster]"
        ) from None
    try:
        client = Client(sched, timeout="10s", set_as_default=False)
    except OSError as err:
        raise StudyConfigError(f"compute.scheduler: cannot reach {sched!r} ({err})") from None
    with client, dask.config.set(scheduler=client.get):
        yield


def write_history(model, folder: Path, label: str) -> list[Path]:
    """Write a fitted deep model's training history (``<label>.csv`` and ``.png``); nothing for other models."""
    final = model[-1] if hasattr(model, "steps") else model
    history = getattr(final, "history_", None)
    if history is None:
        return []
    from susmap.models.torch_base import plot_history

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / f"{label}.csv"
    history.to_csv(csv, index=False)
    return [csv, plot_history(history, folder / f"{label}.png", title=f"{label}: training history")]


def write_model_formula(model, names: list[str], folder: Path, label: str) -> list[Path]:
    """Write a fitted weight-vector network as a formula (paper 002 eqs. 6-7); nothing for other models."""
    final = model[-1] if hasattr(model, "steps") else model
    if not hasattr(final, "coefs_") or not hasattr(final, "data_min_"):
        return []
    from susmap.models.formula import write_formula

    inputs = list(names)
    if hasattr(model, "steps") and len(model.steps) > 1:
        pre = model[:-1]
        extra = ["row", "col"][: max(0, int(pre.n_features_in_) - len(names))]  # patch-model cell columns, dropped
        inputs = [str(n) for n in pre.get_feature_names_out([*names, *extra])]
    return write_formula(final, inputs, folder, label)


def _pick_model(study: Study, summary: pd.DataFrame) -> str:
    if study.mapping.model != "best":
        return study.mapping.model
    first = study.validation.scheme_labels[0]
    auc = summary[(summary["scheme"] == first) & (summary["metric"] == "auroc")]
    if auc["mean"].notna().any():
        return str(auc.loc[auc["mean"].idxmax(), "model"])
    return study.models[0].display_name


def _hillshade_dem(study: Study, stack: Stack, max_pixels: int = 1200) -> np.ndarray | None:
    name = study.mapping.hillshade
    if name is None:
        name = next((n for n in stack.names if n.lower() in HILLSHADE_NAMES), None)
    if name is None or name not in stack.names:
        return None
    step = max(1, int(np.ceil(max(stack.grid.shape) / max_pixels)))
    return np.asarray(stack.data.sel(factor=name)[::step, ::step].values)


def _input_files(study: Study) -> list[Path]:
    paths = [study.grid.template, *(layer.path for layer in study.layers), study.inventory.path]
    if study.dem.path is not None:
        paths.append(study.dem.path)
    base = study.base_dir or Path.cwd()
    for f in study.factors:  # vector files and the like named in factor parameters
        for value in f.params.values():
            if isinstance(value, str) and value and (base / value).is_file():
                paths.append((base / value).resolve())
    if study.source is not None:
        paths.append(Path(study.source))
    seen: dict[str, Path] = {}
    for p in paths:
        seen.setdefault(str(Path(p).resolve()), Path(p))
    return list(seen.values())


@dataclass
class _Prepared:
    """A study's data, ready for models: stack, sample table, design matrix, unfitted pipelines.

    ``X`` holds the factor values of the samples; ``design`` is what the
    pipelines are fitted on: ``X`` itself, or, when a patch model reads
    factor windows, ``X`` with the cells' row and column appended (tabular
    pipelines ignore those two columns).
    """

    stack: Stack
    samples: pd.DataFrame
    counts: dict[str, int]
    names: list[str]
    X: np.ndarray
    y: np.ndarray
    coords: np.ndarray
    pipelines: dict[str, object]
    make: object  # make(model_config, factor_names) -> unfitted pipeline for a subset of factors
    design: np.ndarray
    windows: WindowSource | None = None

    def cell_design(self, values: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The design matrix of arbitrary cells (factor ``values`` at ``rows``, ``cols``)."""
        if self.windows is None:
            return values
        return np.column_stack([values, rows, cols]).astype(np.float64)

    def tabular(self) -> dict[str, object]:
        """The pipelines of models that read cell values only (for analyses on factor subsets)."""
        return {label: p for label, p in self.pipelines.items() if not _reads_windows(p)}


def _reads_windows(pipeline) -> bool:
    return getattr(pipeline[-1] if hasattr(pipeline, "steps") else pipeline, "window_source", None) is not None


def _window_source(study: Study, stack: Stack, samples: pd.DataFrame) -> WindowSource | None:
    """Windows of the sample cells for patch models (largest window size any model asks for), or None."""
    sizes = []
    for m in study.models:
        if get_model(m.name).inputs == "windows":
            sizes.append(int(getattr(make_estimator(m.name, m.params, seed=study.seed), "window_size", 1)))
    if not sizes:
        return None
    prefetch = (samples["row"].to_numpy(), samples["col"].to_numpy(), max(sizes))
    return WindowSource(stack.data.data, stack.names, stack.kinds, prefetch=prefetch)


def _stack_and_samples(study: Study, out: OutputFolder, timer: _Timer) -> tuple[Stack, pd.DataFrame, dict[str, int]]:
    """Derive the study's factors (into ``factors/``), open the stack and draw the samples."""
    layers = list(study.layers)
    if study.factors:
        with timer.stage("derive factors"):
            derived = derive_factors(study, out.path("factors/.keep").parent)
            layers += [d.as_layer() for d in derived]
    with timer.stage("stack"):
        stack = open_stack(study.grid, layers, study.alignment, chunks=study.mapping.chunk_size)
        log.info("grid %d x %d cells, %d valid, %d factors", *stack.grid.shape, stack.n_valid, len(stack.names))
    with timer.stage("samples"):
        samples, counts = _samples(study, stack)
    return stack, samples, counts


def _write_samples(samples: pd.DataFrame, stack: Stack, out: OutputFolder) -> None:
    """``samples.csv`` and ``samples.gpkg`` (points in the grid's CRS)."""
    samples.to_csv(out.path("samples.csv"), index=False)
    gpd.GeoDataFrame(
        samples, geometry=gpd.points_from_xy(samples["x"], samples["y"]), crs=stack.grid.crs.to_wkt()
    ).to_file(out.path("samples.gpkg"), driver="GPKG", layer="samples")


def _classified_map(
    study: Study,
    stack: Stack,
    samples: pd.DataFrame,
    out: OutputFolder,
    timer: _Timer,
    title: str,
    *,
    boundaries: np.ndarray | None = None,
) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Classify ``probability.tif`` into ``classes.tif``, ``class_table.csv`` and ``susceptibility_map.png``.

    Returns the class table, the class edges and the number of mapped cells.
    ``boundaries`` (block ids, 0 = none) are drawn as lines on the PNG.
    """
    prob_path = out.path("probability.tif")
    with timer.stage("classify"):
        sample, vmin, vmax, n_mapped = sample_raster(prob_path, study.mapping.class_sample, seed=study.seed)
        edges = compute_breaks(study.mapping.classification, sample, study.mapping.n_classes, vmin=vmin, vmax=vmax)
        ev = samples[samples["label"] == 1]
        cells, ev_classes = classify_raster(
            prob_path,
            out.path("classes.tif"),
            edges,
            stack.grid,
            event_rows=ev["row"].to_numpy(),
            event_cols=ev["col"].to_numpy(),
            compress=study.outputs.compress,
        )
        table = class_table(cells, ev_classes, edges, stack.grid.cell_area)
        table.to_csv(out.path("class_table.csv"), index=False)
    with timer.stage("figure"):
        plot_class_map(
            out.path("classes.tif"),
            out.path("susceptibility_map.png"),
            dem=_hillshade_dem(study, stack),
            title=f"{title}, {study.mapping.classification.replace('_', ' ')}",
            events_xy=(ev["x"].to_numpy(), ev["y"].to_numpy()),
            boundaries=boundaries,
        )
    return table, edges, n_mapped


def _prepare(study: Study, out: OutputFolder, timer: _Timer) -> _Prepared:
    """Derive factors, open the stack, draw samples, build every model's pipeline, write class tables."""
    stack, samples, counts = _stack_and_samples(study, out, timer)
    names = stack.names
    with timer.stage("windows"):
        windows = _window_source(study, stack, samples)
    encodings = study.encodings
    # label-free class areas over the whole raster, for frequency-ratio encoding (paper 001 eq. 17)
    area_shares = {f: class_area_counts(stack, f) for f, e in encodings.items() if e == "frequency_ratio"}

    def make(model, factor_names):
        return make_pipeline(
            model.name,
            model.params,
            factor_names=list(factor_names),
            kinds=stack.kinds,
            seed=study.seed,
            encodings=encodings,
            area_shares=area_shares,
            windows=windows,
        )

    with timer.stage("factor class tables"):
        tables = factor_class_tables(stack, samples, names, seed=study.seed)
        _class_tables_frame(tables).to_csv(out.path("factor_class_tables.csv"), index=False)
    X = samples[names].to_numpy(dtype=np.float64)  # noqa: N806
    design = X if windows is None else samples[[*names, "row", "col"]].to_numpy(dtype=np.float64)
    return _Prepared(
        stack=stack,
        samples=samples,
        counts=counts,
        names=names,
        X=X,
        y=samples["label"].to_numpy(dtype=int),
        coords=samples[["x", "y"]].to_numpy(),
        pipelines={m.display_name: make(m, names) for m in study.models},
        make=make,
        design=design,
        windows=windows,
    )


def _splitters(study: Study, prep: _Prepared, *, n_repeats: int | None = None) -> list[tuple[str, object]]:
    """(label, splitter) of every validation scheme of the study, on the prepared samples."""
    val = study.validation
    out = []
    for cfg in val.scheme_configs:
        params = cfg.params
        if cfg.regions is not None:
            params = {"block_ids": _region_ids(cfg.regions, cfg.region_field, prep)}
        splitter = make_splitter(
            cfg.name,
            coords=prep.coords,
            n_splits=val.folds,
            n_repeats=val.repeats if n_repeats is None else n_repeats,
            seed=study.seed,
            X=prep.X,
            **params,
        )
        out.append((cfg.display_name, splitter))
    return out


def _region_ids(path: Path, field: str | None, prep: _Prepared) -> np.ndarray:
    """The region (polygon) each sample lies in, for leave-one-region-out validation."""
    from susmap.errors import InputFileError, SamplingError

    if not Path(path).exists():
        raise InputFileError(f"{path}: regions file not found")
    regions = gpd.read_file(path)
    if regions.crs is None:
        raise SamplingError(f"{path}: the regions have no CRS")
    if field is not None and field not in regions.columns:
        raise StudyConfigError(f"{path}: region_field {field!r} not found (columns: {', '.join(regions.columns)})")
    regions = regions.to_crs(prep.stack.grid.crs.to_wkt())
    points = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(prep.coords[:, 0], prep.coords[:, 1]), crs=prep.stack.grid.crs.to_wkt()
    )
    joined = gpd.sjoin(points, regions, how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    ids = joined[field] if field is not None else joined["index_right"]
    if ids.isna().any():
        raise SamplingError(f"{path}: {int(ids.isna().sum())} samples lie in no region; regions must cover the samples")
    return ids.astype(str).to_numpy()


def _samples(study: Study, stack: Stack) -> tuple[pd.DataFrame, dict[str, int]]:
    """The study's sample table on ``stack`` (events, and absences for presence-only inventories)."""
    gdf = read_inventory(study.inventory, stack.grid)
    events = inventory_cells(gdf, study.inventory, stack)
    return build_samples(
        stack,
        events,
        study.sampling,
        seed=study.seed,
        inventory_path=study.inventory.path,
        label_column=study.inventory.label,
    )


def _class_tables_frame(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One long table (paper 000 Table 1 layout): factor, class, label, cells, area, events, FR."""
    frames = []
    for name, table in tables.items():
        frame = table.assign(factor=name)[["factor", *table.columns]]
        frame.attrs = {}  # per-table metadata (edges) would stop pandas from concatenating
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _write_metrics(
    out: OutputFolder,
    study: Study,
    metrics: dict,
    table: pd.DataFrame | None,
    edges: np.ndarray | None,
    n_mapped: int | None,
) -> None:
    """``metrics.json`` (with the map's classes when there is a class table) and the resolved ``study.yaml``."""
    if table is not None:
        metrics["classes"] = {
            "method": study.mapping.classification,
            "edges": [float(e) for e in edges],
            "mapped_cells": n_mapped,
            "table": table.to_dict(orient="records"),
        }
    write_json(out.path("metrics.json"), metrics)
    out.path("study.yaml").write_text(yaml.safe_dump(study.model_dump(mode="json"), sort_keys=False), encoding="utf-8")


def _write_provenance(path: Path, study: Study, timings: dict[str, float], **extra: object) -> None:
    write_json(
        path,
        {
            "study": study.model_dump(mode="json"),
            "study_file": str(study.source) if study.source else None,
            "seed": study.seed,
            "command": sys.argv,
            "versions": package_versions(),
            "inputs": {str(p): {"sha256": file_sha256(p), "bytes": p.stat().st_size} for p in _input_files(study)},
            "timings_s": timings,
            **extra,
        },
    )


def run_factors(study: Study, out_dir: Path | None = None) -> FactorsResult:
    """Derive the study's factors and summarise every factor (input layers and derived).

    Writes ``factors/<name>.tif`` for each derived factor, ``factor_summary.csv``
    (units, description, min, max, mean, std, valid and nodata cells),
    ``factor_correlation.csv`` and ``factor_correlation.png`` (Pearson r over
    cells where all factors have data), ``factor_class_tables.csv`` (area,
    events and frequency ratio per class of every factor, paper 000 Table 1)
    and ``provenance.json``.
    """
    out_dir = Path(out_dir or study.outputs.directory)
    timer = _Timer()
    with OutputFolder(out_dir) as out, _scheduler(study):
        with timer.stage("derive factors"):
            derived = derive_factors(study, out.path("factors/.keep").parent)
        with timer.stage("summary"):
            ctx, _ = factor_context(study)
            arrays = {name: arr.data for name, arr in ctx.layers.items()}
            meta = {layer.name: {"source": str(layer.path), "kind": layer.kind, "units": ""} for layer in study.layers}
            for d in derived:
                arrays[d.name] = open_layer(d.as_layer(), ctx.grid, study.alignment, chunks=study.mapping.chunk_size)
                meta[d.name] = {"source": d.factor, "kind": d.kind, "units": d.units, "description": d.description}
            moments = factor_moments(arrays)
            summary = factor_statistics(arrays, meta, moments)
            corr = correlation_matrix(arrays, moments)
            summary.to_csv(out.path("factor_summary.csv"), index=False)
            corr.to_csv(out.path("factor_correlation.csv"), index_label="factor")
            plot_correlation(corr, out.path("factor_correlation.png"), title=f"{study.name}: Pearson r of factors")
        with timer.stage("factor class tables"):
            layers = [*study.layers, *(d.as_layer() for d in derived)]
            stack = open_stack(study.grid, layers, study.alignment, chunks=study.mapping.chunk_size)
            samples, _ = _samples(study, stack)
            tables = factor_class_tables(stack, samples, stack.names, seed=study.seed)
            _class_tables_frame(tables).to_csv(out.path("factor_class_tables.csv"), index=False)
        _write_provenance(out.path("provenance.json"), study, timer.timings)
        committed = out.commit()
    return FactorsResult(out_dir=out.final, files=committed, summary=summary, correlation=corr, derived=derived)


def run_study(study: Study, out_dir: Path | None = None) -> StudyResult:
    """Run ``study`` end to end and write its outputs to ``out_dir`` (default: the study's).

    Outputs: ``samples.gpkg``/``samples.csv`` (x, y, row, col, label, factors,
    fold ids), ``cv_scores.csv`` (per fold), ``cv_summary.csv``,
    ``metrics.json``, ``probability.tif`` (float32, NaN nodata),
    ``classes.tif`` (uint8, 0 nodata), ``class_table.csv``,
    ``susceptibility_map.png``, ``report.html``, ``provenance.json``,
    ``study.yaml`` (the resolved study).

    A study with ``method: meta-blockwise`` runs paper 004's block-wise
    meta-learning instead (:func:`susmap.meta_study.run_meta_blockwise`) and
    returns a :class:`susmap.meta_study.MetaStudyResult`.

    Raises
    ------
    SusmapError
        Any bad input; nothing is written to ``out_dir`` then.
    """
    if study.method == "meta-blockwise":
        from susmap.meta_study import run_meta_blockwise

        return run_meta_blockwise(study, out_dir)
    out_dir = Path(out_dir or study.outputs.directory)
    timer = _Timer()
    t_start = time.perf_counter()
    # Fail on model names or parameters before reading any data.
    for m in study.models:
        make_estimator(m.name, m.params, seed=study.seed)
    with OutputFolder(out_dir) as out, _scheduler(study):
        prep = _prepare(study, out, timer)
        stack, samples, counts, names = prep.stack, prep.samples, prep.counts, prep.names
        X, y, coords, pipelines = prep.design, prep.y, prep.coords, prep.pipelines  # noqa: N806
        with timer.stage("cross-validation"):
            cv = cross_validate_models(
                X,
                y,
                coords,
                pipelines,
                schemes=_splitters(study, prep),
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
            _write_samples(samples, stack, out)
            cv.scores.to_csv(out.path("cv_scores.csv"), index=False)
            cv.summary.to_csv(out.path("cv_summary.csv"), index=False)

        mapped, table, edges, n_mapped = None, None, None, None
        if study.mapping.enabled:
            mapped = _pick_model(study, cv.summary)
            spec = next(m for m in study.models if m.display_name == mapped)
            log.info("mapping with %s", mapped)
            with timer.stage("fit"):
                model = clone(pipelines[spec.display_name]).fit(X, y)
                write_history(model, out.path("histories/.keep").parent, mapped)
                write_model_formula(model, names, out.path("formulas/.keep").parent, mapped)
            with timer.stage("predict map"):
                prob_path = out.path("probability.tif")
                write_lazy_raster(
                    prob_path,
                    predict_stack(stack, model),
                    stack.grid,
                    description=f"susceptibility: probability of an event ({mapped})",
                    tags={"model": mapped, "units": "probability [0-1]"},
                    compress=study.outputs.compress,
                )
            table, edges, n_mapped = _classified_map(
                study, stack, samples, out, timer, f"{study.name}: susceptibility ({mapped})"
            )

        metrics = {
            "validation": {
                "schemes": study.validation.scheme_labels,
                "folds": study.validation.folds,
                "repeats": study.validation.repeats,
                "threshold": study.validation.threshold,
            },
            "scores": {
                scheme: {
                    model: {
                        row.metric: {"mean": row.mean, "sd": row.sd, "n_folds": int(row.n_folds)}
                        for row in grp.itertuples()
                    }
                    for model, grp in sgrp.groupby("model", sort=False)
                }
                for scheme, sgrp in cv.summary.groupby("scheme", sort=False)
            },
            "samples": counts,
            "mapped_model": mapped,
        }
        _write_metrics(out, study, metrics, table, edges, n_mapped)
        timer.timings["total"] = round(time.perf_counter() - t_start, 3)
        files = [*sorted(p.name for p in out.staging.iterdir()), "report.html", "provenance.json"]
        facts = {
            "study": study.name,
            "grid": f"{stack.grid.height} x {stack.grid.width} cells of {stack.grid.res[0]:g} m, "
            f"{stack.grid.crs.to_string()}",
            "factors": ", ".join(names),
            "samples": f"{counts['events']} events, {counts['non_events']} non-events",
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
        )
        _write_provenance(out.path("provenance.json"), study, timer.timings, samples=counts)
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
