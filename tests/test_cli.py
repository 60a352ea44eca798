"""The command line: init, models, show-versions, run, demo, and a dask cluster."""

from __future__ import annotations

import importlib
import json
import logging
import os
import pkgutil
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml
from typer.testing import CliRunner

import susmap
from susmap.cli import app
from susmap.runners.models import MAP_FILES, OUTPUT_FILES
from susmap.study import load_study

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def test_init_writes_a_valid_example_and_refuses_to_overwrite(tmp_path):
    path = tmp_path / "study.yaml"
    result = runner.invoke(app, ["init", str(path)])
    assert result.exit_code == 0, result.output
    study = load_study(path)  # the commented example validates
    assert study.validation.schemes[0] == "spatial"
    result = runner.invoke(app, ["init", str(path)])
    assert result.exit_code == 2
    assert "exists; use --force" in result.stderr
    assert runner.invoke(app, ["init", str(path), "--force"]).exit_code == 0


def test_models_and_show_versions():
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    assert "logistic_regression" in result.stdout and "random_forest" in result.stdout
    result = runner.invoke(app, ["show-versions"])
    assert result.exit_code == 0
    assert "rasterio" in result.stdout and "gdal" in result.stdout


def test_run_prints_scores_spatial_first(make_study, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(make_study()))
    result = runner.invoke(app, ["-q", "run", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stdout.splitlines() if "AUROC" in ln]
    assert "spatial" in lines[0] and "random" in lines[-1]
    assert (tmp_path / "o" / "probability.tif").exists()


def test_run_twice_into_one_folder_replaces_its_own_outputs(make_study, tmp_path):
    """The second run recognises the first run's outputs (manifest) and swaps in a complete new set."""
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(make_study()))
    out = tmp_path / "o"
    first = runner.invoke(app, ["-q", "run", str(path), "--out", str(out)])
    assert first.exit_code == 0, first.output
    probability = (out / "probability.tif").read_bytes()
    manifest = json.loads((out / ".susmap-manifest.json").read_text())["files"]
    assert {*OUTPUT_FILES, *MAP_FILES} <= set(manifest)
    second = runner.invoke(app, ["-q", "run", str(path), "--out", str(out)])
    assert second.exit_code == 0, second.output
    assert (out / "probability.tif").read_bytes() == probability  # same study, same map
    assert set(json.loads((out / ".susmap-manifest.json").read_text())["files"]) == set(manifest)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".o.")]  # no staging, old folder, lock


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_examples_validate(example):
    study = load_study(example)
    for path in [study.grid.template, study.inventory.path, *(lyr.path for lyr in study.layers)]:
        assert path.exists(), path


def test_every_public_name_imports():
    """Each module's __all__ lists names that exist (no drift between __all__ and the code)."""
    for mod in pkgutil.walk_packages(susmap.__path__, "susmap."):
        module = importlib.import_module(mod.name)
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"{mod.name}.__all__ lists missing {name}"


def test_demo_writes_everything_with_both_schemes(demo_run):
    """The README's demo: real Ecuador data, every output, spatial and random AUROC for both models."""
    out, result = demo_run  # conftest.py: run once per session, shared with the report's browser checks
    assert result.exit_code == 0, result.output
    assert {*OUTPUT_FILES, *MAP_FILES} <= {p.name for p in out.iterdir()}
    metrics = json.loads((out / "metrics.json").read_text())
    for scheme in ("spatial", "random"):
        for model in ("logistic_regression", "random_forest"):
            auc = metrics["scores"][scheme][model]["auroc"]
            assert 0.6 < auc["mean"] < 0.95 and auc["n_folds"] == 25
    assert list(metrics["scores"]) == ["spatial", "random"]
    table = metrics["classes"]["table"]
    assert sum(r["events"] for r in table) == 175
    assert sum(r["area_pct"] for r in table) == pytest.approx(100.0)
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["seed"] == 42
    assert any(k.endswith("ta.tif") for k in prov["inputs"])
    assert all(len(v["sha256"]) == 64 for v in prov["inputs"].values())
    assert "susmap report" in (out / "report.html").read_text()


def test_distributed_scheduler_gives_the_same_map(make_study, tmp_path):
    """The same study on a dask.distributed cluster writes the same probability bytes."""
    distributed = pytest.importorskip("distributed")
    from susmap.runners import run_study
    from susmap.study import study_from_dict

    local = run_study(study_from_dict(make_study(outputs={"directory": str(tmp_path / "local")})))
    before = dask.config.get("scheduler", None)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        study = study_from_dict(
            make_study(
                outputs={"directory": str(tmp_path / "cluster")}, compute={"scheduler": cluster.scheduler_address}
            )
        )
        remote = run_study(study)
    # the in-process workers' clients (joblib's dask backend) shared this process's config: it is the caller's again
    assert dask.config.get("scheduler", None) == before
    a = rasterio.open(local.out_dir / "probability.tif").read(1)
    b = rasterio.open(remote.out_dir / "probability.tif").read(1)
    assert np.array_equal(a, b, equal_nan=True)
    assert (local.out_dir / "probability.tif").read_bytes() == (remote.out_dir / "probability.tif").read_bytes()


def test_unreachable_scheduler_is_a_config_error(make_study, tmp_path):
    pytest.importorskip("distributed")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(make_study(compute={"scheduler": "tcp://127.0.0.1:1"})))
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 2
    assert "compute.scheduler: cannot reach 'tcp://127.0.0.1:1'" in result.stderr


def test_factors_list_names_every_family():
    result = runner.invoke(app, ["factors", "--list"])
    assert result.exit_code == 0
    for name in ("slope", "plan_curvature", "topographic_wetness_index", "distance_to_features", "ndvi"):
        assert name in result.stdout
    assert "(whole grid)" in result.stdout


def test_factors_command_writes_factors_summary_correlation_and_class_tables(make_study, synthetic, tmp_path):
    data = make_study(
        dem={"path": str(synthetic["b"])},  # any surface will do: b is random noise
        factors=[{"name": "slope"}, {"name": "twi", "factor": "topographic_wetness_index"}],
    )
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    out = tmp_path / "f"
    result = runner.invoke(app, ["-q", "factors", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert {
        "factor_summary.csv",
        "factor_correlation.csv",
        "factor_correlation.png",
        "factor_class_tables.csv",
    } <= names
    assert {p.name for p in (out / "factors").iterdir()} == {"slope.tif", "twi.tif"}
    summary = pd.read_csv(out / "factor_summary.csv").set_index("factor")
    assert list(summary.index) == ["a", "b", "slope", "twi"]
    assert summary.loc["slope", "units"] == "degrees"
    assert summary.loc["a", "nodata_cells"] == 9  # the 3x3 nodata corner of layer a
    corr = pd.read_csv(out / "factor_correlation.csv", index_col=0)
    assert np.allclose(np.diag(corr.to_numpy()), 1.0)
    assert np.allclose(corr.to_numpy(), corr.to_numpy().T)


def test_factors_command_bad_factor_is_exit_2(make_study, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(make_study(factors=[{"name": "slop"}])))
    result = runner.invoke(app, ["factors", str(path), "--out", str(tmp_path / "f")])
    assert result.exit_code == 2
    assert "unknown factor 'slop'" in result.stderr
    assert not (tmp_path / "f").exists()


def test_version_prints_the_package_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"susmap {susmap.__version__}"


def test_help_texts_show_their_brackets():
    result = runner.invoke(app, ["sweep", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "SETTING=[v1, v2, ...] (YAML list)" in result.stdout
    synthetic_help = runner.invoke(app, ["synthetic", "--help"], terminal_width=200).stdout
    assert "[cells of 10 m]" in synthetic_help


def test_log_file_gets_the_full_log_even_when_quiet(make_study, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(make_study()))
    log = tmp_path / "run.log"
    result = runner.invoke(app, ["-q", "--log-file", str(log), "run", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert " INFO " not in result.stdout  # -q: the console shows warnings only
    text = log.read_text()
    assert " INFO " in text and " DEBUG " not in text
    assert not [h for h in logging.getLogger("susmap").handlers if isinstance(h, logging.FileHandler)]
    verbose = runner.invoke(app, ["-v", "--log-file", str(tmp_path / "v.log"), "init", str(tmp_path / "x.yaml")])
    assert verbose.exit_code == 0, verbose.output
    assert logging.getLogger("susmap").getEffectiveLevel() == logging.DEBUG
    assert runner.invoke(app, ["-q", "-v", "models"]).exit_code == 2


def test_progress_bars_only_on_a_terminal(make_study, tmp_path, monkeypatch):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(make_study()))
    piped = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "piped")])
    assert piped.exit_code == 0, piped.output
    assert "cross-validation" not in piped.stderr and "ETA" not in piped.stderr  # a pipe: log lines only
    monkeypatch.setattr("susmap.cli._is_terminal", lambda stream: True)
    shown = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "tty")])
    assert shown.exit_code == 0, shown.output
    assert "cross-validation" in shown.stderr and "fold batches" in shown.stderr and "ETA" in shown.stderr
    assert "computing blocks (dask tasks)" in shown.stderr  # prediction over blocks and writing
    quiet = runner.invoke(app, ["-q", "run", str(path), "--out", str(tmp_path / "quiet")])
    assert quiet.exit_code == 0, quiet.output
    assert "cross-validation" not in quiet.stderr
    piped_map = (tmp_path / "piped" / "probability.tif").read_bytes()
    assert (tmp_path / "tty" / "probability.tif").read_bytes() == piped_map  # bars never change a result


def test_dem_without_crs_names_dem_crs_and_the_template_dem_takes_grid_crs(make_study, synthetic, tmp_path):
    with rasterio.open(synthetic["a"]) as src:
        values, transform = src.read(1), src.transform
    asc = tmp_path / "dem.asc"
    profile = {"driver": "AAIGrid", "height": values.shape[0], "width": values.shape[1], "count": 1}
    with rasterio.open(asc, "w", dtype="float32", transform=transform, nodata=-9999.0, **profile) as dst:
        dst.write(np.nan_to_num(values, nan=-9999.0).astype("float32"), 1)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(make_study(dem={"path": str(asc)}, factors=[{"name": "slope"}])))
    result = runner.invoke(app, ["factors", str(path), "--out", str(tmp_path / "f")])
    assert result.exit_code == 2
    assert "dem.asc: the DEM has no CRS; state it as dem.crs" in result.stderr
    assert "layers[].crs" not in result.stderr
    assert not (tmp_path / "f").exists()
    # the ASCII DEM as the grid template: grid.crs states its CRS, for the grid and for the DEM
    path.write_text(
        yaml.safe_dump(
            make_study(grid={"template": str(asc), "crs": "EPSG:32717"}, factors=[{"name": "slope"}], layers=[])
        )
    )
    result = runner.invoke(app, ["-q", "factors", str(path), "--out", str(tmp_path / "g")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "g" / "factors" / "slope.tif").exists()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs a pseudo-terminal")
def test_progress_bars_in_a_pseudo_terminal(make_study, tmp_path):
    import pty
    import sys

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(make_study()))
    out = bytearray()
    pid, fd = pty.fork()
    if pid == 0:  # the child: susmap on a terminal, as a person runs it
        os.execv(sys.executable, [sys.executable, "-c", "from susmap.cli import app; app()", "run", str(path)])
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        out.extend(data)
    os.close(fd)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0, out.decode(errors="replace")[-2000:]
    text = out.decode(errors="replace")
    assert "cross-validation" in text and "ETA" in text and "computing blocks (dask tasks)" in text
