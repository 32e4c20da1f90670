"""The shipped mlearn SNAP potentials on their own materials: mlipscope's structure-generic properties against an
independent short LAMMPS computation (tests/materials/independent_lammps.py: LAMMPS lattice/minimize/change_box,
no ASE optimiser and no mlipscope property code)."""

from __future__ import annotations

import pytest

from mlipscope.calculators import make_calculator
from mlipscope.materials import load_material
from mlipscope.mlearn_potentials import mlearn_snap_commands
from mlipscope.properties.context import MaterialContext
from mlipscope.properties.defects import DefectFormationEnergy
from mlipscope.properties.elastic import ElasticConstants
from mlipscope.properties.eos import EquationOfState

try:
    from .independent_lammps import elastic_constants_gpa, lattice_constant_a, vacancy_formation_energy_ev
except ImportError:
    from independent_lammps import elastic_constants_gpa, lattice_constant_a, vacancy_formation_energy_ev

ELEMENTS = ("Ni", "Cu", "Li", "Mo", "Si", "Ge")


@pytest.mark.slow
@pytest.mark.parametrize("element", ELEMENTS)
def test_mlearn_snap_matches_an_independent_lammps_computation(element):
    material = load_material(element.lower())
    calc = make_calculator(f"mlearn-snap:{element}")
    context = MaterialContext(material)  # shared by the three properties, as in a run
    commands, elements = mlearn_snap_commands(element)
    structure = material.structure.prototype
    a_ref, e_ref = lattice_constant_a(commands, elements, structure, material.structure.a)

    eos = EquationOfState(material=material).compute(calc, context)
    bulk = context.relaxed_bulk(calc)
    assert bulk.lattice_constant_a == pytest.approx(a_ref, abs=2e-5)
    assert bulk.energy_per_atom_ev == pytest.approx(e_ref, abs=1e-6)
    assert eos.values["energy_per_atom_ev"] == pytest.approx(e_ref, abs=2e-4)  # fitted minimum
    assert eos.values["lattice_constant_a"] == pytest.approx(a_ref, abs=2e-3)  # Birch–Murnaghan minimum

    elastic = ElasticConstants(material=material).compute(calc, context)
    c11, c12, c44 = elastic_constants_gpa(commands, elements, structure, a_ref)
    tolerance = max(0.5, 0.01 * c11)  # 1 % strains (mlipscope) vs 0.5 % central differences (reference)
    assert elastic.values["c11_gpa"] == pytest.approx(c11, abs=tolerance)
    assert elastic.values["c12_gpa"] == pytest.approx(c12, abs=tolerance)
    assert elastic.values["c44_gpa"] == pytest.approx(c44, abs=tolerance)

    size = material.supercell_size(material.supercells[0])
    vacancy = DefectFormationEnergy(defect="vacancy", size=size, material=material).compute(calc, context)
    e_vac = vacancy_formation_energy_ev(commands, elements, structure, a_ref, material.supercells[0])
    assert vacancy.values["formation_energy_ev"] == pytest.approx(e_vac, abs=5e-3)
