"""Arrhenius fits: the reported standard errors match the scatter of fits to synthetic data with known noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase import units

from mlipscope.properties.arrhenius import arrhenius_fit

EA_EV, LOG10_D0 = 0.45, -2.5
TEMPS = np.array([1000.0, 1150.0, 1300.0, 1450.0])


def _synthetic(rng, rel_noise: np.ndarray, temps: np.ndarray = TEMPS) -> tuple[np.ndarray, np.ndarray]:
    """Noisy D with ln D scattered by ``rel_noise`` and its standard error: a relative error, as block averages
    give (SE(D)/D is what the fit uses)."""
    d = 10**LOG10_D0 * np.exp(-EA_EV / (units.kB * temps)) * np.exp(rng.normal(0.0, rel_noise))
    return d, d * rel_noise


@pytest.mark.parametrize("temps", [TEMPS, TEMPS[[0, 3]]], ids=["4 temperatures", "2 temperatures"])
def test_standard_errors_match_the_scatter_of_repeated_fits(temps):
    rng = np.random.default_rng(7)
    rel = np.linspace(0.1, 0.3, len(temps))  # sigma of ln D per temperature
    fits = [arrhenius_fit(temps, *_synthetic(rng, rel, temps)) for _ in range(3000)]
    ea = np.array([f.activation_energy_ev for f in fits])
    d0 = np.array([f.log10_prefactor_cm2_s for f in fits])
    assert ea.mean() == pytest.approx(EA_EV, abs=3 * ea.std() / math.sqrt(len(ea)))
    assert d0.mean() == pytest.approx(LOG10_D0, abs=3 * d0.std() / math.sqrt(len(d0)))
    # with known errors the standard errors do not depend on the draw, and equal the spread of the estimates
    assert np.ptp([f.activation_energy_stderr_ev for f in fits]) < 1e-5 * fits[0].activation_energy_stderr_ev
    assert fits[0].activation_energy_stderr_ev == pytest.approx(ea.std(), rel=0.05)
    assert fits[0].log10_prefactor_stderr == pytest.approx(d0.std(), rel=0.05)
    # the chi-square p-value of a true Arrhenius law is uniform: ~1 % of fits fall below 0.01
    if len(temps) > 2:
        p = np.array([f.p_value for f in fits])
        assert 0.003 < np.mean(p < 0.01) < 0.02
        assert sum(f.non_arrhenius_reason() is not None for f in fits) < 0.03 * len(fits)


def test_non_arrhenius_data_are_flagged():
    d, se = _synthetic(np.random.default_rng(0), np.full(4, 1e-3))
    bent = d * np.array([1.0, 3.0, 0.5, 1.0])  # far off the line compared with 0.1 % errors
    assert "residuals exceed" in arrhenius_fit(TEMPS, bent, se).non_arrhenius_reason()
    falling = d[::-1].copy()
    assert "negative activation energy" in arrhenius_fit(TEMPS, falling, se).non_arrhenius_reason()
    assert arrhenius_fit(TEMPS, d, se).non_arrhenius_reason() is None


def test_unweighted_fit_of_exact_data_and_bad_input():
    d, _ = _synthetic(np.random.default_rng(0), np.zeros(4) + 1e-12)
    fit = arrhenius_fit(TEMPS, d)
    assert fit.activation_energy_ev == pytest.approx(EA_EV, rel=1e-6)
    assert fit.diffusivity_cm2_s(1200.0) == pytest.approx(10**LOG10_D0 * math.exp(-EA_EV / (units.kB * 1200)))
    with pytest.raises(ValueError, match="positive diffusivities"):
        arrhenius_fit(TEMPS, -d)
