"""Where a run's dask graphs and joblib jobs execute: local threads, synchronously, or on a dask.distributed cluster.

Under :func:`dask_scheduler` with a cluster address, every dask graph of the
run (factor derivation and writing, reading the factor values at the sample
cells, the map's prediction) is computed on the cluster (``dask.config``
``scheduler`` is the client's ``get``), and the joblib jobs of a stage
(the cross-validation folds, the meta experiment's repeats and protocols)
run on joblib's ``dask`` backend, on the cluster's workers:
:func:`parallel_jobs` is where a stage's ``n_jobs`` gives way to the cluster.
The results are those of the threaded run, bit for bit: each fold or block
is computed from its own inputs and seeds wherever it runs.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from typing import Any

import dask
import joblib
from pydantic import ValidationError

from susmap.errors import StudyConfigError
from susmap.study import ComputeConfig, Study

__all__ = ["cluster_threads", "dask_scheduler", "open_worker_clients", "parallel_jobs", "with_scheduler"]

log = logging.getLogger(__name__)

#: Seconds a run tries to connect to the scheduler before it stops.
CONNECT_TIMEOUT_S = 10.0
#: Seconds a run waits for the cluster's first worker before it stops.
WORKER_WAIT_S = 60.0
#: Worker threads of the cluster the current :func:`dask_scheduler` block runs on (None: local scheduler).
_CLUSTER_THREADS: contextvars.ContextVar[int | None] = contextvars.ContextVar("susmap_cluster_threads", default=None)


@contextlib.contextmanager
def dask_scheduler(study: Study) -> Iterator[None]:
    """Run the block under the study's ``compute.scheduler``.

    ``threads`` (with ``compute.num_workers``) and ``synchronous`` set dask's
    local scheduler; any other value is the address of a dask.distributed
    scheduler (``tcp://host:8786``), connected for the block and closed after:
    dask graphs are computed on it, and the joblib jobs of :func:`parallel_jobs`
    blocks (the folds) run on its workers.

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
        client = Client(sched, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False)
    except OSError as err:
        raise StudyConfigError(f"compute.scheduler: cannot reach {sched!r} ({err})") from None
    with client:
        try:  # a cluster being scaled up (dask-jobqueue) may have no worker yet
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except TimeoutError:
            raise StudyConfigError(
                f"compute.scheduler: {sched!r} has had no worker for {WORKER_WAIT_S:g} s; start workers for it"
            ) from None
        open_worker_clients(client)
        threads = sum(client.nthreads().values())
        log.info("dask cluster %s: %d workers, %d threads", sched, len(client.nthreads()), threads)
        token = _CLUSTER_THREADS.set(threads)
        try:
            # as_current: joblib's dask backend (parallel_jobs) finds the client with distributed.get_client()
            with client.as_current(), dask.config.set(scheduler=client.get):
                yield
        finally:
            _CLUSTER_THREADS.reset(token)


def _open_worker_client() -> None:
    """On a worker: open its client (what joblib's dask backend does in every job)."""
    from distributed import get_client

    get_client()


def open_worker_clients(client: Any) -> None:
    """Open the client of every worker of ``client``'s cluster now (a task on each).

    A worker opens its own client the first time a task asks for one
    (joblib's dask backend does in every job), and that client sets dask's
    ``scheduler`` until it closes; the workers of an in-process cluster
    (``LocalCluster(processes=False)``) share the caller's dask config, so a
    worker client opened during a run would hand the run's setting (a client
    closed by then) back to the caller when the cluster closes. Opened before
    the run's settings, they hand back the caller's own.
    """
    client.gather([client.submit(_open_worker_client, workers=[w], pure=False) for w in client.nthreads()])


def cluster_threads() -> int | None:
    """Worker threads of the cluster the run is on (inside :func:`dask_scheduler`), or None with a local scheduler."""
    return _CLUSTER_THREADS.get()


@contextlib.contextmanager
def parallel_jobs(n_jobs: int, setting: str) -> Iterator[int]:
    """The ``n_jobs`` a stage gives joblib for its block: ``n_jobs`` locally, -1 (every worker thread) on a cluster.

    On a cluster (inside :func:`dask_scheduler` with an address) joblib's
    default backend is its ``dask`` backend for the block, which spreads the
    jobs (folds, repeats) over all the cluster's worker threads; ``setting``
    (``validation.n_jobs``), which counts local processes, is then logged as
    not applying. Only the block's joblib calls go to the cluster: a model
    fitted in this process keeps its own (local) parallelism. Each job has
    its own clone and seed, so the results do not depend on where or how
    many at once they run.
    """
    threads = cluster_threads()
    if threads is None:
        yield n_jobs
        return
    if n_jobs != -1:
        log.info("%s: %d ignored on the cluster: the jobs run on all its %d worker threads", setting, n_jobs, threads)
    with joblib.parallel_config(backend="dask"):
        yield -1


def with_scheduler(study: Study, scheduler: str) -> Study:
    """``study`` with ``compute.scheduler`` set to ``scheduler`` (the ``--scheduler`` option).

    ``compute.num_workers`` (threads of the local scheduler) is kept for
    ``threads`` and dropped otherwise.

    Raises
    ------
    StudyConfigError
        ``scheduler`` is neither ``threads``, ``synchronous`` nor an address.
    """
    workers = study.compute.num_workers if scheduler == "threads" else None
    try:
        compute = ComputeConfig.model_validate({"scheduler": scheduler, "num_workers": workers})
    except ValidationError as err:
        message = err.errors()[0]["msg"].removeprefix("Value error, ")
        raise StudyConfigError(f"--scheduler: {message}") from None
    return study.model_copy(update={"compute": compute})
