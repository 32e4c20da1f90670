"""Energy ranking: does the model order structures by energy per atom as DFT does?

Over all pairs (i, j) of structures: ``wrong_order_fraction`` (pairs whose energy difference has the other sign
than in DFT: the seed study's ranking "frequency", here a fraction, not %), ``pair_error_{mean,max}_mev_atom``
(|ΔE_model − ΔE_DFT|, meV/atom; independent of either energy zero, so a set's DFT energies need only share one
source, not the model's zero) — all three are errors against DFT — and ``kendall_tau``
(:func:`scipy.stats.kendalltau`, 1 for the DFT order; not an error metric). Pairs whose DFT energies per atom differ
by at most ``tie_tolerance_mev_atom`` (default 0: exact ties) have no right order and are left out of
``wrong_order_fraction`` (e.g. symmetry-equivalent images of a fault path, equal in DFT to 0.1 meV/atom).

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
  the frames as they are, compared with their DFT labels. A material's ``ranking`` sets are of this kind (suite
  labels ``ranking_<name>``); silicon's are the stacking-fault path images and the di-interstitial, grain-boundary
  and amorphous cells of the GAP-18 testing framework (``si_stf_test``, CASTEP PW91: another energy zero than the
  VASP training data, which the pairwise differences never see).
"""

from __future__ import annotations

import math
import warnings
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from ase.calculators.calculator import Calculator

from mlipscope.data.dataset import ENERGY_KEY, Dataset
from mlipscope.errors import EvaluationError, InputError
from mlipscope.materials.material import Material
from mlipscope.materials.polymorphs import (
    REFERENCE_KEY,
    SI_TABLE,
    material_polymorphs,
    polymorph_reference_ev_atom,
    prototype_phase,
    si_polymorph,
)
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.dataset_errors import load_dataset
from mlipscope.properties.registry import SuiteEntry
from mlipscope.properties.settings import RelaxationSettings
from mlipscope.properties.structures import relax_with

__all__ = ["EnergyRanking", "pair_metrics", "polymorph_reference_ev_atom", "REFERENCE_KEY"]

POLYMORPHS = "polymorphs"
#: relaxed volumes outside this factor of the starting volume mean the structure collapsed or blew apart
VOLUME_CHANGE_LIMIT = 2.0


def pair_metrics(
    model_ev_atom: np.ndarray, dft_ev_atom: np.ndarray, tie_tolerance_ev_atom: float = 0.0
) -> dict[str, float]:
    """Pairwise ranking errors of model vs DFT energies per atom (same order of structures in both); DFT pairs
    within ``tie_tolerance_ev_atom`` of each other are ties, left out of the wrong-order fraction."""
    model = np.asarray(model_ev_atom, dtype=float)
    dft = np.asarray(dft_ev_atom, dtype=float)
    if model.shape != dft.shape or model.size < 2:
        raise ValueError("need at least two structures with both a model and a DFT energy")
    pairs = list(combinations(range(model.size), 2))
    d_model = np.array([model[i] - model[j] for i, j in pairs])
    d_dft = np.array([dft[i] - dft[j] for i, j in pairs])
    ordered = np.abs(d_dft) > tie_tolerance_ev_atom  # DFT ties have no right order
    wrong = np.sign(d_model[ordered]) != np.sign(d_dft[ordered])
    pair_err = np.abs(d_model - d_dft) * 1000.0
    return {
        "wrong_order_fraction": float(wrong.mean()) if ordered.any() else math.nan,
        "pair_error_mean_mev_atom": float(pair_err.mean()),
        "pair_error_max_mev_atom": float(pair_err.max()),
        "kendall_tau": float(_kendall_tau(model, dft)),
    }


def _kendall_tau(model: Any, dft: Any) -> float:
    from scipy.stats import kendalltau  # scipy.stats is slow to import: not when a suite is listed

    return float(kendalltau(model, dft).statistic)


class EnergyRanking(Property):
    """Energy ordering of structures, model vs DFT (see the module docstring).

    ``structures``: ``"polymorphs"`` (the material's set), a Dataset, a dataset file or a shipped example name.
    ``config_types``: keep only these frames of a dataset. ``fmax``/``max_steps``: relaxation of the polymorphs.
    ``tie_tolerance_mev_atom``: DFT energy differences per atom up to this are ties (no right order).
    """

    name = "energy_ranking"
    suite_order = 70

    @classmethod
    def suite_entries(cls, material: Material) -> list[SuiteEntry]:
        """``polymorph_ranking`` when the material has polymorphs, ``ranking_<name>`` per set of its ``ranking``."""
        entries = [cls.suite_entry("polymorph_ranking")] if material.polymorphs else []
        return entries + [
            cls.suite_entry(
                f"ranking_{name}",
                structures=spec["dataset"],
                config_types=spec["config_types"],
                tie_tolerance_mev_atom=spec["tie_tolerance_mev_atom"],
            )
            for name, spec in material.ranking_sets.items()
        ]

    def __init__(
        self,
        structures: Dataset | str | Path = POLYMORPHS,
        *,
        config_types: list[str] | None = None,
        fmax: float = 2e-3,
        max_steps: int = 400,
        tie_tolerance_mev_atom: float = 0.0,
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
        self.relaxation()  # validates the relaxation settings before any calculation
        if not tie_tolerance_mev_atom >= 0:
            raise InputError(None, "tie_tolerance_mev_atom", "a non-negative number", got=tie_tolerance_mev_atom)
        self.tie_tolerance_mev_atom = float(tie_tolerance_mev_atom)

    def relaxation(self) -> RelaxationSettings:
        """The relaxation of each polymorph: cell and ions, within the start's space group."""
        return RelaxationSettings(
            fmax=self.fmax, max_steps=self.max_steps, optimizer="BFGS", relax_cell=True, fix_symmetry_symprec=1e-3
        )

    def input_paths(self) -> list[str]:
        from mlipscope.properties.dataset_errors import dataset_path

        if self.structures == POLYMORPHS:
            if self.material.polymorphs.get("table") == SI_TABLE:
                from mlipscope.materials import reference_dir

                return [*super().input_paths(), str(reference_dir() / "si_reference_properties.json")]
            return super().input_paths()
        return super().input_paths() + [p for p in [dataset_path(self.structures)] if p]

    def validate_inputs(self) -> None:
        if self.structures == POLYMORPHS:
            material_polymorphs(self.material)
        else:
            load_dataset(self.structures)

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
        values = self._pair_metrics([above[p] for p in names], [reference[p] for p in names])
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
        with warnings.catch_warnings():
            # large first cell steps (start far from the model's volume) are expected; the result is checked below
            warnings.filterwarnings("ignore", "FixSymmetry adjust_cell may be ill behaved", UserWarning)
            result = relax_with(atoms, calculator, self.relaxation(), what=f"{element} {phase}")
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
        values = self._pair_metrics(model, dft)
        details = {
            "frames": kept,
            "config_types": [str(data.frames[i].info.get("config_type", "default")) for i in kept],
            "n_ordered_pairs": _ordered_pairs(dft, self.tie_tolerance_mev_atom / 1000.0),
            "model_energy_ev_atom": model,
            "dft_energy_ev_atom": dft,
            "failures": failures,
        }
        return self.result(values, _UNITS.copy(), error_metrics=_ERROR_KEYS, details=details)

    def _pair_metrics(self, model_ev_atom: list[float], dft_ev_atom: list[float]) -> dict[str, float]:
        return pair_metrics(np.array(model_ev_atom), np.array(dft_ev_atom), self.tie_tolerance_mev_atom / 1000.0)


def _ordered_pairs(dft_ev_atom: list[float], tie_tolerance_ev_atom: float) -> int:
    """Pairs with a right order in DFT (energy difference beyond the tie tolerance)."""
    return sum(abs(a - b) > tie_tolerance_ev_atom for a, b in combinations(dft_ev_atom, 2))


_UNITS = {
    "wrong_order_fraction": "1",
    "pair_error_mean_mev_atom": "meV/atom",
    "pair_error_max_mev_atom": "meV/atom",
    "kendall_tau": "1",
}
_ERROR_KEYS = frozenset({"wrong_order_fraction", "pair_error_mean_mev_atom", "pair_error_max_mev_atom"})
