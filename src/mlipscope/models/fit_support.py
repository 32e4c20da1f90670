"""Helpers the family modules share in ``fit``/``load_calculator``: hyperparameter and dataset checks, training
metrics and ``model.json``.

:mod:`mlipscope.models.base` uses them in its template ``fit``, so this module imports base only for type hints.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ase.calculators.calculator import Calculator

from mlipscope.data.dataset import ENERGY_KEY, FORCES_KEY, Dataset
from mlipscope.errors import InputError
from mlipscope.models.registry import MODEL_META_FILE, model_species, read_model_meta

if TYPE_CHECKING:
    from mlipscope.models.base import FittedModel, HyperparameterSpace

#: training-set metrics are computed on at most this many frames (evenly spaced) to bound the cost
METRIC_FRAMES = 100


def resolve_hyperparameters(
    space: HyperparameterSpace, given: dict[str, Any], check_values: bool = True
) -> dict[str, Any]:
    """Defaults overlaid with ``given``; unknown names are InputErrors, and with ``check_values`` so are
    categorical values outside the choices, non-numbers and non-positive numbers (numbers are then converted to
    float, or int for int-scale ones). Without ``check_values`` the values are kept as given, for a family that
    checks them itself."""
    unknown = sorted(set(given) - set(space.names))
    if unknown:
        raise InputError(None, "hyperparameters", f"names from {space.names}", got=unknown)
    resolved = space.defaults()
    for p in space.parameters:
        if p.name not in given:
            continue
        if not check_values:
            resolved[p.name] = given[p.name]
            continue
        value = given[p.name]
        if p.scale == "categorical":
            if value not in p.choices:
                raise InputError(None, p.name, f"one of {list(p.choices)}", got=value)
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise InputError(None, p.name, f"a number ({p.description})", got=value) from None
            if not math.isfinite(number) or number <= 0:
                raise InputError(None, p.name, f"a finite positive number ({p.description})", got=value)
            if p.scale == "int" and number != int(number):
                raise InputError(None, p.name, f"an integer ({p.description})", got=value)
            value = int(number) if p.scale == "int" else number
        resolved[p.name] = value
    return resolved


#: content hashes of the datasets check_labelled passed in this process: a SNAP/POD fit on cached descriptors takes
#: milliseconds, and an ensemble fits thousands of members on the same few training sets
_LABELLED: set[str] = set()


def check_labelled(dataset: Dataset) -> None:
    """A fit needs at least one frame and finite energy + forces of the right shape on every frame."""
    try:
        key = dataset.content_hash  # over structures and labels, cached on the dataset
    except (KeyError, TypeError, ValueError):  # a missing or malformed label: the checks below name it
        key = None
    if key is not None and key in _LABELLED:
        return
    _check_frames(dataset)
    if key is not None:
        _LABELLED.add(key)


def _check_frames(dataset: Dataset) -> None:
    source = dataset.path or dataset.name
    if len(dataset) == 0:
        raise InputError(source, "frames", "at least one labelled configuration for fitting")
    for i, atoms in enumerate(dataset.frames):
        energy = atoms.info.get(ENERGY_KEY)
        if not isinstance(energy, (int, float, np.number)) or not math.isfinite(float(energy)):
            raise InputError(source, ENERGY_KEY, "a finite DFT energy (eV) on every frame", frame=i, got=energy)
        forces = atoms.arrays.get(FORCES_KEY)
        if forces is None or np.shape(forces) != (len(atoms), 3) or not np.all(np.isfinite(forces)):
            raise InputError(source, FORCES_KEY, f"finite DFT forces of shape ({len(atoms)}, 3)", frame=i)


def training_metrics(calculator: Calculator, dataset: Dataset, max_frames: int = METRIC_FRAMES) -> dict[str, float]:
    """Energy-per-atom (eV/atom) and force-component (eV/Å) RMSEs on (up to ``max_frames`` of) the training set."""
    idx = np.unique(np.linspace(0, len(dataset) - 1, min(len(dataset), max_frames)).round().astype(int))
    de, df = [], []
    for i in idx:
        atoms = dataset[int(i)].copy()
        atoms.calc = calculator
        de.append((atoms.get_potential_energy() - atoms.info[ENERGY_KEY]) / len(atoms))
        df.append((atoms.get_forces() - atoms.arrays[FORCES_KEY]).ravel())
    return {
        "train_energy_rmse_ev_per_atom": float(np.sqrt(np.mean(np.square(de)))),
        "train_force_rmse_ev_a": float(np.sqrt(np.mean(np.square(np.concatenate(df))))),
    }


def write_model_json(
    model_dir: Path,
    fitted: FittedModel,
    training_set: str,
    files: list[Path],
    packages: tuple[str, ...] = (),
    **extra,
) -> None:
    """``model.json``: what the registry and the run store need to find, reload and compare a fitted model."""
    from importlib.metadata import PackageNotFoundError, version

    from mlipscope.store.provenance import software_versions

    versions = dict(software_versions())
    for package in packages:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "unknown"
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.read_bytes())
    meta = {
        "family": fitted.family,
        "hyperparameters": fitted.hyperparameters,
        "seed": fitted.seed,
        "training_set": training_set,
        "training_set_hash": fitted.training_set_hash,
        "fit_wall_time_s": fitted.fit_wall_time_s,
        "metrics": fitted.metrics,
        "software_versions": versions,
        "model_files": [p.name for p in files],
        "model_file_sha256": digest.hexdigest(),
        **extra,
    }
    (Path(model_dir) / MODEL_META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))


def read_meta(model_dir: Path, family: str) -> dict:
    """model.json of ``model_dir``, checked to belong to ``family``."""
    meta = read_model_meta(model_dir)
    if meta.get("family") != family:
        raise InputError(Path(model_dir) / MODEL_META_FILE, "family", f"'{family}'", got=meta.get("family"))
    return meta


class LammpsPairModelMixin:
    """For families whose fitted model *is* a LAMMPS pair style (SNAP, POD): the same commands drive the ASE
    calculator (LAMMPSlib) and fast MD. Subclasses set ``pair_style`` and ``pair_files`` (coefficient files in the
    order ``pair_coeff`` wants them)."""

    pair_style: str
    pair_files: tuple[str, ...]

    def lammps_commands(self, model_dir: Path) -> list[str]:
        model_dir = Path(model_dir).resolve()
        species = model_species(model_dir)
        files = " ".join(str(model_dir / name) for name in self.pair_files)
        return [f"pair_style {self.pair_style}", f"pair_coeff * * {files} {' '.join(species)}"]

    def load_calculator(self, model_dir: Path):
        from mlipscope._lammps import lammps_calculator

        species = model_species(model_dir)
        return lammps_calculator(self.lammps_commands(model_dir), species)
