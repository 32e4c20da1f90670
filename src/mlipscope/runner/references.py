"""The reference a run compares with, from its spec: the material's file, a shipped one, a file, a calculator."""

from __future__ import annotations

from mlipscope.calculators import make_calculator
from mlipscope.properties.references import CalculatorReference, Reference, TabulatedReference

#: the reference spec that means "the material's own reference file"
MATERIAL_REFERENCE = "material"


def load_reference(spec: str | None, material=None) -> Reference | None:
    """``material`` (the material's reference file), a shipped reference name (``<material>-dft``, e.g.
    ``si-dft``), a YAML/JSON file, or ``calc:<calculator spec>``; None for none."""
    from mlipscope.materials import load_material, reference_dir

    if spec is None or spec == "none":
        return None
    if spec.startswith("calc:"):
        calc_spec = spec[len("calc:") :]
        return CalculatorReference(make_calculator(calc_spec), name=f"reference calculator {calc_spec}")
    if spec == MATERIAL_REFERENCE:
        chosen = load_material(material)
        return TabulatedReference.from_file(chosen.reference) if chosen.reference else None
    shipped = reference_dir() / (spec.replace("-", "_") + ".yaml")
    if spec.endswith("-dft") and shipped.is_file():
        return TabulatedReference.from_file(shipped)
    return TabulatedReference.from_file(spec)
