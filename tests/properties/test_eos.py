import numpy as np
import pytest
from ase.calculators.calculator import Calculator, all_changes

from mlipscope.errors import EvaluationError, InputError
from mlipscope.properties.eos import EquationOfState

# Stillinger & Weber, PRB 31, 5262 (1985): a = 5.431 Å, cohesive energy 2*epsilon = 4.3366 eV/atom (pair bonds
# at r0 carry -epsilon each, three-body terms vanish at tetrahedral angles); B = (C11 + 2 C12)/3 = 101.4 GPa.


@pytest.fixture(scope="module")
def sw_eos(sw_calc):
    return EquationOfState().compute(sw_calc)


def test_sw_equation_of_state_matches_literature(sw_eos):
    v = sw_eos.values
    assert v["lattice_constant_a"] == pytest.approx(5.431, abs=0.002)
    assert v["bulk_modulus_gpa"] == pytest.approx(101.4, abs=1.0)
    assert v["cohesive_energy_ev"] == pytest.approx(4.3366, abs=1e-3)
    assert v["energy_per_atom_ev"] == pytest.approx(-4.3366, abs=1e-3)
    assert sw_eos.details["isolated_atom_energy_ev"] == {"Si": 0.0}  # SW has no one-body term
    assert sw_eos.units["bulk_modulus_gpa"] == "GPa"


def test_bulk_modulus_agrees_with_curvature_of_the_raw_points(sw_eos):
    """B = V d2E/dV2 at the minimum, from a cubic polynomial through the stored E(V) points (independent of ASE)."""
    volumes = np.array(sw_eos.details["volumes_a3_per_atom"])
    energies = np.array(sw_eos.details["energies_ev_per_atom"])
    poly = np.polynomial.Polynomial.fit(volumes, energies, 3).convert()
    roots = poly.deriv().roots()
    v0 = float(np.real(roots[np.argmin(np.abs(roots - volumes.mean()))]))
    b_gpa = v0 * poly.deriv(2)(v0) * 160.21766
    assert b_gpa == pytest.approx(sw_eos.values["bulk_modulus_gpa"], rel=0.01)
    assert (8 * v0) ** (1 / 3) == pytest.approx(sw_eos.values["lattice_constant_a"], abs=1e-3)


def test_bad_configuration_is_an_input_error():
    with pytest.raises(InputError, match="material"):
        EquationOfState(material="no_such_material")
    with pytest.raises(InputError, match="'n_points'"):
        EquationOfState(n_points=3)


class _Expanding(Calculator):
    """E = -p V: a constant negative pressure, so there is no energy minimum at any volume."""

    implemented_properties = ["energy", "forces", "stress"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        pressure = 0.01  # eV/Å^3
        self.results = {
            "energy": -pressure * self.atoms.get_volume(),
            "forces": np.zeros((len(self.atoms), 3)),
            "stress": np.array([-pressure] * 3 + [0.0] * 3),
        }


def test_curve_without_minimum_is_a_failed_evaluation():
    with pytest.raises(EvaluationError, match="did not converge"):
        EquationOfState().compute(_Expanding())
