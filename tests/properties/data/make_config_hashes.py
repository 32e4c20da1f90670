"""Writes ``config_hashes.json``: the configuration hash of every property of every suite of every shipped
material, of each property class with its defaults, and of the suite overrides the examples use.

These hashes are part of stored evaluation keys, so a refactor of the properties must leave them unchanged
(``tests/properties/test_config_hashes.py``). Regenerate only from code whose keys are meant to change:
``python tests/properties/data/make_config_hashes.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlipscope.materials import shipped_material_names
from mlipscope.properties.base import Property
from mlipscope.properties.suite import SUITE_KINDS, build_suite
from mlipscope.runner.evaluate import property_config_hash

HERE = Path(__file__).parent

# Property classes with their defaults (also those no suite uses): "module:Class".
DEFAULT_CLASSES = [
    "dataset_errors:DatasetErrors",
    "defects:DefectFormationEnergy",
    "diffusion:DefectDiffusion",
    "dimer:DimerCurve",
    "elastic:ElasticConstants",
    "eos:EquationOfState",
    "migration:MigrationBarrier",
    "phonons:Phonons",
    "ranking:EnergyRanking",
    "rare_events:RareEventForces",
    "rdf:LiquidRDF",
    "stacking_faults:StackingFaults",
    "surfaces:SurfaceEnergy",
    "thermal_conductivity:ThermalConductivity",
    "thermal_expansion:ThermalExpansion",
]

# Overrides of the shipped examples (examples/si.toml, examples/mlearn.toml) and a few settings of each kind.
OVERRIDES: dict[str, dict[str, dict[str, Any]]] = {
    "si-full": {
        "migration_vacancy": {"n_images": 3, "fmax": 0.05},
        "re_vacancy": {"max_frames": 50},
        "vacancy_64": {"max_steps": 500, "optimizer": "FIRE"},
        "diffusion_vacancy": {
            "temperatures_k": [1100, 1250, 1400],
            "replica_ps": 10.0,
            "timestep_fs": 2.0,
            "min_replicas": 1,
            "max_replicas": 1,
            "target_hops": 10,
            "min_hops": 4,
            "block_ps": 1.5,
            "equilibration_ps": 0.5,
            "neb": {"n_images": 3, "fmax": 0.05},
        },
        "liquid_rdf": {"sample_ps": 2.0, "timestep_fs": 2.0},
        "elastic_perfect": {"fmax": 0.001, "max_steps": 100},
        "surface_100": {"fmax": 0.01},
        "polymorph_ranking": {"fmax": 0.01, "max_steps": 50},
        "phonons_perfect": {"fmax": 0.01},
    },
    "mo-full": {"migration_vacancy": {"n_images": 3, "fmax": 0.05}},
}


def _hashes(properties: list[Property]) -> dict[str, str]:
    return {p.label: property_config_hash(p) for p in properties}


def collect() -> dict[str, str]:
    """``{"<material>-<kind>/<label>": hash, "class/<module:Class>": hash, "override/<suite>/<label>": hash}``."""
    import importlib

    out: dict[str, str] = {}
    for material in shipped_material_names():
        for kind in SUITE_KINDS:
            suite = f"{material}-{kind}"
            for label, digest in _hashes(build_suite(suite)).items():
                out[f"{suite}/{label}"] = digest
    for target in DEFAULT_CLASSES:
        module, _, name = target.partition(":")
        cls = getattr(importlib.import_module(f"mlipscope.properties.{module}"), name)
        out[f"class/{target}"] = property_config_hash(cls())
    for suite, overrides in OVERRIDES.items():
        labels = list(overrides)
        for label, digest in _hashes(build_suite(suite, labels, overrides)).items():
            out[f"override/{suite}/{label}"] = digest
    return out


if __name__ == "__main__":
    target = HERE / "config_hashes.json"
    target.write_text(json.dumps(collect(), indent=1, sort_keys=False) + "\n")
    print(f"wrote {target}")
