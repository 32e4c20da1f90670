"""SNAP / qSNAP: linear (or quadratic) models on bispectrum descriptors from LAMMPS ``compute snap``.

Descriptors are computed once per (training set, descriptor hyperparameters) and kept in the shared
:mod:`mlipscope.models.descriptors` cache; a fit is then a weighted ridge least-squares solve on cached normal
equations (milliseconds). The fitted model is written as the ``.snapcoeff``/``.snapparam`` pair that LAMMPS
``pair_style snap`` reads, so the same files drive the ASE calculator and fast LAMMPS MD.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlipscope.data.dataset import Dataset
from mlipscope.errors import InputError
from mlipscope.models.base import Hyperparameter, HyperparameterSpace, MLIPFamily, Trained
from mlipscope.models.descriptors import LammpsRowsComputer, process_cache
from mlipscope.models.fit_support import LammpsPairModelMixin, resolve_hyperparameters

# Fixed descriptor settings (the usual SNAP choices): neighbour radius/weight per element and the angular
# mapping factor; what varies between members is in the hyperparameter space.
RADELEM = 0.5
WJ = 1.0
RMIN0 = 0.0


def n_bispectrum(twojmax: int) -> int:
    """Number of linear bispectrum components for band limit 2J_max (LAMMPS ``compute sna/atom``)."""
    count = 0
    for j1 in range(twojmax + 1):
        for j2 in range(j1 + 1):
            for j in range(j1 - j2, min(twojmax, j1 + j2) + 1, 2):
                if j >= j1:
                    count += 1
    return count


class SNAPFamily(LammpsPairModelMixin, MLIPFamily):
    """SNAP (``quadratic=False``) and qSNAP (``quadratic=True``) fitted by weighted ridge least squares."""

    name = "snap"
    extra = "snap"
    pair_style = "snap"
    pair_files = ("model.snapcoeff", "model.snapparam")
    offers_batch_evaluation = True
    #: virial rows come with every frame's rows (POD's cost a separate pass)
    separate_virial_rows = False

    def hyperparameter_space(self) -> HyperparameterSpace:
        return HyperparameterSpace(
            (
                Hyperparameter("twojmax", "categorical", 6, choices=(4, 6, 8), description="band limit 2J_max"),
                Hyperparameter("rcutfac", "linear", 4.5, low=4.0, high=5.5, description="cutoff radius, Å"),
                Hyperparameter("rfac0", "linear", 0.99363, low=0.95, high=0.99363, description="angle mapping"),
                Hyperparameter("quadratic", "categorical", True, choices=(False, True), description="qSNAP"),
                Hyperparameter(
                    "energy_weight", "log", 1e2, low=1.0, high=1e5, description="weight of MSE(E/atom) vs MSE(F)"
                ),
                Hyperparameter(
                    "stress_weight", "log", 1e-3, low=1e-5, high=1e-1, description="weight of MSE(stress, GPa)"
                ),
                Hyperparameter("ridge", "log", 1e-10, low=1e-12, high=1e-4, description="relative ridge"),
            )
        )

    # --- descriptors -------------------------------------------------------------------------------------------
    def descriptor_hyperparameters(self) -> tuple[str, ...]:
        return ("twojmax", "rcutfac", "rfac0", "quadratic")

    @staticmethod
    def descriptor_key(species: list[str], hp: dict[str, Any]) -> dict:
        return {
            "kind": "snap",
            "species": species,
            "twojmax": int(hp["twojmax"]),
            "rcutfac": float(hp["rcutfac"]),
            "rfac0": float(hp["rfac0"]),
            "rmin0": RMIN0,
            "radelem": RADELEM,
            "wj": WJ,
            "quadratic": bool(hp["quadratic"]),
        }

    @staticmethod
    def compute_commands(species: list[str], hp: dict[str, Any]) -> list[str]:
        rcut = float(hp["rcutfac"])
        radii = " ".join([str(RADELEM)] * len(species))
        weights = " ".join([str(WJ)] * len(species))
        return [
            f"pair_style zero {rcut * 2 * RADELEM + 0.01!r}",
            "pair_coeff * *",
            f"compute snap all snap {rcut!r} {float(hp['rfac0'])!r} {int(hp['twojmax'])} {radii} {weights} "
            f"rmin0 {RMIN0} bzeroflag 1 switchflag 1 quadraticflag {int(bool(hp['quadratic']))}",
        ]

    def rows_computer(self, species: list[str], hp: dict[str, Any], work_dir: Path | None = None) -> LammpsRowsComputer:
        """Per-frame descriptor rows (energy, force and virial rows; intercept columns first) for ``species``
        (type order) and resolved hyperparameters ``hp``: the columns of :meth:`write_files`'s coefficients.
        ``work_dir`` is not needed (POD's computer writes a parameter file there)."""
        return LammpsRowsComputer(species, lambda: self.compute_commands(species, hp), "snap")

    def linear_system(self, dataset: Dataset, hp: dict[str, Any]):
        species = dataset.species
        computer = self.rows_computer(species, hp)
        try:
            return process_cache().get(dataset, self.descriptor_key(species, hp), computer, len(species))
        finally:
            computer.close()

    # --- fit / load --------------------------------------------------------------------------------------------
    def check_hyperparameters(self, hyperparameters: dict[str, Any]) -> dict[str, Any]:
        # Values are not checked against the sampled space (check_values=False): ridge = 0 (plain least squares)
        # and twojmax 2, 10 or 12 are valid fits outside it, and given values are kept as they are in model.json.
        hp = resolve_hyperparameters(self.hyperparameter_space(), hyperparameters, check_values=False)
        if int(hp["twojmax"]) % 2 or not 0 < int(hp["twojmax"]) <= 12:
            raise InputError(None, "twojmax", "an even integer in 2..12", got=hp["twojmax"])
        return hp

    def _train(self, dataset: Dataset, hp: dict[str, Any], seed: int, model_dir: Path) -> Trained:
        """Least-squares fit (deterministic: ``seed`` is recorded only)."""
        species = dataset.species
        system = self.linear_system(dataset, hp)
        beta, metrics = system.solve(float(hp["energy_weight"]), 1.0, float(hp["stress_weight"]), float(hp["ridge"]))
        files = self.write_files(model_dir, species, hp, beta)
        return Trained(files, metrics, {"species": species})

    @staticmethod
    def write_files(model_dir: Path, species: list[str], hp: dict[str, Any], beta: np.ndarray) -> list[Path]:
        n_types = len(species)
        per_type = (len(beta) - n_types) // n_types
        lines = [
            "# SNAP coefficients fitted by mlipscope",
            f"{n_types} {per_type + 1}",
        ]
        for t, element in enumerate(species):
            lines.append(f"{element} {RADELEM} {WJ}")
            lines.append(repr(float(beta[t])))  # beta0: reference energy per atom
            block = beta[n_types + t * per_type : n_types + (t + 1) * per_type]
            lines.extend(repr(float(b)) for b in block)
        coeff = model_dir / "model.snapcoeff"
        coeff.write_text("\n".join(lines) + "\n")
        param = model_dir / "model.snapparam"
        param.write_text(
            "\n".join(
                [
                    f"rcutfac {float(hp['rcutfac'])!r}",
                    f"twojmax {int(hp['twojmax'])}",
                    f"rfac0 {float(hp['rfac0'])!r}",
                    f"rmin0 {RMIN0}",
                    "bzeroflag 1",
                    "switchflag 1",
                    f"quadraticflag {int(bool(hp['quadratic']))}",
                ]
            )
            + "\n"
        )
        return [coeff, param]

    @staticmethod
    def read_coefficients(model_dir: Path) -> np.ndarray:
        """The coefficient vector (rows layout: one reference energy per type first, then each type's block) of
        a model written by :meth:`write_files`, i.e. what ``pair_style snap`` evaluates."""
        path = Path(model_dir) / "model.snapcoeff"
        lines = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
        n_types, per_type = (int(v) for v in lines[0].split()[:2])
        if len(lines) != 1 + n_types * (1 + per_type):
            raise InputError(path, "coefficients", f"{n_types} elements x (1 + {per_type}) lines", got=len(lines))
        # per element: "<element> <radius> <weight>", then beta0 and the element's block, one value per line
        blocks = [
            np.array(lines[2 + t * (1 + per_type) : 1 + (t + 1) * (1 + per_type)], dtype=float) for t in range(n_types)
        ]
        return np.concatenate([[b[0] for b in blocks]] + [b[1:] for b in blocks])
