"""Polymorph sets for energy ranking: the phases of a material and their DFT energies above the ground state.

Silicon's set (``polymorphs: {table: si_polymorphs}``) is the crystal phases of the GAP-18 testing framework with
the CASTEP PW91 energies of ``si_reference_properties.json``; any other material lists
``phases: {<prototype>: {energy_above_ev_atom: x, source: ...}}`` with prototypes of
:mod:`mlipscope.materials.prototypes`, built at the ground state's nearest-neighbour distance.
"""

from __future__ import annotations

import json
import math
from importlib.resources import files
from typing import Any

from ase import Atoms

from mlipscope.errors import InputError
from mlipscope.materials.material import bulk


def crystal(*args: Any, **kwargs: Any) -> Atoms:
    """``ase.spacegroup.crystal``, imported on first use (it loads scipy; listing a suite imports this module)."""
    from ase.spacegroup import crystal as ase_crystal

    return ase_crystal(*args, **kwargs)


SI_TABLE = "si_polymorphs"
REFERENCE_KEY = "polymorph_energy_above_diamond_eV_atom_coarse_EV_grid"


def si_polymorph(name: str, element: str = "Si") -> Atoms:
    """Starting geometry of a phase of the Si table (close to the DFT one; the model relaxes it)."""
    if name == "diamond":
        return bulk(element, "diamond", a=5.43)
    if name == "hex_diamond":  # lonsdaleite, P6_3/mmc, 4f (1/3, 2/3, 1/16): ideal tetrahedra
        return crystal(element, [(1 / 3, 2 / 3, 1 / 16)], spacegroup=194, cellpar=[3.84, 3.84, 6.27, 90, 90, 120])
    if name == "bc8":  # Ia-3, 16c (x, x, x); Crain et al., PRB 50, 13043 (1994)
        return crystal(
            element, [(0.1003, 0.1003, 0.1003)], spacegroup=206, cellpar=[6.636] * 3 + [90] * 3, primitive_cell=True
        )
    if name == "st12":  # P4_3 2_1 2, 4a (x, x, 0) and 8b (x, y, z); Crain et al. (1994)
        return crystal(
            [element, element],
            [(0.0912, 0.0912, 0.0), (0.1730, 0.3784, 0.2486)],
            spacegroup=96,
            cellpar=[5.63, 5.63, 6.75, 90, 90, 90],
        )
    if name == "beta-Sn":  # I4_1/amd, 4a (origin choice 1)
        return crystal(
            element, [(0, 0, 0)], spacegroup=141, cellpar=[4.70, 4.70, 2.59, 90, 90, 90], primitive_cell=True
        )
    if name == "sh":
        return crystal(element, [(0, 0, 0)], spacegroup=191, cellpar=[2.64, 2.64, 2.49, 90, 90, 120])
    if name == "hcp":
        return bulk(element, "hcp", a=2.74, c=2.74 * math.sqrt(8 / 3))
    if name in ("bcc", "fcc"):
        return bulk(element, name, a={"bcc": 3.08, "fcc": 3.87}[name])
    raise InputError(None, "polymorph", "a Si phase of the reference table", got=name)


def prototype_phase(material, phase: str) -> Atoms:
    """An elemental phase of a shipped prototype, at the ground state's nearest-neighbour distance."""
    from mlipscope.materials.prototypes import get_prototype

    proto = get_prototype(phase, material.source or None)
    nn = material.nearest_neighbour_distance()
    if proto.name == "hcp":
        return bulk(material.species[0], "hcp", a=nn, covera=proto.covera)
    return bulk(material.species[0], proto.ase_crystal, a=nn / proto.nn_fraction)


def material_polymorphs(material) -> tuple[str, dict[str, float], str]:
    """(ground-state phase name, DFT energies above it in eV/atom with the ground state at 0, source)."""
    spec = material.polymorphs
    if spec.get("table") == SI_TABLE:
        return (
            "diamond",
            polymorph_reference_ev_atom(),
            "CASTEP PW91, libAtoms silicon-testing-framework " + ("(GAP-18 paper), " + REFERENCE_KEY),
        )
    phases = spec.get("phases") or {}
    ground = material.prototype.name if material.prototype is not None else "ground_state"
    out = {ground: 0.0}
    sources = []
    for phase, entry in phases.items():
        value = entry.get("energy_above_ev_atom") if isinstance(entry, dict) else entry
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(material.source or None, f"polymorphs.phases.{phase}", "energy_above_ev_atom: a number")
        out[str(phase)] = float(value)
        if isinstance(entry, dict) and entry.get("source"):
            sources.append(f"{phase}: {entry['source']}")
    return ground, out, "; ".join(sources)


def polymorph_reference_ev_atom() -> dict[str, float]:
    """DFT energies above diamond (eV/atom) of the phases :func:`si_polymorph` builds, diamond included (0)."""
    path = files("mlipscope") / "package_data" / "reference" / "si_reference_properties.json"
    table = json.loads(path.read_text())["PW91_CASTEP_GAP18_reference"][REFERENCE_KEY]
    out = {"diamond": 0.0}
    out.update({k: float(v) for k, v in table.items() if k != "hcp_short_and_fat"})  # no builder for it
    return out
