"""Per-frame ensemble uncertainty from stored frame records: stacking, calibration per group, the most uncertain
frames. Synthetic members scatter around the DFT values with a known per-frame sigma."""

from __future__ import annotations

import numpy as np
import pytest

from mlipscope.analysis.frame_uncertainty import (
    frame_uncertainty_table,
    most_uncertain_frames,
    stack_predictions,
)


def _frames(n_models: int = 8, n_frames: int = 60, seed: int = 0, noisy_frame: int = 7):
    rng = np.random.default_rng(seed)
    n_atoms = rng.integers(2, 5, n_frames)
    sigma = np.exp(rng.uniform(-4.0, -2.0, n_frames))
    sigma[noisy_frame] = 1.0
    e_dft = rng.normal(-5.0, 0.1, n_frames)
    f_dft = [rng.normal(size=3 * n) for n in n_atoms]
    models = {}
    for m in range(n_models):
        models[f"m{m}"] = [
            {
                "index": i,
                "n_atoms": int(n_atoms[i]),
                "energy_dft_ev_atom": float(e_dft[i]),
                "energy_model_ev_atom": float(e_dft[i] + rng.normal(0.0, sigma[i])),
                "forces_dft_ev_a": f_dft[i].tolist(),
                "forces_model_ev_a": (f_dft[i] + rng.normal(0.0, sigma[i], f_dft[i].size)).tolist(),
            }
            for i in range(n_frames)
            if not (m == 0 and i == 3)  # model 0 failed on frame 3: left out for every member
        ]
    return models, n_atoms


def test_stack_keeps_common_frames_and_the_atom_layout():
    models, n_atoms = _frames()
    stacked = stack_predictions(models)
    assert 3 not in stacked.frame_index and stacked.energy_ev_atom.shape == (8, 59)
    assert stacked.forces_ev_a.shape[1] == 3 * n_atoms[stacked.frame_index].sum() == stacked.forces_dft_ev_a.size
    assert stack_predictions({"only": models["m1"]}) is None


def test_table_has_groups_with_enough_members_and_positive_rank_agreement():
    models, _ = _frames(n_models=10)
    types = {m: ("snap" if int(m[1:]) < 6 else "gap") for m in models}
    table = frame_uncertainty_table({"test": models}, types, min_members=5)
    assert set(table["group"]) == {"all", "snap"}  # four GAP members: no spread shown
    forces = table[(table["group"] == "all") & (table["quantity"] == "force_component")].iloc[0]
    assert forces["spearman_rho"] > 0.3 and forces["rho_low"] > 0.0
    # sigma is both the members' scatter and the mean's error / sqrt(n): spread overstates the mean's error
    assert forces["scale_factor"] == pytest.approx(1 / np.sqrt(10), rel=0.3)


def test_rare_event_atoms_get_their_own_rows():
    models, n_atoms = _frames()
    mask = {i: np.arange(n) == 0 for i, n in enumerate(n_atoms)}
    table = frame_uncertainty_table({"re": models}, {}, rare_event_atoms={"re": mask}, min_members=5)
    assert {"force_rare_event_atoms", "force_other_atoms"} <= set(table["quantity"])


def test_most_uncertain_frame_is_the_noisy_one():
    models, _ = _frames(noisy_frame=11)
    top = most_uncertain_frames(stack_predictions(models), n=3)
    assert top["frame_index"].iloc[0] == 11 and len(top) == 3
