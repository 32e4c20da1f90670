"""Fixed-geometry evaluation: a calculator's batched prediction gives each frame its own values (the same as direct
ASE calls on that frame), in order and in batches of its size; a failing batch falls back to frame-by-frame
failures; the time limit is never a frame failure; progress is reported per batch; the fixed-frame properties
(test-set errors, rare-event sets) give identical results batched and frame by frame."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.lj import LennardJones

from mlipscope.errors import TaskTimeout
from mlipscope.properties.dataset_errors import DatasetErrors, load_dataset
from mlipscope.properties.frames import FramePrediction, batch_predictor, predict_frames
from mlipscope.properties.progress import progress_reporter
from mlipscope.properties.rare_events import RareEventForces


def _lj() -> LennardJones:
    return LennardJones(sigma=2.1, epsilon=0.05, rc=4.5, smooth=True)


class BatchLJ(LennardJones):
    """Lennard-Jones with ``predict_batch`` (each frame through a calculator of its own, so the batch path shares
    no state with the per-frame one); records its batch sizes. ``fail_on``: atom counts a batch refuses;
    ``stop``: raise the time limit instead of a result."""

    def __init__(self, batch_size: int = 4, fail_on: tuple[int, ...] = (), stop: bool = False) -> None:
        super().__init__(sigma=2.1, epsilon=0.05, rc=4.5, smooth=True)
        self.batch_size = batch_size
        self.fail_on, self.stop = fail_on, stop
        self.batches: list[int] = []

    def predict_batch(self, frames, properties):
        self.batches.append(len(frames))
        if self.stop:
            raise TaskTimeout("per-task time limit reached")
        if any(len(a) in self.fail_on for a in frames):
            raise RuntimeError("planted batch failure")
        out = []
        for atoms in frames:
            work = atoms.copy()
            work.calc = _lj()
            result = {"energy": work.get_potential_energy(), "forces": work.get_forces()}
            if "stress" in properties:
                result["stress"] = work.get_stress(voigt=False)  # 3x3: predict_frames gives Voigt, as ASE does
            out.append(result)
        return out

    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        if len(atoms) in self.fail_on:
            raise RuntimeError(f"planted failure on {len(atoms)} atoms")
        super().calculate(atoms, properties, system_changes or ["positions", "numbers", "cell", "pbc"])


@pytest.fixture(scope="module")
def frames():
    """Six frames of the Si test set of 63, 36, 24 and 64 atoms (with DFT stress labels)."""
    data = load_dataset("si_mlearn_test").frames
    return [data[k] for k in (0, 7, 1, 8, 9, 10)]


def _direct(atoms) -> tuple[float, np.ndarray, np.ndarray]:
    work = atoms.copy()
    work.calc = _lj()
    return work.get_potential_energy(), work.get_forces(), work.get_stress()


def test_batches_give_each_frame_its_own_values_in_order(frames):
    calc = BatchLJ(batch_size=4)
    stress = [True, False, True, False, True, True]
    reports = []
    with progress_reporter(lambda *r: reports.append(r), min_interval_s=0.0):
        predictions = predict_frames(calc, frames, stress=stress)
    assert calc.batches == [4, 2]
    assert reports == [("frames", 4, 6), ("frames", 6, 6)]
    for atoms, predicted, wanted in zip(frames, predictions, stress, strict=True):
        energy, forces, stress_voigt = _direct(atoms)
        assert isinstance(predicted, FramePrediction)
        assert predicted.energy_ev == pytest.approx(energy, abs=1e-12)
        np.testing.assert_allclose(predicted.forces_ev_a, forces, atol=1e-12)
        if wanted:
            np.testing.assert_allclose(predicted.stress_ev_a3, stress_voigt, atol=1e-12)
        else:
            assert predicted.stress_ev_a3 is None


def test_a_calculator_without_batches_goes_frame_by_frame(frames):
    calc = _lj()
    assert batch_predictor(calc) is None and batch_predictor(BatchLJ()) is not None
    reports = []
    with progress_reporter(lambda *r: reports.append(r), min_interval_s=0.0):
        predictions = predict_frames(calc, frames[:3], ("forces",))
    assert [r[1] for r in reports] == [1, 2, 3]
    for atoms, predicted in zip(frames[:3], predictions, strict=True):
        assert np.isnan(predicted.energy_ev)  # not asked for
        np.testing.assert_allclose(predicted.forces_ev_a, _direct(atoms)[1], atol=1e-12)


def test_a_failing_batch_is_evaluated_frame_by_frame(frames):
    calc = BatchLJ(batch_size=3, fail_on=(36,))  # frames[1] only
    predictions = predict_frames(calc, frames[:3])
    assert isinstance(predictions[1], RuntimeError) and "on 36 atoms" in str(predictions[1])  # the frame's own
    for k in (0, 2):
        assert predictions[k].energy_ev == pytest.approx(_direct(frames[k])[0], abs=1e-12)
    with pytest.raises(RuntimeError, match="planted failure"):
        predict_frames(BatchLJ(batch_size=3, fail_on=(36,)), frames[:3], raise_errors=True)


def test_the_time_limit_is_never_a_frame_failure(frames):
    with pytest.raises(TaskTimeout):
        predict_frames(BatchLJ(stop=True), frames)


def test_test_set_and_rare_event_results_are_the_same_batched(frames):
    errors = DatasetErrors("si_mlearn_test")
    batched, single = errors.compute(BatchLJ(batch_size=7)), errors.compute(_lj())
    assert batched.values == single.values and batched.values["failed_frame_fraction"] == 0
    assert np.isfinite(batched.values["stress_rmse_gpa"])  # the set's stress labels were compared
    rare = RareEventForces(dataset="si_vacancy_re_test", max_frames=10)
    calc = BatchLJ(batch_size=4)
    assert rare.compute(calc).values == rare.compute(_lj()).values
    assert calc.batches == [4, 4, 2]
