"""Inventory fidelity: polygon cells by rule, nothing dropped silently, absences off whole polygons,
duplicates and conflicting labels by a stated rule, ``inventory.where``.

The real-study failures of issue 13: small polygons dropped because they hold
no cell centre, the source rule emptying polygons, absences drawn inside
polygons or within their buffer, a repeated inventory inflating CV scores,
points labelled both 0 and 1 accepted.
"""

from __future__ import annotations

import json
import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import yaml
from shapely.geometry import Point, box
from typer.testing import CliRunner

from conftest import CELL, ORIGIN, UTM17S, cell_centre, write_raster
from susmap.cli import app
from susmap.errors import InventoryError, StudyConfigError
from susmap.inventory import inventory_cells, polygon_rule_cells, read_inventory
from susmap.models import make_pipeline
from susmap.sampling import build_samples, inventory_summary
from susmap.stack import open_stack
from susmap.stages import draw_samples
from susmap.study import AlignmentConfig, GridConfig, InventoryConfig, LayerConfig, SamplingConfig, study_from_dict
from susmap.validation import cross_validate_models

H, W = 40, 50


@pytest.fixture
def ramp(tmp_path):
    """A 40 x 50 grid: elevation falls from north to south; a second random factor."""
    elev = np.repeat(np.arange(H, 0, -1, dtype=np.float32)[:, None] * 10.0, W, axis=1)
    rnd = np.random.default_rng(0).random((H, W), dtype=np.float32)
    p_elev = write_raster(tmp_path / "elev.tif", elev)
    p_rnd = write_raster(tmp_path / "rnd.tif", rnd)
    layers = [LayerConfig(name="elev", path=p_elev), LayerConfig(name="rnd", path=p_rnd)]
    stack = open_stack(GridConfig(template=p_elev), layers, AlignmentConfig())
    return {"dir": tmp_path, "stack": stack, "elev": p_elev, "rnd": p_rnd}


def _corner(row: float, col: float) -> tuple[float, float]:
    """Coordinates of the north-west corner of cell (row, col) (fractions allowed)."""
    return ORIGIN[0] + col * CELL, ORIGIN[1] - row * CELL


def _square(row: float, col: float, side_cells: float):
    x0, y0 = _corner(row, col)
    return box(x0, y0 - side_cells * CELL, x0 + side_cells * CELL, y0)


def _write_polygons(path, geoms, **attrs):
    frame = gpd.GeoDataFrame({"no": np.arange(len(geoms)), **attrs}, geometry=list(geoms), crs=UTM17S)
    frame.to_file(path)
    return path


def _cells(stack, cfg):
    return inventory_cells(read_inventory(cfg, stack.grid), cfg, stack)


def _samples(stack, cfg, sampling=None, seed=0):
    events = _cells(stack, cfg)
    return build_samples(
        stack,
        events,
        sampling or SamplingConfig(),
        seed=seed,
        inventory_path=cfg.path,
        label_column=cfg.label,
        duplicates=cfg.duplicates,
        conflicts=cfg.conflicts,
    )


# --------------------------------------------------------------------------- polygon cells by rule


def _small_polygons(n: int = 60, seed: int = 1) -> list:
    """Polygons smaller than a cell (0.2 .. 0.8 cell wide) placed anywhere, off the cell centres."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        side = rng.uniform(0.2, 0.8)
        row = rng.uniform(2, H - 3)
        col = rng.uniform(2, W - 3)
        # keep them away from the cell centre so the centre rule gives nothing
        frac_r, frac_c = row % 1, col % 1
        row += 0.55 if 0.5 - side <= frac_r <= 0.5 else 0.0
        col += 0.55 if 0.5 - side <= frac_c <= 0.5 else 0.0
        out.append(_square(row, col, side))
    return out


def test_polygons_smaller_than_a_cell_all_kept_by_their_centroid_cell(ramp, caplog):
    geoms = _small_polygons()
    path = _write_polygons(ramp["dir"] / "small.gpkg", geoms)
    cfg = InventoryConfig(path=path, geometry="polygons")
    with caplog.at_level(logging.INFO, logger="susmap"):
        cells = _cells(ramp["stack"], cfg)
    grid = ramp["stack"].grid
    no_centre = sum(polygon_rule_cells(g, grid, "centre")[0].size == 0 for g in geoms)
    assert no_centre > 40  # most of them hold no cell centre: the old rule dropped them
    assert sorted(set(cells.event_id)) == list(range(len(geoms)))  # every polygon kept
    assert cells.counts["polygons_centroid_cell"] == no_centre
    assert cells.counts["polygons_off_grid"] == 0
    assert f"{no_centre} of {len(geoms)} polygons cover no cell centre" in caplog.text
    # the fallback cell is the one holding the centroid
    for fid, r, c in zip(cells.event_id, cells.rows, cells.cols, strict=True):
        centroid = geoms[fid].centroid
        rr, cc, _ = grid.rowcol(np.array([centroid.x]), np.array([centroid.y]))
        if polygon_rule_cells(geoms[fid], grid, "centre")[0].size == 0:
            assert (r, c) == (rr[0], cc[0])


def test_small_polygons_all_reach_the_sample_table_with_their_cell_count(ramp):
    geoms = [*_small_polygons(20), _square(10, 10, 3)]  # the last covers 3 x 3 cell centres
    path = _write_polygons(ramp["dir"] / "mixed.gpkg", geoms, slide=[1] * len(geoms))
    samples, counts = _samples(ramp["stack"], InventoryConfig(path=path, geometry="polygons"), SamplingConfig())
    events = samples[samples["label"] == 1]
    assert set(events["event_id"]) >= set(range(20)) - _merged_ids(geoms[:20], ramp["stack"].grid)
    assert (events.loc[events["event_id"] == 20, "event_cells"] == 9).all()
    assert counts["events"] == len(events) == counts["polygon_cells"] - counts["duplicate_cells"]
    assert (samples.loc[samples["label"] == 0, "event_cells"] == 0).all()
    assert (samples.loc[samples["label"] == 0, "event_id"] == -1).all()


def _merged_ids(geoms, grid) -> set[int]:
    """Small polygons that share their fallback cell with an earlier one (merged as duplicates)."""
    seen, merged = set(), set()
    for i, g in enumerate(geoms):
        c = g.centroid
        r, cc, _ = grid.rowcol(np.array([c.x]), np.array([c.y]))
        key = (int(r[0]), int(cc[0]))
        if key in seen:
            merged.add(i)
        seen.add(key)
    return merged


def test_all_touched_and_area_share_rules(ramp):
    grid = ramp["stack"].grid
    # 2 x 2 cells shifted by a quarter cell: touches 3 x 3 cells, holds 2 x 2 centres
    poly = _square(5.25, 5.25, 2.0)
    r, c = polygon_rule_cells(poly, grid, "centre")
    assert sorted(zip(r, c, strict=True)) == [(5, 5), (5, 6), (6, 5), (6, 6)]
    r, c = polygon_rule_cells(poly, grid, "all_touched")
    assert sorted(zip(r, c, strict=True)) == [(i, j) for i in (5, 6, 7) for j in (5, 6, 7)]
    # shares: rows and columns 5, 6, 7 are covered by 0.75, 1, 0.25 each way
    r, c = polygon_rule_cells(poly, grid, "area_share", 0.7)
    assert sorted(zip(r, c, strict=True)) == [(5, 6), (6, 5), (6, 6)]
    r, c = polygon_rule_cells(poly, grid, "area_share", 0.25)  # an exact share of 0.25 counts
    assert sorted(zip(r, c, strict=True)) == [(5, 5), (5, 6), (6, 5), (6, 6), (6, 7), (7, 6)]
    r, c = polygon_rule_cells(poly, grid, "area_share", 0.06)
    assert len(r) == 9
    r, c = polygon_rule_cells(poly, grid, "area_share", 0.5)
    assert sorted(zip(r, c, strict=True)) == [(5, 5), (5, 6), (6, 5), (6, 6)]

    path = _write_polygons(ramp["dir"] / "one.gpkg", [poly, _square(20.3, 20.3, 0.3)])
    touched = _cells(ramp["stack"], InventoryConfig(path=path, geometry="polygons", polygon_cells="all_touched"))
    assert touched.counts["polygon_cells"] == 9 + 1 and touched.counts["polygons_centroid_cell"] == 0
    share = _cells(
        ramp["stack"], InventoryConfig(path=path, geometry="polygons", polygon_cells="area_share", min_area_share=0.7)
    )
    assert share.counts["polygon_cells"] == 3 + 1 and share.counts["polygons_centroid_cell"] == 1


def test_polygons_off_or_across_the_grid_edge_are_counted_never_silent(ramp, caplog):
    x_left = ORIGIN[0]
    across = box(x_left - 0.8 * CELL, ORIGIN[1] - 10.2 * CELL, x_left + 0.3 * CELL, ORIGIN[1] - 10.6 * CELL)
    off = box(x_left - 500, ORIGIN[1] - 100, x_left - 400, ORIGIN[1] - 50)
    path = _write_polygons(ramp["dir"] / "edge.gpkg", [_square(3, 3, 2), across, off])
    with caplog.at_level(logging.INFO, logger="susmap"):
        cells = _cells(ramp["stack"], InventoryConfig(path=path, geometry="polygons"))
    assert cells.counts["polygons_off_grid"] == 1
    assert cells.counts["polygons_centroid_cell"] == 1  # the one across the edge: its part on the grid
    assert (10, 0) in set(zip(cells.rows[cells.event_id == 1], cells.cols[cells.event_id == 1], strict=True))
    assert "1 of 3 polygons lie off the grid and were dropped" in caplog.text


def test_polygon_on_nodata_is_counted(tmp_path):
    elev = np.full((H, W), 100.0, dtype=np.float32)
    elev[10:13, 10:13] = -9999.0
    p = write_raster(tmp_path / "elev.tif", elev)
    stack = open_stack(GridConfig(template=p), [LayerConfig(name="elev", path=p)], AlignmentConfig())
    path = _write_polygons(tmp_path / "p.gpkg", [_square(10, 10, 3), _square(20, 20, 2)])
    samples, counts = _samples(stack, InventoryConfig(path=path, geometry="polygons"))
    assert counts["on_nodata"] == 9 and counts["events_on_nodata"] == 1
    assert set(samples.loc[samples["label"] == 1, "event_id"]) == {1}


# --------------------------------------------------------------------------- source area


def test_source_rule_never_empties_a_polygon(ramp, caplog):
    geoms = [*_small_polygons(30, seed=4), _square(5, 5, 4), _square(20, 30, 6)]
    path = _write_polygons(ramp["dir"] / "src.gpkg", geoms)
    cfg = InventoryConfig(
        path=path, geometry="polygons", source_area={"elevation_layer": "elev", "upper_fraction": 0.25}
    )
    with caplog.at_level(logging.INFO, logger="susmap"):
        cells = _cells(ramp["stack"], cfg)
    assert sorted(set(cells.event_id)) == list(range(len(geoms)))
    big = cells.event_id == len(geoms) - 1
    assert set(cells.rows[big]) == {20, 21}  # the upper quarter of rows 20..25 (quantile with interpolation)
    assert cells.counts["non_source_cells_dropped"] > 0
    assert "source area:" in caplog.text


def test_source_rule_keeps_a_polygon_whose_elevation_is_mostly_missing(tmp_path):
    elev = np.repeat(np.arange(H, 0, -1, dtype=np.float32)[:, None] * 10.0, W, axis=1)
    elev[5:8, 5:9] = -9999.0
    elev[8, 5:9] = -9999.0
    elev[8, 7] = 55.0  # one cell with data: the polygon's only, hence highest, cell
    p = write_raster(tmp_path / "elev.tif", elev)
    stack = open_stack(GridConfig(template=p), [LayerConfig(name="elev", path=p)], AlignmentConfig())
    path = _write_polygons(tmp_path / "p.gpkg", [_square(5, 5, 4)])
    cfg = InventoryConfig(path=path, geometry="polygons", source_area={"elevation_layer": "elev"})
    samples, _counts = _samples(stack, cfg)
    assert list(
        zip(samples.loc[samples["label"] == 1, "row"], samples.loc[samples["label"] == 1, "col"], strict=False)
    ) == [(8, 7)]


def test_old_polygon_cells_names_still_read():
    assert InventoryConfig(path="x.gpkg", geometry="polygons", polygon_cells="all").polygon_cells == "centre"
    cfg = InventoryConfig(
        path="x.gpkg", geometry="polygons", polygon_cells="source", source_area={"elevation_layer": "elev"}
    )
    assert cfg.polygon_cells == "centre" and cfg.source_area.elevation_layer == "elev"
    with pytest.raises(ValueError, match="source_area"):
        InventoryConfig(path="x.gpkg", geometry="polygons", polygon_cells="source")
    with pytest.raises(ValueError, match="polygon inventories"):
        InventoryConfig(path="x.csv", source_area={"elevation_layer": "elev"})


# --------------------------------------------------------------------------- absences


def test_absences_keep_off_whole_polygons_and_their_buffer(ramp):
    """Source cells are the upper part only: absences must still avoid the rest of each polygon."""
    rng = np.random.default_rng(5)
    geoms = [_square(rng.uniform(1, H - 8), rng.uniform(1, W - 8), rng.uniform(2, 6)) for _ in range(12)]
    geoms += _small_polygons(10, seed=6)
    path = _write_polygons(ramp["dir"] / "big.gpkg", geoms)
    cfg = InventoryConfig(
        path=path, geometry="polygons", source_area={"elevation_layer": "elev", "upper_fraction": 0.2}
    )
    buffer_m = 25.0
    samples, counts = _samples(ramp["stack"], cfg, SamplingConfig(absence_ratio=3.0, buffer_m=buffer_m), seed=2)
    ab = samples[samples["label"] == 0]
    assert len(ab) == counts["absences"] > 0
    union = shapely.union_all(geoms)
    centres = shapely.points(ab["x"].to_numpy(), ab["y"].to_numpy())
    assert shapely.distance(centres, union).min() > buffer_m
    half = CELL / 2
    cells = shapely.box(ab["x"] - half, ab["y"] - half, ab["x"] + half, ab["y"] + half)
    assert not shapely.intersects(cells, union).any()  # no absence cell touches a polygon


def test_absences_never_inside_a_polygon_without_buffer(ramp):
    geoms = [_square(2, 2, 30), *_small_polygons(15, seed=8)]  # one polygon covers a third of the grid
    path = _write_polygons(ramp["dir"] / "huge.gpkg", geoms)
    cfg = InventoryConfig(path=path, geometry="polygons", source_area={"elevation_layer": "elev"})
    samples, _ = _samples(ramp["stack"], cfg, SamplingConfig(absence_ratio=1.0, buffer_m=0.0), seed=1)
    ab = samples[samples["label"] == 0]
    half = CELL / 2
    cells = shapely.box(ab["x"] - half, ab["y"] - half, ab["x"] + half, ab["y"] + half)
    assert not shapely.intersects(cells, shapely.union_all(geoms)).any()


def test_absences_keep_off_events_left_out_by_where(ramp):
    pts = [cell_centre(r, c) for r in range(2, H - 2, 3) for c in range(2, W - 2, 3)]
    year = np.where(np.arange(len(pts)) % 2 == 0, 2000, 2010)
    frame = pd.DataFrame({"x": [p[0] for p in pts], "y": [p[1] for p in pts], "year": year})
    path = ramp["dir"] / "pts.csv"
    frame.to_csv(path, index=False)
    cfg = InventoryConfig(path=path, x="x", y="y", crs=UTM17S, where="year < 2005")
    samples, counts = _samples(ramp["stack"], cfg, SamplingConfig(absence_ratio=1.0, buffer_m=5.0), seed=3)
    assert counts["where_excluded"] == int((year >= 2005).sum())
    later = set(zip(*ramp["stack"].grid.rowcol(frame["x"][year >= 2005], frame["y"][year >= 2005])[:2], strict=True))
    ab = samples[samples["label"] == 0]
    assert not later & set(zip(ab["row"], ab["col"], strict=True))


# --------------------------------------------------------------------------- duplicates and conflicts


def _study(synthetic, **inventory):
    from conftest import synthetic_study

    data = synthetic_study(synthetic)
    data["inventory"].update(inventory)
    return study_from_dict(data)


def _cv_scores(study, stack):
    samples, counts = draw_samples(study, stack)
    names = stack.names
    pipe = make_pipeline("logistic_regression", {}, factor_names=names, kinds=stack.kinds, seed=study.seed)
    result = cross_validate_models(
        samples[names].to_numpy(),
        samples["label"].to_numpy(dtype=int),
        samples[["x", "y"]].to_numpy(),
        {"lr": pipe},
        schemes=("random", "spatial"),
        n_splits=3,
        n_repeats=2,
        seed=study.seed,
        metrics=["auroc", "accuracy"],
    )
    return samples, counts, result.scores


def test_inventory_repeated_three_times_gives_the_same_samples_and_cv_scores(synthetic):
    stack = open_stack(
        GridConfig(template=synthetic["a"]),
        [LayerConfig(name="a", path=synthetic["a"]), LayerConfig(name="b", path=synthetic["b"])],
        AlignmentConfig(),
    )
    base_samples, base_counts, base_scores = _cv_scores(_study(synthetic), stack)
    tripled = synthetic["dir"] / "tripled.csv"
    pts = synthetic["points"]
    pd.concat([pts, pts, pts], ignore_index=True).to_csv(tripled, index=False)
    samples, counts, scores = _cv_scores(_study(synthetic, path=str(tripled)), stack)
    pd.testing.assert_frame_equal(samples, base_samples)
    pd.testing.assert_frame_equal(scores, base_scores)
    assert counts["duplicate_cells"] == base_counts["duplicate_cells"] + 2 * len(pts)


def test_duplicates_refused_when_asked(synthetic):
    stack = open_stack(
        GridConfig(template=synthetic["a"]), [LayerConfig(name="a", path=synthetic["a"])], AlignmentConfig()
    )
    pts = synthetic["points"]
    path = synthetic["dir"] / "twice.csv"
    pd.concat([pts, pts.iloc[:5]], ignore_index=True).to_csv(path, index=False)
    cfg = InventoryConfig(path=path, x="x", y="y", crs=UTM17S, label="event", duplicates="refuse")
    with pytest.raises(InventoryError, match=r"twice.csv: 6 events fall on a cell that already holds one"):
        _samples(stack, cfg)


def _conflicting(synthetic) -> pd.DataFrame:
    pts = synthetic["points"]
    flipped = pts.iloc[:4].assign(event=1 - pts["event"].iloc[:4])
    return pd.concat([pts, flipped], ignore_index=True)


def test_conflicting_labels_event_wins(synthetic):
    stack = open_stack(
        GridConfig(template=synthetic["a"]), [LayerConfig(name="a", path=synthetic["a"])], AlignmentConfig()
    )
    path = synthetic["dir"] / "conflict.csv"
    frame = _conflicting(synthetic)
    frame.to_csv(path, index=False)
    cfg = InventoryConfig(path=path, x="x", y="y", crs=UTM17S, label="event", conflicts="event_wins")
    samples, counts = _samples(stack, cfg)
    assert counts["conflicting_cells"] == 4
    for x, y in frame[["x", "y"]].iloc[:4].itertuples(index=False):
        at = samples[(samples["x"] == x) & (samples["y"] == y)]
        assert list(at["label"]) == [1]
    with pytest.raises(InventoryError, match=r"conflict.csv: 4 cell\(s\) hold events labelled both 1 and 0"):
        _samples(stack, InventoryConfig(path=path, x="x", y="y", crs=UTM17S, label="event"))


def _run_cli(tmp_dir, study: dict):
    study_file = tmp_dir / "study.yaml"
    study_file.write_text(yaml.safe_dump(study, sort_keys=False), encoding="utf-8")
    out = tmp_dir / "results"
    out.mkdir(exist_ok=True)
    (out / "keep.txt").write_bytes(b"earlier\n")
    result = CliRunner().invoke(app, ["run", str(study_file), "--out", str(out)])
    return result, out


def _assert_one_line_exit_2(result, out, needles):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("susmap: error:"), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_cli_refuses_conflicting_labels_with_one_line(synthetic, make_study):
    path = synthetic["dir"] / "conflict.csv"
    _conflicting(synthetic).to_csv(path, index=False)
    study = make_study()
    study["inventory"]["path"] = str(path)
    result, out = _run_cli(synthetic["dir"], study)
    _assert_one_line_exit_2(result, out, ["conflict.csv", "4 cell(s)", "'event'", "inventory.conflicts"])


def test_cli_refuses_a_bad_where_with_one_line(synthetic, make_study):
    study = make_study()
    study["inventory"]["where"] = "Year_obs < 2006"
    result, out = _run_cli(synthetic["dir"], study)
    _assert_one_line_exit_2(result, out, ["inventory.where", "Year_obs", "columns: x, y, event"])


# --------------------------------------------------------------------------- where


def test_where_filters_features_by_attributes(ramp):
    geoms = [_square(5 + 4 * i, 5, 2) for i in range(6)]
    years = [1999, 2003, 2005, 2006, 2010, None]
    path = _write_polygons(ramp["dir"] / "dated.gpkg", geoms, Year_obs=years, kind=["a", "b"] * 3)
    cells = _cells(ramp["stack"], InventoryConfig(path=path, geometry="polygons", where="Year_obs < 2006"))
    assert sorted(set(cells.event_id)) == [0, 1, 2]  # the row numbers of the file, kept
    assert cells.counts["where_excluded"] == 3 and cells.counts["features"] == 6
    both = _cells(
        ramp["stack"], InventoryConfig(path=path, geometry="polygons", where='Year_obs >= 2003 and kind == "b"')
    )
    assert sorted(set(both.event_id)) == [1, 3]


@pytest.mark.parametrize(
    "where,needle",
    [
        ("Yr < 2006", "'Yr' is not defined"),
        ("Year_obs < '2006' + 1", "cannot be evaluated"),
        ("Year_obs + 1", "not a true/false condition"),
    ],
)
def test_bad_where_names_the_key_and_the_columns(ramp, where, needle):
    path = _write_polygons(ramp["dir"] / "dated.gpkg", [_square(5, 5, 2)], Year_obs=[2000])
    with pytest.raises(StudyConfigError) as err:
        _cells(ramp["stack"], InventoryConfig(path=path, geometry="polygons", where=where))
    msg = str(err.value)
    assert "inventory.where" in msg and "columns: no, Year_obs" in msg and needle in msg
    assert "\n" not in msg


def test_where_that_keeps_nothing_is_refused(ramp):
    path = _write_polygons(ramp["dir"] / "dated.gpkg", [_square(5, 5, 2)], Year_obs=[2000])
    with pytest.raises(InventoryError, match=r"no feature matches inventory.where 'Year_obs > 2020' \(of 1 features\)"):
        _cells(ramp["stack"], InventoryConfig(path=path, geometry="polygons", where="Year_obs > 2020"))


def test_points_and_multipoints_keep_their_feature_rows(ramp):
    path = ramp["dir"] / "pts.gpkg"
    gpd.GeoDataFrame(
        {"v": [1, 2]},
        geometry=[Point(*cell_centre(3, 3)), shapely.MultiPoint([cell_centre(4, 4), cell_centre(9, 9)])],
        crs=UTM17S,
    ).to_file(path)
    samples, _counts = _samples(ramp["stack"], InventoryConfig(path=path), SamplingConfig())
    events = samples[samples["label"] == 1]
    assert list(events["event_id"]) == [0, 1, 1] and list(events["event_cells"]) == [1, 2, 2]


def test_duplicates_keep_and_the_report_line(synthetic):
    stack = open_stack(
        GridConfig(template=synthetic["a"]), [LayerConfig(name="a", path=synthetic["a"])], AlignmentConfig()
    )
    pts = synthetic["points"]
    path = synthetic["dir"] / "twice.csv"
    pd.concat([pts, pts], ignore_index=True).to_csv(path, index=False)
    cfg = InventoryConfig(path=path, x="x", y="y", crs=UTM17S, label="event", duplicates="keep")
    samples, counts = _samples(stack, cfg)
    assert len(samples) == 2 * len(pts) and counts["duplicate_cells"] == len(pts) + 1
    assert inventory_summary(counts) == f"{2 * len(pts)} features: {counts['duplicate_cells']} repeated cells kept " + (
        "(inventory.duplicates: keep)"
    )
    _, counts = _samples(stack, InventoryConfig(path=path, x="x", y="y", crs=UTM17S, label="event"))
    assert inventory_summary(counts) == f"{2 * len(pts)} features: {len(pts) + 1} repeated cells merged"
    assert inventory_summary({"features": 5, "off_grid": 0}) == "5 features, all sampled"


def test_features_without_geometry_are_logged(ramp, caplog):
    path = ramp["dir"] / "holes.geojson"
    frame = gpd.GeoDataFrame({"no": [0, 1, 2]}, geometry=[_square(5, 5, 2), None, _square(9, 9, 2)], crs=UTM17S)
    frame.to_file(path, driver="GeoJSON")
    with caplog.at_level(logging.INFO, logger="susmap"):
        cells = _cells(ramp["stack"], InventoryConfig(path=path, geometry="polygons"))
    assert "1 of 3 features of holes.geojson have no geometry and were skipped" in caplog.text
    assert sorted(set(cells.event_id)) == [0, 1]
    gpd.GeoDataFrame({"no": [0]}, geometry=[None], crs=UTM17S).to_file(path, driver="GeoJSON")
    with pytest.raises(InventoryError, match=r"none of the 1 features of the inventory has a geometry"):
        _cells(ramp["stack"], InventoryConfig(path=path, geometry="polygons"))


def test_where_syntax_is_checked_when_the_study_is_read(synthetic, make_study):
    study = make_study()
    study["inventory"]["where"] = "Year_obs <"
    with pytest.raises(StudyConfigError, match=r"inventory: where 'Year_obs <' is not a condition"):
        study_from_dict(study)
    study["inventory"]["where"] = "`Year obs` < 2006 and kind in ['a', 'b']"
    assert study_from_dict(study).inventory.where.startswith("`Year obs`")


def test_study_with_polygons_smaller_than_a_cell_keeps_every_polygon(synthetic, make_study):
    """The whole run: every small landslide polygon is a sample in samples.csv, and the report says how."""
    rng = np.random.default_rng(9)
    geoms = []
    for row, col in zip(rng.uniform(5, 58, 40), rng.uniform(40, 78, 40), strict=True):  # the high-'a' half
        geoms.append(_square(np.floor(row) + 0.05, np.floor(col) + 0.05, 0.4))  # no cell centre inside
    path = _write_polygons(synthetic["dir"] / "small_slides.gpkg", geoms)
    study = make_study(
        inventory={"path": str(path), "geometry": "polygons"},
        sampling={"absence_ratio": 1.0, "buffer_m": 10.0},
        mapping={"enabled": False},
    )
    study_file = synthetic["dir"] / "study.yaml"
    study_file.write_text(yaml.safe_dump(study, sort_keys=False), encoding="utf-8")
    out = synthetic["dir"] / "results"
    result = CliRunner().invoke(app, ["run", str(study_file), "--out", str(out)])
    assert result.exit_code == 0, result.output
    samples = pd.read_csv(out / "samples.csv")
    events = samples[samples["label"] == 1]
    merged = _merged_ids(geoms, _grid_of(synthetic["a"]))
    assert set(events["event_id"]) == set(range(len(geoms))) - merged
    assert len(events) == len(geoms) - len(merged) and (events["event_cells"] == 1).all()
    counts = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["samples"]
    assert counts["polygons_centroid_cell"] == len(geoms) and counts["duplicate_cells"] == len(merged)
    report = (out / "report.html").read_text(encoding="utf-8")
    assert f"{len(geoms)} polygons without a cell by the rule kept by their centroid cell" in report


def _grid_of(path):
    from susmap.grid import Grid, open_raster

    with open_raster(path) as src:
        return Grid.from_dataset(src)


def test_ecuador_inventory_repeated_three_times_gives_the_same_cv_scores(tmp_path, ecuador_ta):
    """The issue's case: lsl.csv repeated three times lifted random-CV AUROC from 0.84 to 0.998."""
    from susmap.datasets import ECUADOR_FACTORS, ecuador_path

    layers = [LayerConfig(name=n, path=ecuador_ta, band=n) for n in ECUADOR_FACTORS]
    stack = open_stack(GridConfig(template=ecuador_ta, band=4), layers, AlignmentConfig(), chunks=100)
    lsl = pd.read_csv(ecuador_path("lsl.csv"))
    tripled = tmp_path / "lsl_x3.csv"
    pd.concat([lsl, lsl, lsl], ignore_index=True).to_csv(tripled, index=False)
    results = []
    for path in (ecuador_path("lsl.csv"), tripled):
        cfg = InventoryConfig(path=path, x="x", y="y", crs=UTM17S, label="lslpts")
        samples, counts = _samples(stack, cfg)
        pipe = make_pipeline("random_forest", {"n_estimators": 50}, factor_names=stack.names, kinds={}, seed=1)
        cv = cross_validate_models(
            samples[stack.names].to_numpy(),
            samples["label"].to_numpy(dtype=int),
            samples[["x", "y"]].to_numpy(),
            {"rf": pipe},
            schemes=("random",),
            n_splits=5,
            n_repeats=1,
            seed=1,
            metrics=["auroc"],
        )
        results.append((samples, counts, cv.scores))
    (s1, c1, cv1), (s3, c3, cv3) = results
    pd.testing.assert_frame_equal(s1, s3)
    pd.testing.assert_frame_equal(cv1, cv3)
    assert c3["duplicate_cells"] == c1["duplicate_cells"] + 2 * len(lsl)
    assert cv1["auroc"].mean() < 0.95  # not the inflated score of repeated points


def test_invalid_polygons_are_repaired_and_counted(ramp, caplog):
    x0, y0 = _corner(10, 10)
    side = 4 * CELL
    bow_tie = shapely.Polygon([(x0, y0), (x0 + side, y0 - side), (x0 + side, y0), (x0, y0 - side)])
    flat = shapely.Polygon([(x0, y0 - 20 * CELL), (x0 + side, y0 - 20 * CELL), (x0 + 2 * side, y0 - 20 * CELL)])
    assert not bow_tie.is_valid
    path = _write_polygons(ramp["dir"] / "bad.gpkg", [bow_tie, _square(30, 30, 2), flat])
    for rule in ("centre", "area_share"):
        with caplog.at_level(logging.INFO, logger="susmap"):
            cells = _cells(ramp["stack"], InventoryConfig(path=path, geometry="polygons", polygon_cells=rule))
        assert cells.counts["polygons_repaired"] >= 1 and cells.counts["polygons_without_area"] == 1
        assert set(cells.event_id) == {0, 1}
        assert "have invalid geometry (self-intersections) and were repaired" in caplog.text
        assert "1 of 3 polygons have no area" in caplog.text
    _, counts = _samples(ramp["stack"], InventoryConfig(path=path, geometry="polygons"), SamplingConfig())
    assert "invalid polygons repaired" in inventory_summary(counts)


# --------------------------------------------------------------------------- bad inventory settings on the command line


def _inventory_with(synthetic, name: str, frame: pd.DataFrame) -> str:
    path = synthetic["dir"] / name
    frame.to_csv(path, index=False)
    return str(path)


def _dated(synthetic) -> pd.DataFrame:
    return synthetic["points"].assign(Year_obs=np.arange(len(synthetic["points"])) % 20 + 1995)


BAD_INVENTORY = {
    "duplicates-refused": (
        lambda s: {
            "path": _inventory_with(s, "dup.csv", pd.concat([s["points"], s["points"].iloc[:3]])),
            "duplicates": "refuse",
        },
        None,
        ["dup.csv", "inventory.duplicates"],
    ),
    "conflicting-labels": (
        lambda s: {"path": _inventory_with(s, "conf.csv", _conflicting(s))},
        None,
        ["conf.csv", "labelled both 1 and 0", "inventory.conflicts"],
    ),
    "where-unknown-column": (
        lambda s: {"where": "Yr < 2006"},
        None,
        ["inventory.where", "'Yr'", "columns: x, y, event"],
    ),
    "where-bad-syntax": (lambda s: {"where": "Year_obs <<< 3"}, None, ["study.yaml", "inventory", "where"]),
    "where-keeps-nothing": (
        lambda s: {"path": _inventory_with(s, "dated.csv", _dated(s)), "where": "Year_obs > 3000"},
        None,
        ["dated.csv", "no feature matches inventory.where"],
    ),
    "time-field-missing": (
        lambda s: {"time_field": "Year_obs"},
        {"schemes": [{"name": "temporal", "split_at": 2005}]},
        ["inventory.time_field", "'Year_obs' not found"],
    ),
    "temporal-without-time-field": (
        lambda s: {},
        {"schemes": [{"name": "temporal", "split_at": 2005}]},
        ["study.yaml", "inventory.time_field"],
    ),
    "temporal-split-after-every-event": (
        lambda s: {"path": _inventory_with(s, "dated.csv", _dated(s)), "time_field": "Year_obs"},
        {"schemes": [{"name": "temporal", "split_at": 2050}]},
        ["temporal", "split_at 2050", "1995 to 2014"],
    ),
    "temporal-date-against-years": (
        lambda s: {"path": _inventory_with(s, "dated.csv", _dated(s)), "time_field": "Year_obs"},
        {"schemes": [{"name": "temporal", "split_at": "May 2005"}]},
        ["split_at", "'May 2005'", "numbers"],
    ),
    "polygon-rule-unknown": (lambda s: {"polygon_cells": "centroid"}, None, ["study.yaml", "polygon_cells"]),
    "area-share-zero": (lambda s: {"min_area_share": 0}, None, ["study.yaml", "min_area_share"]),
    "source-area-on-points": (
        lambda s: {"source_area": {"elevation_layer": "a"}},
        None,
        ["study.yaml", "source_area applies to polygon inventories"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_INVENTORY))
def test_bad_inventory_settings_exit_2_with_one_line(case, synthetic, make_study):
    inventory, validation, needles = BAD_INVENTORY[case]
    study = make_study()
    study["inventory"].update(inventory(synthetic))
    if validation is not None:
        study["validation"] = {**study["validation"], **validation}
    result, out = _run_cli(synthetic["dir"], study)
    _assert_one_line_exit_2(result, out, needles)
