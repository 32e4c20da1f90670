"""Property families register themselves and declare their suite entries; suites only select (issue 20)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mlipscope.materials import load_material
from mlipscope.properties import registry
from mlipscope.properties.base import Property
from mlipscope.properties.eos import EquationOfState
from mlipscope.properties.suite import build_suite, suite_entries


def test_shipped_families_in_suite_order():
    names = [cls.name for cls in registry.families()]
    assert names[:11] == [
        "dataset_errors", "eos", "elastic", "defect", "surface_energy", "phonons", "energy_ranking", "rare_events",
        "migration", "diffusion", "liquid_rdf",
    ]  # fmt: skip
    assert registry.family("eos") is EquationOfState
    with pytest.raises(KeyError, match="no property family"):
        registry.family("nope")


def test_entries_come_from_the_families():
    si = load_material("si")
    entries = registry.material_entries(si)
    assert entries == [e for cls in registry.families() for e in cls.suite_entries(si)]
    assert len({e.label for e in entries}) == len(entries)
    (eos,) = [e for e in entries if e.label == "eos"]
    assert eos.target == "mlipscope.properties.eos:EquationOfState" and eos.config == {}
    # a family a material's data do not support gives no entries (InP: two elements, no slip systems here)
    assert registry.family("stacking_faults").suite_entries(load_material("inp")) == []
    assert [e.label for e in registry.family("stacking_faults").suite_entries(si)] == ["stacking_faults"]


def test_a_property_defined_elsewhere_registers_and_joins_the_suites():
    class Density(Property):
        name = "test_density"
        suite_order = 1000

        @classmethod
        def suite_entries(cls, material):
            return [cls.suite_entry("density", scale=2.0)]

        def __init__(self, label=None, *, material=None, scale=1.0):
            super().__init__(label, material=material)
            self.scale = scale

        def compute(self, calculator, context=None):
            return self.result({"x_g_cm3": self.scale}, {"x_g_cm3": "g/cm³"})

    try:
        full = suite_entries("si-full")
        assert full[-1].label == "density" and full[-1].target.endswith(":" + Density.__qualname__)
        assert "density" in [e.label for e in suite_entries("si-default")]
        assert "density" not in [e.label for e in suite_entries("si-quick")]
        (prop,) = build_suite("si-full", ["density"], {"density": {"scale": 3.0}})
        assert isinstance(prop, Density) and prop.scale == 3.0 and prop.label == "density"
    finally:
        registry.unregister(Density)
    assert "density" not in [e.label for e in suite_entries("si-full")]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"name": "test_x", "suite_order": "first"}, "suite_order"),
        ({"suite_order": 5}, "name"),
        ({"name": "eos", "suite_order": 5}, "taken by mlipscope.properties.eos:EquationOfState"),
        ({"name": "test_x", "suite_order": 5, "suite_entries": lambda material: []}, "classmethod"),
    ],
)
def test_a_bad_family_is_refused_when_defined(body, problem):
    def compute(self, calculator, context=None):
        return self.result({}, {})

    with pytest.raises(TypeError, match=problem):
        type("Bad", (Property,), {"compute": compute, **body})
    assert "Bad" not in {cls.__name__ for cls in registry.families()}


def test_an_abstract_family_is_refused():
    with pytest.raises(TypeError, match="implement `compute`"):
        type("NoCompute", (Property,), {"name": "test_abstract", "suite_order": 5})


def test_listing_a_suite_imports_no_heavy_dependency():
    code = (
        "import sys; from mlipscope.properties.suite import suite_entries; suite_entries('si-full'); "
        "print(sorted(m for m in ('phonopy', 'phono3py', 'scipy.stats', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
