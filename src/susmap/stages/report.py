"""The report of a run, section by section, from what the run computed.

Every runner builds its :class:`~susmap.report.document.ReportDocument` from
these pieces, in the order of the report:

1. warnings (:func:`alerts`), then :func:`summary_section`: what was mapped,
   where, with what, and the headline score: spatial cross-validation named
   by its scheme, random cross-validation beside it labelled optimistic;
2. :func:`data_section`: grid, CRS, extent, cell size, layers and derived
   factors with units and transforms, inventory (events used and dropped, and
   why), sampling;
3. :func:`methods_section`: each model with the paper or reference it
   implements, its preset and the preset's deviations, the validation
   schemes with their parameters, the classification, the literature;
4. results: built by each runner from :func:`cv_table`,
   :func:`class_table_blocks` and :func:`factor_analysis_section`;
5. :func:`reproducibility_section`: date, versions, study file, input hashes,
   seed, timings and every file written, linked.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path

import pandas as pd
import rasterio
import rasterio.errors
from pyproj import CRS

from susmap.factors.registry import get_factor
from susmap.mapping.figures import crs_label
from susmap.models.registry import get_model
from susmap.outputs import OutputFolder, file_sha256, package_versions
from susmap.references import Reference, reference
from susmap.report.document import (
    Alert,
    Facts,
    Figure,
    FileList,
    ReferenceList,
    ReportDocument,
    ReportSection,
    Table,
    Text,
)
from susmap.report.html import cv_summary_table, write_report
from susmap.report.pdf import print_pdf
from susmap.sampling import inventory_summary
from susmap.stack import Stack
from susmap.stages.citations import study_references
from susmap.stages.records import input_files
from susmap.study import SchemeConfig, Study
from susmap.validation import METRIC_NAMES
from susmap.validation.warnings import StudyWarning

__all__ = [
    "FILE_DESCRIPTIONS",
    "RANDOM_SCHEMES",
    "alerts",
    "class_table_blocks",
    "cv_table",
    "data_section",
    "describe_scheme",
    "factor_analysis_section",
    "files_written",
    "headline_scores",
    "methods_section",
    "new_document",
    "papers_layout_sections",
    "reproducibility_section",
    "summary_section",
    "write_report_files",
]

#: Validation schemes that ignore where the samples are: their scores are optimistic on autocorrelated data.
RANDOM_SCHEMES = frozenset({"random", "holdout"})

#: What each output file holds, by name (or by the folder it is in, ending in "/").
FILE_DESCRIPTIONS: Mapping[str, str] = {
    "samples.gpkg": "sample points (events and non-events) with factor values and fold ids, styled for QGIS",
    "samples.csv": "the same samples as a table, with each sample's inventory row",
    "samples.qml": "QGIS style of the samples",
    "samples.sld": "SLD style of the samples",
    "cv_scores.csv": "scores of every model on every held-out fold",
    "cv_summary.csv": "mean, sd and number of folds per scheme, model and score",
    "cv_summary_all_metrics.csv": "every score, mean and sd per scheme and model",
    "cv_train_summary.csv": "scores on the training parts (to compare with the held-out ones)",
    "factor_class_tables.csv": "frequency-ratio table of every factor",
    "metrics.json": "scores, sample counts, classes and warnings, machine-readable",
    "report.html": "this report",
    "report.pdf": "this report, printed to A4",
    "provenance.json": "the resolved study, command, versions, input hashes, seed and timings",
    "study.yaml": "the resolved study: every setting, defaults included",
    "probability.tif": "susceptibility: probability of an event per cell (Cloud-Optimized GeoTIFF)",
    "classes.tif": "susceptibility classes (1 = lowest), with colour table",
    "classes.tif.aux.xml": "raster attribute table of the classes: names, edges, colours",
    "class_table.csv": "area, events and frequency ratio per class (training events: success rate)",
    "held_out_class_table.csv": "the class table on held-out events (out-of-fold: prediction rate)",
    "susceptibility_map.png": "the classified map with hillshade, events, legend, scale bar and north arrow",
    "hillshade.tif": "hillshade of the DEM under the map",
    "classes.qml": "QGIS style of the classes",
    "classes.sld": "SLD style of the classes",
    "probability.qml": "QGIS style of the probability",
    "probability.sld": "SLD style of the probability",
    "susmap.qgs": "QGIS project with every layer styled",
    "roc.png": "out-of-fold ROC curves, one panel per validation scheme",
    "rate_curves.png": "success- and prediction-rate curves",
    "vif.csv": "variance inflation factor and tolerance per factor",
    "vif.png": "variance inflation factors",
    "information_gain.csv": "information gain of each factor",
    "rf_importance.csv": "random-forest importance for 100-500 trees",
    "rf_importance.png": "random-forest importance",
    "permutation_importance.csv": "permutation importance on held-out folds",
    "permutation_importance.png": "permutation importance",
    "factor_count.csv": "accuracy against the number of factors",
    "factor_count.png": "accuracy against the number of factors",
    "ranking.csv": "cumulative ranking of the models (paper 002)",
    "comparison.json": "the comparison, machine-readable",
    "tuning.csv": "hyper-parameters chosen in each outer fold",
    "class_shares.csv": "share of the area per class and model",
    "class_shares.png": "share of the area per class and model",
    "optimization.csv": "optimizer time and best loss of the swarm-trained networks",
    "convergence.png": "convergence of the swarm-trained networks",
    "maps.png": "the maps of every listed model side by side",
    "factors/": "derived factor raster",
    "tables/": "comparison table in a paper's layout",
    "formulas/": "a trained network written out as a formula",
    "histories/": "training history of a deep model",
    "maps/": "map of one model (mapping.models)",
    "fold_map_": "the folds of one validation scheme on the map (first repeat)",
}


def new_document(title: str, study: Study) -> ReportDocument:
    """An empty report titled ``title`` with a subtitle naming the study, the date (UTC) and susmap's version."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    version = _susmap_version()
    return ReportDocument(
        title=title,
        subtitle=f"study {study.name} · {now:%Y-%m-%d %H:%M} UTC · susmap {version}",
        generated=f"{now.isoformat().replace('+00:00', 'Z')} (susmap {version})",
    )


def _susmap_version() -> str:
    try:
        return metadata.version("susmap")
    except metadata.PackageNotFoundError:
        return "unknown"


def alerts(warnings: Iterable[StudyWarning]) -> list[Alert]:
    """The report's warning boxes, serious ones first."""
    items = [Alert(message=w.message, severity=w.severity, code=w.code) for w in warnings]
    return sorted(items, key=lambda a: a.severity != "serious")


def describe_scheme(scheme: SchemeConfig, folds: int) -> str:
    """One sentence on how a validation scheme splits the samples, with its parameters."""
    p = scheme.params
    text = {
        "spatial": f"{folds} folds of k-means clusters of the sample coordinates: nearby samples are tested together",
        "random": f"{folds} random folds, location ignored: optimistic where samples are spatially autocorrelated",
        "holdout": f"one random split, {p.get('test_size', 0.3):.0%} of the samples tested: location ignored",
        "blocks": f"square blocks of {p.get('block_size_m', 'automatic')} m assigned "
        f"{p.get('assignment', 'random')}ly to {folds} folds",
        "buffered_loo": f"each sample tested alone; training samples within {p.get('buffer_m', 0):g} m left out",
        "disc": f"test discs of radius {p.get('radius_m', 0):g} m, training left out within a further "
        f"{p.get('buffer_m', 0):g} m",
        "environmental": f"{folds} folds of k-means clusters in factor space: tested on environments not trained on",
        "regions": f"one fold per polygon of {Path(str(scheme.regions)).name}",
        "temporal": f"events from {p.get('split_at')} on are tested, earlier events train",
    }[scheme.name]
    return text


def headline_scores(study: Study, summary: pd.DataFrame, model: str | None) -> list[tuple[str, str]]:
    """The AUROC of ``model`` (default: the best of the first scheme) per scheme, spatial first, random labelled.

    Returns ``(label, text)`` pairs such as ``("Spatial CV AUROC (spatial)",
    "0.770 ± 0.053 over 25 folds")``.
    """
    auc = summary[summary["metric"] == "auroc"]
    if model is None and len(auc):
        first = auc[auc["scheme"] == study.validation.scheme_labels[0]]
        model = str(first.loc[first["mean"].idxmax(), "model"]) if first["mean"].notna().any() else None
    lines = []
    for scheme in study.validation.scheme_configs:
        row = auc[(auc["scheme"] == scheme.display_name) & (auc["model"] == model)]
        if row.empty or pd.isna(row["mean"].iloc[0]):
            continue
        r = row.iloc[0]
        kind = "random CV AUROC (optimistic)" if scheme.name in RANDOM_SCHEMES else f"{scheme.name} CV AUROC"
        lines.append(
            (
                f"{kind}, {scheme.display_name}",
                f"{r['mean']:.3f} ± {0.0 if pd.isna(r['sd']) else r['sd']:.3f} ({model}, {int(r['n_folds'])} folds)",
            )
        )
    return lines


def summary_section(
    study: Study,
    stack: Stack,
    counts: Mapping[str, int],
    summary: pd.DataFrame | None,
    *,
    model: str | None,
    method: str,
    figure: str | None = None,
) -> ReportSection:
    """What was mapped, where, with what, and the headline scores; ``figure`` (the map) shown small beside."""
    grid = stack.grid
    area_km2 = grid.height * grid.width * grid.cell_area / 1e6
    facts = [
        ("Mapped", f"susceptibility to the events of {Path(str(study.inventory.path)).name}"),
        (
            "Where",
            f"{grid.height} × {grid.width} cells of {grid.res[0]:g} m ({area_km2:,.1f} km² grid), "
            f"{crs_label(grid.crs)}",
        ),
        ("With", f"{len(stack.names)} factors ({', '.join(stack.names)})"),
        ("Method", method),
        ("Samples", f"{counts.get('events', 0)} events, {counts.get('non_events', 0)} non-events"),
    ]
    if model:
        facts.append(("Mapped model", model))
    section = ReportSection("summary", "Summary")
    section.add(Facts(facts))
    if summary is not None:
        lines = headline_scores(study, summary, model)
        if lines:
            section.add(
                Facts(lines, caption="Headline scores"),
                Text(
                    "Spatial cross-validation tests each model on places it was not trained on, as a map is "
                    "used; random cross-validation mixes neighbouring samples into training and test parts "
                    "and overstates skill where samples are spatially autocorrelated: read it as an upper bound.",
                    kind="note",
                ),
            )
    if figure:
        section.add(Figure(figure, "Classified susceptibility map (details under Results)"))
    return section


def _layer_rows(study: Study) -> pd.DataFrame:
    rows = [
        {
            "name": layer.name,
            "path": Path(str(layer.path)).name,
            "band": str(layer.band),
            "kind": layer.kind,
            "role": layer.role,
            "units": _band_units(layer.path, layer.band),
            "resampling": layer.resampling or ("nearest" if layer.kind == "categorical" else "bilinear"),
            "transform": _transform_text(layer.transform),
        }
        for layer in study.layers
    ]
    return pd.DataFrame(rows)


def _band_units(path: Path, band: int | str) -> str:
    """The units the raster file gives its band (GDAL's band unit type), or "not given"."""
    try:
        with rasterio.open(path) as src:
            index = band - 1 if isinstance(band, int) else list(src.descriptions).index(band)
            return src.units[index] or "not given"
    except (rasterio.errors.RasterioIOError, ValueError, IndexError):
        return "not given"


def _transform_text(steps: Sequence) -> str:
    if not steps:
        return "none"
    return " → ".join(s if isinstance(s, str) else json.dumps(s, default=str) for s in steps)


def _factor_rows(study: Study) -> pd.DataFrame:
    rows = []
    for f in study.factors:
        kind = f.factor or f.name
        try:
            spec = get_factor(kind)
            units, what = spec.units, spec.description
        except Exception:  # an unknown factor never reaches a report; keep the table whole regardless
            units, what = "", ""
        rows.append(
            {
                "name": f.name,
                "factor": kind,
                "units": units,
                "parameters": ", ".join(f"{k} = {v}" for k, v in f.params.items()) or "defaults",
                "transform": _transform_text(f.transform),
                "method": what,
            }
        )
    return pd.DataFrame(rows)


def data_section(
    study: Study, stack: Stack, counts: Mapping[str, int], *, mapped_cells: int | None = None
) -> ReportSection:
    """Grid, layers, derived factors, inventory and sampling."""
    grid = stack.grid
    left, bottom, right, top = grid.bounds
    units = CRS.from_user_input(grid.crs).axis_info[0].unit_name if CRS.from_user_input(grid.crs).axis_info else ""
    grid_facts = [
        ("Template", Path(str(study.grid.template)).name),
        ("Size", f"{grid.height} rows × {grid.width} columns"),
        ("Cell size", f"{grid.res[0]:g} × {grid.res[1]:g} {units}"),
        ("CRS", crs_label(grid.crs)),
        ("Extent", f"x {left:,.1f} to {right:,.1f}, y {bottom:,.1f} to {top:,.1f} ({units})"),
    ]
    if mapped_cells is not None:
        grid_facts.append(
            (
                "Mapped area",
                f"{mapped_cells:,} cells with every factor = {mapped_cells * grid.cell_area / 1e6:,.2f} km²",
            )
        )
    section = ReportSection("data", "Data")
    section.subsections.append(ReportSection("data-grid", "Grid").add(Facts(grid_facts)))
    layers = ReportSection("data-factors", "Layers and factors")
    if study.layers:
        layers.add(Table(_layer_rows(study), "Input layers (resampled onto the grid as listed)"))
    if study.factors:
        layers.add(Table(_factor_rows(study), "Factors derived from the DEM and vector data"))
    layers.add(
        Text(
            f"Model inputs: {', '.join(stack.names)}"
            + (f"; auxiliary layers (not model inputs): {', '.join(stack.auxiliary)}" if stack.auxiliary else "")
            + ".",
            kind="note",
        )
    )
    section.subsections.append(layers)
    inv = study.inventory
    inventory = [
        ("File", Path(str(inv.path)).name),
        ("Geometry", inv.geometry + (f", cells by {inv.polygon_cells}" if inv.geometry == "polygons" else "")),
        ("Labels", f"column {inv.label}" if inv.label else "presence-only: absences sampled (below)"),
        ("Filter", inv.where or "none"),
        ("Events used", f"{counts.get('events', 0)}"),
        ("What happened to the inventory", inventory_summary(counts)),
    ]
    section.subsections.append(ReportSection("data-inventory", "Inventory").add(Facts(inventory)))
    sampling = [
        (
            "Absences",
            f"{study.sampling.absence_ratio:g} per event, none within {study.sampling.buffer_m:g} m of an event"
            if not inv.label
            else "from the inventory's labels",
        ),
        (
            "Samples",
            f"{counts.get('samples', 0)}: {counts.get('events', 0)} events, {counts.get('non_events', 0)} non-events",
        ),
        ("Seed", str(study.seed)),
    ]
    section.subsections.append(ReportSection("data-sampling", "Sampling").add(Facts(sampling)))
    return section


def _reference_entry(ref: Reference) -> tuple[str, str]:
    """The reference's text without its trailing link, and the link (DOI or URL) shown once, clickable."""
    text, link = ref.full(), ref.doi_url or ref.url
    if link and text.endswith(" " + link):
        text = text[: -len(link) - 1]
    return text, link


def _model_facts(label: str, name: str, params: Mapping) -> Facts:
    spec = get_model(name)
    items = [("Registry name", name), ("What it is", spec.description)]
    given = {k: v for k, v in params.items() if k != "preset"}
    items.append(("Parameters", ", ".join(f"{k} = {v}" for k, v in given.items()) or "defaults"))
    preset_name = params.get("preset")
    if preset_name is not None and preset_name in spec.presets:
        preset = spec.presets[preset_name]
        items.append(("Preset", f"{preset_name}: {preset.source}"))
        devs = "; ".join(f"{d.what} (why: {d.why})" for d in preset.deviations)
        items.append(("Deviations from the source", devs or "none: the preset follows its source"))
    refs = [r.short for r in _references_of(spec)]
    if refs:
        items.append(("Implements", "; ".join(refs)))
    return Facts(items, caption=label)


def _references_of(spec) -> list[Reference]:
    return [reference(key) for key in getattr(spec, "references", ())]


def methods_section(study: Study, *, models: Sequence[tuple[str, str, Mapping]] | None = None) -> ReportSection:
    """Models with their references, presets and deviations; validation; classification; literature.

    ``models`` are ``(label, registry name, params)``; default the study's.
    """
    if models is None:
        models = [(m.display_name, m.name, m.params) for m in study.models]
    section = ReportSection("methods", "Methods")
    model_sec = ReportSection("methods-models", "Models")
    model_sec.add(*(_model_facts(label, name, params) for label, name, params in models))
    section.subsections.append(model_sec)
    val = study.validation
    schemes = pd.DataFrame(
        [
            {
                "label": s.display_name,
                "scheme": s.name,
                "parameters": ", ".join(f"{k} = {v}" for k, v in s.params.items()) or "defaults",
                "how it splits": describe_scheme(s, val.folds),
            }
            for s in val.scheme_configs
        ]
    )
    threshold = "Youden's J optimum of each training part" if val.threshold == "youden" else f"{val.threshold:g}"
    section.subsections.append(
        ReportSection("methods-validation", "Validation").add(
            Table(schemes, "Validation schemes, in the order reported"),
            Text(
                f"{val.folds} folds × {val.repeats} repeats per scheme; every model is scored on the same folds. "
                f"Scores that need a class use the probability threshold {threshold}. "
                "Factors are standardized and categorical factors encoded inside each training fold.",
                kind="note",
            ),
        )
    )
    mp = study.mapping
    section.subsections.append(
        ReportSection("methods-mapping", "Mapping and classes").add(
            Facts(
                [
                    (
                        "Mapped model",
                        mp.model if mp.model != "best" else f"best mean AUROC under {val.scheme_labels[0]}",
                    ),
                    (
                        "Classes",
                        f"{mp.n_classes}, {mp.classification.replace('_', ' ')} on a sample of "
                        f"{mp.class_sample:,} mapped cells",
                    ),
                ]
            )
        )
    )
    refs = study_references(study)
    section.subsections.append(
        ReportSection("methods-references", "References").add(
            ReferenceList([_reference_entry(r) for r in refs]),
            Text("`susmap cite STUDY.yaml` prints these references as BibTeX.", kind="note"),
        )
    )
    return section


def cv_table(summary: pd.DataFrame, caption: str = "Scores on held-out folds, mean ± sd") -> Table:
    """The cross-validation table: one row per scheme and model, readable headers."""
    return Table(
        cv_summary_table(summary, METRIC_NAMES),
        caption,
        note="Mean ± standard deviation over every held-out fold of every repeat; spatial schemes first. "
        "AUROC: area under the ROC curve (0.5 = chance, 1 = perfect), threshold-free; the other scores "
        "count the held-out samples on each side of the probability threshold.",
    )


def class_table_blocks(table: pd.DataFrame, held_out: pd.DataFrame | None) -> list:
    """The class table (a success rate: training events) and, beside it, the same on held-out events."""
    blocks = [
        Table(
            table,
            "Area, events and frequency ratio per class: training events (success rate)",
            note="These events trained the mapped model, so this table shows how well the map fits its own data "
            "(a success rate), not an independent check.",
        )
    ]
    if held_out is not None:
        blocks.append(
            Table(
                held_out,
                "The same classes on held-out events (out-of-fold: prediction rate)",
                note="Each event classified by the probability of the model fitted without its fold (first "
                "scheme, first repeat), with the map's class edges: an honest check of the classes.",
            )
        )
    return blocks


def factor_analysis_section(
    class_tables: Mapping[str, pd.DataFrame] | None,
    *,
    vif: pd.DataFrame | None = None,
    figures: Sequence[tuple[str, str]] = (),
    tables: Sequence[tuple[str, pd.DataFrame]] = (),
    note: str = "",
) -> ReportSection:
    """Frequency-ratio tables per factor, VIF, importance tables and figures."""
    section = ReportSection("results-factors", "Factor analysis")
    if note:
        section.add(Text(note, kind="note"))
    if vif is not None:
        section.add(
            Table(
                vif,
                "Multicollinearity: VIF and tolerance",
                note="VIF ≥ 10 (tolerance ≤ 0.1) flags a factor largely explained by the others (paper 003).",
            )
        )
    section.add(*(Table(frame, caption) for caption, frame in tables))
    section.add(*(Figure(path, caption) for path, caption in figures))
    if class_tables:
        for factor, frame in class_tables.items():
            shown = frame.drop(columns=[c for c in frame.columns if c in ("factor",)], errors="ignore")
            section.add(
                Table(
                    shown,
                    f"Frequency ratio of {factor}",
                    note="FR = share of events in the class / share of the area; FR > 1: more events than the "
                    "class's area predicts.",
                )
            )
    return section


def files_written(folder: Path, *, extra: Sequence[str] = ()) -> list[tuple[str, str]]:
    """Every file under ``folder`` (hidden ones left out) plus ``extra`` names, each with what it holds."""
    folder = Path(folder)
    names = sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    names += [e for e in extra if e not in names]
    out = []
    for name in names:
        head = name.split("/", 1)[0] + "/" if "/" in name else name
        what = FILE_DESCRIPTIONS.get(name) or FILE_DESCRIPTIONS.get(Path(name).name)
        if what is None and "/" in name:
            what = FILE_DESCRIPTIONS.get(head, "")
        if what is None and name.startswith("fold_map_"):
            what = FILE_DESCRIPTIONS["fold_map_"]
        out.append((name, what or ""))
    return out


def reproducibility_section(
    study: Study, timings: Mapping[str, float], folder: Path, *, extra_files: Sequence[str] = ()
) -> ReportSection:
    """Date, versions, study file, input hashes, seed, timings and the files of the output ``folder``."""
    section = ReportSection("reproducibility", "Reproducibility")
    facts = [
        ("Date", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("susmap", _susmap_version()),
        ("Study file", str(study.source) if study.source else "none: the study was built in Python (see study.yaml)"),
        ("Seed", str(study.seed)),
        (
            "Rerun",
            f"susmap run {study.source}"
            if study.source
            else "susmap run study.yaml (the resolved study written beside this report)",
        ),
    ]
    section.add(Facts(facts))
    versions = pd.DataFrame([{"package": k, "version": v} for k, v in package_versions().items()])
    section.add(Table(versions, "Software"))
    inputs = pd.DataFrame(
        [{"file": str(p), "bytes": p.stat().st_size, "sha256": file_sha256(p)} for p in input_files(study)]
    )
    section.add(Table(inputs, "Inputs and their SHA-256 hashes"))
    steps = pd.DataFrame([{"stage": k, "seconds": float(v)} for k, v in timings.items()])
    if len(steps):
        section.add(Table(steps, "Time per stage", digits=1))
    section.add(FileList(files_written(folder, extra=extra_files), caption="Files written"))
    return section


def write_report_files(out: OutputFolder, study: Study, document: ReportDocument) -> None:
    """``report.html`` from ``document`` and, with ``outputs.pdf``, ``report.pdf`` printed from it (A4)."""
    write_report(out.path("report.html"), document)
    if study.outputs.pdf:
        print_pdf(out.path("report.html"), out.path("report.pdf"))


def papers_layout_sections(
    tables: Mapping[str, pd.DataFrame],
    schemes: Sequence[str],
    ranking: pd.DataFrame,
    *,
    folds: int,
    repeats: int,
    on: str = "",
) -> list[ReportSection]:
    """One section per scheme with the comparison in the papers' layouts, then paper 002's cumulative ranking.

    ``tables`` are :func:`susmap.report.tables.comparison_tables` (named ``<layout>_<scheme>``); ``on``
    names what was cross-validated when it is not cells (e.g. ``" on units"``).
    """
    sections = []
    for scheme in schemes:
        sec = ReportSection(f"results-{scheme}", f"Models under {scheme} cross-validation in the papers' layouts")
        sec.add(
            Text(
                f"{folds}-fold × {repeats} repeats{on}; mean ± sd over folds. Layouts of papers 000, 001 and 003 "
                "(training and validation rows).",
                kind="note",
            ),
            *(
                Table(t, name.replace(f"_{scheme}", "").replace("_", " "))
                for name, t in tables.items()
                if name.endswith(f"_{scheme}")
            ),
        )
        sections.append(sec)
    sections.append(
        ReportSection("results-ranking", "Cumulative ranking (paper 002)").add(
            Table(ranking, "Ranks of MSE, R, AUC, sensitivity and specificity, summed; training and testing apart")
        )
    )
    return sections
