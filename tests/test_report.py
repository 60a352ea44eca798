"""The HTML report: rendering, sections in order, honest notes and warnings, no dead link, nothing online."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from report_checks import Page, dead_links
from susmap.report import Alert, Facts, Figure, FileList, ReportDocument, ReportSection, Table, Text, render_report
from susmap.runners import run_study
from susmap.study import study_from_dict

SECTIONS = ["summary", "data", "methods", "results", "reproducibility"]


def _png(path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(1, 1), dpi=20)
    ax.plot([0, 1], [0, 1])
    fig.savefig(path)
    plt.close(fig)
    return path


def _document() -> ReportDocument:
    doc = ReportDocument("Report <title>", "study x", "2026-12-06T00:00:00Z")
    doc.warnings = [Alert("the AUROC interval reaches below 0.60", "serious", "near_chance")]
    table = pd.DataFrame({"class": [1, 2], "area_km2": [0.5, np.nan], "name": ["<b>low</b>", "high"]})
    doc.sections = [
        ReportSection("summary", "Summary").add(Facts([("Mapped", "events & more")]), Text("a note", kind="note")),
        ReportSection("results", "Results").add(Table(table, "Classes"), Figure("fig.png", "A figure")),
        ReportSection("reproducibility", "Reproducibility").add(FileList([("fig.png", "the figure")])),
    ]
    return doc


def test_render_embeds_figures_escapes_text_and_names_columns(tmp_path: Path) -> None:
    _png(tmp_path / "fig.png")
    text = render_report(_document(), tmp_path)
    page = Page(text)
    assert page.sections == ["warnings", "summary", "results", "reproducibility"]
    assert page.images and all(src.startswith("data:image/png;base64,") for src in page.images)
    assert "&lt;b&gt;low&lt;/b&gt;" in text and "<b>low</b>" not in text  # table text is escaped
    assert "Report &lt;title&gt;" in text
    assert "Area [km²]" in text and "area_km2" not in text  # readable headers with units
    assert "–" in text  # NaN shown as a dash, not "nan"
    assert "nan" not in text.lower().replace("nanoseconds", "")
    assert not dead_links(tmp_path / "report.html", page)
    assert "script" not in page.tags and "link" not in page.tags  # nothing loaded, nothing run
    assert "@import" not in text and "url(" not in text.replace("data:", "")


def test_a_missing_figure_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"fig\.png"):
        render_report(_document(), tmp_path)


def _report(out: Path) -> tuple[str, Page]:
    text = (out / "report.html").read_text(encoding="utf-8")
    return text, Page(text)


def test_run_report_has_every_section_in_order_and_no_dead_link(make_study, tmp_path: Path) -> None:
    out = tmp_path / "run"
    study = study_from_dict(
        make_study(models=[{"name": "logistic_regression"}, {"name": "random_forest", "params": {"n_estimators": 20}}])
    )
    run_study(study, out)
    text, page = _report(out)
    assert [s for s in page.sections if s in SECTIONS] == SECTIONS
    assert not dead_links(out / "report.html", page)
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert len(page.images) >= 5  # map (summary and results), ROC, rate curves, fold maps, VIF
    # headline: the spatial score named by its scheme, random labelled optimistic
    assert "spatial CV AUROC" in text and "random CV AUROC (optimistic)" in text
    assert "success rate" in text and "prediction rate" in text
    for name in ("roc.png", "rate_curves.png", "held_out_class_table.csv", "fold_map_spatial.png", "vif.png"):
        assert (out / name).is_file(), name
    for header in ("Area [km²]", "Event density [events/km²]", "Frequency ratio", "AUROC"):
        assert header in text
    assert "density_per_km2" not in text
    assert "Breiman" in text  # the random forest's reference
    assert "EPSG:32717" in text
    held = pd.read_csv(out / "held_out_class_table.csv")
    assert held["events"].sum() > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert isinstance(metrics["warnings"], list)
    assert set(metrics["rate_curve_auc"]) == {"success_rate", "prediction_rate"}


def test_near_chance_run_warns_first_in_report_and_metrics(synthetic, make_study, tmp_path: Path) -> None:
    inv = pd.read_csv(synthetic["inventory"]).drop_duplicates(["x", "y"])  # one label per cell
    inv["event"] = np.random.default_rng(3).permutation(inv["event"].to_numpy())  # labels unrelated to factors
    inv.to_csv(synthetic["inventory"], index=False)
    out = tmp_path / "chance"
    run_study(study_from_dict(make_study()), out)
    metrics = json.loads((out / "metrics.json").read_text())
    codes = [w["code"] for w in metrics["warnings"]]
    assert "near_chance" in codes
    text, page = _report(out)
    assert page.sections[0] == "warnings"  # before the summary: on the first screen
    assert text.index("near_chance") < text.index('id="summary"')


def test_demo_report(demo_run) -> None:
    out = demo_run.out
    assert demo_run.result.exit_code == 0, demo_run.result.output
    text, page = _report(out)
    assert [s for s in page.sections if s in SECTIONS] == SECTIONS
    assert not dead_links(out / "report.html", page)
    assert "random CV AUROC (optimistic)" in text
    assert "held-out events" in text
    assert "SHA-256" in text and "susmap" in text
    for ref in ("Breiman", "Brenning", "Meyer"):
        assert ref in text, ref
    # where the map holds (issue 17): the demo writes the AOA, the uncertainty and the explanations
    assert "where-the-map-holds" in page.sections
    for name in ("di.tif", "aoa.tif", "uncertainty.tif", "effects.png", "shap_summary.png", "class_profiles.png"):
        assert (out / name).is_file(), name


def test_compare_report_has_every_section_and_the_papers_tables(make_study, tmp_path: Path) -> None:
    from susmap.runners.compare import run_compare

    study = make_study(
        models=[{"name": "logistic_regression"}, {"name": "decision_tree", "label": "dt"}],
        outputs={"directory": str(tmp_path / "cmp")},
    )
    out = run_compare(study_from_dict(study)).out_dir
    text, page = _report(out)
    assert [s for s in page.sections if s in SECTIONS] == SECTIONS
    assert "results-ranking" in page.sections and "results-factors" in page.sections
    assert not dead_links(out / "report.html", page)
    assert "random CV AUROC (optimistic)" in text
    assert "Information gain" in text and "Random-forest importance" in text
    assert "Breiman" in text and "Nikoobakht" in text  # the decision tree (CART) and paper 000, which used it
    assert isinstance(json.loads((out / "comparison.json").read_text())["warnings"], list)
