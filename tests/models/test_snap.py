"""SNAP / qSNAP family: conformance, consistency of the fitted files with the linear fit, accuracy on mlearn Si."""

from __future__ import annotations

import numpy as np
import pytest

from mlipscope.data.dataset import ENERGY_KEY, FORCES_KEY, STRESS_KEY
from mlipscope.data.examples import load_example
from mlipscope.errors import InputError
from mlipscope.models.descriptors import DescriptorCache, process_cache
from mlipscope.models.snap import SNAPFamily, n_bispectrum
from mlipscope.testing import FamilyConformance, small_training_set
from mlipscope.units import EV_PER_A3_TO_GPA


class TestSNAPConformance(FamilyConformance):
    family_name = "snap"
    hyperparameters = {"twojmax": 4, "quadratic": False, "rcutfac": 4.7}
    n_train_frames = 25


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MLIPSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def rmse_with_calculator(calc, dataset) -> dict[str, float]:
    de, df, ds = [], [], []
    for frame in dataset:
        atoms = frame.copy()
        atoms.calc = calc
        de.append((atoms.get_potential_energy() - frame.info[ENERGY_KEY]) / len(atoms))
        df.append((atoms.get_forces() - frame.arrays[FORCES_KEY]).ravel())
        if STRESS_KEY in frame.info:
            ds.append((atoms.get_stress() - frame.info[STRESS_KEY]) * EV_PER_A3_TO_GPA)
    return {
        "train_energy_rmse_ev_per_atom": float(np.sqrt(np.mean(np.square(de)))),
        "train_force_rmse_ev_a": float(np.sqrt(np.mean(np.concatenate(df) ** 2))),
        "train_stress_rmse_gpa": float(np.sqrt(np.mean(np.square(ds)))),
    }


def test_bispectrum_count_matches_lammps_and_literature():
    # Thompson et al. (2015): 2J_max = 6 -> 30, 8 -> 55 bispectrum components
    assert [n_bispectrum(t) for t in (4, 6, 8)] == [14, 30, 55]


@pytest.mark.parametrize("quadratic", [False, True])
def test_written_pair_style_reproduces_the_least_squares_fit(quadratic, cache_dir, tmp_path):
    """pair_style snap with the written files must give exactly the training errors the solver computed from the
    cached normal equations: checks force/virial signs, frame rotation, column layout and the qSNAP layout."""
    train = small_training_set(12, seed=1)
    family = SNAPFamily()
    hp = {"twojmax": 4, "quadratic": quadratic, "rcutfac": 4.6, "stress_weight": 1e-2}
    fitted = family.fit(train, hp, 0, tmp_path / "m")
    n_lin = n_bispectrum(4)
    expected_params = 1 + (n_lin + n_lin * (n_lin + 1) // 2 if quadratic else n_lin)
    assert family.linear_system(train, {**family.hyperparameter_space().defaults(), **hp}).n_params == (expected_params)
    direct = rmse_with_calculator(family.load_calculator(fitted.model_dir), train)
    for key, value in direct.items():
        assert fitted.metrics[key] == pytest.approx(value, rel=1e-6), key


def test_descriptors_computed_once_and_shared_through_disk(cache_dir, tmp_path):
    train = small_training_set(8, seed=2)
    family = SNAPFamily()
    base = {"twojmax": 4, "quadratic": False}
    family.fit(train, base, 0, tmp_path / "a")
    cache = process_cache()
    computed = cache.n_computed
    for i, weight in enumerate([1.0, 10.0, 1e3]):
        family.fit(train, {**base, "energy_weight": weight, "ridge": 1e-8}, 0, tmp_path / f"w{i}")
    assert cache.n_computed == computed  # reweighting never recomputes descriptors
    family.fit(train, {**base, "rcutfac": 5.0}, 0, tmp_path / "rc")
    assert cache.n_computed == computed + 1  # a descriptor hyperparameter does
    fresh = DescriptorCache(cache_dir)  # another process: finds the npz files
    key = family.descriptor_key(train.species, {**family.hyperparameter_space().defaults(), **base})
    system = fresh.get(train, key, lambda atoms: pytest.fail("recomputed despite the cache"), 1)
    assert system.n_params == 1 + n_bispectrum(4) and fresh.n_computed == 0


def test_bad_hyperparameters_are_input_errors(cache_dir, tmp_path):
    train = small_training_set(3)
    with pytest.raises(InputError, match="twojmax"):
        SNAPFamily().fit(train, {"twojmax": 5}, 0, tmp_path)
    with pytest.raises(InputError, match="hyperparameters"):
        SNAPFamily().fit(train, {"jmax": 6}, 0, tmp_path)


def test_linear_snap_accuracy_on_mlearn_si_test(cache_dir, tmp_path):
    """Linear SNAP 2J_max=6 on the 214 mlearn Si frames: held-out force RMSE < 0.2 eV/Å, energy < 15 meV/atom."""
    family = SNAPFamily()
    hp = {"twojmax": 6, "quadratic": False, "rcutfac": 4.5, "energy_weight": 10.0, "ridge": 1e-10}
    fitted = family.fit(load_example("si_mlearn_train"), hp, 0, tmp_path / "snap")
    errors = rmse_with_calculator(family.load_calculator(fitted.model_dir), load_example("si_mlearn_test"))
    assert errors["train_force_rmse_ev_a"] < 0.20
    assert errors["train_energy_rmse_ev_per_atom"] < 0.015


@pytest.mark.slow
def test_qsnap_default_accuracy_on_mlearn_si_test(cache_dir, tmp_path):
    """Default qSNAP (2J_max=6, quadratic): held-out force RMSE < 0.15 eV/Å and energy < 10 meV/atom
    (Zuo et al. 2020 report qSNAP Si force errors of the same size on this test set)."""
    family = SNAPFamily()
    fitted = family.fit(load_example("si_mlearn_train"), {}, 0, tmp_path / "qsnap")
    errors = rmse_with_calculator(family.load_calculator(fitted.model_dir), load_example("si_mlearn_test"))
    assert errors["train_force_rmse_ev_a"] < 0.15
    assert errors["train_energy_rmse_ev_per_atom"] < 0.010
