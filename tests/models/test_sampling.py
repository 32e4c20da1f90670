"""Samplers over declared spaces, ensemble plans, and recording of failed fits."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.build import bulk

from mlipscope.data.dataset import ENERGY_KEY, FORCES_KEY, Dataset
from mlipscope.errors import InputError
from mlipscope.models.base import Hyperparameter, HyperparameterSpace
from mlipscope.models.sampling import (
    METHODS,
    MemberSpec,
    ensemble_plan,
    fit_member,
    sample,
    sample_two_level,
    unit_points,
)

SPACE = HyperparameterSpace(
    (
        Hyperparameter("a", "linear", 0.5, low=0.0, high=1.0),
        Hyperparameter("b", "log", 1e-3, low=1e-6, high=1.0),
        Hyperparameter("c", "int", 3, low=1, high=8),
        Hyperparameter("d", "categorical", "x", choices=("x", "y")),
    )
)


@pytest.mark.parametrize("method", ["lhs", "sobol"])
def test_space_filling_samplers_are_stratified(method):
    # LHS and base-2 scrambled Sobol put exactly one of 16 points in each of 16 equal bins of every coordinate
    points = unit_points(3, 16, method, seed=11)
    for column in points.T:
        assert sorted(np.floor(column * 16).astype(int)) == list(range(16))


def test_random_sampler_is_not_stratified_and_seeded():
    points = unit_points(3, 16, "random", seed=11)
    assert any(len(set(np.floor(c * 16).astype(int))) < 16 for c in points.T)
    np.testing.assert_array_equal(points, unit_points(3, 16, "random", seed=11))
    assert not np.array_equal(points, unit_points(3, 16, "random", seed=12))


@pytest.mark.parametrize("method", METHODS)
def test_samples_respect_scales(method):
    points = sample(SPACE, 64, method, seed=5)
    a = np.array([p["a"] for p in points])
    b = np.array([p["b"] for p in points])
    assert a.min() >= 0 and a.max() <= 1
    assert b.min() >= 1e-6 and b.max() <= 1
    # log scale: the median of log10(b) sits near the middle of [-6, 0], not near the top as on a linear scale
    assert -4.5 < np.median(np.log10(b)) < -1.5
    assert {p["c"] for p in points} == set(range(1, 9))
    assert {p["d"] for p in points} == {"x", "y"}


def test_bad_method_is_input_error():
    with pytest.raises(InputError, match="method"):
        sample(SPACE, 4, "grid", seed=0)


def test_ensemble_plan_order_repair_and_ids():
    plan = ensemble_plan("pod", 8, ["train_a", "train_b"], [0, 1], method="sobol", seed=3)
    assert len(plan) == 8 * 2 * 2
    assert [m.index for m in plan] == list(range(len(plan)))
    assert plan == ensemble_plan("pod", 8, ["train_a", "train_b"], [0, 1], method="sobol", seed=3)
    # hyperparameter point outermost, then training set, then seed
    assert [(m.training_set, m.seed) for m in plan[:4]] == [
        ("train_a", 0),
        ("train_a", 1),
        ("train_b", 0),
        ("train_b", 1),
    ]
    assert all(m.hyperparameters == plan[0].hyperparameters for m in plan[:4])
    assert len({m.member_id for m in plan}) == len(plan)
    for m in plan:  # POD repair: body orders never use more basis functions than the order below
        hp = m.hyperparameters
        assert hp["threebody_number_radial_basis_functions"] <= hp["twobody_number_radial_basis_functions"]
        assert hp["fourbody_angular_degree"] <= hp["threebody_angular_degree"]
    with pytest.raises(InputError, match="training_sets"):
        ensemble_plan("snap", 2, [], [0])


def test_failed_fit_is_recorded_with_reason(tmp_path, monkeypatch):
    """A perfect diamond cell has zero force rows and one energy row: with no ridge the normal equations are
    singular; the failure must come back as a record, not an exception."""
    monkeypatch.setenv("MLIPSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    atoms = bulk("Si", "diamond", a=5.43)
    atoms.info[ENERGY_KEY] = -10.85
    atoms.arrays[FORCES_KEY] = np.zeros((2, 3))
    member = MemberSpec("snap", {"twojmax": 4, "quadratic": False, "ridge": 0.0}, "diamond", 0)
    record = fit_member(member, Dataset([atoms], name="diamond"), tmp_path)
    assert not record.ok and record.model_dir is None
    assert "FitError" in record.reason and "singular" in record.reason
    assert record.to_dict()["member_id"] == member.member_id
    ok = fit_member(
        MemberSpec("snap", {"twojmax": 4, "quadratic": False, "ridge": 1e-6}, "diamond", 0),
        Dataset([atoms], name="diamond"),
        tmp_path,
    )
    assert ok.ok and (ok.model_dir / "model.json").is_file()


def test_two_level_sample_shares_descriptor_points():
    points = sample_two_level(SPACE, ("a", "d"), 4, 8, "sobol", seed=2)
    assert len(points) == 32
    assert all(list(p) == SPACE.names for p in points)  # the space's key order
    blocks = [points[i : i + 8] for i in range(0, 32, 8)]
    for block in blocks:  # one descriptor point per block, regression points varying within it
        assert len({(p["a"], p["d"]) for p in block}) == 1
        assert len({p["b"] for p in block}) == 8
    assert len({(b[0]["a"], b[0]["d"]) for b in blocks}) == 4
    # each block's regression points are a space-filling design of their own (base-2 Sobol: one per bin)
    for block in blocks:
        assert sorted(np.floor(np.log(np.array([p["b"] for p in block]) / 1e-6) / np.log(1e6) * 8).astype(int)) == (
            list(range(8))
        )
    assert points == sample_two_level(SPACE, ("a", "d"), 4, 8, "sobol", seed=2)
    assert points != sample_two_level(SPACE, ("a", "d"), 4, 8, "sobol", seed=3)
    with pytest.raises(InputError, match="descriptor_names"):
        sample_two_level(SPACE, ("nope",), 2, 2)


def test_families_declare_their_descriptor_hyperparameters():
    from mlipscope.models.registry import get_family

    snap, pod = get_family("snap"), get_family("pod")
    assert set(snap.descriptor_hyperparameters()) == {"twojmax", "rcutfac", "rfac0", "quadratic"}
    assert set(pod.descriptor_hyperparameters()) == set(pod.hyperparameter_space().names) - {"energy_weight", "ridge"}
    defaults = snap.hyperparameter_space().defaults()
    key = snap.descriptor_key(["Si"], defaults)
    for name in snap.hyperparameter_space().names:  # exactly the names the descriptor key depends on
        p = next(q for q in snap.hyperparameter_space().parameters if q.name == name)
        other = p.from_unit(0.0) if p.from_unit(0.0) != defaults[name] else p.from_unit(0.99)
        changed = snap.descriptor_key(["Si"], {**defaults, name: other}) != key
        assert changed == (name in snap.descriptor_hyperparameters()), name
    assert get_family("gap").descriptor_hyperparameters() == ()


@pytest.mark.parametrize("family", ["snap", "pod"])
def test_ensemble_plan_with_descriptor_points(family):
    from mlipscope.models.linear_batch import descriptor_group_key
    from mlipscope.models.registry import get_family

    plan = ensemble_plan(family, 12, ["train_a"], [0], method="sobol", seed=1, descriptor_points=3)
    names = get_family(family).descriptor_hyperparameters()
    groups = [descriptor_group_key(family, m.hyperparameters, ["Si"]) for m in plan]
    assert len(set(groups)) <= 3 and len(plan) == 12  # POD repair may merge descriptor points, never split them
    assert groups == sorted(groups, key=groups.index)  # members of a descriptor setting are adjacent
    regression = {json.dumps({k: v for k, v in m.hyperparameters.items() if k not in names}) for m in plan}
    assert len(regression) == 12  # every member its own regression point
    assert plan == ensemble_plan(family, 12, ["train_a"], [0], method="sobol", seed=1, descriptor_points=3)
    one_level = ensemble_plan(family, 12, ["train_a"], [0], method="sobol", seed=1)
    assert len({descriptor_group_key(family, m.hyperparameters, ["Si"]) for m in one_level}) > 3


def test_descriptor_points_are_checked():
    with pytest.raises(InputError, match="divisor of n = 10"):
        ensemble_plan("snap", 10, ["t"], [0], descriptor_points=3)
    with pytest.raises(InputError, match="positive integer"):
        ensemble_plan("snap", 10, ["t"], [0], descriptor_points=0)
    with pytest.raises(InputError, match="descriptor hyperparameters"):
        ensemble_plan("gap", 4, ["t"], [0], descriptor_points=2)


def test_narrowed_space_samples_inside_the_given_ranges_only():
    narrow = SPACE.narrowed({"a": [0.25, 0.5], "c": [2, 3], "d": ["y"]})
    points = sample(narrow, 64, "sobol", seed=2)
    a = np.array([p["a"] for p in points])
    assert a.min() >= 0.25 and a.max() <= 0.5 and np.ptp(a) > 0.2  # fills the range, never leaves it
    assert {p["c"] for p in points} == {2, 3} and {p["d"] for p in points} == {"y"}
    assert [p["b"] for p in points] == [p["b"] for p in sample(SPACE, 64, "sobol", seed=2)]  # the rest unchanged


@pytest.mark.parametrize(
    "ranges, field",
    [
        ({"a": [0.5, 1.5]}, "ranges.a"),  # beyond the declared bound
        ({"a": [0.6, 0.4]}, "ranges.a"),  # low above high
        ({"c": [1.5, 3]}, "ranges.c"),  # not an integer
        ({"d": ["z"]}, "ranges.d"),  # not a choice
        ({"d": []}, "ranges.d"),
        ({"e": [0, 1]}, "ranges.e"),  # no such hyperparameter
    ],
)
def test_narrowed_space_refuses_ranges_outside_the_family_space(ranges, field):
    with pytest.raises(InputError) as info:
        SPACE.narrowed(ranges)
    assert info.value.field == field


def test_ensemble_plan_with_ranges():
    plan = ensemble_plan("mtp", 8, ["t"], [0], ranges={"min_dist_a": [1.5, 1.9], "level": [6, 8]})
    assert {m.hyperparameters["level"] for m in plan} == {6, 8}
    assert all(1.5 <= m.hyperparameters["min_dist_a"] <= 1.9 for m in plan)
