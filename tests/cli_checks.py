"""Shared checks of the bad-input tests: run the CLI, assert exit 2 with one error line, outputs untouched.

Every bad input must give exit status 2, no traceback, exactly one stderr line
``susmap: error: ...`` naming the offending file or key, and must leave an
existing output folder (``keep.txt``) byte-identical with no staging folder
beside it.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from susmap.cli import app

KEEP_BYTES = b"results of an earlier run \x00\xff\n"
PREFIX = "susmap: error:"


def invoke(runner: CliRunner, *args: str | Path):
    """Run the CLI in-process with ``args``."""
    return runner.invoke(app, [str(a) for a in args])


def write_study(path: Path, study: dict | str) -> Path:
    """Write a study dict (as YAML) or raw YAML text to ``path``."""
    text = study if isinstance(study, str) else yaml.safe_dump(study, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def existing_out(parent: Path, name: str = "results") -> Path:
    """An output folder of an earlier run: ``keep.txt`` with known bytes."""
    out = parent / name
    out.mkdir()
    (out / "keep.txt").write_bytes(KEEP_BYTES)
    return out


def assert_no_staging(out: Path) -> None:
    """No hidden staging folder of ``out`` is left beside it."""
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    assert leftovers == [], f"staging folder left behind: {leftovers}"


def assert_untouched(out: Path) -> None:
    """``out`` holds exactly ``keep.txt`` with its bytes; no staging folder beside it."""
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert (out / "keep.txt").read_bytes() == KEEP_BYTES
    assert_no_staging(out)


def assert_error(code: int, stderr: str, needles: list[str], exception: BaseException | None = None) -> str:
    """Exit 2, no traceback, one ``susmap: error:`` line naming every needle; returns that line."""
    assert code == 2, f"exit status {code}, expected 2; stderr:\n{stderr}"
    assert exception is None or isinstance(exception, SystemExit), f"exception escaped: {exception!r}"
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith(PREFIX)]
    assert len(errors) == 1, f"expected one {PREFIX!r} line; stderr:\n{stderr}"
    for needle in needles:
        assert needle in errors[0], f"{needle!r} not named in: {errors[0]}"
    return errors[0]


def assert_one_line(stderr: str) -> None:
    """stderr is the error line and nothing else."""
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX), (
        f"stderr should be one line starting with {PREFIX!r}, got {len(lines)}:\n{stderr}"
    )
