"""Progress reporting: a no-op by default, rich bars on a terminal (CV fold batches, dask blocks)."""

from __future__ import annotations

import contextlib
import io

import dask.array as da
import numpy as np
from rich.console import Console
from sklearn.linear_model import LogisticRegression

from susmap import progress
from susmap.cli import progress_bars
from susmap.validation.runs import cross_validate_models


def _data(n: int = 120, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))  # noqa: N806
    y = (X[:, 0] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    coords = rng.uniform(0, 1000, size=(n, 2))
    return X, y, coords


def _cv(n_jobs: int = 1, backend: str | None = None):
    X, y, coords = _data()  # noqa: N806
    return cross_validate_models(
        X,
        y,
        coords,
        {"lr": LogisticRegression()},
        schemes=("random",),
        n_splits=3,
        seed=1,
        n_jobs=n_jobs,
        backend=backend,
    )


def test_default_reporter_is_a_no_op():
    assert not progress.active()
    with progress.task("anything", total=3) as bar:
        bar.advance()
        bar.advance(2)


def test_reporting_receives_every_task_and_is_removed_after():
    seen: list[tuple[str, int | None, int]] = []

    class Counter:
        def __init__(self, description, total):
            self.entry = [description, total, 0]

        def advance(self, n: int = 1) -> None:
            self.entry[2] += n

    @contextlib.contextmanager
    def reporter(description, total):
        counter = Counter(description, total)
        yield counter
        seen.append(tuple(counter.entry))

    with progress.reporting(reporter):
        assert progress.active()
        result = _cv()
    assert not progress.active()
    assert len(seen) == 1
    description, total, done = seen[0]
    assert "cross-validation" in description and total == done and total >= 1
    assert result.scores.equals(_cv().scores)  # reporting never changes a result


def test_cv_and_dask_blocks_show_bars_on_a_terminal():
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    with progress_bars(console):
        with_bars = _cv()
        total = da.ones((64, 64), chunks=8).sum().compute()
    text = buffer.getvalue()
    assert "cross-validation: 3 fits in fold batches" in text
    assert "3/3" in text and "ETA" in text  # fold batches done / total and the time left
    assert "computing blocks (dask tasks)" in text
    assert total == 64 * 64
    assert with_bars.scores.equals(_cv().scores)


def test_no_bars_when_the_console_is_not_a_terminal():
    buffer = io.StringIO()
    with progress_bars(Console(file=buffer, force_terminal=False)):
        _cv()
    assert "cross-validation" not in buffer.getvalue()


def test_parallel_folds_report_each_batch_with_the_same_result():
    """Parallel batches (threads here: the same generator path as processes, without their start-up)."""
    seen = []

    class Bar:
        def advance(self, n: int = 1) -> None:
            seen.append(n)

    @contextlib.contextmanager
    def reporter(description, total):
        yield Bar()
        seen.append(("total", total))

    with progress.reporting(reporter):
        parallel = _cv(n_jobs=2, backend="threading")
    assert seen[-1] == ("total", len(seen) - 1)
    assert parallel.scores.equals(_cv().scores)
