"""Parallel block prediction: same map as before, no thread pool per block, bounded blocks in flight.

Oracles: the model's own ``predict_proba`` on every valid cell of the
stack read whole with rasterio (to 1e-6; the blocks run the same float64
call, so the difference is 0 up to the order of a forest's sum); the map
written through dask's store path (the path of every map before the pool of
threads), which must give the same file bytes; joblib's active backend seen
from inside each ``predict_proba`` call; a count of the computed blocks
alive at once.
"""

from __future__ import annotations

import threading
import weakref
from pathlib import Path

import dask
import joblib.parallel
import numpy as np
import pytest
import rasterio
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import susmap.mapping.predict as predict_mod
import susmap.mapping.writer as writer_mod
from conftest import write_raster
from susmap.mapping import predict_stack, write_lazy_raster
from susmap.stack import open_stack
from susmap.study import AlignmentConfig, GridConfig, LayerConfig

ROWS, COLS, CHUNK = 150, 130, 32  # 5 × 5 blocks, ragged at the right and bottom edges


@pytest.fixture(scope="module")
def small_stack(tmp_path_factory):
    """Three smooth factors with nodata holes (a corner of one, scattered cells of another), and their cells."""
    folder = tmp_path_factory.mktemp("stack")
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:ROWS, 0:COLS].astype(np.float32)
    bands = [
        np.sin(xx / 9) + 0.2 * rng.standard_normal((ROWS, COLS)),
        np.cos(yy / 13) + 0.2 * rng.standard_normal((ROWS, COLS)),
        (xx - yy) / 50 + 0.2 * rng.standard_normal((ROWS, COLS)),
    ]
    bands[0][:20, :25] = -9999.0
    bands[2][rng.random((ROWS, COLS)) < 0.05] = -9999.0
    paths = [write_raster(folder / f"f{i}.tif", b.astype(np.float32)) for i, b in enumerate(bands)]
    full = np.stack(bands).astype(np.float64)
    full[full == -9999.0] = np.nan
    return paths, full


def _open(paths: list[Path]):
    layers = [LayerConfig(name=p.stem, path=p) for p in paths]
    return open_stack(GridConfig(template=paths[0]), layers, AlignmentConfig(), chunks=CHUNK, count=False)


def _fit(kind: str, full: np.ndarray):
    X = full.reshape(3, -1).T  # noqa: N806
    X = X[np.isfinite(X).all(axis=1)][::7]  # noqa: N806
    y = (X[:, 0] + X[:, 1] - X[:, 2] + 0.3 * np.sin(5 * X[:, 0]) > 0.2).astype(int)
    model = {
        "forest": RandomForestClassifier(n_estimators=15, n_jobs=-1, random_state=0),
        "logistic": LogisticRegression(),
        "scaled_mlp": make_pipeline(StandardScaler(), MLPClassifier((8,), max_iter=300, random_state=0)),
    }[kind]
    return model.fit(X, y)


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


@pytest.mark.parametrize("kind", ["forest", "logistic", "scaled_mlp"])
def test_map_equals_whole_array_prediction_and_the_dask_store_path(small_stack, kind, tmp_path, monkeypatch):
    paths, full = small_stack
    model = _fit(kind, full)
    stack = _open(paths)
    with dask.config.set(scheduler="threads", num_workers=2):
        write_lazy_raster(tmp_path / "pool.tif", predict_stack(stack, model), stack.grid)
        monkeypatch.setattr(writer_mod, "_independent_blocks", lambda arrays: None)  # the store path of before
        write_lazy_raster(tmp_path / "store.tif", predict_stack(stack, model), stack.grid)
    got = _read(tmp_path / "pool.tif")
    valid = np.isfinite(full).all(axis=0)
    expected = np.full((ROWS, COLS), np.nan)
    expected[valid] = model.predict_proba(full[:, valid].T)[:, 1]
    assert np.array_equal(np.isnan(got), ~valid)
    assert np.max(np.abs(got[valid] - expected[valid])) <= 1e-6
    assert (tmp_path / "pool.tif").read_bytes() == (tmp_path / "store.tif").read_bytes()


# the spy on joblib's Parallel.__call__ makes scikit-learn doubt that its own Parallel wraps the calls
@pytest.mark.filterwarnings("ignore:`sklearn.utils.parallel.delayed` should be used")
def test_blocks_run_models_without_a_pool_of_their_own(small_stack, tmp_path, monkeypatch):
    """A forest with n_jobs=-1: every predict_proba call sees joblib's sequential backend; threads = the pool's."""
    paths, full = small_stack
    model = _fit("forest", full)
    stack = _open(paths)
    backends: list[str] = []
    original_call = joblib.parallel.Parallel.__call__

    def spy(self, iterable):
        backends.append(type(joblib.parallel.get_active_backend()[0]).__name__)
        return original_call(self, iterable)

    started = []
    original_start = threading.Thread.start

    def counting_start(self):
        started.append(self.name)
        original_start(self)

    monkeypatch.setattr(joblib.parallel.Parallel, "__call__", spy)
    monkeypatch.setattr(threading.Thread, "start", counting_start)
    with dask.config.set(scheduler="threads", num_workers=2):
        write_lazy_raster(tmp_path / "p.tif", predict_stack(stack, model), stack.grid)
    assert len(backends) == 25  # one predict_proba per block (every block has valid cells)
    assert set(backends) == {"SequentialBackend"}
    assert len(started) <= 2  # the writer's two workers, not a pool per block


def test_blocks_in_flight_are_bounded(small_stack, tmp_path, monkeypatch):
    """Computed blocks alive at once never exceed IN_FLIGHT per worker (+1 being written), whatever the block count."""
    paths, full = small_stack
    model = _fit("logistic", full)
    alive = [0]
    peak = [0]
    lock = threading.Lock()
    original = predict_mod.predict_block

    def release() -> None:
        with lock:
            alive[0] -= 1

    def tracked(block, model):
        out = original(block, model)
        with lock:
            alive[0] += 1
            peak[0] = max(peak[0], alive[0])
        weakref.finalize(out, release)
        return out

    monkeypatch.setattr(predict_mod, "predict_block", tracked)
    stack = _open(paths)
    with dask.config.set(scheduler="threads", num_workers=2):
        write_lazy_raster(tmp_path / "p.tif", predict_stack(stack, model), stack.grid)
    assert alive[0] == 0
    assert 1 <= peak[0] <= writer_mod.IN_FLIGHT * 2 + 1
    expected = np.full((ROWS, COLS), np.nan)
    valid = np.isfinite(full).all(axis=0)
    expected[valid] = model.predict_proba(full[:, valid].T)[:, 1]
    got = _read(tmp_path / "p.tif")
    assert np.max(np.abs(got[valid] - expected[valid])) <= 1e-6


def test_synchronous_scheduler_writes_the_same_bytes(small_stack, tmp_path):
    paths, full = small_stack
    model = _fit("logistic", full)
    stack = _open(paths)
    with dask.config.set(scheduler="synchronous"):
        write_lazy_raster(tmp_path / "sync.tif", predict_stack(stack, model), stack.grid)
    with dask.config.set(scheduler="threads", num_workers=2):
        write_lazy_raster(tmp_path / "threads.tif", predict_stack(stack, model), stack.grid)
    assert (tmp_path / "sync.tif").read_bytes() == (tmp_path / "threads.tif").read_bytes()


def test_a_halo_graph_is_computed_in_one_dask_graph(tmp_path, monkeypatch):
    """Blocks sharing tasks (a 3 × 3 stencil's halo) take the store path; the result is the stencil's."""
    data = np.arange(100 * 90, dtype=np.float32).reshape(100, 90) % 17
    path = write_raster(tmp_path / "dem.tif", data)
    stack = _open([path])
    arr = stack.data.data[0].map_overlap(
        lambda b: (b[:-2, 1:-1] + b[2:, 1:-1] + b[1:-1, :-2] + b[1:-1, 2:]) / 4,
        depth=1,
        boundary=np.nan,
        trim=False,
        dtype=np.float32,
    )
    called = []
    original = writer_mod._write_independent
    monkeypatch.setattr(writer_mod, "_write_independent", lambda *a: called.append(1) or original(*a))
    write_lazy_raster(tmp_path / "mean.tif", arr, stack.grid)
    assert not called
    padded = np.pad(data.astype(np.float64), 1, constant_values=np.nan)
    expected = (padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]) / 4
    got = _read(tmp_path / "mean.tif")
    assert np.allclose(got, expected, equal_nan=True, atol=1e-6)


def _spy_inputs(model):
    """A copy of the fitted ``model`` that records every input of its ``predict_proba``, and that record."""
    inputs: list = []
    original = type(model).predict_proba

    class Spy(type(model)):
        def predict_proba(self, X):  # noqa: N803
            inputs.append(X)
            return original(self, X)

    spy = Spy.__new__(Spy)
    spy.__dict__.update(model.__dict__)
    return spy, inputs


@pytest.mark.parametrize(("kind", "dtype"), [("forest", np.float32), ("logistic", np.float64)])
def test_trees_take_the_float32_cells_as_they_are_and_give_the_same_probabilities(small_stack, kind, dtype):
    """A forest casts its input to float32 before any split: given float32, its map is bit-identical."""
    _, full = small_stack
    model = _fit(kind, full)
    spy, inputs = _spy_inputs(model)
    block = full.astype(np.float32)
    got = predict_mod.predict_block(block, spy)
    valid = np.isfinite(block).all(axis=0)
    expected = model.predict_proba(block[:, valid].T.astype(np.float64))[:, 1].astype(np.float32)
    assert [np.asarray(X).dtype for X in inputs] == [np.dtype(dtype)]
    assert np.array_equal(got[valid], expected)


@pytest.mark.parametrize("kind", ["logistic", "scaled_mlp"])
def test_float64_models_predict_a_block_in_batches_of_rows_with_the_same_probabilities(small_stack, kind, monkeypatch):
    """Batches of rows (here 1,000 of the block's 17,000-odd valid cells) give the one-call probabilities exactly."""
    _, full = small_stack
    model = _fit(kind, full)
    spy, inputs = _spy_inputs(model)
    monkeypatch.setattr(predict_mod, "FLOAT64_BATCH_ROWS", 1000)
    block = full.astype(np.float32)
    got = predict_mod.predict_block(block, spy)
    valid = np.isfinite(block).all(axis=0)
    expected = model.predict_proba(block[:, valid].T.astype(np.float64))[:, 1].astype(np.float32)
    calls = [len(X) for X in inputs]
    assert max(calls) == 1000 and sum(calls) == int(valid.sum()) and len(calls) > 10
    assert np.array_equal(got[valid], expected)
