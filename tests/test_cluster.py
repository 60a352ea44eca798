"""A study on a dask.distributed cluster: every stage runs on its workers, with the threaded run's results.

One small study on the bundled Ecuador data (a derived stencil factor, slope,
two layers of ``ta.tif``, logistic regression under 3 spatial and 3 random
folds, the map) runs on local threads and, through ``susmap run --scheduler``,
on a :class:`distributed.LocalCluster` of two worker processes. The cluster's
task stream (recorded on its scheduler) must show the tasks of factor writing,
of reading the factor values at the sample cells, of the folds (joblib's dask
backend) and of the map's prediction; the derived factor, the scores and the
probability map must equal the threaded run's.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import dask
import joblib
import numpy as np
import pandas as pd
import pytest
import rasterio
from dask.utils import key_split
from typer.testing import CliRunner

from cli_checks import assert_error, assert_untouched, existing_out, invoke, write_study
from susmap.datasets import demo_study_dict, ecuador_path
from susmap.errors import StudyConfigError
from susmap.factors.derive import derive_factors, factor_context
from susmap.factors.registry import compute_factor
from susmap.runners import run_study
from susmap.stages import compute
from susmap.stages.compute import dask_scheduler, parallel_jobs, with_scheduler
from susmap.study import study_from_dict

distributed = pytest.importorskip("distributed")


def study_dict(out: Path, scheduler: str = "threads") -> dict:
    ta = str(ecuador_path("ta.tif"))
    return {
        "name": "ecuador-cluster",
        "seed": 7,
        "grid": {"template": ta, "band": 4},  # elev
        "layers": [{"name": n, "path": ta, "band": n, "kind": "continuous"} for n in ("cplan", "elev")],
        "factors": [{"name": "slope_deg", "factor": "slope"}],
        "inventory": demo_study_dict(out)["inventory"],  # the 350 labelled points of lsl.csv
        "models": [{"name": "logistic_regression"}],
        "validation": {"schemes": ["spatial", "random"], "folds": 3, "repeats": 1, "n_jobs": 1},
        "mapping": {"model": "best", "classification": "quantile", "n_classes": 4, "chunk_size": 128},
        "compute": {"scheduler": scheduler},
        "outputs": {"directory": str(out)},
    }


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
    ) as local:
        yield local


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    """The study run on threads (Python) and on the cluster (``susmap run --scheduler``), with the task stream."""
    base = tmp_path_factory.mktemp("cluster")
    threaded = base / "threads"
    run_study(study_from_dict(study_dict(threaded)))
    on_cluster = base / "cluster"
    path = write_study(base / "study.yaml", study_dict(on_cluster))
    with (
        distributed.Client(cluster, set_as_default=False) as client,
        distributed.get_task_stream(client=client) as stream,
    ):
        result = invoke(CliRunner(), "run", path, "--scheduler", cluster.scheduler_address)
    assert result.exit_code == 0, result.output
    keys = [task["key"] for task in stream.data]
    return threaded, on_cluster, keys


def _raster(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def _derivation_tasks(study) -> set[str]:
    """Names of the tasks that make the slope from the DEM's blocks (the optimised graph, as the cluster runs it)."""
    ctx, _ = factor_context(study, chunks=128)
    slope = compute_factor("slope", ctx, {}).data
    (slope,), (dem,) = dask.optimize(slope), dask.optimize(ctx.dem.data)
    return {key_split(k) for k in dict(slope.__dask_graph__())} - {key_split(k) for k in dict(dem.__dask_graph__())}


def test_every_stage_runs_on_the_cluster(runs, tmp_path):
    *_, keys = runs
    names = {key_split(k) for k in keys}
    # factor derivation: the stencil tasks that make the slope from the DEM's blocks (not only those that read it)
    derivation = _derivation_tasks(study_from_dict(study_dict(tmp_path)))
    assert any("overlap" in n for n in derivation)
    assert derivation <= names, (derivation, sorted(names))
    # the factor values at the sample cells (xarray's vectorised indexing: dask's vindex)
    assert any(n.startswith("vindex") or "-vindex" in n for n in names), sorted(names)
    # the folds: joblib's dask backend runs each batch of folds as one task
    assert any("_run_batch" in n for n in names), sorted(names)
    # ... and only they: a model's own joblib calls (a pipeline's steps) stay inside its fold's task
    assert [n for n in names if "batch_of_" in n and "_run_batch" not in n] == [], sorted(names)
    # the map: the prediction's blocks
    assert "predict_block" in names, sorted(names)


def test_factor_derivation_on_the_cluster(cluster, runs, tmp_path):
    """``derive_factors`` alone under the cluster: its stencil tasks run there, its slope is the threaded run's."""
    threaded, *_ = runs
    study = study_from_dict(study_dict(tmp_path, scheduler=cluster.scheduler_address))
    with (
        distributed.Client(cluster, set_as_default=False) as client,
        distributed.get_task_stream(client=client) as stream,
        dask_scheduler(study),
    ):
        (derived,) = derive_factors(study, tmp_path / "factors")
    names = {key_split(task["key"]) for task in stream.data}
    assert _derivation_tasks(study) <= names, sorted(names)
    np.testing.assert_array_equal(_raster(derived.path), _raster(threaded / "factors" / "slope_deg.tif"))


def test_cluster_run_equals_threaded_run(runs):
    threaded, on_cluster, _ = runs
    np.testing.assert_array_equal(
        _raster(threaded / "factors" / "slope_deg.tif"), _raster(on_cluster / "factors" / "slope_deg.tif")
    )
    pd.testing.assert_frame_equal(pd.read_csv(threaded / "cv_scores.csv"), pd.read_csv(on_cluster / "cv_scores.csv"))
    pd.testing.assert_frame_equal(pd.read_csv(threaded / "samples.csv"), pd.read_csv(on_cluster / "samples.csv"))
    a = json.loads((threaded / "metrics.json").read_text())
    b = json.loads((on_cluster / "metrics.json").read_text())
    assert a == b
    p_threads, p_cluster = _raster(threaded / "probability.tif"), _raster(on_cluster / "probability.tif")
    assert np.isfinite(p_threads).sum() > 100_000
    assert np.array_equal(p_threads, p_cluster, equal_nan=True)
    assert np.array_equal(_raster(threaded / "classes.tif"), _raster(on_cluster / "classes.tif"))


def test_factors_command_on_the_cluster(cluster, runs, tmp_path):
    """``susmap factors --scheduler``: the slope of the threaded run, and the summary of it."""
    threaded, *_ = runs
    path = write_study(tmp_path / "study.yaml", study_dict(tmp_path / "unused"))
    out = tmp_path / "factors-out"
    result = invoke(CliRunner(), "factors", path, "--scheduler", cluster.scheduler_address, "--out", out)
    assert result.exit_code == 0, result.output
    assert "wrote 1 factors" in result.output and "slope_deg" in result.output
    np.testing.assert_array_equal(
        _raster(out / "factors" / "slope_deg.tif"), _raster(threaded / "factors" / "slope_deg.tif")
    )


def test_folds_take_every_worker_on_the_cluster(cluster, tmp_path, caplog):
    study = study_from_dict(study_dict(tmp_path, scheduler=cluster.scheduler_address))
    with parallel_jobs(4, "validation.n_jobs") as n_jobs:  # local: the study's setting, joblib's default backend
        assert n_jobs == 4 and joblib.parallel.get_active_backend()[0].__class__.__name__ == "LokyBackend"
    with caplog.at_level(logging.INFO, logger="susmap"), dask_scheduler(study):
        with parallel_jobs(4, "validation.n_jobs") as n_jobs:
            assert n_jobs == -1
            assert joblib.parallel.get_active_backend()[0].__class__.__name__ == "DaskDistributedBackend"
            assert joblib.effective_n_jobs(n_jobs) == 2  # the cluster's worker threads
        # outside the folds' block, a model fitted in this process keeps its local parallelism
        assert joblib.parallel.get_active_backend()[0].__class__.__name__ == "LokyBackend"
    assert "validation.n_jobs: 4 ignored on the cluster: the jobs run on all its 2 worker threads" in caplog.text
    with parallel_jobs(4, "validation.n_jobs") as n_jobs:  # the cluster block's end restores the local setting
        assert n_jobs == 4


def test_scheduler_option_replaces_the_study_setting(tmp_path):
    study = study_from_dict({**study_dict(tmp_path), "compute": {"scheduler": "threads", "num_workers": 1}})
    assert with_scheduler(study, "tcp://10.0.0.5:8786").compute.model_dump() == {
        "scheduler": "tcp://10.0.0.5:8786",
        "num_workers": None,
    }
    assert with_scheduler(study, "threads").compute.num_workers == 1
    with pytest.raises(StudyConfigError, match=r"--scheduler: 'nowhere' is not a scheduler"):
        with_scheduler(study, "nowhere")


def test_scheduler_option_is_on_every_study_command():
    for command in ("run", "compare", "factors", "sweep"):
        result = invoke(CliRunner(), command, "--help")
        assert result.exit_code == 0
        assert "--scheduler" in result.output and "ADDRESS" in result.output, command


def test_unreachable_scheduler_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(compute, "CONNECT_TIMEOUT_S", 1.0)  # nothing listens there: no need to wait 10 s
    out = existing_out(tmp_path)
    path = write_study(tmp_path / "study.yaml", study_dict(out))
    result = invoke(CliRunner(), "run", path, "--scheduler", "tcp://127.0.0.1:9", "--out", out)
    line = assert_error(result.exit_code, result.stderr, ["compute.scheduler", "cannot reach", "tcp://127.0.0.1:9"])
    assert "Traceback" not in line
    assert_untouched(out)
