"""Study runners: one per study ``method``, chosen from a registry.

A runner takes a validated :class:`~susmap.study.Study` and an output folder
and runs the whole study (``models``: cross-validated models and a map;
``meta-blockwise``: paper 004's block-wise meta-learning). New methods (for
example mapping units) register a :class:`Runner` the same way and reuse the
shared steps of :mod:`susmap.stages`.

=========================  ======================================================
module                     job
=========================  ======================================================
:mod:`.models`             ``method: models``: CV of every model, map of one
:mod:`.meta_blockwise`     ``method: meta-blockwise`` (paper 004)
:mod:`.factors`            ``susmap factors``: derive and summarise factors
:mod:`.compare`            ``susmap compare``: all models on the same folds
:mod:`.units`              ``method: models`` on mapping units (``run``)
:mod:`.units_compare`      ``susmap compare`` on mapping units
:mod:`.sweep`              ``susmap sweep``: a grid of settings
=========================  ======================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from susmap.errors import StudyConfigError
from susmap.registry import Registry
from susmap.study import Study

__all__ = ["Runner", "available_runners", "get_runner", "register_runner", "require_model_comparison", "run_study"]


@dataclass(frozen=True)
class Runner:
    """A study method and the function that runs it.

    Attributes
    ----------
    name : str
        The study's ``method`` value.
    run : callable
        ``run(study, out_dir) -> result``; writes the outputs, all or nothing.
    description : str
        One line for help texts.
    compares_models : bool
        Whether ``susmap compare`` and ``susmap sweep`` apply (the method
        cross-validates registry models on one sample table).
    """

    name: str
    run: Callable[[Study, Path | None], Any]
    description: str
    compares_models: bool = False


_REGISTRY: Registry[Runner] = Registry(
    "study method", "method", ["susmap.runners.models", "susmap.runners.meta_blockwise"]
)


def register_runner(runner: Runner) -> Runner:
    """Add a study method (a name may be registered once)."""
    return _REGISTRY.register(runner)


def available_runners() -> dict[str, Runner]:
    """All study methods, by name."""
    return _REGISTRY.available()


def get_runner(method: str) -> Runner:
    """The runner of a study method; unknown methods list the known ones."""
    return _REGISTRY.get(method)


def require_model_comparison(study: Study, command: str) -> None:
    """Refuse ``command`` (``compare``, ``sweep``) for a study whose method does not compare registry models.

    ``compare`` runs on mapping units too (:mod:`.units_compare`); ``sweep`` on grid cells only.

    Raises
    ------
    StudyConfigError
        The study's method does not compare registry models (e.g. ``meta-blockwise``).
    """
    if study.mapping_unit.kind != "cells" and command != "compare":
        raise StudyConfigError(
            f"{study.source or 'study'}: mapping_unit.kind {study.mapping_unit.kind!r}: 'susmap {command}' runs on "
            "grid cells only; 'susmap compare' cross-validates every model of the study on the same unit folds"
        )
    if not get_runner(study.method).compares_models:
        raise StudyConfigError(
            f"{study.source or 'study'}: method {study.method!r}: 'susmap {command}' cross-validates the "
            "study's registry models; run this study with 'susmap run' (its few-shot comparison is "
            "meta_blockwise.experiment)"
        )


def run_study(study: Study, out_dir: Path | None = None) -> Any:
    """Run ``study`` end to end with the runner of its ``method``; outputs go to ``out_dir`` (default: the study's).

    ``method: models`` returns a :class:`~susmap.runners.models.StudyResult` (on mapping units,
    ``mapping_unit.kind`` other than cells: a :class:`~susmap.runners.units.UnitsResult`),
    ``method: meta-blockwise`` a :class:`~susmap.runners.meta_blockwise.MetaStudyResult`.

    Raises
    ------
    SusmapError
        Any bad input; nothing is written to ``out_dir`` then.
    """
    if study.method == "models" and study.mapping_unit.kind != "cells":  # polygons, slope units, a table
        from susmap.runners.units import run_units_study

        return run_units_study(study, out_dir)
    return get_runner(study.method).run(study, out_dir)
