"""Point-defect migration barriers by climbing-image NEB (:class:`ase.mep.NEB`) between relaxed end points.

Paths, in a supercell of ``size`` ± 1 atoms at the model's relaxed lattice constant (fixed cell), built by
:func:`mlipscope.materials.defects.migration_endpoints`:

- ``vacancy``: a nearest neighbour of the vacancy jumps into it (diamond: vacancy at the origin -> vacancy at
  (1/4,1/4,1/4)a, the path of the CASTEP NEB reference of the GAP-18 testing framework, 63-atom cell);
- ``interstitial``: the interstitial moves between equivalent neighbouring sites of the prototype (diamond:
  tetrahedral sites (1/2,1/2,1/2)a -> (3/4,3/4,3/4)a through the hexagonal site between them, the T-H-T path).

The band is optimised with L-BFGS for up to half of ``max_steps`` and, if that has not converged, with FIRE for the
rest (``neb_optimizer="FIRE"``: FIRE only). On SNAP/POD vacancy bands L-BFGS needs about half the force calls of
FIRE for the same barrier (within 2 meV); FIRE is the robust fallback where L-BFGS stalls on the non-conservative
NEB forces.

The relaxed end points are shared structures of the model's context, keyed by the path, supercell, lattice
constant, rattle, seed and end-point relaxation (``relax_fmax``, ``max_steps``, BFGS at fixed cell): bands that
differ only in their own settings (images, ``fmax``, spring, optimiser) reuse them. They are not the defect
formation energy's relaxed cell, which starts from a different rattle (its own size and random generator) and
relaxes to a tighter ``fmax``: taking it as the initial end point would change the barriers.

The barrier is the highest image energy minus the initial energy. An end point or band that does not converge, or
a band with an image more than ``deeper_minimum_tolerance_ev`` below the end points (they are metastable: e.g. the
ideal Stillinger-Weber vacancy, a local minimum at E_f = 4.34 eV above a reconstructed one near 2.8 eV) raises
:class:`~mlipscope.errors.EvaluationError` (a failed evaluation with its reason).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from mlipscope.errors import EvaluationError, InputError
from mlipscope.materials.defects import migration_endpoints as material_migration_endpoints
from mlipscope.materials.defects import warn_small_supercell
from mlipscope.materials.material import Material
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.context import SHARED_STRUCTURES_KEY, MaterialContext, SharedRelaxation
from mlipscope.properties.registry import SuiteEntry
from mlipscope.properties.settings import RelaxationSettings

if TYPE_CHECKING:  # ase.mep and ase.optimize load scipy: imported where the band runs, not when a suite is listed
    from ase.mep import NEB

PATHS = ("vacancy", "interstitial")
NEB_OPTIMIZERS = ("LBFGS", "FIRE")


class MigrationBarrier(Property):
    """Migration barrier (eV) of a vacancy or an interstitial by climbing-image NEB with ``n_images`` moving
    images. ``lattice_a`` fixes the lattice constant (Å); by default the model's relaxed value is used."""

    name = "migration"
    suite_order = 90

    @classmethod
    def suite_entries(cls, material: Material) -> list[SuiteEntry]:
        """``migration_<defect>`` per path of the material's ``migration``."""
        return [cls.suite_entry(f"migration_{path}", defect=path) for path in material.migration]

    def __init__(
        self,
        label: str | None = None,
        *,
        defect: str = "vacancy",
        size: int | None = None,
        n_images: int = 5,
        climb: bool = True,
        fmax: float = 0.03,
        relax_fmax: float = 0.01,
        max_steps: int = 500,
        spring_ev_a2: float = 0.1,
        neb_optimizer: str = "LBFGS",
        lattice_a: float | None = None,
        material=None,
        rattle_a: float = 0.05,
        seed: int = 0,
        deeper_minimum_tolerance_ev: float = 0.02,
    ) -> None:
        super().__init__(label, material=material)
        if defect not in PATHS:
            raise InputError(None, "defect", f"one of {list(PATHS)}", got=defect)
        if n_images < 1:
            raise InputError(None, "n_images", "at least 1 moving image", got=n_images)
        if neb_optimizer not in NEB_OPTIMIZERS:
            raise InputError(None, "neb_optimizer", f"one of {list(NEB_OPTIMIZERS)}", got=neb_optimizer)
        size = size if size is not None else self.material.supercell_size(self.material.supercells[0])
        self.material.repeats_for_size(size)
        warn_small_supercell(self.material, size, f"{defect} migration")
        self.neb_optimizer = neb_optimizer
        self.defect = defect
        self.size = size
        self.n_images = n_images
        self.climb = climb
        self.fmax = fmax
        self.relax_fmax = relax_fmax
        self.max_steps = max_steps
        self.spring_ev_a2 = spring_ev_a2
        self.lattice_a = lattice_a
        self.rattle_a = rattle_a
        self.seed = seed
        self.deeper_minimum_tolerance_ev = deeper_minimum_tolerance_ev
        self.relaxation()  # validates the relaxation settings before any calculation

    def relaxation(self) -> RelaxationSettings:
        """The end points' relaxation (BFGS at fixed cell; part of their shared key), not the band's."""
        return RelaxationSettings(fmax=self.relax_fmax, max_steps=self.max_steps, optimizer="BFGS")

    def compute(self, calculator: Calculator, context=None) -> PropertyResult:
        """The barrier, computed once per model and settings (the diffusion property's NEB check asks for the same
        band through the model's context)."""
        ctx = self.context_for(context)
        key = self.share_key()
        computed = not ctx.has(key)
        result = ctx.shared(key, lambda: self._band(calculator, ctx))
        details = {**result.details, "shared_result": {"key": key, "computed": computed}}
        return replace(result, label=self.label, details=details)

    def end_points(self, calculator: Calculator, ctx: MaterialContext, a: float) -> tuple[SharedRelaxation, ...]:
        """The relaxed (initial, final) end points at lattice constant ``a`` (Å), shared through ``ctx``."""
        repeats = self.material.repeats_for_size(self.size)
        settings = self.relaxation()
        parts = {
            "path": self.defect,
            "size": int(self.size),
            "lattice_a": float(a),
            "rattle_a": float(self.rattle_a),
            "seed": int(self.seed),
        }

        def build(end: int) -> Atoms:
            ends = material_migration_endpoints(self.material, self.defect, repeats, a)
            # break the ideal symmetry: a symmetric start has zero forces and can sit on a saddle (the ideal SW
            # vacancy relaxes by ~1.5 eV once its symmetry is broken); same displacements at both ends
            noise = np.random.default_rng(self.seed).normal(0.0, self.rattle_a, ends[0].positions.shape)
            ends[end].positions += noise
            return ends[end]

        return tuple(
            ctx.relaxed_structure(
                calculator, f"neb_{name}", parts, lambda end=end: build(end), settings, f"{name} end point"
            )
            for end, name in enumerate(("initial", "final"))
        )

    def _band(self, calculator: Calculator, ctx: MaterialContext) -> PropertyResult:
        with ctx.recording() as used:
            return self._band_with(calculator, ctx, used)

    def _band_with(self, calculator: Calculator, ctx: MaterialContext, used: list) -> PropertyResult:
        a = self.lattice_a or ctx.relaxed_bulk(calculator).lattice_constant_a
        e_initial, e_final = self.end_points(calculator, ctx, a)
        initial, final = e_initial.atoms, e_final.atoms
        images = [initial] + [initial.copy() for _ in range(self.n_images)] + [final]
        for image in images:
            image.calc = calculator
        from ase.mep import NEB

        neb = NEB(images, k=self.spring_ev_a2, climb=self.climb, allow_shared_calculator=True, method="improvedtangent")
        neb.interpolate(method="idpp", mic=True)
        converged, neb_steps = self._optimise(neb)
        energies = np.array([image.get_potential_energy() for image in images])
        path = energies - e_initial.energy_ev
        if path.min() < -self.deeper_minimum_tolerance_ev:
            # the band fell into a state below the end points: they are metastable, the barrier is meaningless
            raise EvaluationError(
                f"{self.defect} NEB: image {int(np.argmin(path))} lies {-path.min():.3f} eV below the relaxed end "
                "points, which are therefore not the lowest minima of this path"
            )
        if not converged:
            raise EvaluationError(
                f"{self.defect} NEB did not converge to fmax {self.fmax:g} eV/Å in {self.max_steps} optimiser steps"
            )
        top = int(np.argmax(path))
        values = {
            "barrier_ev": float(path[top]),
            "reverse_barrier_ev": float(path[top] - (e_final.energy_ev - e_initial.energy_ev)),
            "end_point_difference_ev": float(e_final.energy_ev - e_initial.energy_ev),
        }
        units = dict.fromkeys(values, "eV")
        # the jumping atom's travel per image, for plotting the energy profile against a reaction coordinate
        steps = [np.linalg.norm(_mic_disp(images[i], images[i + 1])) for i in range(len(images) - 1)]
        details = {
            "defect": self.defect,
            "lattice_a": a,
            "path_energy_ev": path.round(6).tolist(),
            "reaction_coordinate_a": np.concatenate([[0.0], np.cumsum(steps)]).round(5).tolist(),
            "saddle_image": top,
            "neb_steps": neb_steps,
            SHARED_STRUCTURES_KEY: used,
        }
        return self.result(values, units, details=details)

    def _optimise(self, neb: NEB) -> tuple[bool, int]:
        """Optimise the band within ``max_steps`` in all; returns (converged, steps taken)."""
        from ase.optimize import FIRE, LBFGS

        steps = 0
        if self.neb_optimizer == "LBFGS":
            lbfgs = LBFGS(neb, logfile=None)
            if lbfgs.run(fmax=self.fmax, steps=self.max_steps // 2):
                return True, int(lbfgs.nsteps)
            steps = int(lbfgs.nsteps)
        fire = FIRE(neb, logfile=None)
        converged = bool(fire.run(fmax=self.fmax, steps=self.max_steps - steps))
        return converged, steps + int(fire.nsteps)


def _mic_disp(a: Atoms, b: Atoms) -> np.ndarray:
    from ase.geometry import find_mic

    return find_mic(b.positions - a.positions, a.cell, pbc=True)[0]
