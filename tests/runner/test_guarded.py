import time

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes

from mlipscope.errors import EvaluationError
from mlipscope.runner.guarded import GuardedCalculator, TaskTimeout


class _Constant(Calculator):
    """A calculator returning fixed values (to exercise the guard's checks)."""

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self, energy: float) -> None:
        super().__init__()
        self.energy = energy

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        n = len(self.atoms)
        self.results = {"energy": self.energy, "forces": np.zeros((n, 3)), "stress": np.zeros(6)}


def test_guard_passes_values_through_and_times_them(sw_calc):
    atoms = bulk("Si", "diamond", 5.431, cubic=True)
    atoms.rattle(0.05, seed=0)
    expected_forces = atoms.copy()
    expected_forces.calc = sw_calc
    f_ref = expected_forces.get_forces()
    guard = GuardedCalculator(sw_calc)
    atoms.calc = guard
    assert np.allclose(atoms.get_forces(), f_ref)
    assert guard.n_calls == 1 and guard.seconds_inside > 0


@pytest.mark.parametrize("energy, message", [(np.nan, "non-finite"), (1e9, "exploding")])
def test_guard_rejects_non_physical_output(energy, message):
    atoms = bulk("Si", "diamond", 5.431)
    atoms.calc = GuardedCalculator(_Constant(energy))
    with pytest.raises(EvaluationError, match=message):
        atoms.get_potential_energy()


def test_guard_enforces_deadline():
    atoms = bulk("Si", "diamond", 5.431)
    atoms.calc = GuardedCalculator(_Constant(-1.0), deadline=time.monotonic() - 1)
    with pytest.raises(TaskTimeout):
        atoms.get_potential_energy()
