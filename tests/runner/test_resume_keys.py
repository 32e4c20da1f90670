"""Resume is keyed by content: replacing a dataset or a reference table at the same path evaluates again;
deterministic failures stay stored, transient ones are retried (see also test_faults_crash.py)."""

from __future__ import annotations

import json

import ase.io
import pytest

from mlipscope.cli import main
from mlipscope.data.examples import example_path
from mlipscope.failures import kind_of_legacy_reason

MATERIAL = """
name: si_mine
species: [Si]
structure: {prototype: diamond, a: 5.43}
datasets:
  test: {mine: mine.extxyz}
reference: ref.yaml
"""


def _run(capsys, *args) -> tuple[dict, str]:
    assert main(["benchmark", *args]) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


def test_replaced_dataset_or_reference_is_evaluated_again(tmp_path, capsys):
    frames = ase.io.read(example_path("si_mlearn_test"), ":")
    ase.io.write(tmp_path / "mine.extxyz", frames)
    (tmp_path / "ref.yaml").write_text("name: r\nvalues:\n  eos.lattice_constant_a: 5.46\n")
    (tmp_path / "si_mine.yaml").write_text(MATERIAL)
    args = ["--material", str(tmp_path / "si_mine.yaml"), "--calculator", "sw", "--db", str(tmp_path / "r.duckdb")]
    args += ["--properties", "errors_mine", "eos"]
    _, err = _run(capsys, *args)
    assert "2 evaluated, 0 already stored" in err
    _, err = _run(capsys, *args)
    assert "0 evaluated, 2 already stored" in err
    ase.io.write(tmp_path / "mine.extxyz", frames[:5])  # a good file replaces the old one at the same path
    out, err = _run(capsys, *args, "--json")
    rows = {r["name"]: r for r in json.loads(out)["results"] if r["name"]}
    assert "errors_mine.force_rmse_ev_a" in rows
    _, err = _run(capsys, *args)
    assert "0 evaluated, 2 already stored" in err
    (tmp_path / "ref.yaml").write_text("name: r\nvalues:\n  eos.lattice_constant_a: 5.43\n")
    _, err = _run(capsys, *args)
    assert "2 evaluated, 0 already stored" in err  # the reference table is an input of every evaluation


NAN_FACTORY = """
import numpy as np
from ase.calculators.calculator import Calculator, all_changes

class Nan(Calculator):
    implemented_properties = ["energy", "forces", "stress"]
    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        n = len(self.atoms)
        self.results = {"energy": float("nan"), "forces": np.zeros((n, 3)), "stress": np.zeros(6)}

def nan():
    return Nan()
"""


def test_deterministic_failure_stays_stored(tmp_path, capsys, monkeypatch):
    (tmp_path / "nanmodel.py").write_text(NAN_FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    args = ["--calculator", "nanmodel:nan", "--properties", "eos", "--db", str(tmp_path / "r.duckdb")]
    _, err = _run(capsys, *args)
    assert "1 evaluated, 0 already stored, 1 failed" in err
    _, err = _run(capsys, *args)
    assert "0 evaluated, 1 already stored" in err  # non-physical output says something about the model: kept
    _, err = _run(capsys, *args, "--retry-failed")
    assert "1 evaluated" in err


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("timeout: killed after the hard limit of 5.2 s", "transient"),
        ("crashed (signal 11)", "transient"),
        ("model load failed: ModuleNotFoundError: No module named 'mace'", "transient"),
        ("worker lost: KilledWorker", "transient"),
        ("non-physical: exploding energy: 1e4 eV/atom", "deterministic"),
        ("non-physical: vacancy NEB did not converge to fmax 0.03 eV/Å in 500 optimiser steps", "deterministic"),
    ],
)
def test_legacy_reasons_give_their_failure_kind(reason, kind):
    """A schema-1 database stored only reasons: the migration reads each one's kind from its text once."""
    assert kind_of_legacy_reason(reason).group == kind
