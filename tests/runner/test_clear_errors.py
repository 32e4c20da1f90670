"""Exit codes and clear errors: a report that cannot be made, calculator factories that fail, wrong shapes."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes

from mlipscope.cli import main
from mlipscope.errors import MlipscopeError
from mlipscope.properties.base import Property
from mlipscope.runner.config import load_config
from mlipscope.runner.evaluate import evaluate_property
from mlipscope.runner.main_job import MainJob

FACTORIES = """
def needs_args(cutoff):
    raise AssertionError("never called")

def raises():
    raise RuntimeError("license server unreachable")

def not_a_calculator():
    return 42
"""


@pytest.fixture
def factories(tmp_path, monkeypatch):
    (tmp_path / "my_factories.py").write_text(FACTORIES)
    (tmp_path / "broken_module.py").write_text("import numpy\nraise ImportError('needs libfoo.so')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in ("my_factories", "broken_module"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("my_factories:needs_args", "'my_factories:needs_args' callable with no arguments"),
        ("my_factories:raises", "it raised RuntimeError: license server unreachable"),
        ("my_factories:not_a_calculator", "to return an ASE calculator"),
        ("broken_module:make", "an importable module 'broken_module' (ImportError: needs libfoo.so)"),
    ],
)
def test_failing_factories_give_one_clear_line(factories, tmp_path, capsys, spec, message):
    db = tmp_path / "r.duckdb"
    assert main(["benchmark", "--calculator", spec, "--properties", "eos", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


class _OneForce(Calculator):
    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = {"energy": 0.0, "forces": np.zeros((1, 3))}


class _Forces(Property):
    name = "forces"

    def compute(self, calculator, context=None):
        atoms = bulk("Si", "diamond", 5.43, cubic=True)
        atoms.calc = calculator
        return self.result({"f": float(atoms.get_forces().sum())}, {"f": "eV/Å"})


def test_wrong_shaped_forces_are_a_failure_that_says_so():
    outcome = evaluate_property(_Forces(), _OneForce(), None)
    assert outcome.status == "failed" and "forces of shape (1, 3) for 8 atoms" in outcome.reason


def test_run_whose_report_fails_exits_non_zero(tmp_path, monkeypatch):
    path = tmp_path / "run.toml"
    path.write_text(
        '[run]\ndb = "r.duckdb"\nout = "rep"\nworkers = 1\n[[potentials]]\nname = "SW"\ncalculator = "sw"\n'
        '[suite]\nname = "si-quick"\nproperties = ["eos"]\n'
    )

    def broken(*args, **kwargs):
        raise ValueError("no finite errors to analyse")

    monkeypatch.setattr("mlipscope.runner.main_job.write_analysis_report", broken)
    with pytest.raises(MlipscopeError, match="every result is stored in .*report could not be made: ValueError"):
        MainJob(load_config(path), show_progress=False).run()
