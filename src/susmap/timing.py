"""Stage timing and progress: how long each step of a run took, logged as it goes."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

__all__ = ["Timer"]

log = logging.getLogger(__name__)


class Timer:
    """Wall-clock time of named stages [s], logged at INFO when a stage starts and ends.

    >>> timer = Timer()
    >>> with timer.stage("stack"):
    ...     pass
    >>> list(timer.timings)
    ['stack']
    """

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as stage ``name`` (a repeated name keeps the last time)."""
        t0 = time.perf_counter()
        log.info("%s ...", name)
        yield
        self.timings[name] = round(time.perf_counter() - t0, 3)
        log.info("%s done in %.1f s", name, self.timings[name])
