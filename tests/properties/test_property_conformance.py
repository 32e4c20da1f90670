"""The shipped property conformance tests (mlipscope.testing.PropertyConformance) on real properties of two
materials, and on broken properties they must reject."""

from __future__ import annotations

import json
import pickle

import pytest

from mlipscope.calculators import make_calculator
from mlipscope.properties.base import Property
from mlipscope.properties.context import MaterialContext
from mlipscope.properties.dataset_errors import DatasetErrors
from mlipscope.properties.defects import DefectFormationEnergy
from mlipscope.properties.eos import EquationOfState
from mlipscope.runner.benchmark import suite_properties
from mlipscope.testing import PropertyConformance


class TestEOSConformance(PropertyConformance):
    def make_property(self):
        return EquationOfState()

    def make_calculator(self):
        return make_calculator("sw")

    def make_other_calculator(self):
        return make_calculator("tersoff")


class TestVacancyConformance(PropertyConformance):
    def make_property(self):
        return DefectFormationEnergy(defect="vacancy", size=64)

    def make_calculator(self):
        return make_calculator("sw")

    def make_other_calculator(self):
        return make_calculator("tersoff")


class TestMoDatasetErrorsConformance(PropertyConformance):
    """Another material: Mo's test set with its mlearn SNAP potential."""

    def make_property(self):
        (prop,) = [p for p in suite_properties("quick", material="mo") if isinstance(p, DatasetErrors)]
        return prop

    def make_calculator(self):
        return make_calculator("mlearn-snap:Mo")


class _Counting(Property):
    """Keeps state between calls: its value changes with each computation."""

    name = "counting"

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def compute(self, calculator, context=None):
        self.calls += 1
        return self.result({"x_ev": float(self.calls)}, {"x_ev": "eV"})


class _NoUnit(Property):
    name = "no_unit"

    def compute(self, calculator, context=None):
        from mlipscope.properties.base import PropertyResult

        return PropertyResult(self.label, {"x_ev": 1.0}, {})


class _Unpicklable(Property):
    name = "unpicklable"

    def __init__(self) -> None:
        super().__init__()
        self.hook = lambda: None  # a lambda cannot be pickled: Dask could not ship it

    def compute(self, calculator, context=None):
        return self.result({"x_ev": 1.0}, {"x_ev": "eV"})


def _checks(prop_type) -> tuple[PropertyConformance, tuple]:
    """The conformance checks of ``prop_type`` and what their ``computed`` fixture would give."""

    class Checks(PropertyConformance):
        def make_property(self):
            return prop_type()

        def make_calculator(self):
            return None

    checks = Checks()
    prop = checks.make_property()
    before = json.dumps(prop.config(), sort_keys=True, default=str)
    return checks, (prop, before, prop.compute(None, MaterialContext(prop.material)))


def test_conformance_rejects_state_between_calls():
    checks, computed = _checks(_Counting)
    with pytest.raises(AssertionError):
        checks.test_no_state_between_calls(computed)
    with pytest.raises(AssertionError, match="changed the property's configuration"):
        checks.test_key_is_stable(computed)


def test_conformance_rejects_a_value_without_a_unit():
    checks, computed = _checks(_NoUnit)
    with pytest.raises(AssertionError, match="no unit"):
        checks.test_every_value_has_a_unit(computed)


def test_conformance_rejects_an_unpicklable_property():
    checks, _ = _checks(_Unpicklable)
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError), match="(?i)pickle"):
        checks.test_pickles_with_the_same_key()
