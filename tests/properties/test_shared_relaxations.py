"""Relaxed structures shared through a model's MaterialContext: relaxed once, same values as unshared, honest keys."""

from __future__ import annotations

import json
import math

import pytest

import mlipscope.properties.context as context_module
from mlipscope.errors import EvaluationError
from mlipscope.materials import load_material
from mlipscope.properties.context import DEFECT_ION_RELAXATION, SHARED_STRUCTURES_KEY, MaterialContext
from mlipscope.properties.defects import DefectFormationEnergy
from mlipscope.properties.elastic import ElasticConstants
from mlipscope.properties.migration import MigrationBarrier
from mlipscope.properties.phonons import Phonons
from mlipscope.properties.settings import RelaxationSettings

SI = load_material("si")


@pytest.fixture
def relaxations(monkeypatch) -> list[str]:
    """Every relaxation of a shared structure, by what it relaxed (the context's only call into the optimisers)."""
    calls: list[str] = []
    real = context_module.relax_with

    def counting(atoms, calculator, settings, what="structure"):
        calls.append(what)
        return real(atoms, calculator, settings, what)

    monkeypatch.setattr(context_module, "relax_with", counting)
    return calls


def vacancy_properties():
    return [
        DefectFormationEnergy(defect="vacancy", size=64),
        ElasticConstants(cell="vacancy", size=64, n_strains=2),
        Phonons("vacancy"),
    ]


def assert_same_values(a, b, tol: float = 1e-8) -> None:
    assert a.values.keys() == b.values.keys()
    for key, value in a.values.items():
        assert math.isnan(value) == math.isnan(b.values[key]), key
        if not math.isnan(value):
            assert value == pytest.approx(b.values[key], abs=tol), key


def test_vacancy_cell_is_relaxed_once_for_formation_energy_and_elastic_constants(sw_calc, relaxations):
    ctx = MaterialContext(SI)
    shared = [p.compute(sw_calc, ctx) for p in vacancy_properties()]
    # formation energy: the fixed-cell vacancy cell; elastic: only its zero-pressure stage (the ion-relaxed cell
    # is the formation energy's); phonons: its own Td-constrained, unrattled cell (another structure)
    assert relaxations == ["vacancy cell (63 atoms)", "vacancy cell (63 atoms)", "vacancy cell for phonons"]
    assert ctx.counts["relaxations"] == 4  # + the bulk, once
    formation, elastic, phonons = shared
    assert formation.values["formation_energy_ev"] == pytest.approx(2.835, abs=2e-3)
    assert formation.details["lattice_constant_a"] == pytest.approx(5.431, abs=1e-3)

    relaxations.clear()
    fresh = [p.compute(sw_calc, MaterialContext(SI)) for p in vacancy_properties()]
    assert relaxations.count("vacancy cell (63 atoms)") == 3  # the elastic property relaxes the ion stage itself
    for a, b in zip(shared, fresh, strict=True):
        assert_same_values(a, b)

    # provenance: who computed which shared structure, with its relaxation settings
    by_name = {p.label: {e["name"]: e for e in r.details[SHARED_STRUCTURES_KEY]} for p, r in zip(
        vacancy_properties(), shared, strict=True)}  # fmt: skip
    cell = by_name["defect"]["defect_cell"]
    assert cell["computed"] and cell["relaxation"] == DEFECT_ION_RELAXATION.as_dict()
    assert by_name["defect"]["relaxed_bulk"]["computed"]
    assert not by_name["elastic"]["relaxed_bulk"]["computed"]
    assert by_name["elastic"]["defect_cell"] == {**cell, "computed": False}
    assert by_name["elastic"]["zero_pressure_cell"]["computed"]
    assert elastic.details["zero_pressure_start"] == cell["key"]
    assert by_name["phonons"]["defect_cell"]["key"] != cell["key"]
    assert by_name["phonons"]["defect_cell"]["relaxation"]["fix_symmetry_symprec"] == 1e-4
    json.dumps([r.details[SHARED_STRUCTURES_KEY] for r in shared])  # stored with the evaluation: JSON-able

    # a later property with the same cell reuses everything: a second phonons temperature relaxes nothing
    relaxations.clear()
    hot = Phonons("vacancy", temperature_k=600.0).compute(sw_calc, ctx)
    assert relaxations == []
    assert hot.details["relaxed_energy_ev"] == phonons.details["relaxed_energy_ev"]


def test_keys_hold_everything_that_changes_the_relaxed_cell():
    ctx = MaterialContext(SI)
    a = 5.431

    def key(**kw):
        settings = kw.pop("settings", DEFECT_ION_RELAXATION)
        args = {"defect": "vacancy", "size": 64, "lattice_a": a, **kw}
        return ctx.defect_cell_key(args.pop("defect"), args.pop("size"), args.pop("lattice_a"), settings=settings,
                                   **args)  # fmt: skip

    base = key()
    different = [
        key(size=216),
        key(lattice_a=a + 1e-9),
        key(rattle_a=0.03),
        key(seed=1),
        key(defect="tetrahedral"),
        key(settings=RelaxationSettings(fmax=1e-4, max_steps=2000, optimizer="LBFGS")),
        key(settings=RelaxationSettings(fmax=1e-3, max_steps=500, optimizer="LBFGS")),
        key(settings=RelaxationSettings(fmax=1e-3, max_steps=2000, optimizer="BFGS")),
        key(settings=RelaxationSettings(fmax=1e-3, max_steps=2000, optimizer="LBFGS", relax_cell=True)),
        key(settings=RelaxationSettings(fmax=1e-3, max_steps=2000, optimizer="LBFGS", fix_symmetry_symprec=1e-4)),
    ]
    assert len({base, *different}) == len(different) + 1
    # equal starts and relaxations get equal keys: the default rattle spelled out, a seed without rattle,
    # "hydrostatic" at fixed cell
    assert key(rattle_a=0.02) == base
    assert key(rattle_a=0.0, seed=0) == key(rattle_a=0.0, seed=7)
    assert DefectFormationEnergy(defect="vacancy").relaxation() == DEFECT_ION_RELAXATION
    assert DefectFormationEnergy(defect="vacancy", relax_cell=True).relaxation() != DEFECT_ION_RELAXATION
    assert DefectFormationEnergy(defect="vacancy", max_steps=500).relaxation() != DEFECT_ION_RELAXATION


def test_failed_relaxation_is_stored_and_not_rerun(sw_calc, relaxations):
    ctx = MaterialContext(SI)
    prop = DefectFormationEnergy(defect="dumbbell", size=64, max_steps=2)
    for _ in range(2):
        with pytest.raises(EvaluationError, match="dumbbell cell .65 atoms. did not converge"):
            prop.compute(sw_calc, ctx)
    assert relaxations == ["dumbbell cell (65 atoms)"]


def test_elastic_constants_fall_back_to_the_unrelaxed_start_when_the_ion_relaxation_failed(sw_calc):
    ctx = MaterialContext(SI)
    a = ctx.relaxed_bulk(sw_calc).lattice_constant_a
    with pytest.raises(EvaluationError):  # as if the formation energy's relaxation had failed
        ctx.shared(ctx.defect_cell_key("vacancy", 64, a), _fail)
    result = ElasticConstants(cell="vacancy", size=64, n_strains=2).compute(sw_calc, ctx)
    assert "failed" in result.details["zero_pressure_start"]
    entries = {e["name"]: e for e in result.details[SHARED_STRUCTURES_KEY]}
    assert entries["defect_cell"]["error"] == "no convergence (test)"
    two_stage = ElasticConstants(cell="vacancy", size=64, n_strains=2).compute(sw_calc)
    for key in ("c11_gpa", "c12_gpa", "c44_gpa"):  # the same state either way (the SW vacancy, to 1e-4 GPa)
        assert result.values[key] == pytest.approx(two_stage.values[key], abs=1e-3)


def _fail():
    raise EvaluationError("no convergence (test)")


def test_task_timeouts_are_not_stored():
    from mlipscope.runner.guarded import TaskTimeout

    ctx = MaterialContext(SI)
    calls = []

    def compute():
        calls.append(1)
        raise TaskTimeout("per-task time limit reached")

    for _ in range(2):
        with pytest.raises(TaskTimeout):
            ctx.shared("slow", compute)
    assert len(calls) == 2  # the next task, with its own time limit, tries again


def test_neb_end_points_are_shared_between_bands(sw_calc, relaxations):
    ctx = MaterialContext(SI)
    coarse = MigrationBarrier(defect="vacancy", n_images=1, lattice_a=5.431, fmax=0.1, max_steps=300)
    finer = MigrationBarrier(defect="vacancy", n_images=3, lattice_a=5.431, fmax=0.1, max_steps=300)
    first = coarse.compute(sw_calc, ctx)
    second = finer.compute(sw_calc, ctx)
    assert relaxations == ["initial end point", "final end point"]
    entries = {e["name"]: e["computed"] for e in second.details[SHARED_STRUCTURES_KEY]}
    assert entries == {"neb_initial": False, "neb_final": False}
    assert second.details["shared_result"]["computed"]
    assert_same_values(second, finer.compute(sw_calc, MaterialContext(SI)))
    assert first.values["end_point_difference_ev"] == pytest.approx(second.values["end_point_difference_ev"], abs=1e-12)
    # the same band again is the stored result (the diffusion property's NEB check)
    again = MigrationBarrier("migration_check", defect="vacancy", n_images=3, lattice_a=5.431, fmax=0.1, max_steps=300)
    assert not again.compute(sw_calc, ctx).details["shared_result"]["computed"]
