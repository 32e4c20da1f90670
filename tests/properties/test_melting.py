"""Melting point by the interface method: Stillinger–Weber Si melts at about 1690 K (Broughton & Li, PRB 35, 9120,
1987); the zero crossing and its delta-method error against a direct computation on synthetic rates."""

from __future__ import annotations

import numpy as np
import pytest

from mlipscope.calculators import make_calculator
from mlipscope.errors import EvaluationError, InputError
from mlipscope.properties.melting import MeltingPoint, zero_crossing


def test_stillinger_weber_si_melts_near_its_published_point():
    result = MeltingPoint(material="si").compute(make_calculator("sw"))
    assert result.values["melting_point_k"] == pytest.approx(1691.0, abs=120.0)
    assert 0.0 < result.values["melting_point_error_k"] < 150.0
    rates = result.details["energy_rate_mev_atom_ps"]
    assert rates[0] < 0 < rates[-1]  # crystal grows at 1300 K, liquid at 1900 K


def test_zero_crossing_and_its_error_match_a_resampling_estimate():
    rng = np.random.default_rng(0)
    temperatures = np.array([1300.0, 1500.0, 1700.0, 1900.0])
    truth = 0.01 * (temperatures - 1600.0)
    t_m, error = zero_crossing(temperatures, truth)
    assert t_m == pytest.approx(1600.0) and error == pytest.approx(0.0, abs=1e-6)
    noisy = [truth + rng.normal(0.0, 0.5, truth.size) for _ in range(4000)]
    crossings = [zero_crossing(temperatures, r)[0] for r in noisy]
    # the delta-method error of one noisy fit, on average, matches the spread of the crossings
    errors = [zero_crossing(temperatures, r)[1] for r in noisy[:200]]
    assert np.mean(errors) == pytest.approx(np.std(crossings), rel=0.15)
    with pytest.raises(EvaluationError):
        zero_crossing(temperatures, -truth)


def test_needs_lammps_and_a_bracket():
    with pytest.raises(InputError):
        MeltingPoint(temperatures_k=(1500.0, 1600.0))
    from ase.calculators.emt import EMT

    with pytest.raises(InputError, match="LAMMPS"):
        MeltingPoint(material="cu").compute(EMT())
