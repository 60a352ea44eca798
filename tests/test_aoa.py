"""Area of applicability (Meyer & Pebesma 2021, as CAST): hand-computed DI, threshold, LPD and chunked maps.

The 2-factor reference: six training samples, weights (1, 0.5), three folds.
Both factors have mean 0 and standard deviation √2 (n − 1 denominator), so
the standardized, weighted coordinates are (x1, x2 / 2) / √2; the factor √2
cancels in every DI (distance / mean distance), so the hand computation below
works in the coordinates (x1, x2 / 2):

    A (-2, 0)  B (-1, 1)  C (0, -1)  D (0, 0.5)  E (1, -0.5)  F (2, 0)

and its 15 pairwise distances: AB √2, AC √5, AD √4.25, AE √9.25, AF 4,
BC √5, BD √1.25, BE 2.5, BF √10, CD 1.5, CE √1.25, CF √5, DE √2, DF √4.25,
EF √1.25.
"""

from __future__ import annotations

import math

import dask.array as da
import numpy as np
import pytest
import rasterio
import xarray as xr
from rasterio.crs import CRS
from rasterio.transform import from_origin

from susmap.analysis.aoa import (
    AOA_NODATA,
    aoa_map,
    aoa_threshold,
    dissimilarity_index,
    local_point_density,
    plot_aoa,
    training_di,
    tukey_hinges,
    write_aoa,
)
from susmap.errors import SamplingError, StudyConfigError
from susmap.grid import Grid
from susmap.stack import Stack

X6 = np.array([[-2, 0], [-1, 2], [0, -2], [0, 1], [1, -1], [2, 0]], dtype=float)
W6 = np.array([1.0, 0.5])
FOLDS6 = np.array([1, 1, 2, 2, 3, 3])  # {A, B}, {C, D}, {E, F}
PAIR_SUM = 2 * math.sqrt(2) + 3 * math.sqrt(5) + 2 * math.sqrt(4.25) + math.sqrt(9.25) + 4
PAIR_SUM += 3 * math.sqrt(1.25) + 2.5 + math.sqrt(10) + 1.5
E_BAR = PAIR_SUM / 15  # mean distance in (x1, x2/2) coordinates; d̄ = E_BAR / √2


def test_hand_computed_two_factor_reference():
    t = training_di(X6, W6, FOLDS6, names=["x1", "x2"])
    np.testing.assert_allclose(t.center, [0.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(t.scale, [math.sqrt(2), math.sqrt(2)])
    assert t.mean_distance == pytest.approx(E_BAR / math.sqrt(2), rel=1e-12)
    # nearest sample of another fold: A→D √4.25, B→D, C→E, D→B, E→C √1.25, F→D √4.25
    r125, r425 = math.sqrt(1.25), math.sqrt(4.25)
    expected = np.array([r425, r125, r125, r125, r125, r425]) / E_BAR
    np.testing.assert_allclose(t.train_di, expected, rtol=1e-12)
    # sorted DI (×E_BAR): 1.118 ×4, 2.062 ×2. Tukey hinges: 2nd and 5th values (1.118, 2.062); numpy's
    # quartiles: 1.118 and 1.118 + 0.75 (2.062 − 1.118) = 1.826: they differ, the thresholds do not:
    h1, h3 = tukey_hinges(t.train_di)
    assert (h1, h3) == pytest.approx((r125 / E_BAR, r425 / E_BAR), rel=1e-12)
    assert np.percentile(t.train_di, 75) == pytest.approx((r125 + 0.75 * (r425 - r125)) / E_BAR, rel=1e-12)
    # both fences lie above the largest DI, so both rules give the largest training DI
    assert t.threshold == pytest.approx(r425 / E_BAR, rel=1e-12)
    assert training_di(X6, W6, FOLDS6, rule="whisker").threshold == pytest.approx(r425 / E_BAR, rel=1e-12)

    new = np.array([[-2.0, 0.0], [0.0, 0.0], [10.0, 0.0], [np.nan, 1.0]])
    di = dissimilarity_index(new, t)
    # (-2, 0) is A: 0; (0, 0) → (0, 0): nearest D at 0.5; (10, 0) → (10, 0): nearest F at 8; NaN row → NaN
    np.testing.assert_allclose(di[:3], [0.0, 0.5 / E_BAR, 8.0 / E_BAR], rtol=1e-12, atol=1e-15)
    assert np.isnan(di[3])
    assert di[2] > t.threshold and di[1] <= t.threshold


def test_no_folds_uses_nearest_other_sample():
    t = training_di(X6, W6, None)
    # A→B √2, B→D, C→E, D→B, E→C (or F), F→E √1.25
    r125 = math.sqrt(1.25)
    np.testing.assert_allclose(t.train_di, np.array([math.sqrt(2), r125, r125, r125, r125, r125]) / E_BAR)


def test_negative_weight_is_set_to_zero():
    t = training_di(X6, np.array([1.0, -3.0]), None)
    np.testing.assert_allclose(t.weights, [1.0, 0.0])
    # only x1 counts: distances |Δx1| / √2 over the 15 pairs of x1 = (-2, -1, 0, 0, 1, 2)
    x1 = X6[:, 0]
    pairs = [abs(x1[i] - x1[j]) for i in range(6) for j in range(i + 1, 6)]
    assert t.mean_distance == pytest.approx(np.mean(pairs) / math.sqrt(2))


def test_local_point_density_by_hand():
    t = training_di(X6, W6, FOLDS6, lpd=True)
    # radius √4.25 (threshold × d̄, in (x1, x2/2)); other folds only, ties (A–D, D–F) not counted:
    # A: none; B: D; C: E; D: B, E; E: C, D; F: none
    np.testing.assert_array_equal(t.train_lpd, [0, 1, 1, 2, 2, 0])
    # (-1.5, 0) → (-1.5, 0): A 0.5, B 1.118, C 1.803, D 1.581 below 2.062; E 2.55, F 3.5 not
    np.testing.assert_array_equal(local_point_density(np.array([[-1.5, 0.0], [np.nan, 0.0]]), t), [4, -1])


def test_threshold_rules_differ_where_the_quartiles_do():
    di = np.arange(1.0, 11.0)
    di[-1] = 15.0  # 1..9, 15
    # Tukey (fivenum): hinges 3 and 8, fence 8 + 1.5 × 5 = 15.5 → 15 is no outlier: whisker = 15
    assert tukey_hinges(di) == (3.0, 8.0)
    assert aoa_threshold(di, "whisker") == 15.0
    # numpy / R type 7: quartiles 3.25 and 7.75, fence 14.5 (below 15): CAST ≥ 0.9 uses the fence itself
    assert np.percentile(di, [25, 75]).tolist() == [3.25, 7.75]
    assert aoa_threshold(di, "cast") == 14.5
    # a whisker with numpy's quartiles would have been 9: the hinges matter
    di[-1] = 30.0
    assert aoa_threshold(di, "whisker") == 9.0
    assert aoa_threshold(np.array([1.0, 2.0, 3.0]), "cast") == 3.0  # fence above the maximum: the maximum
    # R: fivenum(c(1, 2, 3, 4, 5, 6, 7)) → hinges 2.5 and 5.5
    assert tukey_hinges(np.arange(1.0, 8.0)) == (2.5, 5.5)


def test_categorical_one_hot_by_hand():
    # continuous c = (0, 0, 1, 1), categorical levels 1, 2, 3 with weights (1, 2):
    # standardized and weighted rows (c, [1], [2], [3]):
    # r0 (-√3/2, √3, -1, -1), r1 (-√3/2, -√3, 3, -1), r2 (√3/2, √3, -1, -1), r3 (√3/2, -√3, -1, 3)
    X = np.array([[0, 1], [0, 2], [1, 1], [1, 3]], dtype=float)  # noqa: N806
    t = training_di(X, np.array([1.0, 2.0]), None, categorical=[False, True], names=["c", "lith"])
    np.testing.assert_allclose(t.weights, [1.0, 2.0, 2.0, 2.0])  # the factor's whole weight on each level
    s3 = math.sqrt(3)
    np.testing.assert_allclose(
        t.train,
        [[-s3 / 2, s3, -1, -1], [-s3 / 2, -s3, 3, -1], [s3 / 2, s3, -1, -1], [s3 / 2, -s3, -1, 3]],
        atol=1e-12,
    )
    d_bar = (2 * math.sqrt(28) + s3 + 2 * math.sqrt(31) + math.sqrt(35)) / 6
    assert t.mean_distance == pytest.approx(d_bar)
    np.testing.assert_allclose(t.train_di, np.array([s3, math.sqrt(28), s3, math.sqrt(28)]) / d_bar)
    # level 4 was never seen: every dummy 0 (as CAST) → (0, -√3, -1, -1): nearest r0 / r2 at √12.75
    di = dissimilarity_index(np.array([[0.5, 4.0], [0.0, 2.0], [0.0, np.nan]]), t)
    np.testing.assert_allclose(di[:2], [math.sqrt(12.75) / d_bar, 0.0], atol=1e-12)
    assert np.isnan(di[2])


def test_bad_input_is_named():
    with pytest.raises(StudyConfigError, match="3 weights given for 2 factors"):
        training_di(X6, np.ones(3), None)
    with pytest.raises(SamplingError, match="x2 have no variance"):
        training_di(np.c_[X6[:, 0], np.ones(6)], W6, None, names=["x1", "x2"])
    with pytest.raises(SamplingError, match="missing values in x1"):
        training_di(np.r_[X6, [[np.nan, 0]]], W6, None, names=["x1", "x2"])
    with pytest.raises(SamplingError, match="one fold only"):
        training_di(X6, W6, np.zeros(6))
    with pytest.raises(StudyConfigError, match="threshold rule"):
        training_di(X6, W6, None, rule="q95")


def _stack(values: np.ndarray, names: list[str], chunk: int = 8) -> Stack:
    k, h, w = values.shape
    grid = Grid(crs=CRS.from_epsg(32617), transform=from_origin(500000, 9800000, 30, 30), height=h, width=w)
    data = xr.DataArray(
        da.from_array(values.astype(np.float32), chunks=(k, chunk, chunk)),
        dims=("factor", "y", "x"),
        coords={"factor": names},
    )
    return Stack(grid=grid, data=data, kinds=dict.fromkeys(names, "continuous"))


def test_chunked_map_equals_direct_computation(tmp_path):
    rng = np.random.default_rng(3)
    h, w = 21, 30
    values = np.stack([np.tile(np.linspace(0, 10, w), (h, 1)), rng.normal(size=(h, w)), rng.normal(size=(h, w))])
    values[1, 3, 4] = np.nan
    values[:, 20, :5] = np.nan
    # training samples from the left third only: the right of the first factor is novel
    rows, cols = rng.integers(0, h - 1, 40), rng.integers(0, 10, 40)
    X_train = values[:, rows, cols].T.astype(np.float32).astype(float)  # noqa: N806
    X_train = X_train[np.isfinite(X_train).all(axis=1)]  # noqa: N806
    t = training_di(X_train, np.array([1.0, 0.3, 0.2]), np.arange(len(X_train)) % 4, names=["a", "b", "c"], lpd=True)
    stack = _stack(values[[2, 0, 1]], ["c", "a", "b"])  # another order: layers are picked by name
    maps = aoa_map(stack, t, chunk_rows=7, lpd=True)
    assert maps.di.chunks == ((7, 7, 7), (7, 7, 7, 7, 2))
    rows_all = values.reshape(3, -1).T.astype(np.float32).astype(float)
    direct = dissimilarity_index(rows_all, t).reshape(h, w)
    np.testing.assert_allclose(maps.di.compute(), direct.astype(np.float32), equal_nan=True)
    aoa = maps.aoa.compute()
    expected = np.where(np.isnan(direct), AOA_NODATA, (direct <= t.threshold).astype(np.uint8))
    np.testing.assert_array_equal(aoa, expected)
    np.testing.assert_array_equal(maps.lpd.compute(), local_point_density(rows_all, t).reshape(h, w))
    assert (aoa[:, 25:][aoa[:, 25:] != AOA_NODATA] == 0).all()  # far right (a ≈ 8–10): outside
    assert aoa[3, 4] == AOA_NODATA

    result = write_aoa(stack, t, tmp_path, lpd=True)
    with rasterio.open(result.di_path) as src:
        np.testing.assert_allclose(src.read(1), direct.astype(np.float32), equal_nan=True)
        assert float(src.tags()["threshold"]) == t.threshold
    with rasterio.open(result.aoa_path) as src:
        assert src.nodata == AOA_NODATA and src.dtypes[0] == "uint8"
        np.testing.assert_array_equal(src.read(1), expected)
    valid = np.isfinite(direct)
    assert result.cells_outside == int((direct[valid] > t.threshold).sum())
    assert result.cells_inside + result.cells_outside == int(valid.sum())
    assert result.share_outside == pytest.approx(result.cells_outside / valid.sum())

    classes = np.where(valid, 1 + (values[0] > 5).astype(np.uint8) + (values[0] > 8), 0).astype(np.uint8)
    class_path = tmp_path / "classes.tif"
    profile = {"driver": "GTiff", "width": w, "height": h, "count": 1, "dtype": "uint8", "nodata": 0}
    with rasterio.open(class_path, "w", crs=stack.grid.crs, transform=stack.grid.transform, **profile) as dst:
        dst.write(classes, 1)
        dst.update_tags(classes="low,moderate,high")
    share = plot_aoa(class_path, result.aoa_path, tmp_path / "aoa.png")
    assert (tmp_path / "aoa.png").stat().st_size > 0
    assert share == pytest.approx(result.share_outside)


def test_point_outside_training_range_is_outside():
    t = training_di(X6, W6, FOLDS6)
    values = np.zeros((2, 4, 4))
    values[0, 0, 0] = 50.0  # x1 = 50: far beyond the training range (-2..2)
    maps = aoa_map(_stack(values, ["x1", "x2"], chunk=2), t)
    di, aoa = maps.di.compute(), maps.aoa.compute()
    assert di[0, 0] == pytest.approx(48.0 / E_BAR, rel=1e-6) and di[0, 0] > t.threshold
    assert aoa[0, 0] == 0
    assert (aoa.ravel()[1:] == 1).all()  # (0, 0): DI 0.5 / ē, inside


def test_categorical_layer_in_a_map():
    # lithology codes 1..3 beside a continuous factor; code 7 was never sampled: all its dummies are 0
    X = np.array([[0, 1], [0, 2], [1, 1], [1, 3], [0.5, 2], [0.2, 3]], dtype=float)  # noqa: N806
    t = training_di(
        X, np.array([1.0, 2.0]), np.array([1, 1, 2, 2, 3, 3]), categorical=[False, True], names=["c", "lith"]
    )
    values = np.stack([np.tile(np.linspace(-1, 2, 6), (5, 1)), np.tile([[1], [2], [3], [7], [np.nan]], (1, 6))])
    stack = _stack(values, ["c", "lith"], chunk=3)
    direct = dissimilarity_index(values.reshape(2, -1).T.astype(np.float32).astype(float), t).reshape(5, 6)
    np.testing.assert_allclose(aoa_map(stack, t).di.compute(), direct.astype(np.float32), equal_nan=True)
    assert np.isnan(direct[4]).all() and (direct[3] > 0).all()
