"""Active-learning export: the dataset frames the ensemble's members disagree on most, as extended XYZ ready for
DFT labelling (``mlipscope uncertainty``).

Per dataset evaluation, over all ok members that predicted it: the frames ranked by
:func:`mlipscope.analysis.frame_uncertainty.most_uncertain_frames` (energy spread per atom plus the largest
force-component spread, each in units of its median over the frames), written as the original structures from the
dataset file (its labels and per-atom arrays kept) with

- ``info["ensemble_energy_spread_ev_atom"]``: the members' standard deviation of the energy per atom (eV/atom);
- ``info["ensemble_max_force_spread_ev_a"]``: the largest standard deviation of a force component (eV/Å);
- ``info["source_dataset"]``, ``info["frame_index"]``: where the frame comes from (position in the dataset file);
- ``arrays["ensemble_force_spread_ev_a"]``: per atom, the largest standard deviation of its three force
  components (eV/Å), so the frame's maximum equals ``ensemble_max_force_spread_ev_a``; NaN on the atoms of a
  rare-event frame whose errors are not stored (its RE atoms and as many far ones are).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from mlipscope.analysis.frame_uncertainty import EnsemblePredictions, most_uncertain_frames, stack_predictions
from mlipscope.errors import InputError
from mlipscope.report.uncertainty_section import EnsembleFrames, load_dataset_frames, read_ensemble_frames

DEFAULT_TOP = 20


def per_atom_force_spread(predictions: EnsemblePredictions) -> dict[int, np.ndarray]:
    """Frame index -> per atom, the largest standard deviation (ddof 1) of its force components (eV/Å); NaN on
    atoms whose errors the evaluation did not store (a RE set keeps a sample of atoms)."""
    per_atom = predictions.forces_ev_a.std(axis=0, ddof=1).reshape(-1, 3).max(axis=1)
    counts = predictions.stored_atoms_per_frame
    starts = np.concatenate([[0], np.cumsum(counts)])
    atom_index = predictions.atom_index
    out = {}
    for k, i in enumerate(predictions.frame_index):
        spread = np.full(int(predictions.n_atoms[k]), np.nan)
        chosen = slice(starts[k], starts[k + 1])
        spread[atom_index[chosen] if atom_index is not None else np.arange(counts[k])] = per_atom[chosen]
        out[int(i)] = spread
    return out


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "dataset"


def export_most_uncertain(
    ensemble: EnsembleFrames, out_dir: Path, top: int = DEFAULT_TOP
) -> tuple[dict[str, Path], list[str]]:
    """Write ``<out_dir>/<label>_most_uncertain.extxyz`` per dataset evaluation (most uncertain frame first);
    returns label -> path and notes on what was skipped."""
    import ase.io

    out_dir = Path(out_dir)
    written: dict[str, Path] = {}
    notes = list(ensemble.notes)
    for label, frames_by_model in ensemble.frames.items():
        stacked = stack_predictions(frames_by_model)
        if stacked is None:
            notes.append(f"{label}: fewer than two members predicted a common frame")
            continue
        structures = load_dataset_frames(ensemble.datasets[label])
        if structures is None:
            notes.append(f"{label}: dataset {ensemble.datasets[label]!r} not found, no structures to write")
            continue
        ranked = most_uncertain_frames(stacked, n=top)
        per_atom = per_atom_force_spread(stacked)
        chosen = []
        for row in ranked.itertuples(index=False):
            atoms = structures[int(row.frame_index)].copy()
            atoms.info.update(
                ensemble_energy_spread_ev_atom=float(row.energy_spread_ev_atom),
                ensemble_max_force_spread_ev_a=float(row.max_force_spread_ev_a),
                ensemble_members=len(frames_by_model),
                source_dataset=ensemble.datasets[label],
                frame_index=int(row.frame_index),
            )
            atoms.arrays["ensemble_force_spread_ev_a"] = per_atom[int(row.frame_index)]
            chosen.append(atoms)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{_safe(label)}_most_uncertain.extxyz"
        ase.io.write(path, chosen, format="extxyz")
        written[label] = path
    return written, notes


def uncertainty_command(db_path: Path, out_dir: Path, top: int = DEFAULT_TOP) -> tuple[dict[str, Path], list[str]]:
    """``mlipscope uncertainty``: read ``db_path`` read-only (or the snapshot a running job published), write the
    most uncertain frames per dataset and the per-frame calibration table (``frame_calibration.csv``)."""
    from mlipscope.analysis.frame_uncertainty import frame_uncertainty_table
    from mlipscope.report.model_pages import ModelReportData
    from mlipscope.report.uncertainty_section import MIN_MEMBERS, details_reader
    from mlipscope.store.duckdb_store import ResultsStore

    if top < 1:
        raise InputError(None, "--top", "a positive number of frames", got=top)
    if not Path(db_path).is_file():
        raise InputError(db_path, "--db", "an existing mlipscope results database")
    with ResultsStore.open_for_reading(db_path) as store:
        data = ModelReportData.from_store(store)
        ensemble = read_ensemble_frames(data.models, data.evaluations, details_reader(data))
    if not ensemble.frames:
        raise InputError(db_path, "--db", "dataset evaluations with per-frame predictions (errors_* / re_*)")
    written, notes = export_most_uncertain(ensemble, out_dir, top)
    table = frame_uncertainty_table(
        ensemble.frames, ensemble.types, rare_event_atoms=ensemble.rare_event_atoms, min_members=MIN_MEMBERS
    )
    if len(table):
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        table.to_csv(Path(out_dir) / "frame_calibration.csv", index=False)
        written["frame_calibration"] = Path(out_dir) / "frame_calibration.csv"
    else:
        notes.append(f"no group has {MIN_MEMBERS} members: no calibration table")
    return written, notes


def read_export(path: Path) -> pd.DataFrame:
    """The per-frame spreads of an exported file (a check for people and tests)."""
    import ase.io

    frames = ase.io.read(path, index=":", format="extxyz")
    return pd.DataFrame(
        {
            "frame_index": [a.info["frame_index"] for a in frames],
            "energy_spread_ev_atom": [a.info["ensemble_energy_spread_ev_atom"] for a in frames],
            "max_force_spread_ev_a": [a.info["ensemble_max_force_spread_ev_a"] for a in frames],
        }
    )
