"""What a property receives besides the calculator: the material, and the model's relaxed bulk, computed once.

A :class:`MaterialContext` belongs to one (model, material) pair. The first property that needs the relaxed bulk
crystal relaxes it with the calculator it is given; every later property of the same model reuses that structure
(a copy), so a model's lattice constant, energy per atom and relaxed cell are the same in all its properties and
are not re-relaxed in each. The runner keeps one context per model and material in each worker process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ase import Atoms
from ase.calculators.calculator import Calculator

from mlipscope.errors import EvaluationError
from mlipscope.materials.material import Material
from mlipscope.properties.structures import relaxed_bulk

#: settings of the shared bulk relaxation (part of every evaluation's provenance)
BULK_RELAXATION = {"fmax": 1e-4, "max_steps": 500, "optimizer": "BFGS"}


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

    def relaxed_bulk(self, calculator: Calculator) -> RelaxedBulk:
        """The relaxed bulk crystal, relaxed with ``calculator`` on first use and reused afterwards."""
        if self._bulk is None:
            atoms, a = relaxed_bulk(calculator, self.material, **BULK_RELAXATION)  # type: ignore[arg-type]
            energy = float(atoms.get_potential_energy()) / len(atoms)
            atoms = atoms.copy()
            atoms.calc = None
            self._bulk = RelaxedBulk(atoms, a, energy)
        return self._bulk

    def elemental_energy_ev(self, calculator: Calculator, element: str) -> float:
        """Energy per atom (eV) of the material's elemental reference crystal of ``element``, relaxed (cell and
        ions, within its space group) on first use: the ``element``-rich chemical potential."""
        if element not in self._elements:
            structure = self.material.elemental_references[element]
            elemental = Material(
                name=f"{self.material.name}-{element}",
                species=(element,),
                structure=structure,
                source=self.material.source,
            )
            start = elemental.conventional_cell()
            atoms, _ = relaxed_bulk(calculator, elemental, **BULK_RELAXATION)  # type: ignore[arg-type]
            ratio = atoms.get_volume() / len(atoms) / (start.get_volume() / len(start))
            if not 0.5 < ratio < 2.0:
                raise EvaluationError(f"the {element} reference crystal relaxed to volume x{ratio:.2f} (collapse)")
            self._elements[element] = float(atoms.get_potential_energy()) / len(atoms)
        return self._elements[element]
