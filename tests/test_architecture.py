"""The package's shape: no private names imported across modules; one runner per study method.

The layering itself (cli → runners → stages → domain → core, no cycles) is
checked by ``lint-imports`` (contracts in ``pyproject.toml``), run by ``make test``.
"""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(p for d in ("src", "tests", "benchmarks") for p in (ROOT / d).rglob("*.py"))


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT / "src") if path.is_relative_to(ROOT / "src") else path.relative_to(ROOT)
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(path: Path, here: str | None = None) -> list[str]:
    """``from susmap.x import _name`` (or of a private module) in ``path`` where ``susmap.x`` is another module.

    ``here`` is the module ``path`` holds (default: from its place in the repository).
    """
    here = here or _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative import: resolve against this package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            if not module.startswith("susmap"):
                continue
            names = [a.name for a in node.names]
            if module == here:
                continue
            if any(_private(p) for p in module.split(".")) or any(_private(n) for n in names):
                found.append(f"{here}:{node.lineno}: from {module} import {', '.join(names)}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("susmap") and any(_private(p) for p in alias.name.split(".")):
                    found.append(f"{here}:{node.lineno}: import {alias.name}")
    return found


def test_no_module_imports_a_private_name_of_another():
    found = [line for path in SOURCES for line in private_imports(path)]
    assert not found, "private names imported across modules:\n" + "\n".join(found)


def test_the_private_import_check_finds_one(tmp_path):
    bad = tmp_path / "probe.py"
    bad.write_text(
        "from susmap.stages.data import _hidden\nfrom susmap.stages import StudyData\nfrom . import _kernels\n",
        encoding="utf-8",
    )
    assert private_imports(bad, "susmap.runners.probe") == [
        "susmap.runners.probe:1: from susmap.stages.data import _hidden",
        "susmap.runners.probe:3: from susmap.runners import _kernels",
    ]


def test_every_study_method_has_a_runner():
    from susmap.runners import available_runners, get_runner
    from susmap.study import Study

    methods = typing.get_args(Study.model_fields["method"].annotation)
    assert set(methods) == set(available_runners())
    assert get_runner("models").compares_models
    assert not get_runner("meta-blockwise").compares_models


def test_unknown_method_names_the_known_ones():
    from susmap.errors import StudyConfigError
    from susmap.runners import get_runner

    with pytest.raises(
        StudyConfigError, match=r"method: unknown study method 'slope-units'; known: meta-blockwise, models"
    ):
        get_runner("slope-units")
