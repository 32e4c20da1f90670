"""Quasi-harmonic thermal expansion: PhonopyQHA's V(T) against minimising F(V) = E(V) + F_phonon(V, T) by hand
(a cubic polynomial per temperature) from the same free energies, for Stillinger–Weber Si."""

from __future__ import annotations

import numpy as np
import pytest

from mlipscope.calculators import make_calculator
from mlipscope.errors import InputError
from mlipscope.properties.thermal_expansion import EV_PER_KJ_MOL, ThermalExpansion, free_energies


def test_stillinger_weber_si_expansion_agrees_with_minimising_the_free_energy_by_hand():
    calc = make_calculator("sw")
    prop = ThermalExpansion(material="si", mesh=(12, 12, 12), t_max_k=400.0)
    result = prop.compute(calc)
    alpha_300 = result.values["alpha_300k_ppm_k"]
    assert 1.0 < alpha_300 < 6.0  # SW Si: positive, a few 10^-6/K (experiment 2.6)

    bulk = prop.context_for(None).relaxed_bulk(calc).cell()
    factors = np.linspace(0.97, 1.03, 7) ** (1 / 3)
    cells = []
    for f in factors:
        cell = bulk.copy()
        cell.set_cell(bulk.cell.array * f, scale_atoms=True)
        cells.append(cell)
    temperatures = np.array([290.0, 300.0, 310.0])
    volumes, energies, free, _, _ = free_energies(calc, cells, (2, 2, 2), (12, 12, 12), temperatures)
    minima = []
    for row in free:
        poly = np.polynomial.Polynomial.fit(volumes, energies + row * EV_PER_KJ_MOL, 3)
        roots = [r.real for r in poly.deriv().roots() if abs(r.imag) < 1e-12 and volumes[0] < r.real < volumes[-1]]
        minima.append(min(roots, key=poly))
    alpha_by_hand = (minima[2] - minima[0]) / (20.0 * minima[1]) / 3.0 * 1e6
    assert alpha_300 == pytest.approx(alpha_by_hand, rel=0.1)


def test_bad_settings_are_refused():
    with pytest.raises(InputError):
        ThermalExpansion(n_volumes=3)
    with pytest.raises(InputError):
        ThermalExpansion(t_max_k=200.0)
