"""The LocalCluster of a run: its worker processes and their sandbox children run BLAS / OpenMP on one thread,
unless the user set a thread count."""

from __future__ import annotations

import os

import dask
import distributed  # noqa: F401 - its configuration defaults, before the tests change them
import pytest

from mlipscope.runner.dask_client import PRE_SPAWN_ENVIRON, make_client, worker_thread_environ
from mlipscope.runner.sandbox import run_isolated
from mlipscope.runner.threads import THREAD_ENV


def in_worker_and_child() -> tuple:
    """(variables, pools) in this worker process and in its sandbox child (``test_sandbox:blas_threads``)."""
    from test_sandbox import blas_threads

    child = run_isolated("test_sandbox:blas_threads", (), 60.0, lambda kind, reason, elapsed_s: reason)
    return blas_threads(), child


def test_the_configuration_gains_every_thread_variable_and_keeps_what_it_names():
    with dask.config.set({PRE_SPAWN_ENVIRON: {"OMP_NUM_THREADS": 4, "MALLOC_TRIM_THRESHOLD_": 65536}}):
        environ = worker_thread_environ()
    assert environ == {**THREAD_ENV, "OMP_NUM_THREADS": 4, "MALLOC_TRIM_THRESHOLD_": 65536}


@pytest.mark.parametrize("user_openblas", [None, "2"])
def test_workers_and_their_sandbox_children_run_on_one_thread(tmp_path, monkeypatch, user_openblas):
    monkeypatch.setenv("MLIPSCOPE_SANDBOX_LOG_DIR", str(tmp_path))
    for name in THREAD_ENV:
        monkeypatch.delenv(name, raising=False)
    if user_openblas:
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", user_openblas)
    # a configuration without Dask's own defaults: the variables come from mlipscope
    with dask.config.set({PRE_SPAWN_ENVIRON: {}}):
        client, cluster = make_client(None, 1)
    try:
        (worker_env, worker_pools), (child_env, child_pools) = client.submit(in_worker_and_child, pure=False).result()
    finally:
        client.close()
        cluster.close()
    expected_env = {**THREAD_ENV, **({"OPENBLAS_NUM_THREADS": user_openblas} if user_openblas else {})}
    assert worker_env == expected_env and child_env == expected_env
    for pools in (worker_pools, child_pools):
        assert "openblas" in {api for api, _ in pools}
        for api, threads in pools:
            assert threads == (min(2, os.cpu_count()) if user_openblas and api == "openblas" else 1), pools
