"""Prototype defects relax to the named geometry; phonons of relaxed crystals are acoustic-zero at Γ; the compound
(InP, from a structure file) gets per-sublattice vacancies and its elastic constants match an independent
LAMMPS computation."""

from __future__ import annotations

import numpy as np
import pytest
from ase.geometry import find_mic

from mlipscope.calculators import make_calculator
from mlipscope.materials import load_material
from mlipscope.materials.defects import defect_sites, starting_defect_cell, vacancy_sites
from mlipscope.mlearn_potentials import inp_snap_commands
from mlipscope.properties.context import MaterialContext
from mlipscope.properties.elastic import ElasticConstants
from mlipscope.properties.phonons import Phonons
from mlipscope.properties.structures import relax

try:
    from .independent_lammps import elastic_constants_gpa
except ImportError:
    from independent_lammps import elastic_constants_gpa


def _relaxed(material_name: str, defect: str, calc_spec: str):
    material = load_material(material_name)
    calc = make_calculator(calc_spec)
    a = MaterialContext(material).relaxed_bulk(calc).lattice_constant_a
    atoms = starting_defect_cell(material, defect, material.supercells[0], a)
    relax(atoms, calc, fmax=1e-3, max_steps=2000, optimizer="LBFGS")
    return atoms, np.array(atoms.info["defect_site"]), a


def _pair_axis(atoms, site):
    """The two atoms nearest the defect site and the unit vector between them."""
    d = np.linalg.norm(find_mic(atoms.positions - site, atoms.cell)[0], axis=1)
    i, j = np.argsort(d)[:2]
    axis = find_mic(atoms.positions[j] - atoms.positions[i], atoms.cell)[0]
    return d[[i, j]], axis / np.linalg.norm(axis)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("material", "defect", "direction", "calc"),
    [("mo", "dumbbell_110", (1, 1, 0), "mlearn-snap:Mo"), ("cu", "dumbbell_100", (1, 0, 0), "mlearn-snap:Cu"),
     ("si", "dumbbell", (1, 1, 0), "sw")],
)  # fmt: skip
def test_split_dumbbells_stay_split_along_their_direction(material, defect, direction, calc):
    atoms, site, a = _relaxed(material, defect, calc)
    distances, axis = _pair_axis(atoms, site)
    assert np.all(distances < 0.45 * a)  # both atoms share the removed site...
    expected = np.abs(np.array(direction, dtype=float)) / np.linalg.norm(direction)
    assert np.sort(np.abs(axis)) == pytest.approx(np.sort(expected), abs=0.05)  # ...split along <direction>


@pytest.mark.slow
def test_sw_tetrahedral_interstitial_keeps_four_bonds():
    atoms, _, a = _relaxed("si", "tetrahedral", "sw")
    d = np.sort(np.linalg.norm(find_mic(atoms.positions[:-1] - atoms.positions[-1], atoms.cell)[0], axis=1))
    assert d[:4] == pytest.approx(d[0], abs=0.01) and 2.2 < d[0] < 2.6  # four equal bonds: still tetrahedral
    assert d[4] > d[3] + 0.1


def test_compound_vacancies_one_per_sublattice():
    inp = load_material("inp")
    assert [(s.name, s.species) for s in vacancy_sites(inp)] == [("vacancy_In", "In"), ("vacancy_P", "P")]
    assert {s.name for s in defect_sites(inp) if s.kind == "vacancy"} == {"vacancy_In", "vacancy_P"}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("material", "calc"), [("mo", "mlearn-snap:Mo"), ("cu", "mlearn-snap:Cu"), ("inp", "inp-snap")]
)
def test_phonons_of_relaxed_crystal_are_acoustic_zero_at_gamma(material, calc):
    result = Phonons(material=material).compute(make_calculator(calc))
    assert result.values["gamma_acoustic_max_abs_thz"] < 0.05
    labelled = [k for k in result.values if k.endswith("_ta_thz")]
    assert labelled and all(result.values[k] > 0.5 for k in labelled)  # real, labelled modes off Γ
    assert result.details["min_mesh_frequency_thz"] > -0.1


@pytest.mark.slow
def test_inp_elastic_constants_match_independent_lammps():
    material = load_material("inp")
    calc = make_calculator("inp-snap")
    context = MaterialContext(material)
    result = ElasticConstants(material=material).compute(calc, context)
    commands, elements = inp_snap_commands()
    a = context.relaxed_bulk(calc).lattice_constant_a
    c11, c12, c44 = elastic_constants_gpa(commands, elements, "diamond", a)  # zincblende: In on basis 1-4
    assert result.values["c11_gpa"] == pytest.approx(c11, abs=1.0)
    assert result.values["c12_gpa"] == pytest.approx(c12, abs=1.0)
    assert result.values["c44_gpa"] == pytest.approx(c44, abs=1.0)


def test_structure_file_material_gets_generated_interstitials():
    pytest.importorskip("pymatgen.analysis.defects", reason="pip install 'mlipscope[defects]'")
    from mlipscope.materials.defects import defect_cell

    inp = load_material("inp")
    generated = [s for s in defect_sites(inp) if s.kind == "interstitial"]
    assert [s.name for s in generated] == ["interstitial_In_1", "interstitial_P_1"]
    a = 5.83
    for site in generated:
        atoms = defect_cell(inp, site.name, 2, a)
        assert len(atoms) == 65 and atoms.get_chemical_symbols()[-1] == site.species
        d = np.sort(np.linalg.norm(find_mic(atoms.positions[:-1] - atoms.positions[-1], atoms.cell)[0], axis=1))
        # the largest void of zincblende is a tetrahedral site: four neighbours at the bond length sqrt(3)/4 a
        assert d[:4] == pytest.approx(np.sqrt(3) / 4 * a, abs=1e-6) and d[4] > d[3] + 0.3
