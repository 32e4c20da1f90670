"""Data of the elements that properties need from the material layer."""

from __future__ import annotations

from typing import Any

#: experimental melting points (K) at 1 atm, CRC Handbook of Chemistry and Physics
EXPERIMENTAL_MELTING_K = {"Si": 1687.0, "Ge": 1211.4, "Cu": 1357.8, "Ni": 1728.0, "Mo": 2896.0, "Li": 453.7}


def experimental_melting_point_k(material: Any) -> float | None:
    """The experimental melting point of a one-element material, None for a compound or an element not listed."""
    return EXPERIMENTAL_MELTING_K.get(material.species[0]) if len(material.species) == 1 else None
