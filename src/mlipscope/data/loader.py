"""Read labelled configurations (extended XYZ, ASE databases) into a validated :class:`Dataset`.

Labels are taken from the calculator results ASE attaches while parsing (``energy``, ``forces``, ``stress``)
or from the given/usual info and array keys, checked, and moved to the fixed keys of
:mod:`mlipscope.data.dataset`. Every other info entry and per-atom array (e.g. ``r_migrating``,
``forces_K1`` or ``energy_K2`` of the rare-event test sets) is kept untouched.

Energy zero points: DFT codes and pseudopotentials put the zero of energy in different places, so total
energies from different ``source`` values cannot be mixed in one set as they are. A set whose frames name
more than one source is refused unless ``reference_energies`` gives, for each source, the energy per atom to
subtract (eV/atom: a float, or a ``{element: eV/atom}`` mapping for compounds): ``E -> E - sum_i ref(source,
element_i)``. The subtracted amount is kept in ``info["dft_energy_reference_ev"]``; frames that already
carry it (e.g. written back by :func:`write_dataset`) count as referenced and are not shifted twice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.stress import full_3x3_to_voigt_6_stress

from mlipscope.data.dataset import ENERGY_KEY, FORCES_KEY, STRESS_KEY, Dataset
from mlipscope.errors import InputError

REFERENCE_SHIFT_KEY = "dft_energy_reference_ev"
XYZ_SUFFIXES = (".xyz", ".extxyz")
DB_SUFFIXES = (".db", ".json")

# Where labels are looked for when no key is given (calculator results first, then info / arrays).
_ENERGY_KEYS = ("energy", ENERGY_KEY, "REF_energy", "DFT_energy")
_FORCES_KEYS = ("forces", FORCES_KEY, "REF_forces", "DFT_forces")
_STRESS_KEYS = ("stress", STRESS_KEY, "REF_stress", "DFT_stress")
_VIRIAL_KEYS = ("virial", "REF_virial", "DFT_virial")

# Declared units we accept (compared lower-case, spaces removed); anything else is refused, not converted.
_UNIT_KEYS = {
    "energy": (("energy_units", "energy_unit"), {"ev"}),
    "forces": (
        ("forces_units", "forces_unit", "force_units", "force_unit"),
        {"ev/a", "ev/å", "ev/ang", "ev/angstrom"},
    ),
    "stress": (
        ("stress_units", "stress_unit"),
        {"ev/a^3", "ev/a3", "ev/å³", "ev/å^3", "ev/å3", "ev/ang^3", "ev/ang3", "ev/angstrom^3"},
    ),
    "units": (("units", "unit"), {"ev", "metal", "ev/a", "ev,a", "ev/å"}),
}
_EXPECTED_UNIT = {
    "energy": "eV",
    "forces": "eV/Å",
    "stress": "eV/Å³",
    "units": "eV and Å (e.g. 'eV' or 'metal')",
}


def read_dataset(
    path: str | Path,
    *,
    name: str | None = None,
    index: int | str | slice = ":",
    reference_energies: Mapping[str, float | Mapping[str, float]] | None = None,
    energy_key: str | None = None,
    forces_key: str | None = None,
    stress_key: str | None = None,
) -> Dataset:
    """Read an extended XYZ (``.xyz``/``.extxyz``) or ASE database (``.db``/``.json``) file into a Dataset.

    ``index`` selects frames as in ``ase.io.read`` (``":"``, ``"0:10"``, ``-1``, a slice); frame numbers in
    error messages are positions in the file. ``energy_key``/``forces_key``/``stress_key`` name where the
    labels are (e.g. ``energy_key="energy_K2"``); by default the usual names are tried. Raises
    :class:`InputError` naming the file, frame and field for every problem found.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "path", "an existing extended XYZ (.xyz/.extxyz) or ASE database (.db/.json) file")
    frames = _read_frames(path)
    if not frames:
        raise InputError(path, "frames", "at least one configuration (the file holds none)")
    positions = _select(path, len(frames), index)
    labelled = [
        _labelled_frame(path, i, frames[i], energy_key, forces_key, stress_key, reference_energies) for i in positions
    ]
    _check_energy_zero(path, labelled, positions)
    return Dataset(labelled, name=name or path.stem, path=path)


def read_datasets(paths: Iterable[str | Path], **kwargs: Any) -> list[Dataset]:
    """:func:`read_dataset` for each path (same keyword arguments for all)."""
    return [read_dataset(p, **kwargs) for p in paths]


def combine_datasets(datasets: Sequence[Dataset], name: str = "combined") -> Dataset:
    """Concatenate datasets, refusing to mix energy zero points (see the module docstring)."""
    frames = [a for d in datasets for a in d.frames]
    if not frames:
        raise InputError(None, "datasets", "at least one non-empty dataset to combine")
    _check_energy_zero(None, frames, list(range(len(frames))))
    return Dataset(frames, name=name)


def write_dataset(dataset: Dataset, path: str | Path) -> Path:
    """Write ``dataset`` as extended XYZ with the labels as standard ``energy``/``forces``/``stress``."""
    import ase.io

    path = Path(path)
    out = []
    for atoms in dataset.frames:
        copy = atoms.copy()
        energy = copy.info.pop(ENERGY_KEY)
        forces = copy.arrays.pop(FORCES_KEY)
        stress = copy.info.pop(STRESS_KEY, None)
        copy.calc = SinglePointCalculator(copy, energy=energy, forces=forces, stress=stress)
        out.append(copy)
    path.parent.mkdir(parents=True, exist_ok=True)
    ase.io.write(path, out, format="extxyz")
    return path


# -- reading -------------------------------------------------------------------------------------------------


def _read_frames(path: Path) -> list[Atoms]:
    """Parse the whole file; any parser failure becomes an InputError that names the file and format."""
    suffix = path.suffix.lower()
    try:
        if suffix in DB_SUFFIXES:
            return _read_db(path)
        import ase.io

        fmt = "extxyz" if suffix in XYZ_SUFFIXES else None
        return list(ase.io.read(path, index=":", format=fmt))
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - parsers raise anything from ValueError to sqlite3 errors
        kind = "an ASE database" if suffix in DB_SUFFIXES else "an extended XYZ file"
        raise InputError(path, "file contents", f"{kind} readable by ASE ({type(exc).__name__}: {exc})") from exc


def _read_db(path: Path) -> list[Atoms]:
    """Rows of an ASE database as Atoms: key-value pairs and data to info, per-atom data to arrays."""
    import ase.db

    frames = []
    with ase.db.connect(path) as db:
        for row in db.select():
            atoms = row.toatoms()
            atoms.info.update(row.key_value_pairs)
            for key, value in row.data.items():
                arr = np.asarray(value) if not isinstance(value, dict | str) else None
                if arr is not None and arr.ndim >= 1 and arr.shape[0] == len(atoms) and arr.dtype != object:
                    atoms.arrays[key] = arr
                else:
                    atoms.info[key] = value
            frames.append(atoms)
    return frames


def _select(path: Path, n_frames: int, index: int | str | slice) -> list[int]:
    from ase.io.formats import string2index

    try:
        key = string2index(index) if isinstance(index, str) else index
        chosen = range(n_frames)[key]
    except (ValueError, IndexError, TypeError) as exc:
        raise InputError(
            path, "index", f"a frame index or slice within the {n_frames} frames ({exc})", got=index
        ) from None
    positions = [chosen] if isinstance(chosen, int) else list(chosen)
    if not positions:
        raise InputError(path, "index", f"a selection of at least one of the {n_frames} frames", got=index)
    return positions


# -- labels and validation -----------------------------------------------------------------------------------


def _labelled_frame(
    path: Path,
    frame: int,
    atoms: Atoms,
    energy_key: str | None,
    forces_key: str | None,
    stress_key: str | None,
    reference_energies: Mapping[str, Any] | None,
) -> Atoms:
    results = dict(atoms.calc.results) if atoms.calc is not None else {}
    atoms.calc = None  # labels live in info/arrays so a model calculator never hides them
    n_atoms = len(atoms)
    if n_atoms == 0:
        raise InputError(path, "positions", "at least one atom", frame=frame)
    if not np.all(np.isfinite(atoms.positions)):
        raise InputError(path, "positions", "finite coordinates in Å (found NaN or inf)", frame=frame)
    _check_units(path, frame, atoms.info)

    e_key, energy = _find(results, atoms.info, energy_key, _ENERGY_KEYS)
    if e_key is None:
        raise InputError(path, energy_key or "energy", "a total energy in eV for every frame (missing)", frame=frame)
    energy_ev = _scalar(path, frame, e_key, energy)

    f_key, forces = _find(results, atoms.arrays, forces_key, _FORCES_KEYS)
    if f_key is None:
        raise InputError(path, forces_key or "forces", "per-atom forces in eV/Å for every frame (missing)", frame=frame)
    forces_ev_a = np.array(forces, dtype=float)
    if forces_ev_a.shape != (n_atoms, 3):
        raise InputError(
            path,
            f_key,
            f"forces of shape ({n_atoms}, 3) in eV/Å",
            frame=frame,
            got=f"shape {forces_ev_a.shape}",
        )
    if not np.all(np.isfinite(forces_ev_a)):
        raise InputError(path, f_key, "finite forces in eV/Å (found NaN or inf)", frame=frame)

    stress_voigt = _stress(path, frame, atoms, results, stress_key)

    atoms.info[ENERGY_KEY] = energy_ev
    atoms.arrays[FORCES_KEY] = forces_ev_a
    if stress_voigt is not None:
        atoms.info[STRESS_KEY] = stress_voigt
    if reference_energies is not None and REFERENCE_SHIFT_KEY not in atoms.info:
        shift_ev = _reference_shift(path, frame, atoms, reference_energies)
        atoms.info[ENERGY_KEY] = energy_ev - shift_ev
        atoms.info[REFERENCE_SHIFT_KEY] = shift_ev
    return atoms


def _find(
    results: dict[str, Any], store: Mapping[str, Any], key: str | None, candidates: tuple[str, ...]
) -> tuple[str | None, Any]:
    """(key, value) of the first label in the calculator results, then in ``store``; (None, None) if none."""
    for k in (key,) if key else candidates:
        for source in (results, store):
            if k in source and source[k] is not None:
                return k, source[k]
    return None, None


def _scalar(path: Path, frame: int, key: str, value: Any) -> float:
    arr = np.asarray(value)
    if arr.size != 1 or not np.issubdtype(arr.dtype, np.number):
        raise InputError(path, key, "one number (total energy in eV)", frame=frame, got=value)
    energy_ev = float(arr.reshape(()))
    if not math.isfinite(energy_ev):
        raise InputError(path, key, "a finite total energy in eV", frame=frame, got=energy_ev)
    return energy_ev


def _stress(path: Path, frame: int, atoms: Atoms, results: dict[str, Any], stress_key: str | None) -> np.ndarray | None:
    """Voigt-6 stress in eV/Å³ (from 6, 9 or 3x3 stress values, or from a virial in eV); None if absent."""
    key, value = _find(results, atoms.info, stress_key, _STRESS_KEYS)
    from_virial = False
    if key is None and stress_key is None:
        key, value = _find(results, atoms.info, None, _VIRIAL_KEYS)
        from_virial = key is not None
    if key is None:
        if stress_key is not None:
            raise InputError(path, stress_key, "a stress in eV/Å³ for every frame (missing)", frame=frame)
        return None
    try:
        arr = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(path, key, "6 or 9 numbers (stress in eV/Å³)", frame=frame, got=value) from None
    if arr.shape in ((9,), (3, 3)):
        arr = full_3x3_to_voigt_6_stress(arr.reshape(3, 3))
    elif arr.shape != (6,):
        raise InputError(
            path,
            key,
            "a stress of 6 (Voigt) or 9 (3x3) values in eV/Å³",
            frame=frame,
            got=f"shape {arr.shape}",
        )
    if not np.all(np.isfinite(arr)):
        raise InputError(path, key, "a finite stress in eV/Å³ (found NaN or inf)", frame=frame)
    if from_virial:
        volume_a3 = atoms.get_volume() if atoms.cell.rank == 3 else 0.0
        if volume_a3 <= 0:
            raise InputError(path, key, "a periodic cell with a volume to turn the virial into a stress", frame=frame)
        arr = -arr / volume_a3  # virial W = -V * sigma (eV)
    return arr


def _check_units(path: Path, frame: int, info: Mapping[str, Any]) -> None:
    for kind, (keys, allowed) in _UNIT_KEYS.items():
        for key in keys:
            if key in info and str(info[key]).replace(" ", "").lower() not in allowed:
                raise InputError(
                    path,
                    key,
                    f"{_EXPECTED_UNIT[kind]} (other units are not converted)",
                    frame=frame,
                    got=info[key],
                )


def _reference_shift(path: Path, frame: int, atoms: Atoms, reference_energies: Mapping[str, Any]) -> float:
    source = str(atoms.info.get("source", ""))
    if source not in reference_energies:
        raise InputError(
            path,
            "source",
            f"a source listed in reference_energies ({sorted(reference_energies)})",
            frame=frame,
            got=source,
        )
    ref = reference_energies[source]
    if isinstance(ref, Mapping):
        missing = sorted(set(atoms.get_chemical_symbols()) - set(ref))
        if missing:
            raise InputError(
                None,
                f"reference_energies[{source!r}]",
                f"an energy per atom for {missing} (eV/atom)",
                frame=frame,
            )
        return float(sum(float(ref[s]) for s in atoms.get_chemical_symbols()))
    if isinstance(ref, bool) or not isinstance(ref, int | float) or not math.isfinite(ref):
        raise InputError(None, f"reference_energies[{source!r}]", "a finite energy per atom in eV/atom", got=ref)
    return float(ref) * len(atoms)


def _check_energy_zero(path: Path | None, frames: Sequence[Atoms], positions: Sequence[int]) -> None:
    """Refuse frames on different energy zero points: several unreferenced sources, or mixed referencing."""
    referenced = [REFERENCE_SHIFT_KEY in a.info for a in frames]
    if all(referenced):
        return
    sources = [str(a.info.get("source", "")) for a in frames]
    if not any(referenced) and len(set(sources)) == 1:
        return
    if any(referenced):
        frame = positions[referenced.index(False)]
        expected = "every frame on the same energy zero: some frames had reference energies subtracted, others not"
    else:
        frame = positions[next(i for i, s in enumerate(sources) if s != sources[0])]
        expected = (
            f"one energy zero point per dataset: frames come from sources {sorted(set(sources))}; pass "
            "reference_energies={source: eV/atom} for each source to subtract per-atom reference energies"
        )
    raise InputError(path, "source", expected, frame=frame)
