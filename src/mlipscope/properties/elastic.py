"""Relaxed-ion elastic constants of any crystal, perfect or holding one point defect.

The cell (built from the model's shared relaxed bulk) is first relaxed (cell and ions, zero pressure); then each
Voigt strain is applied at a few small amplitudes, the ions are relaxed at fixed cell, and C_ij is the slope of a
linear fit of stress i against strain j. A vacancy cell (a rattled start) reaches zero pressure in two stages: its
ions are relaxed at the bulk lattice constant exactly as :class:`~mlipscope.properties.defects.DefectFormationEnergy`
does by default (same start, :data:`~mlipscope.properties.context.DEFECT_ION_RELAXATION`: the formation energy's
relaxed cell, shared through the model's context), then cell and ions together; interstitial cells keep the
one-stage relaxation (see :meth:`ElasticConstants.zero_pressure_cell`). The zero-pressure cell is a shared
structure of the context too (another elastic property of the same cell and relaxation reuses it).
Defect cells of cubic crystals are not exactly cubic, so their cubic constants are averages over equivalent entries
(C11 = (C11+C22+C33)/3, C12 over the six off-diagonal normal entries, C44 = (C44+C55+C66)/3); hexagonal cells are
averaged the same way; any other cell reports its whole symmetrised tensor.

matcalc's ElasticityCalc would do the same fit but pulls in pymatgen and two dozen packages; the fit itself is a
few lines on top of ASE, so it lives here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from mlipscope.errors import EvaluationError, InputError
from mlipscope.materials.material import Material
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.context import SHARED_STRUCTURES_KEY, MaterialContext, SharedRelaxation
from mlipscope.properties.registry import SuiteEntry
from mlipscope.properties.settings import RelaxationSettings
from mlipscope.properties.structures import relax_with
from mlipscope.units import EV_PER_A3_TO_GPA

#: default ion relaxation of a strained cell in :func:`stress_strain_matrix`
ION_RELAXATION = RelaxationSettings(fmax=1e-4, max_steps=1000, optimizer="BFGS")

#: Voigt index -> (i, j) of the strain tensor (ASE stress order xx, yy, zz, yz, xz, xy)
VOIGT_PAIRS = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def strain_matrix(voigt_index: int, strain: float) -> np.ndarray:
    """Symmetric strain tensor for one Voigt component; shear strains are engineering strains (gamma = 2 eps_ij)
    so that the slope of stress against ``strain`` is C_ij directly."""
    i, j = VOIGT_PAIRS[voigt_index]
    eps = np.zeros((3, 3))
    if i == j:
        eps[i, i] = strain
    else:
        eps[i, j] = eps[j, i] = 0.5 * strain
    return eps


def stress_strain_matrix(
    atoms: Atoms,
    calculator: Calculator,
    strains: np.ndarray,
    *,
    components: tuple[int, ...] = tuple(range(6)),
    relaxation: RelaxationSettings | None = ION_RELAXATION,
) -> tuple[np.ndarray, np.ndarray]:
    """Elastic matrix (6x6, eV/Å^3; columns not in ``components`` are NaN) of the relaxed ``atoms`` and the stresses
    (components x strains x 6) it was fitted from; each strained cell's ions are relaxed with ``relaxation`` (None:
    clamped ions). ``atoms`` is left unchanged."""
    cell0 = atoms.cell.array.copy()
    c_matrix = np.full((6, 6), np.nan)
    stresses = np.zeros((len(components), len(strains), 6))
    for k, voigt in enumerate(components):
        for m, strain in enumerate(strains):
            strained = atoms.copy()
            strained.set_cell(cell0 @ (np.eye(3) + strain_matrix(voigt, strain)), scale_atoms=True)
            strained.calc = calculator
            if relaxation is not None:
                relax_with(strained, calculator, relaxation, what=f"cell at strain {strain:+g} (Voigt {voigt + 1})")
            stresses[k, m] = strained.get_stress(voigt=True)
        c_matrix[:, voigt] = np.polyfit(strains, stresses[k], 1)[0]
    return c_matrix, stresses


def cubic_averages(c_matrix: np.ndarray) -> dict[str, float]:
    """C11, C12, C44 (same unit as ``c_matrix``) averaged over the entries cubic symmetry makes equal; NaN entries
    (components not computed) are skipped."""
    upper = c_matrix[:3, :3]
    off = upper[~np.eye(3, dtype=bool)]
    with np.errstate(invalid="ignore"):
        c11 = float(np.nanmean(np.diag(upper)))
        c12 = float(np.nanmean(off))
        c44 = float(np.nanmean(np.diag(c_matrix[3:, 3:])))
    return {"c11": c11, "c12": c12, "c44": c44}


def hexagonal_averages(c_matrix: np.ndarray) -> dict[str, float]:
    """C11, C12, C13, C33, C44, C66 of a hexagonal crystal (c along z), averaged over symmetry-equal entries."""
    c = 0.5 * (c_matrix + c_matrix.T)
    return {
        "c11": float(0.5 * (c[0, 0] + c[1, 1])),
        "c12": float(c[0, 1]),
        "c13": float(0.5 * (c[0, 2] + c[1, 2])),
        "c33": float(c[2, 2]),
        "c44": float(0.5 * (c[3, 3] + c[4, 4])),
        "c66": float(c[5, 5]),
    }


def full_cubic_tensor(c11: float, c12: float, c44: float) -> np.ndarray:
    """The 6x6 Voigt tensor of a cubic crystal."""
    c = np.zeros((6, 6))
    c[:3, :3] = c12
    np.fill_diagonal(c[:3, :3], c11)
    c[3, 3] = c[4, 4] = c[5, 5] = c44
    return c


class ElasticConstants(Property):
    """Relaxed-ion elastic tensor (6x6, GPa) of the perfect crystal or of a defect cell, with its symmetry-reduced
    constants, the Voigt bulk modulus and the relaxed lattice constant.

    ``cell``: "perfect" or a defect of the material (see :func:`mlipscope.materials.defects.defect_sites`);
    ``size``: atoms of the perfect supercell (default: the material's first defect supercell; defect cells have
    one atom more or less). ``strain``: the largest strain amplitude, applied at ``n_strains`` points symmetric
    about zero. A perfect cubic crystal needs only the xx and yz strains; every other cell gets all six.

    Values: cubic prototypes ``c11_gpa``, ``c12_gpa``, ``c44_gpa`` (defect cells cubic-averaged); hcp ``c11``,
    ``c12``, ``c13``, ``c33``, ``c44``, ``c66``; any other cell all 21 ``c<i><j>_gpa`` of the upper triangle of the
    symmetrised tensor. The full tensor is in ``details["c_matrix_gpa"]``.
    """

    name = "elastic"
    suite_order = 30

    @classmethod
    def suite_entries(cls, material: Material) -> list[SuiteEntry]:
        """``elastic_perfect``, and ``elastic_<defect>`` in the first supercell per cell of ``defects.elastic``."""
        first_size = material.supercell_size(material.supercells[0])
        cells = [cls.suite_entry(f"elastic_{cell}", cell=cell, size=first_size) for cell in material.elastic_defects]
        return [cls.suite_entry("elastic_perfect"), *cells]

    def __init__(
        self,
        label: str | None = None,
        cell: str = "perfect",
        size: int | None = None,
        *,
        material=None,
        strain: float = 0.01,
        n_strains: int = 4,
        relax_ions: bool = True,
        fmax: float = 1e-4,
        max_steps: int = 1000,
        optimizer: str = "LBFGS",
    ) -> None:
        super().__init__(label, material=material)
        from mlipscope.materials.defects import get_defect

        if cell != "perfect":
            get_defect(self.material, cell)  # validates the defect name
        if not 0.0 < strain <= 0.05:
            raise InputError(None, "strain", "a strain amplitude in (0, 0.05]", got=strain)
        if n_strains < 2:
            raise InputError(None, "n_strains", "at least 2 strain points", got=n_strains)
        size = size if size is not None else self.material.supercell_size(self.material.supercells[0])
        self.material.repeats_for_size(size)  # validates size early, before any calculation
        self.cell = cell
        self.size = size
        self.strain = strain
        self.n_strains = n_strains
        self.relax_ions = relax_ions
        self.fmax = fmax
        self.max_steps = max_steps
        self.optimizer = optimizer
        self.relaxation()  # validates the relaxation settings before any calculation

    def relaxation(self) -> RelaxationSettings:
        """The zero-pressure relaxation of the cell (shared key); the strained cells relax their ions alike."""
        return RelaxationSettings(fmax=self.fmax, max_steps=self.max_steps, optimizer=self.optimizer, relax_cell=True)

    def zero_pressure_cell(self, calculator: Calculator, ctx: MaterialContext) -> tuple[SharedRelaxation, str]:
        """The cell relaxed at zero pressure (cell and ions), shared through ``ctx``, and what it started from.

        Perfect cell: the repeated relaxed bulk. Rattled defect cells (vacancies): the shared ion-relaxed cell of
        the defect formation energy (:data:`~mlipscope.properties.context.DEFECT_ION_RELAXATION`), or the
        unrelaxed start if that relaxation fails. Unrattled defect cells (interstitials): the unrelaxed start,
        in one stage, as before: a symmetric start can sit on a saddle (the SW hexagonal interstitial), where
        the relaxation path decides which state the strained cells fall into, so another path would change the
        constants (by 30 GPa there; by < 1e-4 GPa for the rattled SW vacancy).
        """
        from mlipscope.materials.defects import starting_defect_cell, starting_rattle_a

        material = self.material
        repeats = material.repeats_for_size(self.size)
        bulk = ctx.relaxed_bulk(calculator)
        a = bulk.lattice_constant_a
        settings = self.relaxation()
        what = f"{self.cell} cell ({{n_atoms}} atoms)"
        parts: dict[str, Any] = {"cell": self.cell, "size": int(self.size), "lattice_a": float(a)}
        if self.cell != "perfect":
            parts["rattle_a"] = starting_rattle_a(material, self.cell)  # the start's (seed 0)

        def unrelaxed() -> Atoms:
            return starting_defect_cell(material, self.cell, repeats, a)

        if self.cell == "perfect":
            start, build = "relaxed bulk", lambda: bulk.cell().repeat(repeats)
        elif parts["rattle_a"] == 0.0:
            start, build = "unrelaxed starting_defect_cell", unrelaxed
        else:
            try:
                ions = ctx.relaxed_defect_cell(calculator, self.cell, self.size, a, what=what)
                start, build = ions.key, lambda: ions.atoms.copy()
            except EvaluationError as exc:
                if type(exc).__name__ == "TaskTimeout":
                    raise
                # a model whose fixed-cell ion relaxation fails may still reach zero pressure from the start
                start, build = "unrelaxed starting_defect_cell (the ion relaxation failed)", unrelaxed
        relaxed = ctx.relaxed_structure(
            calculator, "zero_pressure_cell", {**parts, "start": start}, build, settings, what
        )
        return relaxed, start

    def compute(self, calculator: Calculator, context=None) -> PropertyResult:
        ctx = self.context_for(context)
        with ctx.recording() as used:
            relaxed, start = self.zero_pressure_cell(calculator, ctx)
            return self._constants(calculator, relaxed.atoms, start, used)

    def _constants(self, calculator: Calculator, atoms: Atoms, start: str, used: list) -> PropertyResult:
        material = self.material
        repeats = material.repeats_for_size(self.size)
        proto = material.prototype
        cubic = proto is not None and proto.cubic
        strains = np.linspace(-self.strain, self.strain, self.n_strains)
        perfect_cubic = self.cell == "perfect" and cubic and proto is not None and proto.n_species == 1
        components = (0, 3) if perfect_cubic else tuple(range(6))
        c_matrix, stresses = stress_strain_matrix(
            atoms,
            calculator,
            strains,
            components=components,
            relaxation=replace(self.relaxation(), relax_cell=False) if self.relax_ions else None,
        )
        c_gpa = c_matrix * EV_PER_A3_TO_GPA
        if perfect_cubic:  # cubic symmetry fills the rest of the tensor from the xx and yz columns
            c_gpa[1, 1] = c_gpa[2, 2] = c_gpa[0, 0]
        values: dict[str, float] = {}
        if cubic:
            reduced = cubic_averages(c_gpa)
            tensor = full_cubic_tensor(reduced["c11"], reduced["c12"], reduced["c44"]) if perfect_cubic else c_gpa
        elif proto is not None and proto.name == "hcp":
            reduced, tensor = hexagonal_averages(c_gpa), c_gpa
        else:
            tensor = 0.5 * (c_gpa + c_gpa.T)
            reduced = {f"c{i + 1}{j + 1}": float(tensor[i, j]) for i in range(6) for j in range(i, 6)}
        values.update({f"{k}_gpa": v for k, v in reduced.items()})
        if cubic:
            values["bulk_modulus_gpa"] = (reduced["c11"] + 2.0 * reduced["c12"]) / 3.0
        else:  # Voigt average of the symmetrised tensor
            sym = 0.5 * (tensor + tensor.T)
            values["bulk_modulus_gpa"] = float(np.trace(sym[:3, :3]) + 2 * (sym[0, 1] + sym[0, 2] + sym[1, 2])) / 9.0
        if cubic:
            values["lattice_constant_a"] = float(atoms.get_volume() ** (1.0 / 3.0)) / repeats
        else:
            values["lattice_constant_a"] = float(atoms.cell.lengths()[0]) / repeats
        units = {k: ("GPa" if k.endswith("_gpa") else "Å") for k in values}
        details: dict[str, Any] = {
            "n_atoms": len(atoms),
            "c_matrix_gpa": np.where(np.isfinite(tensor), tensor, None).tolist(),
            "strains": strains.tolist(),
            "voigt_components": [c + 1 for c in components],
            "stresses_gpa": (stresses * EV_PER_A3_TO_GPA).tolist(),
            "zero_pressure_start": start,
            SHARED_STRUCTURES_KEY: used,
        }
        return self.result(values, units, details=details)
