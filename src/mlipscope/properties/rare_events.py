"""Rare-event (RE) force metrics: how well a model reproduces DFT forces on atoms caught in the middle of a migration.

Definitions (``/work/shared/notes/re_metrics.md``, after Liu & Mo's Learning_from_models study), on the RE atoms
with model force F and reference force F0 (eV/Å):

- δF = | |F| - |F0| |, δθ = angle(F, F0) in degrees;
- RE_F = sqrt(mean(δF²)); RE_M = mean(min(δF, 1 eV/Å)) (area above the CDF of δF on [0, 1]);
  RE_A = mean(min(δθ, 60°)) / 60° (area above the CDF of δθ on [0, 60°], normalised);
- the vector error |F - F0| (RMS and mean), and the fractions with δF > 0.5 eV/Å, δθ > 15° and δθ > 30°.

RE atoms come from the labels of the Si RE test sets (per-atom ``r_migrating``, called ``r`` at the source:
distance to the nearest migrating atom, 0 for a migrating atom) or from an MD trajectory
(:func:`detect_re_atoms`).

``details["frames"]`` of a result: the model's error on every frame's energy and on the forces of the frame's RE
atoms and as many bulk-like ones (:func:`stored_re_atoms`), in the compact layout of
:mod:`mlipscope.properties.frame_data`, for the ensemble uncertainty analysis; δF and δθ per RE atom, for the CDF
figures, are computed from them (:func:`re_errors_from_details`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from mlipscope.data.dataset import ENERGY_KEY, FORCES_KEY, Dataset
from mlipscope.errors import InputError
from mlipscope.materials.material import Material
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.frame_data import HASH_CHARS, FrameErrors
from mlipscope.properties.frames import predict_frames
from mlipscope.properties.md import nearest_site
from mlipscope.properties.registry import SuiteEntry

RE_LABEL_KEYS = ("r_migrating", "r")
#: datasets shipped with the package, by example name
RE_DATASETS = {
    "si_vacancy_re_test": "si/moSi_Vacancy-RE_Testing_Set.extxyz",
    "si_interstitial_re_test": "si/moSi_Interstitial-RE_Testing_Set.extxyz",
}
FORCE_CAP_EV_A = 1.0
ANGLE_CAP_DEG = 60.0
#: (RE-atom masks, DFT forces, stored atoms) per frame: :meth:`RareEventForces.reference_forces`
Reference = tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]


def re_metrics(f_model: np.ndarray, f_ref: np.ndarray) -> dict[str, float]:
    """RE metrics (see the module doc) of model forces against reference forces, both shape (n_atoms, 3)."""
    f_model, f_ref = np.asarray(f_model, dtype=float), np.asarray(f_ref, dtype=float)
    if f_model.shape != f_ref.shape or f_model.ndim != 2 or f_model.shape[1] != 3 or not len(f_model):
        raise ValueError(f"forces must be equal non-empty (n, 3) arrays, got {f_model.shape} and {f_ref.shape}")
    d_f, d_theta = force_errors(f_model, f_ref)
    vector = np.linalg.norm(f_model - f_ref, axis=1)
    return {
        "re_f_ev_a": float(np.sqrt(np.mean(d_f**2))),
        "re_m_ev_a": float(np.mean(np.minimum(d_f, FORCE_CAP_EV_A))),
        "re_a": float(np.mean(np.minimum(d_theta, ANGLE_CAP_DEG)) / ANGLE_CAP_DEG),
        "vector_rmse_ev_a": float(np.sqrt(np.mean(vector**2))),
        "vector_mae_ev_a": float(np.mean(vector)),
        "frac_df_gt_0p5": float(np.mean(d_f > 0.5)),
        "frac_dtheta_gt_15": float(np.mean(d_theta > 15.0)),
        "frac_dtheta_gt_30": float(np.mean(d_theta > 30.0)),
        "n_re_atoms": float(len(d_f)),
    }


def force_errors(f_model: np.ndarray, f_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-atom magnitude error δF (eV/Å) and direction error δθ (degrees)."""
    norm, norm_ref = np.linalg.norm(f_model, axis=1), np.linalg.norm(f_ref, axis=1)
    cos = np.einsum("ij,ij->i", f_model, f_ref) / np.maximum(norm * norm_ref, 1e-300)
    return np.abs(norm - norm_ref), np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def re_distances(atoms: Atoms, source: str | Path | None = None, frame: int | None = None) -> np.ndarray:
    """Per atom, the labelled distance to the nearest migrating atom (``r_migrating`` or ``r``; 0 on RE atoms)."""
    for key in RE_LABEL_KEYS:
        if key in atoms.arrays:
            return np.asarray(atoms.arrays[key], dtype=float).reshape(len(atoms))
    raise InputError(source, "r_migrating", "a per-atom array 'r_migrating' (or 'r') with 0 on RE atoms", frame=frame)


def re_mask(atoms: Atoms, source: str | Path | None = None, frame: int | None = None) -> np.ndarray:
    """Boolean mask of the labelled RE atoms of a frame (``r_migrating == 0`` or ``r == 0``)."""
    return re_distances(atoms, source, frame) == 0


def stored_re_atoms(atoms: Atoms, source: str | Path | None = None) -> np.ndarray:
    """The atoms whose force errors a RE evaluation stores per frame (sorted indices): its RE atoms and, for the
    comparison the uncertainty analysis makes, as many (at least one) of the atoms farthest from them (largest
    ``r_migrating``; ties by index): bulk-like atoms of the same frame. All 64 atoms of the 200 frames of both Si
    sets for every member of a 2000-member ensemble would be 90 % of the store."""
    r = re_distances(atoms, source)
    chosen = np.flatnonzero(r == 0)
    order = np.lexsort((np.arange(len(r)), -r))  # farthest first, then by index
    far = [i for i in order if r[i] != 0][: max(len(chosen), 1)]
    return np.sort(np.concatenate([chosen, np.asarray(far, dtype=np.int64)])).astype(np.int64)


def detect_re_atoms(
    positions_a: np.ndarray,
    sites_a: np.ndarray,
    cell: np.ndarray,
    *,
    off_site_a: float = 0.7,
    min_displacement_a: float = 1.0,
) -> np.ndarray:
    """RE atoms of a trajectory (unwrapped positions, shape (n_frames, n_atoms, 3)): boolean (n_frames, n_atoms).

    Rule: an atom is off-site in a frame when it is farther than ``off_site_a`` from every lattice site (thermal
    vibrations at ~1200 K in Si stay below ~0.5 Å). A run of consecutive off-site frames is an *excursion*,
    bounded by the last on-site frame before it and the first after it (or the trajectory's ends). The atom is an
    RE atom in every frame of an excursion whose end points lie more than ``min_displacement_a`` apart, i.e. it is
    between lattice sites while its displacement crosses that threshold: a jump to another site or an
    interstitial leaving its cage. Off-site wobbles that come back to the same site are not RE.
    """
    positions_a = np.asarray(positions_a, dtype=float)
    n_frames, n_atoms, _ = positions_a.shape
    off = np.empty((n_frames, n_atoms), dtype=bool)
    for t in range(n_frames):
        off[t] = nearest_site(positions_a[t], sites_a, cell)[1] > off_site_a
    result = np.zeros_like(off)
    for i in range(n_atoms):
        t = 0
        while t < n_frames:
            if not off[t, i]:
                t += 1
                continue
            end = t
            while end < n_frames and off[end, i]:
                end += 1
            before, after = max(t - 1, 0), min(end, n_frames - 1)
            if np.linalg.norm(positions_a[after, i] - positions_a[before, i]) > min_displacement_a:
                result[t:end, i] = True
            t = end
    return result


class StoredForcesCalculator(Calculator):
    """A "model" whose forces (and optionally energy) are arrays stored on the frames of a dataset, e.g. the
    lower k-point DFT forces ``forces_K1`` of the RE test sets. A structure is matched to its frame by positions."""

    def __init__(self, frames: Sequence[Atoms], forces_key: str, energy_key: str | None = None) -> None:
        super().__init__()
        self.implemented_properties = ["forces"] + (["energy", "free_energy"] if energy_key else [])
        self._frames = {self._key(a): a for a in frames}
        self.forces_key = forces_key
        self.energy_key = energy_key

    @staticmethod
    def _key(atoms: Atoms) -> bytes:
        return np.round(atoms.positions, 5).tobytes()

    def calculate(self, atoms=None, properties=("forces",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        frame = self._frames.get(self._key(self.atoms))
        if frame is None:
            raise InputError(None, "atoms", f"a structure of the frames holding '{self.forces_key}'")
        self.results = {"forces": np.array(frame.arrays[self.forces_key], dtype=float)}
        if self.energy_key:
            self.results["energy"] = self.results["free_energy"] = float(frame.info[self.energy_key])


def load_re_dataset(dataset: str | Path) -> Dataset:
    """A RE test set by example name (see ``RE_DATASETS``) or path; frames must carry RE labels. Read once per
    process (every model of an ensemble is evaluated on the same set; frames are not modified)."""
    from mlipscope.properties.dataset_errors import load_dataset

    data = load_dataset(dataset)
    for i, atoms in enumerate(data.frames):
        re_mask(atoms, data.path, i)
    return data


class RareEventForces(Property):
    """RE metrics of a model on a RE test set, plus energy (per atom) and force RMSE on the whole set.

    ``dataset``: an example name (``si_vacancy_re_test``, ``si_interstitial_re_test``) or a path. ``max_frames``
    limits the frames used (the first ones), for quick runs. Energies are compared when the calculator provides
    them (a stored-forces "model" may not).
    """

    name = "rare_events"
    suite_order = 80

    @classmethod
    def suite_entries(cls, material: Material) -> list[SuiteEntry]:
        """``re_<name>`` per rare-event set of the material."""
        sets = material.datasets.get("rare_event", {})
        return [cls.suite_entry(f"re_{name}", dataset=spec) for name, spec in sets.items()]

    def __init__(
        self,
        label: str | None = None,
        *,
        dataset: str = "si_vacancy_re_test",
        max_frames: int | None = None,
        material=None,
    ) -> None:
        super().__init__(label, material=material)
        self.dataset = str(dataset)
        self.max_frames = max_frames

    def input_paths(self) -> list[str]:
        from mlipscope.properties.dataset_errors import dataset_path

        return super().input_paths() + [p for p in [dataset_path(self.dataset)] if p]

    def validate_inputs(self) -> None:
        load_re_dataset(self.dataset)

    def selected_frames(self) -> tuple[Dataset, list[Atoms]]:
        """(the RE set, the frames this property evaluates: the first ``max_frames`` or all)."""
        data = load_re_dataset(self.dataset)
        return data, (data.frames[: self.max_frames] if self.max_frames else data.frames)

    def cheaper_setting_result(self, forces_key: str, energy_key: str | None = None) -> PropertyResult | None:
        _, frames = self.selected_frames()
        if not all(forces_key in a.arrays and (energy_key is None or energy_key in a.info) for a in frames):
            return None
        return self.compute(StoredForcesCalculator(frames, forces_key, energy_key))

    def compute(self, calculator: Calculator, context=None) -> PropertyResult:
        data, frames = self.selected_frames()
        with_energy = "energy" in getattr(calculator, "implemented_properties", ["energy"])
        properties = ("energy", "forces") if with_energy else ("forces",)
        # batched where the model offers it (a foundation model: most of the cost); a failing frame fails the set
        predictions = predict_frames(calculator, frames, properties, raise_errors=True, label=self.label)
        forces = [p.forces_ev_a for p in predictions]  # type: ignore[union-attr]
        energies = [p.energy_ev for p in predictions] if with_energy else None  # type: ignore[union-attr]
        return self.result_from_predictions(data, frames, forces, energies)

    @staticmethod
    def reference_forces(data: Dataset, frames: Sequence[Atoms]) -> Reference:
        """(RE-atom masks, DFT forces in eV/Å, the atoms whose errors are stored: :func:`stored_re_atoms`) of
        ``frames``: what every model is compared with."""
        return (
            [re_mask(a, data.path) for a in frames],
            [np.asarray(a.arrays[FORCES_KEY], dtype=float) for a in frames],
            [stored_re_atoms(a, data.path) for a in frames],
        )

    def result_from_predictions(
        self,
        data: Dataset,
        frames: Sequence[Atoms],
        forces_ev_a: Sequence[np.ndarray],
        energies_ev: Sequence[float] | None,
        reference: Reference | None = None,
    ) -> PropertyResult:
        """The result from a model's forces (eV/Å, (n_atoms, 3) per frame) and total energies (eV; None when the
        model gives none) on ``frames`` (the first ones) of ``data``; shared by :meth:`compute` and the batched
        evaluation of linear models (:mod:`mlipscope.models.linear_batch`), which passes :meth:`reference_forces`
        once for all its members. ``details["frames"]``: the errors on every frame's energy and on the forces of
        its :func:`stored_re_atoms` (:mod:`mlipscope.properties.frame_data`)."""
        masks, refs, kept = reference if reference is not None else self.reference_forces(data, frames)
        f_model, f_ref, f_ref_all, e_err, kept_err = [], [], [], [], []
        for k, atoms in enumerate(frames):
            forces, ref, mask = forces_ev_a[k], refs[k], masks[k]
            f_model.append(forces[mask])
            f_ref.append(ref[mask])
            f_ref_all.append(ref)
            kept_err.append((forces[kept[k]] - ref[kept[k]]).ravel())
            if energies_ev is not None:
                e_err.append((energies_ev[k] - atoms.info[ENERGY_KEY]) / len(atoms))
        fm, fr = np.concatenate(f_model), np.concatenate(f_ref)
        values = re_metrics(fm, fr)
        values["force_rmse_ev_a"] = float(
            np.sqrt(np.mean((np.concatenate(list(forces_ev_a)) - np.concatenate(f_ref_all)) ** 2))
        )
        values["energy_rmse_ev_atom"] = float(np.sqrt(np.mean(np.square(e_err)))) if e_err else float("nan")
        units = {k: ("eV/Å" if k.endswith("_ev_a") else "fraction") for k in values}
        units.update(re_a="1", n_re_atoms="count", energy_rmse_ev_atom="eV/atom")
        details = {
            "dataset": self.dataset,
            "n_frames": len(frames),
            "frames": FrameErrors(
                index=np.arange(len(frames)),
                n_atoms=np.array([len(a) for a in frames]),
                energy_error_ev_atom=np.array(e_err if e_err else [np.nan] * len(frames), dtype=float),
                force_error_ev_a=np.concatenate(kept_err),
                stored_atoms=np.concatenate(kept),
                stored_counts=np.array([len(a) for a in kept]),
                dataset=self.dataset,
                dataset_hash=data.content_hash[:HASH_CHARS],
            ).to_details(),
        }
        return self.result(values, units, error_metrics=set(values) - {"n_re_atoms"}, details=details)


def plot_re_cdfs(
    errors: Mapping[str, tuple[Sequence[float], Sequence[float]]], path: str | Path, title: str = ""
) -> Path:
    """CDFs of δF (eV/Å) and δθ (degrees) of several models on one figure (two panels); ``errors`` maps a model
    name to (δF, δθ), e.g. ``(result.details["delta_f_ev_a"], result.details["delta_theta_deg"])``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_f, ax_t) = plt.subplots(1, 2, figsize=(9, 3.8))
    for name, (d_f, d_theta) in errors.items():
        for ax, values in ((ax_f, d_f), (ax_t, d_theta)):
            x = np.sort(np.asarray(values, dtype=float))
            ax.step(x, np.arange(1, len(x) + 1) / len(x), where="post", label=name)
    ax_f.set(xlabel="δF = ||F| − |F₀|| (eV/Å)", ylabel="CDF", xlim=(0, FORCE_CAP_EV_A))
    ax_t.set(xlabel="δθ (degrees)", xlim=(0, ANGLE_CAP_DEG))
    ax_t.legend(fontsize=8)
    fig.suptitle(title or "Force errors on rare-event atoms")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def re_errors_from_details(
    details: Mapping[str, Any], dataset: Dataset | None = None
) -> tuple[list[float], list[float]] | None:
    """(δF in eV/Å, δθ in degrees) per RE atom of a :class:`RareEventForces` result's details (for
    :func:`plot_re_cdfs`); None for details of another property. Details stored before issue 23 hold both lists;
    newer ones hold the errors of the RE atoms' forces (``details["frames"]``, to ±0.0005 eV/Å per component), and
    the DFT forces and RE labels come from ``dataset`` or the set the details name (InputError when it is not
    found or changed since)."""
    if "delta_f_ev_a" in details and "delta_theta_deg" in details:
        return list(details["delta_f_ev_a"]), list(details["delta_theta_deg"])
    stored = details.get("frames")
    if not isinstance(stored, Mapping) or stored.get("stored_atoms") is None:  # RE sets store a sample of atoms
        return None
    errors = FrameErrors.from_details(stored)
    data = dataset if dataset is not None else load_re_dataset(errors.dataset or str(details.get("dataset", "")))
    f_model, f_ref = [], []
    for record in errors.predictions(data):
        mask = re_mask(data.frames[record["index"]], data.path)[record["atoms"]]
        f_model.append(np.reshape(record["forces_model_ev_a"], (-1, 3))[mask])
        f_ref.append(np.reshape(record["forces_dft_ev_a"], (-1, 3))[mask])
    d_f, d_theta = force_errors(np.concatenate(f_model), np.concatenate(f_ref))
    return d_f.tolist(), d_theta.tolist()
