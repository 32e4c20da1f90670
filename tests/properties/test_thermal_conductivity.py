"""Lattice thermal conductivity with phono3py for Stillinger–Weber Si: isotropic (cubic), positive, and falling
about as 1/T where three-phonon scattering dominates."""

from __future__ import annotations

import numpy as np
import pytest

from mlipscope.calculators import make_calculator
from mlipscope.errors import InputError
from mlipscope.properties.thermal_conductivity import ThermalConductivity


def test_stillinger_weber_si_conductivity_is_isotropic_and_falls_as_one_over_t():
    prop = ThermalConductivity(material="si", mesh=(8, 8, 8), temperatures_k=(300.0, 600.0))
    result = prop.compute(make_calculator("sw"))
    kappa = np.array(result.details["kappa_w_mk"])
    np.testing.assert_allclose(kappa[:, :3], kappa[:, :1].repeat(3, axis=1), rtol=1e-6)  # xx = yy = zz
    np.testing.assert_allclose(kappa[:, 3:], 0.0, atol=1e-6 * kappa[:, :3].max())
    assert result.values["kappa_300k_w_mk"] > 50.0
    assert result.values["kappa_ratio_600k_300k"] == pytest.approx(0.5, abs=0.1)
    assert result.units["kappa_300k_w_mk"] == "W/(m·K)"


def test_temperatures_must_include_the_reported_ones():
    with pytest.raises(InputError, match="300 and 600"):
        ThermalConductivity(temperatures_k=(300.0,))
