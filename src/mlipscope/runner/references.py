"""The reference a run compares with, from its spec: the material's file, a shipped one, a file, a calculator."""

from __future__ import annotations

from mlipscope.calculators import make_calculator
from mlipscope.properties.references import CalculatorReference, Reference, TabulatedReference

#: the reference spec that means "the material's own reference file"
MATERIAL_REFERENCE = "material"


def load_reference(spec: str | None, material=None, *, check_labels: bool = True) -> Reference | None:
    """``material`` (the material's reference file), a shipped reference name (``<material>-dft``, e.g.
    ``si-dft``), a YAML/JSON file, or ``calc:<calculator spec>``; None for none.

    A file's value names must use property labels of ``material`` (a shipped ``<name>-dft`` file: also those of
    material ``<name>``, so a material file of one's own may use the shipped values); with no material given, a
    file of one's own is checked for its form only (its labels could be those of any material). Workers pass
    ``check_labels=False``: the command checked the file before any work, and the labels need every property
    family imported."""
    from mlipscope.materials import load_material, reference_dir, shipped_material_names

    if spec is None or spec == "none":
        return None
    if spec.startswith("calc:"):
        calc_spec = spec[len("calc:") :]
        return CalculatorReference(make_calculator(calc_spec), name=f"reference calculator {calc_spec}")
    if spec == MATERIAL_REFERENCE:
        chosen = load_material(material)
        labels = _labels(chosen) if check_labels else None
        return TabulatedReference.from_file(chosen.reference, labels=labels) if chosen.reference else None
    shipped = reference_dir() / (spec.replace("-", "_") + ".yaml")
    if spec.endswith("-dft") and shipped.is_file():
        owner = spec.removesuffix("-dft")
        if not check_labels:
            return TabulatedReference.from_file(shipped)
        labels = _labels(owner) if owner in shipped_material_names() else []
        return TabulatedReference.from_file(shipped, labels=labels + _labels(material))
    return TabulatedReference.from_file(spec, labels=_labels(material) if check_labels and material else None)


def _labels(material) -> list[str]:
    """The property labels of every suite entry of ``material`` (a material, its name or file; its full suite)."""
    from mlipscope.materials import load_material
    from mlipscope.properties.registry import material_entries

    return [entry.label for entry in material_entries(load_material(material))]
