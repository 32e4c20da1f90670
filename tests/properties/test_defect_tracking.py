"""Wigner-Seitz defect tracking on synthetic trajectories with a known number of hops."""

from __future__ import annotations

import numpy as np
import pytest

from mlipscope.materials import load_material
from mlipscope.materials.defects import perfect_supercell
from mlipscope.properties.defect_tracking import block_diffusivities_a2_ps, track_defect
from mlipscope.properties.md import MDTrajectory


def _trajectory(frames: list[np.ndarray], cell: np.ndarray, numbers: np.ndarray) -> MDTrajectory:
    n = len(frames)
    return MDTrajectory(
        numbers=numbers, cell=cell, times_ps=np.arange(n) * 0.05, positions_a=np.array(frames),
        energy_ev_per_atom=np.zeros(n), temperature_k=np.zeros(n), engine="test", n_steps=n, wall_time_s=1.0,
    )  # fmt: skip


def test_vacancy_hops_are_counted_and_a_frenkel_pair_is_a_lost_defect():
    perfect = perfect_supercell(load_material("si"), 2, 5.431)
    sites = perfect.positions
    rng = np.random.default_rng(0)
    pos = sites[1:].copy()  # vacancy at site 0
    frames = []
    neighbours = [i for i in range(1, 64) if 2.0 < np.linalg.norm(sites[i] - sites[0]) < 2.5]
    # 3 hops: a neighbour of the vacancy jumps into it, every 20 frames (4 windows of 5)
    vacancy = 0
    for k in range(80):
        if k in (20, 40, 60):
            atom = next(j for j in range(63) if 2.0 < np.linalg.norm(pos[j] - sites[vacancy]) < 2.5)
            new_vacancy = int(np.argmin(np.linalg.norm(sites - pos[atom], axis=1)))
            pos[atom] = sites[vacancy]
            vacancy = new_vacancy
        frames.append(pos + rng.normal(0, 0.08, pos.shape))
    assert neighbours
    traj = _trajectory(frames, np.array(perfect.cell[:]), perfect.numbers[1:])
    track = track_defect(traj, sites, window_frames=5, lost_windows=4)
    assert track.n_hops == 3 and not track.lost and set(track.defect_counts) == {1}

    # a Frenkel pair from frame 40 on: an atom leaves its site for the middle of the cell's largest void
    frenkel = [f.copy() for f in frames[:40]] + [f.copy() for f in frames[40:]]
    far = int(np.argmax(np.linalg.norm(pos - sites[vacancy], axis=1)))
    for f in frenkel[40:]:
        f[far] = pos[(far + 1) % 63] + 0.3  # crowds a neighbouring site, leaves its own empty
    track = track_defect(_trajectory(frenkel, np.array(perfect.cell[:]), perfect.numbers[1:]), sites, lost_windows=4)
    assert track.lost and track.lost_at_ps == pytest.approx(40 * 0.05)


def test_block_diffusivity_of_a_uniform_drift_of_one_atom():
    times = np.arange(21) * 0.5
    positions = np.zeros((21, 2, 3))
    positions[:, 0, 0] = times  # 1 Å/ps along x for one atom
    d = block_diffusivities_a2_ps(positions, times, block_ps=2.0)
    assert len(d) == 5 and np.allclose(d, 2.0**2 / (6 * 2.0))
