"""Per-structure ensemble uncertainty on the datasets: per frame (energy per atom) and per atom (force
components), the spread of the members' predictions against the error of the ensemble mean, calibrated with
:mod:`.calibration`, over all members and within each MLIP type; rare-event atoms (``r_migrating == 0``) apart,
to ask whether the members disagree more where the physics is hard.

Input: for each model, the per-frame records a dataset evaluation stores (``details["frames"]`` of
:mod:`mlipscope.properties.dataset_errors`: index, model and DFT energy per atom, model and DFT forces) — plain
data, so this module reads no store. Only frames every member of a group predicted are compared.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlipscope.analysis.calibration import Calibration, calibrate, ensemble_spread_and_error

#: the columns of :func:`frame_uncertainty_table`
TABLE_COLUMNS = (
    "dataset", "group", "quantity", "n_members", "n_points", "spearman_rho", "rho_low", "rho_high",
    "miscalibration_area", "scale_factor", "checked_area_scaled", "top_catch_share", "mean_spread",
)  # fmt: skip


@dataclass(frozen=True)
class EnsemblePredictions:
    """Members x points arrays of one dataset and group: energies per atom (eV/atom) per frame and force
    components (eV/Å) per atom, with the DFT values and, per force component, whether its atom is an RE atom."""

    frame_index: np.ndarray
    n_atoms: np.ndarray
    energy_ev_atom: np.ndarray
    energy_dft_ev_atom: np.ndarray
    forces_ev_a: np.ndarray
    forces_dft_ev_a: np.ndarray
    rare_event_component: np.ndarray | None = None


def stack_predictions(
    frames_by_model: Mapping[str, Sequence[Mapping]], rare_event_atoms: Mapping[int, np.ndarray] | None = None
) -> EnsemblePredictions | None:
    """Stack the frame records of several models over the frames all of them predicted (None: fewer than two
    models, or no common frame). ``rare_event_atoms``: frame index -> boolean mask of its RE atoms."""
    if len(frames_by_model) < 2:
        return None
    by_index = [{int(f["index"]): f for f in frames} for frames in frames_by_model.values()]
    common = sorted(set.intersection(*(set(d) for d in by_index)))
    if not common:
        return None
    first = by_index[0]
    energy = np.array([[d[i]["energy_model_ev_atom"] for i in common] for d in by_index], dtype=float)
    forces = np.array([np.concatenate([d[i]["forces_model_ev_a"] for i in common]) for d in by_index], dtype=float)
    rare = None
    if rare_event_atoms is not None:
        rare = np.concatenate(
            [np.repeat(np.asarray(rare_event_atoms.get(i, np.zeros(first[i]["n_atoms"], bool)), bool), 3)
             for i in common]
        )  # fmt: skip
    return EnsemblePredictions(
        frame_index=np.asarray(common),
        n_atoms=np.array([first[i]["n_atoms"] for i in common], dtype=int),
        energy_ev_atom=energy,
        energy_dft_ev_atom=np.array([first[i]["energy_dft_ev_atom"] for i in common], dtype=float),
        forces_ev_a=forces,
        forces_dft_ev_a=np.concatenate([first[i]["forces_dft_ev_a"] for i in common]).astype(float),
        rare_event_component=rare,
    )


def calibrations(predictions: EnsemblePredictions, *, seed: int = 0) -> dict[str, tuple[Calibration, float]]:
    """Calibration of the energy spread per frame and the force spread per component (and per RE and other
    component when the RE atoms are known), each with its mean spread."""
    out: dict[str, tuple[Calibration, float]] = {}
    spread, error = ensemble_spread_and_error(predictions.energy_ev_atom, predictions.energy_dft_ev_atom)
    if spread.size >= 4:
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
    frames_by_dataset: Mapping[str, Mapping[str, Sequence[Mapping]]],
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
    parts = np.split(f_spread, np.cumsum(3 * predictions.n_atoms)[:-1])
    max_force = np.array([part.max() if part.size else math.nan for part in parts])
    score = e_spread / max(np.median(e_spread), 1e-12) + max_force / max(np.nanmedian(max_force), 1e-12)
    order = np.argsort(-score, kind="stable")[:n]
    return pd.DataFrame(
        {
            "frame_index": predictions.frame_index[order],
            "energy_spread_ev_atom": e_spread[order],
            "max_force_spread_ev_a": max_force[order],
            "score": score[order],
        }
    )
