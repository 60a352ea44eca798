"""The tiled hydrology factors with a dask.distributed client: each tiled pass is one task on a worker.

Oracle: the same factor computed locally (dask's threads, no client) on the
same DEM, bit for bit. Evidence that the passes ran on the cluster: the
client's task stream (recorded by the scheduler) holds one task per pass,
named after the module-level function of the pass (``_store_dem``,
``_fill_pass``, ``_d8_pass``, ``_index_pass``, ``_hand_pass``,
``_density_pass``), and every
pass got arguments that survive pickling (paths, numbers, a profile; no
open file). Tiles of 32 cells over chunks of 16, as in
``test_hydrology_tiled.py``, so every grid spans several tiles.
"""

from __future__ import annotations

import logging
import pickle

import dask
import numpy as np
import pytest

from susmap.errors import SusmapError
from susmap.factors import hydrology_tiled as ht
from susmap.factors.registry import FactorContext, compute_factor
from susmap.factors.tiled_routing import RasterTiles

distributed = pytest.importorskip("distributed")

CS = 10.0  # [m]
CHUNKS = 16
TWI = ("topographic_wetness_index", {"method": "d8", "fill": True, "tiled": True})
HAND = ("height_above_nearest_drainage", {"threshold": 30, "unit": "cells", "tiled": True})
DD = ("drainage_density", {"threshold": 30, "unit": "cells", "radius_m": 50, "tiled": True})


@pytest.fixture(autouse=True)
def small_tiles(monkeypatch):
    """Tiles of 32 cells (two chunks of 16)."""
    monkeypatch.setattr(ht, "TILE_CELLS", 32)


_ABSENT = object()


def restore_scheduler(value: object) -> None:
    """dask's ``scheduler`` setting back to ``value`` (:data:`_ABSENT`: not set)."""
    if value is _ABSENT:
        dask.config.config.pop("scheduler", None)
    else:
        dask.config.config["scheduler"] = value


@pytest.fixture(scope="module")
def client():
    before = dask.config.config.get("scheduler", _ABSENT)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None, silence_logs=logging.ERROR
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as c,
    ):
        yield c
    # the in-process worker's client (opened by a task) set dask's shared ``scheduler`` to the run's client and
    # gave that back when it closed: the tests after this module get the setting they had before
    restore_scheduler(before)


@pytest.fixture
def passes(monkeypatch):
    """The names of the passes given to :func:`on_cluster_or_here`, each checked to pickle (a worker in another
    process gets its arguments pickled; the in-process cluster here passes them as they are)."""
    names: list[str] = []
    real = ht.on_cluster_or_here

    def spy(func, *args):
        func2, args2 = pickle.loads(pickle.dumps((func, args)))
        names.append(func.__name__)
        return real(func2, *args2)

    monkeypatch.setattr(ht, "on_cluster_or_here", spy)
    return names


def valleys(n: int = 70, m: int = 75) -> np.ndarray:
    """Noisy valleys with a closed basin and NaN blobs (several tiles, depressions, nodata)."""
    rng = np.random.default_rng(5)
    rr, cc = np.mgrid[0:n, 0:m]
    dem = 500.0 + 2.0 * np.abs(cc - m / 2) + 0.5 * rr + 10.0 * np.sin(rr / 7.0) * np.cos(cc / 9.0)
    dem -= 12.0 * np.exp(-(((rr - 40) ** 2 + (cc - 20) ** 2) / 60.0))  # a closed basin wider than a tile
    dem = (dem + 3.0 * rng.random((n, m))).astype(np.float32)
    dem[10:14, 50:56] = np.nan
    dem[:2, :9] = np.nan
    return dem


def _values(dem: np.ndarray, *factors: tuple[str, dict]) -> list[np.ndarray]:
    ctx = FactorContext.from_array(dem, cellsize=CS, chunks=CHUNKS)
    return [np.asarray(compute_factor(name, ctx, params).values) for name, params in factors]


def _pass_tasks(stream: list[dict], name: str) -> list[dict]:
    """The tasks of the pass ``name`` in a task stream (keys ``<name>-<token>`` of ``client.submit``)."""
    return [t for t in stream if isinstance(t["key"], str) and t["key"].startswith(name + "-")]


def test_tiled_passes_run_as_worker_tasks_with_the_local_results(client, passes) -> None:
    dem = valleys()
    local = _values(dem, TWI, HAND, DD)
    assert not ht._cluster_client()  # locally: no client, the passes ran here
    assert passes == ["_fill_pass", "_d8_pass", "_index_pass", "_hand_pass", "_density_pass"]
    passes.clear()
    with (
        distributed.get_task_stream(client=client) as ts,
        dask.config.set(scheduler=client.get),
    ):  # as dask_scheduler sets it
        assert ht._cluster_client() is client
        on_cluster = _values(dem, TWI, HAND, DD)
    for name, a, b in zip(("twi", "hand", "dd"), local, on_cluster, strict=True):
        assert np.array_equal(a, b, equal_nan=True), name
        assert np.isfinite(a).sum() > 0.9 * a.size, name
    assert passes == ["_store_dem", "_fill_pass", "_d8_pass", "_index_pass", "_hand_pass", "_density_pass"]
    workers = set(client.scheduler_info()["workers"])
    for name in passes:  # one task each on the worker (memoised: the factors share the fill and the D8 pass)
        tasks = _pass_tasks(ts.data, name)
        assert [t["status"] for t in tasks] == ["OK"] and tasks[0]["worker"] in workers, (name, tasks)


def test_the_work_folder_holds_the_dem_on_a_cluster(client, tmp_path) -> None:
    dem = valleys(40, 40)
    ctx = FactorContext.from_array(dem, cellsize=CS, chunks=CHUNKS)
    ctx.workdir = tmp_path / "tiles"
    with dask.config.set(scheduler=client.get):
        filled = np.asarray(compute_factor("filled_dem", ctx, {"tiled": True}).values)
    assert sorted(p.name for p in ctx.workdir.iterdir()) == ["dem.tif", "filled_dem.tif"]
    with RasterTiles(ctx.workdir / "dem.tif") as src:  # the DEM as float32, NaN where nodata
        assert np.array_equal(src.read(0, 40, 0, 40), dem, equal_nan=True)
    assert np.array_equal(filled, _values(dem, ("filled_dem", {"tiled": True}))[0], equal_nan=True)


def test_an_error_on_the_worker_reaches_the_caller(client) -> None:
    ctx = FactorContext.from_array(valleys(40, 40), cellsize=CS, chunks=CHUNKS)
    opts = {"method": "mfd", "fill": False, "exponent": -1.0, "linear": 0.0, "extrapolate": True}
    with (
        distributed.get_task_stream(client=client) as ts,
        dask.config.set(scheduler=client.get),
        pytest.raises(SusmapError, match=r"the 'exponent' of tiled_mfd_accumulation must be a positive number; got -1"),
    ):
        ht.accumulation(ctx, "acc_mfd_bad", **opts)
    assert [t["status"] for t in _pass_tasks(ts.data, "_mfd_pass")] == ["error"]  # raised inside the worker's task


def test_no_client_when_dask_runs_here() -> None:
    for scheduler in ("threads", "synchronous", None):
        with dask.config.set(scheduler=scheduler):
            assert ht._cluster_client() is None
