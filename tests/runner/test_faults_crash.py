"""A model that crashes its process or hangs inside one calculator call never stops a run: the evaluation is stored
as failed with reason ``crashed (signal N)`` or ``timeout``, every other result is complete, a restart skips it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlipscope.cli import main
from mlipscope.runner.config import load_config
from mlipscope.runner.main_job import MainJob
from mlipscope.store.duckdb_store import ResultsStore

MISBEHAVING = '''
import ctypes, os, time
from ase.calculators.calculator import Calculator, all_changes
from mlipscope.calculators import make_calculator


class _Misbehaving(Calculator):
    """Stillinger-Weber, except on cells of more than 20 atoms, where it does what ``mode`` says."""

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self, mode):
        super().__init__()
        self.mode, self.sw = mode, make_calculator("sw")

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if len(self.atoms) > 20:
            if self.mode == "segfault":
                ctypes.string_at(0)  # a real SIGSEGV, as from a broken compiled potential
            elif self.mode == "abort":
                os.abort()
            else:
                time.sleep(3600)  # hangs inside one call: no check between calls can stop it
        atoms = self.atoms.copy()
        atoms.calc = self.sw
        self.results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(),
                        "stress": atoms.get_stress()}


def segfault():
    return _Misbehaving("segfault")


def aborts():
    return _Misbehaving("abort")


def hangs():
    return _Misbehaving("hang")
'''


@pytest.fixture
def misbehaving(tmp_path, monkeypatch):
    (tmp_path / "misbehaving.py").write_text(MISBEHAVING)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # Dask workers and sandbox children import it too
    return tmp_path


def _rows(db: Path) -> dict[str, tuple[str, str]]:
    with ResultsStore(db, read_only=True) as store:
        ev = store.evaluations().drop_duplicates(["model_id", "property_label"])
        names = store.models().set_index("model_id")["training_set_name"]
    return {f"{names[r.model_id]}/{r.property_label}": (r.status, r.reason or "") for r in ev.itertuples()}


@pytest.mark.parametrize(("factory", "signal_number"), [("segfault", 11), ("aborts", 6)])
def test_benchmark_records_a_crash_and_goes_on(misbehaving, tmp_path, capsys, factory, signal_number):
    db = tmp_path / "r.duckdb"
    args = ["benchmark", "--calculator", f"misbehaving:{factory}", "--db", str(db), "--json"]
    assert main([*args, "--properties", "eos", "vacancy_64", "elastic_perfect"]) == 0
    rows = {r["property_label"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert rows["vacancy_64"]["status"] == "failed"
    assert rows["vacancy_64"]["reason"].startswith(f"crashed (signal {signal_number})")
    # before and after the crash (a fresh child) the small-cell properties are complete
    assert rows["eos"]["status"] == "ok" and rows["elastic_perfect"]["status"] == "failed"  # 64-atom cell too
    # a crash is transient: the next run tries once more (max_attempts 2), the one after skips it
    plain = [a for a in args if a != "--json"] + ["--properties", "vacancy_64"]
    assert main(plain) == 0 and "1 evaluated, 0 already stored, 1 failed" in capsys.readouterr().err
    assert main(plain) == 0 and "0 evaluated, 1 already stored" in capsys.readouterr().err
    assert main([*plain, "--retry-failed"]) == 0 and "1 evaluated" in capsys.readouterr().err


def test_benchmark_time_limit_holds_inside_a_hanging_call(misbehaving, tmp_path, capsys):
    db = tmp_path / "r.duckdb"
    args = ["benchmark", "--calculator", "misbehaving:hangs", "--db", str(db), "--json", "--time-limit", "3"]
    assert main([*args, "--properties", "vacancy_64", "eos"]) == 0
    rows = {r["property_label"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert rows["vacancy_64"]["status"] == "failed" and rows["vacancy_64"]["reason"].startswith("timeout")
    assert rows["eos"]["status"] == "ok", rows["eos"]["reason"]


CONFIG = """
[run]
db = "run.duckdb"
out = "report"
workers = 2
task_timeout_s = 3
[[potentials]]
name = "crashes"
calculator = "misbehaving:segfault"
[[potentials]]
name = "hangs"
calculator = "misbehaving:hangs"
[[potentials]]
name = "SW"
calculator = "sw"
[suite]
name = "si-quick"
properties = ["eos", "vacancy_64", "surface_100"]
"""


@pytest.mark.slow
def test_main_job_survives_crashing_and_hanging_models(misbehaving, tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(CONFIG)
    summary = MainJob(load_config(path), show_progress=False).run()
    rows = _rows(tmp_path / "run.duckdb")
    assert len(rows) == 9 and summary.n_evaluations == 9
    assert rows["crashes/vacancy_64"][0] == "failed" and rows["crashes/vacancy_64"][1].startswith("crashed (signal 11)")
    assert rows["hangs/vacancy_64"][0] == "failed" and rows["hangs/vacancy_64"][1].startswith("timeout")
    for label in ("eos", "vacancy_64", "surface_100"):
        assert rows[f"SW/{label}"][0] == "ok"  # every other model's results are complete
    for name in ("crashes", "hangs"):
        assert rows[f"{name}/eos"][0] == "ok"
    with ResultsStore(tmp_path / "run.duckdb", read_only=True) as store:  # the kinds, decided where they happened
        failures = store.failures()
        names = store.models().set_index("model_id")["training_set_name"]
    kinds = {f"{names[m]}/{p}": k for m, p, k in failures[["model_id", "property_label", "failure_kind"]].values}
    assert kinds == {"crashes/vacancy_64": "crashed", "hangs/vacancy_64": "timeout"}
    assert (tmp_path / "report" / "index.html").is_file()
    # crashes and timeouts are transient: tried once more on the next run, then skipped
    again = MainJob(load_config(path), show_progress=False).run()
    assert again.n_evaluations == 2 and again.n_skipped_stored == 7
    third = MainJob(load_config(path), show_progress=False).run()
    assert third.n_evaluations == 0 and third.n_skipped_stored == 9
