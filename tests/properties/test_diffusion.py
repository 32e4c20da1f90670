"""Defect diffusion by LAMMPS MD with Stillinger-Weber Si, and the MD failure checks (melting, few hops, explosion)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units

from mlipscope.calculators import builtin_lammps_commands
from mlipscope.errors import EvaluationError
from mlipscope.materials import load_material
from mlipscope.materials.defects import perfect_supercell
from mlipscope.properties.diffusion import DefectDiffusion
from mlipscope.properties.md import check_sample, lammps_setup, run_nvt


@pytest.mark.slow
def test_sw_vacancy_diffusion_arrhenius(sw_calc):
    temps = (1500.0, 1750.0, 2000.0)
    prop = DefectDiffusion(defect="vacancy", temperatures_k=temps, duration_ps=30.0, lattice_a=5.431)
    result = prop.compute(sw_calc)
    per_t = result.details["per_temperature"]
    assert all(p["engine"] == "lammps" for p in per_t)  # the LAMMPSlib calculator gave its pair commands
    # D recomputed here from the stored summed MSD: slope / 6, Å²/ps -> cm²/s
    d = []
    for p, t in zip(per_t, temps, strict=True):
        slope = np.polyfit(p["fit_times_ps"], p["summed_msd_a2"], 1)[0]
        d.append(slope / 6.0 * 1e-4)
        assert result.values[f"d_{t:g}k_cm2_s"] == pytest.approx(d[-1], rel=1e-8)
        assert abs(p["mean_temperature_k"] - t) < 0.1 * t
        assert p["n_hops"] >= 4 and p["crystalline_fraction"] > 0.85
    slope, intercept = np.polyfit(1.0 / (units.kB * np.array(temps)), np.log(d), 1)
    assert result.values["activation_energy_ev"] == pytest.approx(-slope, rel=1e-8)
    assert result.values["log10_prefactor_cm2_s"] == pytest.approx(intercept / np.log(10), rel=1e-8)
    # physics, loosely: ~30 hops per temperature leave an Ea uncertainty of a few tenths of an eV; SW vacancy
    # migration barriers in the literature are ~0.3-0.6 eV
    assert 0.05 < result.values["activation_energy_ev"] < 1.0
    assert 1e-6 < d[-1] < 1e-3


def test_melting_and_too_few_hops_are_recorded_as_failures(sw_calc):
    prop = DefectDiffusion(
        defect="vacancy", temperatures_k=(500.0, 4000.0), duration_ps=3.0, equilibration_ps=0.5, lattice_a=5.431
    )
    with pytest.raises(EvaluationError) as info:
        prop.compute(sw_calc)
    message = str(info.value)
    assert "too few hops at 500 K" in message
    assert "melted at 4000 K" in message


def test_exploding_run_checks():
    atoms = Atoms("Si2", positions=[[0, 0, 0], [0.9, 0, 0]], cell=[8, 8, 8], pbc=True)
    with pytest.raises(EvaluationError, match="0.90 Å apart"):
        check_sample(-4.3, -4.3, atoms, 1.0)
    atoms.positions[1, 0] = 2.3
    with pytest.raises(EvaluationError, match="energy per atom moved"):
        check_sample(-1.0, -4.3, atoms, 1.0)
    with pytest.raises(EvaluationError, match="non-finite"):
        check_sample(float("nan"), -4.3, atoms, 1.0)
    check_sample(-4.2, -4.3, atoms, 1.0)  # a sane frame passes


def test_lammps_and_ase_engines_sample_the_same_ensemble(sw_calc):
    commands, elements = lammps_setup(sw_calc)
    assert commands == builtin_lammps_commands("sw") and elements == ["Si"]
    atoms = perfect_supercell(load_material("si"), 2, 5.431)
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
