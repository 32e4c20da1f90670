"""Named property suites: lists of (label, property class, configuration).

Suites are data, resolved lazily, so a suite can be listed without importing every property's dependencies and
each entry can be overridden from a config file (``[suite.overrides.<label>]``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from mlipscope.errors import InputError
from mlipscope.properties.base import Property


@dataclass(frozen=True)
class SuiteEntry:
    label: str
    target: str  # "module:ClassName"
    config: dict[str, Any] = field(default_factory=dict)

    def build(self, overrides: dict[str, Any] | None = None) -> Property:
        module_name, _, class_name = self.target.partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        return cls(label=self.label, **{**self.config, **(overrides or {})})


P = "mlipscope.properties."

_ERRORS = [
    SuiteEntry("errors_mlearn_test", P + "dataset_errors:DatasetErrors", {"dataset": "si_mlearn_test"}),
]
_RARE_EVENTS = [
    SuiteEntry("re_vacancy", P + "rare_events:RareEventForces", {"dataset": "si_vacancy_re_test"}),
    SuiteEntry("re_interstitial", P + "rare_events:RareEventForces", {"dataset": "si_interstitial_re_test"}),
]
_CRYSTAL = [
    SuiteEntry("eos", P + "eos:EquationOfState"),
    SuiteEntry("elastic_perfect", P + "elastic:ElasticConstants", {"cell": "perfect"}),
]
_DEFECT_ELASTIC = [
    SuiteEntry(f"elastic_{cell}", P + "elastic:ElasticConstants", {"cell": cell, "size": 64})
    for cell in ("vacancy", "tetrahedral", "hexagonal", "dumbbell")
]
_DEFECTS = [
    SuiteEntry(f"{defect}_{size}", P + "defects:DefectFormationEnergy", {"defect": defect, "size": size})
    for size in (64, 216)
    for defect in ("vacancy", "tetrahedral", "hexagonal", "dumbbell")
]
_SURFACES = [
    SuiteEntry(f"surface_{''.join(map(str, m))}", P + "surfaces:SurfaceEnergy", {"miller": m})
    for m in ((1, 0, 0), (1, 1, 0), (1, 1, 1))
]
_PHONONS = [
    SuiteEntry("phonons_perfect", P + "phonons:Phonons", {"cell": "perfect"}),
    SuiteEntry("phonons_vacancy", P + "phonons:Phonons", {"cell": "vacancy"}),
]
_RANKING = [SuiteEntry("polymorph_ranking", P + "ranking:EnergyRanking")]
_DYNAMICS = [
    SuiteEntry("migration_vacancy", P + "migration:MigrationBarrier", {"defect": "vacancy"}),
    SuiteEntry("migration_interstitial", P + "migration:MigrationBarrier", {"defect": "interstitial"}),
]
_MD = [
    SuiteEntry(f"diffusion_{d}", P + "diffusion:DefectDiffusion", {"defect": d, "temperatures_k": (1500, 1750, 2000)})
    for d in ("vacancy", "interstitial")
] + [SuiteEntry("liquid_rdf", P + "rdf:LiquidRDF")]

SUITES: dict[str, list[SuiteEntry]] = {
    # everything the seed study looks at except long MD (diffusion is its own suite: it costs minutes per model)
    "si-default": _ERRORS
    + _CRYSTAL
    + _DEFECT_ELASTIC
    + [e for e in _DEFECTS if e.label.endswith("_64")]
    + [SuiteEntry("vacancy_216", P + "defects:DefectFormationEnergy", {"defect": "vacancy", "size": 216})]
    + _SURFACES
    + _PHONONS
    + _RANKING
    + _RARE_EVENTS
    + _DYNAMICS,
    # cheap properties for ensembles on a laptop
    "si-quick": _ERRORS
    + _RARE_EVENTS
    + _CRYSTAL
    + [e for e in _DEFECTS if e.label in ("vacancy_64", "tetrahedral_64", "dumbbell_64")]
    + [_SURFACES[0]],
    # MD: vacancy / interstitial diffusion (Arrhenius fits) and the liquid structure; minutes per model
    "si-dynamics": _RARE_EVENTS + _DYNAMICS + _MD,
    "si-full": _ERRORS
    + _CRYSTAL
    + _DEFECT_ELASTIC
    + _DEFECTS
    + _SURFACES
    + _PHONONS
    + _RANKING
    + _RARE_EVENTS
    + _DYNAMICS
    + _MD,
}


def suite_entries(name: str, labels: list[str] | None = None) -> list[SuiteEntry]:
    if name not in SUITES:
        raise InputError(None, "suite", f"one of {sorted(SUITES)}", got=name)
    entries = SUITES[name]
    if labels:
        known = {e.label for e in entries}
        unknown = [label for label in labels if label not in known]
        if unknown:
            raise InputError(None, "suite.properties", f"labels of suite '{name}': {sorted(known)}", got=unknown)
        entries = [e for e in entries if e.label in labels]
    return entries


def build_suite(
    name: str, labels: list[str] | None = None, overrides: dict[str, dict[str, Any]] | None = None
) -> list[Property]:
    """Instantiate the properties of suite ``name`` (optionally a subset by label, with config overrides)."""
    overrides = overrides or {}
    # Overrides may name any property of the suite: a profile that selects fewer properties (e.g. --quick)
    # keeps the full profile's overrides, which then simply do not apply.
    known = sorted(e.label for e in suite_entries(name))
    for label, settings in overrides.items():
        if label not in known:
            raise InputError(None, f"suite.overrides.{label}", f"a property label of suite '{name}': {known}")
        if not isinstance(settings, dict):
            raise InputError(None, f"suite.overrides.{label}", "a table of property settings", got=settings)
    properties = []
    for entry in suite_entries(name, labels):
        try:
            properties.append(entry.build(overrides.get(entry.label)))
        except TypeError as exc:
            raise InputError(
                None, f"suite.overrides.{entry.label}", f"settings of {entry.target.partition(':')[2]}", got=str(exc)
            ) from None
    return properties
