"""Named property suites, built from a material: ``<material>-default``, ``-quick``, ``-dynamics``, ``-full``.

A suite is a list of (label, property class, configuration) entries, resolved lazily, so a suite can be listed
without instantiating its properties and each entry can be overridden from a config file
(``[suite.overrides.<label>]``). This module only selects: the full list of a material is what the registered
property families declare (:mod:`mlipscope.properties.registry`, each family's ``suite_entries``), in their
``suite_order``; for the shipped families:

- ``errors_<name>`` per test and validation set and ``re_<name>`` per rare-event set;
- ``eos``, ``elastic_perfect`` and ``elastic_<defect>`` for the defect cells listed under ``defects.elastic``;
- ``<defect>_<N>`` per defect and supercell (N: atoms of the perfect supercell);
- ``surface_<hkl>`` per surface, ``phonons_perfect`` / ``phonons_vacancy``;
- ``polymorph_ranking`` when the material has a polymorph set, ``ranking_<name>`` per set of its ``ranking``;
- ``migration_vacancy`` / ``migration_interstitial``; ``diffusion_<defect>`` (MD) and ``liquid_rdf``.

Suites select from that list by label globs, in the order of the globs. Defaults (a material file may set its own
under ``suites:``): ``full`` everything; ``default`` everything but MD, with only the vacancy in the larger
supercells; ``quick`` the dataset errors, RE sets, EOS, perfect elastic constants, the vacancies of the smallest
supercell and the first surface; ``dynamics`` the RE sets, NEB and MD.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from mlipscope.errors import InputError
from mlipscope.materials import load_material, shipped_material_names
from mlipscope.materials.defects import defect_sites
from mlipscope.materials.material import Material
from mlipscope.properties import registry
from mlipscope.properties.base import Property
from mlipscope.properties.registry import SuiteEntry

__all__ = [
    "SUITE_KINDS",
    "SuiteEntry",
    "build_suite",
    "default_patterns",
    "material_entries",
    "select",
    "split_suite_name",
    "suite_entries",
    "suite_names",
]

SUITE_KINDS = ("default", "quick", "dynamics", "full")


def material_entries(material: Material) -> list[SuiteEntry]:
    """Every property the material's data support, in suite order: what the registered families declare."""
    return registry.material_entries(material)


def default_patterns(material: Material, kind: str) -> list[str]:
    """Label globs of a suite kind when the material file does not set its own."""
    sizes = [material.supercell_size(n) for n in material.supercells]
    vacancies = [s.name for s in defect_sites(material) if s.kind == "vacancy"]
    first_surface = [f"surface_{''.join(map(str, material.surfaces[0]))}"] if material.surfaces else []
    md = ["diffusion_*", "liquid_rdf", "melting_point", "md_stability"]
    if kind == "full":
        return ["*"]
    if kind == "quick":
        return ["errors_*", "re_*", "eos", "elastic_perfect", *[f"{v}_{sizes[0]}" for v in vacancies], *first_surface]
    if kind == "dynamics":
        return ["re_*", "migration_*", *md]
    # default: everything but MD; in the larger supercells only the vacancies
    larger = {f"{s.name}_{n}" for s in defect_sites(material) if s.kind != "vacancy" for n in sizes[1:]}
    costly = ["thermal_conductivity"]  # phono3py: ~100 supercells per model, in -full only
    return [f"!{label}" for label in sorted(larger)] + [f"!{m}" for m in md + costly] + ["*"]


def select(entries: list[SuiteEntry], patterns: list[str]) -> list[SuiteEntry]:
    """Entries matching the globs, in glob order; ``!glob`` excludes (before or after the globs that include)."""
    excluded = [p[1:] for p in patterns if p.startswith("!")]
    chosen: list[SuiteEntry] = []
    for pattern in (p for p in patterns if not p.startswith("!")):
        for entry in entries:
            matches = fnmatch.fnmatchcase(entry.label, pattern) and entry not in chosen
            if matches and not any(fnmatch.fnmatchcase(entry.label, x) for x in excluded):
                chosen.append(entry)
    return chosen


def split_suite_name(name: str, material: Material | str | None = None) -> tuple[Material, str]:
    """``"si-default"`` -> (si, "default"); ``"default"`` -> (``material`` or the default material, "default")."""
    base, sep, kind = name.rpartition("-")
    if kind not in SUITE_KINDS:
        raise InputError(None, "suite", f"<material>-<kind> or <kind>, kind one of {list(SUITE_KINDS)}", got=name)
    if material is None:
        return load_material(base or None), kind
    chosen = load_material(material)
    if sep and base != chosen.name:
        raise InputError(
            None, "suite", f"a suite of material '{chosen.name}' ({chosen.name}-{kind} or {kind})", got=name
        )
    return chosen, kind


def suite_entries(
    name: str, labels: list[str] | None = None, material: Material | str | None = None
) -> list[SuiteEntry]:
    chosen, kind = split_suite_name(name, material)
    entries = select(material_entries(chosen), list(chosen.suites.get(kind) or default_patterns(chosen, kind)))
    if labels:
        known = {e.label for e in entries}
        unknown = [label for label in labels if label not in known]
        if unknown:
            raise InputError(None, "suite.properties", f"labels of suite '{name}': {sorted(known)}", got=unknown)
        entries = [e for e in entries if e.label in labels]
    return entries


def build_suite(
    name: str,
    labels: list[str] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    material: Material | str | None = None,
) -> list[Property]:
    """Instantiate the properties of suite ``name`` (optionally a subset by label, with config overrides).

    ``name``: ``<material>-<kind>`` (a shipped material) or ``<kind>`` with ``material`` a material or its file."""
    chosen, _ = split_suite_name(name, material)
    overrides = overrides or {}
    # Overrides may name any property of the suite: a profile that selects fewer properties (e.g. --quick)
    # keeps the full profile's overrides, which then simply do not apply.
    known = sorted(e.label for e in suite_entries(name, material=chosen))
    for label, settings in overrides.items():
        if label not in known:
            raise InputError(None, f"suite.overrides.{label}", f"a property label of suite '{name}': {known}")
        if not isinstance(settings, dict):
            raise InputError(None, f"suite.overrides.{label}", "a table of property settings", got=settings)
    properties = []
    for entry in suite_entries(name, labels, material=chosen):
        try:
            properties.append(entry.build(overrides.get(entry.label), material=chosen))
        except TypeError as exc:
            raise InputError(
                None, f"suite.overrides.{entry.label}", f"settings of {entry.target.partition(':')[2]}", got=str(exc)
            ) from None
    return properties


def suite_names() -> list[str]:
    """Every suite of the shipped materials."""
    return [f"{m}-{kind}" for m in shipped_material_names() for kind in SUITE_KINDS]
