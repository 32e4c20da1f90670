"""Batched fixed-geometry properties of linear members equal per-member ``prop.compute(calculator)``."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from mlipscope.data.examples import load_example
from mlipscope.errors import EvaluationError
from mlipscope.models import linear_batch
from mlipscope.models.linear_batch import (
    LinearMember,
    batch_results,
    descriptor_group_key,
    is_batchable,
)
from mlipscope.models.pod import PODFamily
from mlipscope.models.snap import SNAPFamily
from mlipscope.properties.dataset_errors import DatasetErrors
from mlipscope.properties.eos import EquationOfState
from mlipscope.properties.frame_data import ENERGY_QUANTUM_EV_ATOM, FORCE_QUANTUM_EV_A, STRESS_QUANTUM_GPA, FrameErrors
from mlipscope.properties.rare_events import RareEventForces

SNAP_DESCRIPTORS = {"twojmax": 4, "quadratic": False, "rcutfac": 4.6}
POD_DESCRIPTORS = {
    "rcut": 4.8,
    "twobody_number_radial_basis_functions": 6,
    "threebody_number_radial_basis_functions": 4,
    "threebody_angular_degree": 2,
    "fourbody_number_radial_basis_functions": 0,
    "fourbody_angular_degree": 0,
}
TOL = 1e-8  # eV/Å for forces, eV/atom (meV/atom metrics: 1e-5) for energies, GPa for stresses


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLIPSCOPE_CACHE_DIR", str(path))
        yield path


@pytest.fixture(scope="module")
def members(cache_dir, tmp_path_factory) -> dict[str, list[LinearMember]]:
    """Per descriptor group, members with different regression settings and training sets (small fits)."""
    root = tmp_path_factory.mktemp("models")
    train = load_example("si_mlearn_train")
    sets = [train.subsample(10, seed=1), train.subsample(12, seed=2)]
    plan = {
        "snap": (
            SNAPFamily(),
            [
                {**SNAP_DESCRIPTORS, "energy_weight": 1e2, "stress_weight": 1e-3, "ridge": 1e-8},
                {**SNAP_DESCRIPTORS, "energy_weight": 1e4, "stress_weight": 1e-2, "ridge": 1e-6},
                {**SNAP_DESCRIPTORS, "energy_weight": 10.0, "stress_weight": 1e-5, "ridge": 1e-10},
            ],
        ),
        "qsnap": (SNAPFamily(), [{**SNAP_DESCRIPTORS, "quadratic": True, "ridge": 1e-6}]),
        "pod": (
            PODFamily(),
            [{**POD_DESCRIPTORS, "energy_weight": 10.0, "ridge": 1e-10}, {**POD_DESCRIPTORS, "energy_weight": 1e3}],
        ),
    }
    out = {}
    for group, (family, points) in plan.items():
        out[group] = []
        for i, hp in enumerate(points):
            fitted = family.fit(sets[i % 2], hp, 0, root / f"{group}{i}")
            out[group].append(LinearMember.from_fitted(fitted, key=f"{group}{i}"))
    return out


def _close(a, b, tol: float, where: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), where
        for k in a:
            _close(a[k], b[k], tol, f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        if a and all(isinstance(v, float) for v in a):
            np.testing.assert_allclose(b, a, rtol=0, atol=tol, err_msg=where)
        else:
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                _close(x, y, tol, f"{where}[{i}]")
    elif isinstance(a, float):
        assert math.isnan(a) == math.isnan(b) and (math.isnan(a) or abs(a - b) <= tol), f"{where}: {a} vs {b}"
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


def assert_same_result(expected, got, value_tol: float = TOL, rounded: dict[str, float] | None = None) -> None:
    """Same label, keys, units, error metrics; values and details within ``value_tol``; detail lists that the
    property rounds (``rounded``: key -> rounding unit) within one unit."""
    assert got.label == expected.label
    assert got.units == expected.units
    assert got.error_metrics == expected.error_metrics
    assert set(got.values) == set(expected.values)
    _close(expected.values, got.values, value_tol, "values")
    rounded = {**(rounded or {}), "frames": 0.0}
    _close(
        {k: v for k, v in expected.details.items() if k not in rounded},
        {k: v for k, v in got.details.items() if k not in rounded},
        value_tol,
        "details",
    )
    for key, unit in rounded.items():
        if key == "frames":
            assert_same_frames(expected.details[key], got.details[key])
        else:
            np.testing.assert_allclose(got.details[key], expected.details[key], rtol=0, atol=unit * 1.01, err_msg=key)


def assert_same_frames(expected: dict, got: dict) -> None:
    """The stored frame errors of two results whose predictions agree to round-off: the same frames and atoms, and
    errors rounded to the same quantum, or the next one where round-off crossed a rounding boundary."""
    a, b = FrameErrors.from_details(expected), FrameErrors.from_details(got)
    assert np.array_equal(a.index, b.index) and np.array_equal(a.atom_indices(), b.atom_indices())
    np.testing.assert_allclose(b.energy_error_ev_atom, a.energy_error_ev_atom, rtol=0, atol=ENERGY_QUANTUM_EV_ATOM)
    np.testing.assert_allclose(b.force_error_ev_a, a.force_error_ev_a, rtol=0, atol=FORCE_QUANTUM_EV_A * 1.0001)
    if a.stress_error_gpa is not None:
        np.testing.assert_allclose(b.stress_error_gpa, a.stress_error_gpa, rtol=1e-6, atol=STRESS_QUANTUM_GPA * 1.0001)


def _all(members):
    return [m for group in members.values() for m in group]


def test_dataset_errors_equal_per_member_evaluation(members):
    prop = DatasetErrors("si_mlearn_test", label="errors_mlearn_test")
    flat = _all(members)
    batched = batch_results(prop, flat)
    assert list(batched) == [m.key for m in flat]
    for member in flat:
        expected = prop.compute(_model_calculator(member))
        got = batched[member.key]
        # energies (meV/atom metrics) at 1e-8 eV/atom, forces at 1e-8 eV/Å, stresses at 1e-8 GPa
        assert_same_result(expected, got, value_tol=1e-5)  # the stored frame errors too
        assert not np.isnan(FrameErrors.from_details(got.details["frames"]).stress_error_gpa).any()
        assert np.isfinite(got.values["stress_rmse_gpa"])  # POD stresses too (exact virial rows)


@pytest.mark.parametrize(("dataset", "max_frames"), [("si_vacancy_re_test", 12), ("si_interstitial_re_test", 3)])
def test_rare_event_forces_equal_per_member_evaluation(members, dataset, max_frames):
    prop = RareEventForces(f"re_{dataset}", dataset=dataset, max_frames=max_frames)
    flat = [members["snap"][0], members["snap"][1], members["qsnap"][0], members["pod"][0], members["pod"][1]]
    batched = batch_results(prop, flat)
    for member in flat:
        expected = prop.compute(_model_calculator(member))
        assert_same_result(expected, batched[member.key])


def _model_calculator(member: LinearMember):
    from mlipscope.models.registry import load_model_calculator

    return load_model_calculator(member.model_dir)


def test_rows_are_cached_on_disk_and_reused(members, cache_dir, monkeypatch):
    prop = RareEventForces("re_v", dataset="si_vacancy_re_test", max_frames=12)
    first = batch_results(prop, members["snap"])
    assert list(cache_dir.glob("snap_rows_*.npz"))
    monkeypatch.setattr(linear_batch, "_compute_rows", lambda *a, **k: pytest.fail("rows recomputed"))
    again = batch_results(prop, members["snap"][::-1])  # another process would find the same files
    for key, result in first.items():  # the same up to the round-off of another member order in the product
        assert_same_result(result, again[key], value_tol=1e-12)


def test_rows_files_round_trip_and_a_mismatched_pair_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    rows = linear_batch.DatasetRows(
        energy=rng.normal(size=(3, 4)),
        forces=rng.normal(size=(9, 4)),
        offsets=np.array([0, 3, 6, 9]),
        virial=np.full((3, 6, 4), np.nan),
        failed=np.array(["", "RuntimeError: no rows", ""]),
    )
    path = tmp_path / "snap_rows_key.npz"
    rows.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap_rows_key.forces.npy", "snap_rows_key.npz"]
    back = linear_batch.DatasetRows.load(path)
    assert isinstance(back.forces, np.memmap)  # mapped, not read
    for name in ("energy", "forces", "offsets", "virial", "failed"):
        np.testing.assert_array_equal(getattr(back, name), getattr(rows, name))
    np.save(tmp_path / "snap_rows_key.forces.npy", rows.forces[:6])  # rows of other frames: recomputed, not used
    with pytest.raises(ValueError, match="do not fit"):
        linear_batch.DatasetRows.load(path)


def test_members_in_blocks_give_the_same_results(members, monkeypatch):
    """Members are predicted and reduced a block at a time (bounded memory): one member per block changes nothing
    but the round-off of the product."""
    prop = DatasetErrors("si_mlearn_test", label="errors_mlearn_test")
    flat = _all(members)
    whole = batch_results(prop, flat)
    monkeypatch.setattr(linear_batch, "BLOCK_ELEMENTS", 1)
    for key, result in batch_results(prop, flat).items():
        assert_same_result(whole[key], result, value_tol=1e-10)


def test_group_keys_follow_descriptor_settings_only(members):
    snap = members["snap"]
    assert len({m.group_key for m in snap}) == 1  # different regression settings and training sets
    assert members["qsnap"][0].group_key != snap[0].group_key
    assert len({m.group_key for m in members["pod"]}) == 1
    hp = dict(snap[0].hyperparameters)
    for change in ({"rcutfac": 4.7}, {"twojmax": 6}, {"rfac0": 0.97}):
        assert descriptor_group_key("snap", {**hp, **change}, ["Si"]) != snap[0].group_key
    assert descriptor_group_key("snap", {**hp, "ridge": 1.0, "energy_weight": 3.0}, ["Si"]) == snap[0].group_key
    assert descriptor_group_key("snap", hp, ["Ge"]) != snap[0].group_key
    pod = dict(members["pod"][0].hyperparameters)
    assert descriptor_group_key("pod", {**pod, "rcut": 5.0}, ["Si"]) != members["pod"][0].group_key
    assert descriptor_group_key("pod", {**pod, "energy_weight": 1.0}, ["Si"]) == members["pod"][0].group_key
    assert descriptor_group_key("pod", pod, ["Si"]) != descriptor_group_key("snap", hp, ["Si"])


def test_is_batchable():
    assert is_batchable(DatasetErrors("si_mlearn_test"), "snap")
    assert is_batchable(RareEventForces(dataset="si_vacancy_re_test"), "pod")
    assert not is_batchable(DatasetErrors("si_mlearn_test"), "mace")
    assert not is_batchable(EquationOfState(), "snap")


def test_a_failing_member_gets_its_exception_and_the_others_their_results(members):
    prop = DatasetErrors("si_mlearn_test")
    good = members["snap"][0]
    bad = replace(good, key="bad", beta=np.full_like(good.beta, np.nan))
    out = batch_results(prop, [bad, good])
    assert isinstance(out["bad"], EvaluationError) and "failed on all" in str(out["bad"])
    assert out[good.key].values["failed_frame_fraction"] == 0.0


def test_an_error_of_compute_is_the_batched_error(members):
    """The first three vacancy RE frames hold no RE atom: compute raises, the batch returns the same error."""
    prop = RareEventForces("re_v", dataset="si_vacancy_re_test", max_frames=3)
    member = members["snap"][0]
    with pytest.raises(ValueError) as raised:
        prop.compute(_model_calculator(member))
    got = batch_results(prop, [member])[member.key]
    assert type(got) is ValueError and str(got) == str(raised.value)


def test_coefficients_read_back_as_written(tmp_path):
    """Two elements: the rows layout (reference energies first, then one block per element) survives the files."""
    beta = np.random.default_rng(0).normal(size=2 + 2 * 14)
    SNAPFamily.write_files(
        tmp_path, ["In", "P"], {**SNAPFamily().hyperparameter_space().defaults(), "twojmax": 4}, beta
    )
    np.testing.assert_array_equal(SNAPFamily.read_coefficients(tmp_path), beta)
    PODFamily.write_coefficients(tmp_path / "model_coefficients.pod", beta)
    np.testing.assert_array_equal(PODFamily.read_coefficients(tmp_path), beta)
