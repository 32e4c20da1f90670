import math

import numpy as np
import pytest
from ase.build import bulk

from mlipscope.failures import FailureKind
from mlipscope.properties.base import Property
from mlipscope.properties.references import TabulatedReference
from mlipscope.runner.evaluate import evaluate_property, property_config_hash


class EnergyPerAtom(Property):
    """Energy per atom of diamond Si at a given lattice constant (a minimal property for these tests)."""

    name = "energy_per_atom"

    def __init__(self, label=None, a: float = 5.431) -> None:
        super().__init__(label)
        self.a = a

    def compute(self, calculator):
        atoms = bulk("Si", "diamond", self.a)
        atoms.calc = calculator
        return self.result({"energy_ev": atoms.get_potential_energy() / len(atoms)}, {"energy_ev": "eV/atom"})


class Crashes(Property):
    name = "crashes"

    def compute(self, calculator):
        raise ZeroDivisionError("model blew up")


def test_ok_outcome_has_error_against_reference(sw_calc):
    ref = TabulatedReference({"energy_per_atom.energy_ev": (-4.5, "made-up reference for the test")})
    outcome = evaluate_property(EnergyPerAtom(), sw_calc, ref)
    assert outcome.ok
    (record,) = outcome.records
    assert record.value == pytest.approx(-4.3366, abs=2e-4)
    assert record.absolute_error == pytest.approx(abs(record.value + 4.5))
    assert record.relative_error == pytest.approx(record.absolute_error / 4.5)


def test_crash_is_recorded_with_reason(sw_calc):
    outcome = evaluate_property(Crashes(), sw_calc, None)
    assert outcome.status == "failed" and outcome.failure_kind is FailureKind.ERROR
    assert "ZeroDivisionError: model blew up" in outcome.reason


def test_timeout_is_recorded(sw_calc):
    outcome = evaluate_property(EnergyPerAtom(), sw_calc, None, time_limit_s=-1.0)
    assert outcome.status == "failed" and outcome.reason.startswith("timeout")
    assert outcome.failure_kind is FailureKind.TIMEOUT and outcome.failure_kind.transient


def test_no_reference_gives_nan_errors(sw_calc):
    outcome = evaluate_property(EnergyPerAtom(), sw_calc, None)
    assert math.isnan(outcome.records[0].absolute_error)
    assert np.isfinite(outcome.records[0].value)


def test_config_hash_follows_configuration():
    assert property_config_hash(EnergyPerAtom(a=5.43)) == property_config_hash(EnergyPerAtom(a=5.43))
    assert property_config_hash(EnergyPerAtom(a=5.43)) != property_config_hash(EnergyPerAtom(a=5.44))
