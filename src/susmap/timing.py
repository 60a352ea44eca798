"""Stage timing and progress: how long each step of a run took, logged as it goes."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

__all__ = ["Timer"]

log = logging.getLogger(__name__)


class Timer:
    """Wall-clock time of named stages [s, rounded to 1 ms], logged at INFO when a stage starts and ends.

    >>> timer = Timer()
    >>> with timer.stage("stack"):
    ...     pass
    >>> list(timer.timings)
    ['stack']
    """

    def __init__(self, *, progress: bool = True) -> None:
        self.timings: dict[str, float] = {}
        self.progress = progress

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as stage ``name``; a repeated stage adds up. Logged when ``progress`` is on."""
        t0 = time.perf_counter()
        if self.progress:
            log.info("%s ...", name)
        yield
        elapsed = time.perf_counter() - t0
        self.timings[name] = round(self.timings.get(name, 0.0) + elapsed, 3)
        if self.progress:
            log.info("%s done in %.1f s", name, elapsed)
