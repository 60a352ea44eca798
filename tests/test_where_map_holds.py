"""'Where the map holds' in a run and a comparison: AOA, uncertainty and explanations, written and reported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio

from report_checks import Page, dead_links
from susmap.runners import run_study
from susmap.runners.compare import run_compare
from susmap.study import study_from_dict

ANALYSIS = {
    "aoa": True,
    "uncertainty": True,
    "explain": ["ale", "pdp", "shap", "shap_maps", "profiles"],
    "shap_factors": 2,
}


def test_run_writes_and_reports_where_the_map_holds(make_study, tmp_path: Path) -> None:
    out = tmp_path / "run"
    study = make_study(models=[{"name": "random_forest", "params": {"n_estimators": 20}}], analysis=ANALYSIS)
    run_study(study_from_dict(study), out)
    for name in (
        "di.tif", "aoa.tif", "aoa.png", "aoa_weights.csv", "uncertainty.tif", "class_agreement.tif", "uncertainty.png",
        "effects.png", "effects.csv", "shap_summary.png", "shap_importance.csv", "shap_a.tif", "shap_b.tif",
        "class_profiles.csv", "class_profiles.png",
    ):  # fmt: skip
        assert (out / name).is_file(), name
    holds = json.loads((out / "metrics.json").read_text())["where_the_map_holds"]
    aoa = holds["aoa"]
    assert 0 <= aoa["share_outside"] <= 1 and aoa["threshold"] > 0
    assert aoa["cells_inside"] + aoa["cells_outside"] > 0
    assert 0 <= holds["uncertainty"]["share_agreeing"] <= 1 and holds["uncertainty"]["fold_models"] == 3
    # SHAP maps add up to the probability map: base value + the values of every factor (a forest: exact)
    base = holds["explanations"]["shap"]["base_value"]
    with (
        rasterio.open(out / "probability.tif") as p,
        rasterio.open(out / "shap_a.tif") as a,
        rasterio.open(out / "shap_b.tif") as b,
    ):
        prob, sa, sb = p.read(1), a.read(1), b.read(1)
    ok = np.isfinite(prob)
    assert ok.sum() > 1000 and np.isnan(sa[~ok]).all()
    np.testing.assert_allclose(base + sa[ok] + sb[ok], prob[ok], atol=1e-5)
    with rasterio.open(out / "aoa.tif") as src:
        aoa_map = src.read(1)
    assert set(np.unique(aoa_map)) <= {0, 1, 255} and (aoa_map[~ok] == 255).all()
    text = (out / "report.html").read_text(encoding="utf-8")
    page = Page(text)
    assert "where-the-map-holds" in page.sections and "aoa" in page.sections
    assert page.sections.index("where-the-map-holds") > page.sections.index("results")
    assert not dead_links(out / "report.html", page)
    assert "Area outside" in text and "Class agreement" in text


def test_compare_reports_where_the_best_model_holds(make_study, tmp_path: Path) -> None:
    study = make_study(
        models=[{"name": "logistic_regression"}, {"name": "decision_tree", "label": "dt"}],
        analysis={"aoa": True, "explain": ["ale", "shap"]},
        outputs={"directory": str(tmp_path / "cmp")},
    )
    out = run_compare(study_from_dict(study)).out_dir
    holds = json.loads((out / "comparison.json").read_text())["where_the_map_holds"]
    assert set(holds) == {"aoa", "explanations"}
    assert (out / "di.tif").is_file() and (out / "effects.png").is_file() and not (out / "aoa.png").exists()
    page = Page((out / "report.html").read_text(encoding="utf-8"))
    assert "where-the-map-holds" in page.sections
    assert not dead_links(out / "report.html", page)
