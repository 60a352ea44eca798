"""Spread of fold models' probabilities: hand-made models with known probabilities, chunked maps and files."""

from __future__ import annotations

import math

import dask.array as da
import numpy as np
import pytest
import rasterio
import xarray as xr
from rasterio.crs import CRS
from rasterio.transform import from_origin
from sklearn.linear_model import LogisticRegression

from susmap.analysis.uncertainty import BAND_DESCRIPTIONS, uncertainty_block, uncertainty_maps, write_uncertainty
from susmap.errors import ModelFitError, StudyConfigError
from susmap.grid import Grid
from susmap.stack import Stack


class Scaled:
    """A fitted-model stand-in: P(event) = slope × first factor + offset (clipped to [0, 1])."""

    def __init__(self, slope: float, offset: float = 0.0):
        self.slope, self.offset = slope, offset
        self.classes_ = np.array([0, 1])

    def predict_proba(self, X):  # noqa: N803
        p = np.clip(self.slope * np.asarray(X)[:, 0] + self.offset, 0.0, 1.0)
        return np.c_[1 - p, p]


def fixed_lr(w: float, b: float) -> LogisticRegression:
    """Logistic regression with set coefficients: P = 1 / (1 + exp(-(w x0 + b)))."""
    lr = LogisticRegression()
    lr.coef_ = np.array([[w, 0.0]])
    lr.intercept_ = np.array([b])
    lr.classes_ = np.array([0, 1])
    lr.n_features_in_ = 2
    return lr


def _stack(values: np.ndarray, chunk: int = 4) -> Stack:
    k, h, w = values.shape
    grid = Grid(crs=CRS.from_epsg(32617), transform=from_origin(500000, 9800000, 30, 30), height=h, width=w)
    names = [f"f{i}" for i in range(k)]
    data = xr.DataArray(
        da.from_array(values.astype(np.float32), chunks=(k, chunk, chunk)),
        dims=("factor", "y", "x"),
        coords={"factor": names},
    )
    return Stack(grid=grid, data=data, kinds=dict.fromkeys(names, "continuous"))


EDGES = np.array([0.0, 0.25, 0.45, 1.0])


def test_constant_models_by_hand():
    # five models with P = 0.1 … 0.5 everywhere; final P = 0.3
    models = [Scaled(0.0, p) for p in (0.1, 0.2, 0.3, 0.4, 0.5)]
    block = np.ones((2, 2, 3))
    block[1, 0, 0] = np.nan
    out = uncertainty_block(block, models, EDGES, final=Scaled(0.0, 0.3))
    # sd (n − 1): deviations ±0.2, ±0.1, 0 → variance 0.1 / 4 = 0.025
    assert out[0, 1, 1] == pytest.approx(math.sqrt(0.025), rel=1e-6)
    # type-7 percentiles: 5 % at position 0.2 between 0.1 and 0.2 → 0.12; 95 % at 3.8 → 0.48
    assert out[1, 1, 1] == pytest.approx(0.12, rel=1e-6)
    assert out[2, 1, 1] == pytest.approx(0.48, rel=1e-6)
    # classes (0, .25], (.25, .45], (.45, 1]: models 1, 1, 2, 2, 3; final 2 → 2 of 5 agree
    assert out[3, 1, 1] == pytest.approx(0.4)
    assert np.isnan(out[:, 0, 0]).all()


def test_chunked_maps_and_files_by_hand(tmp_path):
    h, w = 10, 13
    x = np.tile(np.linspace(0.0, 1.0, w), (h, 1))
    values = np.stack([x, np.zeros((h, w))])
    values[1, 2, 3] = np.nan
    slopes = np.array([0.2, 0.4, 0.6, 0.8])
    models = [Scaled(s) for s in slopes]
    stack = _stack(values)
    final = Scaled(0.5)
    maps = uncertainty_maps(stack, models, edges=EDGES, final=final)
    assert maps.sd.chunks == ((4, 4, 2), (4, 4, 4, 1))
    xs = values[0].astype(np.float32).astype(float)
    # P_m = s_m x: sd = x sd(s) (n − 1); percentiles of s_m x = x × percentiles of s
    sd = xs * np.std(slopes, ddof=1)
    p05, p95 = (xs * q for q in np.percentile(slopes, [5, 95]))
    cls = lambda p: np.searchsorted(EDGES[1:-1], p, side="left") + 1  # noqa: E731
    agree = np.mean([cls(s * xs) == cls(0.5 * xs) for s in slopes], axis=0)
    for arr in (sd, p05, p95, agree):
        arr[2, 3] = np.nan
    np.testing.assert_allclose(maps.sd.compute(), sd, rtol=1e-5, atol=1e-7, equal_nan=True)
    np.testing.assert_allclose(maps.p05.compute(), p05, rtol=1e-5, atol=1e-7, equal_nan=True)
    np.testing.assert_allclose(maps.p95.compute(), p95, rtol=1e-5, atol=1e-7, equal_nan=True)
    np.testing.assert_allclose(maps.agreement.compute(), agree, equal_nan=True)
    # the final map given as a (lazy) probability array gives the same agreement
    prob = da.from_array((0.5 * xs).astype(np.float32), chunks=5)
    by_array = uncertainty_maps(stack, models, edges=EDGES, final=prob)
    np.testing.assert_allclose(by_array.agreement.compute(), agree, equal_nan=True)

    paths = write_uncertainty(stack, models, tmp_path, edges=EDGES, final=final, label="lr")
    with rasterio.open(paths["uncertainty"]) as src:
        assert src.count == 3 and src.dtypes == ("float32",) * 3
        assert src.descriptions == BAND_DESCRIPTIONS
        bands = src.read()
        assert src.tags()["model"] == "lr"
    np.testing.assert_allclose(bands, np.stack([sd, p05, p95]), rtol=1e-5, atol=1e-7, equal_nan=True)
    with rasterio.open(paths["class_agreement"]) as src:
        np.testing.assert_allclose(src.read(1), agree, equal_nan=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["class_agreement.tif", "uncertainty.tif"]


def test_logistic_regressions_with_set_coefficients():
    models = [fixed_lr(1.0, 0.0), fixed_lr(1.0, 1.0), fixed_lr(1.0, -1.0)]
    block = np.zeros((2, 1, 1))  # x0 = 0: P = σ(0), σ(1), σ(-1)
    out = uncertainty_block(block, models)
    s = 1 / (1 + math.exp(-1))
    p = np.array([0.5, s, 1 - s])
    assert out[0, 0, 0] == pytest.approx(np.std(p, ddof=1), rel=1e-6)
    # 5 %: position 0.1 between 1 − s and 0.5; 95 %: position 1.9 between 0.5 and s
    assert out[1, 0, 0] == pytest.approx((1 - s) + 0.1 * (0.5 - (1 - s)), rel=1e-6)
    assert out[2, 0, 0] == pytest.approx(0.5 + 0.9 * (s - 0.5), rel=1e-6)
    assert np.isnan(out[3, 0, 0])  # no edges: no agreement band


def test_bad_input_is_named():
    stack = _stack(np.zeros((2, 4, 4)))
    with pytest.raises(ModelFitError, match="at least two"):
        uncertainty_maps(stack, [Scaled(1.0)])
    with pytest.raises(ModelFitError, match="no predict_proba"):
        uncertainty_maps(stack, [Scaled(1.0), object()])
    with pytest.raises(StudyConfigError, match="increasing"):
        uncertainty_maps(stack, [Scaled(1.0), Scaled(0.5)], edges=np.array([0.5, 0.2]), final=Scaled(1.0))
    with pytest.raises(StudyConfigError, match="shape"):
        uncertainty_maps(stack, [Scaled(1.0), Scaled(0.5)], edges=EDGES, final=np.zeros((3, 3)))
