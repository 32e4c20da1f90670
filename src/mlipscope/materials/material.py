"""A material as data: species, ground-state crystal, datasets by role, defects, surfaces, polymorphs, references.

A material file (YAML) looks like::

    name: mo
    description: Molybdenum, bcc (mlearn data)
    species: [Mo]
    structure: {prototype: bcc, a: 3.16}          # or {file: InP.cif} (any format ASE reads), relative to this file
    datasets:
      training: {mlearn_train: mo_mlearn_train}   # role -> {short name: shipped dataset name or file path}
      test: {mlearn_test: mo_mlearn_test}
      rare_event: {}                              # sets with per-atom r_migrating (0 marks a rare-event atom)
      validation: {}
    defects:
      supercells: [3]              # conventional cells per side of the perfect supercell (sizes follow)
      vacancy: true                # one per symmetry-inequivalent sublattice for compounds
      interstitials: [octahedral, tetrahedral, dumbbell_110, dumbbell_111]   # standard sites of the prototype
      generated_interstitials: {Mo: 2}   # any structure: sites found by pymatgen-analysis-defects (Voronoi)
      elastic: [vacancy]           # defect cells whose elastic constants are computed
    surfaces: [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    polymorphs: {phases: {fcc: {energy_above_ev_atom: 0.42, source: ...}}}   # energy ranking (eV/atom above)
    ranking:                       # more energy-ranking sets: DFT-labelled frames of one source, ranked as they are
      stacking_faults: {dataset: my_faults.extxyz, config_types: [SF], tie_tolerance_mev_atom: 0.1}
    chemical_potentials: {}        # compounds: elemental ground states, {El: {ase_reference: true} | {file: ...}}
    phonons: {cells: [perfect, vacancy]}
    migration: [vacancy]           # NEB paths: vacancy, interstitial (where the prototype has a hop)
    reference: mo_dft.yaml         # reference values (and thresholds), relative to the file or shipped
    suites: {quick: [errors_*, eos, elastic_perfect, vacancy_*]}   # label globs; see properties.suite

Every key but ``name``, ``species`` and ``structure`` is optional. Bad entries raise
:class:`~mlipscope.errors.InputError` naming the file and the key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ase import Atoms
from ase.build import bulk

from mlipscope.errors import InputError
from mlipscope.materials.prototypes import Prototype, get_prototype

DATASET_ROLES = ("training", "test", "rare_event", "validation")
_KEYS = {
    "name",
    "description",
    "species",
    "structure",
    "datasets",
    "defects",
    "surfaces",
    "polymorphs",
    "ranking",
    "phonons",
    "migration",
    "reference",
    "suites",
    "md",
    "liquid",
    "chemical_potentials",
}


@dataclass(frozen=True)
class Structure:
    """The ground-state crystal: a prototype with starting lattice constant(s), or a structure file."""

    prototype: str | None = None
    species: tuple[str, ...] = ()
    a: float | None = None
    c: float | None = None
    file: str | None = None  # absolute path (resolved at load time)
    ase_reference: bool = False  # ASE's reference crystal of the (single) element (ase.build.bulk(symbol))

    def proto(self) -> Prototype | None:
        return get_prototype(self.prototype) if self.prototype else None

    def conventional_cell(self, a: float | None = None, c_over_a: float | None = None) -> Atoms:
        """The conventional cell (cubic where the prototype is cubic), scaled to lattice constant ``a`` (Å).

        For a structure file, ``a`` scales the file's cell isotropically by ``a / a_file`` where ``a_file`` is the
        length of its first cell vector (so ``a`` is that length).
        """
        if self.ase_reference:
            return bulk(self.species[0])
        if self.file is not None:
            from ase.io import read

            atoms = read(self.file)
            if a is not None:
                atoms.set_cell(atoms.cell.array * (a / atoms.cell.lengths()[0]), scale_atoms=True)
            atoms.pbc = True
            return atoms
        proto = self.proto()
        assert proto is not None
        a = a or self.a
        if proto.name == "hcp":
            covera = c_over_a or (self.c / self.a if self.c and self.a else proto.covera)
            return bulk(self.species[0], "hcp", a=a, covera=covera)
        symbol = "".join(self.species) if proto.n_species == 2 else self.species[0]
        return bulk(symbol, proto.ase_crystal, a=a, cubic=proto.cubic)

    def content(self) -> dict[str, Any]:
        out: dict[str, Any] = {"prototype": self.prototype, "species": list(self.species), "a": self.a, "c": self.c}
        if self.ase_reference:
            out["ase_reference"] = True
        if self.file is not None:
            out["file_sha256"] = hashlib.sha256(Path(self.file).read_bytes()).hexdigest()
        return out


@dataclass(frozen=True)
class Material:
    """Everything a suite needs to know about one chemical system (see the module docstring)."""

    name: str
    species: tuple[str, ...]
    structure: Structure
    description: str = ""
    datasets: dict[str, dict[str, str]] = field(default_factory=dict)
    supercells: tuple[int, ...] = (2,)
    vacancy: bool = True
    interstitials: tuple[str, ...] = ()
    #: interstitials generated for structure files: species -> number of sites (pymatgen-analysis-defects)
    generated_interstitials: dict[str, int] = field(default_factory=dict)
    elastic_defects: tuple[str, ...] = ()
    surfaces: tuple[tuple[int, int, int], ...] = ()
    polymorphs: dict[str, Any] = field(default_factory=dict)
    #: energy-ranking sets of labelled frames: name -> {dataset, config_types (or None), tie_tolerance_mev_atom}
    ranking_sets: dict[str, dict[str, Any]] = field(default_factory=dict)
    phonon_cells: tuple[str, ...] = ("perfect",)
    migration: tuple[str, ...] = ()
    reference: str | None = None  # path of the reference YAML/JSON
    suites: dict[str, tuple[str, ...]] = field(default_factory=dict)
    md: dict[str, Any] = field(default_factory=dict)
    liquid: dict[str, Any] = field(default_factory=dict)
    #: elemental ground states of a compound's species (their relaxed energies are the rich-limit chemical potentials)
    elemental_references: dict[str, Structure] = field(default_factory=dict)
    source: str = ""

    # -- derived facts ---------------------------------------------------------------------------------------
    @property
    def prototype(self) -> Prototype | None:
        return self.structure.proto()

    def conventional_cell(self, a: float | None = None) -> Atoms:
        return self.structure.conventional_cell(a)

    @property
    def atoms_per_cell(self) -> int:
        return len(self.conventional_cell())

    def supercell_size(self, repeats: int) -> int:
        """Atoms of the perfect ``repeats``³ supercell."""
        return self.atoms_per_cell * repeats**3

    def repeats_for_size(self, size: int, field_name: str = "size") -> int:
        """Conventional cells per side of the perfect supercell of ``size`` atoms."""
        per_cell = self.atoms_per_cell
        n = round((size / per_cell) ** (1.0 / 3.0)) if size > 0 else 0
        if n < 1 or per_cell * n**3 != size:
            allowed = [per_cell * k**3 for k in range(1, 6)]
            raise InputError(
                self.source or None, field_name, f"a {self.name} supercell size, one of {allowed}", got=size
            )
        return n

    def nearest_neighbour_distance(self, a: float | None = None) -> float:
        """Shortest interatomic distance of the ideal crystal (Å)."""
        atoms = self.conventional_cell(a)
        from ase.neighborlist import neighbor_list

        d = neighbor_list("d", atoms, 0.6 * float(min(atoms.cell.lengths())) + 4.0)
        return float(d.min())

    def fingerprint(self) -> str:
        """Hash of the material's identity and crystal (name, species, structure, a structure file's content); each
        property's own settings (defect, supercell, ...) are part of its configuration. Computed once."""
        cached = self.__dict__.get("_fingerprint")
        if cached is None:
            payload = {"name": self.name, "species": list(self.species), "structure": self.structure.content()}
            cached = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
            object.__setattr__(self, "_fingerprint", cached)  # frozen dataclass: a cache, not a field
        return cached

    def __reduce__(self):
        # a material loaded from a file travels as its path (properties stay small for Dask); workers reload it
        if self.source and Path(self.source).is_file():
            return (_material_from_source, (self.source,))
        return super().__reduce__()

    def __repr__(self) -> str:
        return f"Material({self.name!r}, species={list(self.species)}, structure={self.structure.prototype or 'file'})"


# -- loading ---------------------------------------------------------------------------------------------------


def _expect(cond: bool, source: Path, key: str, expected: str, got: object = None) -> None:
    if not cond:
        raise InputError(source, key, expected, got=got)


def material_from_dict(data: Any, source: Path, shipped_dir: Path | None = None) -> Material:
    """Build and validate a :class:`Material` from the parsed file ``source`` (see the module docstring)."""
    _expect(isinstance(data, dict), source, "file contents", "a mapping of material settings", got=type(data).__name__)
    unknown = sorted(set(data) - _KEYS)
    _expect(not unknown, source, unknown[0] if unknown else "", f"one of the keys {sorted(_KEYS)}", got=unknown)
    for key in ("name", "species", "structure"):
        _expect(key in data, source, key, "a value (required)")
    name = data["name"]
    _expect(isinstance(name, str) and name.replace("_", "").replace("-", "").isalnum(), source, "name",
            "a short name of letters, digits, '-' or '_'", got=name)  # fmt: skip
    species = data["species"]
    _expect(
        isinstance(species, list) and species and all(isinstance(s, str) for s in species),
        source,
        "species",
        "a list of element symbols, e.g. [Mo]",
        got=species,
    )
    from ase.data import atomic_numbers

    for s in species:
        _expect(s in atomic_numbers, source, "species", "element symbols", got=s)
    structure = _structure(data["structure"], tuple(species), source)
    datasets = _datasets(data.get("datasets", {}), source)
    defects = data.get("defects", {}) or {}
    _expect(isinstance(defects, dict), source, "defects", "a mapping (supercells, vacancy, interstitials, elastic)")
    supercells = tuple(int(n) for n in defects.get("supercells", [2]))
    _expect(all(n >= 1 for n in supercells), source, "defects.supercells", "positive integers", got=supercells)
    interstitials = tuple(defects.get("interstitials", []))
    proto = structure.proto()
    for site in interstitials:
        _expect(
            proto is not None and site in {s.name for s in proto.interstitials},
            source,
            "defects.interstitials",
            f"standard interstitials of the prototype: {[s.name for s in proto.interstitials] if proto else []}",
            got=site,
        )
    generated = defects.get("generated_interstitials") or {}
    _expect(
        isinstance(generated, dict)
        and all(s in species and isinstance(n, int) and n > 0 for s, n in generated.items()),
        source,
        "defects.generated_interstitials",
        "a mapping of the material's species to a number of sites, e.g. {In: 2}",
        got=generated,
    )
    elastic_defects = tuple(defects.get("elastic", []))
    vacancy = bool(defects.get("vacancy", True))
    allowed_cells = (["vacancy"] if vacancy else []) + list(interstitials)
    for cell in elastic_defects:
        _expect(
            cell in allowed_cells, source, "defects.elastic", f"defects of this material: {allowed_cells}", got=cell
        )
    surfaces = tuple(tuple(int(i) for i in m) for m in data.get("surfaces", []))
    _expect(all(len(m) == 3 and any(m) for m in surfaces), source, "surfaces", "Miller indices [h, k, l]")
    phonons = data.get("phonons", {}) or {}
    phonon_cells = tuple(phonons.get("cells", ["perfect"]))
    _expect(set(phonon_cells) <= {"perfect", "vacancy"}, source, "phonons.cells", "perfect and/or vacancy")
    migration = tuple(data.get("migration", []))
    for path in migration:
        ok = path == "vacancy" or (path == "interstitial" and proto is not None and proto.interstitial_hop)
        _expect(bool(ok), source, "migration", "vacancy, or interstitial where the prototype has a hop", got=path)
    reference = data.get("reference")
    if reference is not None:
        reference = _resolve(str(reference), source, shipped_dir, "reference")
    suites = {str(k): tuple(v) for k, v in (data.get("suites") or {}).items()}
    for suite, patterns in suites.items():
        _expect(all(isinstance(p, str) for p in patterns), source, f"suites.{suite}", "a list of label globs")
    elemental = {}
    for element, spec in (data.get("chemical_potentials") or {}).items():
        where = f"chemical_potentials.{element}"
        _expect(element in species, source, where, f"one of the material's species {species}", got=element)
        _expect(isinstance(spec, dict), source, where, "{ase_reference: true}, {prototype, a} or {file}", got=spec)
        if spec.get("ase_reference"):
            elemental[element] = Structure(None, (element,), ase_reference=True)
        else:
            elemental[element] = _structure(spec, (element,), source)
    return Material(
        name=name,
        species=tuple(species),
        structure=structure,
        description=str(data.get("description", "")),
        datasets=datasets,
        supercells=supercells,
        vacancy=vacancy,
        interstitials=interstitials,
        generated_interstitials=dict(generated),
        elastic_defects=elastic_defects,
        surfaces=surfaces,  # type: ignore[arg-type]
        polymorphs=dict(data.get("polymorphs") or {}),
        ranking_sets=_ranking_sets(data.get("ranking") or {}, source),
        phonon_cells=phonon_cells,
        migration=migration,
        reference=reference,
        suites=suites,
        md=dict(data.get("md") or {}),
        liquid=dict(data.get("liquid") or {}),
        elemental_references=elemental,
        source=str(source),
    )


def _structure(data: Any, species: tuple[str, ...], source: Path) -> Structure:
    _expect(isinstance(data, dict), source, "structure", "{prototype: ..., a: ...} or {file: ...}", got=data)
    if "file" in data:
        path = Path(str(data["file"]))
        path = path if path.is_absolute() else source.parent / path
        _expect(
            path.is_file(), source, "structure.file", "an existing structure file (CIF, POSCAR, extxyz)", got=str(path)
        )
        from ase.io import read

        try:
            atoms = read(path)
        except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file, said in one line
            raise InputError(path, "structure", f"a structure ASE can read ({exc})") from None
        found = sorted(set(atoms.get_chemical_symbols()))
        _expect(
            found == sorted(species), source, "structure.file", f"a structure of species {list(species)}", got=found
        )
        return Structure(None, species, None, None, str(path.resolve()))
    proto = get_prototype(str(data.get("prototype")), source)
    _expect(
        len(species) == proto.n_species,
        source,
        "species",
        f"{proto.n_species} species for the {proto.name} prototype",
        got=list(species),
    )
    a = data.get("a")
    _expect(isinstance(a, int | float) and a > 0, source, "structure.a", "a starting lattice constant in Å", got=a)
    c = data.get("c")
    _expect(c is None or (isinstance(c, int | float) and c > 0), source, "structure.c", "a lattice constant in Å")
    return Structure(proto.name, species, float(a), None if c is None else float(c))


def _datasets(data: Any, source: Path) -> dict[str, dict[str, str]]:
    _expect(isinstance(data, dict), source, "datasets", f"a mapping of roles {list(DATASET_ROLES)}")
    out: dict[str, dict[str, str]] = {}
    for role, sets in data.items():
        _expect(role in DATASET_ROLES, source, f"datasets.{role}", f"one of the roles {list(DATASET_ROLES)}")
        _expect(isinstance(sets, dict), source, f"datasets.{role}", "a mapping of short name -> dataset", got=sets)
        resolved = {}
        for short, spec in sets.items():
            spec = str(spec)
            candidate = Path(spec) if Path(spec).is_absolute() else source.parent / spec
            resolved[str(short)] = str(candidate.resolve()) if candidate.is_file() else spec
        out[role] = resolved
    return out


_RANKING_KEYS = {"dataset", "config_types", "tie_tolerance_mev_atom"}


def _ranking_sets(data: Any, source: Path) -> dict[str, dict[str, Any]]:
    """``ranking: {name: {dataset, config_types, tie_tolerance_mev_atom}}``, the dataset resolved like ``datasets``."""
    _expect(isinstance(data, dict), source, "ranking", "a mapping of set name -> {dataset, config_types}", got=data)
    out: dict[str, dict[str, Any]] = {}
    for name, spec in data.items():
        where = f"ranking.{name}"
        _expect(
            isinstance(name, str) and name.replace("_", "").isalnum() and name.islower(),
            source, where, "a set name of lower-case letters, digits and '_'", got=name,
        )  # fmt: skip
        _expect(isinstance(spec, dict) and "dataset" in spec, source, where, "{dataset: ..., config_types: [...]}")
        unknown = sorted(set(spec) - _RANKING_KEYS)
        _expect(not unknown, source, where, f"keys among {sorted(_RANKING_KEYS)}", got=unknown)
        types = spec.get("config_types")
        _expect(
            types is None or (isinstance(types, list) and all(isinstance(t, str) for t in types)),
            source, f"{where}.config_types", "a list of config_type names", got=types,
        )  # fmt: skip
        tie = spec.get("tie_tolerance_mev_atom", 0.0)
        _expect(
            isinstance(tie, int | float) and not isinstance(tie, bool) and tie >= 0,
            source, f"{where}.tie_tolerance_mev_atom", "a non-negative number (meV/atom)", got=tie,
        )  # fmt: skip
        dataset = str(spec["dataset"])
        candidate = Path(dataset) if Path(dataset).is_absolute() else source.parent / dataset
        out[name] = {
            "dataset": str(candidate.resolve()) if candidate.is_file() else dataset,
            "config_types": list(types) if types else None,
            "tie_tolerance_mev_atom": float(tie),
        }
    return out


def _resolve(name: str, source: Path, shipped_dir: Path | None, key: str) -> str:
    candidate = Path(name) if Path(name).is_absolute() else source.parent / name
    if candidate.is_file():
        return str(candidate.resolve())
    if shipped_dir is not None and (shipped_dir / name).is_file():
        return str(shipped_dir / name)
    raise InputError(source, key, "an existing file (relative to the material file, or shipped)", got=name)


def _material_from_source(source: str) -> Material:
    from mlipscope.materials import load_material

    return load_material(source)
