"""Formation energy of one point defect (vacancy or self-interstitial) in a supercell of any material.

E_f = E_defect - Σ_s n_s μ_s over the atoms of the defect cell, E_defect its energy with relaxed ions at the
model's relaxed lattice constant (fixed cell; with ``relax_cell`` at zero pressure: volume only, the supercell
keeps its shape, since free cell shape lets a 216-atom hexagonal interstitial cell shear into an unrelated state).

- ``formation_energy_ev``: μ_s = E_bulk/atom of the model's relaxed crystal (shared by all its properties) for
  every species: for an element E_f = E_defect - N_defect E_bulk/atom; for a compound the stoichiometric average.
- ``formation_energy_<X>_rich_ev`` (binary compounds whose material names the elemental ground states under
  ``chemical_potentials``): μ_X = E(X crystal)/atom relaxed by the same model, the other species from the compound
  (:func:`rich_limit_potentials`).

Geometries and starting perturbations: :mod:`mlipscope.materials.defects`. The relaxed defect cell is shared
through the model's context (:meth:`~mlipscope.properties.context.MaterialContext.relaxed_defect_cell`): the
elastic constants of the same defect cell start from it.
"""

from __future__ import annotations

import math

from ase.calculators.calculator import Calculator

from mlipscope.errors import InputError
from mlipscope.materials.defects import defect_cell, defect_sites, get_defect, warn_small_supercell
from mlipscope.materials.material import Material
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.context import DEFECT_ION_RELAXATION, SHARED_STRUCTURES_KEY
from mlipscope.properties.registry import SuiteEntry
from mlipscope.properties.settings import RelaxationSettings
from mlipscope.properties.structures import STRUCTURES_KEY, structure_record


class DefectFormationEnergy(Property):
    """Relaxed formation energy (eV) of ``defect`` in a supercell of ``size`` atoms (of the perfect cell; default:
    the material's first defect supercell).

    ``rattle_a``: standard deviation (Å) of the random displacement that breaks the starting symmetry (None: the
    per-defect default of :func:`~mlipscope.materials.defects.starting_defect_cell`); ``seed`` fixes it.
    The relaxation stops at ``fmax`` (eV/Å) and fails the evaluation after ``max_steps``.
    """

    name = "defect"
    suite_order = 40

    @classmethod
    def suite_entries(cls, material: Material) -> list[SuiteEntry]:
        """``<defect>_<N>`` per supercell (N: atoms of the perfect supercell) and defect of the material."""
        sites = defect_sites(material)
        sizes = [material.supercell_size(n) for n in material.supercells]
        return [cls.suite_entry(f"{site.name}_{size}", defect=site.name, size=size) for size in sizes for site in sites]

    def __init__(
        self,
        label: str | None = None,
        defect: str = "vacancy",
        size: int | None = None,
        *,
        material=None,
        relax_cell: bool = False,
        rattle_a: float | None = None,
        seed: int = 0,
        fmax: float = DEFECT_ION_RELAXATION.fmax,
        max_steps: int = DEFECT_ION_RELAXATION.max_steps,
        optimizer: str = DEFECT_ION_RELAXATION.optimizer,
    ) -> None:
        super().__init__(label, material=material)
        get_defect(self.material, defect)  # validates the name before any calculation
        if rattle_a is not None and not 0.0 <= rattle_a < 0.5:
            raise InputError(None, "rattle_a", "a displacement in [0, 0.5) Å or None", got=rattle_a)
        size = size if size is not None else self.material.supercell_size(self.material.supercells[0])
        self.material.repeats_for_size(size)  # validates size before any calculation
        warn_small_supercell(self.material, size, defect)
        self.defect = defect
        self.size = size
        self.relax_cell = relax_cell
        self.rattle_a = rattle_a
        self.seed = seed
        self.fmax = fmax
        self.max_steps = max_steps
        self.optimizer = optimizer
        self.relaxation()  # validates the relaxation settings before any calculation

    def relaxation(self) -> RelaxationSettings:
        """How the defect cell is relaxed (part of its shared key)."""
        return RelaxationSettings(
            fmax=self.fmax,
            max_steps=self.max_steps,
            optimizer=self.optimizer,
            relax_cell=self.relax_cell,
            hydrostatic=True,
        )

    def compute(self, calculator: Calculator, context=None) -> PropertyResult:
        ctx = self.context_for(context)
        with ctx.recording() as used:
            return self._compute(calculator, ctx, used)

    def _compute(self, calculator: Calculator, ctx, used: list) -> PropertyResult:
        material = self.material
        repeats = material.repeats_for_size(self.size)
        # a perfect crystal's energy per atom does not depend on the supercell: the shared conventional cell
        bulk = ctx.relaxed_bulk(calculator)
        a_bulk = bulk.lattice_constant_a
        mu = chemical_potentials_ev(material, bulk.energy_per_atom_ev)

        def reservoir_ev(atoms) -> float:
            return sum(mu[s] for s in atoms.get_chemical_symbols())

        ideal = defect_cell(material, self.defect, repeats, a_bulk)
        ideal.calc = calculator
        unrelaxed_ev = ideal.get_potential_energy() - reservoir_ev(ideal)

        relaxed = ctx.relaxed_defect_cell(
            calculator,
            self.defect,
            self.size,
            a_bulk,
            rattle_a=self.rattle_a,
            seed=self.seed,
            settings=self.relaxation(),
        )
        atoms, energy_ev = relaxed.atoms, relaxed.energy_ev
        formation_ev = energy_ev - reservoir_ev(atoms)
        values = {"formation_energy_ev": formation_ev}
        rich, why = rich_limit_potentials(ctx, calculator, bulk)
        for element, mu_rich in rich.items():
            values[f"formation_energy_{element}_rich_ev"] = (
                energy_ev - sum(mu_rich[s] for s in atoms.get_chemical_symbols()) if mu_rich else math.nan
            )
        details = {
            "n_atoms": len(atoms),
            "lattice_constant_a": a_bulk,
            "bulk_energy_per_atom_ev": bulk.energy_per_atom_ev,
            "chemical_potentials_ev": mu,
            "rich_limit_chemical_potentials_ev": rich,
            "rich_limit_failures": why,
            "unrelaxed_formation_energy_ev": unrelaxed_ev,
            "relaxation_steps": relaxed.n_steps,
            "relaxed_volume_a3": float(atoms.get_volume()),
            STRUCTURES_KEY: {"relaxed_defect_cell": structure_record(atoms, energy_ev)},
            SHARED_STRUCTURES_KEY: used,
        }
        return self.result(values, dict.fromkeys(values, "eV"), details=details)


def chemical_potentials_ev(material, bulk_energy_per_atom_ev: float) -> dict[str, float]:
    """Chemical potential of each species (eV/atom) for ``formation_energy_ev``.

    An element: the bulk energy per atom. A compound: every species at the bulk energy per atom (the stoichiometric
    average: independent of any elemental reference, the same definition for every model).
    """
    return dict.fromkeys(material.species, bulk_energy_per_atom_ev)


def rich_limit_potentials(context, calculator: Calculator, bulk) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """For a binary compound whose material names the elemental ground states (``chemical_potentials``): per
    species X, the chemical potentials at the X-rich limit, μ_X = E(X crystal)/atom from the model and the other
    species from the compound, E_bulk per formula unit = Σ n_s μ_s; empty for other materials. A model that cannot
    relax an elemental crystal (a compound potential need not know the elements) gets an empty entry for that
    limit and the reason in the second mapping: the stoichiometric value still counts."""
    material = context.material
    if len(material.species) != 2 or set(material.elemental_references) != set(material.species):
        return {}, {}
    symbols = bulk.atoms.get_chemical_symbols()
    counts = {s: symbols.count(s) for s in material.species}
    e_cell = bulk.energy_per_atom_ev * len(symbols)
    out: dict[str, dict[str, float]] = {}
    failures: dict[str, str] = {}
    for rich in material.species:
        (other,) = [s for s in material.species if s != rich]
        try:
            mu_rich = context.elemental_energy_ev(calculator, rich)
        except Exception as exc:  # noqa: BLE001 - one failed elemental reference leaves that limit undefined
            if type(exc).__name__ == "TaskTimeout":
                raise
            out[rich], failures[rich] = {}, f"{type(exc).__name__}: {exc}"[:300]
            continue
        out[rich] = {rich: mu_rich, other: (e_cell - counts[rich] * mu_rich) / counts[other]}
    return out, failures
