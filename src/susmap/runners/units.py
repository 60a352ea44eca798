"""``method: models`` on mapping units: polygons, slope units or a table of units instead of grid cells.

``mapping_unit.kind``:

- ``polygons``: a vector file of units. Factors per unit are zonal
  statistics of the stack's layers with exact cell coverage fractions
  (:func:`susmap.units.zonal.zonal_statistics`); labels come from the
  inventory by the rule ``mapping_unit.label``
  (:func:`susmap.units.labels.unit_labels`).
- ``slope_units``: units delineated from the DEM (``dem.path`` or the grid
  template) by :func:`susmap.units.delineate_slope_units` (Alvioli et al.
  2016), written to ``slope_units.gpkg``/``slope_units.tif``, then as polygons.
- ``table``: a CSV or GeoPackage of units with factor columns and a 0/1
  label column; no raster is read.

Then as the cell runner: every model cross-validated on the same folds
(spatial schemes on the unit centroids; ``buffered_loo`` and ``disc`` also
leave the neighbours of the test units out of training), every model fitted
on all units, a probability and a class per unit and model (classes by
:func:`susmap.mapping.breaks.compute_breaks` on the units' probabilities),
class tables by unit count and area, the report.
"""

from __future__ import annotations

import logging
import math
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyogrio
import rasterio
import rasterio.features
import shapely
import yaml
from matplotlib.colors import ListedColormap
from sklearn.base import clone

from susmap.errors import InputFileError, StudyConfigError
from susmap.factors.derive import derive_factors
from susmap.inventory import read_inventory
from susmap.mapping import class_names, compute_breaks
from susmap.mapping.classes import assign_classes
from susmap.mapping.figures import add_map_furniture
from susmap.mapping.palette import class_colors, probability_ramp
from susmap.mapping.writer import write_failure
from susmap.models import get_model, make_pipeline
from susmap.models.registry import check_models, check_tuning
from susmap.outputs import OutputFolder, write_json
from susmap.report.document import Facts, Figure, ReportSection, Table, Text
from susmap.report.qgis import pseudocolor_qml, write_xml
from susmap.stack import Stack, open_stack
from susmap.stages import dask_scheduler, input_files, pick_mapped_model, region_ids, scores_by_scheme
from susmap.stages.compute import parallel_jobs
from susmap.stages.records import write_provenance
from susmap.stages.report import (
    alerts,
    cv_table,
    methods_section,
    new_document,
    reproducibility_section,
    write_report_files,
)
from susmap.study import Study
from susmap.timing import Timer
from susmap.units import SlopeUnitParameters, delineate_slope_units, slope_units_to_gpkg
from susmap.units.adjacency import NeighboursLeftOut, overlap_area, unit_adjacency, unit_centroids
from susmap.units.labels import LabelRule, parse_label_rule, unit_labels
from susmap.units.zonal import statistics_plan, zonal_statistics
from susmap.validation import cross_validate_models
from susmap.validation.curve_figures import plot_roc_curves
from susmap.validation.splitters import make_splitter
from susmap.validation.warnings import StudyWarning, log_warnings, validation_warnings, warnings_json

__all__ = [
    "SPATIAL_SCHEMES",
    "UNIT_FILES",
    "UnitData",
    "UnitsResult",
    "check_unit_study",
    "class_table_units",
    "prepare_units",
    "run_units_study",
    "unit_factor_class_tables",
    "unit_inventory_warnings",
    "unit_pipelines",
    "unit_splitters",
    "units_data_section",
    "units_qml",
    "units_summary_section",
]

log = logging.getLogger(__name__)

#: Files every unit study writes.
UNIT_FILES = (
    "units.csv",
    "cv_scores.csv",
    "cv_summary.csv",
    "class_table_units.csv",
    "factor_class_tables.csv",
    "roc.png",
    "metrics.json",
    "report.html",
    "provenance.json",
    "study.yaml",
)
#: Files a study on polygon or slope units adds.
POLYGON_FILES = ("units.gpkg", "units.qml", "probability.tif", "probability.qml", "units_map.png")
#: Schemes that need the units' coordinates.
SPATIAL_SCHEMES = ("spatial", "blocks", "buffered_loo", "disc", "regions")
#: Schemes whose training parts also leave out the test units' neighbours.
BUFFERED_SCHEMES = ("buffered_loo", "disc")
_ID, _LABEL = "unit_id", "label"


@dataclass
class UnitData:
    """The units of a study, ready for models.

    ``frame`` holds the unit id (``mapping_unit.id_field``, else ``unit_id``),
    ``label``, the factor columns ``names`` and, for polygons, ``area_m2``, ``cells`` (covered valid cells), ``events``
    and ``event_area_share``; ``coords`` are the centroids [m] (None for a
    table without coordinates); ``adjacency`` the unit neighbours (None
    without polygons).
    """

    frame: pd.DataFrame
    names: list[str]
    kinds: dict[str, str]
    coords: np.ndarray | None
    geometry: gpd.GeoSeries | None = None
    adjacency: object | None = None
    stack: Stack | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def X(self) -> np.ndarray:  # noqa: N802
        return self.frame[self.names].to_numpy(dtype=np.float64)

    @property
    def y(self) -> np.ndarray:
        return self.frame[_LABEL].to_numpy(dtype=np.int64)


@dataclass
class UnitsResult:
    """What a unit study produced: the output folder, its files, the unit table, scores and timings [s]."""

    out_dir: Path
    files: list[Path]
    units: pd.DataFrame
    cv_summary: pd.DataFrame
    class_table: pd.DataFrame
    mapped_model: str
    counts: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)


def run_units_study(study: Study, out_dir: Path | None = None) -> UnitsResult:
    """Run a study whose ``mapping_unit.kind`` is polygons, slope_units or table; outputs to ``out_dir``.

    Outputs: ``units.csv`` (id, label, factors, fold ids, probability and
    class per model), ``cv_scores.csv``, ``cv_summary.csv``,
    ``class_table_units.csv`` (per class: units, area, landslide units),
    ``metrics.json``, ``report.html``, ``provenance.json``, ``study.yaml``;
    for polygons and slope units also ``units.gpkg`` (styled by the mapped
    model's class, ``units.qml``), ``probability.tif`` (the mapped model's
    probability rasterized on the grid, cell centres) and
    ``probability.qml``; for slope units ``slope_units.gpkg``/``.tif``.

    Raises
    ------
    SusmapError
        Any bad input; nothing is written to ``out_dir`` then.
    """
    mu = study.mapping_unit
    check_unit_study(study, "run_units_study")
    out_dir = Path(out_dir or study.outputs.directory)
    timer = Timer()
    t_start = time.perf_counter()
    polygons = mu.kind != "table"
    writes = (*UNIT_FILES, *(POLYGON_FILES if polygons else ()))
    inputs = _inputs(study)
    with OutputFolder(out_dir, inputs=inputs, writes=writes) as out, dask_scheduler(study):
        data, rule = prepare_units(study, out, timer)
        X, y = data.X, data.y  # noqa: N806
        pipelines = unit_pipelines(study, data)
        splitters = unit_splitters(study, data)
        with timer.stage("cross-validation"), parallel_jobs(study.validation.n_jobs, "validation.n_jobs") as n_jobs:
            cv = cross_validate_models(
                X,
                y,
                data.coords,
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
        frame = data.frame
        for scheme, ids in cv.fold_ids.items():
            frame[f"fold_{scheme}"] = ids
        cv.scores.to_csv(out.path("cv_scores.csv"), index=False)
        cv.summary.to_csv(out.path("cv_summary.csv"), index=False)
        mapped = pick_mapped_model(study, cv.summary)
        k = study.mapping.n_classes
        edges_of: dict[str, np.ndarray] = {}
        with timer.stage("fit and classify"):
            for label, pipe in pipelines.items():
                prob = clone(pipe).fit(X, y).predict_proba(X)[:, 1]
                edges = _edges(study, prob)
                frame[f"prob_{label}"] = prob.astype(np.float32)
                frame[f"class_{label}"] = assign_classes(prob, edges).astype(np.int64)
                edges_of[label] = edges
        area = frame["area_m2"].to_numpy() if "area_m2" in frame else None
        table = class_table_units(frame[f"class_{mapped}"].to_numpy(), y, edges_of[mapped], area)
        table.to_csv(out.path("class_table_units.csv"), index=False)
        factor_tables = unit_factor_class_tables(frame, data.names, data.kinds)
        factor_tables.to_csv(out.path("factor_class_tables.csv"), index=False)
        frame.to_csv(out.path("units.csv"), index=False)
        if polygons:
            with timer.stage("units.gpkg and probability.tif"):
                _write_polygon_outputs(study, data, mapped, k, out)
                _plot_units_map(study, data, mapped, k, out.path("units_map.png"))
        roc_auc = plot_roc_curves(cv.predictions, y, [label for label, _ in splitters], out.path("roc.png"))
        warnings = [
            *validation_warnings(
                cv.summary,
                scheme_kinds={c.display_name: c.name for c in study.validation.scheme_configs},
                mapped_model=mapped,
                n_events=int(y.sum()),
                cv_scores=cv.scores,
            ),
            *unit_inventory_warnings(data.counts),
        ]
        log_warnings(warnings, log)
        metrics = {
            "mapping_unit": {"kind": mu.kind, "label": str(rule) if rule else mu.label_field},
            "validation": {
                "schemes": study.validation.scheme_labels,
                "folds": study.validation.folds,
                "repeats": study.validation.repeats,
                "threshold": study.validation.threshold,
            },
            "scores": scores_by_scheme(cv.summary),
            "units": data.counts,
            "factors": data.names,
            "mapped_model": mapped,
            "warnings": warnings_json(warnings),
            "roc_auc_out_of_fold": roc_auc,
            "classes": {
                "method": study.mapping.classification,
                "edges": {label: [float(e) for e in edges] for label, edges in edges_of.items()},
                "table": table.to_dict(orient="records"),
            },
        }
        write_json(out.path("metrics.json"), metrics)
        out.path("study.yaml").write_text(
            yaml.safe_dump(study.model_dump(mode="json"), sort_keys=False), encoding="utf-8"
        )
        timer.timings["total"] = round(time.perf_counter() - t_start, 3)
        write_provenance(out.path("provenance.json"), study, timer.timings, inputs=inputs, units=data.counts)
        doc = _report(study, data, cv.summary, mapped, table, factor_tables, rule, timer, out)
        doc.warnings = alerts(warnings)
        write_report_files(out, study, doc)
        committed = out.commit()
    return UnitsResult(
        out_dir=out.final,
        files=committed,
        units=frame,
        cv_summary=cv.summary,
        class_table=table,
        mapped_model=mapped,
        counts=data.counts,
        timings=timer.timings,
    )


# --------------------------------------------------------------------------- shared with compare


def check_unit_study(study: Study, command: str) -> None:
    """Refuse, before any data is read, a unit study that cannot run: kind cells, bad model or tuning parameters,
    a model that reads windows of grid cells.

    Raises
    ------
    StudyConfigError
        Naming the study file and the model (``models.<i>``) at fault.
    """
    mu = study.mapping_unit
    source = str(study.source or "study")
    if mu.kind == "cells":
        raise StudyConfigError(f"{command}: mapping_unit.kind is 'cells'; run the study on grid cells")
    check_models(study.models, seed=study.seed, source=source)
    check_tuning(study.models, study.validation.tuning, seed=study.seed, source=source)
    for i, m in enumerate(study.models):
        if get_model(m.name).inputs == "windows":
            raise StudyConfigError(
                f"{source}: models.{i}: {m.name!r} reads windows of grid cells around each sample; it cannot run on "
                f"mapping units (kind {mu.kind!r}): use a tabular model or mapping_unit.kind: cells"
            )


def prepare_units(study: Study, out: OutputFolder, timer: Timer) -> tuple[UnitData, LabelRule | None]:
    """The study's units with factors and labels, and the label rule (None for a table of units).

    Polygons and slope units: the stack is opened, slope units delineated
    (``slope_units.gpkg``/``.tif`` into ``out``), zonal statistics and labels
    computed; a table is read as it is. Shared by ``susmap run``
    (:func:`run_units_study`) and ``susmap compare``
    (:func:`susmap.runners.units_compare.run_units_compare`).

    Raises
    ------
    SusmapError
        Bad input, or every unit has one label.
    """
    mu = study.mapping_unit
    rule = parse_label_rule(mu.label) if mu.kind != "table" else None
    if mu.kind != "table":
        data = _polygon_units(study, rule, out, timer)
    else:
        with timer.stage("read table"):
            data = _table_units(study)
    y = data.y
    if y.min() == y.max():
        raise StudyConfigError(
            f"{study.source or 'study'}: every unit has label {int(y[0])}; the models need units with and without "
            "events " + (f"(label rule {rule})" if rule is not None else f"(column {mu.label_field})")
        )
    return data, rule


def unit_pipelines(study: Study, data: UnitData) -> dict[str, object]:
    """One unfitted pipeline per study model, by display name, on the units' factors (categorical ones one-hot)."""
    return {m.display_name: _pipeline(study, m, data) for m in study.models}


def unit_inventory_warnings(counts: dict[str, int], *, max_dropped_share: float = 0.1) -> list[StudyWarning]:
    """``events_dropped`` when more than ``max_dropped_share`` of the inventory's events fall in no unit.

    ``counts`` are :attr:`UnitData.counts` (``events``, ``events_outside_units``);
    a table of units (no inventory) gives no warning. Serious above twice the share,
    as :func:`susmap.validation.warnings.inventory_warnings` for cells.
    """
    events, outside = int(counts.get("events", 0)), int(counts.get("events_outside_units", 0))
    if events <= 0 or outside / events <= max_dropped_share:
        return []
    share = outside / events
    return [
        StudyWarning(
            code="events_dropped",
            message=(
                f"{outside} of {events} inventory events ({100 * share:.1f} %) fall in no mapping unit and were "
                "left out; the units may miss the terrain where they fell"
            ),
            severity="serious" if share > 2 * max_dropped_share else "caution",
            value=share,
            threshold=max_dropped_share,
        )
    ]


def units_summary_section(study: Study, data: UnitData, summary: pd.DataFrame, mapped: str | None) -> ReportSection:
    """The report's summary on units: what the units are, their count, factors, models, AUROC per scheme.

    ``mapped`` is the model classified in the map (``susmap run``) or None
    (``susmap compare``: every model's AUROC is listed).
    """
    mu = study.mapping_unit
    counts = data.counts
    what = {
        "polygons": f"polygon units of {Path(str(mu.path)).name}",
        "slope_units": "slope units delineated from the DEM (Alvioli et al. 2016)",
        "table": f"the table of units {Path(str(mu.path)).name}",
    }[mu.kind]
    models = f"{len(study.models)} cross-validated on the same folds"
    facts = [
        ("Mapping units", what),
        ("Units", f"{counts['units']:,} ({counts['landslide_units']:,} with landslides)"),
        ("Factors", f"{len(data.names)} ({', '.join(data.names)})"),
        ("Models", models + (f", {mapped} classified in the map" if mapped else "")),
    ]
    auc = summary[summary["metric"] == "auroc"]
    if mapped is not None:
        auc = auc[auc["model"] == mapped]
    for row in auc.itertuples():
        who = "" if mapped is not None else f"{row.model}, "
        facts.append((f"AUROC ({who}{row.scheme})", f"{row.mean:.3f} ± {row.sd:.3f} over {int(row.n_folds)} folds"))
    return ReportSection("summary", "Summary").add(Facts(facts))


def units_data_section(study: Study, data: UnitData, rule: LabelRule | None) -> ReportSection:
    """The report's data section on units: units read and dropped, label rule or column, events, coordinates."""
    mu = study.mapping_unit
    counts = data.counts
    data_facts = [("Units read", f"{counts['units_read']:,}")]
    if "units_no_valid_cell" in counts:
        data_facts.append(("Units without a valid cell (dropped)", f"{counts['units_no_valid_cell']:,}"))
        data_facts.append(("Label rule", str(rule)))
        data_facts.append(("Events", f"{counts['events']:,} ({counts['events_outside_units']:,} in no unit)"))
        data_facts.append(("Raster tiles read", f"{counts['tiles_read']:,} (units grouped by {mu.tile_cells}² tiles)"))
        data_facts.append(
            (
                "Factors per unit",
                "zonal statistics weighted by exact cell coverage fractions (exactextract); "
                "columns <layer>_<statistic>, class shares <layer>_<class>",
            )
        )
    else:
        data_facts.append(("Units with a missing value (dropped)", f"{counts['units_missing_values']:,}"))
        data_facts.append(("Label column", str(mu.label_field)))
        data_facts.append(("Coordinates", "given" if data.coords is not None else "none (random schemes only)"))
    return ReportSection("data", "Data").add(Facts(data_facts))


# --------------------------------------------------------------------------- inputs


def _inputs(study: Study) -> list[Path]:
    """Every file the study reads that exists now (a missing units file is reported when it is read)."""
    return [p for p in input_files(study) if Path(p).is_file()]


def _read_vector(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    if not path.exists():
        raise InputFileError(f"{path}: units file not found (mapping_unit.path)")
    try:
        return gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except Exception as err:
        raise InputFileError(f"{path}: cannot read the units ({str(err).splitlines()[0]})") from None


def _unit_ids(frame: pd.DataFrame, path: Path, id_field: str | None) -> np.ndarray:
    """The units' ids: ``id_field`` (present, no missing value, unique) or the row number from 1."""
    if id_field is None:
        return np.arange(1, len(frame) + 1)
    if id_field not in frame.columns:
        cols = ", ".join(c for c in frame.columns if c != "geometry")
        raise StudyConfigError(f"{path}: mapping_unit.id_field {id_field!r} not found (columns: {cols})")
    ids = frame[id_field]
    if ids.isna().any():
        raise StudyConfigError(f"{path}: mapping_unit.id_field {id_field!r}: {int(ids.isna().sum())} units have no id")
    dupes = ids[ids.duplicated()].unique()
    if len(dupes):
        shown = ", ".join(map(str, dupes[:5]))
        raise StudyConfigError(f"{path}: mapping_unit.id_field {id_field!r}: {len(dupes)} ids repeated ({shown})")
    return ids.to_numpy()


def _open_stack(study: Study, out: OutputFolder, timer: Timer) -> Stack:
    layers = list(study.layers)
    if study.factors:
        with timer.stage("derive factors"):
            layers += [d.as_layer() for d in derive_factors(study, out.path("factors/.keep").parent)]
    with timer.stage("stack"):
        return open_stack(study.grid, layers, study.alignment, chunks=study.mapping.chunk_size)


def _slope_units(study: Study, stack: Stack, out: OutputFolder) -> tuple[gpd.GeoDataFrame, Path]:
    """Delineate slope units on the DEM (``dem.path`` or the grid template) into ``slope_units.gpkg``."""
    path = Path(study.dem.path or study.grid.template)
    band = study.dem.band or (study.grid.band if study.dem.path is None else 1)
    with rasterio.open(path) as src:
        if (src.height, src.width) != stack.grid.shape:
            raise StudyConfigError(
                f"{path}: mapping_unit.kind slope_units: the DEM is {src.height} x {src.width} cells, the grid "
                f"{stack.grid.shape[0]} x {stack.grid.shape[1]}; give a DEM on the grid (dem.path)"
            )
        index = band if isinstance(band, int) else list(src.descriptions).index(band) + 1
        dem = src.read(index, masked=True).astype(np.float32).filled(np.nan)
    params = SlopeUnitParameters(**study.mapping_unit.slope_units.given())
    units = delineate_slope_units(dem, stack.grid.transform, params=params)
    gpkg, _ = slope_units_to_gpkg(units, stack.grid.transform, stack.grid.crs, out.path("slope_units.gpkg"))
    return gpd.read_file(gpkg), gpkg


def _polygon_units(study: Study, rule, out: OutputFolder, timer: Timer) -> UnitData:
    mu = study.mapping_unit
    stack = _open_stack(study, out, timer)
    grid = stack.grid
    crs = grid.crs.to_wkt()
    with timer.stage("read units"):
        if mu.kind == "slope_units":
            units, path = _slope_units(study, stack, out)
            id_field = "id"
        else:
            path = Path(mu.path)
            units, id_field = _read_vector(path, mu.layer), mu.id_field
        if len(units) == 0:
            raise StudyConfigError(f"{path}: the units file holds no unit")
        ids = _unit_ids(units, path, id_field)
        if units.crs is None:
            raise StudyConfigError(f"{path}: the units have no CRS; assign one (e.g. ogr2ogr -a_srs EPSG:...)")
        units = units.to_crs(crs)
        geoms = units.geometry.to_numpy()
        kinds = set(shapely.get_type_id(geoms[~shapely.is_missing(geoms)]).tolist())
        if shapely.is_missing(geoms).any() or shapely.is_empty(geoms).any() or not kinds <= {3, 6}:
            raise StudyConfigError(f"{path}: mapping units must be polygons, each with a geometry")
        geoms = np.where(shapely.is_valid(geoms), geoms, shapely.make_valid(geoms))
        units = gpd.GeoDataFrame({"unit_row": np.arange(len(ids))}, geometry=geoms, crs=crs)
        left, bottom, right, top = grid.bounds
        off = ~units.intersects(shapely.box(left, bottom, right, top))
        if off.any():
            raise StudyConfigError(
                f"{path}: {int(off.sum())} of {len(units)} units lie outside the grid "
                f"({Path(str(study.grid.template)).name}); clip the units to the study area"
            )
        overlap, pairs = overlap_area(units)
        total = float(units.area.sum())
        if overlap > 1e-9 * total and not mu.allow_overlap:
            raise StudyConfigError(
                f"{path}: {pairs} pairs of units overlap, {overlap / 1e6:.4g} km² in all ({overlap / total:.3%} of "
                "the units' area); fix the units or set mapping_unit.allow_overlap: true"
            )
    with timer.stage("zonal statistics"):
        plan = statistics_plan(stack.names, stack.kinds, mu.statistics, mu.percentiles)
        zonal = zonal_statistics(
            units, stack.data, stack.names, stack.kinds, grid.transform, plan=plan, tile_cells=mu.tile_cells
        )
    keep = zonal.cells > 0
    counts = {"units_read": len(units), "units_no_valid_cell": int((~keep).sum())}
    if counts["units_no_valid_cell"]:
        log.warning("%s: %d units have no cell with every factor; dropped", path, counts["units_no_valid_cell"])
    with timer.stage("labels"):
        events = read_inventory(study.inventory, grid)
        label_col = study.inventory.label
        if label_col and label_col in events.columns:
            events = events[pd.to_numeric(events[label_col], errors="coerce") == 1]
        labels, found = unit_labels(units, events, rule)
    frame = pd.DataFrame({id_field or _ID: ids, "area_m2": units.area.to_numpy(), "cells": zonal.cells})
    frame["events"] = found.count
    if found.area_share is not None:
        frame["event_area_share"] = found.area_share
    frame[_LABEL] = labels
    frame = pd.concat([frame, zonal.table.reset_index(drop=True)], axis=1)
    frame, units = frame[keep].reset_index(drop=True), units[keep].reset_index(drop=True)
    counts.update(
        units=len(frame),
        landslide_units=int(frame[_LABEL].sum()),
        events=found.events,
        events_outside_units=found.outside,
        tiles_read=zonal.groups,
    )
    return UnitData(
        frame=frame,
        names=list(zonal.table.columns),
        kinds=zonal.kinds,
        coords=unit_centroids(units),
        geometry=units.geometry,
        adjacency=unit_adjacency(units, mu.adjacency_tolerance_m),
        stack=stack,
        counts=counts,
    )


def _table_units(study: Study) -> UnitData:
    mu = study.mapping_unit
    path = Path(mu.path)
    if not path.exists():
        raise InputFileError(f"{path}: units table not found (mapping_unit.path)")
    geometry = None
    if path.suffix.lower() in (".csv", ".txt"):
        try:
            frame = pd.read_csv(path)
        except Exception as err:
            raise InputFileError(f"{path}: cannot read the units table ({str(err).splitlines()[0]})") from None
    else:
        gdf = _read_vector(path, mu.layer)
        frame = pd.DataFrame(gdf.drop(columns="geometry", errors="ignore"))
        if "geometry" in gdf and gdf.geometry.notna().all() and not gdf.geometry.is_empty.any():
            geometry = gdf.geometry
    if len(frame) == 0:
        raise StudyConfigError(f"{path}: the units table holds no row")
    ids = _unit_ids(frame, path, mu.id_field)
    if mu.label_field not in frame.columns:
        raise StudyConfigError(
            f"{path}: mapping_unit.label_field {mu.label_field!r} not found (columns: {', '.join(frame.columns)})"
        )
    labels = pd.to_numeric(frame[mu.label_field], errors="coerce")
    bad = ~labels.isin([0, 1])
    if bad.any():
        shown = ", ".join(map(repr, frame.loc[bad, mu.label_field].unique()[:5].tolist()))
        raise StudyConfigError(
            f"{path}: mapping_unit.label_field {mu.label_field!r}: labels must be 0 or 1; found {shown} "
            f"in {int(bad.sum())} rows"
        )
    reserved = {c for c in (mu.id_field, mu.label_field, mu.x, mu.y) if c}
    if mu.factor_fields is not None:
        missing = [c for c in mu.factor_fields if c not in frame.columns]
        if missing:
            raise StudyConfigError(f"{path}: mapping_unit.factor_fields: {', '.join(missing)} not in the table")
        names = list(mu.factor_fields)
    else:
        names = [c for c in frame.columns if c not in reserved and pd.api.types.is_numeric_dtype(frame[c])]
        skipped = [c for c in frame.columns if c not in reserved and c not in names]
        if skipped:
            log.info("%s: columns that are not numbers, not factors: %s", path, ", ".join(map(str, skipped)))
    for c in names:
        if not pd.api.types.is_numeric_dtype(frame[c]):
            raise StudyConfigError(f"{path}: mapping_unit.factor_fields: column {c!r} holds text, not numbers")
    if not names:
        raise StudyConfigError(f"{path}: the table has no numeric factor column (set mapping_unit.factor_fields)")
    clash = [c for c in names if c in (_LABEL, _ID) or c.startswith(("prob_", "class_", "fold_"))]
    if clash:
        raise StudyConfigError(
            f"{path}: mapping_unit.factor_fields: {', '.join(clash)} would clash with the outputs' columns "
            "(label, unit_id, prob_*, class_*, fold_*); rename the column(s)"
        )
    unknown = [c for c in mu.categorical_fields if c not in names]
    if unknown:
        raise StudyConfigError(f"{path}: mapping_unit.categorical_fields: {', '.join(unknown)} are not factors")
    coords = None
    if mu.x is not None:
        for key, col in (("x", mu.x), ("y", mu.y)):
            if col not in frame.columns or not pd.api.types.is_numeric_dtype(frame[col]):
                raise StudyConfigError(f"{path}: mapping_unit.{key} {col!r} is not a numeric column of the table")
        coords = frame[[mu.x, mu.y]].to_numpy(dtype=np.float64)
    elif geometry is not None:
        c = shapely.centroid(geometry.to_numpy())
        coords = np.column_stack([shapely.get_x(c), shapely.get_y(c)])
    out = pd.DataFrame({mu.id_field or _ID: ids, _LABEL: labels.astype(np.int64)})
    out = pd.concat([out, frame[names].astype(np.float64).reset_index(drop=True)], axis=1)
    complete = np.isfinite(out[names].to_numpy()).all(axis=1)
    if coords is not None:
        complete &= np.isfinite(coords).all(axis=1)
    counts = {"units_read": len(out), "units_missing_values": int((~complete).sum())}
    if counts["units_missing_values"]:
        log.warning("%s: %d units with a missing factor value dropped", path, counts["units_missing_values"])
    adjacency = None
    if geometry is not None and set(shapely.get_type_id(geometry.to_numpy()).tolist()) <= {3, 6}:
        kept = gpd.GeoDataFrame(geometry=geometry[complete].reset_index(drop=True))
        adjacency = unit_adjacency(kept, mu.adjacency_tolerance_m)
    out = out[complete].reset_index(drop=True)
    counts.update(units=len(out), landslide_units=int(out[_LABEL].sum()))
    kinds = {n: "categorical" if n in mu.categorical_fields else "continuous" for n in names}
    return UnitData(
        frame=out,
        names=names,
        kinds=kinds,
        coords=None if coords is None else coords[complete],
        adjacency=adjacency,
        counts=counts,
    )


# --------------------------------------------------------------------------- models and folds


def _pipeline(study: Study, model, data: UnitData):
    encodings = {n: "onehot" for n, k in data.kinds.items() if k == "categorical"}
    return make_pipeline(
        model.name,
        model.params,
        factor_names=data.names,
        kinds=data.kinds,
        seed=study.seed,
        encodings=encodings,
        area_shares={},
    )


def unit_splitters(study: Study, data: UnitData, n_repeats: int | None = None) -> list[tuple[str, object]]:
    """(label, splitter) per scheme on the units: centroids as coordinates, neighbours out for buffered schemes.

    ``n_repeats`` overrides ``validation.repeats`` (compare's permutation importance: one repeat).
    """
    val = study.validation
    out = []
    for cfg in val.scheme_configs:
        if cfg.name == "temporal":
            raise StudyConfigError(f"validation scheme {cfg.display_name!r} (temporal) is not available on units")
        if cfg.name in SPATIAL_SCHEMES and data.coords is None:
            raise StudyConfigError(
                f"{study.mapping_unit.path}: scheme {cfg.display_name!r} needs unit coordinates: give x/y columns "
                "or geometry, or use random"
            )
        params = cfg.params
        if cfg.regions is not None:
            params = {"block_ids": region_ids(cfg.regions, cfg.region_field, data.coords, data.stack)}
        splitter = make_splitter(
            cfg.name,
            coords=data.coords,
            n_splits=val.folds,
            n_repeats=val.repeats if n_repeats is None else n_repeats,
            seed=study.seed,
            X=data.X,
            **params,
        )
        if cfg.name in BUFFERED_SCHEMES and data.adjacency is not None:
            splitter = NeighboursLeftOut(splitter, data.adjacency)
        out.append((cfg.display_name, splitter))
    return out


def _edges(study: Study, prob: np.ndarray) -> np.ndarray:
    """Class edges of the units' probabilities, as the cell maps: ``mapping.classification``, k classes."""
    m = study.mapping
    sample = prob
    if len(prob) > m.class_sample:
        sample = np.random.default_rng(study.seed).choice(prob, size=m.class_sample, replace=False)
    return compute_breaks(m.classification, sample, m.n_classes, vmin=float(prob.min()), vmax=float(prob.max()))


def class_table_units(
    classes: np.ndarray, y: np.ndarray, edges: np.ndarray, area_m2: np.ndarray | None
) -> pd.DataFrame:
    """Per class: units and their share, area [km²] and share, landslide units, their share and density.

    ``landslide_share`` is the share of all landslide units in the class;
    ``landslide_density`` the share of the class's units that are landslide
    units (the unit counterpart of a frequency ratio's numerator).
    """
    k = len(edges) - 1
    names = class_names(k)
    n, events = len(classes), max(int(y.sum()), 1)
    rows = []
    for c in range(1, k + 1):
        sel = classes == c
        row = {
            "class": c,
            "name": names[c - 1],
            "lower": float(edges[c - 1]),
            "upper": float(edges[c]),
            "units": int(sel.sum()),
            "units_pct": 100.0 * sel.sum() / n,
        }
        if area_m2 is not None:
            row["area_km2"] = float(area_m2[sel].sum() / 1e6)
            row["area_pct"] = 100.0 * float(area_m2[sel].sum() / area_m2.sum())
        row["landslide_units"] = int(y[sel].sum())
        row["landslide_share_pct"] = 100.0 * y[sel].sum() / events
        row["landslide_density"] = float(y[sel].mean()) if sel.any() else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def unit_factor_class_tables(
    frame: pd.DataFrame, names: list[str], kinds: dict[str, str], bins: int = 5
) -> pd.DataFrame:
    """Per factor and class: units, landslide units and their frequency ratio, counted in units.

    Continuous factors are cut at the quantiles of the units' values into
    ``bins`` classes (fewer where values repeat), categorical ones by value.
    ``frequency_ratio = landslide_pct / units_pct`` (paper 001 eq. 17 with
    units in place of cells): above 1, the class holds more landslide units
    than its share of units.
    """
    y = frame[_LABEL].to_numpy()
    total, events = len(frame), max(int(y.sum()), 1)
    rows = []
    for name in names:
        values = frame[name].to_numpy(dtype=float)
        if kinds.get(name) == "categorical":
            keys = values
            labels = {v: f"{v:g}" for v in np.unique(values)}
        else:
            edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)))
            if len(edges) < 2:
                edges = np.array([values.min(), values.max()])
            keys = np.clip(np.searchsorted(edges[1:-1], values, side="right"), 0, len(edges) - 2)
            labels = {i: f"{edges[i]:.4g} to {edges[i + 1]:.4g}" for i in range(len(edges) - 1)}
        for key, text in labels.items():
            sel = keys == key
            units_pct = 100.0 * sel.sum() / total
            ls_pct = 100.0 * y[sel].sum() / events
            rows.append(
                {
                    "factor": name,
                    "class": text,
                    "units": int(sel.sum()),
                    "units_pct": units_pct,
                    "landslide_units": int(y[sel].sum()),
                    "landslide_pct": ls_pct,
                    "frequency_ratio": ls_pct / units_pct if units_pct > 0 else math.nan,
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- outputs


def _fill_symbol(color: str) -> ET.Element:
    sym = ET.Element("symbol", type="fill", name="0", alpha="1", clip_to_extent="1", force_rhr="0")
    layer = ET.SubElement(sym, "layer", {"class": "SimpleFill", "enabled": "1", "pass": "0", "locked": "0"})
    rgb = ",".join(str(int(color.lstrip("#")[i : i + 2], 16)) for i in (0, 2, 4)) + ",255"
    values = {
        "color": rgb,
        "outline_color": "60,60,60,255",
        "outline_style": "solid",
        "outline_width": "0.1",
        "outline_width_unit": "MM",
        "style": "solid",
    }
    opt = ET.SubElement(layer, "Option", type="Map")
    for key, v in values.items():
        ET.SubElement(opt, "Option", name=key, value=v, type="QString")
    for key, v in values.items():
        ET.SubElement(layer, "prop", k=key, v=v)
    return sym


def units_qml(field_name: str, k: int) -> ET.Element:
    """QGIS style of the unit polygons: filled by ``field_name`` (class 1..k) with the raster maps' palette."""
    root = ET.Element("qgis", version="3.28.0", styleCategories="AllStyleCategories")
    renderer = ET.SubElement(
        root, "renderer-v2", type="categorizedSymbol", attr=field_name, symbollevels="0", enableorderby="0"
    )
    cats = ET.SubElement(renderer, "categories")
    symbols = ET.SubElement(renderer, "symbols")
    for i, (name, color) in enumerate(zip(class_names(k), class_colors(k), strict=True)):
        ET.SubElement(cats, "category", value=str(i + 1), symbol=str(i), label=name, render="true")
        sym = _fill_symbol(color)
        sym.set("name", str(i))
        symbols.append(sym)
    ET.SubElement(root, "layerGeometryType").text = "2"
    return root


def _write_polygon_outputs(study: Study, data: UnitData, mapped: str, k: int, out: OutputFolder) -> None:
    """``units.gpkg`` styled by the mapped model's class, ``units.qml``, ``probability.tif`` (+ ``.qml``)."""
    grid = data.stack.grid
    gdf = gpd.GeoDataFrame(data.frame, geometry=data.geometry.to_numpy(), crs=grid.crs.to_wkt())
    path = out.path("units.gpkg")
    write_xml(units_qml(f"class_{mapped}", k), out.path("units.qml"))
    try:
        gdf.to_file(path, driver="GPKG", layer="units")
        style = pd.DataFrame(
            {
                "f_table_catalog": [""],
                "f_table_schema": [""],
                "f_table_name": ["units"],
                "f_geometry_column": ["geometry"],
                "styleName": ["units"],
                "styleQML": [out.path("units.qml").read_text(encoding="utf-8")],
                "styleSLD": [""],
                "useAsDefault": [True],
                "description": [f"susmap: susceptibility classes of {mapped}"],
                "owner": [""],
                "ui": [""],
                "update_time": ["2000-01-01T00:00:00"],
            }
        )
        pyogrio.write_dataframe(style, path, layer="layer_styles", driver="GPKG", append=False)
    except Exception as err:  # GDAL reports a full disk as an SQLite error
        raise write_failure(err, [path], check_space=True) from err
    # the whole grid at once: float32, 4 bytes a cell (a 10,000² grid: 400 MB)
    prob = rasterio.features.rasterize(
        zip(data.geometry.to_numpy(), data.frame[f"prob_{mapped}"].astype(float), strict=True),
        out_shape=grid.shape,
        transform=grid.transform,
        fill=np.nan,
        dtype="float32",
    )
    compress = study.outputs.compress
    profile = {
        "driver": "GTiff",
        "height": grid.height,
        "width": grid.width,
        "count": 1,
        "dtype": "float32",
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": np.nan,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        **({} if compress == "none" else {"compress": compress}),
    }
    tif = out.path("probability.tif")
    try:
        with rasterio.open(tif, "w", **profile) as dst:
            dst.write(prob, 1)
    except Exception as err:
        raise write_failure(err, [tif], check_space=True) from err
    write_xml(pseudocolor_qml([c for _, c in probability_ramp()]), out.path("probability.qml"))


def _plot_units_map(study: Study, data: UnitData, mapped: str, k: int, path: Path) -> None:
    """``units_map.png``: the units filled by the mapped model's class, landslide units outlined in black."""
    gdf = gpd.GeoDataFrame(data.frame[[f"class_{mapped}", _LABEL]], geometry=data.geometry.to_numpy())
    fig, ax = plt.subplots(figsize=(9, 7), dpi=110)
    gdf.plot(ax=ax, column=f"class_{mapped}", cmap=ListedColormap(class_colors(k)), vmin=0.5, vmax=k + 0.5, linewidth=0)
    events = gdf[gdf[_LABEL] == 1]
    if len(events):
        events.boundary.plot(ax=ax, color="black", linewidth=0.6)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in class_colors(k)]
    ax.legend(
        handles, class_names(k), loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, title="class", title_fontsize=8
    )
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.tick_params(labelsize=7)
    left, bottom, right, top = data.geometry.total_bounds
    add_map_furniture(ax, data.stack.grid.crs, (left, right, bottom, top), transform=data.stack.grid.transform)
    ax.set_title(f"{study.name}: susceptibility per unit ({mapped})")
    ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def _report(study: Study, data: UnitData, summary, mapped, table, factor_tables, rule, timer: Timer, out: OutputFolder):
    mu = study.mapping_unit
    doc = new_document(f"Susceptibility report: {study.name} ({mu.kind.replace('_', ' ')})", study)
    doc.sections.append(units_summary_section(study, data, summary, mapped))
    doc.sections.append(units_data_section(study, data, rule))
    doc.sections.append(methods_section(study))
    results = ReportSection("results", "Results")
    validation = ReportSection("results-validation", "Cross-validation").add(cv_table(summary))
    if data.adjacency is not None and any(c.name in BUFFERED_SCHEMES for c in study.validation.scheme_configs):
        validation.add(
            Text("Buffered schemes also leave every unit adjacent to a test unit out of its training part.", "note")
        )
    validation.add(Figure("roc.png", "Out-of-fold ROC curves of every model, first repeat"))
    results.subsections.append(validation)
    classes = ReportSection("results-classes", "Susceptibility classes of the units")
    if data.geometry is not None:
        classes.add(Figure("units_map.png", f"Susceptibility classes of {mapped} per unit; landslide units outlined"))
    classes.add(
        Table(table, f"Classes of {mapped} ({study.mapping.classification.replace('_', ' ')}) by unit count and area")
    )
    results.subsections.append(classes)
    results.subsections.append(
        ReportSection("results-factors", "Factor classes").add(
            Table(
                factor_tables,
                "Units and landslide units per factor class (continuous factors: quintiles of the units' values); "
                "frequency ratio = landslide share / unit share",
            )
        )
    )
    doc.sections.append(results)
    extra = ["report.html", *(["report.pdf"] if study.outputs.pdf else [])]
    doc.sections.append(reproducibility_section(study, timer.timings, out.staging, extra_files=extra))
    return doc
