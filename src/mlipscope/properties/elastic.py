"""Relaxed-ion elastic constants of a cubic crystal, perfect or holding one point defect.

The cell is first relaxed (cell and ions, zero pressure); then each Voigt strain is applied at a few small
amplitudes, the ions are relaxed at fixed cell, and C_ij is the slope of a linear fit of stress i against strain j.
Defect cells are not exactly cubic, so the cubic constants are averages over equivalent entries
(C11 = (C11+C22+C33)/3, C12 over the six off-diagonal normal entries, C44 = (C44+C55+C66)/3).

matcalc's ElasticityCalc would do the same fit but pulls in pymatgen and two dozen packages; the fit itself is a
few lines on top of ASE, so it lives here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from mlipscope.errors import InputError
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.structures import (
    CUBIC_CRYSTALS,
    DEFECTS,
    perfect_cell,
    relax,
    relaxed_bulk,
    repeats_for_size,
    starting_defect_cell,
)
from mlipscope.units import EV_PER_A3_TO_GPA

CELLS = ("perfect", *DEFECTS)
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
    relax_ions: bool = True,
    fmax: float = 1e-4,
    max_steps: int = 1000,
    optimizer: str = "BFGS",
) -> tuple[np.ndarray, np.ndarray]:
    """Elastic matrix (6x6, eV/Å^3; columns not in ``components`` are NaN) of the relaxed ``atoms`` and the stresses
    (components x strains x 6) it was fitted from. ``atoms`` is left unchanged."""
    cell0 = atoms.cell.array.copy()
    c_matrix = np.full((6, 6), np.nan)
    stresses = np.zeros((len(components), len(strains), 6))
    for k, voigt in enumerate(components):
        for m, strain in enumerate(strains):
            strained = atoms.copy()
            strained.set_cell(cell0 @ (np.eye(3) + strain_matrix(voigt, strain)), scale_atoms=True)
            strained.calc = calculator
            if relax_ions:
                relax(
                    strained,
                    calculator,
                    fmax=fmax,
                    max_steps=max_steps,
                    optimizer=optimizer,
                    what=f"cell at strain {strain:+g} (Voigt {voigt + 1})",
                )
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


class ElasticConstants(Property):
    """Relaxed-ion C11, C12, C44 (GPa), Voigt bulk modulus (C11+2C12)/3 and the relaxed lattice constant of a
    perfect or defect cell.

    ``cell``: "perfect" or a defect of :data:`~mlipscope.properties.structures.DEFECTS`; ``size``: atoms of the
    perfect supercell (64 -> 2x2x2 conventional cells; defect cells have one atom more or less). ``strain``: the
    largest strain amplitude, applied at ``n_strains`` points symmetric about zero. The perfect crystal needs only
    the xx and yz strains (cubic symmetry); defect cells get all six.
    """

    name = "elastic"

    def __init__(
        self,
        label: str | None = None,
        cell: str = "perfect",
        size: int = 64,
        element: str = "Si",
        crystal: str = "diamond",
        strain: float = 0.01,
        n_strains: int = 4,
        relax_ions: bool = True,
        fmax: float = 1e-4,
        max_steps: int = 1000,
        optimizer: str = "LBFGS",
    ) -> None:
        super().__init__(label)
        if cell not in CELLS:
            raise InputError(None, "cell", f"one of {list(CELLS)}", got=cell)
        if crystal not in CUBIC_CRYSTALS or (cell != "perfect" and crystal != "diamond"):
            raise InputError(None, "crystal", "diamond for defect cells, else one of " + str(CUBIC_CRYSTALS))
        if not 0.0 < strain <= 0.05:
            raise InputError(None, "strain", "a strain amplitude in (0, 0.05]", got=strain)
        if n_strains < 2:
            raise InputError(None, "n_strains", "at least 2 strain points", got=n_strains)
        repeats_for_size(size, crystal)  # validates size early, before any calculation
        self.cell = cell
        self.size = size
        self.element = element
        self.crystal = crystal
        self.strain = strain
        self.n_strains = n_strains
        self.relax_ions = relax_ions
        self.fmax = fmax
        self.max_steps = max_steps
        self.optimizer = optimizer

    def compute(self, calculator: Calculator) -> PropertyResult:
        repeats = repeats_for_size(self.size, self.crystal)
        _, a_bulk = relaxed_bulk(
            calculator, self.element, self.crystal, optimizer=self.optimizer, max_steps=self.max_steps
        )
        if self.cell == "perfect":
            atoms = perfect_cell(self.element, repeats, a_bulk, self.crystal)
        else:
            atoms = starting_defect_cell(self.cell, repeats, self.element, a_bulk)
        relax(
            atoms,
            calculator,
            relax_cell=True,
            fmax=self.fmax,
            max_steps=self.max_steps,
            optimizer=self.optimizer,
            what=f"{self.cell} cell ({len(atoms)} atoms)",
        )
        strains = np.linspace(-self.strain, self.strain, self.n_strains)
        components = (0, 3) if self.cell == "perfect" else tuple(range(6))
        c_matrix, stresses = stress_strain_matrix(
            atoms,
            calculator,
            strains,
            components=components,
            relax_ions=self.relax_ions,
            fmax=self.fmax,
            max_steps=self.max_steps,
            optimizer=self.optimizer,
        )
        c_gpa = c_matrix * EV_PER_A3_TO_GPA
        if self.cell == "perfect":  # cubic symmetry fills the rest of the upper block from the xx column
            c_gpa[1, 1] = c_gpa[2, 2] = c_gpa[0, 0]
        cubic = cubic_averages(c_gpa)
        values = {
            "c11_gpa": cubic["c11"],
            "c12_gpa": cubic["c12"],
            "c44_gpa": cubic["c44"],
            "bulk_modulus_gpa": (cubic["c11"] + 2.0 * cubic["c12"]) / 3.0,
            "lattice_constant_a": float(atoms.get_volume() ** (1.0 / 3.0)) / repeats,
        }
        units = {k: ("GPa" if k.endswith("_gpa") else "Å") for k in values}
        details: dict[str, Any] = {
            "n_atoms": len(atoms),
            "c_matrix_gpa": np.where(np.isfinite(c_gpa), c_gpa, None).tolist(),
            "strains": strains.tolist(),
            "voigt_components": [c + 1 for c in components],
            "stresses_gpa": (stresses * EV_PER_A3_TO_GPA).tolist(),
        }
        return self.result(values, units, details=details)
