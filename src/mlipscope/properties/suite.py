"""Named property suites, built from a material: ``<material>-default``, ``-quick``, ``-dynamics``, ``-full``.

A suite is a list of (label, property class, configuration) entries, resolved lazily, so a suite can be listed
without importing every property's dependencies and each entry can be overridden from a config file
(``[suite.overrides.<label>]``). The full list of a material follows from its data:

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
import importlib
from dataclasses import dataclass, field
from typing import Any

from mlipscope.errors import InputError
from mlipscope.materials import load_material, shipped_material_names
from mlipscope.materials.defects import defect_sites
from mlipscope.materials.material import Material
from mlipscope.properties.base import Property

P = "mlipscope.properties."
SUITE_KINDS = ("default", "quick", "dynamics", "full")


@dataclass(frozen=True)
class SuiteEntry:
    label: str
    target: str  # "module:ClassName"
    config: dict[str, Any] = field(default_factory=dict)

    def build(self, overrides: dict[str, Any] | None = None, material: Material | None = None) -> Property:
        module_name, _, class_name = self.target.partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        return cls(label=self.label, material=material, **{**self.config, **(overrides or {})})


def material_entries(material: Material) -> list[SuiteEntry]:
    """Every property the material's data support, in suite order (see the module docstring)."""
    entries = [
        SuiteEntry(f"errors_{name}", P + "dataset_errors:DatasetErrors", {"dataset": spec})
        for role in ("test", "validation")
        for name, spec in material.datasets.get(role, {}).items()
    ]
    entries += [
        SuiteEntry("eos", P + "eos:EquationOfState"),
        SuiteEntry("elastic_perfect", P + "elastic:ElasticConstants"),
    ]
    first_size = material.supercell_size(material.supercells[0])
    entries += [
        SuiteEntry(f"elastic_{cell}", P + "elastic:ElasticConstants", {"cell": cell, "size": first_size})
        for cell in material.elastic_defects
    ]
    sites = defect_sites(material)
    entries += [
        SuiteEntry(
            f"{site.name}_{material.supercell_size(n)}",
            P + "defects:DefectFormationEnergy",
            {"defect": site.name, "size": material.supercell_size(n)},
        )
        for n in material.supercells
        for site in sites
    ]
    entries += [
        SuiteEntry(f"surface_{''.join(map(str, m))}", P + "surfaces:SurfaceEnergy", {"miller": m})
        for m in material.surfaces
    ]
    entries += [SuiteEntry(f"phonons_{cell}", P + "phonons:Phonons", {"cell": cell}) for cell in material.phonon_cells]
    if material.polymorphs:
        entries.append(SuiteEntry("polymorph_ranking", P + "ranking:EnergyRanking"))
    entries += [
        SuiteEntry(
            f"ranking_{name}",
            P + "ranking:EnergyRanking",
            {
                "structures": spec["dataset"],
                "config_types": spec["config_types"],
                "tie_tolerance_mev_atom": spec["tie_tolerance_mev_atom"],
            },
        )
        for name, spec in material.ranking_sets.items()
    ]
    entries += [
        SuiteEntry(f"re_{name}", P + "rare_events:RareEventForces", {"dataset": spec})
        for name, spec in material.datasets.get("rare_event", {}).items()
    ]
    entries += [
        SuiteEntry(f"migration_{path}", P + "migration:MigrationBarrier", {"defect": path})
        for path in material.migration
    ]
    temperatures = material.md.get("temperatures_k")
    if temperatures:
        entries += [
            SuiteEntry(
                f"diffusion_{d}", P + "diffusion:DefectDiffusion", {"defect": d, "temperatures_k": tuple(temperatures)}
            )
            for d in material.md.get("diffusion", ["vacancy"])
        ]
    if material.liquid.get("reference_rdf"):
        entries.append(
            SuiteEntry("liquid_rdf", P + "rdf:LiquidRDF", {"reference_rdf": material.liquid["reference_rdf"]})
        )
    return entries


def default_patterns(material: Material, kind: str) -> list[str]:
    """Label globs of a suite kind when the material file does not set its own."""
    sizes = [material.supercell_size(n) for n in material.supercells]
    vacancies = [s.name for s in defect_sites(material) if s.kind == "vacancy"]
    first_surface = [f"surface_{''.join(map(str, material.surfaces[0]))}"] if material.surfaces else []
    md = ["diffusion_*", "liquid_rdf"]
    if kind == "full":
        return ["*"]
    if kind == "quick":
        return ["errors_*", "re_*", "eos", "elastic_perfect", *[f"{v}_{sizes[0]}" for v in vacancies], *first_surface]
    if kind == "dynamics":
        return ["re_*", "migration_*", *md]
    # default: everything but MD; in the larger supercells only the vacancies
    larger = {f"{s.name}_{n}" for s in defect_sites(material) if s.kind != "vacancy" for n in sizes[1:]}
    return [f"!{label}" for label in sorted(larger)] + [f"!{m}" for m in md] + ["*"]


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
