"""NNP: a Behler–Parrinello neural-network potential built from torchani (ANI-style AEVs + per-element MLPs).

torchani's atomic environment vectors are Behler–Parrinello radial symmetry functions plus ANI's modified angular
ones (Gaussians in the mean pair distance times ``((1 + cos(θ - θs)) / 2) ** zeta`` sections), each summed per
neighbour element (pair), with a cosine cutoff; one feed-forward network per element maps an atom's AEV to its
energy, and a per-element shift (least-squares fit of the training energies) carries the bulk of the energy so the
networks learn residuals. The training loop (:mod:`mlipscope.models.nnp_train`) is plain torch around torchani's
``AEVComputer``/``ANINetworks`` modules, as in torchani's own training examples, with forces by autograd in the
loss; it runs in float64 on one torch thread (oversubscribed threads on a busy 2-core machine were 5x slower),
deterministically for a given seed. The model is saved as a state dict plus the AEV/network parameters in JSON
and rebuilt in a fresh process; evaluation is ``torchani.ase.Calculator`` in float64 (wrapped to run on one torch
thread) with energy, forces and stress (stress by autograd w.r.t. a symmetric strain of positions and cell,
torchani's ``stress_kind="scaling"``; it equals ASE's finite-difference stress to 1e-12 eV/Å³).
Stress labels are not used in the fit. There is no LAMMPS pair style here (torchani's LAMMPS interface needs a
separate libtorch/LAMMPS build).

Choice of package (measured on this 2-core CPU machine, torch 2.13.0+cpu, numpy 2.4):

* torchani 2.9.0 — ``pip install torchani==2.9.0`` took 13 s, left torch/numpy untouched (pure Python, 4.5 MB,
  plus light deps: typer, pydantic, huggingface_hub, zarr, numcodecs, ninja, ...; its CUDA extensions are not
  needed); PBC neighbour lists, AEVs, networks and an ASE calculator with stress all in the package; import 0.1 s
  after torch. Chosen.
* pyxtal_ff 0.2.3 — resolves (adds numba, llvmlite, phonopy 2.3.2 (downgrade), seekpath) but is unmaintained since
  2022 against torch 1.x / numpy 1.x; not tried further.
* PANNA (TensorFlow) and hippynn (not BP-type) — rejected without install.

Measured for the default hyperparameters (AEV 16 radial + 8x4 angular functions, 5.2/3.5 Å, 2 x 32 GELU, Adam 3e-3
with cosine decay, 100 epochs of batch 32, energy weight 100) on all 214 frames of the mlearn Si training set (mostly
63/64 atoms), seed 0, on a busy 2-core machine: fit 161 s (1.4-2 s per epoch; 2-4x that when other jobs compete);
training RMSE 0.023 eV/atom, 0.23 eV/Å; mlearn Si test set (25 frames): energy RMSE 0.025 eV/atom, force RMSE
0.26 eV/Å = 0.29 x the DFT force RMS of 0.88 eV/Å (elastic 0.004 eV/atom / 0.10 eV/Å, AIMD 0.016 / 0.28, vacancy
0.023 / 0.31, surface 0.070 / 0.27). Diamond Si: a0 5.453 Å, B 95 GPa (EOS of 8 cells), unrelaxed C11 ≈ 121,
C12 ≈ 89 GPa from the stress; 25 test frames evaluate in 0.6 s. The same seed gives the same model in a fresh
process. Batch 8 / lr 1e-3 / 60 epochs gave 0.040 eV/atom and 0.29 eV/Å; energy weight 1000 was worse (0.47 eV/Å).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from ase.calculators.calculator import Calculator, all_changes

from mlipscope.data.dataset import ENERGY_KEY, FORCES_KEY, Dataset
from mlipscope.errors import FitError, InputError
from mlipscope.models.base import Hyperparameter, HyperparameterSpace, MLIPFamily, Trained
from mlipscope.models.fit_support import read_meta, training_metrics

STATE_FILE = "nnp_state.pt"
CONFIG_FILE = "nnp_config.json"
LOG_FILE = "nnp_train.log"
#: torch threads during a fit and an evaluation (restored afterwards): these models are small, and more threads
#: than free cores slowed a 64-atom force call from 0.08 s to 1 s on a busy 2-core machine
TORCH_THREADS = 1


class NNPFamily(MLIPFamily):
    """Behler–Parrinello NNP (torchani AEVs + per-element MLPs), trained on energies and forces."""

    name = "nnp"
    extra = "nnp"
    fit_packages = ("torchani", "torch")

    def hyperparameter_space(self) -> HyperparameterSpace:
        return HyperparameterSpace(
            (
                Hyperparameter("radial_cutoff_a", "linear", 5.2, low=4.5, high=6.0, description="radial cutoff, Å"),
                Hyperparameter(
                    "angular_cutoff_a", "linear", 3.5, low=3.0, high=4.4, description="angular cutoff, Å (< radial)"
                ),
                Hyperparameter("radial_shifts", "int", 16, low=8, high=32, description="radial symmetry functions"),
                Hyperparameter("angular_shifts", "int", 8, low=4, high=12, description="angular radial shifts"),
                Hyperparameter("angular_sections", "int", 4, low=2, high=8, description="angular sections (θ)"),
                Hyperparameter("hidden_width", "int", 32, low=8, high=128, description="neurons per hidden layer"),
                Hyperparameter("hidden_layers", "int", 2, low=1, high=3, description="hidden layers per element"),
                Hyperparameter(
                    "activation", "categorical", "gelu", choices=("gelu", "celu"), description="torchani activation"
                ),
                Hyperparameter("lr", "log", 3e-3, low=1e-4, high=1e-2, description="Adam learning rate"),
                Hyperparameter("epochs", "int", 100, low=5, high=500, description="passes over the training set"),
                Hyperparameter("batch_size", "int", 32, low=1, high=64, description="structures per batch"),
                Hyperparameter(
                    "energy_weight", "log", 100.0, low=1.0, high=1e4, description="weight of MSE(E/atom), eV²"
                ),
                Hyperparameter("force_weight", "log", 1.0, low=0.01, high=100.0, description="weight of MSE(F)"),
            )
        )

    def available(self) -> tuple[bool, str]:
        if importlib.util.find_spec("torchani") is None:
            return False, "torchani is not installed: `pip install 'mlipscope[nnp]'` (or `pip install torchani`)"
        return True, ""

    def check_hyperparameters(self, hyperparameters: dict[str, Any]) -> dict[str, Any]:
        hp = super().check_hyperparameters(hyperparameters)
        rc, ra = hp["radial_cutoff_a"], hp["angular_cutoff_a"]
        if ra >= rc:
            raise InputError(None, "angular_cutoff_a", f"less than radial_cutoff_a ({rc})", got=ra)
        return hp

    def _train(self, dataset: Dataset, hp: dict[str, Any], seed: int, model_dir: Path) -> Trained:
        ok, why = self.available()
        if not ok:
            raise FitError(why)
        import torch

        from mlipscope.models import nnp_train

        species = dataset.species
        threads = torch.get_num_threads()
        log_lines: list[str] = []
        try:
            torch.set_num_threads(TORCH_THREADS)
            with torch.random.fork_rng(devices=[]):  # the caller's global RNG state is left as it was
                torch.manual_seed(seed)
                frames = [
                    nnp_train.frame_tensors(a, species, hp["radial_cutoff_a"], ENERGY_KEY, FORCES_KEY)
                    for a in dataset.frames
                ]
                config = nnp_train.model_config(
                    hp, species, nnp_train.least_squares_self_energies(dataset.frames, species, ENERGY_KEY)
                )
                model = nnp_train.build_model(config, torch.float64)
                try:
                    nnp_train.train(model, frames, hp, seed, torch.float64, log=log_lines.append)
                except nnp_train.TrainingDiverged as exc:
                    raise FitError(str(exc)) from None
                finally:
                    (model_dir / LOG_FILE).write_text("\n".join(log_lines) + "\n")
        finally:
            torch.set_num_threads(threads)
        state, config_path = model_dir / STATE_FILE, model_dir / CONFIG_FILE
        torch.save(model.state_dict(), state)
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True))
        return Trained([state, config_path], meta={"species": species})

    def _training_metrics(self, dataset: Dataset, model_dir: Path) -> dict[str, float]:
        metrics = training_metrics(self.load_model_files(model_dir), dataset)
        if not all(map(_finite, metrics.values())):
            raise FitError(f"NNP training gave non-finite training errors: {metrics}")
        return metrics

    @staticmethod
    def load_model_files(model_dir: Path) -> Calculator:
        """The ASE calculator (float64) for the state dict + configuration in ``model_dir``."""
        import torch

        from mlipscope.models import nnp_train

        model_dir = Path(model_dir)
        state, config_path = model_dir / STATE_FILE, model_dir / CONFIG_FILE
        if not config_path.is_file():
            raise InputError(model_dir, CONFIG_FILE, "the NNP's AEV/network parameters written by the fit")
        if not state.is_file():
            raise InputError(model_dir, STATE_FILE, "the NNP's torch state dict written by the fit")
        try:
            config = json.loads(config_path.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(config_path, "file contents", f"valid JSON ({exc})") from None
        with torch.random.fork_rng(devices=[]):  # building initialises weights with torch's RNG
            model = nnp_train.build_model(config, torch.float64)
        model.load_state_dict(torch.load(state, map_location="cpu", weights_only=True))
        model.eval()
        return NNPCalculator(model)

    def load_calculator(self, model_dir: Path) -> Calculator:
        read_meta(model_dir, self.name)
        return self.load_model_files(model_dir)


class NNPCalculator(Calculator):
    """``torchani.ase.Calculator`` (energy, forces, strain-derivative stress) run on ``TORCH_THREADS`` torch threads,
    the caller's thread count restored after each call."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, model, **kwargs):
        from torchani.ase import Calculator as TorchaniCalculator

        super().__init__(**kwargs)
        self.torchani_calculator = TorchaniCalculator(model, stress_kind="scaling")

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        import torch

        super().calculate(atoms, properties, system_changes)
        threads = torch.get_num_threads()
        torch.set_num_threads(TORCH_THREADS)
        self.torchani_calculator.reset()  # its results of an earlier structure must not leak into ours
        try:
            self.torchani_calculator.calculate(self.atoms, list(properties), list(system_changes))
        finally:
            torch.set_num_threads(threads)
        self.results = dict(self.torchani_calculator.results)


def _finite(value: float) -> bool:
    import math

    return math.isfinite(value)
