"""MACE (mace-torch): small equivariant message-passing models trained on CPU with MACE's own training CLI.

mace-torch installs into the core environment (torch CPU wheel first: an unpinned torch pulls GBs of CUDA), so no
worker is needed. Training runs ``python -m mace.cli.run_train`` as a subprocess: a crash or an exploding loss
stays out of the caller's process, MACE's global torch settings (default dtype, threads) and logging handlers do
not leak into it, and its log is kept in the model directory. Isolated-atom energies are not in our datasets, so
E0s are MACE's ``average`` (least-squares per-element energy of the training set). Evaluation uses
``mace.calculators.MACECalculator`` in float64. There is no LAMMPS pair style here (ML-MACE needs a
Kokkos/libtorch LAMMPS build).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import ase.io
from ase.calculators.calculator import Calculator

from mlipscope.data.dataset import ENERGY_KEY, FORCES_KEY, Dataset
from mlipscope.errors import InputError
from mlipscope.models.base import Hyperparameter, HyperparameterSpace, MLIPFamily, Trained
from mlipscope.models.fit_support import read_meta, training_metrics
from mlipscope.models.worker import WorkerError, tail_of

MODEL_FILE = "mace.model"
RUN_NAME = "mace"
TRAIN_DIR = "mace_train"
# Label keys in the training extxyz (MACE's --energy_key / --forces_key), never a calculator's "energy".
_E_KEY, _F_KEY = "mlipscope_energy", "mlipscope_forces"


def training_command(hp: dict[str, Any], seed: int, train_file: str, work_dir: Path) -> list[str]:
    """``mace.cli.run_train`` arguments for a small CPU model in float64."""
    epochs = int(hp["max_num_epochs"])
    args = {
        "name": RUN_NAME,
        "train_file": train_file,
        "valid_fraction": hp["valid_fraction"],
        "energy_key": _E_KEY,
        "forces_key": _F_KEY,
        "E0s": "average",
        "model": "MACE",
        "num_channels": int(hp["num_channels"]),
        "max_L": int(hp["max_L"]),
        "max_ell": 2,
        "correlation": int(hp["correlation"]),
        "num_interactions": int(hp["num_interactions"]),
        "num_radial_basis": 8,
        "r_max": float(hp["r_max_a"]),
        "batch_size": int(hp["batch_size"]),
        "valid_batch_size": int(hp["batch_size"]),
        "max_num_epochs": epochs,
        "eval_interval": max(1, epochs // 4),
        "lr": float(hp["lr"]),
        "energy_weight": float(hp["energy_weight"]),
        "forces_weight": 1.0,
        "seed": int(seed),
        "device": "cpu",
        "default_dtype": "float64",
        "num_workers": 0,
        "work_dir": str(work_dir),
    }
    command = [sys.executable, "-m", "mace.cli.run_train"]
    for key, value in args.items():
        command.append(f"--{key}={value}")
    return command


class MACEFamily(MLIPFamily):
    """MACE with a small hyperparameter space suited to CPU training (channels, L, correlation, cutoff)."""

    name = "mace"
    extra = "mace"
    fit_packages = ("mace-torch", "torch", "e3nn")

    def hyperparameter_space(self) -> HyperparameterSpace:
        return HyperparameterSpace(
            (
                Hyperparameter("num_channels", "int", 16, low=4, high=64, description="feature channels"),
                Hyperparameter(
                    "max_L", "categorical", 0, choices=(0, 1), description="max equivariant order of messages"
                ),
                Hyperparameter("correlation", "int", 2, low=1, high=3, description="body order minus one per node"),
                Hyperparameter("num_interactions", "int", 2, low=1, high=2, description="message-passing layers"),
                Hyperparameter("r_max_a", "linear", 5.0, low=4.0, high=6.0, description="cutoff radius, Å"),
                Hyperparameter("max_num_epochs", "int", 30, low=5, high=500, description="training epochs"),
                Hyperparameter("lr", "log", 0.01, low=1e-3, high=5e-2, description="Adam learning rate"),
                Hyperparameter(
                    "energy_weight", "log", 10.0, low=0.1, high=1000.0, description="energy loss weight (forces 1)"
                ),
                Hyperparameter("batch_size", "int", 4, low=1, high=32, description="structures per batch"),
                Hyperparameter(
                    "valid_fraction", "linear", 0.1, low=0.05, high=0.3, description="frames held out for validation"
                ),
            )
        )

    def available(self) -> tuple[bool, str]:
        if importlib.util.find_spec("mace") is None:
            return False, (
                "mace-torch is not installed: `pip install torch==2.13.0` (CPU wheel) first, then "
                "`pip install mlipscope[mace]` (or `pip install mace-torch`)"
            )
        return True, ""

    def _train(self, dataset: Dataset, hp: dict[str, Any], seed: int, model_dir: Path) -> Trained:
        if len(dataset) < 2:
            raise InputError(dataset.path or dataset.name, "frames", "at least 2 frames (MACE holds some out)")
        ok, why = self.available()
        if not ok:
            raise WorkerError(why)
        work_dir = model_dir / TRAIN_DIR
        if work_dir.exists():  # checkpoints of an earlier run would be resumed or mixed in
            shutil.rmtree(work_dir)
        work_dir.mkdir(parents=True)
        frames = []
        for atoms in dataset.frames:
            frame = atoms.copy()
            frame.calc = None
            frame.info = {_E_KEY: float(atoms.info[ENERGY_KEY])}
            frame.arrays = {k: frame.arrays[k] for k in ("numbers", "positions")}
            frame.arrays[_F_KEY] = atoms.arrays[FORCES_KEY].copy()
            frames.append(frame)
        ase.io.write(work_dir / "train.extxyz", frames, format="extxyz")
        log = work_dir / "run_train.log"
        with open(log, "w") as handle:
            proc = subprocess.run(
                training_command(hp, seed, "train.extxyz", work_dir),
                cwd=work_dir,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        trained = work_dir / f"{RUN_NAME}.model"
        if proc.returncode != 0 or not trained.is_file():
            raise WorkerError(f"MACE training failed (exit code {proc.returncode})", tail_of(log))
        model = model_dir / MODEL_FILE
        shutil.copyfile(trained, model)
        for leftover in ("checkpoints", "train.extxyz", f"{RUN_NAME}_compiled.model", trained.name):
            path = work_dir / leftover
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        return Trained([model], meta={"species": dataset.species})

    def _training_metrics(self, dataset: Dataset, model_dir: Path) -> dict[str, float]:
        return training_metrics(self._calculator(model_dir / MODEL_FILE), dataset)

    @staticmethod
    def _calculator(model: Path) -> Calculator:
        from mace.calculators import MACECalculator

        return MACECalculator(model_paths=str(model), device="cpu", default_dtype="float64")

    def load_calculator(self, model_dir: Path) -> Calculator:
        read_meta(model_dir, self.name)
        model = Path(model_dir) / MODEL_FILE
        if not model.is_file():
            raise InputError(model_dir, MODEL_FILE, "the trained MACE model written by mace.cli.run_train")
        return self._calculator(model)
