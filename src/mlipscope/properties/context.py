"""What a property receives besides the calculator: the material, and the model's relaxed bulk, computed once.

A :class:`MaterialContext` belongs to one (model, material) pair. The first property that needs the relaxed bulk
crystal relaxes it with the calculator it is given; every later property of the same model reuses that structure
(a copy), so a model's lattice constant, energy per atom and relaxed cell are the same in all its properties and
are not re-relaxed in each. :meth:`MaterialContext.shared` does the same for any result keyed by name (a
property's result under its :meth:`~mlipscope.properties.base.Property.share_key`: the NEB barrier that the
migration property and the diffusion property's NEB check both need). The runner keeps one context per model and
material in each worker process.

Relaxed structures are shared the same way (:meth:`MaterialContext.relaxed_structure`,
:meth:`MaterialContext.relaxed_defect_cell`): keyed by the structure (name, supercell size, lattice constant, the
rattle and seed of its start) and the relaxation settings (:class:`~mlipscope.properties.settings.RelaxationSettings`),
so two properties share a relaxed cell only when they would have relaxed the same start in the same way: the
defect formation energy and the defect cell's elastic constants share the fixed-cell ion relaxation of the defect
cell; the NEB end points are shared by migration properties that differ only in their band settings. A property
lists what it used under ``details["shared_structures"]`` (:data:`SHARED_STRUCTURES_KEY`; see
:meth:`MaterialContext.recording`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from ase import Atoms
from ase.calculators.calculator import Calculator

from mlipscope.errors import EvaluationError, TaskTimeout
from mlipscope.materials.material import Material
from mlipscope.properties.settings import RelaxationSettings
from mlipscope.properties.structures import relax_with, relaxed_bulk

T = TypeVar("T")

#: settings of the shared bulk relaxation (part of every evaluation's provenance)
BULK_RELAXATION = {"fmax": 1e-4, "max_steps": 500, "optimizer": "BFGS"}
#: ion relaxation of a defect cell at the model's lattice constant (fixed cell): the defect formation energy's
#: defaults and the first stage of a defect cell's elastic constants, so the two relax the defect cell once
DEFECT_ION_RELAXATION = RelaxationSettings(fmax=1e-3, max_steps=2000, optimizer="LBFGS")
#: key of a property's details listing the shared structures it used (see :meth:`MaterialContext.recording`)
SHARED_STRUCTURES_KEY = "shared_structures"


def structure_key(name: str, parts: Mapping[str, Any], settings: RelaxationSettings) -> str:
    """Key of a shared relaxed structure: ``name``, what its start is built from (``parts``: JSON-able values,
    floats exact) and the relaxation settings."""
    payload = {**parts, "relaxation": settings.as_dict()}
    return f"relaxed:{name}:{json.dumps(payload, sort_keys=True, default=repr)}"


@dataclass(frozen=True)
class SharedRelaxation:
    """A relaxed structure of the model's context as one property gets it: its own ``atoms`` (a copy, without
    calculator), the relaxed energy (eV), optimiser steps, largest remaining force (eV/Å), the key and settings,
    and whether this request ``computed`` it (False: reused from an earlier property)."""

    key: str
    name: str
    atoms: Atoms
    energy_ev: float
    n_steps: int
    max_force_ev_a: float
    settings: RelaxationSettings
    computed: bool

    def provenance(self) -> dict[str, Any]:
        """The entry of ``details["shared_structures"]``."""
        return {
            "name": self.name,
            "key": self.key,
            "computed": self.computed,
            "relaxation": self.settings.as_dict(),
            "energy_ev": self.energy_ev,
            "relaxation_steps": self.n_steps,
        }


@dataclass(frozen=True)
class RelaxedBulk:
    """The model's zero-pressure ground-state crystal: conventional cell, lattice constant a (Å; the first cell
    vector's length for non-cubic cells), energy per atom (eV)."""

    atoms: Atoms
    lattice_constant_a: float
    energy_per_atom_ev: float

    def cell(self) -> Atoms:
        """A fresh copy of the relaxed cell, without calculator."""
        atoms = self.atoms.copy()
        atoms.calc = None
        return atoms


@dataclass
class MaterialContext:
    """The material of a suite and the per-model results its properties share (see the module docstring)."""

    material: Material
    _bulk: RelaxedBulk | None = field(default=None, repr=False)
    _elements: dict[str, float] = field(default_factory=dict, repr=False)
    _shared: dict[str, Any] = field(default_factory=dict, repr=False)
    _recorders: list[list[dict[str, Any]]] = field(default_factory=list, repr=False)
    #: relaxations this context ran and shared structures it handed out again (benchmarks, tests)
    counts: dict[str, int] = field(
        default_factory=lambda: {"relaxations": 0, "relaxation_steps": 0, "reused": 0}, repr=False
    )

    def shared(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per ``key`` for this model: later calls return the stored result, or raise the stored
        :class:`EvaluationError` again (a failed NEB is not re-run by the property that needs it next). A task
        timeout is not stored: it belongs to the task's time limit, not to the model."""
        if key not in self._shared:
            try:
                self._shared[key] = compute()
            except EvaluationError as exc:
                if isinstance(exc, TaskTimeout):
                    raise
                self._shared[key] = exc
        stored = self._shared[key]
        if isinstance(stored, EvaluationError):
            raise stored
        return stored

    def has(self, key: str) -> bool:
        """Whether ``key`` is already stored (computed or failed)."""
        return key in self._shared

    @contextmanager
    def recording(self) -> Iterator[list[dict[str, Any]]]:
        """Collect the shared structures requested inside the block (one entry per key, the first request's):
        a property stores the list as ``details["shared_structures"]``."""
        used: list[dict[str, Any]] = []
        self._recorders.append(used)
        try:
            yield used
        finally:
            self._recorders.pop()

    def _record(self, entry: dict[str, Any]) -> None:
        for used in self._recorders:
            if all(e["key"] != entry["key"] for e in used):
                used.append(entry)

    def relaxed_bulk(self, calculator: Calculator) -> RelaxedBulk:
        """The relaxed bulk crystal, relaxed with ``calculator`` on first use and reused afterwards."""
        computed = self._bulk is None
        if computed:
            self.counts["relaxations"] += 1
            atoms, a = relaxed_bulk(calculator, self.material, **BULK_RELAXATION)  # type: ignore[arg-type]
            energy = float(atoms.get_potential_energy()) / len(atoms)
            atoms = atoms.copy()
            atoms.calc = None
            self._bulk = RelaxedBulk(atoms, a, energy)
        else:
            self.counts["reused"] += 1
        assert self._bulk is not None
        self._record(
            {
                "name": "relaxed_bulk",
                "key": f"relaxed:bulk:{json.dumps(BULK_RELAXATION, sort_keys=True)}",
                "computed": computed,
                "relaxation": {**BULK_RELAXATION, "relax_cell": True},
                "energy_ev": self._bulk.energy_per_atom_ev * len(self._bulk.atoms),
                "lattice_constant_a": self._bulk.lattice_constant_a,
            }
        )
        return self._bulk

    def relaxed_structure(
        self,
        calculator: Calculator,
        name: str,
        parts: Mapping[str, Any],
        build: Callable[[], Atoms],
        settings: RelaxationSettings,
        what: str = "structure",
    ) -> SharedRelaxation:
        """``build()`` relaxed with ``calculator`` and ``settings``, once per :func:`structure_key` of (``name``,
        ``parts``, ``settings``) for this model; every call gets its own copy of the relaxed atoms.

        ``parts`` must name everything ``build`` depends on (supercell, lattice constant, rattle and seed, ...):
        two requests with equal keys get the same structure. A relaxation that fails (EvaluationError: no
        convergence, non-physical forces) fails every later request of the key with the same error. ``what``
        names the structure in that error; ``{n_atoms}`` in it is filled in.
        """
        key = structure_key(name, parts, settings)
        computed = not self.has(key)

        def compute() -> SharedRelaxation:
            atoms = build()
            self.counts["relaxations"] += 1  # attempts: a failed relaxation costs as much
            relaxation = relax_with(atoms, calculator, settings, what=what.format(n_atoms=len(atoms)))
            self.counts["relaxation_steps"] += relaxation.n_steps
            atoms = atoms.copy()  # the stored copy: no calculator, no constraint, no link to the caller's object
            atoms.calc = None
            atoms.set_constraint()
            return SharedRelaxation(
                key, name, atoms, relaxation.energy_ev, relaxation.n_steps, relaxation.max_force_ev_a, settings, True
            )

        try:
            stored = self.shared(key, compute)
        except EvaluationError as exc:
            self._record({"name": name, "key": key, "computed": computed, "relaxation": settings.as_dict(),
                          "error": str(exc)[:300]})  # fmt: skip
            raise
        if not computed:
            self.counts["reused"] += 1
        out = replace(stored, atoms=stored.atoms.copy(), computed=computed)
        self._record(out.provenance())
        return out

    def relaxed_defect_cell(
        self,
        calculator: Calculator,
        defect: str,
        size: int,
        lattice_a: float,
        *,
        rattle_a: float | None = None,
        seed: int = 0,
        settings: RelaxationSettings = DEFECT_ION_RELAXATION,
        what: str | None = None,
    ) -> SharedRelaxation:
        """The supercell of ``size`` atoms (of the perfect cell) holding ``defect`` at lattice constant
        ``lattice_a`` (Å), from :func:`~mlipscope.materials.defects.starting_defect_cell` with ``rattle_a`` (Å;
        None: the per-defect default) and ``seed``, relaxed with ``settings`` (default: ions at fixed cell, as
        the defect formation energy does). Shared per (defect, size, lattice_a, rattle, seed, settings); the seed
        is left out of the key when nothing is rattled."""
        from mlipscope.materials.defects import starting_defect_cell

        repeats = self.material.repeats_for_size(size)
        parts = self._defect_cell_parts(defect, size, lattice_a, rattle_a, seed)

        def build() -> Atoms:
            return starting_defect_cell(
                self.material, defect, repeats, lattice_a, rattle_a=parts["rattle_a"], seed=seed
            )

        return self.relaxed_structure(
            calculator, "defect_cell", parts, build, settings, what or f"{defect} cell ({{n_atoms}} atoms)"
        )

    def defect_cell_key(
        self,
        defect: str,
        size: int,
        lattice_a: float,
        *,
        rattle_a: float | None = None,
        seed: int = 0,
        settings: RelaxationSettings = DEFECT_ION_RELAXATION,
    ) -> str:
        """The key :meth:`relaxed_defect_cell` stores that cell under (nothing is relaxed)."""
        return structure_key("defect_cell", self._defect_cell_parts(defect, size, lattice_a, rattle_a, seed), settings)

    def _defect_cell_parts(
        self, defect: str, size: int, lattice_a: float, rattle_a: float | None, seed: int
    ) -> dict[str, Any]:
        from mlipscope.materials.defects import starting_rattle_a

        self.material.repeats_for_size(size)  # an impossible size is an input error, not a key
        stdev = starting_rattle_a(self.material, defect, rattle_a)  # None -> the default: equal starts, equal keys
        return {
            "defect": defect,
            "size": int(size),
            "lattice_a": float(lattice_a),
            "rattle_a": stdev,
            "seed": int(seed) if stdev > 0.0 else None,  # no rattle: the seed changes nothing
        }

    def elemental_energy_ev(self, calculator: Calculator, element: str) -> float:
        """Energy per atom (eV) of the material's elemental reference crystal of ``element``, relaxed (cell and
        ions, within its space group) on first use: the ``element``-rich chemical potential."""
        computed = element not in self._elements
        if computed:
            structure = self.material.elemental_references[element]
            elemental = Material(
                name=f"{self.material.name}-{element}",
                species=(element,),
                structure=structure,
                source=self.material.source,
            )
            start = elemental.conventional_cell()
            self.counts["relaxations"] += 1
            atoms, _ = relaxed_bulk(calculator, elemental, **BULK_RELAXATION)  # type: ignore[arg-type]
            ratio = atoms.get_volume() / len(atoms) / (start.get_volume() / len(start))
            if not 0.5 < ratio < 2.0:
                raise EvaluationError(f"the {element} reference crystal relaxed to volume x{ratio:.2f} (collapse)")
            self._elements[element] = float(atoms.get_potential_energy()) / len(atoms)
        self._record(
            {
                "name": f"elemental_reference_{element}",
                "key": f"relaxed:elemental:{element}:{json.dumps(BULK_RELAXATION, sort_keys=True)}",
                "computed": computed,
                "relaxation": {**BULK_RELAXATION, "relax_cell": True},
                "energy_per_atom_ev": self._elements[element],
            }
        )
        return self._elements[element]
