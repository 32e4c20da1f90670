"""Harmonic phonons with phonopy (finite displacements, forces from the model): frequencies at the high-symmetry
points of the crystal's band path and harmonic thermodynamics, for the perfect crystal and for a vacancy cell.

- ``cell="perfect"``: unit cell = the model's relaxed conventional cell (shared by all its properties), force
  constants from a ``supercell`` of it, phonons of the primitive cell phonopy finds (``primitive_matrix="auto"``).
  The band path and its special points come from the cell's symmetry (:meth:`ase.cell.Cell.bandpath`, Setyawan–
  Curtarolo paths). At every special point q ≠ Γ the modes are labelled longitudinal/transverse by the projection
  of their eigenvectors on q (not by their order, so a model with crossed branches still gets the right labels):
  ``<point>_ta_thz`` (mean of the two lowest transverse modes), ``<point>_la_thz`` (lowest longitudinal) and, for
  primitive cells of N > 1 atoms, ``<point>_to_thz`` (mean of the other transverse modes) and ``<point>_lo_thz``
  (mean of the other longitudinal modes). At Γ: ``gamma_acoustic_max_abs_thz`` (largest |frequency| of the three
  acoustic modes: zero for a relaxed crystal) and, for N > 1, ``gamma_lto_thz`` (mean optical frequency).
  Diamond-structure crystals keep the names of the seed study's reference (X and L only): ``gamma_lto_thz``,
  ``x_ta_thz``, ``x_la_lo_thz`` (degenerate by symmetry), ``x_to_thz``, ``l_ta_thz``, ``l_la_thz``, ``l_lo_thz``,
  ``l_to_thz``.
- ``cell="vacancy"``: the ``supercell`` of conventional cells minus one atom, ions relaxed keeping the site
  symmetry (:class:`ase.constraints.FixSymmetry`: a Jahn–Teller distorted vacancy would need ~6x more
  displacements; for SW the Td vacancy is the fully relaxed one), force constants of that cell alone. This relaxed
  cell is a shared structure of the model's context (keyed by its unrattled start, the symmetry constraint and
  ``fmax``): it is not the defect formation energy's cell, which starts rattled and may lose its symmetry. The same
  cell without the vacancy is computed the same way, giving the vibrational formation entropy
  (``vacancy_formation_entropy_kb``) and free energy (``vacancy_formation_free_energy_vib_ev``) of the vacancy.

Thermodynamics at ``temperature_k`` from phonopy's mesh sampling, per atom: ``free_energy_ev_atom`` (harmonic,
with zero-point energy), ``entropy_j_k_mol`` and ``heat_capacity_j_k_mol`` (Cv), per mole of *atoms*.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.units import kJ, mol

from mlipscope.errors import EvaluationError, InputError
from mlipscope.materials.defects import perfect_supercell, vacancy_sites
from mlipscope.materials.material import Material
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.context import SHARED_STRUCTURES_KEY, MaterialContext
from mlipscope.properties.registry import SuiteEntry
from mlipscope.properties.settings import RelaxationSettings

if TYPE_CHECKING:  # phonopy is imported where phonons are computed, not when a suite is listed
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CELLS = ("perfect", "vacancy")
KJ_MOL_TO_EV: float = kJ / mol
#: a frequency below -this (THz) is a real instability, not numerical noise of the acoustic modes near Γ
IMAGINARY_TOLERANCE_THZ = 0.1


def to_phonopy_atoms(atoms: Atoms) -> PhonopyAtoms:
    from phonopy.structure.atoms import PhonopyAtoms

    return PhonopyAtoms(
        symbols=atoms.get_chemical_symbols(), cell=atoms.cell[:], scaled_positions=atoms.get_scaled_positions()
    )


def to_ase_atoms(cell: PhonopyAtoms) -> Atoms:
    return Atoms(symbols=cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions, pbc=True)


def phonopy_with_forces(
    unitcell: Atoms,
    calculator: Calculator,
    supercell: tuple[int, int, int],
    primitive_matrix: str,
    displacement_a: float,
    symprec: float,
) -> Phonopy:
    """A Phonopy object with force constants from the model's forces on the symmetry-reduced displacements."""
    from phonopy import Phonopy

    with warnings.catch_warnings():
        # phonopy warns that 'auto' differs from its v3 default even when 'auto' is asked for explicitly
        warnings.filterwarnings("ignore", "primitive_matrix defaulted")
        phonon = Phonopy(
            to_phonopy_atoms(unitcell),
            supercell_matrix=np.diag(supercell),
            primitive_matrix=primitive_matrix,
            symprec=symprec,
        )
    phonon.generate_displacements(distance=displacement_a)
    sets = []
    for displaced in phonon.supercells_with_displacements:
        atoms = to_ase_atoms(displaced)
        atoms.calc = calculator
        forces = np.asarray(atoms.get_forces(), dtype=float)
        if not np.isfinite(forces).all():
            raise EvaluationError("non-finite forces on a displaced phonon supercell")
        sets.append(forces - forces.mean(axis=0))  # drift would break the acoustic sum rule
    phonon.forces = np.array(sets)
    phonon.produce_force_constants()
    return phonon


def thermal_per_atom(phonon: Phonopy, mesh: tuple[int, int, int], temperature_k: float) -> dict[str, float]:
    """Harmonic F (eV/atom), S and Cv (J/K per mole of atoms) at one temperature from mesh sampling."""
    phonon.run_mesh(mesh, is_gamma_center=True)
    phonon.run_thermal_properties(temperatures=[temperature_k], exclude_gamma_acoustic=True)
    thermal = phonon.get_thermal_properties_dict()
    n_atoms = len(phonon.primitive)  # phonopy's values are per mole of primitive cells
    return {
        "free_energy_ev_atom": float(thermal["free_energy"][0]) * KJ_MOL_TO_EV / n_atoms,
        "entropy_j_k_mol": float(thermal["entropy"][0]) / n_atoms,
        "heat_capacity_j_k_mol": float(thermal["heat_capacity"][0]) / n_atoms,
    }


def _mode_average(freqs: np.ndarray, eigvecs: np.ndarray, q_cart: np.ndarray) -> dict[str, list[float]]:
    """Transverse and longitudinal frequencies at q (each sorted), from the eigenvector projection on q."""
    q_hat = q_cart / np.linalg.norm(q_cart)
    n_atoms = eigvecs.shape[0] // 3
    longitudinal = np.array([np.sum(np.abs(eigvecs[:, j].reshape(n_atoms, 3) @ q_hat) ** 2) for j in range(len(freqs))])
    order = np.argsort(-longitudinal)
    n_long = len(freqs) // 3
    return {
        "L": sorted(float(freqs[j]) for j in order[:n_long]),
        "T": sorted(float(freqs[j]) for j in order[n_long:]),
    }


def special_points(phonon: Phonopy) -> tuple[list[list[str]], dict[str, np.ndarray]]:
    """The band path of the primitive cell (segments of point labels) and the special points in reduced
    coordinates of its reciprocal lattice (what phonopy takes), from the cell's symmetry (ASE)."""
    from ase.cell import Cell
    from ase.dft.kpoints import parse_path_string

    path = Cell(np.asarray(phonon.primitive.cell)).bandpath(npoints=0)
    return parse_path_string(path.path), {k: np.asarray(v, dtype=float) for k, v in path.special_points.items()}


def _point_key(label: str) -> str:
    return "gamma" if label in ("G", "Γ") else label.lower().replace("_", "")


def _frequencies_at(phonon: Phonopy, q_reduced: np.ndarray) -> dict[str, list[float]]:
    rec = np.linalg.inv(np.asarray(phonon.primitive.cell)).T  # columns: reciprocal vectors / 2π
    q_cart = rec @ q_reduced
    freqs, eigvecs = phonon.get_frequencies_with_eigenvectors(q_reduced)
    return _mode_average(np.asarray(freqs), np.asarray(eigvecs), q_cart)


def high_symmetry_frequencies(phonon: Phonopy, diamond_names: bool = False) -> dict[str, float]:
    """Labelled frequencies (THz) at the special points of the band path (see the module docstring)."""
    segments, points = special_points(phonon)
    n_atoms = len(phonon.primitive)
    gamma = np.sort(np.asarray(phonon.get_frequencies([0.0, 0.0, 0.0])))
    values: dict[str, float] = {"gamma_acoustic_max_abs_thz": float(np.abs(gamma[:3]).max())}
    if n_atoms > 1:
        values["gamma_lto_thz"] = float(np.mean(gamma[3:]))
    if diamond_names:
        x, l_point = _frequencies_at(phonon, points["X"]), _frequencies_at(phonon, points["L"])
        values.update(
            x_ta_thz=float(np.mean(x["T"][:2])),
            x_la_lo_thz=float(np.mean(x["L"])),
            x_to_thz=float(np.mean(x["T"][2:])),
            l_ta_thz=float(np.mean(l_point["T"][:2])),
            l_la_thz=l_point["L"][0],
            l_lo_thz=l_point["L"][1],
            l_to_thz=float(np.mean(l_point["T"][2:])),
        )
        return values
    for label in dict.fromkeys(p for seg in segments for p in seg):
        if _point_key(label) == "gamma":
            continue
        modes, key = _frequencies_at(phonon, points[label]), _point_key(label)
        values[f"{key}_ta_thz"] = float(np.mean(modes["T"][:2]))
        values[f"{key}_la_thz"] = modes["L"][0]
        if n_atoms > 1:
            values[f"{key}_to_thz"] = float(np.mean(modes["T"][2:]))
            values[f"{key}_lo_thz"] = float(np.mean(modes["L"][1:]))
    return values


class Phonons(Property):
    """Phonon frequencies (perfect crystal) and harmonic thermodynamics (perfect or vacancy cell).

    ``cell``: "perfect" or "vacancy". ``supercell``: conventional cells per side of the force-constant cell (the
    vacancy cell is this supercell minus one atom). ``displacement_a``: finite displacement (Å).
    ``temperature_k``: temperature of the thermodynamic values. ``mesh``: q-mesh (default 16³ for the 2-atom
    primitive cell, 4³ for the vacancy cell). ``fmax``: ion relaxation of the vacancy cell (eV/Å).
    """

    name = "phonons"
    suite_order = 60

    @classmethod
    def suite_entries(cls, material: Material) -> list[SuiteEntry]:
        """``phonons_<cell>`` per cell of ``phonons.cells``."""
        return [cls.suite_entry(f"phonons_{cell}", cell=cell) for cell in material.phonon_cells]

    def __init__(
        self,
        cell: str = "perfect",
        *,
        supercell: tuple[int, int, int] | list[int] = (2, 2, 2),
        displacement_a: float = 0.01,
        temperature_k: float = 300.0,
        mesh: tuple[int, int, int] | list[int] | None = None,
        band_points: int = 41,
        fmax: float = 1e-3,
        symprec: float = 1e-4,
        label: str | None = None,
        material=None,
    ) -> None:
        super().__init__(label, material=material)
        if cell not in CELLS:
            raise InputError(None, "cell", f"one of {list(CELLS)}", got=cell)
        supercell = tuple(int(n) for n in supercell)
        if len(supercell) != 3 or min(supercell) < 1:
            raise InputError(None, "supercell", "three positive integers, e.g. [2, 2, 2]", got=supercell)
        if cell == "vacancy" and len(set(supercell)) != 1:
            raise InputError(None, "supercell", "equal repeats for the vacancy cell, e.g. [2, 2, 2]", got=supercell)
        self.cell = cell
        self.supercell = supercell
        self.displacement_a = float(displacement_a)
        self.temperature_k = float(temperature_k)
        default_mesh = (16, 16, 16) if cell == "perfect" else (4, 4, 4)
        self.mesh = tuple(int(n) for n in mesh) if mesh is not None else default_mesh
        self.band_points = int(band_points)
        self.fmax = fmax
        self.symprec = symprec
        self.relaxation()  # validates the relaxation settings before any calculation

    def config(self) -> dict[str, Any]:
        return {**super().config(), "supercell": list(self.supercell), "mesh": list(self.mesh)}

    def compute(self, calculator: Calculator, context=None) -> PropertyResult:
        ctx = self.context_for(context)
        with ctx.recording() as used:
            bulk = ctx.relaxed_bulk(calculator)
            if self.cell == "perfect":
                result = self._perfect(calculator, bulk.cell(), bulk.lattice_constant_a)
            else:
                result = self._vacancy(calculator, ctx, bulk.lattice_constant_a)
        result.details[SHARED_STRUCTURES_KEY] = used
        return result

    def relaxation(self) -> RelaxationSettings:
        """How the vacancy cell is relaxed (part of its shared key): ions only, keeping the Td site symmetry
        (BFGS, at most 1000 steps: the settings of the unshared relaxation this replaced)."""
        return RelaxationSettings(fmax=self.fmax, max_steps=1000, optimizer="BFGS", fix_symmetry_symprec=self.symprec)

    def _perfect(self, calculator: Calculator, unit: Atoms, a: float) -> PropertyResult:
        phonon = phonopy_with_forces(unit, calculator, self.supercell, "auto", self.displacement_a, self.symprec)
        proto = self.material.prototype
        values = high_symmetry_frequencies(phonon, diamond_names=proto is not None and proto.seed_phonon_names)
        units = dict.fromkeys(values, "THz")
        details = {"lattice_constant_a": a, "n_displacements": len(phonon.displacements)}
        details.update(self._band_structure(phonon))
        details.update(self._dos(phonon))
        thermo = self._thermo(phonon, details)
        values.update(thermo)
        units.update(_THERMO_UNITS)
        return self.result(values, units, details=details)

    def _vacancy(self, calculator: Calculator, ctx: MaterialContext, a: float) -> PropertyResult:
        repeats = self.supercell[0]
        # neighbours pulled inward (Td kept, no rattle): from the ideal site SW-like models stay in a flat local
        # minimum 1.5 eV above the reconstructed vacancy
        vacancy = vacancy_sites(self.material)[0].name
        relaxation = ctx.relaxed_defect_cell(
            calculator,
            vacancy,
            self.material.supercell_size(repeats),
            a,
            rattle_a=0.0,
            settings=self.relaxation(),
            what="vacancy cell for phonons",
        )
        cell = relaxation.atoms
        phonon = phonopy_with_forces(cell, calculator, (1, 1, 1), "P", self.displacement_a, self.symprec)
        details: dict[str, Any] = {
            "lattice_constant_a": a,
            "n_atoms": len(cell),
            "n_displacements": len(phonon.displacements),
            "relaxation_steps": relaxation.n_steps,
            "relaxed_energy_ev": relaxation.energy_ev,
        }
        details.update(self._dos(phonon))
        values = self._thermo(phonon, details)
        units = dict(_THERMO_UNITS)
        # the same cell without the vacancy, same mesh: formation quantities cancel the finite-mesh error
        perfect = perfect_supercell(self.material, repeats, a)
        ref = phonopy_with_forces(perfect, calculator, (1, 1, 1), "P", self.displacement_a, self.symprec)
        ref_thermo = self._thermo(ref, {})
        n = len(cell)
        # S_f = S(N-1 cell) - (N-1)/N S(N cell); per-atom values times atom counts give cell totals
        s_f_j_k_mol = n * (values["entropy_j_k_mol"] - ref_thermo["entropy_j_k_mol"])
        values["vacancy_formation_entropy_kb"] = s_f_j_k_mol / 8.314462618
        values["vacancy_formation_free_energy_vib_ev"] = n * (
            values["free_energy_ev_atom"] - ref_thermo["free_energy_ev_atom"]
        )
        units.update(vacancy_formation_entropy_kb="k_B", vacancy_formation_free_energy_vib_ev="eV")
        return self.result(values, units, details=details)

    def _thermo(self, phonon: Phonopy, details: dict[str, Any]) -> dict[str, float]:
        thermo = thermal_per_atom(phonon, self.mesh, self.temperature_k)
        min_freq = float(np.min(phonon.get_mesh_dict()["frequencies"]))
        details["min_mesh_frequency_thz"] = min_freq
        if min_freq < -IMAGINARY_TOLERANCE_THZ:
            # harmonic thermodynamics of a dynamically unstable structure is meaningless: keep NaN, say why
            details["thermo_undefined_reason"] = f"imaginary modes down to {min_freq:.2f} THz"
            return dict.fromkeys(thermo, float("nan"))
        return thermo

    def _band_structure(self, phonon: Phonopy) -> dict[str, Any]:
        from phonopy.phonon.band_structure import get_band_qpoints_and_path_connections

        segments, points = special_points(phonon)
        paths = [[points[p].tolist() for p in seg] for seg in segments]
        qpoints, connections = get_band_qpoints_and_path_connections(paths, npoints=self.band_points)
        phonon.run_band_structure(qpoints, path_connections=connections)
        bands = phonon.get_band_structure_dict()
        # tick labels at segment ends; a break in the path joins two labels ("K|U")
        labels: list[str] = []
        for seg in segments:
            names = ["Γ" if p == "G" else p for p in seg]
            if labels:
                labels[-1] = f"{labels[-1]}|{names[0]}"
            else:
                labels.append(names[0])
            labels.extend(names[1:])
        return {
            "band_labels": labels,
            "band_distances": [d.tolist() for d in bands["distances"]],
            "band_frequencies_thz": [f.tolist() for f in bands["frequencies"]],
        }

    def _dos(self, phonon: Phonopy) -> dict[str, Any]:
        phonon.run_mesh(self.mesh, is_gamma_center=True)
        phonon.run_total_dos(sigma=0.1)
        dos = phonon.get_total_dos_dict()
        n_atoms = len(phonon.primitive)
        return {
            "dos_frequency_thz": dos["frequency_points"].tolist(),
            "dos_states_thz_atom": (dos["total_dos"] / n_atoms).tolist(),
        }


_THERMO_UNITS = {
    "free_energy_ev_atom": "eV/atom",
    "entropy_j_k_mol": "J/(K mol)",
    "heat_capacity_j_k_mol": "J/(K mol)",
}


def dispersion_figure(results: dict[str, PropertyResult], path: str | Path | None = None) -> Figure:
    """Phonon dispersion (Γ-X-W-K-Γ-L, results that have one) and DOS per atom, one colour per result."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.5), layout="constrained")
    ax_band, ax_dos = fig.subplots(1, 2, sharey=True, width_ratios=[3, 1])
    ticks: list[float] = []
    for i, (name, result) in enumerate(results.items()):
        color = f"C{i}"
        det = result.details
        if "band_frequencies_thz" in det:
            for seg_d, seg_f in zip(det["band_distances"], det["band_frequencies_thz"], strict=True):
                ax_band.plot(seg_d, seg_f, color=color, lw=1.0)
            ticks = [det["band_distances"][0][0]] + [seg[-1] for seg in det["band_distances"]]
            ax_band.plot([], [], color=color, label=name)
        ax_dos.plot(det["dos_states_thz_atom"], det["dos_frequency_thz"], color=color, label=name)
    if ticks:
        labels = next(r.details["band_labels"] for r in results.values() if "band_labels" in r.details)
        ax_band.set_xticks(ticks, labels)
        ax_band.set_xlim(ticks[0], ticks[-1])
        for t in ticks:
            ax_band.axvline(t, color="0.8", lw=0.6)
        ax_band.legend(fontsize=8)
    ax_band.set_ylabel("frequency (THz)")
    ax_dos.set_xlabel("DOS (states/THz/atom)")
    ax_dos.legend(fontsize=8)
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig
