"""Wall-to-wall mapping: chunked prediction, writers, class breaks and class tables.

Oracles: the model's ``predict_proba`` (and the logistic formula written out)
on the whole in-memory array; hand-computed breaks and tables; the raster
read back whole with rasterio.
"""

from __future__ import annotations

from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.enums import Compression

import susmap.mapping.classes as classes_mod
from conftest import write_raster
from susmap.datasets import ECUADOR_FACTORS
from susmap.grid import Grid
from susmap.mapping import (
    assign_classes,
    class_names,
    class_table,
    classify_raster,
    compute_breaks,
    equal_interval,
    natural_breaks,
    predict_block,
    predict_stack,
    quantile_breaks,
    sample_raster,
    write_lazy_raster,
)
from susmap.mapping.classes import CLASS_NODATA
from susmap.models import make_pipeline
from susmap.runners import run_study
from susmap.stack import open_stack
from susmap.study import AlignmentConfig, GridConfig, LayerConfig, study_from_dict

# --------------------------------------------------------------------------- helpers


def _ecuador_stack(ta: Path, chunks: int):
    layers = [LayerConfig(name=n, path=ta, band=n) for n in ECUADOR_FACTORS]
    return open_stack(GridConfig(template=ta, band=4), layers, AlignmentConfig(), chunks=chunks)


def _read_all_bands(path: Path) -> np.ndarray:
    """(bands, rows, cols) float64 with NaN at nodata, read whole by rasterio."""
    with rasterio.open(path) as src:
        data = src.read(masked=True).astype(np.float64)
    return data.filled(np.nan)


def _fit_on_cells(full: np.ndarray, factor_names, seed: int = 0):
    """A logistic-regression pipeline fitted on 300 random valid cells of ``full``."""
    rng = np.random.default_rng(seed)
    valid = np.isfinite(full).all(axis=0)
    rows, cols = np.nonzero(valid)
    pick = rng.choice(rows.size, size=300, replace=False)
    X = full[:, rows[pick], cols[pick]].T  # noqa: N806
    score = (X[:, 0] - X[:, 0].mean()) / X[:, 0].std() + 0.5 * rng.standard_normal(300)
    y = (score > 0).astype(int)
    model = make_pipeline("logistic_regression", None, factor_names=factor_names, kinds={}, seed=seed)
    return model.fit(X, y)


def _logistic_by_hand(model, X: np.ndarray) -> np.ndarray:  # noqa: N803
    """P(event) of a fitted scaler + logistic regression pipeline, written out."""
    scaler = model.named_steps["preprocess"].named_transformers_["continuous"]
    lr = model.named_steps["model"]
    z = ((X - scaler.mean_) / scaler.scale_) @ lr.coef_[0] + lr.intercept_[0]
    return 1.0 / (1.0 + np.exp(-z))


class _CountingModel:
    """predict_proba = sigmoid of the row sum; records how often and on how many rows it is called."""

    def __init__(self) -> None:
        self.calls = 0
        self.rows = 0

    def predict_proba(self, X):  # noqa: N803
        assert np.isfinite(X).all(), "the model must only see valid cells"
        self.calls += 1
        self.rows += X.shape[0]
        p = 1.0 / (1.0 + np.exp(-X.sum(axis=1)))
        return np.column_stack([1 - p, p])


class _ExplodingModel:
    def predict_proba(self, X):  # noqa: N803
        raise AssertionError("the model was called on a block without a valid cell")


# --------------------------------------------------------------------------- prediction


@pytest.mark.parametrize("chunks", [37, 512])
def test_predict_stack_on_ecuador_equals_whole_array_prediction(ecuador_ta, chunks, tmp_path):
    stack = _ecuador_stack(ecuador_ta, chunks)
    full = _read_all_bands(ecuador_ta)
    model = _fit_on_cells(full, list(ECUADOR_FACTORS))
    valid = np.isfinite(full).all(axis=0)
    assert (~valid).any() and valid.any()
    assert stack.n_valid == valid.sum()

    expected = np.full(valid.shape, np.nan)
    X_valid = full[:, valid].T  # noqa: N806
    expected[valid] = model.predict_proba(X_valid)[:, 1]
    # independent oracle: the logistic formula itself
    np.testing.assert_allclose(expected[valid], _logistic_by_hand(model, X_valid), rtol=1e-10)

    lazy = predict_stack(stack, model)
    assert lazy.shape == stack.grid.shape
    assert lazy.dtype == np.float32
    got = lazy.compute()
    assert got.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(got), ~valid)
    np.testing.assert_allclose(got[valid], expected[valid], rtol=1e-6, atol=1e-7)

    path = tmp_path / "prob.tif"
    write_lazy_raster(path, lazy, stack.grid)
    with rasterio.open(path) as src:
        written = src.read(1)
    assert np.array_equal(written, got, equal_nan=True)


def test_predict_stack_on_synthetic_with_tiny_chunks_equals_whole_array(synthetic, tmp_path):
    layers = [LayerConfig(name=n, path=synthetic[n]) for n in ("a", "b")]
    grid_cfg = GridConfig(template=synthetic["a"])
    stack = open_stack(grid_cfg, layers, AlignmentConfig(), chunks=9)  # 60 x 80 cells: ragged last blocks
    assert stack.data.data.chunks[1] == (9,) * 6 + (6,)
    full = np.stack([_read_all_bands(synthetic[n])[0] for n in ("a", "b")])
    valid = np.isfinite(full).all(axis=0)
    assert not valid[:3, :3].any() and valid.sum() == full[0].size - 9

    model = _fit_on_cells(full, ["a", "b"], seed=3)
    expected = np.full(valid.shape, np.nan)
    expected[valid] = model.predict_proba(full[:, valid].T)[:, 1]

    path = tmp_path / "prob.tif"
    write_lazy_raster(path, predict_stack(stack, model), stack.grid, batch_blocks=3)
    with rasterio.open(path) as src:
        written = src.read(1)
    np.testing.assert_array_equal(np.isnan(written), ~valid)
    np.testing.assert_allclose(written[valid], expected[valid], rtol=1e-6, atol=1e-7)


def test_predict_block_all_nodata_returns_nan_without_calling_model():
    block = np.full((3, 5, 4), np.nan, dtype=np.float32)
    out = predict_block(block, _ExplodingModel())
    assert out.shape == (5, 4)
    assert out.dtype == np.float32
    assert np.isnan(out).all()


def test_predict_block_predicts_valid_cells_only_in_place():
    rng = np.random.default_rng(0)
    block = rng.standard_normal((2, 4, 6)).astype(np.float32)
    block[0, 1, 2] = np.nan  # one factor missing is enough to drop the cell
    block[1, 3, 0] = np.nan
    block[:, 0, 5] = np.nan
    model = _CountingModel()
    out = predict_block(block, model)
    valid = np.isfinite(block).all(axis=0)
    assert model.calls == 1 and model.rows == valid.sum() == 24 - 3
    expected = 1.0 / (1.0 + np.exp(-block.astype(np.float64).sum(axis=0)))
    np.testing.assert_array_equal(np.isnan(out), ~valid)
    np.testing.assert_allclose(out[valid], expected[valid], rtol=1e-6)


def test_predict_stack_skips_all_nodata_blocks(tmp_path):
    rng = np.random.default_rng(5)
    h, w, c = 40, 50, 10
    a = rng.random((h, w)).astype(np.float32)
    b = rng.random((h, w)).astype(np.float32)
    a[:20, :20] = -9999.0  # exactly 4 blocks of 10 x 10 without data
    b[35, 47] = -9999.0  # one more nodata cell inside a block that keeps data
    layers = [
        LayerConfig(name="a", path=write_raster(tmp_path / "a.tif", a)),
        LayerConfig(name="b", path=write_raster(tmp_path / "b.tif", b)),
    ]
    stack = open_stack(GridConfig(template=tmp_path / "a.tif"), layers, AlignmentConfig(), chunks=c)
    model = _CountingModel()
    with dask.config.set(scheduler="synchronous"):
        got = predict_stack(stack, model).compute()
    n_blocks = (h // c) * (w // c)
    assert model.calls == n_blocks - 4
    assert model.rows == h * w - 400 - 1 == stack.n_valid
    assert np.isnan(got[:20, :20]).all()
    assert np.isnan(got[35, 47])
    a_data = np.where(a == -9999.0, np.nan, a).astype(np.float64)
    b_data = np.where(b == -9999.0, np.nan, b).astype(np.float64)
    expected = 1.0 / (1.0 + np.exp(-(a_data + b_data)))
    valid = np.isfinite(got)
    np.testing.assert_array_equal(valid, np.isfinite(expected))
    assert valid.sum() == stack.n_valid
    np.testing.assert_allclose(got[valid], expected[valid], rtol=1e-6)


# --------------------------------------------------------------------------- writer


def test_written_probability_and_class_rasters_are_tiled_deflate_on_the_grid(ecuador_ta, tmp_path):
    stack = _ecuador_stack(ecuador_ta, chunks=100)
    grid = stack.grid
    assert min(grid.shape) >= 256  # large enough for 256 x 256 tiles
    model = _fit_on_cells(_read_all_bands(ecuador_ta), list(ECUADOR_FACTORS))
    prob_path = tmp_path / "probability.tif"
    write_lazy_raster(prob_path, predict_stack(stack, model), grid, description="p", tags={"model": "lr"})
    with rasterio.open(prob_path) as src:
        assert src.driver == "GTiff"
        assert src.profile["tiled"] is True
        assert src.block_shapes == [(256, 256)]
        assert src.compression == Compression.deflate
        assert src.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "3"  # floating-point predictor
        assert src.dtypes == ("float32",)
        assert src.count == 1
        assert np.isnan(src.nodata)
        assert src.crs == grid.crs
        assert src.transform.almost_equals(grid.transform)
        assert (src.height, src.width) == grid.shape
        assert src.descriptions == ("p",)
        assert src.tags()["model"] == "lr"
        prob = src.read(1)

    edges = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    ev_rows, ev_cols = np.nonzero(np.isfinite(prob))
    cls_path = tmp_path / "classes.tif"
    classify_raster(prob_path, cls_path, edges, grid, event_rows=ev_rows[:5], event_cols=ev_cols[:5])
    with rasterio.open(cls_path) as src:
        assert src.profile["tiled"] is True
        assert src.block_shapes == [(256, 256)]
        assert src.compression == Compression.deflate
        assert src.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "2"  # horizontal differencing
        assert src.dtypes == ("uint8",)
        assert src.nodata == CLASS_NODATA == 0
        assert src.crs == grid.crs
        assert src.transform.almost_equals(grid.transform)
        cls = src.read(1)
    np.testing.assert_array_equal(cls == 0, np.isnan(prob))
    assert set(np.unique(cls[cls > 0])) <= {1, 2, 3, 4}


def test_write_lazy_raster_refuses_wrong_shape(ecuador_ta, tmp_path):
    stack = _ecuador_stack(ecuador_ta, chunks=128)
    wrong = da.zeros((10, 10), chunks=5, dtype=np.float32)
    with pytest.raises(ValueError, match="differs from the grid"):
        write_lazy_raster(tmp_path / "x.tif", wrong, stack.grid)


def test_write_lazy_raster_bytes_do_not_depend_on_batching(ecuador_ta, tmp_path):
    stack = _ecuador_stack(ecuador_ta, chunks=100)
    model = _fit_on_cells(_read_all_bands(ecuador_ta), list(ECUADOR_FACTORS))
    lazy = predict_stack(stack, model)
    write_lazy_raster(tmp_path / "one.tif", lazy, stack.grid, batch_blocks=1)
    write_lazy_raster(tmp_path / "many.tif", lazy, stack.grid, batch_blocks=50)
    assert (tmp_path / "one.tif").read_bytes() == (tmp_path / "many.tif").read_bytes()


# --------------------------------------------------------------------------- determinism and end-to-end tables


def test_synthetic_study_twice_gives_identical_probability_map(make_study, tmp_path):
    prob = []
    raw = []
    for name in ("run1", "run2"):
        out = tmp_path / name
        run_study(study_from_dict(make_study(outputs={"directory": str(out)})))
        with rasterio.open(out / "probability.tif") as src:
            prob.append(src.read(1))
        raw.append((out / "probability.tif").read_bytes())
    assert np.isfinite(prob[0]).sum() > 0
    assert np.array_equal(prob[0], prob[1], equal_nan=True)
    assert raw[0] == raw[1]


def test_synthetic_class_table_matches_maps(make_study, tmp_path):
    out = tmp_path / "run"
    result = run_study(study_from_dict(make_study(outputs={"directory": str(out)})))
    table = pd.read_csv(out / "class_table.csv")
    with rasterio.open(out / "probability.tif") as src:
        prob = src.read(1)
        cell_area = abs(src.transform.a * src.transform.e)
    with rasterio.open(out / "classes.tif") as src:
        cls = src.read(1)
    samples = pd.read_csv(out / "samples.csv")
    ev = samples[samples["label"] == 1]
    on_map = np.isfinite(prob[ev["row"].to_numpy(), ev["col"].to_numpy()])

    assert len(table) == 5
    assert list(table["name"]) == ["very low", "low", "moderate", "high", "very high"]
    assert table["cells"].sum() == np.isfinite(prob).sum()
    assert table["events"].sum() == on_map.sum()
    np.testing.assert_array_equal(table["cells"], np.bincount(cls.ravel(), minlength=6)[1:])
    ev_cls = cls[ev["row"].to_numpy(), ev["col"].to_numpy()]
    np.testing.assert_array_equal(table["events"], np.bincount(ev_cls, minlength=6)[1:])
    np.testing.assert_allclose(table["area_km2"], table["cells"] * cell_area / 1e6, rtol=1e-12)
    assert table["area_pct"].sum() == pytest.approx(100.0)
    assert table["events_pct"].sum() == pytest.approx(100.0)
    # class edges: outer edges are the map's min and max
    assert table["lower"].iloc[0] == pytest.approx(np.nanmin(prob), rel=1e-6)
    assert table["upper"].iloc[-1] == pytest.approx(np.nanmax(prob), rel=1e-6)
    assert result.class_table["cells"].sum() == np.isfinite(prob).sum()
    # the classes raster is the probability map classified by the table's edges
    edges = np.append(table["lower"].to_numpy(), table["upper"].iloc[-1])
    np.testing.assert_array_equal(cls, assign_classes(prob, edges))


# --------------------------------------------------------------------------- breaks


@pytest.mark.parametrize("k", [2, 4, 5])
def test_quantile_breaks_give_equal_count_classes(k):
    sample = np.arange(100, dtype=float)
    edges = quantile_breaks(sample, k)
    np.testing.assert_allclose(edges, np.linspace(0, 99, k + 1))
    counts = np.bincount(assign_classes(sample, edges), minlength=k + 1)
    assert counts[0] == 0
    np.testing.assert_array_equal(counts[1:], np.full(k, 100 // k))


def test_quantile_breaks_hand_values():
    np.testing.assert_allclose(quantile_breaks(np.arange(100.0), 4), [0.0, 24.75, 49.5, 74.25, 99.0])


def test_equal_interval_edges_are_linspace():
    np.testing.assert_allclose(equal_interval(0.0, 10.0, 5), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0])
    np.testing.assert_allclose(equal_interval(0.2, 0.9, 7), np.linspace(0.2, 0.9, 8))


def test_natural_breaks_separate_three_clusters():
    rng = np.random.default_rng(11)
    clusters = [c + rng.normal(0, 0.8, size=n) for c, n in ((0, 50), (10, 80), (20, 30))]
    sample = rng.permutation(np.concatenate(clusters))
    edges = natural_breaks(sample, 3)
    assert edges.size == 4
    assert edges[0] == pytest.approx(sample.min())
    assert edges[-1] == pytest.approx(sample.max())
    assert clusters[0].max() <= edges[1] < clusters[1].min()
    assert clusters[1].max() <= edges[2] < clusters[2].min()
    labels = np.concatenate([np.full(c.size, i + 1) for i, c in enumerate(clusters)])
    np.testing.assert_array_equal(assign_classes(np.concatenate(clusters), edges), labels)


def test_natural_breaks_with_fewer_distinct_values_than_classes():
    edges = natural_breaks(np.array([1.0, 1.0, 2.0, 2.0, 2.0]), 4)
    assert edges.size == 5
    assert np.all(np.diff(edges) >= 0)
    assert edges[0] == 1.0 and edges[-1] == 2.0
    cls = assign_classes(np.array([1.0, 2.0]), edges)
    assert cls[0] < cls[1]


@pytest.mark.parametrize("method", ["quantile", "equal_interval", "natural_breaks"])
@pytest.mark.parametrize("k", [3, 5, 7])
def test_compute_breaks_outer_edges_and_monotone(method, k):
    rng = np.random.default_rng(k)
    sample = rng.beta(2, 5, size=500) * 0.8 + 0.1  # within [0.1, 0.9]
    edges = compute_breaks(method, sample, k, vmin=0.05, vmax=0.97)
    assert edges.shape == (k + 1,)
    assert edges[0] == 0.05
    assert edges[-1] == 0.97
    assert np.all(np.diff(edges) >= 0)
    cls = assign_classes(sample, edges)
    assert cls.min() >= 1 and cls.max() <= k


def test_compute_breaks_unknown_method():
    with pytest.raises(ValueError, match="unknown classification 'jenks'"):
        compute_breaks("jenks", np.arange(10.0), 3, vmin=0.0, vmax=9.0)


def test_assign_classes_boundaries_go_to_the_lower_class():
    edges = np.array([0.0, 1.0, 2.0, 3.0])
    values = np.array([0.0, 0.5, 1.0, np.nextafter(1.0, 2.0), 2.0, 2.5, 3.0, np.nan, np.inf])
    cls = assign_classes(values, edges)
    assert cls.dtype == np.uint8
    np.testing.assert_array_equal(cls, [1, 1, 1, 2, 2, 3, 3, 0, 0])


def test_assign_classes_keeps_2d_shape_and_float32():
    values = np.array([[0.1, np.nan], [0.6, 0.9]], dtype=np.float32)
    cls = assign_classes(values, np.array([0.0, 0.5, 1.0]))
    np.testing.assert_array_equal(cls, [[1, 0], [2, 2]])


def test_class_names():
    assert class_names(5) == ["very low", "low", "moderate", "high", "very high"]
    assert class_names(3) == ["low", "moderate", "high"]
    assert class_names(4) == ["class 1", "class 2", "class 3", "class 4"]


# --------------------------------------------------------------------------- class table


def test_class_table_hand_computed():
    cells = np.array([100, 200, 300, 250, 150])  # 1000 cells: area shares 10, 20, 30, 25, 15 %
    # 11 events on the map (1, 2, 1, 3, 4 per class) and one off the map (class 0)
    event_classes = np.array([1, 2, 2, 3, 4, 4, 4, 5, 5, 5, 5, 0], dtype=np.uint8)
    edges = np.array([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    table = class_table(cells, event_classes, edges, cell_area_m2=100.0)  # 10 m cells

    assert list(table.columns) == [
        "class",
        "name",
        "lower",
        "upper",
        "cells",
        "area_km2",
        "area_pct",
        "events",
        "events_pct",
        "density_per_km2",
        "frequency_ratio",
    ]
    assert list(table["class"]) == [1, 2, 3, 4, 5]
    assert list(table["name"]) == ["very low", "low", "moderate", "high", "very high"]
    np.testing.assert_allclose(table["lower"], edges[:-1])
    np.testing.assert_allclose(table["upper"], edges[1:])
    np.testing.assert_allclose(table["area_km2"], [0.01, 0.02, 0.03, 0.025, 0.015])
    np.testing.assert_allclose(table["area_pct"], [10.0, 20.0, 30.0, 25.0, 15.0])
    assert table["area_pct"].sum() == pytest.approx(100.0)
    np.testing.assert_array_equal(table["events"], [1, 2, 1, 3, 4])
    assert table["events"].sum() == 11
    np.testing.assert_allclose(table["events_pct"], [9.090909, 18.181818, 9.090909, 27.272727, 36.363636], rtol=1e-6)
    np.testing.assert_allclose(table["density_per_km2"], [100.0, 100.0, 33.333333, 120.0, 266.666667], rtol=1e-6)
    # FR = events share / area share, e.g. class 5: (4/11) / (150/1000) = 2.424242
    np.testing.assert_allclose(table["frequency_ratio"], [0.909091, 0.909091, 0.303030, 1.090909, 2.424242], rtol=1e-5)
    np.testing.assert_allclose(table["frequency_ratio"], table["events_pct"] / table["area_pct"], rtol=1e-12)


def test_class_table_empty_class_has_nan_ratio_and_density():
    table = class_table(np.array([10, 0, 30]), np.array([1, 3, 3]), np.array([0.0, 0.3, 0.6, 1.0]), 25.0)
    assert list(table["name"]) == ["low", "moderate", "high"]
    assert np.isnan(table["frequency_ratio"].iloc[1])
    assert np.isnan(table["density_per_km2"].iloc[1])
    np.testing.assert_allclose(table["frequency_ratio"].iloc[[0, 2]], [(100 / 3) / 25.0, (200 / 3) / 75.0])


def test_classify_raster_in_strips_equals_whole_array(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    prob = rng.random((23, 31)).astype(np.float32)
    prob[:4, :5] = np.nan
    prob[10, 10] = np.nan
    path = write_raster(tmp_path / "p.tif", prob, nodata=np.nan)
    with rasterio.open(path) as src:
        grid = Grid.from_dataset(src)
    edges = np.array([0.0, 0.3, 0.5, 0.9, 1.0])
    ev_rows = np.array([0, 10, 5, 22, 22, 13])
    ev_cols = np.array([0, 10, 5, 30, 0, 17])
    monkeypatch.setattr(classes_mod, "_strip_rows", lambda width, budget_cells=0: 4)  # 6 strips, odd last
    cells, ev_cls = classify_raster(path, tmp_path / "c.tif", edges, grid, event_rows=ev_rows, event_cols=ev_cols)
    expected = assign_classes(prob, edges)
    with rasterio.open(tmp_path / "c.tif") as src:
        np.testing.assert_array_equal(src.read(1), expected)
    np.testing.assert_array_equal(cells, np.bincount(expected.ravel(), minlength=5)[1:])
    assert cells.sum() == np.isfinite(prob).sum()
    np.testing.assert_array_equal(ev_cls, expected[ev_rows, ev_cols])
    assert ev_cls[0] == 0 and ev_cls[1] == 0  # events on nodata have no class


# --------------------------------------------------------------------------- sample_raster


@pytest.mark.parametrize("strip_rows", [None, 3])
@pytest.mark.parametrize("n", [200, 100_000])
def test_sample_raster_min_max_count_and_values(tmp_path, monkeypatch, strip_rows, n):
    rng = np.random.default_rng(9)
    prob = rng.random((41, 29)).astype(np.float32)
    prob[5:15, 3:20] = np.nan
    prob[40, 28] = np.nan
    prob[17, 4] = 0.0001  # the minimum, somewhere in the middle
    prob[33, 21] = 0.9999
    path = write_raster(tmp_path / "p.tif", prob, nodata=np.nan)
    if strip_rows is not None:
        monkeypatch.setattr(classes_mod, "_strip_rows", lambda width, budget_cells=0: strip_rows)

    sample, vmin, vmax, n_valid = sample_raster(path, n, seed=4)
    finite = prob[np.isfinite(prob)]
    assert vmin == pytest.approx(float(finite.min()), abs=0) and vmin == pytest.approx(1e-4, rel=1e-5)
    assert vmax == float(finite.max())
    assert n_valid == finite.size == prob.size - 10 * 17 - 1
    assert np.isfinite(sample).all()
    assert np.isin(sample, finite).all()
    if n >= prob.size:  # every cell drawn: the sample is the whole map
        np.testing.assert_array_equal(np.sort(sample), np.sort(finite))
    else:
        assert 0 < sample.size <= n
        assert np.unique(sample).size == sample.size  # drawn without replacement


def test_sample_raster_is_seeded(tmp_path):
    rng = np.random.default_rng(1)
    path = write_raster(tmp_path / "p.tif", rng.random((30, 30)).astype(np.float32), nodata=np.nan)
    s1 = sample_raster(path, 100, seed=1)[0]
    s2 = sample_raster(path, 100, seed=1)[0]
    s3 = sample_raster(path, 100, seed=2)[0]
    np.testing.assert_array_equal(s1, s2)
    assert not np.array_equal(s1, s3)
