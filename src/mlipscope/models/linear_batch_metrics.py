"""Every member's result of the batched linear path at once, from stacked predictions (members x frames).

:mod:`mlipscope.models.linear_batch` predicts all members of a descriptor group with one matrix product per block
of rows; this module turns those stacked predictions into each member's
:class:`~mlipscope.properties.base.PropertyResult`, the one ``prop.compute(member_calculator)`` gives, with numpy
reductions over members at once: per-frame sums with ``np.add.reduceat`` over the frames' force rows, per config
type sums over that type's frames, RE metrics over the RE atoms of all frames, the stored per-frame errors of
``details["frames"]`` quantised for all members (:mod:`mlipscope.models.linear_batch_frames`). What stays per
member is building its result (values, details: array slices); what stays per frame is only done once per batch
(the DFT labels, config types).

Equal to the per-frame code of the properties (:meth:`DatasetErrors.result_from_frames`,
:meth:`RareEventForces.result_from_predictions`) up to the order of summation in the metrics (relative ~1e-15;
tested against both and against sums written out by hand) and exactly in ``details["frames"]`` (the same errors,
hence the same quanta and dtypes): the key names, units, failure records and details follow them, so a change
there must be made here too (the tests compare the two paths on every key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms

from mlipscope.data.dataset import ENERGY_KEY, FORCES_KEY, STRESS_KEY, Dataset
from mlipscope.errors import EvaluationError
from mlipscope.models.linear_batch_frames import StoredFrames
from mlipscope.properties.base import PropertyResult
from mlipscope.properties.dataset_errors import _SUFFIX, _UNITS, DatasetErrors, frame_failure, sanitize_config_type
from mlipscope.properties.frame_data import HASH_CHARS, FrameErrors, dataset_locator
from mlipscope.properties.rare_events import ANGLE_CAP_DEG, FORCE_CAP_EV_A, RareEventForces, Reference, re_metrics
from mlipscope.units import EV_PER_A3_TO_GPA

#: the record of a frame whose predictions are not finite (what ``frame_prediction`` raises, as ``frame_failure``)
NON_FINITE = EvaluationError("non-finite energy or forces")
#: float64 elements of the error array of a few members worked on at once (a fraction of a CPU's cache)
CACHE_ELEMENTS = 1 << 16
#: ``re_metrics`` keys, then the two whole-set errors, in the order :class:`RareEventForces` gives them
RE_KEYS = (
    "re_f_ev_a", "re_m_ev_a", "re_a", "vector_rmse_ev_a", "vector_mae_ev_a", "frac_df_gt_0p5", "frac_dtheta_gt_15",
    "frac_dtheta_gt_30", "n_re_atoms", "force_rmse_ev_a", "energy_rmse_ev_atom",
)  # fmt: skip


@dataclass
class Predictions:
    """Stacked predictions of ``m`` members on a list of frames."""

    energies_ev: np.ndarray  # (m, n_frames)
    forces_ev_a: np.ndarray  # (m, n_force_rows): each member's forces contiguous, frames one after the other
    stress_ev_a3: np.ndarray | None  # (m, n_frames, 6), ASE stress; NaN where no virial rows; None: not asked


@dataclass
class FrameLabels:
    """What every member is compared with, read once per batch from the frames (flat arrays, shared lists)."""

    n_atoms: np.ndarray  # (n_frames,)
    starts: np.ndarray  # (n_frames,): first force row of each frame (3 rows per atom)
    energy_dft_ev: np.ndarray  # (n_frames,)
    forces_dft_ev_a: np.ndarray  # (n_force_rows,)
    has_stress: np.ndarray  # (n_frames,) bool: the frame has a DFT stress
    stress_dft_gpa: np.ndarray  # (n_frames, 6), NaN where none
    config_types: list[str]  # as the frame records name them

    @classmethod
    def of(cls, frames: Sequence[Atoms]) -> FrameLabels:
        n_atoms = np.array([len(a) for a in frames], dtype=np.int64)
        stress = np.full((len(frames), 6), np.nan)
        for k, atoms in enumerate(frames):
            if STRESS_KEY in atoms.info:
                stress[k] = np.asarray(atoms.info[STRESS_KEY], dtype=float) * EV_PER_A3_TO_GPA
        return cls(
            n_atoms=n_atoms,
            starts=np.cumsum(3 * n_atoms) - 3 * n_atoms,
            energy_dft_ev=np.array([float(a.info[ENERGY_KEY]) for a in frames]),
            forces_dft_ev_a=np.concatenate(
                [np.zeros(0)] + [np.asarray(a.arrays[FORCES_KEY], float).ravel() for a in frames]
            ),
            has_stress=np.array([STRESS_KEY in a.info for a in frames], dtype=bool),
            stress_dft_gpa=stress,
            config_types=[str(a.info.get("config_type", "default")) for a in frames],
        )

    @property
    def ends(self) -> np.ndarray:
        return self.starts + 3 * self.n_atoms


# --- dataset errors --------------------------------------------------------------------------------------------------
@dataclass
class _Errors:
    """Per member and frame (m, n_frames): which frames count, and the sums the metrics are made of."""

    ok: np.ndarray  # frame predicted (rows computed, energy and forces finite)
    with_stress: np.ndarray  # ok, DFT stress labelled and the predicted stress finite
    energy_ev_atom: np.ndarray  # model - DFT energy per atom, eV/atom (as the stored frame errors)
    energy_mev_atom: np.ndarray  # the same in meV/atom
    offset_ev_atom: np.ndarray  # (m,): mean model - DFT energy per atom over the ok frames
    force_sq: np.ndarray  # sum over the frame's force components of error^2, (eV/Å)^2
    force_abs: np.ndarray  # sum of |error|
    stress_sq: np.ndarray | None  # the same over the 6 stress components, GPa; None: the set has no stress
    stress_abs: np.ndarray | None
    stress_error_gpa: np.ndarray | None  # (m, n_frames, 6) model - DFT stress, GPa (NaN where either has none)


def _force_frame_sums(forces: np.ndarray, labels: FrameLabels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per member and frame: sum of squared and of absolute force errors, and whether the forces are finite.
    A few members at a time, so that the error array stays in the CPU cache between its passes."""
    m, n_rows = forces.shape
    sq, absolute = np.empty((m, len(labels.starts))), np.empty((m, len(labels.starts)))
    step = max(1, CACHE_ELEMENTS // max(1, n_rows))
    for start in range(0, m, step):
        block = slice(start, start + step)
        error = forces[block] - labels.forces_dft_ev_a
        sq[block] = np.add.reduceat(np.square(error), labels.starts, axis=1)
        absolute[block] = np.add.reduceat(np.abs(error, out=error), labels.starts, axis=1)
    finite = np.isfinite(sq)  # finite errors give a finite sum, bar an overflow: look closer only then
    for i in np.flatnonzero(~finite.all(axis=1)).tolist():
        finite[i] = np.logical_and.reduceat(np.isfinite(forces[i]), labels.starts)
    return sq, absolute, finite


def _errors(labels: FrameLabels, rows_failed: np.ndarray, pred: Predictions) -> _Errors:
    force_sq, force_abs, forces_ok = _force_frame_sums(pred.forces_ev_a, labels)
    ok = forces_ok & np.isfinite(pred.energies_ev) & ~rows_failed[None, :]
    # as the frame records: energy per atom of the model and of DFT, then their difference
    energy_ev_atom = pred.energies_ev / labels.n_atoms - labels.energy_dft_ev / labels.n_atoms
    n_ok = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        offset = np.where(ok, energy_ev_atom, 0.0).sum(axis=1) / n_ok
    stress_sq = stress_abs = stress_error = None
    with_stress = np.zeros_like(ok)
    if labels.has_stress.any():
        if pred.stress_ev_a3 is None:
            raise ValueError("stress predictions are needed on a set with stress labels")
        stress_gpa = pred.stress_ev_a3 * EV_PER_A3_TO_GPA
        with_stress = ok & labels.has_stress[None, :] & np.isfinite(stress_gpa).all(axis=2)
        stress_error = stress_gpa - labels.stress_dft_gpa[None, :, :]
        stress_sq = (stress_error * stress_error).sum(axis=2)
        stress_abs = np.abs(stress_error).sum(axis=2)
    return _Errors(
        ok, with_stress, energy_ev_atom, energy_ev_atom * 1000.0, offset, force_sq, force_abs, stress_sq, stress_abs,
        stress_error,
    )  # fmt: skip


def _group_sums(values: np.ndarray, mask: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(m, n_groups) sums of the masked per-frame ``values`` over each group's frames (``groups``: (n_frames,
    n_groups) 0/1)."""
    masked = np.where(mask, values, 0.0)
    if np.isfinite(masked).all():
        return masked @ groups
    # an overflowed error: inf x 0 in the product would spoil the groups without that frame
    return np.stack([masked[:, column > 0].sum(axis=1) for column in groups.T], axis=1)


def _rmse_mae(
    sq: np.ndarray, absolute: np.ndarray, mask: np.ndarray, groups: np.ndarray, per_frame: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per member and group (RMSE, MAE) from per-frame sums of ``per_frame`` values each (NaN where a member has
    no value in a group: a group without stress)."""
    counts = mask @ (per_frame[:, None] * groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(_group_sums(sq, mask, groups) / counts), _group_sums(absolute, mask, groups) / counts


def _group_metrics(errors: _Errors, labels: FrameLabels, groups: np.ndarray) -> np.ndarray:
    """(m, n_groups, n_metrics), metrics in the order of ``dataset_errors._metrics``."""
    ok = errors.ok
    energy = errors.energy_mev_atom
    removed = energy - 1000.0 * errors.offset_ev_atom[:, None]
    ones = np.ones(len(groups))
    columns = [
        *_rmse_mae(energy * energy, np.abs(energy), ok, groups, ones),
        *_rmse_mae(removed * removed, np.abs(removed), ok, groups, ones),
        *_rmse_mae(errors.force_sq, errors.force_abs, ok, groups, 3.0 * labels.n_atoms),
    ]
    if errors.stress_sq is not None and errors.stress_abs is not None:
        columns += _rmse_mae(errors.stress_sq, errors.stress_abs, errors.with_stress, groups, 6.0 * ones)
    return np.stack(columns, axis=2)


def _metric_names(has_stress: bool) -> list[str]:
    kinds = ["energy", "energy_offset_removed", "force"] + (["stress"] if has_stress else [])
    return [f"{kind}_{stat}_{_SUFFIX[kind]}" for kind in kinds for stat in ("rmse", "mae")]


def _config_groups(prop: DatasetErrors, labels: FrameLabels) -> tuple[list[str], np.ndarray]:
    """(key suffixes, (n_frames, n_groups) 0/1): all frames, then one group per sanitised config type (types
    equal once sanitised share one) in the order of their first frame."""
    suffixes = [""]
    group_of = np.zeros(len(labels.n_atoms), dtype=np.int64)  # frame -> its config type's group
    if prop.per_config_type:
        for k, config_type in enumerate(labels.config_types):
            suffix = "." + sanitize_config_type(config_type)
            if suffix not in suffixes:
                suffixes.append(suffix)
            group_of[k] = suffixes.index(suffix)
    groups = np.zeros((len(labels.n_atoms), len(suffixes)))
    groups[:, 0] = 1.0
    groups[np.arange(len(group_of)), group_of] = 1.0
    return suffixes, groups


def dataset_errors_results(
    prop: DatasetErrors, data: Dataset, labels: FrameLabels, rows_failed: Sequence[str], pred: Predictions
) -> list[PropertyResult | Exception]:
    """Each member's :class:`DatasetErrors` result (or the EvaluationError of a member that failed on every
    frame); ``rows_failed``: per frame "" or why its rows could not be computed (a failure of every member)."""
    reasons = [str(r) for r in rows_failed]
    errors = _errors(labels, np.array([bool(r) for r in reasons]), pred)
    names = _metric_names(bool(labels.has_stress.any()))
    suffixes, groups = _config_groups(prop, labels)
    metrics = _group_metrics(errors, labels, groups).tolist()
    # a member has the groups where it predicted a frame, in the order of their first such frame (as the records)
    n_frames = len(data)
    first = np.where(errors.ok[:, :, None] & (groups > 0), np.arange(n_frames)[:, None], n_frames).min(axis=1)
    order = np.argsort(first, axis=1, kind="stable").tolist()
    n_groups = (first < n_frames).sum(axis=1).tolist()
    layouts: dict[tuple[int, ...], tuple[list[str], dict[str, str], frozenset[str]]] = {}
    stored = _stored_frames(prop, data, labels, pred, errors)
    all_ok, offsets = errors.ok.all(axis=1).tolist(), errors.offset_ev_atom.tolist()
    out: list[PropertyResult | Exception] = []
    for m in range(len(all_ok)):
        failures = [] if all_ok[m] else _failures(reasons, errors.ok[m])
        if not n_groups[m]:
            first_reason = failures[0]["reason"] if failures else "empty dataset"
            message = f"{prop.label}: the model failed on all {n_frames} frames (first: {first_reason})"
            out.append(EvaluationError(message))
            continue
        present = tuple(order[m][: n_groups[m]])
        if present not in layouts:
            keys = ["failed_frame_fraction"] + [name + suffixes[g] for g in present for name in names]
            units = {k: "1" if k == "failed_frame_fraction" else _UNITS[k.split("_", 1)[0]] for k in keys}
            layouts[present] = keys, units, frozenset(keys)
        keys, units, error_metrics = layouts[present]
        numbers = [len(failures) / n_frames] + [v for g in present for v in metrics[m][g]]
        details = {
            "dataset": data.name,
            "n_frames": n_frames,
            "n_failed": len(failures),
            "energy_offset_ev_atom": offsets[m],
            "failures": failures,
            "frames": stored.of_member(m),
        }
        out.append(_result(prop.label, dict(zip(keys, numbers, strict=True)), units, error_metrics, details))
    return out


def _result(
    label: str, values: dict[str, float], units: dict[str, str], error_metrics: frozenset[str], details: dict
) -> PropertyResult:
    """What ``Property.result`` builds; ``values`` are Python floats already (from ``tolist``), ``units`` shared
    by the members of a batch and copied."""
    return PropertyResult(label, values, dict(units), error_metrics, details)


def _failures(reasons: list[str], ok: np.ndarray) -> list[dict[str, Any]]:
    """A member's failure records in frame order: frames without rows, then its own non-finite predictions."""
    return [
        {"index": k, "reason": reasons[k]} if reasons[k] else frame_failure(k, NON_FINITE)
        for k in np.flatnonzero(~ok).tolist()
    ]


def _stored_frames(
    prop: DatasetErrors, data: Dataset, labels: FrameLabels, pred: Predictions, errors: _Errors
) -> StoredFrames:
    """``details["frames"]`` as :meth:`DatasetErrors.result_from_frames` stores them: each member's errors on the
    frames it predicted."""
    frames = FrameErrors(
        index=np.arange(len(labels.n_atoms)),
        n_atoms=labels.n_atoms,
        energy_error_ev_atom=np.zeros(0),
        force_error_ev_a=np.zeros(0),
        dataset=dataset_locator(prop.dataset, data),
        dataset_hash=data.content_hash[:HASH_CHARS],
    )
    stress = None
    if errors.stress_error_gpa is not None:  # NaN where a frame has no stored stress, as from_records
        stress = np.where(errors.with_stress[:, :, None], errors.stress_error_gpa, np.nan)
    return StoredFrames(frames, errors.energy_ev_atom, pred.forces_ev_a, labels.forces_dft_ev_a, errors.ok, stress)


def _force_rmse(forces: np.ndarray, forces_dft: np.ndarray) -> np.ndarray:
    """Per member RMS of all force component errors (a few members at a time, as :func:`_force_frame_sums`)."""
    out = np.empty(len(forces))
    step = max(1, CACHE_ELEMENTS // max(1, forces.shape[1]))
    for start in range(0, len(forces), step):
        error = forces[start : start + step] - forces_dft
        out[start : start + step] = np.sqrt(np.mean(np.square(error, out=error), axis=1))
    return out


# --- rare-event forces -----------------------------------------------------------------------------------------------
def rare_event_results(
    prop: RareEventForces,
    data: Dataset,
    frames: Sequence[Atoms],
    labels: FrameLabels,
    reference: Reference,
    pred: Predictions,
) -> list[PropertyResult | Exception]:
    """Each member's :class:`RareEventForces` result on ``frames`` (the first ones of ``data``); ``reference``:
    :meth:`RareEventForces.reference_forces` of the frames (RE atoms, stored atoms). A set without RE atoms gives
    every member re_metrics' error."""
    m = len(pred.energies_ev)
    masks, _, kept = reference
    re_atoms = np.flatnonzero(np.concatenate([np.asarray(mask, dtype=bool) for mask in masks]))
    ref = labels.forces_dft_ev_a.reshape(-1, 3)[re_atoms]
    if not len(re_atoms):
        try:
            re_metrics(ref, ref)  # raises ValueError naming the empty shapes, as compute does
        except ValueError as exc:
            return [exc] * m
    model = pred.forces_ev_a.reshape(m, -1, 3)[:, re_atoms]  # (m, n_re, 3)
    norm, norm_ref = np.linalg.norm(model, axis=2), np.linalg.norm(ref, axis=1)
    d_f = np.abs(norm - norm_ref)
    cos = np.einsum("mij,ij->mi", model, ref) / np.maximum(norm * norm_ref, 1e-300)
    d_theta = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    vector = np.linalg.norm(model - ref, axis=2)
    energy_error = (pred.energies_ev - labels.energy_dft_ev) / labels.n_atoms
    columns = [
        np.sqrt(np.mean(d_f**2, axis=1)),
        np.mean(np.minimum(d_f, FORCE_CAP_EV_A), axis=1),
        np.mean(np.minimum(d_theta, ANGLE_CAP_DEG), axis=1) / ANGLE_CAP_DEG,
        np.sqrt(np.mean(vector**2, axis=1)),
        np.mean(vector, axis=1),
        np.mean(d_f > 0.5, axis=1),
        np.mean(d_theta > 15.0, axis=1),
        np.mean(d_theta > 30.0, axis=1),
        np.full(m, float(len(re_atoms))),
        _force_rmse(pred.forces_ev_a, labels.forces_dft_ev_a),
        np.sqrt(np.mean(np.square(energy_error), axis=1)),
    ]
    values = np.stack(columns, axis=1).tolist()
    units = {k: ("eV/Å" if k.endswith("_ev_a") else "fraction") for k in RE_KEYS}
    units.update(re_a="1", n_re_atoms="count", energy_rmse_ev_atom="eV/atom")
    error_metrics = frozenset(RE_KEYS) - {"n_re_atoms"}
    stored = _stored_re_frames(prop, data, labels, kept, pred, energy_error)
    out: list[PropertyResult | Exception] = []
    for k in range(m):
        details = {"dataset": prop.dataset, "n_frames": len(frames), "frames": stored.of_member(k)}
        out.append(_result(prop.label, dict(zip(RE_KEYS, values[k], strict=True)), units, error_metrics, details))
    return out


def _stored_re_frames(
    prop: RareEventForces,
    data: Dataset,
    labels: FrameLabels,
    kept: Sequence[np.ndarray],
    pred: Predictions,
    energy_error_ev_atom: np.ndarray,
) -> StoredFrames:
    """``details["frames"]`` as :meth:`RareEventForces.result_from_predictions` stores them: the errors on every
    frame's energy and on the force components of its ``kept`` atoms, gathered for all members at once."""
    atoms = [np.asarray(a, dtype=np.int64) for a in kept]
    starts = labels.starts.tolist()
    components = np.concatenate(
        [np.zeros(0, dtype=np.int64)]
        + [(s + 3 * a[:, None] + np.arange(3)).ravel() for s, a in zip(starts, atoms, strict=True)]
    )
    frames = FrameErrors(
        index=np.arange(len(atoms)),
        n_atoms=labels.n_atoms,
        energy_error_ev_atom=np.zeros(0),
        force_error_ev_a=np.zeros(0),
        stored_atoms=np.concatenate([np.zeros(0, dtype=np.int64)] + atoms),
        stored_counts=np.array([len(a) for a in atoms], dtype=np.int64),
        dataset=prop.dataset,
        dataset_hash=data.content_hash[:HASH_CHARS],
    )
    forces, forces_dft = pred.forces_ev_a[:, components], labels.forces_dft_ev_a[components]
    return StoredFrames(frames, energy_error_ev_atom, forces, forces_dft, np.ones(energy_error_ev_atom.shape, bool))
