"""``mlipscope benchmark`` keeps results apart: one calculator on two materials is two models, a changed setting
(``--set``) is stored under its own key and model; a rerun that only replays stored failures says so."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from scipy.optimize import minimize_scalar

from mlipscope.analysis.table import wide_error_table
from mlipscope.cli import main
from mlipscope.materials import load_material
from mlipscope.runner.benchmark import model_identity
from mlipscope.store.duckdb_store import ResultsStore
from mlipscope.store.provenance import model_id_for

EMT_SPEC = "ase.calculators.emt:EMT"


def _emt_lattice_constant(element: str) -> float:
    """EMT's fcc lattice constant, by minimising the energy of the primitive cell over a (not mlipscope's EOS)."""

    def energy(a: float) -> float:
        atoms = bulk(element, "fcc", a=a)
        atoms.calc = EMT()
        return atoms.get_potential_energy()

    return float(minimize_scalar(energy, bounds=(3.2, 3.9), method="bounded", options={"xatol": 1e-6}).x)


def test_one_calculator_on_two_materials_is_two_models_whose_values_do_not_mix(tmp_path, capsys):
    db = tmp_path / "r.duckdb"
    for material in ("cu", "ni"):
        args = ["benchmark", "--calculator", EMT_SPEC, "--material", material, "--suite", "quick"]
        assert main([*args, "--properties", "eos", "--db", str(db), "--json"]) == 0
    capsys.readouterr()
    with ResultsStore(db, read_only=True) as store:
        models, records = store.models(), store.records()
    assert sorted(h["material"] for h in models["hyperparameters"]) == ["cu", "ni"]
    table = wide_error_table(records, models, metric="value")
    assert len(table) == 2  # before: one model, the second material's EOS replacing the first's
    material_of = {row.model_id: row.hyperparameters["material"] for row in models.itertuples()}
    a0 = {material_of[model_id]: a for model_id, a in table["eos.lattice_constant_a"].items()}
    assert a0["cu"] == pytest.approx(_emt_lattice_constant("Cu"), abs=2e-3)
    assert a0["ni"] == pytest.approx(_emt_lattice_constant("Ni"), abs=2e-3)
    assert abs(a0["cu"] - a0["ni"]) > 0.05


def test_the_default_material_keeps_the_ids_of_stored_results():
    assert model_identity("sw", load_material("si")) == {"calculator": "sw"}
    assert model_identity("sw", None) == {"calculator": "sw"}
    assert model_identity("sw", load_material("ge")) == {"calculator": "sw", "material": "ge"}
    # the id a run gives a potential on a material other than its own (runner.plan)
    ge = model_id_for("external", {"calculator": "sw", "material": "ge"}, None, "")
    assert model_id_for("external", model_identity("sw", load_material("ge")), None, "") == ge


def _benchmark_json(capsys, db, *extra: str) -> dict:
    args = ["benchmark", "--calculator", "sw", "--suite", "si-quick", "--properties", "vacancy_64"]
    assert main([*args, "--db", str(db), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_set_changes_a_setting_under_its_own_key_and_model(tmp_path, capsys):
    db = tmp_path / "r.duckdb"
    default = _benchmark_json(capsys, db)
    loose = _benchmark_json(capsys, db, "--set", "vacancy_64.fmax=10", "--set", "vacancy_64.max_steps=50")
    (d,), (s,) = default["results"], loose["results"]  # this run's evaluation only, not the other one
    assert d["config_hash"] != s["config_hash"] and default["model_id"] != loose["model_id"]
    # an ion relaxation stopped at once (fmax 10 eV/Å) leaves the vacancy's energy higher than a converged one
    assert s["value"] > d["value"] + 0.05 and np.isfinite(d["value"]), (s["value"], d["value"])
    with ResultsStore(db, read_only=True) as store:
        models = store.models().set_index("model_id")
    assert (
        models.loc[loose["model_id"], "hyperparameters"]["settings"] == "vacancy_64.fmax=10.0, vacancy_64.max_steps=50"
    )
    again = _benchmark_json(capsys, db)  # the default settings again: the first model, nothing recomputed
    assert again["model_id"] == default["model_id"] and again["results"][0]["value"] == d["value"]


@pytest.mark.parametrize(
    ("assignment", "fragment"),
    [
        ("eos.n_point=11", "unknown setting 'n_point'; did you mean 'n_points'?"),
        ("eso.n_points=11", "unknown label 'eso'; did you mean 'eos'?"),
        ("eos.n_points=9.5", "field 'eos.n_points=9.5': expected an integer"),
        ("eos.volume_range=wide", "expected a number, got 'wide'"),
        ("eos.n_points=3", "field 'eos.n_points': expected at least 5 points"),  # the property's own check
        ("eos=3", "expected <label>.<setting>=<value>"),
    ],
)
def test_bad_set_assignments_are_errors_before_any_work(tmp_path, capsys, assignment, fragment):
    db = tmp_path / "r.duckdb"
    args = ["benchmark", "--calculator", "sw", "--suite", "si-quick", "--properties", "eos", "elastic_perfect"]
    assert main([*args, "--db", str(db), "--set", assignment]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mlipscope: error: mlipscope benchmark --set:") and fragment in err, err
    assert not db.exists()


def test_a_rerun_that_replays_stored_failures_suggests_retry_failed(tmp_path, capsys, broken):
    db = tmp_path / "r.duckdb"
    args = ["benchmark", "--calculator", broken, "--suite", "si-quick", "--properties", "eos", "elastic_perfect"]
    args += ["--db", str(db)]
    hint = "2 stored failures were not evaluated again; add --retry-failed to retry them"
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "2 evaluated, 0 already stored, 2 failed" in err and "--retry-failed" not in err
    assert main(args) == 0
    assert hint in capsys.readouterr().err  # an error is deterministic: stored, not evaluated again
    assert main([*args, "--retry-failed"]) == 0
    err = capsys.readouterr().err
    assert "2 evaluated" in err and "--retry-failed" not in err
