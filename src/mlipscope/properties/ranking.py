"""Energy ranking: does the model order structures by energy per atom as DFT does?

Over all pairs (i, j) of structures: ``wrong_order_fraction`` (pairs whose energy difference has the other sign
than in DFT), ``pair_error_{mean,max}_mev_atom`` (|ΔE_model − ΔE_DFT|, meV/atom; independent of either energy
zero) — all three are errors against DFT — and ``kendall_tau`` (:func:`scipy.stats.kendalltau`, 1 for the DFT
order; not an error metric).

Two sources of structures:

- ``structures="polymorphs"`` (default): the material's polymorph set (its ``polymorphs`` entry), each phase
  relaxed by the model (cell and ions, keeping its space group with :class:`ase.constraints.FixSymmetry`) and
  compared by energy above the ground state with the DFT values. Silicon's set (``table: si_polymorphs``) is the
  crystal phases of the GAP-18 testing framework with the CASTEP PW91 values
  (``polymorph_energy_above_diamond_eV_atom_coarse_EV_grid`` of ``si_reference_properties.json``); any other
  material lists ``phases: {<prototype>: {energy_above_ev_atom: x, source: ...}}`` with prototypes of
  :mod:`mlipscope.materials.prototypes`, built at the ground state's nearest-neighbour distance. Also gives
  ``<phase>_energy_above_<ground state>_mev_atom``.
- a dataset (Dataset, file or shipped example name), optionally restricted to ``config_types``: single points on
  the frames as they are, compared with their DFT labels.
"""

from __future__ import annotations

import json
import math
import warnings
from importlib.resources import files
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator
from ase.constraints import FixSymmetry
from ase.spacegroup import crystal
from scipy.stats import kendalltau

from mlipscope.data.dataset import ENERGY_KEY, Dataset
from mlipscope.errors import EvaluationError, InputError
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.dataset_errors import load_dataset
from mlipscope.properties.structures import relax

POLYMORPHS = "polymorphs"
SI_TABLE = "si_polymorphs"
REFERENCE_KEY = "polymorph_energy_above_diamond_eV_atom_coarse_EV_grid"
#: relaxed volumes outside this factor of the starting volume mean the structure collapsed or blew apart
VOLUME_CHANGE_LIMIT = 2.0


def si_polymorph(name: str, element: str = "Si") -> Atoms:
    """Starting geometry of a phase of the Si table (close to the DFT one; the model relaxes it)."""
    if name == "diamond":
        return bulk(element, "diamond", a=5.43)
    if name == "hex_diamond":  # lonsdaleite, P6_3/mmc, 4f (1/3, 2/3, 1/16): ideal tetrahedra
        return crystal(element, [(1 / 3, 2 / 3, 1 / 16)], spacegroup=194, cellpar=[3.84, 3.84, 6.27, 90, 90, 120])
    if name == "bc8":  # Ia-3, 16c (x, x, x); Crain et al., PRB 50, 13043 (1994)
        return crystal(
            element, [(0.1003, 0.1003, 0.1003)], spacegroup=206, cellpar=[6.636] * 3 + [90] * 3, primitive_cell=True
        )
    if name == "st12":  # P4_3 2_1 2, 4a (x, x, 0) and 8b (x, y, z); Crain et al. (1994)
        return crystal(
            [element, element],
            [(0.0912, 0.0912, 0.0), (0.1730, 0.3784, 0.2486)],
            spacegroup=96,
            cellpar=[5.63, 5.63, 6.75, 90, 90, 90],
        )
    if name == "beta-Sn":  # I4_1/amd, 4a (origin choice 1)
        return crystal(
            element, [(0, 0, 0)], spacegroup=141, cellpar=[4.70, 4.70, 2.59, 90, 90, 90], primitive_cell=True
        )
    if name == "sh":
        return crystal(element, [(0, 0, 0)], spacegroup=191, cellpar=[2.64, 2.64, 2.49, 90, 90, 120])
    if name == "hcp":
        return bulk(element, "hcp", a=2.74, c=2.74 * math.sqrt(8 / 3))
    if name in ("bcc", "fcc"):
        return bulk(element, name, a={"bcc": 3.08, "fcc": 3.87}[name])
    raise InputError(None, "polymorph", "a Si phase of the reference table", got=name)


def prototype_phase(material, phase: str) -> Atoms:
    """An elemental phase of a shipped prototype, at the ground state's nearest-neighbour distance."""
    from mlipscope.materials.prototypes import get_prototype

    proto = get_prototype(phase, material.source or None)
    nn = material.nearest_neighbour_distance()
    if proto.name == "hcp":
        return bulk(material.species[0], "hcp", a=nn, covera=proto.covera)
    return bulk(material.species[0], proto.ase_crystal, a=nn / proto.nn_fraction)


def material_polymorphs(material) -> tuple[str, dict[str, float], str]:
    """(ground-state phase name, DFT energies above it in eV/atom with the ground state at 0, source)."""
    spec = material.polymorphs
    if spec.get("table") == SI_TABLE:
        return (
            "diamond",
            polymorph_reference_ev_atom(),
            "CASTEP PW91, libAtoms silicon-testing-framework " + ("(GAP-18 paper), " + REFERENCE_KEY),
        )
    phases = spec.get("phases") or {}
    ground = material.prototype.name if material.prototype is not None else "ground_state"
    out = {ground: 0.0}
    sources = []
    for phase, entry in phases.items():
        value = entry.get("energy_above_ev_atom") if isinstance(entry, dict) else entry
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(material.source or None, f"polymorphs.phases.{phase}", "energy_above_ev_atom: a number")
        out[str(phase)] = float(value)
        if isinstance(entry, dict) and entry.get("source"):
            sources.append(f"{phase}: {entry['source']}")
    return ground, out, "; ".join(sources)


def polymorph_reference_ev_atom() -> dict[str, float]:
    """DFT energies above diamond (eV/atom) of the phases :func:`si_polymorph` builds, diamond included (0)."""
    path = files("mlipscope") / "package_data" / "reference" / "si_reference_properties.json"
    table = json.loads(path.read_text())["PW91_CASTEP_GAP18_reference"][REFERENCE_KEY]
    out = {"diamond": 0.0}
    out.update({k: float(v) for k, v in table.items() if k != "hcp_short_and_fat"})  # no builder for it
    return out


def pair_metrics(model_ev_atom: np.ndarray, dft_ev_atom: np.ndarray) -> dict[str, float]:
    """Pairwise ranking errors of model vs DFT energies per atom (same order of structures in both)."""
    model = np.asarray(model_ev_atom, dtype=float)
    dft = np.asarray(dft_ev_atom, dtype=float)
    if model.shape != dft.shape or model.size < 2:
        raise ValueError("need at least two structures with both a model and a DFT energy")
    pairs = list(combinations(range(model.size), 2))
    d_model = np.array([model[i] - model[j] for i, j in pairs])
    d_dft = np.array([dft[i] - dft[j] for i, j in pairs])
    ordered = d_dft != 0.0  # DFT ties have no right order
    wrong = np.sign(d_model[ordered]) != np.sign(d_dft[ordered])
    pair_err = np.abs(d_model - d_dft) * 1000.0
    return {
        "wrong_order_fraction": float(wrong.mean()) if ordered.any() else math.nan,
        "pair_error_mean_mev_atom": float(pair_err.mean()),
        "pair_error_max_mev_atom": float(pair_err.max()),
        "kendall_tau": float(kendalltau(model, dft).statistic),
    }


class EnergyRanking(Property):
    """Energy ordering of structures, model vs DFT (see the module docstring).

    ``structures``: ``"polymorphs"`` (the material's set), a Dataset, a dataset file or a shipped example name.
    ``config_types``: keep only these frames of a dataset. ``fmax``/``max_steps``: relaxation of the polymorphs.
    """

    name = "energy_ranking"

    def __init__(
        self,
        structures: Dataset | str | Path = POLYMORPHS,
        *,
        config_types: list[str] | None = None,
        fmax: float = 2e-3,
        max_steps: int = 400,
        label: str | None = None,
        material=None,
    ) -> None:
        super().__init__(label, material=material)
        if structures == SI_TABLE:  # the old name of silicon's polymorph set
            structures = POLYMORPHS
        self.structures = structures if isinstance(structures, Dataset) else str(structures)
        self.config_types = list(config_types) if config_types else None
        self.fmax = fmax
        self.max_steps = max_steps

    def config(self) -> dict[str, Any]:
        out = super().config()
        if isinstance(self.structures, Dataset):
            out["structures"] = f"{self.structures.name} (sha256 {self.structures.content_hash[:12]})"
        return out

    def compute(self, calculator: Calculator, context=None) -> PropertyResult:
        if self.structures == POLYMORPHS:
            return self._polymorphs(calculator)
        return self._dataset(calculator)

    def _polymorphs(self, calculator: Calculator) -> PropertyResult:
        ground, reference, source = material_polymorphs(self.material)
        if len(reference) < 2:
            raise InputError(self.material.source or None, "polymorphs", "at least one phase besides the ground state")
        energies: dict[str, float] = {}
        failures: dict[str, str] = {}
        for phase in reference:
            try:
                energies[phase] = self._relaxed_energy_ev_atom(phase, calculator)
            except Exception as exc:  # noqa: BLE001 - one phase failing is recorded, the rest still rank
                if phase == ground:
                    raise EvaluationError(f"relaxing the ground state ({ground}) failed: {exc}") from exc
                failures[phase] = f"{type(exc).__name__}: {exc}"[:300]
        names = list(energies)
        if len(names) < 2:
            raise EvaluationError(f"{self.label}: only the ground state could be relaxed ({failures})")
        above = {p: energies[p] - energies[ground] for p in names}
        values = pair_metrics(np.array([above[p] for p in names]), np.array([reference[p] for p in names]))
        units = _UNITS.copy()
        for phase in reference:
            if phase != ground:
                key = f"{phase.replace('-', '_').lower()}_energy_above_{ground}_mev_atom"
                values[key] = above[phase] * 1000.0 if phase in above else math.nan
                units[key] = "meV/atom"
        details = {
            "structures": names,
            "ground_state": ground,
            "model_energy_above_ground_state_ev_atom": above,
            "dft_energy_above_ground_state_ev_atom": {p: reference[p] for p in names},
            "failures": failures,
            "reference": source,
        }
        return self.result(values, units, error_metrics=_ERROR_KEYS, details=details)

    def _relaxed_energy_ev_atom(self, phase: str, calculator: Calculator) -> float:
        element = self.material.species[0]
        if self.material.polymorphs.get("table") == SI_TABLE:
            atoms = si_polymorph(phase, element)
        else:
            atoms = prototype_phase(self.material, phase)
        volume_start = atoms.get_volume()
        atoms.set_constraint(FixSymmetry(atoms, symprec=1e-3))
        with warnings.catch_warnings():
            # large first cell steps (start far from the model's volume) are expected; the result is checked below
            warnings.filterwarnings("ignore", "FixSymmetry adjust_cell may be ill behaved", UserWarning)
            result = relax(
                atoms, calculator, relax_cell=True, fmax=self.fmax, max_steps=self.max_steps, what=f"{element} {phase}"
            )
        ratio = atoms.get_volume() / volume_start
        if not math.isfinite(result.energy_ev) or not 1 / VOLUME_CHANGE_LIMIT < ratio < VOLUME_CHANGE_LIMIT:
            raise EvaluationError(f"{element} {phase} relaxed to volume x{ratio:.2f} of the start (collapse/explosion)")
        return result.energy_ev / len(atoms)

    def _dataset(self, calculator: Calculator) -> PropertyResult:
        data = load_dataset(self.structures)
        if self.config_types:
            data = data.filter_config_types(self.config_types)
        if len(data) < 2:
            raise InputError(
                data.path, "config_types", "a selection of at least two frames to rank", got=self.config_types
            )
        model, dft, kept, failures = [], [], [], []
        for index, atoms in enumerate(data.frames):
            work = atoms.copy()
            work.calc = calculator
            try:
                energy = float(work.get_potential_energy())
                if not math.isfinite(energy):
                    raise EvaluationError("non-finite energy")
            except Exception as exc:  # noqa: BLE001 - a frame the model fails on is recorded, not fatal
                failures.append({"index": index, "reason": f"{type(exc).__name__}: {exc}"[:300]})
                continue
            model.append(energy / len(atoms))
            dft.append(float(atoms.info[ENERGY_KEY]) / len(atoms))
            kept.append(index)
        if len(kept) < 2:
            raise EvaluationError(f"{self.label}: the model failed on all but {len(kept)} frames")
        values = pair_metrics(np.array(model), np.array(dft))
        details = {
            "frames": kept,
            "model_energy_ev_atom": model,
            "dft_energy_ev_atom": dft,
            "failures": failures,
        }
        return self.result(values, _UNITS.copy(), error_metrics=_ERROR_KEYS, details=details)


_UNITS = {
    "wrong_order_fraction": "1",
    "pair_error_mean_mev_atom": "meV/atom",
    "pair_error_max_mev_atom": "meV/atom",
    "kendall_tau": "1",
}
_ERROR_KEYS = frozenset({"wrong_order_fraction", "pair_error_mean_mev_atom", "pair_error_max_mev_atom"})
