"""The vectorised results of the batched linear path equal the per-frame code of the properties and sums written
out by hand, on a small synthetic set with every kind of failure."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase import Atoms

from mlipscope.data.dataset import ENERGY_KEY, FORCES_KEY, STRESS_KEY, Dataset
from mlipscope.errors import EvaluationError
from mlipscope.models import linear_batch_metrics as lbm
from mlipscope.models.linear_batch_metrics import FrameLabels, Predictions, dataset_errors_results, rare_event_results
from mlipscope.properties.base import PropertyResult
from mlipscope.properties.dataset_errors import DatasetErrors, frame_failure, frame_prediction
from mlipscope.properties.frame_data import FORCE_QUANTUM_EV_A, LAYOUT, FrameErrors
from mlipscope.properties.rare_events import RareEventForces, re_errors_from_details, re_metrics
from mlipscope.units import EV_PER_A3_TO_GPA

CONFIG_TYPES = ["bulk", "Surface", "bulk", "AIMD-nvt", "surface", "bulk", "vacancy"]
WITH_STRESS = [True, False, True, True, False, True, True]
ROWS_FAILED = 2  # a frame whose descriptor rows failed: a failure of every member


def _frames(rng: np.random.Generator, re_labels: bool = False) -> list[Atoms]:
    frames = []
    for k, config_type in enumerate(CONFIG_TYPES):
        n = 2 + k % 3
        atoms = Atoms("Si" * n, positions=rng.uniform(0, 5, (n, 3)), cell=np.diag([5.0, 5.5, 6.0]), pbc=True)
        atoms.info[ENERGY_KEY] = -4.5 * n + rng.normal()
        atoms.info["config_type"] = config_type
        atoms.arrays[FORCES_KEY] = rng.normal(size=(n, 3))
        if WITH_STRESS[k]:
            atoms.info[STRESS_KEY] = rng.normal(scale=0.01, size=6)
        if re_labels:
            atoms.arrays["r_migrating"] = np.where(np.arange(n) == k % n, 0.0, 2.5)
        frames.append(atoms)
    return frames


def _predictions(rng: np.random.Generator, frames: list[Atoms], m: int) -> Predictions:
    labels = FrameLabels.of(frames)
    n_rows = len(labels.forces_dft_ev_a)
    stress = labels.stress_dft_gpa / EV_PER_A3_TO_GPA + rng.normal(scale=0.002, size=(m, len(frames), 6))
    stress[:, 4] = np.nan  # no virial rows on a frame without a DFT stress
    return Predictions(
        energies_ev=labels.energy_dft_ev + rng.normal(scale=0.05, size=(m, len(frames))),
        forces_ev_a=labels.forces_dft_ev_a + rng.normal(scale=0.1, size=(m, n_rows)),
        stress_ev_a3=stress,
    )


@pytest.fixture
def synthetic():
    rng = np.random.default_rng(7)
    frames = _frames(rng)
    pred = _predictions(rng, frames, 5)
    labels = FrameLabels.of(frames)
    bounds = list(zip(labels.starts, labels.ends, strict=True))
    a, b = bounds[3]
    pred.forces_ev_a[1, a + 1] = np.nan  # member 1 fails on frame 3, the only AIMD frame: no such group for it
    pred.stress_ev_a3[2, 0, 3] = np.inf  # member 2's stress on frame 0 does not count, its energy and forces do
    pred.energies_ev[3] = np.nan  # member 3 fails on every frame
    pred.energies_ev[4, 0] = np.inf  # member 4 fails on the first frame: its groups start with another type
    return Dataset(frames, name="synthetic"), labels, pred


def _per_frame(prop: DatasetErrors, data: Dataset, reasons: list[str], pred: Predictions, m: int) -> PropertyResult:
    """The per-frame evaluation of one member (what ``prop.compute`` does with the member's calculator)."""
    labels = FrameLabels.of(data.frames)
    records, failures = [], []
    for k, atoms in enumerate(data.frames):
        if reasons[k]:
            failures.append({"index": k, "reason": reasons[k]})
            continue
        forces = pred.forces_ev_a[m, labels.starts[k] : labels.ends[k]].reshape(-1, 3)
        stress = pred.stress_ev_a3[m, k] if STRESS_KEY in atoms.info else None
        try:
            records.append(frame_prediction(k, atoms, float(pred.energies_ev[m, k]), forces, stress))
        except EvaluationError as exc:
            failures.append(frame_failure(k, exc))
    return prop.result_from_frames(data, records, failures)


def _assert_equal_results(expected: PropertyResult, got: PropertyResult) -> None:
    assert got.label == expected.label
    assert list(got.values) == list(expected.values)  # same keys in the same order
    for key, value in expected.values.items():
        assert math.isnan(value) == math.isnan(got.values[key]), key
        assert math.isnan(value) or got.values[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key
    assert got.units == expected.units
    assert got.error_metrics == expected.error_metrics
    assert set(got.details) == set(expected.details)
    for key, value in expected.details.items():
        if key == "energy_offset_ev_atom":
            assert got.details[key] == pytest.approx(value, rel=1e-12)
        elif key == "frames":
            _assert_same_frames(value, got.details[key])
        else:
            assert got.details[key] == value, key


def _assert_same_frames(expected: dict, got: dict) -> None:
    """Stored frame errors (``details["frames"]``): the same keys, arrays of the same dtype and shape holding the
    same numbers (NaN where NaN): the same quanta, not only close ones."""
    assert expected["layout"] == LAYOUT and set(got) == set(expected)
    for key, value in expected.items():
        if isinstance(value, np.ndarray):
            assert isinstance(got[key], np.ndarray) and got[key].dtype == value.dtype, key
            assert got[key].shape == value.shape, key
            np.testing.assert_array_equal(got[key], value, err_msg=key)
        else:
            assert got[key] == value, key


@pytest.mark.parametrize("per_config_type", [True, False])
def test_dataset_errors_equal_the_per_frame_evaluation(synthetic, per_config_type):
    data, labels, pred = synthetic
    prop = DatasetErrors(data, label="errors_synthetic", per_config_type=per_config_type)
    reasons = ["RuntimeError: no rows" if k == ROWS_FAILED else "" for k in range(len(data))]
    got = dataset_errors_results(prop, data, labels, np.array(reasons), pred)
    assert len(got) == 5
    for m, result in enumerate(got):
        if m == 3:
            assert isinstance(result, EvaluationError)
            with pytest.raises(EvaluationError) as expected:
                _per_frame(prop, data, reasons, pred, m)
            assert str(result) == str(expected.value)
            assert "failed on all 7 frames (first: EvaluationError: non-finite" in str(result)  # frame 0 comes first
            continue
        _assert_equal_results(_per_frame(prop, data, reasons, pred, m), result)
    if per_config_type:
        assert "force_rmse_ev_a.aimd_nvt" in got[0].values and "force_rmse_ev_a.aimd_nvt" not in got[1].values
        assert list(got[4].values)[9].endswith(".surface")  # member 4's first predicted frame is a surface
        assert got[0].values["failed_frame_fraction"] == pytest.approx(1 / 7)
        assert got[1].values["failed_frame_fraction"] == pytest.approx(2 / 7)


def test_dataset_errors_equal_sums_written_out(synthetic):
    """Member 0 by hand: force RMSE and MAE of the "bulk" frames, energy RMSE after removing the offset, stress."""
    data, labels, pred = synthetic
    prop = DatasetErrors(data, label="errors_synthetic")
    reasons = ["RuntimeError: no rows" if k == ROWS_FAILED else "" for k in range(len(data))]
    values = dataset_errors_results(prop, data, labels, np.array(reasons), pred)[0].values
    bulk = [k for k, t in enumerate(CONFIG_TYPES) if t == "bulk" and k != ROWS_FAILED]
    squares, absolute = [], []
    for k in bulk:
        model = pred.forces_ev_a[0, labels.starts[k] : labels.ends[k]]
        for x, y in zip(model.tolist(), data.frames[k].arrays[FORCES_KEY].ravel().tolist(), strict=True):
            squares.append((x - y) ** 2)
            absolute.append(abs(x - y))
    assert values["force_rmse_ev_a.bulk"] == pytest.approx(math.sqrt(sum(squares) / len(squares)), rel=1e-12)
    assert values["force_mae_ev_a.bulk"] == pytest.approx(sum(absolute) / len(absolute), rel=1e-12)
    done = [k for k in range(len(data)) if k != ROWS_FAILED]
    per_atom = [(pred.energies_ev[0, k] - data.frames[k].info[ENERGY_KEY]) / len(data.frames[k]) for k in done]
    offset = sum(per_atom) / len(per_atom)
    removed = math.sqrt(sum((1000 * (e - offset)) ** 2 for e in per_atom) / len(per_atom))
    assert values["energy_offset_removed_rmse_mev_atom"] == pytest.approx(removed, rel=1e-10)
    stress = [
        (pred.stress_ev_a3[0, k, i] - data.frames[k].info[STRESS_KEY][i]) * EV_PER_A3_TO_GPA
        for k in done
        if WITH_STRESS[k]
        for i in range(6)
    ]
    assert values["stress_rmse_gpa"] == pytest.approx(math.sqrt(sum(s * s for s in stress) / len(stress)), rel=1e-10)
    assert math.isnan(values["stress_rmse_gpa.surface"])  # no stress label on the surfaces


def test_stored_frames_hold_each_members_errors_on_the_frames_it_predicted(synthetic):
    """Member 1 lost frame 2 (no rows) and frame 3 (its own NaN force), member 2 the stress of frame 0: the stored
    errors are those of the other frames, to half a quantum of the unrounded ones."""
    data, labels, pred = synthetic
    prop = DatasetErrors(data, label="errors_synthetic")
    reasons = np.array(["RuntimeError: no rows" if k == ROWS_FAILED else "" for k in range(len(data))])
    got = dataset_errors_results(prop, data, labels, reasons, pred)
    stored = FrameErrors.from_details(got[1].details["frames"])
    done = [0, 1, 4, 5, 6]
    assert stored.index.tolist() == done and stored.n_atoms.tolist() == [len(data.frames[k]) for k in done]
    assert (stored.dataset, stored.dataset_hash) == ("synthetic", data.content_hash[:16])
    forces = np.concatenate(
        [
            pred.forces_ev_a[1, labels.starts[k] : labels.ends[k]] - data.frames[k].arrays[FORCES_KEY].ravel()
            for k in done
        ]
    )
    np.testing.assert_allclose(stored.force_error_ev_a, forces, rtol=0, atol=FORCE_QUANTUM_EV_A / 2)
    energy = [(pred.energies_ev[1, k] - data.frames[k].info[ENERGY_KEY]) / len(data.frames[k]) for k in done]
    np.testing.assert_allclose(stored.energy_error_ev_atom, energy, rtol=0, atol=2.0**-21)
    assert np.isnan(stored.stress_error_gpa[[1, 2]]).all()  # frames 1 and 4: no DFT stress
    stress = (pred.stress_ev_a3[1, 5] - data.frames[5].info[STRESS_KEY]) * EV_PER_A3_TO_GPA
    np.testing.assert_allclose(stored.stress_error_gpa[3], stress, rtol=1e-6)  # float32
    assert np.isnan(FrameErrors.from_details(got[2].details["frames"]).stress_error_gpa[0]).all()


def test_large_force_errors_are_stored_as_the_per_frame_code_stores_them(synthetic):
    """Errors beyond int16 quanta (int32) and beyond int32 quanta (float32 errors): the same layout both ways."""
    data, labels, pred = synthetic
    pred.forces_ev_a[0, 4] += 100.0
    pred.forces_ev_a[4, 7] += 1e7
    prop = DatasetErrors(data, label="errors_synthetic")
    reasons = np.array([""] * len(data))
    got = dataset_errors_results(prop, data, labels, reasons, pred)
    assert got[0].details["frames"]["force_error_quanta"].dtype == np.int32
    assert got[4].details["frames"]["force_error_ev_a"].dtype == np.float32
    for m in (0, 4):
        _assert_equal_results(_per_frame(prop, data, list(reasons), pred, m), got[m])


def test_blocks_of_a_few_members_give_the_same_numbers(synthetic, monkeypatch):
    data, labels, pred = synthetic
    prop = DatasetErrors(data, label="errors_synthetic")
    reasons = np.array([""] * len(data))
    whole = dataset_errors_results(prop, data, labels, reasons, pred)
    monkeypatch.setattr(lbm, "CACHE_ELEMENTS", 1)  # one member at a time
    for a, b in zip(whole, dataset_errors_results(prop, data, labels, reasons, pred), strict=True):
        if isinstance(a, Exception):
            assert type(a) is type(b) and str(a) == str(b)
        else:
            np.testing.assert_equal(b.values, a.values)  # NaN where NaN
            assert list(b.values) == list(a.values)
            _assert_same_frames(a.details["frames"], b.details["frames"])
            assert {k: v for k, v in b.details.items() if k != "frames"} == {
                k: v for k, v in a.details.items() if k != "frames"
            }


def test_rare_event_results_equal_the_per_frame_evaluation():
    rng = np.random.default_rng(3)
    frames = _frames(rng, re_labels=True)
    labels = FrameLabels.of(frames)
    pred = _predictions(rng, frames, 4)
    pred.forces_ev_a[1:3] += rng.normal(scale=1.5, size=pred.forces_ev_a[1:3].shape)  # past the caps of RE_M, RE_A
    pred.energies_ev[3, 4] = np.nan  # no energy on one frame: NaN energy RMSE, the energy errors stored as float32
    prop = RareEventForces("re_synthetic", dataset="synthetic_re")
    data = Dataset(frames, name="synthetic_re")
    reference = prop.reference_forces(data, frames)
    masks, refs, kept = reference
    got = rare_event_results(prop, data, frames, labels, reference, pred)
    for m, result in enumerate(got):
        forces = [pred.forces_ev_a[m, a:b].reshape(-1, 3) for a, b in zip(labels.starts, labels.ends, strict=True)]
        expected = prop.result_from_predictions(data, frames, forces, list(pred.energies_ev[m]), reference)
        _assert_equal_results(expected, result)
        # by hand: RE_F over the one RE atom of each frame, and the force RMSE over every component
        d_f = [
            abs(np.linalg.norm(f[mask][0]) - np.linalg.norm(r[mask][0]))
            for f, r, mask in zip(forces, refs, masks, strict=True)
        ]
        assert result.values["re_f_ev_a"] == pytest.approx(math.sqrt(sum(d * d for d in d_f) / len(d_f)), rel=1e-12)
        errors = np.concatenate([(f - r).ravel() for f, r in zip(forces, refs, strict=True)]).tolist()
        rmse = math.sqrt(sum(e * e for e in errors) / len(errors))
        assert result.values["force_rmse_ev_a"] == pytest.approx(rmse, rel=1e-12)
        assert result.values["n_re_atoms"] == len(frames)
        # stored: the RE atom and one far atom per frame, errors to half a quantum
        stored = FrameErrors.from_details(result.details["frames"])
        assert stored.atom_indices().tolist() == [i for atoms in kept for i in atoms.tolist()]
        assert len(stored.atom_indices()) == 2 * len(frames)
        exact = np.concatenate([(f[a] - r[a]).ravel() for f, r, a in zip(forces, refs, kept, strict=True)])
        np.testing.assert_allclose(stored.force_error_ev_a, exact, rtol=0, atol=FORCE_QUANTUM_EV_A / 2)
    assert max(re_errors_from_details(got[1].details, data)[0]) > 1.0  # past the caps of RE_M and RE_A
    assert "energy_error_ev_atom" in got[3].details["frames"] and math.isnan(got[3].values["energy_rmse_ev_atom"])
    assert max(re_errors_from_details(got[2].details, data)[1]) > 60.0


def test_a_set_without_rare_event_atoms_gives_every_member_the_error_of_compute():
    rng = np.random.default_rng(4)
    frames = _frames(rng, re_labels=True)
    labels = FrameLabels.of(frames)
    masks = [np.zeros(len(a), dtype=bool) for a in frames]
    prop, data = RareEventForces(dataset="x"), Dataset(frames, name="x")
    got = rare_event_results(prop, data, frames, labels, (masks, [], []), _predictions(rng, frames, 2))
    with pytest.raises(ValueError) as expected:
        re_metrics(np.empty((0, 3)), np.empty((0, 3)))
    assert [type(r) for r in got] == [ValueError, ValueError] and str(got[0]) == str(expected.value)
