"""DeePMD (DeePMD-kit 3.2, PyTorch backend, se_e2_a, isolated environment): conformance, input.json, failures.

The fit tests need the isolated ``deepmd`` environment (``python -m mlipscope.models.environments deepmd``) and are
skipped with that instruction when it is missing. Measured for the tiny model below (embedding [4, 8, 16], axis 4,
fitting net [16], 300 steps, 16 training frames, seed 7) on every other frame of the mlearn Si test set:
force RMSE 0.47 eV/Å = 0.51 x the DFT force RMS (0.91 eV/Å, what a zero-force model scores), energy RMSE
0.42 eV/atom (300 steps with DeePMD's force-first loss schedule barely fit energies). Every DeePMD process pays
~10-20 s of torch/DeePMD import on a loaded 2-core machine (training itself ~0.05 s/step at one thread); the
conformance class took ~6 min there (two fits, then four calculator children, before the frozen model ran in this
process: :mod:`test_deepmd_torchscript`).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from mlipscope.data.dataset import FORCES_KEY, STRESS_KEY, Dataset
from mlipscope.data.examples import load_example
from mlipscope.errors import InputError
from mlipscope.models.deepmd import MODEL_FILE, DeePMDFamily, deepmd_input, write_systems
from mlipscope.models.environments import check_environment
from mlipscope.models.worker import WorkerError
from mlipscope.testing import FamilyConformance

try:
    from .test_ace import held_out_errors
except ImportError:  # tests/models is not a package: pytest puts this directory on sys.path
    from test_ace import held_out_errors

TINY = {
    "embedding_width": 4,
    "axis_neuron": 4,
    "fitting_width": 16,
    "fitting_layers": 1,
    "numb_steps": 300,
    "decay_steps": 30,
}
#: bound on the held-out force RMSE as a fraction of the DFT force RMS (measured value in the docstring)
FORCE_RMSE_FRACTION_BOUND = 0.7


@pytest.mark.slow
class TestDeePMDConformance(FamilyConformance):
    family_name = "deepmd"
    hyperparameters = TINY
    n_train_frames = 16

    def test_held_out_accuracy(self, calc):
        test = load_example("si_mlearn_test")
        every_other = Dataset([test[i] for i in range(0, len(test), 2)], name="si_mlearn_test[::2]")
        errors = held_out_errors(calc, every_other)
        print(f"DeePMD held-out errors: {errors}")
        assert errors["force_rmse_ev_a"] < FORCE_RMSE_FRACTION_BOUND * errors["dft_force_rms_ev_a"]
        assert errors["energy_rmse_ev_per_atom"] < 0.6

    def test_model_dir_keeps_log_and_frozen_model(self, fitted):
        meta = json.loads((fitted.model_dir / "model.json").read_text())
        assert meta["species"] == ["Si"] and meta["model_files"] == [MODEL_FILE]
        assert meta["fit_environment_versions"]["deepmd-kit"] == "3.2.0"
        log = (fitted.model_dir / "deepmd" / "dp_train.log").read_text()
        assert "Saved frozen model to" in log
        assert not (fitted.model_dir / "deepmd" / "systems").exists()  # training data is not copied along

    def test_no_lammps_pair_style(self, family, fitted):
        assert family.lammps_commands(fitted.model_dir) is None


def test_input_json_holds_hyperparameters_and_seed():
    hp = {**DeePMDFamily().hyperparameter_space().defaults(), "rcut": 5.5, "rcut_smth": 2.0, "sel": 70}
    hp.update(embedding_width=6, axis_neuron=5, fitting_width=40, fitting_layers=3, numb_steps=400)
    hp.update(start_lr=2e-3, stop_lr=1e-6, decay_steps=1000, start_pref_f=500.0, limit_pref_e=2.0)
    config = deepmd_input(hp, ["Si"], 11, ["systems/a", "systems/b"])
    descriptor = config["model"]["descriptor"]
    assert descriptor == {
        "type": "se_e2_a",
        "sel": [70],
        "rcut": 5.5,
        "rcut_smth": 2.0,
        "neuron": [6, 12, 24],
        "resnet_dt": False,
        "precision": "float64",
        "seed": 11,
        "axis_neuron": 5,
        "type_one_side": True,
    }
    assert config["model"]["type_map"] == ["Si"]
    assert config["model"]["fitting_net"]["neuron"] == [40, 40, 40]
    assert config["model"]["fitting_net"]["seed"] == 12
    assert config["training"]["seed"] == 13 and config["training"]["numb_steps"] == 400
    assert config["training"]["training_data"]["systems"] == ["systems/a", "systems/b"]
    assert config["learning_rate"] == {"type": "exp", "start_lr": 2e-3, "stop_lr": 1e-6, "decay_steps": 400}
    assert config["loss"]["start_pref_f"] == 500.0 and config["loss"]["limit_pref_e"] == 2.0
    assert config["loss"]["start_pref_v"] == hp["start_pref_v"]
    no_virial = deepmd_input({**hp, "train_virial": False, "descriptor": "se_e3"}, ["Si"], 0, ["s"])
    assert no_virial["loss"]["start_pref_v"] == no_virial["loss"]["limit_pref_v"] == 0.0
    assert "axis_neuron" not in no_virial["model"]["descriptor"]


def test_systems_group_frames_and_convert_units(tmp_path):
    train = load_example("si_mlearn_train")
    frames = [train[i] for i in range(len(train)) if len(train[i]) in (63, 64)][:5]
    paths = write_systems(Dataset(frames, name="x"), tmp_path / "systems", ["Si"])
    total = 0
    for path in paths:
        set_dir = tmp_path / path / "set.000"
        energy = np.load(set_dir / "energy.npy")
        natoms = len((tmp_path / path / "type.raw").read_text().split())
        assert np.load(set_dir / "coord.npy").shape == (len(energy), 3 * natoms)
        total += len(energy)
    assert total == len(frames)
    first = frames[0]
    set_dir = tmp_path / paths[[len(first) == 63, len(first) == 64].index(True)] / "set.000"
    idx = [i for i, a in enumerate(frames) if len(a) == len(first)].index(0)
    virial = np.load(set_dir / "virial.npy")[idx].reshape(3, 3)
    xx, yy, zz, yz, xz, xy = first.info[STRESS_KEY]
    assert virial[0, 0] == pytest.approx(-xx * first.get_volume())
    assert virial[1, 2] == pytest.approx(-yz * first.get_volume())
    np.testing.assert_allclose(np.load(set_dir / "force.npy")[idx], first.arrays[FORCES_KEY].ravel())


def test_bad_hyperparameters_are_input_errors(tmp_path):
    family = DeePMDFamily()
    train = load_example("si_mlearn_train").subsample(2, 0)
    with pytest.raises(InputError, match="rcut_smth"):
        family.fit(train, {"rcut": 4.0, "rcut_smth": 3.8}, 0, tmp_path / "m")
    with pytest.raises(InputError, match="stop_lr"):
        family.fit(train, {"start_lr": 1e-3, "stop_lr": 5e-3}, 0, tmp_path / "m")
    with pytest.raises(InputError, match="descriptor"):
        family.fit(train, {"descriptor": "se_atten"}, 0, tmp_path / "m")
    with pytest.raises(InputError, match="numb_steps"):
        family.fit(train, {"numb_steps": 0}, 0, tmp_path / "m")
    defaults = family.hyperparameter_space().defaults()
    repaired = family.repair_hyperparameters({**defaults, "rcut": 4.0, "rcut_smth": 3.9})
    assert repaired["rcut_smth"] == pytest.approx(3.5)


def test_load_calculator_needs_the_model(tmp_path):
    (tmp_path / "model.json").write_text('{"family": "deepmd"}')
    with pytest.raises(InputError, match=MODEL_FILE):
        DeePMDFamily().load_calculator(tmp_path)
    (tmp_path / "model.json").write_text('{"family": "mace"}')
    with pytest.raises(InputError, match="'deepmd'"):
        DeePMDFamily().load_calculator(tmp_path)


def test_missing_environment_is_explained(monkeypatch, tmp_path):
    monkeypatch.setenv("MLIPSCOPE_DEEPMD_PYTHON", str(tmp_path / "nowhere" / "python"))
    ok, why = DeePMDFamily().available()
    assert not ok and "python -m mlipscope.models.environments deepmd" in why and "MLIPSCOPE_DEEPMD_PYTHON" in why
    with pytest.raises(WorkerError, match="python -m mlipscope.models.environments deepmd"):
        DeePMDFamily().fit(load_example("si_mlearn_train").subsample(2, 0), {}, 0, tmp_path / "model")


def test_environment_without_deepmd_fails_with_the_log_tail(monkeypatch, tmp_path):
    """An interpreter without deepmd-kit: the fit is a WorkerError carrying the tail of DeePMD's training log."""
    import importlib.util

    if importlib.util.find_spec("deepmd") is not None:
        pytest.skip("this interpreter has deepmd-kit")
    monkeypatch.setenv("MLIPSCOPE_DEEPMD_PYTHON", sys.executable)
    with pytest.raises(WorkerError, match="DeePMD training failed") as info:
        DeePMDFamily().fit(load_example("si_mlearn_train").subsample(2, 0), {"numb_steps": 50}, 0, tmp_path / "m")
    assert "deepmd" in info.value.log_tail and "Error" in info.value.log_tail


@pytest.mark.slow
def test_failed_training_is_a_worker_error_with_the_log_tail(monkeypatch, tmp_path):
    """`dp --pt train` exiting with an error (here: an input.json DeePMD rejects) is a clear WorkerError carrying
    the tail of DeePMD's log, and leaves no model behind."""
    ok, why = check_environment("deepmd")
    if not ok:
        pytest.skip(f"deepmd environment missing: {why}")
    import mlipscope.models.deepmd as deepmd_module

    def broken_input(*args, **kwargs):
        config = deepmd_input(*args, **kwargs)
        config["model"]["descriptor"]["type"] = "no_such_descriptor"
        return config

    monkeypatch.setattr(deepmd_module, "deepmd_input", broken_input)
    train = load_example("si_mlearn_train").subsample(2, 0)
    with pytest.raises(WorkerError, match="DeePMD training failed") as info:
        DeePMDFamily().fit(train, {**TINY, "numb_steps": 10}, 0, tmp_path / "m")
    assert "no_such_descriptor" in info.value.log_tail
    assert not (tmp_path / "m" / MODEL_FILE).exists()


def test_sampled_values_are_repaired_against_the_fixed_ones(tmp_path):
    """A profile that fixes rcut (4 Å, a three-body cutoff) and start_lr: the sampled rcut_smth and stop_lr are
    repaired against those values, not the sampled ones they were drawn with, so no member fails its check."""
    from mlipscope.models.sampling import ensemble_plan
    from mlipscope.runner.config import EnsembleSpec
    from mlipscope.runner.plan import plan_models

    family = DeePMDFamily()
    fixed = {"descriptor": "se_e3", "rcut": 4.0, "start_lr": 1e-4}
    sampled = [m.hyperparameters for m in ensemble_plan(family, 32, ["t"], [0], "sobol", 0)]
    # without the repair against the fixed values, some members would be rejected
    assert any(hp["rcut_smth"] > 3.5 for hp in sampled) and any(hp["stop_lr"] > 1e-4 for hp in sampled)
    planned = plan_models(EnsembleSpec("deepmd", 32, training_sets=["t"], fixed=fixed), tmp_path, {"t": "hash"})
    assert len(planned) == 32
    for fit in planned:
        hp = fit.member.hyperparameters
        assert {k: hp[k] for k in fixed} == fixed
        family.check_hyperparameters(hp)  # InputError for rcut_smth > rcut - 0.5 Å or stop_lr > start_lr
    # a sampled value that already fits the fixed ones is kept
    kept = [(s, f.member.hyperparameters) for s, f in zip(sampled, planned, strict=True) if s["rcut_smth"] <= 3.5]
    assert kept and all(s["rcut_smth"] == hp["rcut_smth"] for s, hp in kept)
