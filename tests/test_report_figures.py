"""The report's figures and out-of-fold tables: class map furniture, pooled prediction rate, held-out class table."""

from __future__ import annotations

import numpy as np
import pytest

from susmap.mapping.classes import class_table, held_out_class_table
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
