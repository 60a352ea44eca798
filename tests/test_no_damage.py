"""Nothing damaged, ever: inputs never overwritten, outputs swapped in whole, one writer, clean stops.

The rules (see :mod:`susmap.outputs`):

* an output folder that is or contains an input of the study (study file,
  inventory, layers, ...) is refused before any data is read, because the
  whole folder is replaced;
* the output folder is replaced as a whole (the staged folder renamed into
  place); files susmap did not write are kept byte-identical, and a run that
  would replace one of them is refused;
* one run per output folder (a lock naming the pid); stale locks, staging and
  swapped-out folders of dead runs are cleaned up;
* SIGTERM / SIGINT stop the fold workers, remove the staging folder, release
  the lock and leave an earlier output folder byte-identical.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from typer.testing import CliRunner

from susmap.cli import app
from susmap.errors import OutputError
from susmap.outputs import MANIFEST_NAME, FolderLock, OutputFolder
from susmap.runners import run_study
from susmap.stages import input_files
from susmap.study import study_from_dict

PREFIX = "susmap: error:"


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _write_study(path: Path, study: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(study, sort_keys=False), encoding="utf-8")
    return path


def _snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``folder`` (hidden ones too)."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _leftovers(out: Path) -> list[str]:
    return sorted(
        p.name for p in out.parent.iterdir() if p.name.startswith((f".{out.name}.partial-", f".{out.name}.old-"))
    ) + ([out.name + ".lock"] if (out.parent / f".{out.name}.lock").exists() else [])


def _refused(result, *needles: str) -> str:
    assert result.exit_code == 2, f"exit {result.exit_code}: {result.output}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _previous_outputs(out: Path) -> dict[str, str]:
    """An output folder as an earlier run leaves it (with its manifest) plus a file of the user's."""
    with OutputFolder(out) as folder:
        folder.path("metrics.json").write_text('{"old": true}\n')
        folder.path("probability.tif").write_bytes(b"old map \x00\xff")
        folder.path("factors/slope.tif").write_bytes(b"old slope")
        folder.commit()
    (out / "notes.txt").write_bytes(b"the geologist's own notes\n")
    return _snapshot(out)


def test_folders_a_run_leaves_empty_do_not_reach_the_output(tmp_path):
    out = tmp_path / "out"
    (out / "mine" / "empty").mkdir(parents=True)  # the user's empty folders stay
    with OutputFolder(out) as folder:
        folder.path("metrics.json").write_text("{}\n")
        folder.path("histories/.keep").parent.mkdir(parents=True, exist_ok=True)  # a model without a history
        (folder.path("formulas/nested/.keep").parent).mkdir(parents=True, exist_ok=True)
        folder.commit()
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.name != ".susmap-manifest.json") == [
        "metrics.json",
        "mine",
        "mine/empty",
    ]


# --------------------------------------------------------------------------- inputs are never outputs


def test_out_at_the_inventory_folder_is_refused_and_the_inventory_kept(make_study, synthetic, tmp_path):
    inventory = synthetic["dir"] / "samples.csv"  # the name susmap gives its own sample table
    inventory.write_bytes(synthetic["inventory"].read_bytes())
    study = make_study()
    study["inventory"]["path"] = str(inventory)
    path = _write_study(tmp_path / "project" / "study.yaml", study)
    before = _snapshot(synthetic["dir"])
    line = _refused(_invoke("run", path, "--out", synthetic["dir"]), str(synthetic["dir"]), "samples.csv")
    assert "input" in line
    after = _snapshot(synthetic["dir"])
    assert after == before  # inventory and layers byte-identical, nothing added
    assert not _leftovers(synthetic["dir"])


@pytest.mark.parametrize(
    "command",
    [["compare"], ["factors"], ["sweep", "--model", "logistic_regression", "--vary", "C=[0.1, 1]"]],
    ids=["compare", "factors", "sweep"],
)
def test_every_command_refuses_an_output_folder_holding_an_input(make_study, synthetic, tmp_path, command):
    path = _write_study(tmp_path / "project" / "study.yaml", make_study())
    before = _snapshot(synthetic["dir"])
    _refused(_invoke(command[0], path, *command[1:], "--out", synthetic["dir"]), str(synthetic["dir"]), "input")
    assert _snapshot(synthetic["dir"]) == before


def test_out_above_an_input_folder_is_refused(make_study, synthetic, tmp_path):
    path = _write_study(tmp_path / "elsewhere" / "study.yaml", make_study())
    _refused(_invoke("run", path, "--out", synthetic["dir"].parent), "input")


def test_the_study_reads_are_its_inputs(make_study, synthetic, tmp_path):
    regions = tmp_path / "zones" / "regions.gpkg"
    regions.parent.mkdir()
    regions.write_bytes(b"not read here")
    scheme = {"name": "regions", "regions": str(regions), "region_field": "name"}
    study = study_from_dict(make_study(validation={"schemes": [scheme]}))
    found = {p.resolve() for p in input_files(study)}
    assert {synthetic["a"], synthetic["b"], synthetic["inventory"], regions} <= found
    study = study.model_copy(update={"outputs": study.outputs.model_copy(update={"directory": regions.parent})})
    with pytest.raises(OutputError, match=r"regions\.gpkg"):
        run_study(study)
    assert regions.read_bytes() == b"not read here"


def test_outputs_directory_dot_is_refused_and_the_study_file_kept(make_study, tmp_path):
    study = make_study(outputs={"directory": "."})
    path = _write_study(tmp_path / "project" / "study.yaml", study)
    before = path.read_bytes()
    _refused(_invoke("run", path), "study.yaml")
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["study.yaml"]


def test_out_at_the_current_folder_is_refused(make_study, tmp_path, monkeypatch):
    path = _write_study(tmp_path / "project" / "study.yaml", make_study())
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    _refused(_invoke("run", path, "--out", "."), "current folder")
    assert not list(work.iterdir())


def test_a_mount_point_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    out = tmp_path / "disk"
    out.mkdir()
    monkeypatch.setattr("os.path.ismount", lambda p: Path(p) == out)
    with pytest.raises(OutputError, match="mount point"), OutputFolder(out):
        pass
    assert not _leftovers(out) and not list(out.iterdir())


def test_a_users_file_of_an_output_name_is_refused_up_front(make_study, tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "samples.csv").write_bytes(b"my own table\n")
    path = _write_study(tmp_path / "study.yaml", make_study())
    _refused(_invoke("run", path, "--out", out), "samples.csv", "not written by susmap")
    assert _snapshot(out) == {"samples.csv": hashlib.sha256(b"my own table\n").hexdigest()}
    assert not _leftovers(out)


# --------------------------------------------------------------------------- the whole folder swapped


def test_rerun_replaces_the_outputs_as_a_whole_and_keeps_the_users_files(make_study, tmp_path):
    out = tmp_path / "results"
    before = _previous_outputs(out)
    inode = out.stat().st_ino
    notes = (out / "notes.txt").stat()
    path = _write_study(tmp_path / "study.yaml", make_study(mapping={"enabled": False}))
    result = _invoke("-q", "run", path, "--out", out)
    assert result.exit_code == 0, result.output
    after = _snapshot(out)
    assert out.stat().st_ino != inode  # a new folder, renamed into place
    assert after["notes.txt"] == before["notes.txt"]  # the user's file, untouched ...
    assert (out / "notes.txt").stat().st_ino == notes.st_ino  # ... the very same file
    # nothing of the earlier run stays beside the new one (no old map beside metrics of an unmapped run)
    assert "probability.tif" not in after and "factors/slope.tif" not in after
    assert after["metrics.json"] != before["metrics.json"]
    assert {"samples.csv", "cv_summary.csv", "provenance.json", MANIFEST_NAME} <= set(after)
    assert not _leftovers(out)


def test_commit_swaps_whole_folders_without_the_atomic_exchange(tmp_path, monkeypatch):
    monkeypatch.setattr("susmap.outputs._exchange", lambda a, b: False)
    out = tmp_path / "results"
    _previous_outputs(out)
    with OutputFolder(out) as folder:
        folder.path("metrics.json").write_text("new\n")
        written = folder.commit()
    assert written == [out / "metrics.json"]
    assert set(_snapshot(out)) == {"metrics.json", "notes.txt", MANIFEST_NAME}
    assert not _leftovers(out)


def test_an_edited_output_is_kept_and_never_replaced(tmp_path):
    out = tmp_path / "results"
    _previous_outputs(out)
    (out / "metrics.json").write_text('{"edited by hand": true}\n')
    edited = _snapshot(out)
    with OutputFolder(out) as folder, pytest.raises(OutputError, match=r"metrics\.json: not written by susmap"):
        folder.path("metrics.json").write_text("new\n")
        folder.commit()
    assert _snapshot(out) == edited
    assert not _leftovers(out)


def test_a_failed_run_leaves_the_folder_as_it_was(tmp_path):
    out = tmp_path / "results"
    before = _previous_outputs(out)
    with pytest.raises(RuntimeError), OutputFolder(out) as folder:
        folder.path("metrics.json").write_text("half\n")
        raise RuntimeError("model failed")
    assert _snapshot(out) == before
    assert not _leftovers(out)


# --------------------------------------------------------------------------- stale folders, locks


def test_stale_partial_and_old_folders_of_dead_runs_are_removed(tmp_path):
    out = tmp_path / "results"
    _previous_outputs(out)
    dead = _dead_pid()
    stale = [f".results.partial-{dead}-0a1b2c3d", f".results.old-{dead}-0a1b2c3d", ".results.partial-k2j4_x9q"]
    for name in stale:
        (tmp_path / name).mkdir()
        (tmp_path / name / "probability.tif").write_bytes(b"half a map")
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as live:
        try:
            (tmp_path / f".results.partial-{live.pid}-0a1b2c3d").mkdir()  # a live process's: left alone
            (tmp_path / ".other.partial-1-0a1b2c3d").mkdir()  # another output folder's: left alone
            (tmp_path / ".results.lock").write_text(f"{dead}\n")  # a stale lock: taken over
            with OutputFolder(out) as folder:
                folder.path("metrics.json").write_text("new\n")
                folder.commit()
        finally:
            live.kill()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [".other.partial-1-0a1b2c3d", f".results.partial-{live.pid}-0a1b2c3d", "results"]


def test_a_folder_lost_between_the_two_renames_is_restored(tmp_path):
    out = tmp_path / "results"
    before = _previous_outputs(out)
    dead = _dead_pid()
    out.rename(tmp_path / f".results.old-{dead}-0a1b2c3d")  # killed after the first rename of a commit
    (tmp_path / f".results.partial-{dead}-0a1b2c3d").mkdir()
    with OutputFolder(out):
        assert _snapshot(out) == before  # back in place before this run writes anything
    assert _snapshot(out) == before
    assert not _leftovers(out)


def test_a_second_run_on_a_locked_folder_is_refused_naming_the_pid(make_study, tmp_path):
    out = tmp_path / "results"
    before = _previous_outputs(out)
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from susmap.outputs import FolderLock; FolderLock({str(out)!r}).acquire(); "
         "print('held', flush=True); import time; time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        path = _write_study(tmp_path / "study.yaml", make_study())
        _refused(_invoke("run", path, "--out", out), str(out), f"pid {holder.pid}", "in use")
        assert _snapshot(out) == before
    finally:
        holder.kill()
        holder.wait()
    with FolderLock(out) as lock:  # the dead holder's lock is stale: taken over
        assert lock.held and (tmp_path / ".results.lock").read_text().strip() == str(os.getpid())
    assert not (tmp_path / ".results.lock").exists()


# --------------------------------------------------------------------------- real signals


def _susmap() -> list[str]:
    script = Path(sys.executable).with_name("susmap")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "susmap.cli"]


def _start_slow_run(make_study, tmp_path: Path, out: Path) -> tuple[subprocess.Popen, Path]:
    """``susmap run`` in a subprocess on a study whose cross-validation (2 worker processes) takes minutes."""
    study = make_study(
        models=[{"name": "random_forest", "params": {"n_estimators": 300}}],
        validation={"schemes": ["random"], "folds": 5, "repeats": 40, "n_jobs": 2},
    )
    path = _write_study(tmp_path / "study.yaml", study)
    log = tmp_path / "stderr.txt"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [*_susmap(), "-q", "run", str(path), "--out", str(out)], stdout=subprocess.DEVNULL, stderr=err
        )
    return proc, log


def _wait_for_workers(proc: subprocess.Popen, log: Path) -> list[psutil.Process]:
    """The child processes of ``proc`` once its fold workers are up (cross-validation runs)."""
    main = psutil.Process(proc.pid)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        if len(main.children(recursive=True)) >= 2:
            time.sleep(1.0)
            return main.children(recursive=True)
        time.sleep(0.1)
    raise AssertionError(f"no worker processes seen; exit {proc.poll()}: {log.read_text(errors='replace')[-2000:]}")


def _wait_gone(workers: list[psutil.Process], seconds: float) -> list[int]:
    """Pids of ``workers`` still alive after up to ``seconds``."""
    gone_by = time.monotonic() + seconds
    while time.monotonic() < gone_by and any(_alive(w) for w in workers):
        time.sleep(0.1)
    return [w.pid for w in workers if _alive(w)]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_cross_validation_stops_every_worker_and_damages_nothing(make_study, tmp_path, signum):
    out = tmp_path / "results"
    before = _previous_outputs(out)
    proc, log = _start_slow_run(make_study, tmp_path, out)
    try:
        workers = _wait_for_workers(proc, log)
        assert (tmp_path / ".results.lock").exists()
        assert any(p.name.startswith(".results.partial-") for p in tmp_path.iterdir())
        proc.send_signal(signum)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = log.read_text()
    assert proc.returncode == 128 + signum, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and signal.Signals(signum).name in lines[0], stderr
    assert not _wait_gone(workers, 5), "worker processes outlived the run"
    assert _snapshot(out) == before
    assert not _leftovers(out)


def test_workers_of_a_killed_run_end_and_its_leftovers_are_cleaned_by_the_next(make_study, tmp_path):
    """SIGKILL cannot be caught: the workers notice their orphaning within a second and end."""
    out = tmp_path / "results"
    before = _previous_outputs(out)
    proc, log = _start_slow_run(make_study, tmp_path, out)
    try:
        workers = _wait_for_workers(proc, log)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not _wait_gone(workers, 20), "worker processes outlived their killed run"
    assert _leftovers(out)  # a staging folder and the lock of the dead run ...
    with OutputFolder(out):
        pass
    assert not _leftovers(out)  # ... removed by the next run
    assert _snapshot(out) == before


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
