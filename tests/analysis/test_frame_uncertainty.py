"""Per-frame ensemble uncertainty from stored frame records: stacking, calibration per group, the most uncertain
frames. Synthetic members scatter around the DFT values with a known per-frame sigma."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlipscope.analysis.calibration import ensemble_spread_and_error
from mlipscope.analysis.frame_uncertainty import (
    frame_uncertainty_table,
    most_uncertain_frames,
    stack_predictions,
)
from mlipscope.properties.frame_data import FrameErrors
from mlipscope.store.details_arrays import join_arrays, split_arrays
from mlipscope.store.provenance import to_json


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


def _stored(records):
    """A model's records as the DuckDB store keeps them (compact layout, arrays in binary) and reads them back."""
    details, blob = split_arrays({"frames": FrameErrors.from_records(records).to_details()})
    return FrameErrors.from_details(join_arrays(json.loads(to_json(details)), blob)["frames"])


def test_compact_storage_changes_spreads_and_errors_by_at_most_the_rounding():
    models, _ = _frames(n_models=8)
    full = stack_predictions(models)
    compact = stack_predictions({m: _stored(r) for m, r in models.items()})
    m = len(models)
    for attr, truth, half_quantum in (
        ("energy_ev_atom", "energy_dft_ev_atom", 2**-21),
        ("forces_ev_a", "forces_dft_ev_a", 2**-11),
    ):
        s_full, e_full = ensemble_spread_and_error(getattr(full, attr), getattr(full, truth))
        s_compact, e_compact = ensemble_spread_and_error(getattr(compact, attr), getattr(compact, truth))
        # each member's value moved by at most half a quantum: the mean by as much, the std by sqrt(m/(m-1)) of it
        assert np.abs(e_compact - e_full).max() <= half_quantum * 1.0001
        assert np.abs(s_compact - s_full).max() <= half_quantum * np.sqrt(m / (m - 1)) * 1.0001
    table_full = frame_uncertainty_table({"test": models}, {}, min_members=5)
    table_compact = frame_uncertainty_table({"test": {k: _stored(r) for k, r in models.items()}}, {}, min_members=5)
    direct = ["spearman_rho", "rho_low", "rho_high", "miscalibration_area", "mean_spread"]  # of spreads and errors
    np.testing.assert_allclose(table_compact[direct], table_full[direct], rtol=2e-3, atol=2e-3)
    assert (table_compact["top_catch_share"] - table_full["top_catch_share"]).abs().max() <= 0.02
    # the factor minimises a flat, piecewise-constant area: it moves by up to ~1 %, the held-out area with it
    np.testing.assert_allclose(table_compact["scale_factor"], table_full["scale_factor"], rtol=0.02)
    np.testing.assert_allclose(table_compact["checked_area_scaled"], table_full["checked_area_scaled"], atol=0.005)


def test_stored_atom_samples_stack_with_their_rare_event_masks():
    """Members that stored some atoms per frame (a RE set's RE atoms and far ones): the masks select those."""
    models, n_atoms = _frames(n_models=6, n_frames=12)
    kept = {i: np.array([0, n - 1]) for i, n in enumerate(n_atoms)}  # atom 0 (the RE atom) and the last one
    sampled = {}
    for model, records in models.items():
        sub = []
        for r in records:
            atoms = kept[r["index"]]
            components = np.ravel(3 * atoms[:, None] + np.arange(3))
            sub.append({**r, "atoms": atoms.tolist(),
                        "forces_model_ev_a": np.take(r["forces_model_ev_a"], components).tolist(),
                        "forces_dft_ev_a": np.take(r["forces_dft_ev_a"], components).tolist()})  # fmt: skip
        sampled[model] = _stored(sub)
    masks = {i: np.arange(n) == 0 for i, n in enumerate(n_atoms)}
    stacked = stack_predictions(sampled, masks)
    assert stacked.forces_ev_a.shape == (6, 6 * len(stacked.frame_index))
    assert stacked.rare_event_component.tolist() == [True] * 3 + [False] * 3 + [True] * 3 + [False] * 3 + [
        x for _ in range(len(stacked.frame_index) - 2) for x in [True] * 3 + [False] * 3
    ]
    top = most_uncertain_frames(stacked, n=2)
    assert top["frame_index"].iloc[0] == 7  # the noisy frame, found on the stored atoms
    other = dict(sampled)
    other["m0"] = _stored(models["m0"])  # every atom stored: not the same atoms as the others
    with pytest.raises(ValueError, match="different atoms"):
        stack_predictions(other)
