"""``susmap compare`` on mapping units: a table with a known rule, polygon units, the Ecuador slope units."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import yaml
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from conftest import CELL, ORIGIN, UTM17S, synthetic_study
from susmap.cli import app
from susmap.datasets.synthetic import UNIT_TABLE_COEFFICIENTS, unit_table, unit_table_study_dict, write_unit_table
from susmap.errors import StudyConfigError
from susmap.runners import require_model_comparison, run_study
from susmap.runners.compare import run_compare
from susmap.runners.units_compare import unit_prediction_rate, unit_rate_curve
from susmap.study import load_study, study_from_dict

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
#: Files every comparison on units writes.
COMPARE_FILES = (
    "cv_scores.csv",
    "cv_summary.csv",
    "cv_summary_all_metrics.csv",
    "ranking.csv",
    "roc.png",
    "rate_curves.png",
    "class_tables_units.csv",
    "vif.csv",
    "information_gain.csv",
    "rf_importance.csv",
    "permutation_importance.csv",
    "factor_class_tables.csv",
    "units.csv",
    "comparison.json",
    "report.html",
    "provenance.json",
    "tables/paper003_table5_spatial.csv",
)


# --------------------------------------------------------------------------- rate curves on units


def test_unit_rate_curve_by_hand():
    # areas 1, 1, 2, 4 ranked 0.9, 0.8, 0.3, 0.1; landslide units the first two: 1 at area share 2/8
    curve = unit_rate_curve(np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 1, 0, 0]), np.array([1.0, 1, 2, 4]))
    assert curve.area_share.tolist() == [0.0, 0.125, 0.25, 0.5, 1.0]
    assert curve.event_share.tolist() == [0.0, 0.5, 1.0, 1.0, 1.0]
    assert curve.auc == pytest.approx(0.25 / 2 + 0.75)
    # ties: the two 0.5 units enter together; unit count as area: (0,0) (1/4,1/2) (3/4,1) (1,1)
    tied = unit_rate_curve(np.array([0.9, 0.5, 0.5, 0.1]), np.array([1, 0, 1, 0]))
    assert tied.area_share.tolist() == [0.0, 0.25, 0.75, 1.0]
    assert tied.event_share.tolist() == [0.0, 0.5, 1.0, 1.0]
    assert tied.auc == pytest.approx(0.25 * 0.25 + 0.5 * 0.75 + 0.25)


def test_unit_prediction_rate_pools_folds_by_hand():
    # fold 1 rates its held-out landslide unit (unit 0) top of 4 equal units, fold 2 its own (unit 2) third
    p = np.array([0.9, 0.5, 0.3, 0.1])
    curve = unit_prediction_rate([p, p], [np.array([1, 0, 0, 0]), np.array([0, 0, 1, 0])])
    assert curve.area_share.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert curve.event_share.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert curve.auc == pytest.approx((0.875 + 0.375) / 2)
    # area weights: unit 0 covers half the area; fold 2's model ranks unit 2 first
    w = np.array([3.0, 1, 1, 1])
    curve = unit_prediction_rate([p, p[::-1]], [np.array([1, 0, 0, 0]), np.array([0, 1, 0, 0])], w)
    # fold 1: its event (unit 0, area 3) first, at area share 3/6, the curve a straight line from (0, 0) there;
    # fold 2 (probs 0.1, 0.3, 0.5, 0.9): units 3, 2 then its event unit 1, the curve steps from 2/6 to 3/6
    sixths = np.arange(7) / 6
    assert curve.area_share.tolist() == pytest.approx(sixths)
    assert curve.event_share.tolist() == pytest.approx([0, 1 / 6, 2 / 6, 1, 1, 1, 1])
    assert curve.auc == pytest.approx((0.75 + (1 / 12 + 0.5)) / 2)  # the folds' AUCs, averaged
    with pytest.raises(ValueError, match="no fold"):
        unit_prediction_rate([p], [np.zeros(4)])


# --------------------------------------------------------------------------- a table with a known rule


def test_unit_table_known_rule():
    table = unit_table(2000, 14, seed=3)
    names = [f"f{j:02d}" for j in range(1, 15)]
    assert list(table.columns) == ["unit_id", "x", "y", *names, "p_true", "label"]
    b = np.asarray(UNIT_TABLE_COEFFICIENTS)
    logit = -1.5 + table[["f01", "f02", "f03"]].to_numpy() @ b
    assert table["p_true"].to_numpy() == pytest.approx(1 / (1 + np.exp(-logit)))
    # lattice of 45 x 45 (ceil sqrt 2000) at 200 m, jitter at most a quarter spacing
    col = (table["unit_id"] - 1) % 45
    assert np.abs(table["x"] - (col + 0.5) * 200).max() <= 50
    with pytest.raises(ValueError, match="n_factors"):
        unit_table(10, 2)


def _table_study(tmp_path: Path, n: int, n_estimators: int = 10) -> tuple[dict, pd.DataFrame]:
    table = unit_table(n, 14, seed=1)
    path = tmp_path / "units.csv"
    table.to_csv(path, index=False)
    return unit_table_study_dict(table, path, tmp_path / "out", n_estimators=n_estimators), table


def _check_table_comparison(out: Path, table: pd.DataFrame, floor: float) -> dict:
    for name in COMPARE_FILES:
        assert (out / name).is_file(), name
    assert (out / "fold_map_spatial.png").is_file()  # the table has centroids
    comparison = json.loads((out / "comparison.json").read_text())
    assert comparison["units"]["units"] == len(table)
    assert comparison["factors"] == [f"f{j:02d}" for j in range(1, 15)]
    summary = pd.DataFrame(comparison["summary"])
    auc = summary[(summary["metric"] == "auroc") & (summary["model"] == "logistic_regression")]
    # the rule is logistic in f01..f03: logistic regression scores near the true probability's AUROC
    best = roc_auc_score(table["label"], table["p_true"])
    assert (auc["mean"] > floor).all() and (auc["mean"] < best + 0.03).all()
    # the informative factors lead the permutation importance, the noise factors trail
    perm = pd.read_csv(out / "permutation_importance.csv")
    assert set(perm["factor"].head(3)) == {"f01", "f02", "f03"}
    vif = pd.read_csv(out / "vif.csv")
    assert vif["VIF"].max() < 1.2  # independent factors
    rates = comparison["rate_curve_auc"]
    assert rates["success_rate"]["logistic_regression"] > 0.7 and comparison["rate_curve_area"] == "units"
    shares = pd.read_csv(out / "class_tables_units.csv")
    assert shares.groupby("model")["units"].sum().eq(len(table)).all()
    html = (out / "report.html").read_text()
    assert "Model comparison" in html and "paper 002" in html and "unit" in html
    return comparison


def test_table_run_and_compare_small(tmp_path):
    study_dict, table = _table_study(tmp_path, 800)
    study = study_from_dict(study_dict)
    result = run_study(study)
    assert result.counts["units"] == 800 and (result.out_dir / "units.csv").is_file()
    result = run_compare(study, tmp_path / "cmp")
    assert result.counts["landslide_units"] == int(table["label"].sum())
    assert {"paper003_table5_spatial", "paper003_table5_random"} <= set(result.tables)
    _check_table_comparison(result.out_dir, table, 0.8)
    # sweep still runs on grid cells only
    with pytest.raises(StudyConfigError, match="runs on grid cells only"):
        require_model_comparison(study, "sweep")


def test_cli_closing_lines_on_a_table(tmp_path):
    write_unit_table(unit_table(600, 14, seed=2), tmp_path / "t", n_estimators=10)
    study = yaml.safe_load((tmp_path / "t" / "study.yaml").read_text())
    study["models"] = study["models"][:1]
    (tmp_path / "t" / "study.yaml").write_text(yaml.safe_dump(study))
    res = CliRunner().invoke(app, ["-q", "run", str(tmp_path / "t" / "study.yaml")])
    assert res.exit_code == 0, res.output
    assert "units: 600" in res.output and "units.csv" in res.output and "probability.tif" not in res.output


@pytest.mark.slow
def test_table_of_10000_units_run_and_compare(tmp_path):
    study_dict, table = _table_study(tmp_path, 10_000, n_estimators=100)
    study = study_from_dict(study_dict)
    result = run_study(study)
    assert result.counts["units"] == 10_000
    result = run_compare(study, tmp_path / "cmp")
    comparison = _check_table_comparison(result.out_dir, table, 0.85)
    assert comparison["units"]["landslide_units"] == int(table["label"].sum())


# --------------------------------------------------------------------------- polygon and slope units


def test_polygon_units_compare(synthetic):
    h, w = synthetic["shape"]
    boxes = [
        shapely.box(ORIGIN[0] + c * CELL, ORIGIN[1] - (r + 6) * CELL, ORIGIN[0] + (c + 6) * CELL, ORIGIN[1] - r * CELL)
        for r in range(0, h, 6)
        for c in range(0, w, 8)
    ]
    path = synthetic["dir"] / "units.gpkg"
    gpd.GeoDataFrame({"uid": np.arange(len(boxes))}, geometry=boxes, crs=UTM17S).to_file(path, layer="units")
    study = study_from_dict(
        synthetic_study(
            synthetic,
            models=[{"name": "logistic_regression"}, {"name": "random_forest", "params": {"n_estimators": 20}}],
            validation={"folds": 3, "repeats": 1, "schemes": ["spatial", "random"]},
            mapping={"n_classes": 3, "classification": "quantile"},
            mapping_unit={"kind": "polygons", "path": str(path), "id_field": "uid"},
        )
    )
    result = run_compare(study)
    out = result.out_dir
    for name in COMPARE_FILES:
        assert (out / name).is_file(), name
    assert result.counts["units"] == 100  # 10 x 10 squares of 6 x 6 cells, 2 columns between them
    comparison = json.loads((out / "comparison.json").read_text())
    assert comparison["mapping_unit"] == {"kind": "polygons", "label": "any"}
    assert comparison["rate_curve_area"] == "unit area"
    # the 2-column gaps between the squares hold a quarter of the events: more than 10 % in no unit is warned about
    outside = result.counts["events_outside_units"] / result.counts["events"]
    assert 0.1 < outside < 0.45
    assert [w["code"] for w in comparison["warnings"]].count("events_dropped") == 1
    # every square has the same area: each model's class table spans the 100 units' area, 36 cells of 100 m²
    shares = pd.read_csv(out / "class_tables_units.csv")
    assert shares.groupby("model")["area_km2"].sum().to_numpy() == pytest.approx(100 * 36 * CELL**2 / 1e6)
    assert "Units without a valid cell" in (out / "report.html").read_text()


@pytest.mark.slow
def test_ecuador_slope_units_compare(tmp_path):
    study = load_study(EXAMPLES / "ecuador_slope_units.yaml")
    val = study.validation.model_copy(update={"repeats": 1})
    study = study.model_copy(update={"validation": val})
    result = run_compare(study, tmp_path / "out")
    out = result.out_dir
    for name in (*COMPARE_FILES, "slope_units.gpkg", "fold_map_spatial.png"):
        assert (out / name).is_file(), name
    assert result.counts["units"] > 200  # 233 with the example's criteria
    summary = result.summary[result.summary["metric"] == "auroc"].set_index(["scheme", "model"])["mean"]
    assert summary.loc[("random", "random_forest")] > 0.65
