"""``susmap run --dry-run``: a study's cost before it runs (issue 13, item 5).

The dry run checks the study like a run, writes nothing, prints the grid,
the samples, the fits of every model, their timed CPU cost, the mapping time
and the peak memory, and warns when cross-validation would take long; a
plain run logs the same estimate first and its outputs do not change.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from susmap.cli import app
from susmap.stages import estimate as estimate_module
from susmap.stages.estimate import estimate_study, format_duration
from susmap.study import study_from_dict

PREFIX = "susmap: error:"


def _study_file(tmp: Path, study: dict) -> Path:
    path = tmp / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False), encoding="utf-8")
    return path


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _study(synthetic: dict, make_study, **sections):
    return study_from_dict(make_study(**sections), base=synthetic["dir"])


# --------------------------------------------------------------------------- the command


def test_dry_run_prints_the_cost_and_writes_nothing(synthetic, make_study):
    path = _study_file(synthetic["dir"], make_study())
    before = _tree(synthetic["dir"])
    result = CliRunner().invoke(app, ["run", "--dry-run", str(path)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "60 x 80 = 4,800 cells" in out
    valid = int(re.search(r"~([\d,]+) with data", out).group(1).replace(",", ""))
    assert 4700 <= valid < 4800  # 4,791: the 3 x 3 nodata corner, seen by the sampled windows
    assert "samples   120 " in out
    # spatial + random, 3 folds x 1 repeat, + the final fit of the mapped model
    assert "fits      7 in all" in out and "spatial 3 folds x 1 repeats, random 3 folds x 1 repeats" in out
    assert "+ the final fit of the best model" in out and "6 CV fits + 0 other" in out
    assert "logistic_regression" in out and "per fit" in out and "cells/s" in out
    assert "CV time" in out and "map time" in out and "memory    peak" in out
    assert "WARNING" not in out
    assert _tree(synthetic["dir"]) == before
    assert not (synthetic["dir"] / "out").exists()


def test_dry_run_of_compare_counts_its_analyses(synthetic, make_study):
    path = _study_file(synthetic["dir"], make_study(validation={"folds": 3, "repeats": 2, "schemes": ["spatial"]}))
    result = CliRunner().invoke(app, ["compare", "--dry-run", str(path)])
    assert result.exit_code == 0, result.output
    # 6 CV fits; rate curves 2, factor count 2 factors x 3 folds, permutation importance 3 folds
    assert "6 CV fits + 11 other" in result.stdout
    assert "(compare)" in result.stdout


def test_dry_run_refuses_bad_input_with_one_line(synthetic, make_study):
    study = make_study(layers=[{"name": "a", "path": str(synthetic["a"])}, {"name": "b", "path": "nope_b.tif"}])
    path = _study_file(synthetic["dir"], study)
    result = CliRunner().invoke(app, ["run", "--dry-run", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX) and "nope_b.tif" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_dry_run_warns_before_a_long_cross_validation(synthetic, make_study, monkeypatch):
    monkeypatch.setattr(estimate_module, "LONG_CV_S", 1e-6)
    path = _study_file(synthetic["dir"], make_study())
    result = CliRunner().invoke(app, ["run", "--dry-run", str(path)])
    assert result.exit_code == 0, result.output
    warning = [line for line in result.stdout.splitlines() if line.startswith("WARNING")]
    assert len(warning) == 1 and "cross-validation would take about" in warning[0]
    assert "logistic_regression" in warning[0]


def test_dry_run_times_a_read_pass_and_warns_before_a_grid_too_large_to_read(synthetic, make_study, monkeypatch):
    path = _study_file(
        synthetic["dir"],
        make_study(factors=[{"name": "s", "factor": "slope"}, {"name": "acc", "factor": "flow_accumulation"}]),
    )
    quiet = CliRunner().invoke(app, ["run", "--dry-run", str(path)])
    assert quiet.exit_code == 0, quiet.output
    lines = quiet.stdout.splitlines()
    assert "reads     a (a.tif, predictor), b (b.tif, predictor)" in lines
    assert "derives   s = slope, acc = flow_accumulation (whole grid)" in lines
    assert any(line.startswith("writes    to ") and line.endswith("(nothing now: this is a dry run)") for line in lines)
    assert any(line.startswith("read      ~") and "2 layer(s)" in line for line in quiet.stdout.splitlines())
    assert not [line for line in quiet.stdout.splitlines() if line.startswith("WARNING")]
    monkeypatch.setattr(estimate_module, "LONG_READ_S", 1e-9)
    result = CliRunner().invoke(app, ["run", "--dry-run", str(path)])
    warning = [line for line in result.stdout.splitlines() if line.startswith("WARNING")]
    assert len(warning) == 1 and "one pass over the 4,800 cells of the 2 layer(s)" in warning[0]


def test_plain_run_logs_the_estimate_and_keeps_its_outputs(synthetic, make_study, monkeypatch):
    """The estimate (here timed and warning) changes nothing a run writes but its log."""
    path = _study_file(synthetic["dir"], make_study(mapping={"chunk_size": 32, "class_sample": 2000}))
    plain, estimated = synthetic["dir"] / "plain", synthetic["dir"] / "estimated"

    def no_estimate(*args, **kwargs):
        raise RuntimeError("estimate switched off")

    with monkeypatch.context() as patch:
        patch.setattr(estimate_module, "estimate_study", no_estimate)
        first = CliRunner().invoke(app, ["run", str(path), "--out", str(plain)])
    assert first.exit_code == 0, first.output
    assert "estimate:" not in first.stdout
    monkeypatch.setattr(estimate_module, "TIMED_FITS", 1)
    monkeypatch.setattr(estimate_module, "LONG_CV_S", 1e-6)
    second = CliRunner().invoke(app, ["run", str(path), "--out", str(estimated)])
    assert second.exit_code == 0, second.output
    assert "estimate: 7 fits, 120 samples, 4800 cells, CV ~" in second.stdout
    assert "cross-validation would take about" in second.stderr
    for name in ("probability.tif", "classes.tif", "cv_scores.csv", "samples.csv", "class_table.csv"):
        assert (plain / name).read_bytes() == (estimated / name).read_bytes(), name


# --------------------------------------------------------------------------- counts


def test_fit_counts_of_schemes_tuning_and_mapping(synthetic, make_study):
    study = _study(
        synthetic,
        make_study,
        models=[{"name": "logistic_regression"}, {"name": "decision_tree", "label": "tree"}],
        validation={
            "folds": 4,
            "repeats": 3,
            "schemes": ["spatial", {"name": "holdout", "test_size": 0.3}, {"name": "buffered_loo", "buffer_m": 50}],
            "tuning": {"tree": {"param_grid": {"max_depth": [2, 4, 8]}, "inner_folds": 2}},
        },
        mapping={"model": "tree"},
    )
    est = estimate_study(study, time_fits=False)
    by_label = {m.label: m for m in est.models}
    outer = 4 * 3 + 3 + 120  # spatial folds x repeats, holdout repeats, one fold per sample
    assert by_label["logistic_regression"].cv_fits == outer
    assert by_label["tree"].cv_fits == outer * (3 * 2 + 1)  # 3 candidates x 2 inner folds + refit
    assert (by_label["logistic_regression"].other_fits, by_label["tree"].other_fits) == (0, 1)
    assert est.fits == outer + outer * 7 + 1
    assert est.samples == 120 and est.events == int(synthetic["points"]["event"].sum())
    assert est.cv_cpu_s is None and "not timed" in "\n".join(est.lines())


def test_presence_only_samples_count_the_absences(synthetic, make_study):
    inv = {k: v for k, v in make_study()["inventory"].items() if k != "label"}
    study = _study(synthetic, make_study, inventory=inv, sampling={"absence_ratio": 2.0})
    est = estimate_study(study, time_fits=False)
    assert (est.samples, est.events) == (360, 120)


def test_timing_scales_with_samples_and_iterations(synthetic, make_study):
    study = _study(synthetic, make_study, models=[{"name": "logistic_regression"}])
    est = estimate_study(study, budget_s=2.0)
    (cost,) = est.models
    assert cost.fit_s is not None and 0 < cost.fit_s < 5
    assert cost.cpu_s == pytest.approx(cost.fit_s * cost.fits)
    assert cost.predict_cells_per_s > 1000
    assert est.map_s is not None and est.map_s < 60
    assert set(est.memory) >= {"prediction blocks", "writer band", "sample table"}
    # patch models are timed on a synthetic raster of windows, with their epochs scaled
    pytest.importorskip("torch")
    study = _study(synthetic, make_study, models=[{"name": "patch_cnn", "params": {"epochs": 20}}])
    (cnn,) = estimate_study(study, budget_s=3.0).models
    assert cnn.fit_s is not None and cnn.fit_s > 0 and "epochs 20" in cnn.note


def test_format_duration():
    assert format_duration(0.1234) == "0.12 s"
    assert format_duration(42) == "42 s"
    assert format_duration(450) == "7.5 min"
    assert format_duration(3 * 3600) == "3.0 h"
    assert format_duration(4 * 86400) == "4.0 days"


def test_dry_run_of_a_meta_blockwise_study_reports_grid_samples_and_memory(tmp_path):
    folder = tmp_path / "meta"
    made = CliRunner().invoke(
        app, ["synthetic", str(folder), "--size", "32", "--samples", "40", "--method", "meta-blockwise"]
    )
    assert made.exit_code == 0, made.output
    before = _tree(tmp_path)
    result = CliRunner().invoke(app, ["run", "--dry-run", str(folder / "study.yaml")])
    assert result.exit_code == 0, result.output
    assert "32 x 32 = 1,024 cells" in result.stdout and "samples   40 " in result.stdout
    assert "method meta-blockwise: its fits are not estimated" in result.stdout
    assert "memory    peak" in result.stdout
    assert _tree(tmp_path) == before


def test_a_fit_over_the_time_cap_is_left_behind_and_gives_a_lower_bound(synthetic, make_study):
    study = _study(synthetic, make_study, models=[{"name": "random_forest", "params": {"n_estimators": 800}}])
    est = estimate_study(study, budget_s=0.05)
    (cost,) = est.models
    assert cost.lower_bound and cost.fit_s is not None and cost.fit_s >= 0.05
    assert cost.predict_cells_per_s is None
    assert ">= " in "\n".join(est.lines())
