"""MACE (mace-torch, CPU, float64): conformance, training CLI arguments, accuracy on mlearn Si.

Measured for the tiny model below (8 channels, L=0, correlation 2, 2 interactions, r_max 4.5 Å, 20 epochs of batch 1
on 12 training frames, seed 7) on every other frame of the mlearn Si test set: energy RMSE 0.062 eV/atom, force RMSE
0.42 eV/Å = 0.46 x the DFT force RMS (0.91 eV/Å, what a zero-force model scores). Fit ≈ 21 s on an idle 2-core
machine, up to ~2 min when it is loaded.
"""

from __future__ import annotations

import pytest

pytest.importorskip("mace", reason="MACE tests need mace-torch (pip install torch==2.13.0, then 'mlipscope[mace]')")

from mlipscope.data.examples import load_example  # noqa: E402
from mlipscope.errors import InputError  # noqa: E402
from mlipscope.models.mace import MODEL_FILE, MACEFamily, training_command  # noqa: E402
from mlipscope.models.worker import WorkerError  # noqa: E402
from mlipscope.testing import FamilyConformance, probe_structure

try:
    from .test_ace import held_out_errors
except ImportError:  # tests/models is not a package: pytest puts this directory on sys.path
    from test_ace import held_out_errors

TINY = {
    "num_channels": 8,
    "max_L": 0,
    "max_num_epochs": 20,
    "batch_size": 1,
    "r_max_a": 4.5,
    "lr": 0.01,
    "energy_weight": 10.0,
    "valid_fraction": 0.2,
}
#: bounds on the held-out errors (measured values in the module docstring, with margin)
HELD_OUT_BOUNDS = {"energy_rmse_ev_per_atom": 0.12, "force_rmse_fraction_of_dft_rms": 0.7}


@pytest.mark.slow
class TestMACEConformance(FamilyConformance):
    family_name = "mace"
    hyperparameters = TINY
    n_train_frames = 12

    def test_held_out_accuracy(self, calc):
        test = load_example("si_mlearn_test")
        errors = held_out_errors(calc, test.select(list(range(0, len(test), 2))))
        print(f"MACE held-out errors: {errors}")
        assert errors["energy_rmse_ev_per_atom"] < HELD_OUT_BOUNDS["energy_rmse_ev_per_atom"]
        bound = HELD_OUT_BOUNDS["force_rmse_fraction_of_dft_rms"] * errors["dft_force_rms_ev_a"]
        assert errors["force_rmse_ev_a"] < bound  # a zero-force model scores 1.0 x the DFT RMS

    def test_mace_spec_loads_the_model_file(self, fitted, calc):
        """``mace:<file>`` (how a downloaded foundation checkpoint is named) gives the family's numbers."""

        from mlipscope.calculators import make_calculator

        by_spec, by_family = probe_structure(), probe_structure()
        by_spec.calc = make_calculator(f"mace:{fitted.model_dir / MODEL_FILE}")
        by_family.calc = calc
        assert by_spec.get_potential_energy() == pytest.approx(by_family.get_potential_energy(), abs=1e-8)

    def test_training_log_and_no_checkpoints_kept(self, fitted):
        train_dir = fitted.model_dir / "mace_train"
        log = (train_dir / "run_train.log").read_text()
        assert "Started training" in log and "Done" in log
        assert not (train_dir / "checkpoints").exists()
        assert (fitted.model_dir / MODEL_FILE).is_file()


def test_training_command_carries_hyperparameters_and_seed(tmp_path):
    hp = {**MACEFamily().hyperparameter_space().defaults(), "num_channels": 12, "max_L": 1, "r_max_a": 4.75}
    command = training_command(hp, 3, "train.extxyz", tmp_path)
    args = dict(a[2:].split("=", 1) for a in command[3:])
    assert command[1:3] == ["-m", "mace.cli.run_train"]
    assert args["num_channels"] == "12" and args["max_L"] == "1" and args["r_max"] == "4.75"
    assert args["seed"] == "3" and args["device"] == "cpu" and args["default_dtype"] == "float64"
    assert args["E0s"] == "average" and args["energy_key"] == "mlipscope_energy"


def test_training_failure_is_reported_with_log(tmp_path, monkeypatch):
    """A crash of the training code (here: an unknown model class) becomes a WorkerError holding the tail of
    MACE's log, not a crash of the caller."""
    import mlipscope.models.mace as mace_module

    original = mace_module.training_command
    monkeypatch.setattr(mace_module, "training_command", lambda *a: [*original(*a), "--model=NoSuchModel"])
    train = load_example("si_mlearn_train").subsample(3, 0)
    with pytest.raises(WorkerError, match="MACE training failed") as info:
        MACEFamily().fit(train, {"max_num_epochs": 5, "valid_fraction": 0.3}, 0, tmp_path / "model")
    assert "NoSuchModel" in info.value.log_tail


def test_bad_input_is_an_input_error(tmp_path):
    family = MACEFamily()
    with pytest.raises(InputError, match="at least 2 frames"):
        family.fit(load_example("si_mlearn_train").subsample(1, 0), {}, 0, tmp_path / "m")
    with pytest.raises(InputError, match="num_channels"):
        family.fit(load_example("si_mlearn_train").subsample(3, 0), {"num_channels": -4}, 0, tmp_path / "m")
    (tmp_path / "model.json").write_text('{"family": "mace"}')
    with pytest.raises(InputError, match=MODEL_FILE):
        family.load_calculator(tmp_path)
