"""Executors behind one protocol: the same evaluations through the in-process and the sandboxed executor give the
same records (keys, statuses, failure kinds, values); in the sandbox a crashing model is a stored failure of kind
``crashed`` and the evaluations after it still run."""

from __future__ import annotations

import numpy as np
import pytest

from mlipscope.failures import FailureKind
from mlipscope.properties.suite import build_suite
from mlipscope.runner.engine import Engine
from mlipscope.runner.executors import Executor, InProcessExecutor, SandboxedExecutor
from mlipscope.runner.work import Evaluated, Evaluation
from mlipscope.store.memory import MemoryStore
from mlipscope.store.protocol import ModelRecord

MODELS = """
import ctypes
import numpy as np
from ase.calculators.calculator import Calculator, all_changes


class Nan(Calculator):
    implemented_properties = ["energy", "forces", "stress"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        n = len(self.atoms)
        self.results = {"energy": float("nan"), "forces": np.zeros((n, 3)), "stress": np.zeros(6)}


class Segfault(Nan):
    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        ctypes.string_at(0)  # a real SIGSEGV, as from a broken compiled potential


def nan():
    return Nan()


def segfault():
    return Segfault()
"""


@pytest.fixture
def models(tmp_path, monkeypatch):
    (tmp_path / "executor_models.py").write_text(MODELS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # the sandbox child imports it too


def _evaluations() -> list[Evaluation]:
    props = build_suite("si-default", ["errors_mlearn_test", "eos"], material="si")
    return [Evaluation.of(m, m, p, "material") for m in ("sw", "executor_models:nan") for p in props]


def _records(executor: Executor) -> dict:
    store = MemoryStore()
    for model in ("sw", "executor_models:nan"):
        store.put_model(ModelRecord(model, "external", {"calculator": model}))
    Engine(store, executor).run(_evaluations())
    records = store.records()
    return {
        (row.model_id, row.property_label, row.config_hash, row.name): (
            row.status,
            row.failure_kind if isinstance(row.failure_kind, str) else None,
            row.value,
        )
        for row in records.itertuples(index=False)
    }


@pytest.mark.slow
def test_in_process_and_sandboxed_executors_store_the_same_records(models):
    in_process = _records(InProcessExecutor(60.0))
    sandboxed = _records(SandboxedExecutor(60.0))
    assert in_process.keys() == sandboxed.keys()
    assert {k[:3] for k in in_process} == {tuple(e.key) for e in _evaluations()}  # every key, as planned
    for key, (status, kind, value) in in_process.items():
        other = sandboxed[key]
        assert (status, kind) == other[:2]
        assert np.isclose(value, other[2], rtol=1e-9, equal_nan=True)
    statuses = {(k[0], k[1]): v[:2] for k, v in in_process.items()}
    assert statuses[("sw", "eos")] == ("ok", None)
    assert statuses[("executor_models:nan", "eos")] == ("failed", "non_physical")


@pytest.mark.slow
def test_a_crash_in_the_sandbox_is_a_failed_record_and_the_run_goes_on(models):
    (prop,) = build_suite("si-default", ["eos"], material="si")
    crash = Evaluation.of("crash", "executor_models:segfault", prop, "none")
    after = Evaluation.of("sw", "sw", prop, "none")
    executor = SandboxedExecutor(60.0)
    results = list(executor.run([crash, after]))
    assert all(isinstance(r, Evaluated) for r in results) and [r.key for r in results] == [crash.key, after.key]
    crashed, ok = (r.record() for r in results)
    assert crashed.failure_kind is FailureKind.CRASHED and crashed.failure_kind.transient
    assert ok.failure_kind is None and ok.values
    assert executor.n_tasks == {"single": 2}


PRINTING = """
import os
from mlipscope.calculators import make_calculator

print("banner at import")


def loud():
    print("banner in the factory")
    return make_calculator("sw")


def louder():
    os.write(1, b"banner from C-level stdout")
    return loud()
"""


@pytest.mark.parametrize("executor, factory", [(InProcessExecutor, "loud"), (SandboxedExecutor, "louder")])
def test_progress_inside_a_property_and_nothing_printed_on_stdout(executor, factory, tmp_path, monkeypatch, capfd):
    """Each evaluation says it starts, then its frames done / total; what the model prints goes to stderr (the
    child's log in the sandbox, where C-level prints are redirected too), not to stdout, where ``--json`` goes."""
    (tmp_path / "loud_models.py").write_text(PRINTING)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    (prop,) = build_suite("si-quick", ["re_vacancy"], material="si")
    seen = []
    run = executor(60.0, on_progress=lambda *event: seen.append(event))
    (result,) = run.run([Evaluation.of("loud", f"loud_models:{factory}", prop, "none")])
    assert result.record().failure_kind is None
    assert seen[0] == ("re_vacancy", "", 0, 0) and seen[-1] == ("re_vacancy", "frames", 100, 100)
    assert "banner" not in capfd.readouterr().out
