"""NNP (Behler–Parrinello via torchani, CPU, float64): conformance, stress, mlearn Si accuracy, bad input, divergence.

Measured for the tiny model below (TINY: 12 AEV radial + 6x4 angular functions, one hidden layer of 16, 30 epochs of
batch 2 on 12 training frames, seed 7) on every other frame of the mlearn Si test set: energy RMSE 0.072 eV/atom,
force RMSE 0.36 eV/Å = 0.40 x the DFT force RMS (0.91 eV/Å, what a zero-force model scores). Fit ≈ 10-17 s and the
whole module ≈ 40 s on a loaded 2-core machine (two fits: the class model and the same-seed refit).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torchani", reason="NNP tests need torchani (pip install 'mlipscope[nnp]')")

from ase.calculators.fd import calculate_numerical_stress  # noqa: E402

from mlipscope.data.examples import load_example  # noqa: E402
from mlipscope.errors import FitError, InputError  # noqa: E402
from mlipscope.models import nnp_train  # noqa: E402
from mlipscope.models.nnp import CONFIG_FILE, LOG_FILE, STATE_FILE, NNPFamily  # noqa: E402
from mlipscope.testing import FamilyConformance, probe_structure

try:
    from .test_ace import held_out_errors
except ImportError:  # tests/models is not a package: pytest puts this directory on sys.path
    from test_ace import held_out_errors

TINY = {
    "radial_cutoff_a": 5.0,
    "radial_shifts": 12,
    "angular_shifts": 6,
    "hidden_width": 16,
    "hidden_layers": 1,
    "epochs": 30,
    "batch_size": 2,
    "lr": 0.01,
    "energy_weight": 10.0,
}
#: bounds on the held-out errors (measured values in the module docstring, with margin)
HELD_OUT_BOUNDS = {"energy_rmse_ev_per_atom": 0.15, "force_rmse_fraction_of_dft_rms": 0.7}


@pytest.mark.slow
class TestNNPConformance(FamilyConformance):
    family_name = "nnp"
    hyperparameters = TINY
    n_train_frames = 12

    def test_held_out_accuracy(self, calc):
        test = load_example("si_mlearn_test")
        errors = held_out_errors(calc, test.select(list(range(0, len(test), 2))))
        print(f"NNP held-out errors: {errors}")
        assert errors["energy_rmse_ev_per_atom"] < HELD_OUT_BOUNDS["energy_rmse_ev_per_atom"]
        bound = HELD_OUT_BOUNDS["force_rmse_fraction_of_dft_rms"] * errors["dft_force_rms_ev_a"]
        assert errors["force_rmse_ev_a"] < bound  # a zero-force model scores 1.0 x the DFT RMS

    def test_stress_is_minus_strain_derivative(self, calc):
        """torchani's strain-derivative stress equals ASE's finite-difference stress (the EOS/elastic suite)."""
        atoms = probe_structure()
        atoms.calc = calc
        stress = atoms.get_stress()
        numeric = calculate_numerical_stress(atoms, eps=1e-5)
        np.testing.assert_allclose(stress, numeric, atol=1e-6)
        assert np.abs(stress).max() > 1e-4  # not vacuous (eV/Å³; 1e-4 ≈ 16 MPa)

    def test_model_files_and_log(self, fitted):
        for name in (STATE_FILE, CONFIG_FILE, LOG_FILE):
            assert (fitted.model_dir / name).is_file()
        log = (fitted.model_dir / LOG_FILE).read_text()
        assert f"epoch {TINY['epochs']}/{TINY['epochs']}" in log


def test_default_aev_is_ani2x_like():
    """At the default cutoffs and shift counts the AEV widths are ANI-2x's; they follow the spacing otherwise."""
    family = NNPFamily()
    config = nnp_train.model_config(family.hyperparameter_space().defaults(), ["Si"], [-5.0])
    assert config["radial_eta"] == pytest.approx(19.7)
    assert config["angular_eta"] == pytest.approx(12.5)
    assert config["angular_zeta"] == pytest.approx(14.1)
    half = nnp_train.model_config({**family.hyperparameter_space().defaults(), "radial_shifts": 8}, ["Si"], [-5.0])
    assert half["radial_eta"] == pytest.approx(19.7 / 4)
    model = nnp_train.build_model(config)
    assert model.aev_computer.out_dim == 16 + 8 * 4
    assert model.symbols == ("Si",)


def test_self_energies_are_least_squares():
    train = load_example("si_mlearn_train").subsample(10, 0)
    (e_si,) = nnp_train.least_squares_self_energies(train.frames, ["Si"])
    counts = np.array([len(a) for a in train])
    assert e_si == pytest.approx(np.sum(counts * train.energies_ev()) / np.sum(counts**2), rel=1e-12)


def test_bad_input_is_an_input_error(tmp_path):
    family = NNPFamily()
    train = load_example("si_mlearn_train").subsample(2, 0)
    with pytest.raises(InputError, match="hidden_width"):
        family.fit(train, {"hidden_width": -4}, 0, tmp_path / "m")
    with pytest.raises(InputError, match="activation"):
        family.fit(train, {"activation": "relu"}, 0, tmp_path / "m")
    with pytest.raises(InputError, match="angular_cutoff_a"):
        family.fit(train, {"radial_cutoff_a": 4.5, "angular_cutoff_a": 4.5}, 0, tmp_path / "m")
    (tmp_path / "model.json").write_text('{"family": "nnp"}')
    with pytest.raises(InputError, match=CONFIG_FILE):
        family.load_calculator(tmp_path)
    (tmp_path / CONFIG_FILE).write_text("{}")
    with pytest.raises(InputError, match=STATE_FILE):
        family.load_calculator(tmp_path)
    (tmp_path / "model.json").write_text('{"family": "mace"}')
    with pytest.raises(InputError, match="'nnp'"):
        family.load_calculator(tmp_path)


def test_divergence_is_a_fit_error(tmp_path, monkeypatch):
    """A NaN loss stops the fit with a FitError naming the epoch (the runner records a failed fit)."""
    original = nnp_train.batch_energies_forces

    def poisoned(model, frames, dtype, create_graph):
        energies, forces = original(model, frames, dtype, create_graph)
        return energies * float("nan"), forces

    monkeypatch.setattr(nnp_train, "batch_energies_forces", poisoned)
    train = load_example("si_mlearn_train").subsample(2, 0)
    hp = {"epochs": 5, "hidden_width": 8, "radial_shifts": 8, "angular_shifts": 4}
    with pytest.raises(FitError, match="NNP training diverged at epoch 1: loss nan"):
        NNPFamily().fit(train, hp, 0, tmp_path / "model")
    assert "epoch" not in (tmp_path / "model" / LOG_FILE).read_text()  # no epoch completed
    assert not (tmp_path / "model" / STATE_FILE).exists()


def test_missing_torchani_is_explained(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchani" else real(name, *a))
    ok, why = NNPFamily().available()
    assert not ok and "pip install 'mlipscope[nnp]'" in why
