"""Low-index surface slabs of any material, surface normal along z, vacuum on both sides.

- Diamond-structure elements keep the bulk-terminated 1x1 terminations of the seed study: (100) ASE's
  ``diamond100`` (two dangling bonds per surface atom); (111) cut between the widely spaced planes (the "shuffle"
  position, one dangling bond per atom; ASE's ``diamond111`` ends on the narrow-gap "glide" planes, so its
  outermost planes are dropped); (110) :func:`ase.build.surface` of the conventional cell.
- Every other structure: :func:`ase.build.surface` of the conventional cell (any Miller index; for elemental
  crystals both faces are equivalent terminations), repeated along the normal until the slab is at least
  ``min_thickness_a`` thick. Compound slabs must be stoichiometric (else the surface energy needs chemical
  potentials): a non-stoichiometric cut is refused with a clear error.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
from ase import Atoms

from mlipscope.errors import InputError
from mlipscope.materials.material import Material

DIAMOND_MILLER = ((1, 0, 0), (1, 1, 0), (1, 1, 1))


def check_miller(material: Material, miller: tuple[int, ...]) -> None:
    """Refuse Miller indices the material's slab builder has no termination for (before any calculation)."""
    proto = material.prototype
    if len(miller) != 3 or not any(miller):
        raise InputError(None, "miller", "three Miller indices, not all zero", got=miller)
    if proto is not None and proto.name == "diamond" and tuple(miller) not in DIAMOND_MILLER:
        raise InputError(None, "miller", f"one of {list(DIAMOND_MILLER)} for a diamond-structure material", got=miller)


def surface_slab(
    material: Material,
    miller: tuple[int, int, int],
    a: float,
    *,
    layers: int = 12,
    min_thickness_a: float = 10.0,
    vacuum_a: float = 8.0,
    lateral: tuple[int, int] = (1, 1),
    lattice: Atoms | None = None,
) -> Atoms:
    """Slab of ``material`` cut at ``miller`` from its crystal at lattice constant ``a`` (Å), or from ``lattice``
    (e.g. the model's relaxed conventional cell, for non-cubic crystals whose c/a the model changes).

    ``layers``: atomic planes of a diamond-structure slab; other structures use ``min_thickness_a`` (Å)."""
    miller = tuple(int(i) for i in miller)  # type: ignore[assignment]
    proto = material.prototype
    if proto is not None and proto.name == "diamond":
        slab = _diamond_slab(material.species[0], miller, a, layers, vacuum_a, lateral)
    else:
        slab = _generic_slab(
            material, lattice or material.conventional_cell(a), miller, min_thickness_a, vacuum_a, lateral
        )
    slab.center(vacuum=vacuum_a, axis=2)
    slab.pbc = True  # periodic along z too (vacuum separates the images): every calculator handles that
    return slab


def _diamond_slab(
    element: str, miller: tuple[int, ...], a: float, layers: int, vacuum_a: float, lateral: tuple[int, int]
) -> Atoms:
    # ase.build loads scipy: imported where a slab is built, not when a suite that lists surfaces is read
    from ase.build import bulk, diamond100, diamond111, surface

    if miller not in DIAMOND_MILLER:
        raise InputError(None, "miller", f"one of {list(DIAMOND_MILLER)} for a diamond-structure material", got=miller)
    if layers < 4 or (miller != (1, 0, 0) and layers % 2):
        raise InputError(None, "layers", "at least 4 atomic planes (an even number for (110) and (111))", got=layers)
    nx, ny = lateral
    if miller == (1, 0, 0):
        return diamond100(element, size=(nx, ny, layers), a=a, vacuum=vacuum_a, orthogonal=True)
    if miller == (1, 1, 1):
        slab = diamond111(element, size=(nx, ny, layers + 2), a=a, vacuum=vacuum_a)
        z = slab.positions[:, 2]
        del slab[[i for i in range(len(slab)) if np.isclose(z[i], z.min()) or np.isclose(z[i], z.max())]]
        return slab
    # each period of the conventional (110) cut holds two atomic planes
    slab = surface(bulk(element, "diamond", a=a, cubic=True), (1, 1, 0), layers // 2, vacuum=vacuum_a)
    return slab.repeat((nx, ny, 1))


def _generic_slab(
    material: Material,
    lattice: Atoms,
    miller: tuple[int, ...],
    min_thickness_a: float,
    vacuum_a: float,
    lateral: tuple[int, int],
) -> Atoms:
    from ase.build import surface

    # thickness of one period along the normal: the slab grows by it with each extra layer
    period = float(
        surface(lattice, miller, 2, vacuum=1.0).cell[2, 2] - surface(lattice, miller, 1, vacuum=1.0).cell[2, 2]
    )
    n_periods = max(2, math.ceil(min_thickness_a / period))
    slab = surface(lattice, miller, n_periods, vacuum=vacuum_a).repeat((lateral[0], lateral[1], 1))
    bulk_counts = Counter(lattice.get_chemical_symbols())
    slab_counts = Counter(slab.get_chemical_symbols())
    ratios = {s: slab_counts[s] / bulk_counts[s] for s in bulk_counts}
    if len(set(round(r, 9) for r in ratios.values())) != 1:
        raise InputError(
            material.source or None,
            "surfaces",
            f"a stoichiometric {miller} slab of {material.name} (this cut has {dict(slab_counts)})",
            got=list(miller),
        )
    return slab


def surface_area_a2(slab: Atoms) -> float:
    """Area of one face of the slab (Å²): |a1 × a2| of the in-plane cell vectors."""
    return float(np.linalg.norm(np.cross(slab.cell[0], slab.cell[1])))
