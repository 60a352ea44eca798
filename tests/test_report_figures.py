"""The report's figures and out-of-fold tables: class map furniture, pooled prediction rate, held-out class table."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from matplotlib.figure import Figure
from matplotlib.text import Text
from rasterio.transform import Affine, from_origin

from susmap.mapping.classes import class_table, held_out_class_table
from susmap.mapping.figures import add_map_furniture, add_scale_bar, draw_class_map, plot_class_map, round_length
from susmap.validation.curves import prediction_rate_from_folds, rate_curve

# --- out-of-fold prediction rate ---------------------------------------------------------------


def test_prediction_rate_two_folds_by_hand():
    # fold A: cells 1..4, event 3.5 above 1 cell of 4 -> area share 0.25
    # fold B: cells 1..4, events 4.5 (above all: area share 0) and 0.5 (below all: area share 1)
    # pooled, 3 events at area shares 0, 0.25, 1: the curve climbs to 1/3 at 0, to 2/3 at 0.25, to 1 at 1
    cells = np.array([1.0, 2.0, 3.0, 4.0])
    curve = prediction_rate_from_folds([cells, cells], [np.array([3.5]), np.array([0.5, 4.5])])
    np.testing.assert_allclose(curve.area_share, [0, 0, 0.25, 0.25, 0.5, 0.75, 1, 1])
    np.testing.assert_allclose(curve.event_share, [0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3, 2 / 3, 1])
    np.testing.assert_array_equal(curve.thresholds, [np.inf, 4.5, 4.0, 3.5, 3.0, 2.0, 1.0, 0.5])
    # AUC = 1/3 * 0.25 + 2/3 * 0.75 = 7/12 = mean over events of (1 - area share) = (1 + 0.75 + 0) / 3
    assert curve.auc == pytest.approx(7 / 12)


def test_prediction_rate_folds_with_different_cell_ratings():
    # fold A rates the 4 cells 1..4, its event 2.5 -> area share 0.5 (AUC 0.5)
    # fold B rates the same cells 10..40, its event 45 -> area share 0 (AUC 1)
    # pooled: 1/2 from x = 0 to 0.5, then 1: AUC = 0.5 * 0.5 + 0.5 = 0.75 (event-weighted mean of 0.5 and 1)
    curve = prediction_rate_from_folds([[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]], [[2.5], [45.0]])
    np.testing.assert_allclose(curve.area_share, [0, 0, 0.25, 0.5, 0.5, 0.75, 1])
    np.testing.assert_allclose(curve.event_share, [0, 0.5, 0.5, 0.5, 1, 1, 1])
    assert curve.auc == pytest.approx(0.75)


def test_prediction_rate_one_fold_equals_rate_curve_with_ties():
    # ties between cells and events (a tree model's probabilities) are spread as in rate_curve
    cells = np.array([0.1, 0.1, 0.3, 0.3, 0.3, 0.7, np.nan, 0.9, 0.9, 0.2])
    events = np.array([0.3, 0.9, 0.95, 0.1, 0.3, np.nan])
    pooled = prediction_rate_from_folds([cells], [events])
    single = rate_curve(cells, events)
    np.testing.assert_array_equal(pooled.area_share, single.area_share)
    np.testing.assert_array_equal(pooled.event_share, single.event_share)
    np.testing.assert_array_equal(pooled.thresholds, single.thresholds)
    assert pooled.auc == single.auc


def test_prediction_rate_skips_fold_without_events_and_refuses_bad_input():
    cells = np.arange(10.0)
    assert prediction_rate_from_folds([cells, cells], [[9.0], []]).auc == pytest.approx(0.95)
    with pytest.raises(ValueError, match="one cell array per fold"):
        prediction_rate_from_folds([cells], [[1.0], [2.0]])
    with pytest.raises(ValueError, match="at least one fold"):
        prediction_rate_from_folds([], [])
    with pytest.raises(ValueError, match="fold 1 has no valid"):
        prediction_rate_from_folds([cells, [np.nan]], [[1.0], [2.0]])
    with pytest.raises(ValueError, match="held-out event"):
        prediction_rate_from_folds([cells], [[np.nan]])


# --- held-out class table ----------------------------------------------------------------------


def test_held_out_class_table_by_hand():
    edges = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    # the map: 40, 30, 20, 10 cells of 100 m² (0.004 ... 0.001 km²); training events 1, 1, 1, 3
    table = class_table(np.array([40, 30, 20, 10]), np.array([1, 2, 3, 4, 4, 4]), edges, 100.0)
    # held-out events at 0.1 (class 1), 0.5 (on an edge: class 2, as the map's edges[i-1] < p <= edges[i]),
    # 0.6 and 0.75 (class 3), 0.9 (class 4), NaN (not counted)
    held = held_out_class_table(table, edges, np.array([0.1, 0.5, 0.6, 0.75, 0.9, np.nan]))
    assert list(held.columns) == list(table.columns)
    assert held["name"].tolist() == table["name"].tolist()
    np.testing.assert_array_equal(held["cells"], [40, 30, 20, 10])
    np.testing.assert_array_equal(held["area_pct"], table["area_pct"])
    np.testing.assert_array_equal(held["events"], [1, 1, 2, 1])
    np.testing.assert_allclose(held["events_pct"], [20, 20, 40, 20])
    # density = events / area_km2; FR = events_pct / area_pct
    np.testing.assert_allclose(held["density_per_km2"], [250, 1000 / 3, 1000, 1000])
    np.testing.assert_allclose(held["frequency_ratio"], [0.5, 2 / 3, 2.0, 2.0])
    # the map's own table is left as it was
    np.testing.assert_array_equal(table["events"], [1, 1, 1, 3])


def test_held_out_class_table_refuses_mismatched_table():
    edges = np.array([0.0, 0.5, 1.0])
    table = class_table(np.array([5, 5]), np.array([1, 2]), edges, 100.0)
    with pytest.raises(ValueError, match="3 classes of edges"):
        held_out_class_table(table, np.array([0.0, 0.3, 0.6, 1.0]), np.array([0.2]))
    with pytest.raises(ValueError, match="frequency_ratio"):
        held_out_class_table(table.drop(columns="frequency_ratio"), edges, np.array([0.2]))


# --- the susceptibility map figure -------------------------------------------------------------


def _class_raster(path, *, crs="EPSG:32717", transform=None):
    """A tiled 5-class GeoTIFF, 40 × 60 cells of 30 m (1.8 km wide), with the class names in its tags."""
    cls = np.tile(np.repeat(np.arange(1, 6, dtype=np.uint8), 12), (40, 1))
    cls[:5, :5] = 0
    profile = {
        "driver": "GTiff",
        "height": 40,
        "width": 60,
        "count": 1,
        "dtype": "uint8",
        "crs": crs,
        "transform": transform or from_origin(650000.0, 9700000.0, 30.0, 30.0),
        "nodata": 0,
        "tiled": True,
        "blockxsize": 16,
        "blockysize": 16,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(cls, 1)
        dst.update_tags(classes="1=very low, 2=low, 3=moderate, 4=high, 5=very high")
    return path


def _texts(ax) -> list[str]:
    """Every text drawn on ``ax``, those inside anchored boxes (the scale bar) included."""
    return [t.get_text() for t in ax.findobj(Text) if t.get_text()]


def test_class_map_png_and_furniture(tmp_path):
    path = _class_raster(tmp_path / "classes.tif")
    events = (np.array([650100.0, 651000.0, 651500.0]), np.array([9699000.0, 9699500.0, 9698900.0]))
    held_out = (np.array([650500.0]), np.array([9699100.0]))
    out = tmp_path / "map.png"
    plot_class_map(path, out, dem=np.random.default_rng(0).normal(size=(40, 60)), events_xy=events)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    fig = Figure(figsize=(7, 5))
    ax = fig.add_subplot()
    draw_class_map(ax, path, events_xy=events, held_out_xy=held_out)
    texts = _texts(ax)
    # 1.8 km wide: a fifth is 360 m, the round length below it 200 m
    assert "0 … 200 m" in texts
    assert "N" in texts
    assert "EPSG:32717 — WGS 84 / UTM zone 17S" in texts
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["very low", "low", "moderate", "high", "very high", "events (n = 3)", "held-out events (n = 1)"]
    assert all(t.get_fontsize() >= 7 for t in ax.findobj(Text) if t.get_text())


def test_map_furniture_left_out_where_invalid(tmp_path):
    # rotated grid: no north arrow; geographic CRS: no scale bar, the CRS still named
    fig = Figure()
    ax = fig.add_subplot()
    add_map_furniture(ax, "EPSG:4326", (-79.0, -78.0, -2.0, -1.0), transform=Affine.rotation(10) * Affine.scale(1, -1))
    assert "EPSG:4326 — WGS 84" in _texts(ax)
    assert not [t for t in _texts(ax) if t == "N" or "…" in t]
    # a projected CRS in US survey feet: 30000 ftUS = 9.14 km wide, a fifth 1.83 km, a 1 km bar (3281 ft long)
    ax = fig.add_subplot()
    add_map_furniture(ax, "EPSG:2227", (0.0, 30000.0, 0.0, 20000.0))
    assert {"0 … 1 km", "N"} <= set(_texts(ax))
    assert add_scale_bar(fig.add_subplot(), (0.0, 30000.0, 0.0, 20000.0), metres_per_unit=1200 / 3937) == 1000.0


def test_round_length():
    assert [round_length(v) for v in (430.0, 2600.0, 0.9, 1000.0, 7.5)] == [200.0, 2000.0, 0.5, 1000.0, 5.0]
    with pytest.raises(ValueError, match="positive"):
        round_length(0.0)
