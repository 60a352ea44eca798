"""Bad input on the command line: exit status 2, one line on stderr, output folder untouched.

Every case runs ``susmap run STUDY.yaml --out DIR`` on a broken variant of the
synthetic study and checks what the issue asks for:

* exit status 2 and no traceback;
* stderr is exactly one line, ``susmap: error: ...``, naming the offending file or key;
* an output folder that existed before still holds exactly its old file
  (``keep.txt``, same bytes), and no hidden staging folder
  (``.<out>.partial-*``) is left beside it.

Most cases fail before any modelling, so the file runs in seconds. The CLI is
invoked in-process through typer's ``CliRunner`` (stderr is kept apart from
stdout in click >= 8.2); a few cases also run the real ``susmap`` executable
in a subprocess, where log handlers and warnings reach stderr exactly as a
user sees them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from affine import Affine
from typer.testing import CliRunner

from cli_checks import (
    KEEP_BYTES,
    PREFIX,
    assert_error,
    assert_no_staging,
    assert_one_line,
    assert_untouched,
    existing_out,
    invoke,
    write_study,
)
from conftest import CELL, ORIGIN, write_raster
from susmap.errors import InputFileError
from susmap.outputs import OutputFolder
from susmap.runners.models import MAP_FILES, OUTPUT_FILES

# --------------------------------------------------------------------------- helpers


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _text_file(path: Path, text: str = "this is not a raster\n") -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _grid_like(path: Path, *, crs: str | None = "EPSG:32717", transform: Affine | None = None, shape=(60, 80)):
    rng = np.random.default_rng(3)
    return write_raster(path, rng.random(shape, dtype=np.float32), crs=crs, transform=transform)


def _with_layer_b(syn: dict, make: Callable, path: Path, **extra) -> dict:
    return make(
        layers=[{"name": "a", "path": str(syn["a"])}, {"name": "b", "path": str(path), **extra}],
    )


def _with_inventory(syn: dict, make: Callable, frame: pd.DataFrame, name: str, label: str = "event") -> dict:
    path = syn["dir"] / name
    frame.to_csv(path, index=False)
    inv = {"path": str(path), "x": "x", "y": "y", "crs": "EPSG:32717", "label": label}
    return make(inventory=inv)


def _rarer_class_count(syn: dict) -> int:
    return int(syn["points"]["event"].value_counts().min())


# --------------------------------------------------------------------------- the cases

# Each builder gets (synthetic, make_study) and returns (study, needles): the
# study as a dict, as raw YAML text, or None for "no study file at all"; the
# needles must appear in the error line. The study is written to study.yaml.
Builder = Callable[[dict, Callable], tuple[dict | str | None, list[str]]]

CASES: dict[str, Builder] = {
    # missing files
    "missing-template": lambda s, m: (m(grid={"template": str(s["dir"] / "nope_dem.tif")}), ["nope_dem.tif"]),
    "missing-layer": lambda s, m: (_with_layer_b(s, m, s["dir"] / "nope_b.tif"), ["nope_b.tif"]),
    "missing-inventory": lambda s, m: (
        m(inventory={**m()["inventory"], "path": str(s["dir"] / "nope_events.csv")}),
        ["nope_events.csv"],
    ),
    "missing-study-file": lambda s, m: (None, ["nope_study.yaml"]),
    # unreadable files
    "unreadable-layer": lambda s, m: (
        _with_layer_b(s, m, _text_file(s["dir"] / "junk_b.tif")),
        ["junk_b.tif"],
    ),
    "unreadable-template": lambda s, m: (
        m(grid={"template": str(_text_file(s["dir"] / "junk_dem.tif"))}),
        ["junk_dem.tif"],
    ),
    "unreadable-inventory": lambda s, m: (
        m(inventory={"path": str(_text_file(s["dir"] / "junk_events.gpkg")), "label": "event"}),
        ["junk_events.gpkg"],
    ),
    # off the grid, not allowed by alignment
    "crs-geographic": lambda s, m: (
        _with_layer_b(
            s,
            m,
            _grid_like(s["dir"] / "b_4326.tif", crs="EPSG:4326", transform=Affine(1e-4, 0, -79.2, 0, -1e-4, -3.9)),
        ),
        ["b_4326.tif", "alignment.allow_reproject"],
    ),
    "crs-other-utm-zone": lambda s, m: (
        _with_layer_b(s, m, _grid_like(s["dir"] / "b_32718.tif", crs="EPSG:32718")),
        ["b_32718.tif", "alignment.allow_reproject"],
    ),
    "resolution-mismatch": lambda s, m: (
        _with_layer_b(
            s,
            m,
            _grid_like(
                s["dir"] / "b_20m.tif",
                transform=Affine(2 * CELL, 0, ORIGIN[0], 0, -2 * CELL, ORIGIN[1]),
                shape=(30, 40),
            ),
        ),
        ["b_20m.tif", "alignment.allow_resample"],
    ),
    "extent-mismatch": lambda s, m: (
        _with_layer_b(
            s,
            m,
            _grid_like(
                s["dir"] / "b_shifted.tif",
                transform=Affine(CELL, 0, ORIGIN[0] + 5 * CELL, 0, -CELL, ORIGIN[1]),
                shape=(50, 70),
            ),
        ),
        ["b_shifted.tif", "alignment.allow_resample"],
    ),
    # no CRS anywhere
    "layer-without-crs": lambda s, m: (
        _with_layer_b(s, m, _grid_like(s["dir"] / "b_nocrs.tif", crs=None)),
        ["b_nocrs.tif", "layers[].crs"],
    ),
    "template-without-crs": lambda s, m: (
        m(grid={"template": str(_grid_like(s["dir"] / "dem_nocrs.tif", crs=None))}),
        ["dem_nocrs.tif", "grid.crs"],
    ),
    # no data
    "layer-all-nodata": lambda s, m: (
        _with_layer_b(s, m, write_raster(s["dir"] / "b_empty.tif", np.full((60, 80), -9999.0, np.float32))),
        ["b_empty.tif"],
    ),
    # inventory
    "inventory-off-grid": lambda s, m: (
        _with_inventory(s, m, s["points"].assign(x=s["points"]["x"] + 1e6), "events_far.csv"),
        ["events_far.csv"],
    ),
    "label-one-class": lambda s, m: (
        _with_inventory(s, m, s["points"].assign(slide=1).drop(columns="event"), "events_one.csv", label="slide"),
        ["events_one.csv", "'slide'"],
    ),
    # too few samples for the folds
    "folds-more-than-samples": lambda s, m: (m(validation={"folds": 500, "repeats": 1}), ["validation.folds"]),
    "folds-more-than-rarer-class": lambda s, m: (
        m(validation={"folds": _rarer_class_count(s) + 1, "repeats": 1, "schemes": ["random"]}),
        ["validation.folds"],
    ),
    # configuration
    "unknown-key": lambda s, m: (m(validation={"foldz": 3}), ["study.yaml", "validation.foldz"]),
    "unknown-key-in-layer": lambda s, m: (
        m(layers=[{"name": "a", "path": str(s["a"]), "knd": "continuous"}]),
        ["study.yaml", "layers.0.knd"],
    ),
    "wrong-type": lambda s, m: (m(validation={"folds": "five"}), ["study.yaml", "validation.folds"]),
    "folds-below-two": lambda s, m: (m(validation={"folds": 1}), ["study.yaml", "validation.folds"]),
    # malformed YAML: file and line (the line where the parser notices)
    "yaml-bad-indentation": lambda s, m: (
        "name: bad\ngrid:\n  template: a.tif\nlayers:\n  - name: a\n    path: a.tif\n   kind: continuous\n",
        ["study.yaml:7:"],
    ),
    "yaml-unclosed-bracket": lambda s, m: (
        "name: bad\nvalidation: {folds: 3, repeats: 1\nmapping:\n  enabled: false\n",
        ["study.yaml:3:"],
    ),
    "yaml-tab": lambda s, m: ("name: bad\ngrid:\n\ttemplate: a.tif\n", ["study.yaml:3:"]),
    "yaml-not-a-mapping": lambda s, m: ("- just\n- a list\n", ["study.yaml"]),
}


def _build(case: str, synthetic: dict, make_study: Callable) -> tuple[Path, list[str]]:
    study, needles = CASES[case](synthetic, make_study)
    if study is None:
        return synthetic["dir"] / "nope_study.yaml", needles
    return write_study(synthetic["dir"] / "study.yaml", study), needles


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2_with_one_line_and_keeps_output(case, synthetic, make_study, runner):
    study_file, needles = _build(case, synthetic, make_study)
    out = existing_out(synthetic["dir"])
    result = invoke(runner, "run", study_file, "--out", out)
    assert_error(result.exit_code, result.stderr, needles, result.exception)
    assert PREFIX not in result.stdout
    assert_untouched(out)
    assert_one_line(result.stderr)


@pytest.mark.parametrize("case", ["missing-layer", "folds-more-than-rarer-class"])
def test_bad_input_does_not_create_a_new_output_folder(case, synthetic, make_study, runner):
    study_file, needles = _build(case, synthetic, make_study)
    out = synthetic["dir"] / "fresh_results"
    result = invoke(runner, "run", study_file, "--out", out)
    assert_error(result.exit_code, result.stderr, needles, result.exception)
    assert not out.exists(), f"{out} created by a failed run: {list(out.iterdir())}"
    assert_no_staging(out)


@pytest.mark.parametrize("via", ["--out", "outputs.directory"])
@pytest.mark.parametrize("blocked", ["parent-is-a-file", "out-is-a-file"])
def test_output_folder_not_writable(blocked, via, synthetic, make_study, runner):
    blocker = synthetic["dir"] / "blocker.txt"
    blocker.write_bytes(KEEP_BYTES)
    out = blocker / "results" if blocked == "parent-is-a-file" else blocker
    if via == "--out":
        study_file = write_study(synthetic["dir"] / "study.yaml", make_study())
        result = invoke(runner, "run", study_file, "--out", out)
    else:
        study_file = write_study(synthetic["dir"] / "study.yaml", make_study(outputs={"directory": str(out)}))
        result = invoke(runner, "run", study_file)
    assert_error(result.exit_code, result.stderr, [str(out)], result.exception)
    assert blocker.is_file() and blocker.read_bytes() == KEEP_BYTES
    assert not [p.name for p in synthetic["dir"].iterdir() if ".partial-" in p.name]
    assert_one_line(result.stderr)


def test_valid_run_adds_and_replaces_files_and_keeps_others(synthetic, make_study, runner):
    """Positive control: an earlier run's outputs are replaced; unrelated files stay."""
    study_file = write_study(synthetic["dir"] / "study.yaml", make_study())
    out = existing_out(synthetic["dir"])
    with OutputFolder(out) as earlier:  # a stale output of an earlier run (listed in its manifest)
        earlier.path("metrics.json").write_text("stale", encoding="utf-8")
        earlier.commit()
    result = invoke(runner, "run", study_file, "--out", out)
    assert result.exit_code == 0, result.output
    assert result.exception is None
    assert PREFIX not in result.stderr
    names = {p.name for p in out.iterdir()}
    assert {*OUTPUT_FILES, *MAP_FILES} | {"keep.txt"} <= names
    assert (out / "keep.txt").read_bytes() == KEEP_BYTES
    assert "scores" in json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert_no_staging(out)
    assert f"to {out}" in result.stdout


def test_debug_lets_the_exception_propagate(synthetic, make_study, runner):
    study_file, _ = _build("missing-layer", synthetic, make_study)
    out = existing_out(synthetic["dir"])
    result = invoke(runner, "--debug", "run", study_file, "--out", out)
    assert result.exit_code != 2
    assert isinstance(result.exception, InputFileError)
    assert "nope_b.tif" in str(result.exception)
    assert PREFIX not in result.stderr
    assert_untouched(out)


# --------------------------------------------------------------------------- real process


def _susmap_cmd() -> list[str]:
    script = Path(sys.executable).with_name("susmap")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "susmap.cli"]


def _run_process(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*_susmap_cmd(), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("case", ["crs-other-utm-zone", "yaml-bad-indentation"])
def test_real_process_stderr_is_one_line(case, synthetic, make_study):
    study_file, needles = _build(case, synthetic, make_study)
    out = existing_out(synthetic["dir"])
    proc = _run_process("run", study_file.name, "--out", out.name, cwd=synthetic["dir"])
    assert_error(proc.returncode, proc.stderr, needles)
    assert_untouched(out)
    assert_one_line(proc.stderr)


def test_real_process_debug_shows_traceback(synthetic, make_study):
    study_file, _ = _build("missing-layer", synthetic, make_study)
    out = existing_out(synthetic["dir"])
    proc = _run_process("--debug", "run", study_file, "--out", out, cwd=synthetic["dir"])
    assert proc.returncode not in (0, 2), proc.stderr
    assert "Traceback (most recent call last)" in proc.stderr
    assert "InputFileError" in proc.stderr and "nope_b.tif" in proc.stderr
    assert_untouched(out)
