"""Find MLIP families by name and load fitted models from disk.

Every fitted model directory holds ``model.json`` with at least ``{"family": "<name>"}``; that is how a path is
turned back into a calculator. Families are imported lazily so a missing optional dependency only matters when that
family is used.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ase.calculators.calculator import Calculator

from mlipscope.errors import InputError

if TYPE_CHECKING:  # base imports this module (through fit_support); the families are imported by name
    from mlipscope.models.base import MLIPFamily

#: family name -> "module:ClassName"
FAMILIES: dict[str, str] = {
    "snap": "mlipscope.models.snap:SNAPFamily",
    "pod": "mlipscope.models.pod:PODFamily",
    "gap": "mlipscope.models.gap:GAPFamily",
    "mtp": "mlipscope.models.mtp:MTPFamily",
    "ace": "mlipscope.models.ace:ACEFamily",
    "mace": "mlipscope.models.mace:MACEFamily",
    "nnp": "mlipscope.models.nnp:NNPFamily",
    "deepmd": "mlipscope.models.deepmd:DeePMDFamily",
}

MODEL_META_FILE = "model.json"


def get_family(name: str) -> MLIPFamily:
    if name not in FAMILIES:
        raise InputError(None, "family", f"one of {sorted(FAMILIES)}", got=name)
    module_name, _, class_name = FAMILIES[name].partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)()


def model_species(model_dir: Path) -> list[str]:
    """The elements of a fitted model (type order), from its model.json (written from the training data)."""
    species = read_model_meta(model_dir).get("species")
    if not species or not all(isinstance(s, str) for s in species):
        raise InputError(Path(model_dir) / MODEL_META_FILE, "species", 'the model\'s element symbols, e.g. ["Mo"]')
    return list(species)


def read_model_meta(model_dir: Path) -> dict:
    meta_path = Path(model_dir) / MODEL_META_FILE
    if not meta_path.is_file():
        raise InputError(model_dir, MODEL_META_FILE, "a fitted model directory containing model.json")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(meta_path, "file contents", f"valid JSON ({exc})") from None
    if not isinstance(meta, dict) or "family" not in meta:
        raise InputError(meta_path, "family", f"one of {sorted(FAMILIES)}")
    return meta


def load_model_calculator(path: str | Path) -> Calculator:
    """ASE calculator for a fitted model directory (or a file inside one)."""
    path = Path(path)
    model_dir = path if path.is_dir() else path.parent
    meta = read_model_meta(model_dir)
    return get_family(meta["family"]).load_calculator(model_dir)
