"""Per-structure ensemble uncertainty on the datasets: per frame (energy per atom) and per atom (force
components), the spread of the members' predictions against the error of the ensemble mean, calibrated with
:mod:`.calibration`, over all members and within each MLIP type; rare-event atoms (``r_migrating == 0``) apart,
to ask whether the members disagree more where the physics is hard.

Input: for each model, what a dataset evaluation stores in ``details["frames"]``, read as a
:class:`~mlipscope.properties.frame_data.FrameErrors` (the model's errors per frame; the old layout, records with
the model's and the DFT values, is accepted as it is) — plain data, so this module reads no store. The analysis
needs the errors only: the members' spread of predictions is the spread of their errors, and the error of the
ensemble mean is the mean of their errors. Only frames every member of a group predicted are compared, and on
them the atoms the evaluations stored (every atom of a test set; the RE atoms and as many far ones of a RE set).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlipscope.analysis.calibration import Calibration, calibrate, ensemble_spread_and_error
from mlipscope.properties.frame_data import FrameErrors

#: the columns of :func:`frame_uncertainty_table`
TABLE_COLUMNS = (
    "dataset", "group", "quantity", "n_members", "n_points", "spearman_rho", "rho_low", "rho_high",
    "miscalibration_area", "scale_factor", "checked_area_scaled", "top_catch_share", "mean_spread",
)  # fmt: skip


@dataclass(frozen=True)
class EnsemblePredictions:
    """Members x points arrays of one dataset and group: energies per atom (eV/atom) per frame and force
    components (eV/Å) of the stored atoms, with the DFT values and, per force component, whether its atom is an RE
    atom. Built from stored errors, the "predictions" are the errors and the DFT values zero: spreads and the
    error of the mean are the same. ``atoms_per_frame``: the stored atoms of each frame (all of them unless the
    evaluation stored a sample), ``atom_index``: each stored atom's index in its frame."""

    frame_index: np.ndarray
    n_atoms: np.ndarray
    energy_ev_atom: np.ndarray
    energy_dft_ev_atom: np.ndarray
    forces_ev_a: np.ndarray
    forces_dft_ev_a: np.ndarray
    rare_event_component: np.ndarray | None = None
    atoms_per_frame: np.ndarray | None = None
    atom_index: np.ndarray | None = None

    @property
    def stored_atoms_per_frame(self) -> np.ndarray:
        return self.n_atoms if self.atoms_per_frame is None else self.atoms_per_frame


FrameInput = FrameErrors | Sequence[Mapping]


def as_frame_errors(frames: FrameInput) -> FrameErrors:
    """A model's frames as :class:`FrameErrors` (the old layout's records are converted)."""
    return frames if isinstance(frames, FrameErrors) else FrameErrors.from_details(frames)


def stack_predictions(
    frames_by_model: Mapping[str, FrameInput], rare_event_atoms: Mapping[int, np.ndarray] | None = None
) -> EnsemblePredictions | None:
    """Stack the stored errors of several models over the frames all of them predicted (None: fewer than two
    models, or no common frame). ``rare_event_atoms``: frame index -> boolean mask of its RE atoms (all atoms of
    the frame). ValueError when two models stored different atoms of a common frame."""
    if len(frames_by_model) < 2:
        return None
    members = [as_frame_errors(f) for f in frames_by_model.values()]
    common = np.array(sorted(set.intersection(*(set(m.index.tolist()) for m in members))), dtype=np.int64)
    if not common.size:
        return None
    chosen = [m.select(common) for m in members]
    first = chosen[0]
    atom_index = first.atom_indices()
    for other in chosen[1:]:
        if not np.array_equal(other.atoms_per_frame, first.atoms_per_frame) or (
            first.stored_atoms is not None and not np.array_equal(other.atom_indices(), atom_index)
        ):
            raise ValueError("the models stored different atoms of the same frames: their errors cannot be stacked")
    rare = None
    if rare_event_atoms is not None:
        starts = first.force_offsets // 3
        masks = [_frame_mask(rare_event_atoms.get(int(i)), first.n_atoms[k]) for k, i in enumerate(common)]
        rare = np.repeat(np.concatenate([m[atom_index[starts[k] : starts[k + 1]]] for k, m in enumerate(masks)]), 3)
    return EnsemblePredictions(
        frame_index=common,
        n_atoms=first.n_atoms,
        energy_ev_atom=np.stack([m.energy_error_ev_atom for m in chosen]),
        energy_dft_ev_atom=np.zeros(common.size),
        forces_ev_a=np.stack([m.force_error_ev_a for m in chosen]),
        forces_dft_ev_a=np.zeros(first.force_error_ev_a.size),
        rare_event_component=rare,
        atoms_per_frame=first.atoms_per_frame,
        atom_index=atom_index,
    )


def _frame_mask(mask: np.ndarray | None, n_atoms: int) -> np.ndarray:
    if mask is None or len(mask) != n_atoms:  # no label, or a frame of another size: no RE atom known
        return np.zeros(n_atoms, dtype=bool)
    return np.asarray(mask, dtype=bool)


def calibrations(predictions: EnsemblePredictions, *, seed: int = 0) -> dict[str, tuple[Calibration, float]]:
    """Calibration of the energy spread per frame and the force spread per component (and per RE and other
    component when the RE atoms are known), each with its mean spread."""
    out: dict[str, tuple[Calibration, float]] = {}
    spread, error = ensemble_spread_and_error(predictions.energy_ev_atom, predictions.energy_dft_ev_atom)
    if spread.size >= 4 and np.isfinite(spread).all():  # NaN: a member without energies (stored-forces "model")
        out["energy_per_atom"] = (calibrate(spread, error, seed=seed), float(np.mean(spread)))
    spread, error = ensemble_spread_and_error(predictions.forces_ev_a, predictions.forces_dft_ev_a)
    out["force_component"] = (calibrate(spread, error, seed=seed), float(np.mean(spread)))
    if predictions.rare_event_component is not None and predictions.rare_event_component.any():
        for name, mask in (("force_rare_event_atoms", predictions.rare_event_component),
                           ("force_other_atoms", ~predictions.rare_event_component)):  # fmt: skip
            if mask.sum() >= 4:
                out[name] = (calibrate(spread[mask], error[mask], seed=seed), float(np.mean(spread[mask])))
    return out


def frame_uncertainty_table(
    frames_by_dataset: Mapping[str, Mapping[str, FrameInput]],
    types: Mapping[str, str],
    *,
    rare_event_atoms: Mapping[str, Mapping[int, np.ndarray]] | None = None,
    min_members: int = 5,
) -> pd.DataFrame:
    """One row per (dataset, group, quantity): the calibration numbers of :func:`calibrations`. Groups: ``all``
    and each type with at least ``min_members`` members (a spread of fewer members says little)."""
    rows = []
    for dataset, frames_by_model in frames_by_dataset.items():
        groups = {"all": list(frames_by_model)}
        for model_id in frames_by_model:
            groups.setdefault(str(types.get(model_id, "unknown")), []).append(model_id)
        for group, members in groups.items():
            if len(members) < max(min_members, 2):
                continue
            stacked = stack_predictions({m: frames_by_model[m] for m in members}, (rare_event_atoms or {}).get(dataset))
            if stacked is None:
                continue
            for quantity, (cal, mean_spread) in calibrations(stacked).items():
                rows.append(
                    (dataset, group, quantity, len(members), cal.n, cal.spearman_rho, *cal.spearman_ci,
                     cal.miscalibration_area, cal.scale_factor, cal.checked_area_scaled, cal.top_catch_share,
                     mean_spread)
                )  # fmt: skip
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def most_uncertain_frames(predictions: EnsemblePredictions, n: int = 20) -> pd.DataFrame:
    """The ``n`` frames with the largest disagreement (energy spread per atom plus the largest force-component
    spread, each in units of its median), for DFT labelling: frame index and both spreads."""
    e_spread = predictions.energy_ev_atom.std(axis=0, ddof=1)
    f_spread = predictions.forces_ev_a.std(axis=0, ddof=1)
    parts = np.split(f_spread, np.cumsum(3 * predictions.stored_atoms_per_frame)[:-1])
    max_force = np.array([part.max() if part.size else math.nan for part in parts])
    e_term = e_spread / max(np.median(e_spread), 1e-12) if np.isfinite(e_spread).all() else 0.0  # no energies
    score = e_term + max_force / max(np.nanmedian(max_force), 1e-12)
    order = np.argsort(-score, kind="stable")[:n]
    return pd.DataFrame(
        {
            "frame_index": predictions.frame_index[order],
            "energy_spread_ev_atom": e_spread[order],
            "max_force_spread_ev_a": max_force[order],
            "score": score[order],
        }
    )
