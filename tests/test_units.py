"""Mapping units: zonal statistics, labels, adjacency folds, polygon and table studies end to end."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine

from conftest import CELL, ORIGIN, UTM17S, synthetic_study
from susmap.errors import InputFileError, StudyConfigError, SusmapError
from susmap.runners import require_model_comparison, run_study
from susmap.study import study_from_dict
from susmap.units.adjacency import NeighboursLeftOut, overlap_area, unit_adjacency, unit_centroids
from susmap.units.labels import parse_label_rule, unit_events, unit_labels
from susmap.units.zonal import statistics_plan, zonal_statistics
from susmap.validation.splitters import RepeatedRandomKFold

# --------------------------------------------------------------------------- zonal statistics


def _ramp_grid():
    """6 x 6 cells of 1 m, value 10 * row + col; layer 2: class 1 in columns 0-1, class 2 elsewhere."""
    r, c = np.mgrid[0:6, 0:6]
    data = np.stack([10.0 * r + c, np.where(c < 2, 1.0, 2.0)])
    return data, Affine(1, 0, 0, 0, -1, 6)


def test_zonal_half_cell_offset_square_matches_hand_computed_weights():
    # unit x 0.5..3.5, y 2.5..5.5: rows 0..3 and cols 0..3 with coverage 1/2, 1, 1, 1/2 along each axis
    data, t = _ramp_grid()
    units = gpd.GeoDataFrame(geometry=[shapely.box(0.5, 2.5, 3.5, 5.5)], crs=UTM17S)
    kinds = {"v": "continuous", "lith": "categorical"}
    plan = statistics_plan(
        ["v", "lith"], kinds, {"v": ["mean", "sd", "min", "max"], "lith": ["proportions", "majority"]}
    )
    res = zonal_statistics(units, data, ["v", "lith"], kinds, t, plan=plan)
    w = np.array([0.5, 1, 1, 0.5])
    idx = np.arange(4.0)
    mean_axis = (w * idx).sum() / w.sum()  # 1.5
    var_axis = (w * (idx - mean_axis) ** 2).sum() / w.sum()  # 11/12
    row = res.table.iloc[0]
    assert row["v_mean"] == pytest.approx(10 * mean_axis + mean_axis)  # 16.5
    assert row["v_sd"] == pytest.approx(np.sqrt(100 * var_axis + var_axis))  # weights separable: var = 101 var_axis
    assert (row["v_min"], row["v_max"]) == (0.0, 33.0)
    # class 1 = columns 0-1: coverage 0.5 + 1 of 3 per row
    assert row["lith_1"] == pytest.approx(0.5) and row["lith_2"] == pytest.approx(0.5)
    assert res.cells[0] == pytest.approx(9.0)
    assert res.kinds["lith_majority"] == "categorical" and res.kinds["v_mean"] == "continuous"


def test_zonal_nodata_cells_left_out_and_units_without_data_get_no_cell():
    data, t = _ramp_grid()
    data[0, 0, 0] = np.nan  # cell (0, 0): value 0
    units = gpd.GeoDataFrame(geometry=[shapely.box(0, 3, 3, 6), shapely.box(0, 5, 1, 6)], crs=UTM17S)
    res = zonal_statistics(units, data[:1], ["v"], {"v": "continuous"}, t)
    assert res.table.loc[0, "v_mean"] == pytest.approx((1 + 2 + 10 + 11 + 12 + 20 + 21 + 22) / 8)
    assert res.cells[0] == pytest.approx(8.0)
    assert res.cells[1] == 0 and np.isnan(res.table.loc[1, "v_mean"])


def test_zonal_tiles_read_windows_only_and_agree_with_one_window():
    rng = np.random.default_rng(0)
    data = rng.random((1, 200, 200))
    t = Affine(1, 0, 0, 0, -1, 200)
    boxes = [shapely.box(x + 0.3, y + 0.7, x + 9.6, y + 9.2) for x in range(0, 200, 10) for y in range(0, 200, 10)]
    units = gpd.GeoDataFrame(geometry=boxes, crs=UTM17S)
    tiled = zonal_statistics(units, data, ["v"], {"v": "continuous"}, t, tile_cells=64)
    whole = zonal_statistics(units, data, ["v"], {"v": "continuous"}, t, tile_cells=4096)
    assert tiled.groups == 16 and whole.groups == 1
    assert max((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in tiled.windows) < 80 * 80
    np.testing.assert_allclose(tiled.table.to_numpy(), whole.table.to_numpy())


def test_statistics_plan_defaults_percentiles_and_refusals():
    kinds = {"a": "continuous", "g": "categorical"}
    assert statistics_plan(["a", "g"], kinds, None, [10, 90]) == {
        "a": ["mean", "sd", "p10", "p90"],
        "g": ["proportions"],
    }
    with pytest.raises(StudyConfigError, match="'mean' does not apply to the categorical layer 'g'"):
        statistics_plan(["a", "g"], kinds, {"g": ["mean"]})
    with pytest.raises(StudyConfigError, match="nope"):
        statistics_plan(["a", "g"], kinds, {"nope": ["mean"]})


# --------------------------------------------------------------------------- labels


def test_label_rules_parsed_without_eval():
    assert str(parse_label_rule("any")) == "any"
    rule = parse_label_rule("count >= 2")
    assert (rule.measure, rule.op, rule.threshold) == ("count", ">=", 2.0)
    assert parse_label_rule(" area_share>0.25 ").op == ">"
    for bad in ("count >= __import__('os')", "count => 2", "area_share >= 1.5", "count >= 0", "events > 1"):
        with pytest.raises(StudyConfigError, match=r"mapping_unit\.label"):
            parse_label_rule(bad)


def test_point_events_counted_once_per_unit():
    units = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)], crs=UTM17S)
    pts = gpd.GeoDataFrame(
        geometry=shapely.points([(1, 1), (2, 2), (10, 5), (15, 5), (50, 50)]), crs=UTM17S
    )  # (10, 5) on the border: first unit
    found = unit_events(units, pts)
    assert found.count.tolist() == [3, 1] and found.area_share is None and found.outside == 1
    labels, _ = unit_labels(units, pts, parse_label_rule("count >= 2"))
    assert labels.tolist() == [1, 0]
    with pytest.raises(StudyConfigError, match="needs polygon events"):
        unit_labels(units, pts, parse_label_rule("area_share >= 0.1"))


def test_polygon_events_area_share_dissolves_overlaps():
    units = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)], crs=UTM17S)
    # two overlapping events in unit 0 (union 0..4 x 0..5 = 20 m² = 0.2), one across the border (8..12 x 0..5)
    events = gpd.GeoDataFrame(
        geometry=[shapely.box(0, 0, 3, 5), shapely.box(1, 0, 4, 5), shapely.box(8, 0, 12, 5)], crs=UTM17S
    )
    found = unit_events(units, events)
    np.testing.assert_allclose(found.area_share, [(20 + 10) / 100, 10 / 100])
    assert found.count.tolist() == [3, 1]
    labels, _ = unit_labels(units, events, parse_label_rule("area_share >= 0.25"))
    assert labels.tolist() == [1, 0]
    assert unit_labels(units, events, parse_label_rule("any"))[0].tolist() == [1, 1]


# --------------------------------------------------------------------------- adjacency


def _square_units(nx: int, ny: int, size: float = 1.0) -> gpd.GeoDataFrame:
    boxes = [shapely.box(i * size, j * size, (i + 1) * size, (j + 1) * size) for j in range(ny) for i in range(nx)]
    return gpd.GeoDataFrame(geometry=boxes, crs=UTM17S)


def test_adjacency_of_a_grid_of_squares_is_the_8_neighbourhood():
    units = _square_units(3, 3)
    adj = unit_adjacency(units)
    assert adj[4].sum() == 8  # the centre touches all (corners too)
    assert adj[0].sum() == 3 and not adj[0, 0]
    assert (adj != adj.T).nnz == 0
    np.testing.assert_allclose(unit_centroids(units)[4], [1.5, 1.5])
    assert overlap_area(units) == (0.0, 0)
    shifted = pd.concat([units, gpd.GeoDataFrame(geometry=[shapely.box(0.5, 0, 1.5, 1)], crs=UTM17S)])
    area, pairs = overlap_area(shifted.reset_index(drop=True))
    assert area == pytest.approx(1.0) and pairs == 2


def test_neighbours_left_out_of_training():
    units = _square_units(4, 4)
    adj = unit_adjacency(units)
    X = np.zeros((16, 1))  # noqa: N806
    y = np.tile([0, 1], 8)
    splitter = NeighboursLeftOut(RepeatedRandomKFold(4, 2, random_state=0), adj)
    assert splitter.n_repeats == 2 and splitter.get_n_splits() == 8
    folds = list(splitter.split(X, y))
    assert len(folds) == 8
    for train, test in folds:
        assert not set(train) & set(test)
        assert adj[np.ix_(test, train)].nnz == 0  # no training unit touches a test unit
        base_left = 16 - len(test)
        assert len(train) <= base_left


# --------------------------------------------------------------------------- studies end to end


def _unit_squares(synthetic: dict, side: int = 5) -> gpd.GeoDataFrame:
    h, w = synthetic["shape"]
    boxes, ids = [], []
    for r in range(0, h, side):
        for c in range(0, w, side):
            x0, y1 = ORIGIN[0] + c * CELL, ORIGIN[1] - r * CELL
            boxes.append(shapely.box(x0, y1 - side * CELL, x0 + side * CELL, y1))
            ids.append(f"u{r:02d}_{c:02d}")
    return gpd.GeoDataFrame({"uid": ids}, geometry=boxes, crs=UTM17S)


def _polygon_study(synthetic: dict, **unit) -> dict:
    path = synthetic["dir"] / "units.gpkg"
    if not path.exists():
        _unit_squares(synthetic).to_file(path, layer="units")
    section = {"kind": "polygons", "path": str(path), "id_field": "uid", "percentiles": [90], **unit}
    return synthetic_study(
        synthetic,
        models=[{"name": "logistic_regression"}, {"name": "random_forest", "params": {"n_estimators": 30}}],
        validation={
            "folds": 3,
            "repeats": 1,
            "schemes": ["spatial", "random", {"name": "disc", "radius_m": 100, "buffer_m": 0}],
        },
        mapping={"n_classes": 3, "classification": "quantile"},
        mapping_unit=section,
    )


def test_polygon_study_end_to_end(synthetic):
    study = study_from_dict(_polygon_study(synthetic))
    result = run_study(study)
    out = result.out_dir
    for name in ("units.gpkg", "units.qml", "probability.tif", "class_table_units.csv", "report.html"):
        assert (out / name).is_file(), name
    units = gpd.read_file(out / "units.gpkg", layer="units")
    assert len(units) == 192  # 12 x 16 squares of 5 x 5 cells
    for col in ("a_mean", "a_sd", "a_p90", "b_mean", "prob_logistic_regression", "class_random_forest", "label"):
        assert col in units.columns, col
    # a rises west to east in cells of 1/79: a unit's mean is the mean of its 5 columns (the nodata corner aside)
    first = units.set_index("uid").loc["u10_10"]
    assert first["a_mean"] == pytest.approx(np.linspace(0, 1, 80)[10:15].mean(), rel=1e-5)
    assert set(units["class_logistic_regression"]) <= {1, 2, 3}
    styles = pyogrio.read_dataframe(out / "units.gpkg", layer="layer_styles")
    assert styles["f_table_name"].tolist() == ["units"] and "categorizedSymbol" in styles["styleQML"][0]
    with rasterio.open(out / "probability.tif") as src:
        prob = src.read(1)
        assert prob.shape == synthetic["shape"]
        # the probability of a unit on its cells
        row = units.set_index("uid").loc["u10_10"]
        assert prob[12, 12] == pytest.approx(row[f"prob_{result.mapped_model}"], rel=1e-6)
    table = pd.read_csv(out / "class_table_units.csv")
    assert table["units"].sum() == 192 and table["area_km2"].sum() == pytest.approx(60 * 80 * 100 / 1e6)
    assert table["landslide_units"].sum() == units["label"].sum()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["units"]["units"] == 192 and set(metrics["scores"]) == {"spatial", "random", "disc"}
    # the high-a units hold the events: the models separate them
    assert metrics["scores"]["random"]["logistic_regression"]["auroc"]["mean"] > 0.75
    assert "Susceptibility classes of the units" in (out / "report.html").read_text()
    with pytest.raises(StudyConfigError, match="runs on grid cells only"):
        require_model_comparison(study, "sweep")


def _table_csv(tmp_path, n: int = 400, *, coords: bool = True):
    rng = np.random.default_rng(3)
    f1, f2 = rng.standard_normal(n), rng.standard_normal(n)
    label = (f1 + 0.5 * rng.standard_normal(n) > 0.8).astype(int)
    frame = pd.DataFrame({"id": np.arange(n), "f1": f1, "f2": f2, "geo": rng.integers(1, 4, n), "ls": label})
    if coords:
        frame["cx"], frame["cy"] = rng.uniform(0, 5000, n), rng.uniform(0, 5000, n)
    frame["name"] = "unit"
    path = tmp_path / "units.csv"
    frame.to_csv(path, index=False)
    return path


def _table_study(tmp_path, path, **unit) -> dict:
    section = {"kind": "table", "path": str(path), "id_field": "id", "label_field": "ls", **unit}
    return {
        "name": "table",
        "seed": 1,
        "models": [{"name": "logistic_regression"}],
        "validation": {"folds": 4, "repeats": 1, "schemes": ["spatial", "random"]},
        "mapping": {"n_classes": 5},
        "outputs": {"directory": str(tmp_path / "out")},
        "mapping_unit": section,
    }


def test_table_study_end_to_end(tmp_path):
    path = _table_csv(tmp_path)
    study = study_from_dict(_table_study(tmp_path, path, x="cx", y="cy", categorical_fields=["geo"]))
    result = run_study(study)
    assert result.counts["units"] == 400
    out = result.out_dir
    assert not (out / "probability.tif").exists() and not (out / "units.gpkg").exists()
    units = pd.read_csv(out / "units.csv")
    assert {"f1", "f2", "geo", "prob_logistic_regression", "class_logistic_regression", "fold_spatial"} <= set(units)
    assert "name" not in result.units.columns  # text column: not a factor
    table = pd.read_csv(out / "class_table_units.csv")
    assert table["units"].sum() == 400 and "area_km2" not in table
    auc = result.cv_summary.query("metric == 'auroc' and scheme == 'random'")["mean"].iloc[0]
    assert auc > 0.8


def test_table_spatial_scheme_without_coordinates_is_refused(tmp_path):
    path = _table_csv(tmp_path, coords=False)
    study = study_from_dict(_table_study(tmp_path, path))
    with pytest.raises(StudyConfigError, match="scheme 'spatial' needs unit coordinates: give x/y columns or geometry"):
        run_study(study)
    assert not (tmp_path / "out").exists()
    ok = study_from_dict(
        _table_study(tmp_path, path, **{}) | {"validation": {"folds": 3, "repeats": 1, "schemes": ["random"]}}
    )
    assert run_study(ok).counts["units"] == 400


def test_table_bad_inputs(tmp_path):
    path = _table_csv(tmp_path)
    with pytest.raises(StudyConfigError, match="id_field 'nope' not found"):
        run_study(study_from_dict(_table_study(tmp_path, path, id_field="nope", x="cx", y="cy")))
    with pytest.raises(StudyConfigError, match="column 'name' holds text"):
        run_study(study_from_dict(_table_study(tmp_path, path, factor_fields=["f1", "name"], x="cx", y="cy")))
    frame = pd.read_csv(path)
    frame.loc[3, "ls"] = 2
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(StudyConfigError, match="labels must be 0 or 1; found 2"):
        run_study(study_from_dict(_table_study(tmp_path, tmp_path / "bad.csv", x="cx", y="cy")))
    with pytest.raises(InputFileError, match="units table not found"):
        run_study(study_from_dict(_table_study(tmp_path, tmp_path / "missing.csv", x="cx", y="cy")))
    with pytest.raises(StudyConfigError, match="kind 'table' needs label_field"):
        study_from_dict({"mapping_unit": {"kind": "table", "path": "u.csv"}})
    with pytest.raises(StudyConfigError, match=r"mapping_unit\.colour: unknown key"):
        study_from_dict({"mapping_unit": {"kind": "table", "path": "u.csv", "label_field": "ls", "colour": 1}})


def test_polygon_bad_inputs(synthetic):
    with pytest.raises(StudyConfigError, match="id_field 'nope' not found"):
        run_study(study_from_dict(_polygon_study(synthetic, id_field="nope")))
    with pytest.raises(StudyConfigError, match=r"mapping_unit\.label: 'count >== 2' is not a label rule"):
        run_study(study_from_dict(_polygon_study(synthetic, label="count >== 2")))
    with pytest.raises(InputFileError, match="units file not found"):
        run_study(study_from_dict(_polygon_study(synthetic, path=str(synthetic["dir"] / "none.gpkg"))))
    squares = _unit_squares(synthetic)
    dup = squares.copy()
    dup.loc[1, "uid"] = dup.loc[0, "uid"]
    dup.to_file(synthetic["dir"] / "dup.gpkg")
    with pytest.raises(StudyConfigError, match="1 ids repeated"):
        run_study(study_from_dict(_polygon_study(synthetic, path=str(synthetic["dir"] / "dup.gpkg"))))
    over = pd.concat(
        [squares, squares.iloc[[0]].assign(uid="extra", geometry=squares.geometry.iloc[[0]].translate(20))]
    )
    over.to_file(synthetic["dir"] / "over.gpkg")
    with pytest.raises(StudyConfigError, match="pairs of units overlap"):
        run_study(study_from_dict(_polygon_study(synthetic, path=str(synthetic["dir"] / "over.gpkg"))))
    far = squares.assign(geometry=squares.geometry.translate(1e6))
    far.to_file(synthetic["dir"] / "far.gpkg")
    with pytest.raises(SusmapError, match="lie outside the grid"):
        run_study(study_from_dict(_polygon_study(synthetic, path=str(synthetic["dir"] / "far.gpkg"))))
    assert not (synthetic["dir"] / "out").exists()


def test_slope_unit_study_end_to_end(tmp_path):
    from conftest import cell_centre, write_raster

    h, w = 60, 80
    r, c = np.mgrid[0:h, 0:w]
    dem = (np.abs(c - 40) * 2.0 + (h - r) * 0.5 + 3 * np.sin(c / 6.0)).astype(np.float32)  # a valley draining south
    p = write_raster(tmp_path / "dem.tif", dem)
    rng = np.random.default_rng(0)
    xs, ys = zip(*(cell_centre(a, b) for a, b in rng.integers(0, [h, w], (60, 2))), strict=True)
    pd.DataFrame({"x": xs, "y": ys}).to_csv(tmp_path / "ev.csv", index=False)
    criteria = {"threshold_cells": 100, "min_area_m2": 2000, "max_area_m2": 50000, "clean_min_area_m2": 1000}
    study = study_from_dict(
        {
            "grid": {"template": str(p)},
            "layers": [{"name": "elev", "path": str(p)}],
            "inventory": {"path": str(tmp_path / "ev.csv"), "x": "x", "y": "y", "crs": UTM17S},
            "models": [{"name": "logistic_regression"}],
            "validation": {"folds": 3, "repeats": 1, "schemes": ["random", "spatial"]},
            "mapping": {"n_classes": 3, "classification": "quantile"},
            "outputs": {"directory": str(tmp_path / "out")},
            "mapping_unit": {"kind": "slope_units", "slope_units": criteria},
        }
    )
    result = run_study(study)
    names = {f.name for f in result.files}
    assert {"slope_units.gpkg", "slope_units.tif", "units.gpkg", "probability.tif"} <= names
    # slope units are cell-aligned and cover every valid cell once: covered cells add up to the grid
    assert result.units["cells"].sum() == pytest.approx(h * w)
    assert result.counts["events"] == 60 and result.counts["events_outside_units"] == 0
    assert result.units["label"].sum() == result.counts["landslide_units"] > 0
    with pytest.raises(StudyConfigError, match=r"mapping_unit\.slope_units\.cvmin"):
        study_from_dict(
            {"mapping_unit": {"kind": "slope_units", "slope_units": {"cvmin": 2}}, "grid": {"template": str(p)}}
        )


def test_unit_factor_class_tables_and_class_table_by_hand():
    from susmap.runners.units import class_table_units, unit_factor_class_tables

    frame = pd.DataFrame({"label": [1, 1, 0, 0, 0, 0], "g": [1, 1, 1, 2, 2, 2], "v": [0.0, 1, 2, 3, 4, 5]})
    t = unit_factor_class_tables(frame, ["g", "v"], {"g": "categorical", "v": "continuous"}, bins=2)
    g = t[t["factor"] == "g"].set_index("class")
    # class 1: 3 of 6 units (50 %), both landslide units (100 %): FR 2; class 2: FR 0
    assert g.loc["1", "frequency_ratio"] == pytest.approx(2.0) and g.loc["2", "frequency_ratio"] == 0
    assert t[t["factor"] == "v"]["units"].tolist() == [3, 3]
    classes = np.array([1, 1, 2, 2, 3, 3])
    ct = class_table_units(classes, frame["label"].to_numpy(), np.array([0, 0.2, 0.5, 1]), np.full(6, 2e6))
    assert ct["units"].tolist() == [2, 2, 2] and ct["area_km2"].tolist() == [4.0, 4.0, 4.0]
    assert ct["landslide_units"].tolist() == [2, 0, 0] and ct["landslide_density"].tolist() == [1.0, 0.0, 0.0]


def test_polygon_unit_without_valid_cell_dropped_and_counted(synthetic):
    squares = _unit_squares(synthetic)
    corner = squares.geometry.iloc[0]  # rows 0-4, cols 0-4; cells (0..2, 0..2) of a are nodata
    x0, _, _, y1 = corner.bounds
    hole = shapely.box(x0, y1 - 3 * CELL, x0 + 3 * CELL, y1)
    extra = gpd.GeoDataFrame({"uid": ["nodata"]}, geometry=[hole], crs=UTM17S)
    squares.loc[0, "geometry"] = corner.difference(hole)
    pd.concat([squares, extra], ignore_index=True).to_file(synthetic["dir"] / "units.gpkg", layer="units")
    result = run_study(study_from_dict(_polygon_study(synthetic)))
    assert result.counts["units_read"] == 193 and result.counts["units_no_valid_cell"] == 1
    assert len(result.units) == 192 and "nodata" not in set(result.units["uid"])
    assert result.units.set_index("uid").loc["u00_00", "cells"] == pytest.approx(25 - 9)


def test_table_with_polygon_geometry_uses_centroids_and_adjacency(tmp_path):
    n = 10
    boxes = [shapely.box(i * 100, j * 100, (i + 1) * 100, (j + 1) * 100) for j in range(n) for i in range(n)]
    rng = np.random.default_rng(5)
    f1 = rng.standard_normal(n * n)
    gdf = gpd.GeoDataFrame(
        {"f1": f1, "f2": rng.standard_normal(n * n), "ls": (f1 > 0.3).astype(int)}, geometry=boxes, crs=UTM17S
    )
    gdf.to_file(tmp_path / "units.gpkg")
    study = _table_study(tmp_path, tmp_path / "units.gpkg", id_field=None) | {
        "validation": {"folds": 3, "repeats": 1, "schemes": [{"name": "disc", "radius_m": 120}]}
    }
    result = run_study(study_from_dict(study))
    assert result.counts["units"] == 100 and {"f1", "f2"} <= set(result.units.columns)
    assert "unit_id" in result.units.columns and result.units["unit_id"].tolist()[:3] == [1, 2, 3]
    frame = gdf.assign(label=0)
    frame.to_file(tmp_path / "clash.gpkg")
    with pytest.raises(StudyConfigError, match="label would clash"):
        run_study(study_from_dict(_table_study(tmp_path, tmp_path / "clash.gpkg", id_field=None)))


def test_polygon_inventory_labels_units_by_area_share(synthetic):
    # landslide polygons on the east half: 40 % of unit u10_60 (rows 10-14, cols 60-64), 10 % of u10_65
    x0, y1 = ORIGIN[0] + 60 * CELL, ORIGIN[1] - 10 * CELL
    slides = gpd.GeoDataFrame(
        geometry=[
            shapely.box(x0, y1 - 5 * CELL, x0 + 2 * CELL, y1),
            shapely.box(x0 + 5 * CELL, y1 - CELL / 2, x0 + 10 * CELL, y1),
        ]
        + [
            shapely.box(x0 + 5 * CELL * i, y1 - 25 * CELL, x0 + 5 * CELL * i + 3 * CELL, y1 - 22 * CELL)
            for i in range(-8, 3)
        ],
        crs=UTM17S,
    )
    slides.to_file(synthetic["dir"] / "slides.gpkg")
    study = _polygon_study(synthetic, label="area_share >= 0.3")
    study["inventory"] = {"path": str(synthetic["dir"] / "slides.gpkg"), "geometry": "polygons"}
    result = run_study(study_from_dict(study))
    units = result.units.set_index("uid")
    assert units.loc["u10_60", "event_area_share"] == pytest.approx(0.4) and units.loc["u10_60", "label"] == 1
    assert units.loc["u10_65", "event_area_share"] == pytest.approx(0.1) and units.loc["u10_65", "label"] == 0
    assert result.counts["landslide_units"] == 1 + 11  # the 11 squares of 3 x 3 cells: 36 % of their units
