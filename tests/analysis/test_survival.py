"""MD survival statistics on synthetic failure times with a known rate."""

from __future__ import annotations

import numpy as np
import pytest

from mlipscope.analysis.survival import failure_rate, stable_up_to_k, survival_curve, survival_summary
from mlipscope.properties.md import MDRun

N_ATOMS, LENGTH_PS = 64, 50.0


def _runs(rate_per_atom_ps: float, n: int, seed: int = 3, temperature_k: float = 1500.0) -> list[MDRun]:
    times = np.random.default_rng(seed).exponential(1.0 / (rate_per_atom_ps * N_ATOMS), n)
    return [
        MDRun(temperature_k, N_ATOMS, LENGTH_PS, "melted", float(t))
        if t < LENGTH_PS
        else MDRun(temperature_k, N_ATOMS, LENGTH_PS)
        for t in times
    ]


def test_failure_rate_recovers_the_known_rate_with_censoring():
    rate = 2e-4  # per atom-ps: mean time to failure 78 ps, so about half the 50 ps runs are censored
    runs = _runs(rate, 2000)
    assert 0.3 < np.mean([r.failed for r in runs]) < 0.7
    est = failure_rate(runs)
    assert est.rate_per_atom_ps == pytest.approx(rate, abs=3 * est.stderr_per_atom_ps)
    assert est.stderr_per_atom_ps < 0.05 * rate
    assert est.rate_per_atom_ps < est.upper95_per_atom_ps


def test_kaplan_meier_follows_the_exponential_survival():
    rate = 2e-4
    curve = survival_curve(_runs(rate, 3000, seed=5))
    for t in (10.0, 25.0, 45.0):
        s = curve.survival[np.searchsorted(curve.times_ps, t, side="right") - 1]
        assert s == pytest.approx(np.exp(-rate * N_ATOMS * t), abs=0.03)
    assert curve.survival[0] == 1.0 and np.all(np.diff(curve.survival) <= 1e-12)


def test_no_failure_gives_a_finite_upper_bound_and_stable_temperature():
    runs = [MDRun(t, N_ATOMS, LENGTH_PS) for t in (1100.0, 1250.0, 1400.0) for _ in range(2)]
    est = failure_rate(runs)
    assert est.events == 0 and est.rate_per_atom_ps == 0.0
    assert est.upper95_per_atom_ps == pytest.approx(-np.log(0.05) / (6 * N_ATOMS * LENGTH_PS), rel=1e-6)
    assert stable_up_to_k(runs) == 1400.0
    runs.append(MDRun(1250.0, N_ATOMS, LENGTH_PS, "exploded", 3.0))
    assert stable_up_to_k(runs) == 1100.0
    summary = survival_summary(runs)
    assert summary["n_failures"] == 1 and summary["n_exploded"] == 1 and summary["stable_up_to_k"] == 1100.0
    assert stable_up_to_k([MDRun(1100.0, N_ATOMS, LENGTH_PS, "melted", 1.0)]) == 0.0
    assert MDRun.from_dict(runs[-1].to_dict()) == runs[-1]
