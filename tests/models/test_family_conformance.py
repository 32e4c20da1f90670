"""The conformance helper itself: it must reject broken spaces and calculators, and accept sound ones."""

from __future__ import annotations

import pytest
from ase.calculators.calculator import Calculator, all_changes

from mlipscope.models.base import Hyperparameter, HyperparameterSpace
from mlipscope.testing import FamilyConformance, assert_samples_valid, assert_space_valid


class FlippedForces(Calculator):
    """Wraps a calculator and returns wrong forces (sign flipped): the gradient check must catch it."""

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        probe = atoms.copy()
        probe.calc = self.inner
        self.results = {
            "energy": probe.get_potential_energy(),
            "forces": -probe.get_forces(),
            "stress": probe.get_stress(),
        }


def test_space_checks_reject_a_default_outside_bounds():
    bad = HyperparameterSpace((Hyperparameter("x", "linear", 2.0, low=0.0, high=1.0),))
    with pytest.raises(AssertionError, match="default"):
        assert_space_valid(bad)
    with pytest.raises(AssertionError, match="log scale"):
        assert_space_valid(HyperparameterSpace((Hyperparameter("y", "log", 0.0, low=0.0, high=1.0),)))
    good = HyperparameterSpace((Hyperparameter("x", "int", 2, low=1, high=4),))
    assert_space_valid(good)
    assert_samples_valid(good)


def test_gradient_check_accepts_sw_and_rejects_flipped_forces(sw_calc):
    checks = FamilyConformance()
    checks.test_forces_are_minus_energy_gradient(sw_calc)
    checks.test_energy_translation_invariant(sw_calc)
    with pytest.raises(AssertionError):
        checks.test_forces_are_minus_energy_gradient(FlippedForces(sw_calc))


def test_shape_check_rejects_unbound_energies(sw_calc):
    """+10 eV/atom on top of Stillinger-Weber is no Si model fitted to DFT (about -5.4 eV/atom)."""

    class Shifted(FlippedForces):
        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            self.results["forces"] = -self.results["forces"]
            self.results["energy"] += 10.0 * len(atoms)

    with pytest.raises(AssertionError):
        FamilyConformance().test_calculator_outputs_finite_with_shapes(Shifted(sw_calc))
