"""The run's Dask client: of a given scheduler, or of a LocalCluster started for the run."""

from __future__ import annotations

import logging

from rich.console import Console

log = logging.getLogger(__name__)

#: Dask's setting of the environment a nanny gives its worker process before starting it (before numpy loads)
PRE_SPAWN_ENVIRON = "distributed.nanny.pre-spawn-environ"


def worker_thread_environ() -> dict:
    """Dask's pre-spawn environment of worker processes with one BLAS / OpenMP thread for each pool variable the
    configuration does not name (Dask's default names three of them, as 1). The nanny keeps a variable already set in
    this process's environment: a user's ``OMP_NUM_THREADS=4`` reaches the workers, and their sandbox children."""
    import dask

    from mlipscope.runner.threads import THREAD_ENV

    return {**THREAD_ENV, **(dask.config.get(PRE_SPAWN_ENVIRON, default=None) or {})}


def make_client(
    scheduler: str | None,
    n_workers: int,
    *,
    memory_limit: str | None = None,
    dashboard: int | None = None,
    console: Console | None = None,
):
    """A client of ``scheduler``, or of a new LocalCluster of ``n_workers`` single-threaded worker processes with
    ``memory_limit`` each (Dask pauses a worker at 80 % of it and restarts one at 95 %: its tasks then run again
    elsewhere) and, with ``dashboard`` (a port; 0 for any free one), the Dask dashboard, whose address is printed.
    ``memory_limit`` also binds the sandbox child that runs the model in each worker (its own process, which Dask's
    limit never counted: :func:`mlipscope.runner.child_memory.set_child_memory_limit`, inherited by the workers).
    The workers' BLAS / OpenMP pools have one thread (:func:`worker_thread_environ`)."""
    import warnings

    import dask
    from dask.distributed import Client, LocalCluster

    from mlipscope.errors import InputError
    from mlipscope.runner.child_memory import set_child_memory_limit
    from mlipscope.runner.scheduler_address import check_scheduler_address

    if scheduler:
        check_scheduler_address(scheduler)  # a non-Dask service or a bad address: one error within seconds
        try:
            client = Client(scheduler, timeout="15s")
        except (OSError, TimeoutError) as exc:
            raise InputError(None, "--scheduler", f"a Dask scheduler that answers ({exc})", got=scheduler) from None
        if console is not None and client.dashboard_link:
            console.print(f"Dask dashboard: {client.dashboard_link}")
        return client, None
    if dashboard is not None:
        try:
            import bokeh  # noqa: F401 - the dashboard needs it; say so before the cluster starts without one
        except ImportError:
            raise InputError(None, "--dashboard", "bokeh installed (pip install 'mlipscope[dashboard]')") from None
    if memory_limit is not None:
        set_child_memory_limit(memory_limit)  # before the workers start: they inherit it
    with warnings.catch_warnings(), dask.config.set({PRE_SPAWN_ENVIRON: worker_thread_environ()}):
        # the scheduler's HTTP server (on 127.0.0.1) warns when another process holds port 8787: not ours to fix
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None if dashboard is None else f"127.0.0.1:{dashboard}",
            memory_limit=memory_limit if memory_limit is not None else "auto",
            silence_logs=logging.ERROR,
        )
    client = Client(cluster)
    if dashboard is not None and console is not None:
        console.print(f"Dask dashboard: {client.dashboard_link}")
    log.info("LocalCluster: %d workers, memory limit %s, dashboard %s", n_workers, memory_limit or "auto",
             client.dashboard_link if dashboard is not None else "off")  # fmt: skip
    return client, cluster
