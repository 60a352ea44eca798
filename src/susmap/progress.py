"""Progress of long steps, reported by library code and shown (or not) by whoever runs it.

Library code opens a task and advances it; it never knows how progress is
shown::

    with progress.task("cross-validation (fold batches)", total=n) as bar:
        for batch in batches:
            ...
            bar.advance()

By default nothing is shown (a no-op). The command line installs a reporter
for a run (:func:`reporting`): rich progress bars on a terminal, nothing in
pipes or CI. :class:`DaskProgress` is a dask callback that reports the
finished tasks of every dask computation (block-wise prediction, writing).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Protocol

from dask.callbacks import Callback

__all__ = ["DaskProgress", "NullTask", "Reporter", "Task", "reporting", "task"]


class Task(Protocol):
    """One step with a known (or unknown) number of units."""

    def advance(self, n: int = 1) -> None: ...


class NullTask:
    """A task nobody watches."""

    def advance(self, n: int = 1) -> None:
        pass


#: ``reporter(description, total)`` is a context manager that yields a :class:`Task`.
Reporter = Callable[[str, "int | None"], contextlib.AbstractContextManager[Task]]


@contextlib.contextmanager
def _null_reporter(description: str, total: int | None) -> Iterator[Task]:
    yield NullTask()


_current: list[Reporter] = [_null_reporter]
_lock = threading.Lock()


@contextlib.contextmanager
def task(description: str, total: int | None = None) -> Iterator[Task]:
    """A task of ``total`` units (``None``: unknown), shown by the current reporter."""
    with _current[-1](description, total) as t:
        yield t


def active() -> bool:
    """Whether a reporter other than the default no-op is installed."""
    return _current[-1] is not _null_reporter


@contextlib.contextmanager
def reporting(reporter: Reporter) -> Iterator[None]:
    """Install ``reporter`` for the block: every :func:`task` opened inside goes to it."""
    with _lock:
        _current.append(reporter)
    try:
        yield
    finally:
        with _lock:
            _current.remove(reporter)


class DaskProgress(Callback):
    """A dask callback: each computation of at least ``min_tasks`` tasks is one task, advanced per finished task.

    Use as ``with DaskProgress("prediction and writing (dask tasks)"):`` or
    ``.register()`` it for a whole run. It only counts; results are unchanged.
    """

    def __init__(self, description: str = "computing blocks (dask tasks)", min_tasks: int = 16) -> None:
        super().__init__()
        self.description = description
        self.min_tasks = min_tasks
        self._open: list[tuple[contextlib.ExitStack, Task]] = []  # nested computations: innermost last

    def _start_state(self, dsk, state) -> None:
        total = len(state.get("ready", ())) + len(state.get("waiting", ()))
        stack = contextlib.ExitStack()
        shown = total >= self.min_tasks and active() and not self._open
        self._open.append((stack, stack.enter_context(task(self.description, total)) if shown else NullTask()))

    def _posttask(self, key, result, dsk, state, worker_id) -> None:
        if self._open:
            self._open[-1][1].advance()

    def _finish(self, dsk, state, errored) -> None:
        if self._open:
            self._open.pop()[0].close()
