"""CHGNet's batched prediction equals its per-frame ASE path: energies within 1e-4 eV/atom, forces within
1e-3 eV/Å, stresses within 1e-4 eV/Å³ (in practice equal to round-off: CHGNet concatenates a batch's graphs),
for frames of different sizes batched together, with and without stress. Its calls run on one torch thread and
leave the caller's thread count as it was."""

from __future__ import annotations

import numpy as np
import pytest

from mlipscope.properties.dataset_errors import load_dataset
from mlipscope.properties.frames import batch_predictor, predict_frames


@pytest.fixture(scope="module")
def chgnet():
    pytest.importorskip("chgnet", reason="CHGNet needs its extra: pip install 'mlipscope[chgnet]'")
    from mlipscope.calculators import make_calculator

    return make_calculator("chgnet")


def _per_frame(calc, atoms, with_stress: bool):
    probe = atoms.copy()
    probe.calc = calc
    stress = probe.get_stress() if with_stress else None
    return probe.get_potential_energy(), probe.get_forces(), stress


@pytest.mark.parametrize("with_stress", [True, False])
def test_batches_equal_the_per_frame_path(chgnet, with_stress):
    test_set = load_dataset("si_mlearn_test").frames
    frames = [test_set[7], test_set[8], test_set[0], load_dataset("si_vacancy_re_test").frames[0]]  # 36, 24, 63, 63
    assert batch_predictor(chgnet) is chgnet
    chgnet.batch_size = 3  # two batches, each mixing sizes
    try:
        batched = predict_frames(chgnet, frames, stress=[with_stress] * len(frames), raise_errors=True)
    finally:
        chgnet.batch_size = type(chgnet).batch_size
    for atoms, predicted in zip(frames, batched, strict=True):
        energy, forces, stress = _per_frame(chgnet, atoms, with_stress)
        assert abs(predicted.energy_ev - energy) / len(atoms) < 1e-4
        assert np.abs(predicted.forces_ev_a - forces).max() < 1e-3
        assert np.abs(forces).max() > 0.05  # real forces, not a trivial zero
        if with_stress:
            assert np.abs(predicted.stress_ev_a3 - stress).max() < 1e-4
        else:
            assert predicted.stress_ev_a3 is None


def test_calls_run_on_one_torch_thread_and_restore_the_callers(chgnet, monkeypatch):
    import torch
    from ase.build import bulk

    from mlipscope.chgnet_batch import TORCH_THREADS

    seen = []
    original = chgnet.model.predict_graph

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(chgnet.model, "predict_graph", spy)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        atoms = bulk("Si", "diamond", 5.43)
        atoms.calc = chgnet
        atoms.get_forces()
        chgnet.predict_batch([bulk("Si", "diamond", 5.43)], ["energy", "forces"])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert seen == [TORCH_THREADS, TORCH_THREADS] and TORCH_THREADS == 1
