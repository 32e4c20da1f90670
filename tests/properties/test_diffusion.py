"""Defect diffusion by LAMMPS MD with Stillinger-Weber Si: Ea with its error against the SW NEB barrier, typed
failures (too few hops, melting, explosion) that keep their MD runs, and the engines."""

from __future__ import annotations

import math

import pytest
from ase import Atoms, units

from mlipscope.calculators import builtin_lammps_commands
from mlipscope.errors import EvaluationError
from mlipscope.materials import load_material
from mlipscope.materials.defects import perfect_supercell
from mlipscope.properties.context import MaterialContext
from mlipscope.properties.diffusion import DefectDiffusion
from mlipscope.properties.md import MDFailure, MDRun, check_sample, lammps_setup, run_nvt
from mlipscope.properties.migration import MigrationBarrier
from mlipscope.runner.evaluate import evaluate_property

SW_A = 5.431


@pytest.mark.slow
def test_sw_vacancy_md_activation_energy_agrees_with_the_sw_neb_barrier(sw_calc):
    """The MD Ea of the SW vacancy (fixed concentration: Ea is the migration barrier) agrees with the SW NEB
    barrier (0.52 eV) within the reported uncertainty, and that uncertainty is small enough to mean something."""
    context = MaterialContext(load_material("si"))
    prop = DefectDiffusion(
        defect="vacancy",
        temperatures_k=(1000.0, 1200.0, 1450.0),
        replica_ps=25.0,
        target_hops=50,
        min_replicas=2,
        max_replicas=4,
        lattice_a=SW_A,
        neb={"n_images": 3, "fmax": 0.05},
    )
    result = prop.compute(sw_calc, context)
    v = result.values
    assert v["n_temperatures_fitted"] == 3
    assert 0.3 < v["activation_energy_ev"] < 0.75
    assert 0.0 < v["activation_energy_stderr_ev"] < 0.15
    assert v["neb_barrier_ev"] == pytest.approx(0.52, abs=0.05)
    assert abs(v["ea_minus_neb_ev"]) <= 2 * math.hypot(v["activation_energy_stderr_ev"], prop.neb_uncertainty_ev)
    assert v["ea_neb_consistent"] == 1.0
    per_t = result.details["per_temperature"]
    assert all(p["outcome"] == "ok" and p["n_blocks"] >= 5 for p in per_t)
    # D rises with T; its error is a block standard error, a fraction of D
    d = [v[f"d_{t:g}k_cm2_s"] for t in prop.temperatures_k]
    assert d[0] < d[1] < d[2] and 1e-7 < d[0] < 1e-4
    assert all(0 < v[f"d_{t:g}k_stderr_cm2_s"] < 0.5 * v[f"d_{t:g}k_cm2_s"] for t in prop.temperatures_k)
    runs = [MDRun.from_dict(r) for r in result.details["md_runs"]]
    assert runs and not any(r.failed for r in runs) and all(r.n_atoms == 63 for r in runs)
    # the NEB check reused the band through the context: the migration property gets the same barrier for free
    migration = MigrationBarrier("migration_vacancy", n_images=3, fmax=0.05, lattice_a=SW_A)
    assert migration.compute(sw_calc, context).values["barrier_ev"] == v["neb_barrier_ev"]


def test_too_few_hops_and_melting_are_typed_failures_that_keep_their_runs(sw_calc):
    prop = DefectDiffusion(
        defect="vacancy",
        temperatures_k=(500.0, 4000.0),
        replica_ps=6.0,
        block_ps=2.0,
        min_replicas=2,
        max_replicas=2,
        target_hops=10,
        lattice_a=SW_A,
        neb_check=False,
    )
    outcome = evaluate_property(prop, sw_calc, None)
    assert outcome.status == "failed"
    assert "too few hops at 500 K" in outcome.reason and "melted at 4000 K" in outcome.reason
    assert outcome.details["failure_kind"] in ("too_few_hops", "melted")
    assert outcome.details["outcomes"] == {"500": "too_few_hops", "4000": "melted"}
    runs = [MDRun.from_dict(r) for r in outcome.details["md_runs"]]
    cold = [r for r in runs if r.temperature_k == 500.0]
    hot = [r for r in runs if r.temperature_k == 4000.0]
    assert len(cold) == 2 and not any(r.failed for r in cold)  # survived, censored at the run length
    assert len(hot) == 1 and hot[0].failure_kind == "melted" and 0 <= hot[0].failure_time_ps < 6.0


def test_exploding_run_checks():
    atoms = Atoms("Si2", positions=[[0, 0, 0], [0.9, 0, 0]], cell=[8, 8, 8], pbc=True)
    with pytest.raises(MDFailure, match="0.90 Å apart") as info:
        check_sample(-4.3, -4.3, atoms, 1.5)
    assert info.value.kind == "exploded" and info.value.time_ps == 1.5
    atoms.positions[1, 0] = 7.3  # 0.7 Å through the periodic boundary
    with pytest.raises(MDFailure, match="0.70 Å apart"):
        check_sample(-4.3, -4.3, atoms, 1.0)
    atoms.positions[1, 0] = 2.3
    with pytest.raises(EvaluationError, match="energy per atom moved"):
        check_sample(-1.0, -4.3, atoms, 1.0)
    with pytest.raises(EvaluationError, match="non-finite"):
        check_sample(float("nan"), -4.3, atoms, 1.0)
    check_sample(-4.2, -4.3, atoms, 1.0)  # a sane frame passes
    triclinic = Atoms("Si2", positions=[[0, 0, 0], [1.0, 0, 0]], cell=[[8, 0, 0], [2, 8, 0], [0, 0, 8]], pbc=True)
    with pytest.raises(MDFailure, match="1.00 Å apart"):
        check_sample(-4.3, -4.3, triclinic, 1.0)


def test_lammps_and_ase_engines_sample_the_same_ensemble(sw_calc):
    commands, elements = lammps_setup(sw_calc)
    assert commands == builtin_lammps_commands("sw") and elements == ["Si"]
    atoms = perfect_supercell(load_material("si"), 2, SW_A)
    kw = {"temperature_k": 600.0, "duration_ps": 0.6, "sample_every_fs": 20.0}
    lmp = run_nvt(atoms, lammps_commands=commands, elements=elements, **kw)
    ase_md = run_nvt(atoms, calculator=sw_calc, **kw)
    assert lmp.engine == "lammps" and ase_md.engine == "ase"
    # same potential: equal energy at t=0 (perfect crystal, E = -4.3366 eV/atom for SW) and similar heating
    assert lmp.energy_ev_per_atom[0] == pytest.approx(-4.3366, abs=1e-3)
    assert ase_md.energy_ev_per_atom[0] == pytest.approx(lmp.energy_ev_per_atom[0], abs=1e-6)
    # equipartition: potential energy rises by ~3/2 kB T per atom once thermalised (harmonic crystal)
    for traj in (lmp, ase_md):
        rise = traj.energy_ev_per_atom[len(traj.times_ps) // 2 :].mean() - traj.energy_ev_per_atom[0]
        assert rise == pytest.approx(1.5 * units.kB * 600.0, rel=0.35)
