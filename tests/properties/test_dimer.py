"""Dimer curves: Stillinger–Weber Si against its two-body term evaluated from the potential file by hand (a dimer
has no triplets), and the physicality checks on curves built to fail them."""

from __future__ import annotations

import numpy as np
import pytest

from mlipscope._lammps import lammps_potentials_dir
from mlipscope.calculators import make_calculator
from mlipscope.errors import InputError
from mlipscope.properties.dimer import DimerCurve, is_unphysical, physicality


def _sw_two_body_ev(r: np.ndarray) -> np.ndarray:
    fields = [x for line in (lammps_potentials_dir() / "Si.sw").read_text().splitlines()
              if line.strip() and not line.startswith("#") for x in line.split()]  # fmt: skip
    eps, sigma, a = (float(x) for x in fields[3:6])
    big_a, big_b, p, q = (float(x) for x in fields[9:13])
    inside = r < a * sigma
    x = np.where(inside, r, 0.5 * a * sigma)
    e = big_a * eps * (big_b * (sigma / x) ** p - (sigma / x) ** q) * np.exp(sigma / (x - a * sigma))
    return np.where(inside, e, 0.0)


def test_stillinger_weber_dimer_is_its_two_body_term_and_physical():
    prop = DimerCurve(r_min_a=1.6, r_max_a=6.0, n_points=45)
    result = prop.compute(make_calculator("sw"))
    curve = result.details["curves"]["Si-Si"]
    r = np.array(curve["r_a"])
    np.testing.assert_allclose(curve["energy_ev"], _sw_two_body_ev(r), atol=1e-6)
    fine = np.linspace(1.6, 6.0, 100001)
    assert result.values["Si-Si.r_min_a"] == pytest.approx(fine[np.argmin(_sw_two_body_ev(fine))], abs=0.02)
    assert result.values["Si-Si.well_depth_ev"] == pytest.approx(-_sw_two_body_ev(fine).min(), abs=0.01)
    assert result.values["Si-Si.unphysical"] == 0.0
    assert result.units["Si-Si.r_min_a"] == "Å" and "Si-Si.unphysical" in result.error_metrics


def test_physicality_flags_a_double_well_a_soft_wall_and_a_jump():
    r = np.linspace(0.8, 6.0, 200)
    morse = (1 - np.exp(-2.0 * (r - 2.3))) ** 2 - 1.0
    force = -np.gradient(morse, r)
    good = physicality(r, morse, force)
    assert good["n_minima"] == 1 and good["wall_monotonic"] == 1 and not is_unphysical(good)
    double = morse - 0.6 * np.exp(-((r - 4.0) ** 2) / 0.05)
    assert physicality(r, double, -np.gradient(double, r))["n_minima"] == 2
    soft = np.where(r < 1.5, -1.0 - (1.5 - r), morse)  # the wall turns down at short range: a hole
    assert is_unphysical(physicality(r, soft, -np.gradient(soft, r)))
    jump = morse + np.where(r > 3.0, 0.8, 0.0)  # a step in E with smooth forces
    assert physicality(r, jump, force)["energy_jump_ev"] > 0.5


def test_bad_settings_are_refused():
    with pytest.raises(InputError):
        DimerCurve(r_min_a=3.0, r_max_a=2.0)
    with pytest.raises(InputError):
        DimerCurve(r_max_a=8.0, box_a=10.0)
