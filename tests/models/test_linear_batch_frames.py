"""The stored frame errors of a block of members equal ``FrameErrors.to_details`` of each member's own errors, on
the fast path (quanta of the whole block) and off it (frames not stored, errors too large or not finite)."""

from __future__ import annotations

import numpy as np
import pytest

from mlipscope.models.linear_batch_frames import StoredFrames
from mlipscope.properties.frame_data import FORCE_QUANTUM_EV_A, FrameErrors

N_ATOMS = np.array([2, 3, 1, 4])
STORED_COUNTS = np.array([1, 2, 1, 2])  # stored atoms per frame (a rare-event set's layout)


def _frames(partial: bool) -> FrameErrors:
    return FrameErrors(
        index=np.arange(len(N_ATOMS)),
        n_atoms=N_ATOMS,
        energy_error_ev_atom=np.zeros(0),
        force_error_ev_a=np.zeros(0),
        stored_atoms=np.array([1, 0, 2, 0, 0, 3]) if partial else None,
        stored_counts=STORED_COUNTS if partial else None,
        dataset="set.extxyz",
        dataset_hash="0123456789abcdef",
    )


def _own(frames: FrameErrors, energy, forces, stored, stress) -> dict:
    """The per-frame code's layout of one member: its errors on the frames it stores."""
    offsets, rows = frames.force_offsets, np.flatnonzero(stored)
    atoms = frames.stored_atoms
    has_stress = stress is not None and np.isfinite(stress[rows]).all(axis=1).any()
    member = FrameErrors(
        index=frames.index[rows],
        n_atoms=frames.n_atoms[rows],
        energy_error_ev_atom=energy[rows],
        force_error_ev_a=np.concatenate([forces[offsets[k] : offsets[k + 1]] for k in rows]),
        stored_atoms=None
        if atoms is None
        else np.concatenate([atoms[offsets[k] // 3 : offsets[k + 1] // 3] for k in rows]),
        stored_counts=None if frames.stored_counts is None else frames.stored_counts[rows],
        stress_error_gpa=stress[rows] if has_stress else None,
        dataset=frames.dataset,
        dataset_hash=frames.dataset_hash,
    )
    return member.to_details()


def _assert_identical(expected: dict, got: dict) -> None:
    assert list(got) == list(expected)  # the same keys in to_details' order
    for key, value in expected.items():
        if isinstance(value, np.ndarray):
            assert got[key].dtype == value.dtype and got[key].shape == value.shape, key
            np.testing.assert_array_equal(got[key], value, err_msg=key)
        else:
            assert got[key] == value, key


@pytest.mark.parametrize("partial", [False, True])
def test_every_member_gets_what_to_details_gives_it(partial):
    rng = np.random.default_rng(11)
    frames = _frames(partial)
    m, n_frames = 6, len(N_ATOMS)
    n_components = 3 * int((STORED_COUNTS if partial else N_ATOMS).sum())
    energy = rng.normal(scale=0.01, size=(m, n_frames))
    forces = rng.normal(scale=0.2, size=(m, n_components))
    stored = np.ones((m, n_frames), dtype=bool)
    stress = rng.normal(scale=0.1, size=(m, n_frames, 6))
    stress[:, 1] = np.nan  # a frame without a DFT stress
    stress[0] = np.nan  # member 0: no stress anywhere, no stress key
    stored[1, 0] = stored[1, 2] = False  # member 1 did not predict frames 0 and 2 (NaN errors there)
    energy[1, 2], forces[1, :3] = np.nan, np.nan  # the first stored atom is frame 0's
    forces[2, 4] = 100.0  # beyond int16 quanta: int32
    forces[3, 5] = 1e7  # beyond int32 quanta: float32 errors
    energy[4, 0] = np.inf  # float32 energy errors
    stress[5, :, :] = np.where(np.arange(n_frames)[:, None] == 3, stress[5], np.nan)  # one stress only
    forces_dft = rng.normal(size=n_components)
    model = forces + forces_dft
    stored_frames = StoredFrames(frames, energy, model, forces_dft, stored, stress)
    assert stored_frames.fast.tolist() == [True, False, True, False, False, True]
    for k in range(m):
        expected = _own(frames, energy[k], model[k] - forces_dft, stored[k], stress[k])
        _assert_identical(expected, stored_frames.of_member(k))
    got = stored_frames.of_member(2)
    assert got["force_error_quanta"].dtype == np.int32 and got["force_error_quanta"].max() == 102400
    assert "stress_error_gpa" not in stored_frames.of_member(0)
    assert stored_frames.of_member(3)["force_error_ev_a"].dtype == np.float32


def test_stress_errors_of_every_frame_are_the_same_quanta():
    rng = np.random.default_rng(13)
    frames = _frames(False)
    m, n_frames, n_components = 3, len(N_ATOMS), 3 * int(N_ATOMS.sum())
    energy, forces = rng.normal(scale=0.01, size=(m, n_frames)), rng.normal(scale=0.2, size=(m, n_components))
    stress = rng.normal(scale=2.0, size=(m, n_frames, 6))
    stress[2, 1, 0] = 1e7  # beyond int32 quanta: float32 stress errors for this member
    stored_frames = StoredFrames(frames, energy, forces, np.zeros(n_components), np.ones((m, n_frames), bool), stress)
    for k in range(m):
        _assert_identical(
            _own(frames, energy[k], forces[k], np.ones(n_frames, bool), stress[k]), stored_frames.of_member(k)
        )
    assert stored_frames.of_member(0)["stress_error_quanta"].dtype == np.int16
    assert stored_frames.of_member(2)["stress_error_gpa"].dtype == np.float32


def test_members_never_share_arrays():
    rng = np.random.default_rng(12)
    frames = _frames(True)
    energy, forces = rng.normal(size=(2, 4)), rng.normal(size=(2, 18))
    stored_frames = StoredFrames(frames, energy, forces, np.zeros(18), np.ones((2, 4), dtype=bool))
    a, b = stored_frames.of_member(0), stored_frames.of_member(1)
    for key, value in a.items():
        if isinstance(value, np.ndarray):
            assert not np.shares_memory(value, b[key]), key
    np.testing.assert_allclose(
        FrameErrors.from_details(a).force_error_ev_a, forces[0], rtol=0, atol=FORCE_QUANTUM_EV_A / 2
    )
