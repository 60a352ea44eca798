"""Inventory to cells, and the sample table: values, drops, absences."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from conftest import CELL, ORIGIN, UTM17S, cell_centre, write_raster
from susmap.datasets import ECUADOR_FACTORS
from susmap.errors import InputFileError, InventoryError, SamplingError
from susmap.inventory import inventory_cells, parse_labels, read_inventory
from susmap.sampling import build_samples
from susmap.stack import open_stack
from susmap.study import AlignmentConfig, GridConfig, InventoryConfig, LayerConfig, SamplingConfig


@pytest.fixture
def ecuador_stack(ecuador_ta):
    layers = [LayerConfig(name=n, path=ecuador_ta, band=n) for n in ECUADOR_FACTORS]
    return open_stack(GridConfig(template=ecuador_ta, band=4), layers, AlignmentConfig(), chunks=100)


def _samples(stack, cfg, sampling=None, seed=0):
    gdf = read_inventory(cfg, stack.grid)
    events = inventory_cells(gdf, cfg, stack)
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


def test_sample_values_equal_the_values_lsl_csv_carries(ecuador_stack, ecuador_lsl, ecuador_ta):
    """lsl.csv carries the ta.tif values at each point: our extraction must give the same."""
    from susmap.datasets import ecuador_path

    # lsl.csv repeats one non-event point (rows 2 and 9, same x/y): kept here as the file has it
    cfg = InventoryConfig(path=ecuador_path("lsl.csv"), x="x", y="y", crs=UTM17S, label="lslpts", duplicates="keep")
    samples, counts = _samples(ecuador_stack, cfg)
    assert len(samples) == 350 and counts["off_grid"] == 0 and counts["on_nodata"] == 0
    assert counts["duplicate_cells"] == 1
    assert samples["label"].sum() == 175
    np.testing.assert_array_equal(samples["label"].to_numpy(), ecuador_lsl["lslpts"].astype(int).to_numpy())
    np.testing.assert_allclose(samples[["x", "y"]], ecuador_lsl[["x", "y"]])
    for name in ECUADOR_FACTORS:
        # lsl.csv stores elev rounded to mm; the rest are the float32 values printed in full
        np.testing.assert_allclose(samples[name], ecuador_lsl[name], rtol=1e-6, atol=1e-3, err_msg=name)


def test_repeated_point_of_lsl_csv_is_merged_by_default(ecuador_stack, ecuador_lsl):
    from susmap.datasets import ecuador_path

    cfg = InventoryConfig(path=ecuador_path("lsl.csv"), x="x", y="y", crs=UTM17S, label="lslpts")
    samples, counts = _samples(ecuador_stack, cfg)
    assert counts["duplicate_cells"] == 1 and counts["conflicting_cells"] == 0
    assert len(samples) == 349 and samples["label"].sum() == 175
    assert 9 not in set(samples["event_id"]) and 2 in set(samples["event_id"])  # the first of the two is kept
    assert list(samples.columns[-2:]) == ["event_id", "event_cells"] and (samples["event_cells"] == 1).all()


@pytest.mark.parametrize("fmt", ["GPKG", "ESRI Shapefile", "GeoJSON"])
def test_vector_point_formats_give_the_same_cells(tmp_path, ecuador_stack, ecuador_lsl, fmt):
    suffix = {"GPKG": ".gpkg", "ESRI Shapefile": ".shp", "GeoJSON": ".geojson"}[fmt]
    gdf = gpd.GeoDataFrame(
        {"slide": ecuador_lsl["lslpts"].astype(int)},
        geometry=gpd.points_from_xy(ecuador_lsl["x"], ecuador_lsl["y"]),
        crs=UTM17S,
    )
    # GeoJSON is written in WGS84 by convention: the inventory is reprojected back to the grid
    if fmt == "GeoJSON":
        gdf = gdf.to_crs("EPSG:4326")
    path = tmp_path / f"lsl{suffix}"
    gdf.to_file(path, driver=fmt)
    samples, _ = _samples(ecuador_stack, InventoryConfig(path=path, label="slide", duplicates="keep"))
    np.testing.assert_allclose(samples["slope"], ecuador_lsl["slope"], rtol=1e-6)


def test_points_off_grid_and_on_nodata_are_dropped_and_counted(synthetic, caplog):
    pts = synthetic["points"].copy()
    off = pd.DataFrame(
        {"x": [ORIGIN[0] - 500, ORIGIN[0] + 5000], "y": [ORIGIN[1] - 50, ORIGIN[1] - 50], "event": [1, 0]}
    )
    nod_x, nod_y = cell_centre(1, 1)  # layer 'a' is nodata at (0..2, 0..2)
    nod = pd.DataFrame({"x": [nod_x], "y": [nod_y], "event": [1]})
    path = synthetic["dir"] / "inv.csv"
    pd.concat([pts, off, nod]).to_csv(path, index=False)
    stack = open_stack(
        GridConfig(template=synthetic["a"]),
        [LayerConfig(name="a", path=synthetic["a"]), LayerConfig(name="b", path=synthetic["b"])],
        AlignmentConfig(),
    )
    cfg = InventoryConfig(path=path, x="x", y="y", crs=UTM17S, label="event")
    with caplog.at_level(logging.INFO, logger="susmap"):
        samples, counts = _samples(stack, cfg)
    assert counts["off_grid"] == 2
    assert counts["on_nodata"] == 1
    # the fixture's random points put two (same label) on one cell: merged into one sample
    assert counts["duplicate_cells"] == 1
    assert len(samples) == len(pts) - 1
    assert "2 of 123 inventory points lie off the grid" in caplog.text
    assert "1 inventory cells fall on nodata" in caplog.text


def test_presence_only_absences_respect_buffer_ratio_and_validity(synthetic):
    stack = open_stack(
        GridConfig(template=synthetic["a"]),
        [LayerConfig(name="a", path=synthetic["a"]), LayerConfig(name="b", path=synthetic["b"])],
        AlignmentConfig(),
    )
    pts = synthetic["points"]
    path = synthetic["dir"] / "presence.csv"
    pts[pts["event"] == 1][["x", "y"]].to_csv(path, index=False)
    cfg = InventoryConfig(path=path, x="x", y="y", crs=UTM17S)
    samples, counts = _samples(stack, cfg, SamplingConfig(absence_ratio=2.0, buffer_m=25.0), seed=3)
    ev = samples[samples["label"] == 1]
    ab = samples[samples["label"] == 0]
    assert len(ab) == 2 * len(ev) == 2 * (counts["features"] - counts["duplicate_cells"])
    # no absence within 25 m of an event cell centre, none on nodata, no repeated cell
    ex, ey = ev[["x", "y"]].to_numpy().T
    d = np.hypot(ab["x"].to_numpy()[:, None] - ex[None], ab["y"].to_numpy()[:, None] - ey[None])
    assert d.min() > 25.0
    assert np.isfinite(ab[["a", "b"]].to_numpy()).all()
    assert not ab.duplicated(["row", "col"]).any()
    # same seed, same absences; other seed, other absences
    again, _ = _samples(stack, cfg, SamplingConfig(absence_ratio=2.0, buffer_m=25.0), seed=3)
    pd.testing.assert_frame_equal(samples, again)
    other, _ = _samples(stack, cfg, SamplingConfig(absence_ratio=2.0, buffer_m=25.0), seed=4)
    assert not other[["row", "col"]].equals(samples[["row", "col"]])


def test_impossible_absence_buffer_is_a_clear_error(synthetic):
    stack = open_stack(
        GridConfig(template=synthetic["a"]), [LayerConfig(name="a", path=synthetic["a"])], AlignmentConfig()
    )
    path = synthetic["dir"] / "presence.csv"
    synthetic["points"][["x", "y"]].to_csv(path, index=False)
    cfg = InventoryConfig(path=path, x="x", y="y", crs=UTM17S)
    with pytest.raises(SamplingError, match=r"absence cells found outside a 5000 m buffer"):
        _samples(stack, cfg, SamplingConfig(buffer_m=5000.0))


def test_polygons_rasterized_all_cells_and_source_area(tmp_path):
    """A 4x4-cell square polygon on a north-south elevation ramp: 16 cells, upper half = 8 cells."""
    h, w = 20, 20
    elev = np.repeat(np.arange(h, 0, -1, dtype=np.float32)[:, None] * 10.0, w, axis=1)  # higher to the north
    p_elev = write_raster(tmp_path / "elev.tif", elev)
    stack = open_stack(GridConfig(template=p_elev), [LayerConfig(name="elev", path=p_elev)], AlignmentConfig())
    x0, y0 = ORIGIN[0] + 5 * CELL, ORIGIN[1] - 5 * CELL  # corner of cell (5, 5)
    square = box(x0, y0 - 4 * CELL, x0 + 4 * CELL, y0)
    far = box(ORIGIN[0] - 1000, ORIGIN[1] + 1000, ORIGIN[0] - 900, ORIGIN[1] + 1100)
    path = tmp_path / "slides.gpkg"
    gpd.GeoDataFrame({"id": [1, 2]}, geometry=[square, far], crs=UTM17S).to_file(path)
    cfg = InventoryConfig(path=path, geometry="polygons")
    cells = inventory_cells(read_inventory(cfg, stack.grid), cfg, stack)
    assert sorted(zip(cells.rows, cells.cols, strict=True)) == [(r, c) for r in range(5, 9) for c in range(5, 9)]
    assert cells.counts["polygons_off_grid"] == 1 and cells.counts["polygons_centroid_cell"] == 0
    src_cfg = InventoryConfig(
        path=path,
        geometry="polygons",
        polygon_cells="source",
        source_area={"elevation_layer": "elev", "upper_fraction": 0.5},
    )
    src = inventory_cells(read_inventory(src_cfg, stack.grid), src_cfg, stack)
    assert sorted(set(src.rows)) == [5, 6]  # the two upper (northern, higher) rows
    assert src.rows.size == 8


def test_point_inventory_refuses_polygons_and_vice_versa(tmp_path, ecuador_stack):
    path = tmp_path / "pts.gpkg"
    gpd.GeoDataFrame({"v": [1]}, geometry=[Point(713000, 9559000)], crs=UTM17S).to_file(path)
    with pytest.raises(InventoryError, match=r"inventory.geometry is 'polygons' but the file holds Point"):
        read_inventory(InventoryConfig(path=path, geometry="polygons"), ecuador_stack.grid)


@pytest.mark.parametrize(
    "values,expected",
    [
        (["TRUE", "FALSE", "true"], [1, 0, 1]),
        ([1, 0, 0], [1, 0, 0]),
        ([True, False, True], [1, 0, 1]),
        (["yes", "no", "1"], [1, 0, 1]),
    ],
)
def test_labels_are_parsed(values, expected, tmp_path):
    np.testing.assert_array_equal(parse_labels(pd.Series(values), column="c", path=tmp_path), expected)


def test_bad_labels_name_the_column(tmp_path):
    with pytest.raises(InventoryError, match=r"label column 'c' must hold 0/1 or TRUE/FALSE; found 'maybe'"):
        parse_labels(pd.Series(["TRUE", "maybe"]), column="c", path=tmp_path)
    with pytest.raises(InventoryError, match=r"label column 'c' has 1 empty value"):
        parse_labels(pd.Series([1.0, np.nan]), column="c", path=tmp_path)


def test_csv_inventory_errors(tmp_path, ecuador_stack):
    grid = ecuador_stack.grid
    with pytest.raises(InputFileError, match=r"none.csv: inventory file not found"):
        read_inventory(InventoryConfig(path=tmp_path / "none.csv", x="x", y="y", crs=UTM17S), grid)
    path = tmp_path / "inv.csv"
    pd.DataFrame({"east": [713000.0], "north": [9559000.0]}).to_csv(path, index=False)
    with pytest.raises(InventoryError, match=r"inventory.x column 'x' not found \(columns: east, north\)"):
        read_inventory(InventoryConfig(path=path, x="x", y="y", crs=UTM17S), grid)
    with pytest.raises(InventoryError, match=r"a CSV has no CRS; state the coordinates' CRS as inventory.crs"):
        read_inventory(InventoryConfig(path=path, x="east", y="north"), grid)
    with pytest.raises(InventoryError, match=r"label column 'slide' not found"):
        read_inventory(InventoryConfig(path=path, x="east", y="north", crs=UTM17S, label="slide"), grid)
