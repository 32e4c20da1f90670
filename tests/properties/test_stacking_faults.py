"""Generalized stacking faults: Stillinger–Weber Si's intrinsic fault costs nothing (its cutoff sees first
neighbours only), a full-lattice-vector path is symmetric, and the tilted-cell energies agree with an independent
construction (two faults in an untilted cell, the upper half of the atoms displaced)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from ase.lattice.cubic import Diamond

from mlipscope.calculators import make_calculator
from mlipscope.errors import InputError
from mlipscope.properties.stacking_faults import StackingFaults, oriented_slab
from mlipscope.units import EV_PER_A2_TO_J_PER_M2

DIAMOND_111 = ([1, -1, 0], [1, 1, -2], [1, 1, 1])


def test_stillinger_weber_si_intrinsic_fault_is_zero_and_shuffle_path_symmetric():
    result = StackingFaults(material="si", n_points=5).compute(make_calculator("sw"))
    assert result.values["isf_j_m2"] == pytest.approx(0.0, abs=1e-6)
    shuffle = np.array(result.details["curves"]["shuffle"]["gamma_j_m2"])
    np.testing.assert_allclose(shuffle, shuffle[::-1], atol=1e-6)
    assert shuffle[-1] == pytest.approx(0.0, abs=1e-6) and result.values["shuffle_usf_j_m2"] > 0.3
    assert result.values["glide_usf_j_m2"] > result.values["isf_j_m2"]
    assert result.units["isf_j_m2"] == "J/m²"


def test_tilted_cell_matches_two_faults_in_an_untilted_cell():
    """Unrelaxed shuffle fault at half the path: the property's construction (tilt the cell: one fault) against
    displacing the upper half of a twice-as-tall untilted cell (two faults of the same kind)."""
    calc = make_calculator("sw")
    a = 5.431
    one = oriented_slab(Diamond, DIAMOND_111, "Si", a, 2, "wide")
    shift = 0.5 * one.cell[0]
    tilted = one.copy()
    cell = tilted.cell.array.copy()
    cell[2] += shift
    tilted.set_cell(cell, scale_atoms=False)
    perfect, tilted.calc, one.calc = one.copy(), calc, calc
    area = np.linalg.norm(np.cross(one.cell[0], one.cell[1]))
    gamma_tilted = (tilted.get_potential_energy() - one.get_potential_energy()) / area

    two = oriented_slab(Diamond, DIAMOND_111, "Si", a, 4, "wide")  # boundary and middle both in wide gaps
    upper = two.positions[:, 2] > two.cell[2, 2] / 2
    displaced = two.copy()
    displaced.positions[upper] += shift
    two.calc, displaced.calc = calc, calc
    gamma_two = (displaced.get_potential_energy() - two.get_potential_energy()) / (2 * area)
    assert gamma_tilted > 0.01 and perfect is not None
    assert gamma_tilted * EV_PER_A2_TO_J_PER_M2 == pytest.approx(gamma_two * EV_PER_A2_TO_J_PER_M2, abs=1e-6)


def test_fcc_path_ends_in_the_intrinsic_fault_a_local_minimum_below_the_unstable_one():
    result = StackingFaults(material="cu", n_points=7).compute(EMT())
    gamma = result.details["curves"]["slip"]["gamma_j_m2"]
    assert gamma[-1] < gamma[-2] and result.values["isf_j_m2"] < 0.1 < result.values["usf_j_m2"]


def test_bcc_path_is_a_full_burgers_vector():
    """bcc {110}<111> over a/2<111> returns to the perfect crystal (Lennard-Jones, any pair potential will do)."""
    calc = LennardJones(sigma=2.8, epsilon=0.5, rc=6.0, smooth=True)
    result = StackingFaults(material="mo", n_points=5).compute(calc)
    gamma = np.array(result.details["curves"]["slip"]["gamma_j_m2"])
    assert gamma[-1] == pytest.approx(0.0, abs=1e-6) and result.values["usf_j_m2"] > 0.0
    assert "isf_j_m2" not in result.values


def test_material_without_slip_systems_is_refused(tmp_path):
    (tmp_path / "x.yaml").write_text("name: x\nspecies: [In, P]\nstructure: {prototype: zincblende, a: 5.87}\n")
    with pytest.raises(InputError, match="slip systems"):
        StackingFaults(material=str(tmp_path / "x.yaml"))
