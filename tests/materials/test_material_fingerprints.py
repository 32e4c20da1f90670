"""Material fingerprints are part of stored keys: validating files with schemas must leave every one unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlipscope.materials import load_material, shipped_material_names

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
#: recorded before the material schema (issue 20) from the shipped materials and the golden run's material
RECORDED = json.loads((HERE / "data" / "material_fingerprints.json").read_text())


def test_every_shipped_material_is_recorded():
    assert set(shipped_material_names()) <= set(RECORDED)


@pytest.mark.parametrize("spec", sorted(RECORDED))
def test_fingerprint_is_unchanged(spec):
    path = ROOT / spec
    material = load_material(path if path.suffix == ".yaml" else spec)
    assert material.fingerprint() == RECORDED[spec]
