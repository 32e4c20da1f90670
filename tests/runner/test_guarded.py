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


class _ConstantBatch(_Constant):
    """``_Constant`` with batched prediction (the :class:`~mlipscope.properties.frames.BatchPredictor` protocol)."""

    batch_size = 5

    def predict_batch(self, frames, properties):
        out = [{"energy": self.energy, "forces": np.zeros((len(a), 3))} for a in frames]
        if "stress" in properties:
            for result in out:
                result["stress"] = np.arange(6.0)
        return out


def test_guard_offers_batches_only_when_its_calculator_does():
    assert GuardedCalculator(_Constant(-1.0)).predict_batch is None
    guard = GuardedCalculator(_ConstantBatch(-2.0))
    assert callable(guard.predict_batch) and guard.batch_size == 5
    frames = [bulk("Si", "diamond", 5.431), bulk("Si", "diamond", 5.431, cubic=True)]
    results = guard.predict_batch(frames, ["forces"])
    assert [r["energy"] for r in results] == [-2.0, -2.0] and [r["forces"].shape for r in results] == [(2, 3), (8, 3)]
    assert all(r["stress"] is None for r in results)  # not asked for
    assert guard.predict_batch(frames, ["forces", "stress"])[1]["stress"].tolist() == list(np.arange(6.0))
    assert guard.n_calls == 4 and guard.seconds_inside > 0  # one call per frame, as frame by frame


@pytest.mark.parametrize("energy, message", [(np.nan, "non-finite"), (1e9, "exploding")])
def test_guard_checks_every_frame_of_a_batch(energy, message):
    with pytest.raises(EvaluationError, match=message):
        GuardedCalculator(_ConstantBatch(energy)).predict_batch([bulk("Si", "diamond", 5.431)], ["forces"])


def test_guard_enforces_deadline_on_batches():
    guard = GuardedCalculator(_ConstantBatch(-1.0), deadline=time.monotonic() - 1)
    with pytest.raises(TaskTimeout):
        guard.predict_batch([bulk("Si", "diamond", 5.431)], ["forces"])
