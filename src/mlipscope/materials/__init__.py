"""The material layer: a material is data (species, crystal, datasets, defects, surfaces, references, suites).

Shipped materials are YAML files in ``package_data/materials``; a user's own material is a file of the same form
(see :mod:`mlipscope.materials.material`), passed with ``--material my.yaml`` or ``[material]`` in a run config.
A structure file alone (``--material Si.cif``, a POSCAR) is a material too: named after the file, its species
those of the file, built as its prototype where it has a known one (:mod:`mlipscope.materials.structure_files`).
"""

from __future__ import annotations

import functools
import re
from importlib.resources import files
from pathlib import Path

from mlipscope.errors import InputError
from mlipscope.materials.material import Material, material_from_dict

#: the seed study's material, used when nothing else is named
DEFAULT_MATERIAL = "si"
#: files read as a structure, not a material YAML: these suffixes, and VASP's POSCAR/CONTCAR names
STRUCTURE_SUFFIXES = (".cif", ".vasp", ".poscar", ".extxyz", ".xyz")
VASP_NAMES = ("POSCAR", "CONTCAR")


def shipped_dir() -> Path:
    return Path(str(files("mlipscope") / "package_data" / "materials"))


def reference_dir() -> Path:
    return Path(str(files("mlipscope") / "package_data" / "reference"))


def shipped_material_names() -> list[str]:
    return sorted(p.stem for p in shipped_dir().glob("*.yaml"))


#: materials this process was sent whole by its parent (an evaluation child: :meth:`Material.reduce_whole`), by the
#: resolved path of their file: loading one by its file returns it without reading the file again
_SENT: dict[str, Material] = {}


def remember_sent(material: Material) -> None:
    """Keep ``material`` (sent whole by the parent process) as what its file loads to in this process."""
    if material.source:
        _SENT[str(Path(material.source).resolve())] = material


def load_material(spec: str | Path | Material | None = None) -> Material:
    """A shipped material by name, or a material file (YAML); None gives the default material."""
    if isinstance(spec, Material):
        return spec
    spec = DEFAULT_MATERIAL if spec is None else str(spec)
    path = Path(spec)
    if _SENT and (sent := _SENT.get(str(path.resolve()))) is not None:  # a material file sent whole to this process
        return sent
    if is_structure_file(path):
        if not path.is_file():
            raise InputError(path, "material file", "an existing structure file (CIF, POSCAR, extxyz)")
        return _load_structure_file(str(path.resolve()), path.stat().st_mtime_ns)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise InputError(path, "material file", "an existing YAML material file")
        return _load_file(str(path.resolve()), path.stat().st_mtime_ns)
    if spec not in shipped_material_names():
        expected = f"a material file or one of the shipped materials {shipped_material_names()}"
        raise InputError(None, "material", expected, got=spec)
    return _load_file(str(shipped_dir() / f"{spec}.yaml"), 0)


@functools.lru_cache(maxsize=32)
def _load_file(path: str, mtime_ns: int) -> Material:
    import yaml

    from mlipscope.plain_input import load_yaml

    source = Path(path)
    try:
        data = load_yaml(source.read_text())
    except yaml.YAMLError as exc:
        raise InputError(source, "file contents", f"valid YAML ({exc})") from None
    return material_from_dict(data, source, shipped_dir=reference_dir())


def is_structure_file(path: Path) -> bool:
    if path.suffix.lower() in (".yaml", ".yml"):
        return False
    return path.suffix.lower() in STRUCTURE_SUFFIXES or path.name.upper().startswith(VASP_NAMES)


@functools.lru_cache(maxsize=32)
def _load_structure_file(path: str, mtime_ns: int) -> Material:
    """A material of one structure file: the file's species (in order of appearance) and its crystal."""
    from ase.io import read

    source = Path(path)
    try:
        atoms = read(source)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file, said in one line
        raise InputError(source, "structure", f"a structure ASE can read ({exc})") from None
    species = list(dict.fromkeys(atoms.get_chemical_symbols()))
    name = re.sub(r"[^A-Za-z0-9_-]", "_", source.stem if source.suffix else source.name) or "structure"
    data = {"name": name, "description": f"{source.name} (structure file)", "species": species,
            "structure": {"file": str(source)}}  # fmt: skip
    return material_from_dict(data, source, shipped_dir=reference_dir())


__all__ = ["DEFAULT_MATERIAL", "Material", "load_material", "shipped_material_names"]
