"""Memory: a model that allocates 30 GiB fails that one evaluation as ``out_of_memory`` within seconds, under the
sandbox child's limit; the machine, the run and the next evaluation go on."""

from __future__ import annotations

import json
import time

import psutil

from mlipscope.cli import main
from mlipscope.store.duckdb_store import ResultsStore


def test_a_model_allocating_30_gib_is_out_of_memory_and_the_run_goes_on(injected, monkeypatch, capsys):
    monkeypatch.setenv("MLIPSCOPE_CHILD_MEMORY_BYTES", str(1 << 30))
    before = psutil.Process().memory_info().rss
    start = time.monotonic()
    args = ["benchmark", "--calculator", "injected:hog", "--db", "r.duckdb", "--json"]
    assert main([*args, "--properties", "vacancy_64", "eos"]) == 0
    assert time.monotonic() - start < 60
    rows = {r["property_label"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    failed = rows["vacancy_64"]
    assert failed["status"] == "failed", failed
    with ResultsStore("r.duckdb", read_only=True) as store:
        assert store.failures()["failure_kind"].tolist() == ["out_of_memory"]
    assert "MemoryError: Unable to allocate 30.0 GiB" in failed["reason"]
    assert rows["eos"]["status"] == "ok"  # evaluated after it, in the same sandbox child
    assert psutil.Process().memory_info().rss - before < 500 << 20  # the CLI process did not hold the 30 GiB
    # out of memory is deterministic: a rerun keeps it stored instead of allocating again
    assert main([*args, "--properties", "vacancy_64"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["created"] == failed["created"]


def test_allocation_failures_are_out_of_memory_whatever_raises_them():
    from mlipscope.failures import FailureKind, kind_of_exception

    class OutOfMemoryError(RuntimeError):  # torch.cuda's
        pass

    torch_cpu = RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 2147483648 bytes")
    for exc in (MemoryError(), torch_cpu, OutOfMemoryError("CUDA out of memory")):
        assert kind_of_exception(exc) is FailureKind.OUT_OF_MEMORY
        assert not kind_of_exception(exc).transient  # the same model needs the same memory on a rerun
    assert kind_of_exception(ValueError("out of memory")) is FailureKind.ERROR  # only allocators' errors count
