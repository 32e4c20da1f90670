"""The stored per-frame errors: the compact layout round-trips to its rounding, the old layout (records with model
and DFT values) reads as the same errors, and predictions come back from the dataset's labels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlipscope.data.examples import load_example
from mlipscope.errors import InputError
from mlipscope.properties.frame_data import (
    ENERGY_QUANTUM_EV_ATOM,
    FORCE_QUANTUM_EV_A,
    LAYOUT,
    STRESS_QUANTUM_GPA,
    FrameErrors,
    frame_predictions,
)
from mlipscope.store.provenance import to_json


@pytest.fixture(scope="module")
def test_set():
    return load_example("si_mlearn_test")


def _records(data, seed: int = 0, force_sigma: float = 0.1) -> list[dict]:
    """Old-layout records of a synthetic model on the first 6 frames (model = DFT + noise), stress on frame 2."""
    rng = np.random.default_rng(seed)
    out = []
    for i, atoms in enumerate(data.frames[:6]):
        e_dft = float(atoms.info["dft_energy"]) / len(atoms)
        f_dft = np.asarray(atoms.arrays["dft_forces"], dtype=float).ravel()
        record = {
            "index": i,
            "config_type": "x",
            "n_atoms": len(atoms),
            "energy_dft_ev_atom": e_dft,
            "energy_model_ev_atom": e_dft + rng.normal(0, 0.01),
            "forces_dft_ev_a": f_dft.tolist(),
            "forces_model_ev_a": (f_dft + rng.normal(0, force_sigma, f_dft.size)).tolist(),
        }
        if i == 2:
            record["stress_dft_gpa"] = [1.0, 2.0, 3.0, 0.1, 0.2, 0.3]
            record["stress_model_gpa"] = [1.5, 2.5, 3.5, 0.0, 0.0, 0.0]
        out.append(record)
    return out


def _independent_errors(records):
    energy = np.array([r["energy_model_ev_atom"] - r["energy_dft_ev_atom"] for r in records])
    forces = np.concatenate([np.subtract(r["forces_model_ev_a"], r["forces_dft_ev_a"]) for r in records])
    return energy, forces


def test_old_layout_reads_as_its_errors(test_set):
    records = _records(test_set)
    errors = FrameErrors.from_details(records)
    energy, forces = _independent_errors(records)
    np.testing.assert_array_equal(errors.energy_error_ev_atom, energy)
    np.testing.assert_array_equal(errors.force_error_ev_a, forces)
    assert errors.index.tolist() == list(range(6)) and errors.stored_atoms is None
    assert np.isnan(errors.stress_error_gpa[0]).all()
    np.testing.assert_allclose(errors.stress_error_gpa[2], [0.5, 0.5, 0.5, -0.1, -0.2, -0.3])


def test_compact_layout_round_trips_to_its_rounding(test_set):
    records = _records(test_set)
    full = FrameErrors.from_records(records, "si_mlearn_test", test_set.content_hash[:16])
    stored = full.to_details()
    assert stored["layout"] == LAYOUT and stored["force_error_quanta"].dtype == np.int16
    back = FrameErrors.from_details(stored)
    np.testing.assert_allclose(
        back.energy_error_ev_atom, full.energy_error_ev_atom, rtol=0, atol=ENERGY_QUANTUM_EV_ATOM / 2
    )
    np.testing.assert_allclose(back.force_error_ev_a, full.force_error_ev_a, rtol=0, atol=FORCE_QUANTUM_EV_A / 2)
    assert np.abs(back.force_error_ev_a - full.force_error_ev_a).max() > FORCE_QUANTUM_EV_A / 10  # really rounded
    np.testing.assert_allclose(back.stress_error_gpa, full.stress_error_gpa, rtol=1e-6)  # float32, NaN kept
    # a store that keeps JSON (lists, no dtypes) reads the same
    again = FrameErrors.from_details(json.loads(to_json(stored)))
    np.testing.assert_array_equal(again.force_error_ev_a, back.force_error_ev_a)
    np.testing.assert_array_equal(again.energy_error_ev_atom, back.energy_error_ev_atom)


def test_stress_errors_are_quanta_where_every_frame_has_one(test_set):
    records = _records(test_set)
    rng = np.random.default_rng(3)
    for record in records:  # every frame with a stress: ~1 GPa errors
        record["stress_dft_gpa"] = rng.normal(0, 5, 6).tolist()
        record["stress_model_gpa"] = (np.array(record["stress_dft_gpa"]) + rng.normal(0, 1, 6)).tolist()
    stored = FrameErrors.from_records(records).to_details()
    assert "stress_error_gpa" not in stored and stored["stress_error_quanta"].dtype == np.int16
    assert stored["stress_error_quanta"].shape == (6, 6) and stored["stress_error_quantum_gpa"] == 2.0**-10
    expected = np.array([np.subtract(r["stress_model_gpa"], r["stress_dft_gpa"]) for r in records])
    back = FrameErrors.from_details(stored).stress_error_gpa
    np.testing.assert_allclose(back, expected, rtol=0, atol=STRESS_QUANTUM_GPA / 2)
    assert np.abs(back - expected).max() > STRESS_QUANTUM_GPA / 10  # really rounded
    np.testing.assert_array_equal(FrameErrors.from_details(json.loads(to_json(stored))).stress_error_gpa, back)
    # layout errors/2 (float32 stresses, before the quanta) reads as it did
    old = {k: v for k, v in stored.items() if not k.startswith("stress_error_")}
    old.update(layout="errors/2", stress_error_gpa=expected.astype(np.float32))
    np.testing.assert_allclose(FrameErrors.from_details(old).stress_error_gpa, expected, rtol=1e-6)


def test_large_and_non_finite_errors_are_kept(test_set):
    records = _records(test_set, force_sigma=40.0)  # beyond int16 quanta (32 eV/Å)
    stored = FrameErrors.from_records(records).to_details()
    assert stored["force_error_quanta"].dtype == np.int32
    records[1]["forces_model_ev_a"][4] = float("nan")
    records[3]["energy_model_ev_atom"] = None  # a model without energies
    stored = FrameErrors.from_records(records).to_details()
    assert "force_error_quanta" not in stored and stored["force_error_ev_a"].dtype == np.float32
    back = FrameErrors.from_details(stored)
    assert np.isnan(back.force_error_ev_a).sum() == 1 and np.isnan(back.energy_error_ev_atom[3])


def test_predictions_come_back_from_the_dataset_labels(test_set):
    records = _records(test_set)
    stored = FrameErrors.from_records(records, "si_mlearn_test", test_set.content_hash[:16]).to_details()
    got = frame_predictions({"frames": stored})  # the dataset named by the frames
    for old, new in zip(records, got, strict=True):
        assert new["config_type"] == str(test_set.frames[old["index"]].info["config_type"])
        assert new["energy_dft_ev_atom"] == old["energy_dft_ev_atom"]
        assert new["energy_model_ev_atom"] == pytest.approx(old["energy_model_ev_atom"], abs=ENERGY_QUANTUM_EV_ATOM)
        np.testing.assert_array_equal(new["forces_dft_ev_a"], old["forces_dft_ev_a"])
        np.testing.assert_allclose(new["forces_model_ev_a"], old["forces_model_ev_a"], atol=FORCE_QUANTUM_EV_A / 2)
    assert frame_predictions({"frames": records}) == records  # the old layout as it is
    changed = dict(stored, dataset_hash="0" * 16)
    with pytest.raises(InputError, match="content changed"):
        FrameErrors.from_details(changed).predictions()


def test_select_keeps_each_frames_atoms():
    errors = FrameErrors(
        index=np.array([4, 7, 9]),
        n_atoms=np.array([5, 6, 5]),
        energy_error_ev_atom=np.array([0.1, 0.2, 0.3]),
        force_error_ev_a=np.arange(3 * 6, dtype=float),  # 2, 1 and 3 stored atoms
        stored_atoms=np.array([0, 3, 5, 1, 2, 4]),
        stored_counts=np.array([2, 1, 3]),
    )
    picked = errors.select(np.array([9, 4]))
    assert picked.stored_atoms.tolist() == [1, 2, 4, 0, 3]
    assert picked.force_error_ev_a.tolist() == list(range(9, 18)) + list(range(0, 6))
    assert picked.energy_error_ev_atom.tolist() == [0.3, 0.1] and picked.n_atoms.tolist() == [5, 5]
