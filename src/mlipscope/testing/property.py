"""Conformance tests for a property, shipped with the package: what the runner relies on when it sends a property
to Dask workers, keys its stored results and compares them with references.

Subclass :class:`PropertyConformance` in a test module with the property and a calculator for its material::

    from mlipscope.testing import PropertyConformance

    class TestEOSConformance(PropertyConformance):
        def make_property(self):
            return EquationOfState(material="mo")

        def make_calculator(self):
            return make_calculator("mlearn-snap:Mo")

It checks: the property pickles and comes back with the same label, configuration and stored key; its key is
stable (two equal instances, before and after a computation); every value has a unit and is a float, and the
values that are errors against DFT are among them; the result carries the property's label and JSON-able details;
computing does not change the property and leaves no state behind (the same values again with a fresh context,
also after a run with another calculator in between, when ``make_other_calculator`` gives one).

:func:`check_property` runs the same checks in one call, for a test parametrised over many properties (mlipscope's
own tests run it for every registered family, :func:`mlipscope.properties.registry.families`).
"""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Callable

import pytest
from ase.calculators.calculator import Calculator

from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.context import MaterialContext
from mlipscope.runner.evaluate import property_config_hash
from mlipscope.store.provenance import to_json


def same_values(a: dict[str, float], b: dict[str, float], rel: float = 1e-9) -> bool:
    """Equal keys and values (NaN equals NaN), within ``rel``."""
    if set(a) != set(b):
        return False
    for key, x in a.items():
        y = b[key]
        if math.isnan(x) and math.isnan(y):
            continue
        if not math.isclose(x, y, rel_tol=rel, abs_tol=1e-12):
            return False
    return True


def _config_text(prop: Property) -> str:
    return json.dumps(prop.config(), sort_keys=True, default=str)


class PropertyConformance:
    """Subclass with :meth:`make_property` and :meth:`make_calculator` (and optionally
    :meth:`make_other_calculator`); keep the property cheap: it is computed three or four times."""

    #: relative tolerance of "the same values again" (a property whose optimisers are deterministic gives 0)
    repeat_rel_tolerance: float = 1e-9

    def make_property(self) -> Property:
        raise NotImplementedError("give the property to check")

    def make_calculator(self) -> Calculator:
        raise NotImplementedError("give a calculator for the property's material")

    def make_other_calculator(self) -> Calculator | None:
        """Another calculator for the same material (e.g. another potential), or None to skip that check."""
        return None

    # --- fixtures ---------------------------------------------------------------------------------------------
    @pytest.fixture(scope="class")
    def computed(self) -> tuple[Property, str, PropertyResult]:
        """The property, its configuration before computing, and its result with a fresh context."""
        prop = self.make_property()
        before = _config_text(prop)
        return prop, before, prop.compute(self.make_calculator(), MaterialContext(prop.material))

    # --- checks -----------------------------------------------------------------------------------------------
    def test_pickles_with_the_same_key(self):  # Dask ships properties to workers
        prop = self.make_property()
        again = pickle.loads(pickle.dumps(prop))
        assert type(again) is type(prop) and again.label == prop.label
        assert _config_text(again) == _config_text(prop)
        assert property_config_hash(again) == property_config_hash(prop)

    def test_key_is_stable(self, computed):
        prop, before, _ = computed
        assert property_config_hash(self.make_property()) == property_config_hash(self.make_property())
        assert _config_text(prop) == before, "computing changed the property's configuration"
        assert property_config_hash(prop) == property_config_hash(self.make_property())

    def test_every_value_has_a_unit(self, computed):
        prop, _, result = computed
        assert result.label == prop.label
        assert result.values, "a property gives at least one value"
        missing = set(result.values) - set(result.units)
        assert not missing, f"no unit for {sorted(missing)}"
        for key, value in result.values.items():
            assert isinstance(value, float), f"{key}: {type(value).__name__}, not a float"
            assert isinstance(result.units[key], str), f"{key}: unit {result.units[key]!r} is not a string"
        assert set(result.error_metrics) <= set(result.values)
        to_json(result.details)  # stored with the evaluation: must serialise

    def test_no_state_between_calls(self, computed):
        prop, _, first = computed
        other = self.make_other_calculator()
        if other is not None:
            prop.compute(other, MaterialContext(prop.material))
        again = prop.compute(self.make_calculator(), MaterialContext(prop.material))
        assert same_values(first.values, again.values, self.repeat_rel_tolerance), (first.values, again.values)


class _Given(PropertyConformance):
    """The checks of :class:`PropertyConformance` with their factories given as arguments."""

    def __init__(
        self,
        make_property: Callable[[], Property],
        make_calculator: Callable[[], Calculator],
        make_other_calculator: Callable[[], Calculator | None] | None,
        repeat_rel_tolerance: float,
    ) -> None:
        self.make_property = make_property  # type: ignore[method-assign]
        self.make_calculator = make_calculator  # type: ignore[method-assign]
        self.make_other_calculator = make_other_calculator or (lambda: None)  # type: ignore[method-assign]
        self.repeat_rel_tolerance = repeat_rel_tolerance


def check_property(
    make_property: Callable[[], Property],
    make_calculator: Callable[[], Calculator],
    make_other_calculator: Callable[[], Calculator | None] | None = None,
    *,
    repeat_rel_tolerance: float = 1e-9,
) -> PropertyResult:
    """Every check of :class:`PropertyConformance` on ``make_property()``; returns its first result. Raises
    AssertionError (or the pickling error) at the first check that fails."""
    checks = _Given(make_property, make_calculator, make_other_calculator, repeat_rel_tolerance)
    checks.test_pickles_with_the_same_key()
    prop = make_property()
    computed = (prop, _config_text(prop), prop.compute(make_calculator(), MaterialContext(prop.material)))
    checks.test_key_is_stable(computed)
    checks.test_every_value_has_a_unit(computed)
    checks.test_no_state_between_calls(computed)
    return computed[2]
