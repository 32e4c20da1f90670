"""A material as data: species, ground-state crystal, datasets by role, defects, surfaces, polymorphs, references.

A material file (YAML) looks like::

    name: mo
    description: Molybdenum, bcc (mlearn data)
    species: [Mo]
    structure: {prototype: bcc, a: 3.16}          # or {file: InP.cif} (any format ASE reads), relative to this file;
                                                  # a file of a known prototype is built as that prototype
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

Every key but ``name``, ``species`` and ``structure`` is optional. A structure-file material without ``defects``,
``migration``, ``surfaces`` or ``phonons`` gets those of the shipped material of its detected prototype (see
:mod:`mlipscope.materials.structure_files`). The form of the file is
:class:`~mlipscope.materials.schema.MaterialFile`; bad entries raise one :class:`~mlipscope.errors.InputError` naming
the file and the key, before any work.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ase import Atoms

from mlipscope.errors import InputError
from mlipscope.materials.prototypes import Prototype, get_prototype

if TYPE_CHECKING:  # the file schema (pydantic) is imported where a file is read: an evaluation child only unpickles
    from mlipscope.materials.schema import Crystal, RankingSet


def bulk(*args: Any, **kwargs: Any) -> Atoms:
    """``ase.build.bulk``, imported on first use: ``ase.build`` loads most of scipy, a large part of the start-up of
    a command that only reads materials (the CLI's main process builds no structure)."""
    from ase.build import bulk as ase_bulk

    return ase_bulk(*args, **kwargs)


@dataclass(frozen=True)
class Structure:
    """The ground-state crystal: a prototype with starting lattice constant(s), or a structure file. A structure file
    of a known prototype has both: the detected ``prototype`` (built at the file's ``a``, ``c``) and its ``file``."""

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

        For a structure file of no known prototype, ``a`` scales the file's cell isotropically by ``a / a_file``
        where ``a_file`` is the length of its first cell vector (so ``a`` is that length).
        """
        if self.ase_reference:
            return bulk(self.species[0])
        if self.prototype is None and self.file is not None:
            from ase.io import read

            atoms = read(self.file)
            if a is not None:
                atoms.set_cell(atoms.cell.array * (a / atoms.cell.lengths()[0]), scale_atoms=True)
            atoms.pbc = True
            return atoms
        proto = self.proto()
        assert proto is not None and self.a is not None
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
        crystal = self.structure
        if crystal.file is None and not crystal.ase_reference and (proto := crystal.proto()) is not None:
            # what the prototype's cell holds, without building it: listing a suite asks this of every family
            return proto.atoms_per_cell
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

    def reduce_whole(self) -> tuple:
        """A pickle reduction carrying the whole material, not its path: for a child on this machine, where size does
        not matter and reloading the file would cost its validation (pydantic's import and the schema, ~0.07 s of a
        one-property ``benchmark``). The receiving process loads the material by its file without reading it
        (:func:`mlipscope.materials.remember_sent`). Used in a pickler's ``dispatch_table``."""
        return (_material_sent, (type(self), dict(self.__dict__)))

    def __repr__(self) -> str:
        structure = self.structure.prototype or "file"
        if self.structure.prototype and self.structure.file:
            structure += " (file)"
        return f"Material({self.name!r}, species={list(self.species)}, structure={structure})"


# -- loading ---------------------------------------------------------------------------------------------------


def _expect(cond: bool, source: Path, key: str, expected: str, got: object = None) -> None:
    if not cond:
        raise InputError(source, key, expected, got=got)


def material_from_dict(data: Any, source: Path, shipped_dir: Path | None = None) -> Material:
    """Build and validate a :class:`Material` from the parsed file ``source`` (see the module docstring): the form by
    :class:`~mlipscope.materials.schema.MaterialFile`, then what needs more than the file."""
    from mlipscope.materials.schema import DATASET_ROLES, MaterialFile
    from mlipscope.validation import validate

    spec = validate(MaterialFile, data, source)
    from ase.data import atomic_numbers

    species = tuple(spec.species)
    for s in species:
        _expect(s in atomic_numbers, source, "species", "element symbols", got=s)
    structure = _structure(spec.structure, species, source, "structure")
    if structure.file is not None:  # what a structure file leaves out: its prototype's defects (structure_files)
        from mlipscope.materials.structure_files import structure_file_defaults

        n_cell = 0 if structure.prototype else len(structure.conventional_cell())
        defaults = structure_file_defaults(structure.prototype, species, n_cell)
        missing = {key: value for key, value in defaults.items() if data.get(key) is None}
        if missing:
            spec = validate(MaterialFile, {**data, **missing}, source)
    defects = spec.defects
    interstitials = tuple(defects.interstitials)
    proto = structure.proto()
    known_sites = [s.name for s in proto.interstitials] if proto else []
    for site in interstitials:
        expected = f"standard interstitials of the prototype: {known_sites}"
        _expect(site in known_sites, source, "defects.interstitials", expected, got=site)
    for element in defects.generated_interstitials:
        expected = "a mapping of the material's species to a number of sites, e.g. {In: 2}"
        _expect(element in species, source, "defects.generated_interstitials", expected, got=element)
    allowed_cells = (["vacancy"] if defects.vacancy else []) + list(interstitials)
    for cell in defects.elastic:
        expected = f"defects of this material: {allowed_cells}"
        _expect(cell in allowed_cells, source, "defects.elastic", expected, got=cell)
    for path in spec.migration:
        ok = path == "vacancy" or (path == "interstitial" and proto is not None and proto.interstitial_hop)
        _expect(bool(ok), source, "migration", "vacancy, or interstitial where the prototype has a hop", got=path)
    elemental = {}
    for element, crystal in spec.chemical_potentials.items():
        where = f"chemical_potentials.{element}"
        _expect(element in species, source, where, f"one of the material's species {list(species)}", got=element)
        if crystal.ase_reference:
            elemental[element] = Structure(None, (element,), ase_reference=True)
        else:
            elemental[element] = _structure(crystal, (element,), source, where)
    # the datasets' roles in the order the file gives them
    roles = [role for role in (data.get("datasets") or {}) if role in DATASET_ROLES]
    return Material(
        name=spec.name,
        species=species,
        structure=structure,
        description=str(spec.description),
        datasets={role: _resolve_datasets(getattr(spec.datasets, role), source) for role in roles},
        supercells=tuple(defects.supercells),
        vacancy=defects.vacancy,
        interstitials=interstitials,
        generated_interstitials=dict(defects.generated_interstitials),
        elastic_defects=tuple(defects.elastic),
        surfaces=tuple((h, k, l) for h, k, l in spec.surfaces),
        polymorphs=dict(spec.polymorphs),
        ranking_sets=_ranking_sets(spec.ranking, source),
        phonon_cells=tuple(spec.phonons.cells),
        migration=tuple(spec.migration),
        reference=None if spec.reference is None else _resolve(spec.reference, source, shipped_dir, "reference"),
        suites={name: tuple(patterns) for name, patterns in spec.suites.items()},
        md=dict(spec.md),
        liquid=dict(spec.liquid),
        elemental_references=elemental,
        source=str(source),
    )


def _structure(crystal: Crystal, species: tuple[str, ...], source: Path, where: str) -> Structure:
    """A prototype crystal (lattice constants checked) or a structure file (read, its species checked)."""
    if crystal.file is not None:
        path = Path(crystal.file)
        path = path if path.is_absolute() else source.parent / path
        expected = "an existing structure file (CIF, POSCAR, extxyz)"
        _expect(path.is_file(), source, f"{where}.file", expected, got=str(path))
        from ase.io import read

        try:
            atoms = read(path)
        except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file, said in one line
            raise InputError(path, "structure", f"a structure ASE can read ({exc})") from None
        found = sorted(set(atoms.get_chemical_symbols()))
        expected = f"a structure of species {list(species)}"
        _expect(found == sorted(species), source, f"{where}.file", expected, got=found)
        from mlipscope.materials.structure_files import detect_prototype

        detected = detect_prototype(atoms, species) if atoms.cell.rank == 3 else None
        if detected is None:
            return Structure(None, species, None, None, str(path.resolve()))
        return Structure(detected.prototype, species, detected.a, detected.c, str(path.resolve()))
    proto = get_prototype(str(crystal.prototype), source)
    expected = f"{proto.n_species} species for the {proto.name} prototype"
    _expect(len(species) == proto.n_species, source, "species", expected, got=list(species))
    _expect(crystal.a is not None, source, f"{where}.a", "a starting lattice constant in Å")
    return Structure(proto.name, species, crystal.a, crystal.c)


def _resolve_datasets(sets: dict[str, str], source: Path) -> dict[str, str]:
    """A dataset file is made absolute (relative to the material file); a shipped name stays as is."""
    out = {}
    for short, spec in sets.items():
        candidate = Path(spec) if Path(spec).is_absolute() else source.parent / spec
        out[short] = str(candidate.resolve()) if candidate.is_file() else spec
    return out


def _ranking_sets(sets: dict[str, RankingSet], source: Path) -> dict[str, dict[str, Any]]:
    """``ranking: {name: {dataset, config_types, tie_tolerance_mev_atom}}``, the dataset resolved like ``datasets``."""
    out: dict[str, dict[str, Any]] = {}
    for name, spec in sets.items():
        ok = name.replace("_", "").isalnum() and name.islower()
        _expect(ok, source, f"ranking.{name}", "a set name of lower-case letters, digits and '_'", got=name)
        candidate = Path(spec.dataset) if Path(spec.dataset).is_absolute() else source.parent / spec.dataset
        out[name] = {
            "dataset": str(candidate.resolve()) if candidate.is_file() else spec.dataset,
            "config_types": list(spec.config_types) if spec.config_types else None,
            "tie_tolerance_mev_atom": float(spec.tie_tolerance_mev_atom),
        }
    return out


def _resolve(name: str, source: Path, shipped_dir: Path | None, key: str) -> str:
    candidate = Path(name) if Path(name).is_absolute() else source.parent / name
    if candidate.is_file():
        return str(candidate.resolve())
    if shipped_dir is not None and (shipped_dir / name).is_file():
        return str(shipped_dir / name)
    raise InputError(source, key, "an existing file (relative to the material file, or shipped)", got=name)


def _material_sent(cls: type[Material], state: dict[str, Any]) -> Material:
    from mlipscope.materials import remember_sent

    material = object.__new__(cls)
    material.__dict__.update(state)  # as pickle restores a dataclass (frozen: no __setattr__)
    remember_sent(material)
    return material


def _material_from_source(source: str) -> Material:
    from mlipscope.materials import load_material

    return load_material(source)
