"""Honest warnings: thresholds at their boundaries, hand-counted edge zones, a real cross-validation run.

Oracles: summaries built by hand (mean - sd exactly at, above and below
0.6; AUROC gaps of 0.12 and 0.08), inventory counts with a known share
dropped, a 7 x 7 raster whose edge zone is counted by hand, and a
whole-array edge zone computed by shifting the nodata mask (no filter, no
windows) to check the windowed reader.
"""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import PredefinedSplit

from susmap.errors import InputFileError, StudyConfigError, SusmapWarning
from susmap.validation import (
    StudyWarning,
    class_shares_near_edges,
    cross_validate_models,
    edge_effect_warnings,
    inventory_warnings,
    log_warnings,
    validation_warnings,
    warnings_json,
)

KINDS = {"spatial": "spatial", "random": "random"}


def _summary(rows) -> pd.DataFrame:
    """Long summary from (scheme, model, metric, mean, sd, n_folds) tuples."""
    return pd.DataFrame(rows, columns=["scheme", "model", "metric", "mean", "sd", "n_folds"])


def _cv(spatial=(0.75, 0.05, 25), random=(0.78, 0.03, 25), model="rf", accuracy_folds=25) -> pd.DataFrame:
    return _summary(
        [
            ("spatial", model, "auroc", *spatial),
            ("spatial", model, "accuracy", 0.7, 0.05, accuracy_folds),
            ("random", model, "auroc", *random),
            ("random", model, "accuracy", 0.7, 0.05, 25),
        ]
    )


def _codes(ws: list[StudyWarning]) -> list[str]:
    return [w.code for w in ws]


# --------------------------------------------------------------------------- near chance, gap, events


@pytest.mark.parametrize(
    ("mean", "sd", "fires", "severity"),
    [
        (0.70, 0.10, False, None),  # mean - sd exactly 0.60: no warning
        (0.65, 0.04, False, None),  # 0.61
        (0.66, 0.07, True, "caution"),  # 0.59: the interval reaches below, the mean does not
        (0.53, 0.07, True, "serious"),  # the mean itself below 0.6
    ],
)
def test_near_chance_at_its_boundary(mean, sd, fires, severity):
    ws = validation_warnings(
        _cv(spatial=(mean, sd, 25), random=(mean, sd, 25)), scheme_kinds=KINDS, mapped_model="rf", n_events=100
    )
    assert _codes(ws) == (["near_chance"] if fires else [])
    if fires:
        w = ws[0]
        assert w.severity == severity
        assert w.value == pytest.approx(mean - sd) and w.threshold == 0.6
        assert f"the spatial-CV AUROC of rf is {mean:.2f} ± {sd:.2f} (scheme 'spatial', 25 folds)" in w.message


def test_near_chance_message_reads_as_promised():
    (w,) = validation_warnings(
        _cv(spatial=(0.53, 0.07, 25), random=(0.55, 0.05, 25)), scheme_kinds=KINDS, mapped_model="rf", n_events=100
    )
    assert w.message == (
        "the spatial-CV AUROC of rf is 0.53 ± 0.07 (scheme 'spatial', 25 folds); its mean is below 0.60: "
        "the map is hardly better than chance"
    )
    (w,) = validation_warnings(
        _cv(spatial=(0.63, 0.07, 25), random=(0.65, 0.05, 25)), scheme_kinds=KINDS, mapped_model="rf", n_events=100
    )
    assert w.message.endswith("its interval reaches below 0.60: the map may be little better than chance")


def test_spatial_scheme_is_the_first_non_random_one_with_a_defined_auroc():
    summary = _summary(
        [
            ("random", "rf", "auroc", 0.90, 0.02, 25),
            ("loo", "rf", "auroc", np.nan, np.nan, 0),  # leave-one-out: no per-fold AUROC
            ("blocks 500 m", "rf", "auroc", 0.55, 0.10, 9),
            ("spatial", "rf", "auroc", 0.85, 0.02, 25),
        ]
    )
    kinds = {"random": "random", "loo": "buffered_loo", "blocks 500 m": "blocks", "spatial": "spatial"}
    ws = validation_warnings(summary, scheme_kinds=kinds, mapped_model="rf", n_events=100)
    assert _codes(ws) == ["near_chance", "spatial_gap"]
    assert "(scheme 'blocks 500 m', 9 folds)" in ws[0].message
    assert ws[1].value == pytest.approx(0.35) and ws[1].severity == "serious"


@pytest.mark.parametrize(("random_mean", "fires"), [(0.90, True), (0.86, False), (0.88, False)])
def test_spatial_gap_of_012_fires_and_008_does_not(random_mean, fires):
    # gaps 0.12, 0.08 and exactly 0.10 (not more than max_gap)
    ws = validation_warnings(
        _cv(spatial=(0.78, 0.03, 25), random=(random_mean, 0.02, 25)),
        scheme_kinds=KINDS,
        mapped_model="rf",
        n_events=100,
    )
    assert _codes(ws) == (["spatial_gap"] if fires else [])
    if fires:
        assert ws[0].value == pytest.approx(0.12) and ws[0].severity == "caution"
        assert ws[0].message.startswith(
            "the random-CV AUROC of rf (0.90, scheme 'random') exceeds its spatial-CV AUROC (0.78, scheme "
            "'spatial') by 0.12, more than 0.10"
        )


def test_training_scores_of_a_both_parts_summary_are_ignored():
    test = _cv(spatial=(0.55, 0.05, 25)).assign(part="test")
    train = _cv(spatial=(0.99, 0.01, 25), random=(0.99, 0.01, 25)).assign(part="train")
    both = pd.concat([test, train], ignore_index=True)
    ws = validation_warnings(both, scheme_kinds=KINDS, mapped_model="rf", n_events=100)
    assert _codes(ws) == ["near_chance", "spatial_gap"] and ws[0].value == pytest.approx(0.5)


def test_only_the_mapped_model_is_tested_unless_none():
    summary = pd.concat([_cv(model="rf"), _cv(spatial=(0.55, 0.05, 25), random=(0.7, 0.02, 25), model="lr")])
    assert validation_warnings(summary, scheme_kinds=KINDS, mapped_model="rf", n_events=100) == []
    ws = validation_warnings(summary, scheme_kinds=KINDS, mapped_model=None, n_events=100)
    assert _codes(ws) == ["near_chance", "spatial_gap"]
    assert all("of lr" in w.message for w in ws)


@pytest.mark.parametrize(("n_events", "fires"), [(29, True), (30, False)])
def test_few_events_below_30(n_events, fires):
    ws = validation_warnings(_cv(), scheme_kinds=KINDS, mapped_model="rf", n_events=n_events)
    assert _codes(ws) == (["few_events"] if fires else [])
    if fires:
        assert ws[0].message.startswith("only 29 events were sampled, fewer than 30")
        assert ws[0].severity == "caution" and ws[0].value == 29 and ws[0].threshold == 30
    ws = validation_warnings(_cv(), scheme_kinds=KINDS, mapped_model="rf", n_events=12)
    assert ws[0].severity == "serious"


def test_bad_inputs_name_the_key():
    with pytest.raises(StudyConfigError, match="scheme 'random' of the summary has no entry in scheme_kinds"):
        validation_warnings(_cv(), scheme_kinds={"spatial": "spatial"}, mapped_model="rf", n_events=100)
    with pytest.raises(StudyConfigError, match="scheme 'spatial' has kind 'kmeans'; known kinds: spatial, random"):
        validation_warnings(_cv(), scheme_kinds={**KINDS, "spatial": "kmeans"}, mapped_model="rf", n_events=100)
    with pytest.raises(
        StudyConfigError, match=r"mapped model 'svm' is not in the cross-validation summary \(models: rf"
    ):
        validation_warnings(_cv(), scheme_kinds=KINDS, mapped_model="svm", n_events=100)
    with pytest.raises(StudyConfigError, match="lacks columns sd, n_folds"):
        validation_warnings(_cv().drop(columns=["sd", "n_folds"]), scheme_kinds=KINDS, mapped_model=None, n_events=1)


# --------------------------------------------------------------------------- folds dropped


def test_folds_dropped_from_the_summary_counts():
    summary = _cv(spatial=(0.8, 0.05, 23))  # 23 AUROCs defined of 25 folds (accuracy: 25)
    (w,) = validation_warnings(summary, scheme_kinds=KINDS, mapped_model="rf", n_events=100)
    assert w.code == "folds_dropped" and w.value == 2 and w.severity == "caution"
    assert w.message == (
        "in scheme 'spatial', 2 of 25 folds (folds x repeats) had one class only in their training or test part; "
        "their scores are undefined and left out of the means, which rest on 23 folds"
    )
    # a fold whose training part held one class loses every score: only the expected count can tell
    summary = _cv(spatial=(0.8, 0.05, 10), accuracy_folds=10)
    assert validation_warnings(summary, scheme_kinds=KINDS, mapped_model="rf", n_events=100) == []
    (w,) = validation_warnings(
        summary, scheme_kinds=KINDS, mapped_model="rf", n_events=100, expected_folds={"spatial": 25}
    )
    assert w.value == 15 and w.severity == "serious" and "15 of 25 folds" in w.message


def test_leave_one_out_folds_without_auroc_are_not_dropped():
    summary = _summary(
        [
            ("loo", "rf", "auroc", np.nan, np.nan, 0),
            ("loo", "rf", "accuracy", 0.8, 0.4, 40),
        ]
    )
    kinds = {"loo": "buffered_loo"}
    assert validation_warnings(summary, scheme_kinds=kinds, mapped_model="rf", n_events=40) == []
    ws = validation_warnings(summary, scheme_kinds=kinds, mapped_model="rf", n_events=40, expected_folds={"loo": 42})
    assert (
        _codes(ws) == ["folds_dropped"] and "2 of 42 folds" in ws[0].message and "their training part" in ws[0].message
    )


def test_folds_dropped_from_a_real_cross_validation_run():
    rng = np.random.default_rng(3)
    n = 45
    signal = rng.standard_normal(n)
    y = np.zeros(n, dtype=int)
    y[:15] = 1  # fold 0 below holds events only: its test AUROC is undefined
    X = np.column_stack([signal + y, rng.standard_normal(n)])  # noqa: N806
    coords = rng.uniform(0, 1000, size=(n, 2))
    test_fold = np.where(np.arange(n) < 10, 0, np.where(np.arange(n) < 30, 1, 2))
    test_fold[[12, 40]] = 2, 1  # fold 2 gets an event; fold 0 holds events only
    assert [set(y[test_fold == f]) for f in range(3)] == [{1}, {0, 1}, {0, 1}]
    with pytest.warns(SusmapWarning, match="1 of 3 model folds had one class only"):
        res = cross_validate_models(
            X, y, coords, {"lr": LogisticRegression()}, schemes=[("blocks", PredefinedSplit(test_fold))]
        )
    kinds = {"blocks": "blocks"}
    by_scores = validation_warnings(
        res.summary, scheme_kinds=kinds, mapped_model="lr", n_events=15, cv_scores=res.scores
    )
    by_summary = validation_warnings(res.summary, scheme_kinds=kinds, mapped_model="lr", n_events=15)
    for ws in (by_scores, by_summary):
        dropped = [w for w in ws if w.code == "folds_dropped"]
        assert len(dropped) == 1 and dropped[0].value == 1
        assert "in scheme 'blocks', 1 of 3 folds" in dropped[0].message
    assert "few_events" in _codes(by_scores)


# --------------------------------------------------------------------------- inventory


def test_events_dropped_on_nodata_20_percent_vs_2():
    many = {"features": 100, "off_grid": 0, "on_nodata": 20, "events_on_nodata": 20, "features_sampled": 80}
    (w,) = inventory_warnings(many)
    assert w.code == "events_dropped" and w.value == pytest.approx(0.2) and w.threshold == 0.1
    assert w.severity == "caution"  # 0.2 is not more than twice 0.1
    assert w.message == (
        "20 of 100 inventory features (20.0 %) were dropped: 20 on nodata in some factor layer; "
        "the samples may miss the terrain where they fell"
    )
    few = {"features": 100, "off_grid": 0, "on_nodata": 2, "events_on_nodata": 2, "features_sampled": 98}
    assert inventory_warnings(few) == []


def test_where_filter_is_not_a_drop_and_causes_are_named():
    # 100 of 200 left out by the user's filter; 12 off the grid and 3 on nodata of the 100 considered
    counts = {"features": 200, "where_excluded": 100, "off_grid": 12, "on_nodata": 3, "events_on_nodata": 3}
    (w,) = inventory_warnings(counts)
    assert w.value == pytest.approx(0.15)
    assert w.message.startswith(
        "15 of 100 inventory features (15.0 %) were dropped (besides 100 left out by inventory.where): "
        "12 off the grid, 3 on nodata in some factor layer;"
    )
    assert inventory_warnings({**counts, "off_grid": 5}) == []  # 8 %
    # points without events_on_nodata: one cell per point
    (w,) = inventory_warnings({"features": 10, "on_nodata": 3})
    assert w.value == pytest.approx(0.3) and w.severity == "serious"


def test_polygon_cells_on_nodata_warn_when_no_feature_was_lost():
    counts = {"features": 50, "polygon_cells": 1000, "polygons_off_grid": 0, "on_nodata": 150}
    (w,) = inventory_warnings(counts)
    assert w.value == pytest.approx(0.15)
    assert w.message.startswith("150 of 1000 event cells of the inventory polygons (15.0 %) fall on nodata")
    assert inventory_warnings({**counts, "on_nodata": 50}) == []
    with pytest.raises(StudyConfigError, match="max_dropped_share must be in"):
        inventory_warnings(counts, max_dropped_share=1.5)


# --------------------------------------------------------------------------- edge effects


def _write(path, classes: np.ndarray, tile: int = 16):
    h, w = classes.shape
    profile = {
        "driver": "GTiff",
        "height": h,
        "width": w,
        "count": 1,
        "dtype": "uint8",
        "nodata": 0,
        "transform": from_origin(500000, 9000000, 10, 10),
        "tiled": True,
        "blockxsize": tile,
        "blockysize": tile,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(classes.astype(np.uint8), 1)
    return path


def _whole_array_counts(classes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Edge and interior counts per class from shifted copies of the padded nodata mask (no filter, no windows)."""
    h, w = classes.shape
    pad = np.ones((h + 2 * k, w + 2 * k), dtype=bool)
    pad[k : k + h, k : k + w] = classes == 0
    near = np.zeros((h, w), dtype=bool)
    for dy in range(2 * k + 1):
        for dx in range(2 * k + 1):
            near |= pad[dy : dy + h, dx : dx + w]
    valid = classes > 0
    n = int(classes.max())
    edge = np.bincount(classes[valid & near], minlength=n + 1)[1:]
    interior = np.bincount(classes[valid & ~near], minlength=n + 1)[1:]
    return edge, interior


def test_edge_zone_counted_by_hand(tmp_path):
    # 7 x 7, nodata at the centre, k = 1: the border ring (24 cells) and the centre's 8 neighbours are edge,
    # the 16 cells between them interior; class 2 sits on the 8 neighbours
    classes = np.ones((7, 7), dtype=np.uint8)
    classes[2:5, 2:5] = 2
    classes[3, 3] = 0
    path = _write(tmp_path / "c.tif", classes, tile=16)
    for rows in (1, 2, 3, 7, 1024):
        t = class_shares_near_edges(path, 1, window_rows=rows)
        assert t["class"].tolist() == [1, 2]
        assert t["edge_cells"].tolist() == [24, 8] and t["interior_cells"].tolist() == [16, 0]
        assert t["edge_share"].tolist() == [0.75, 0.25] and t["interior_share"].tolist() == [1.0, 0.0]
        assert t["ratio"].iloc[0] == 0.75 and math.isinf(t["ratio"].iloc[1])
        assert t.attrs == {"edge_total": 32, "interior_total": 16, "edge_cells": 1}


def _rim_raster(rng, rim: bool) -> np.ndarray:
    classes = rng.integers(1, 5, size=(60, 80)).astype(np.uint8)  # classes 1-4 everywhere
    classes[rng.random((60, 80)) < 0.05] = 5  # some of the highest class everywhere
    if rim:
        classes[22:38, 32:48] = 5  # the highest class on the 3-cell rim of the hole
    else:
        classes[rng.random((60, 80)) < 0.15] = 5
    classes[25:35, 35:45] = 0  # the nodata hole
    return classes


@pytest.mark.parametrize("window_rows", [5, 7, 13, 59, 60])
def test_windowed_shares_equal_a_whole_array_computation(tmp_path, window_rows):
    rng = np.random.default_rng(window_rows)
    classes = _rim_raster(rng, rim=True)
    classes[rng.random(classes.shape) < 0.03] = 0  # scattered nodata too
    classes[:, :2] = 0  # a nodata strip along the left border
    path = _write(tmp_path / "c.tif", classes)
    for k in (1, 3, 4):
        t = class_shares_near_edges(path, k, window_rows=window_rows)
        edge, interior = _whole_array_counts(classes, k)
        np.testing.assert_array_equal(t["edge_cells"].to_numpy(), edge)
        np.testing.assert_array_equal(t["interior_cells"].to_numpy(), interior)
        np.testing.assert_allclose(t["edge_share"].to_numpy(), edge / edge.sum(), rtol=1e-15)


def test_edge_effect_fires_on_a_rim_of_the_highest_class_only(tmp_path):
    rng = np.random.default_rng(7)
    rim = _write(tmp_path / "rim.tif", _rim_raster(rng, rim=True))
    spread = _write(tmp_path / "spread.tif", _rim_raster(rng, rim=False))
    (w,) = edge_effect_warnings(rim, n_classes=5, window_rows=8)
    t = class_shares_near_edges(rim, 3)
    top = t[t["class"] == 5].iloc[0]
    assert w.code == "edge_effect" and w.value == pytest.approx(top["ratio"]) and w.value > 1.5
    assert w.threshold == 1.5 and w.severity == "serious"  # more than twice the ratio
    assert w.message.startswith(
        f"the highest class (5) covers {100 * top['edge_share']:.1f} % of the cells within 3 cells of nodata or the "
        "raster border"
    )
    assert "may be an edge artefact" in w.message
    assert edge_effect_warnings(spread, n_classes=5) == []
    spread_ratio = class_shares_near_edges(spread, 3)["ratio"].iloc[4]
    assert 0.67 < spread_ratio < 1.5
    # an edge zone smaller than min_edge_share of the valid cells does not count
    assert edge_effect_warnings(rim, n_classes=5, min_edge_share=0.5) == []
    # the rim class is 5: asking about a class 4 of 4 finds nothing to say
    assert edge_effect_warnings(rim, n_classes=4) == []


def test_edge_effect_bad_input(tmp_path):
    with pytest.raises(InputFileError, match=r"nope\.tif: no such classified raster"):
        class_shares_near_edges(tmp_path / "nope.tif")
    path = _write(tmp_path / "c.tif", np.ones((4, 4)))
    with pytest.raises(StudyConfigError, match="edge_cells must be an integer >= 1, got 0"):
        class_shares_near_edges(path, 0)
    with pytest.raises(StudyConfigError, match="n_classes must be an integer >= 1"):
        edge_effect_warnings(path, n_classes=0)


# --------------------------------------------------------------------------- output


def test_json_and_log(caplog):
    ws = [
        StudyWarning("few_events", "only 12 events were sampled", "serious", 12.0, 30.0),
        StudyWarning("edge_effect", "the highest class ...", "caution", math.inf, 1.5),
    ]
    out = warnings_json(ws)
    assert out[0] == {
        "code": "few_events",
        "message": "only 12 events were sampled",
        "severity": "serious",
        "value": 12.0,
        "threshold": 30.0,
    }
    assert out[1]["value"] is None  # inf is not JSON
    json.dumps(out, allow_nan=False)
    logger = logging.getLogger("susmap.test_warnings")
    with caplog.at_level(logging.WARNING, logger=logger.name):
        log_warnings(ws, logger)
    assert [r.levelno for r in caplog.records] == [logging.WARNING] * 2
    assert caplog.records[0].getMessage() == "[serious] few_events: only 12 events were sampled"
