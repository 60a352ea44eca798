"""Where a run's dask graphs execute: local threads, synchronously, or on a dask.distributed cluster."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import dask

from susmap.errors import StudyConfigError
from susmap.study import Study

__all__ = ["dask_scheduler"]


@contextlib.contextmanager
def dask_scheduler(study: Study) -> Iterator[None]:
    """Run the block under the study's ``compute.scheduler``.

    ``threads`` (with ``compute.num_workers``) and ``synchronous`` set dask's
    local scheduler; any other value is the address of a dask.distributed
    scheduler (``tcp://host:8786``), connected for the block and closed after.

    Raises
    ------
    StudyConfigError
        dask.distributed is not installed, or the scheduler cannot be reached.
    """
    sched = study.compute.scheduler
    if sched in ("threads", "synchronous"):
        opts = {"scheduler": sched}
        if study.compute.num_workers and sched == "threads":
            opts["num_workers"] = study.compute.num_workers
        with dask.config.set(**opts):
            yield
        return
    try:
        from distributed import Client
    except ImportError:
        raise StudyConfigError(
            f"compute.scheduler: {sched!r} needs dask.distributed; install susmap[cluster]"
        ) from None
    try:
        client = Client(sched, timeout="10s", set_as_default=False)
    except OSError as err:
        raise StudyConfigError(f"compute.scheduler: cannot reach {sched!r} ({err})") from None
    with client, dask.config.set(scheduler=client.get):
        yield
