"""Batched fixed-geometry properties of linear MLIP members (SNAP/qSNAP, POD): one task per descriptor setting.

A linear member predicts, on any fixed structure, energy ``E = a_E @ beta``, forces ``F = A_F @ beta`` and virial
``W = A_W @ beta``; the rows ``a_E, A_F, A_W`` depend only on the structure and the member's *descriptor* settings,
not on its regression settings or training set. So on a fixed set of frames (a test set, a rare-event set) the
predictions of every member sharing descriptor settings are one matrix product with rows computed once. This
module computes those rows with the families' own LAMMPS row generators (``compute snap``; ``compute pod/global``,
plus exact POD virial rows from ``compute pod/local``, :meth:`~mlipscope.models.pod.PodRowsComputer.virial_rows`),
caches them on disk next to the fitting descriptor cache (``$MLIPSCOPE_CACHE_DIR``, files ``<kind>_rows_<key>.npz``
and the force rows in ``<kind>_rows_<key>.forces.npy``, read memory-mapped, keyed by the frames' content hash and
the descriptor key), and turns the stacked predictions of all members into exactly the
:class:`~mlipscope.properties.base.PropertyResult` each would get from ``prop.compute(member_calculator)``: the
metrics of all members at once with numpy reductions (:mod:`mlipscope.models.linear_batch_metrics`, which follows
:meth:`DatasetErrors.result_from_frames` and :meth:`RareEventForces.result_from_predictions` key for key).
Agreement with per-member evaluation is at round-off (~1e-12 eV/Å, eV, GPa; tested to 1e-8); the stored per-frame
errors (``details["frames"]``, rounded, :mod:`mlipscope.properties.frame_data`) are the same quanta, or the next
one where round-off crossed a rounding boundary.

API (all module-level, stateless, picklable: call them inside a Dask task)::

    offers_batch_evaluation(family_name) -> bool
        Whether the family declares ``MLIPFamily.offers_batch_evaluation`` (SNAP, POD); False for external
        potentials ("external", None) and unknown names. Callers ask this rather than compare family names.
    is_batchable(prop, family_name) -> bool
        True for DatasetErrors / RareEventForces (exact classes) and a family that offers batch evaluation.
    descriptor_group_key(family_name, hyperparameters, species) -> str
        Members with equal keys share rows; ``species`` is the model's element order (model.json "species",
        i.e. the training set's ``Dataset.species``). Usable before fitting, from planned hyperparameters.
    LinearMember.from_model_dir(model_dir, key=None) -> LinearMember
        family, resolved hyperparameters and species from model.json, coefficients ``beta`` from the model files
        (``SNAPFamily.read_coefficients`` / ``PODFamily.read_coefficients``). From a store row of the ``models``
        table: ``LinearMember.from_model_dir(row["path"], key=row["model_id"])``; from a
        :class:`~mlipscope.models.base.FittedModel`: ``LinearMember.from_fitted(fitted, key)``.
    batch_results(prop, members, *, cache_dir=None, persist=True) -> dict[str, PropertyResult | Exception]
        ``members``: LinearMembers or model directories (any mix of groups; rows are computed once per group).
        Keyed by member key, in input order. A member whose own evaluation fails (``prop.compute`` would raise,
        e.g. non-finite output on every frame) maps to that exception, to be stored as a failed evaluation with
        the usual ``f"{type(exc).__name__}: {exc}"`` reason; failures common to all members (unreadable dataset,
        LAMMPS failing on a rare-event frame) raise.

Cost: the rows of a group cost one to a few per-member evaluations (and POD virial rows for stress-labelled
sets about 15 more), after which all members of the group cost one matrix product per block of rows and a few
passes over its output (errors, per-frame sums, RE metrics, the quantised errors of ``details["frames"]``:
:mod:`mlipscope.models.linear_batch_frames`), members in blocks of bounded memory (:data:`BLOCK_ELEMENTS`); with
rows cached, a member costs a fraction of a millisecond. Disk: float64 force rows,
``3 N_atoms x p`` per set (e.g. ~75 MB for the 100-frame Si vacancy RE set and qSNAP 2J_max=6, p = 496).

Differences from per-member evaluation: the reason text of a frame whose *rows* could not be computed (the same
frame fails for every member) is the row generator's error, not the calculator's. Stress follows ASE's LAMMPSlib
(the calculator of SNAP/POD models) exactly, including its unit round trip through LAMMPS's bar (see
:func:`lammpslib_stress_factor`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, cast

import numpy as np
from ase import Atoms

from mlipscope.data.dataset import STRESS_KEY, Dataset
from mlipscope.errors import EvaluationError, InputError
from mlipscope.models.base import FittedModel
from mlipscope.models.linear_batch_metrics import FrameLabels, Predictions, dataset_errors_results, rare_event_results
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.dataset_errors import DatasetErrors, frame_failure, load_dataset
from mlipscope.properties.rare_events import RareEventForces, Reference

#: families whose members are linear in their descriptor rows: those with ``offers_batch_evaluation`` (a test
#: keeps the two equal; the tuple saves importing every family module to find them)
LINEAR_FAMILIES = ("snap", "pod")
#: bump when the row layout or the way rows are computed changes (old cache files are then ignored)
ROWS_VERSION = 2
#: LAMMPS ``force->nktv2p`` in metal units (eV/Å³ -> bar; ``src/update.cpp``)
NKTV2P_METAL = 1.6021765e6


def lammpslib_stress_factor() -> float:
    """ASE stress (eV/Å³) per -virial/volume (eV/Å³) as ASE's LAMMPSlib reports it: LAMMPS converts to bar with
    its own constant, ASE converts back with CODATA's; the two differ by ~8e-8, which the batched stress keeps so
    that it equals the calculator's."""
    from ase.calculators.lammps import convert

    return NKTV2P_METAL * float(convert(1.0, "pressure", "metal", "ASE"))


# --- members and groups --------------------------------------------------------------------------------------------
class LinearFamily(Protocol):
    """What a family with ``offers_batch_evaluation`` provides to this module (SNAPFamily, PODFamily)."""

    name: ClassVar[str]
    #: virial rows do not come with a frame's rows and cost a pass of their own (``computer.virial_rows``)
    separate_virial_rows: ClassVar[bool]

    def hyperparameter_space(self) -> Any: ...

    def descriptor_key(self, species: list[str], hp: dict[str, Any]) -> dict: ...

    def rows_computer(self, species: list[str], hp: dict[str, Any], work_dir: Path) -> Any: ...

    def read_coefficients(self, model_dir: Path) -> np.ndarray: ...


def offers_batch_evaluation(family_name: str | None) -> bool:
    """Whether members of ``family_name`` can be evaluated here in batches (the family's declared capability);
    False for external potentials and names that are no family."""
    from mlipscope.models.registry import FAMILIES, get_family

    return family_name in FAMILIES and get_family(family_name).offers_batch_evaluation


def _linear_family(family_name: str) -> LinearFamily:
    from mlipscope.models.registry import get_family

    if not offers_batch_evaluation(family_name):
        raise InputError(None, "family", f"a linear family, one of {LINEAR_FAMILIES}", got=family_name)
    return cast(LinearFamily, get_family(family_name))


@functools.cache
def _defaults(family_name: str) -> dict[str, Any]:
    return _linear_family(family_name).hyperparameter_space().defaults()  # callers copy: never changed


def _resolved(family: LinearFamily, hyperparameters: dict[str, Any]) -> dict[str, Any]:
    hp = {**_defaults(family.name), **hyperparameters}
    repair = getattr(family, "repair_hyperparameters", None)
    return repair(hp) if repair is not None else hp


def descriptor_key(family_name: str, hyperparameters: dict[str, Any], species: Sequence[str]) -> dict:
    """The family's descriptor cache key (what the rows depend on) for (planned or fitted) hyperparameters."""
    family = _linear_family(family_name)
    return family.descriptor_key(list(species), _resolved(family, hyperparameters))


def descriptor_group_key(family_name: str, hyperparameters: dict[str, Any], species: Sequence[str]) -> str:
    """``"<family>:<hash>"``, equal for members whose descriptor rows are equal (regression settings, training set
    and seed do not enter)."""
    blob = json.dumps(descriptor_key(family_name, hyperparameters, species), sort_keys=True, default=str)
    return f"{family_name}:{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


@dataclass(eq=False)
class LinearMember:
    """A fitted linear model: ``beta`` (p,) are the columns of its family's rows (intercepts first)."""

    key: str
    family: str
    hyperparameters: dict[str, Any]
    species: tuple[str, ...]
    beta: np.ndarray
    model_dir: Path | None = None  # where it was read from (None for a member built in memory)

    @classmethod
    def from_model_dir(cls, model_dir: str | Path, key: str | None = None) -> LinearMember:
        """The member fitted into ``model_dir`` (its model.json and coefficient files); ``key`` defaults to the
        directory name (the member id of :mod:`mlipscope.models.sampling`)."""
        from mlipscope.models.registry import MODEL_META_FILE, read_model_meta

        model_dir = Path(model_dir)
        meta = read_model_meta(model_dir)
        family = _linear_family(meta["family"])
        species = meta.get("species")
        if not species or not all(isinstance(s, str) for s in species):
            raise InputError(model_dir / MODEL_META_FILE, "species", "the model's element symbols")
        return cls(
            key=key or model_dir.name,
            family=family.name,
            hyperparameters=dict(meta.get("hyperparameters", {})),
            species=tuple(species),
            beta=np.asarray(family.read_coefficients(model_dir), dtype=float),
            model_dir=model_dir,
        )

    @classmethod
    def from_fitted(cls, fitted: FittedModel, key: str | None = None) -> LinearMember:
        return cls.from_model_dir(fitted.model_dir, key)

    @functools.cached_property
    def group_key(self) -> str:
        return descriptor_group_key(self.family, self.hyperparameters, self.species)


def is_batchable(prop: Property, family_name: str) -> bool:
    """Whether :func:`batch_results` can evaluate ``prop`` for members of ``family_name`` (exact property classes:
    a subclass may compute something else)."""
    return type(prop) in (DatasetErrors, RareEventForces) and offers_batch_evaluation(family_name)


# --- rows ----------------------------------------------------------------------------------------------------------
@dataclass
class DatasetRows:
    """Descriptor rows of a fixed list of frames for one descriptor setting (eV, eV/Å and eV per unit beta)."""

    energy: np.ndarray  # (n_frames, p): total energy rows
    forces: np.ndarray  # (sum of 3 N_atoms, p): force rows, frames one after the other, atom-major (x, y, z)
    offsets: np.ndarray  # (n_frames + 1,): frame k's force rows are forces[offsets[k] : offsets[k + 1]]
    virial: np.ndarray  # (n_frames, 6, p): virial rows, ASE frame and Voigt order; NaN where not computed
    failed: np.ndarray  # (n_frames,) str: "" or why the rows of the frame could not be computed

    @property
    def n_params(self) -> int:
        return self.energy.shape[1]

    def save(self, path: Path) -> None:
        """``path`` (.npz): the small arrays; the force rows next to it as .npy, read memory-mapped (a batch
        reads them once, in its product; processes reading the same rows share the pages)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        unique = f"{os.getpid()}-{threading.get_ident()}"  # concurrent writers never share a temporary file
        tmp_forces = path.with_name(f"{path.stem}.{unique}.tmp.npy")
        np.save(tmp_forces, np.ascontiguousarray(self.forces))
        tmp_forces.replace(_forces_path(path))
        tmp = path.with_name(f"{path.stem}.{unique}.tmp.npz")
        np.savez(tmp, **{k: v for k, v in self.__dict__.items() if k != "forces"})
        tmp.replace(path)  # atomic and last: a reader that finds it finds whole force rows too

    @classmethod
    def load(cls, path: Path) -> DatasetRows:
        with np.load(path) as data:
            small = {k: data[k] for k in ("energy", "offsets", "virial", "failed")}
        forces = np.load(_forces_path(path), mmap_mode="r")
        if forces.shape != (int(small["offsets"][-1]), small["energy"].shape[1]):
            raise ValueError(f"{_forces_path(path)}: force rows of shape {forces.shape} do not fit {path}")
        return cls(forces=forces, **small)


def _forces_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.forces.npy")


def _rows_path(cache_dir: Path, frames: Dataset, key: dict) -> Path:
    from mlipscope.models.descriptors import DescriptorCache

    return cache_dir / f"{key['kind']}_rows_{DescriptorCache.key(frames.content_hash, key)}.npz"


def dataset_rows(
    frames: Dataset,
    family_name: str,
    hyperparameters: dict[str, Any],
    species: Sequence[str],
    *,
    virial: bool,
    cache_dir: str | Path | None = None,
    persist: bool = True,
) -> DatasetRows:
    """Rows of every frame of ``frames`` (from the disk cache when there), with virial rows on the frames that
    carry a DFT stress when ``virial`` (SNAP gives them on every frame at no cost)."""
    from mlipscope.models.descriptors import default_cache_dir

    family = _linear_family(family_name)
    hp = _resolved(family, hyperparameters)
    species = list(species)
    needs_extra = virial and family.separate_virial_rows  # POD's cost a pod/local pass: key them
    key = {**family.descriptor_key(species, hp), "rows": ROWS_VERSION, "stress_virial": needs_extra}
    path = _rows_path(Path(cache_dir) if cache_dir is not None else default_cache_dir(), frames, key)
    if path.is_file():
        with contextlib.suppress(OSError, ValueError, KeyError):  # a corrupt file is recomputed, not trusted
            return DatasetRows.load(path)
    rows = _compute_rows(frames, family, hp, species, needs_extra)
    if persist:
        with contextlib.suppress(OSError):  # a read-only cache dir only costs recomputation
            rows.save(path)
    return rows


def _compute_rows(
    frames: Dataset, family: LinearFamily, hp: dict, species: list[str], separate_virial: bool
) -> DatasetRows:
    offsets = np.concatenate([[0], np.cumsum([3 * len(a) for a in frames.frames])]).astype(np.int64)
    failed = [""] * len(frames)
    energy = forces = virial = None
    with tempfile.TemporaryDirectory(prefix="mlipscope-rows-") as work:
        # POD's row generator reads its parameter file from disk; SNAP's needs none
        computer = family.rows_computer(species, hp, Path(work))
        try:
            for k, atoms in enumerate(frames.frames):
                try:
                    e_row, f_rows, v_rows = computer(atoms)
                    if v_rows is None and separate_virial and STRESS_KEY in atoms.info:
                        v_rows = computer.virial_rows(atoms)
                except Exception as exc:  # noqa: BLE001 - a frame the descriptors fail on fails for every member
                    failed[k] = frame_failure(k, exc)["reason"]
                    continue
                if energy is None:  # allocate once p is known: the force block can be hundreds of MB
                    p = len(e_row)
                    energy = np.zeros((len(frames), p))
                    forces = np.zeros((int(offsets[-1]), p))
                    virial = np.full((len(frames), 6, p), np.nan)
                energy[k] = e_row
                forces[offsets[k] : offsets[k + 1]] = f_rows
                if v_rows is not None:
                    virial[k] = v_rows
        finally:
            computer.close()
    if energy is None:
        first = next((f for f in failed if f), "no frames")
        raise EvaluationError(f"descriptor rows failed on all {len(frames)} frames (first: {first})")
    return DatasetRows(energy, forces, offsets, virial, np.array(failed, dtype=str))


# --- batched results -----------------------------------------------------------------------------------------------
#: members predicted and reduced together: bounds the (members x force rows) arrays to ~32 MB each
BLOCK_ELEMENTS = 1 << 22


def _predict(rows: DatasetRows, volumes: np.ndarray | None, betas: np.ndarray) -> Predictions:
    """All members' predictions, one product per block of rows (``betas``: (p, m)); stresses where ``volumes``
    is given, only on the frames that have virial rows."""
    energies = betas.T @ rows.energy.T
    forces = betas.T @ rows.forces.T  # (m, n_rows): each member's forces contiguous, no transposed copy
    stress = None
    if volumes is not None:
        stress = np.full((betas.shape[1], len(volumes), 6), np.nan)
        with_rows = np.flatnonzero(np.isfinite(rows.virial).all(axis=(1, 2)))
        if len(with_rows):
            virial = (betas.T @ rows.virial[with_rows].reshape(-1, rows.n_params).T).reshape(-1, len(with_rows), 6)
            stress[:, with_rows] = -virial / volumes[with_rows, None] * lammpslib_stress_factor()
    return Predictions(energies, forces, stress)


def _volumes(frames: Sequence[Atoms]) -> np.ndarray:
    """Cell volumes (Å³), NaN for a cell with fewer than three vectors (no stress), as ``Cell.rank``."""
    cells = np.array([a.cell.array for a in frames]).reshape(-1, 3, 3)
    return np.where(cells.any(axis=2).sum(axis=1) == 3, np.abs(np.linalg.det(cells)), np.nan)


def batch_results(
    prop: Property,
    members: Sequence[LinearMember | str | Path],
    *,
    cache_dir: str | Path | None = None,
    persist: bool = True,
) -> dict[str, PropertyResult | Exception]:
    """``prop``'s result for every member, as ``prop.compute(member_calculator)`` would give it (see the module
    docstring for failures). Rows are computed (or read from ``cache_dir``, default ``$MLIPSCOPE_CACHE_DIR``) once
    per descriptor group; ``persist=False`` keeps new rows out of the disk cache."""
    linear = [m if isinstance(m, LinearMember) else LinearMember.from_model_dir(m) for m in members]
    keys = [m.key for m in linear]
    if len(set(keys)) != len(keys):
        raise ValueError("member keys must be unique")
    for family in {m.family for m in linear}:
        if not is_batchable(prop, family):
            raise InputError(None, "property", f"a property batchable for {family} members", got=repr(prop))
    if isinstance(prop, DatasetErrors):
        data = load_dataset(prop.dataset)
        frames, needs_virial = list(data.frames), True
    else:
        data, frames = prop.selected_frames()
        needs_virial = False
    frame_set = Dataset(frames, name=data.name, path=data.path) if len(frames) != len(data) else data
    labels = FrameLabels.of(frames)  # the DFT side, once for all groups
    volumes = _volumes(frames) if needs_virial else None
    reference = prop.reference_forces(data, frames) if isinstance(prop, RareEventForces) else None

    groups: dict[str, list[LinearMember]] = {}
    for member in linear:
        groups.setdefault(member.group_key, []).append(member)
    out: dict[str, PropertyResult | Exception] = {}
    for group in groups.values():
        first = group[0]
        rows = dataset_rows(
            frame_set,
            first.family,
            first.hyperparameters,
            first.species,
            virial=needs_virial,
            cache_dir=cache_dir,
            persist=persist,
        )
        for member in group:
            if member.beta.shape != (rows.n_params,):
                raise ValueError(
                    f"member {member.key}: {member.beta.shape[0]} coefficients, its descriptors have {rows.n_params}"
                )
        if isinstance(prop, RareEventForces) and (rows.failed != "").any():
            k = int(np.flatnonzero(rows.failed != "")[0])
            raise EvaluationError(f"{prop.label}: descriptor rows failed on frame {k}: {rows.failed[k]}")
        betas = np.stack([m.beta for m in group], axis=1)
        block = max(1, BLOCK_ELEMENTS // max(1, rows.forces.shape[0]))
        for start in range(0, len(group), block):
            pred = _predict(rows, volumes, betas[:, start : start + block])
            if isinstance(prop, DatasetErrors):
                results = dataset_errors_results(prop, data, labels, rows.failed, pred)
            else:
                results = rare_event_results(prop, data, frames, labels, cast(Reference, reference), pred)
            # a member's failure (an exception in place of its result) is that member's failed evaluation
            out.update(zip([m.key for m in group[start : start + block]], results, strict=True))
    return {key: out[key] for key in keys}
