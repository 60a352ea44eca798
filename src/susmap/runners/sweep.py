"""``susmap sweep``: paper 001's framework-setting experiments on any study.

One model of the study is trained and tested on repeated stratified random
splits (70/30 by default) while one setting at a time takes a list of
values (hidden units, depth, learning rate, iterations ...); the outputs are
the long table (``sweep.csv``), one table per setting in the layout of paper
001 Table 4 (``sweep_<setting>.csv`` and ``.md``: scores in rows, values in
columns, "mean ± sd" in percent) and ``provenance.json``. The model is the
study's whole pipeline (scaling and encoding fitted on each training part),
so any registry model can be swept, not only the SAE.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from susmap.analysis.framework_sweep import framework_sweep, sweep_table
from susmap.errors import StudyConfigError
from susmap.models import make_estimator
from susmap.models.registry import check_neighbours
from susmap.outputs import OutputFolder
from susmap.report.tables import to_markdown
from susmap.runners import require_model_comparison
from susmap.stages import dask_scheduler, input_files, prepare_study_data, write_provenance
from susmap.study import SEED_MAX, Study
from susmap.timing import Timer

__all__ = ["SweepResult", "parse_vary", "run_sweep"]

log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    """What ``run_sweep`` produced: the long table and one paper-layout table per setting."""

    out_dir: Path
    files: list[Path]
    frame: pd.DataFrame
    tables: dict[str, pd.DataFrame]


def parse_vary(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["learning_rate=[0.001, 0.1]", ...]`` → ``{"learning_rate": [0.001, 0.1]}`` (values are YAML lists)."""
    import yaml

    vary: dict[str, list[Any]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise StudyConfigError(f"--vary {item!r}: write SETTING=[v1, v2, ...]")
        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise StudyConfigError(f"--vary {item!r}: the values are not a YAML list ({err})") from None
        if not isinstance(values, list) or not values:
            raise StudyConfigError(f"--vary {item!r}: give a non-empty YAML list of values, e.g. {name}=[1, 2]")
        if name in vary:
            raise StudyConfigError(f"--vary names {name!r} twice")
        vary[name] = values
    if not vary:
        raise StudyConfigError("give at least one --vary SETTING=[v1, v2, ...]")
    return vary


def run_sweep(
    study: Study,
    model: str,
    vary: Mapping[str, Sequence[Any]],
    *,
    repeats: int = 5,
    test_size: float = 0.3,
    out_dir: Path | None = None,
) -> SweepResult:
    """Sweep settings of the study model labelled ``model`` (paper 001 section 4.1); write tables."""
    require_model_comparison(study, "sweep")
    labels = [m.display_name for m in study.models]
    if model not in labels:
        raise StudyConfigError(f"sweep: the study has no model {model!r} (models: {', '.join(labels)})")
    index = labels.index(model)
    cfg = study.models[index]
    make_estimator(cfg.name, cfg.params, seed=study.seed, where=f"{study.source or 'study'}: models.{index}")
    for name, values in vary.items():  # every value must build before any data is read
        for value in values:
            make_estimator(
                cfg.name, {**cfg.params, name: value}, seed=study.seed, where=f"--vary {name}={value!r}: models.{index}"
            )
    if repeats < 1 or not 0.0 < test_size < 1.0:
        raise StudyConfigError(f"sweep: repeats must be >= 1 and test_size in (0, 1), got {repeats}, {test_size}")
    if study.seed + repeats - 1 > SEED_MAX:
        raise StudyConfigError(
            f"sweep: the {repeats} repeats use seeds {study.seed} to {study.seed + repeats - 1}, beyond {SEED_MAX} "
            "(2**32 - 1); give a smaller seed"
        )
    out_dir = Path(out_dir or study.outputs.directory)
    timer = Timer()
    t0 = time.perf_counter()
    with OutputFolder(out_dir, inputs=input_files(study)) as out, dask_scheduler(study):
        prep = prepare_study_data(study, out, timer)
        n_train = len(prep.y) - math.ceil(test_size * len(prep.y))  # framework_sweep's stratified split
        check_neighbours(  # k-NN with more neighbours than the training part: refused before any fit
            [
                (f"--vary {name}={value!r}: models.{index}", make_estimator(cfg.name, {**cfg.params, name: value}))
                for name, values in vary.items()
                for value in values
            ],
            [(f"sweep {1 - test_size:.0%}/{test_size:.0%}", [(range(n_train), ())])],
        )

        def build(seed: int, **params):
            return prep.make(cfg.model_copy(update={"params": {**cfg.params, **params}}), prep.names).set_params(
                **_seed_param(cfg.name, seed)
            )

        with timer.stage("sweep"):
            frame = framework_sweep(
                build, prep.design, prep.y, vary, repeats=repeats, test_size=test_size, seed=study.seed
            )
        frame.insert(0, "model", model)
        frame.to_csv(out.path("sweep.csv"), index=False)
        tables = {}
        for name in vary:
            table = sweep_table(frame[frame["parameter"] == name], name)
            tables[name] = table
            table.to_csv(out.path(f"sweep_{name}.csv"))
            out.path(f"sweep_{name}.md").write_text(to_markdown(table.reset_index()) + "\n", encoding="utf-8")
        timer.timings["total"] = round(time.perf_counter() - t0, 3)
        write_provenance(
            out.path("provenance.json"),
            study,
            timer.timings,
            sweep={"model": model, "vary": {k: list(v) for k, v in vary.items()}, "repeats": repeats},
        )
        files = out.commit()
    return SweepResult(out_dir=out.final, files=files, frame=frame, tables=tables)


def _seed_param(name: str, seed: int) -> dict[str, int]:
    """The pipeline parameter that seeds the model (``model__seed`` or ``model__random_state``)."""
    est = make_estimator(name, {}, seed=0)
    params = est.get_params(deep=False)
    key = "seed" if "seed" in params else "random_state" if "random_state" in params else None
    return {} if key is None else {f"model__{key}": seed}
