"""MD failures as survival data: time to failure (melting, explosion, defect loss) of each MD run, censored at the
run length when nothing failed.

Pure functions on :class:`MDRun` records (the diffusion property stores one per replica in its evaluation's
``details["md_runs"]``, for ok and failed evaluations alike):

- :func:`survival_curve`: the Kaplan–Meier estimate of the probability that a run survives to time t
  (:func:`scipy.stats.ecdf` on :class:`scipy.stats.CensoredData`);
- :func:`failure_rate`: events per atom·ps of simulated exposure (the maximum-likelihood rate of a constant-hazard
  model, with its Poisson standard error and a one-sided 95 % upper bound that stays finite with no failure);
- :func:`stable_up_to_k`: the highest simulated temperature at and below which no run failed.

:func:`survival_summary` gives the per-model values the analysis treats as properties
(``md_survival.failure_rate_per_atom_ps`` with reference 0, ``md_survival.stable_up_to_k``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import CensoredData, chi2, ecdf

from mlipscope.properties.md import MDRun


@dataclass(frozen=True)
class SurvivalCurve:
    times_ps: np.ndarray
    survival: np.ndarray  # Kaplan-Meier S(t) just after each time


def survival_curve(runs: Sequence[MDRun]) -> SurvivalCurve:
    """Kaplan–Meier survival of the runs (all temperatures together unless the caller filters them)."""
    if not runs:
        return SurvivalCurve(np.array([0.0]), np.array([1.0]))
    events = [r.time_ps for r in runs if r.failed]
    censored = [r.time_ps for r in runs if not r.failed]
    if not events:  # nothing failed: S(t) = 1 up to the longest run
        return SurvivalCurve(np.array([0.0, max(censored)]), np.array([1.0, 1.0]))
    result = ecdf(CensoredData(uncensored=events, right=censored))
    times = np.concatenate([[0.0], result.sf.quantiles])
    return SurvivalCurve(times, np.concatenate([[1.0], result.sf.probabilities]))


@dataclass(frozen=True)
class FailureRate:
    events: int
    exposure_atom_ps: float
    rate_per_atom_ps: float
    stderr_per_atom_ps: float
    upper95_per_atom_ps: float


def failure_rate(runs: Iterable[MDRun]) -> FailureRate:
    """Failures per atom·ps (see the module docstring). The upper bound is the exact one-sided 95 % Poisson limit
    chi2.ppf(0.95, 2(k + 1)) / (2 exposure) (3/exposure for k = 0)."""
    runs = list(runs)
    exposure = float(sum(r.n_atoms * r.time_ps for r in runs))
    k = sum(r.failed for r in runs)
    if exposure <= 0:
        return FailureRate(k, 0.0, math.nan, math.nan, math.nan)
    return FailureRate(
        events=k,
        exposure_atom_ps=exposure,
        rate_per_atom_ps=k / exposure,
        stderr_per_atom_ps=math.sqrt(k) / exposure,
        upper95_per_atom_ps=float(chi2.ppf(0.95, 2 * (k + 1))) / (2.0 * exposure),
    )


def stable_up_to_k(runs: Iterable[MDRun]) -> float:
    """Highest simulated temperature such that no run at it or below failed; 0 when the lowest one failed."""
    by_t: dict[float, bool] = {}
    for r in runs:
        by_t[r.temperature_k] = by_t.get(r.temperature_k, False) or r.failed
    stable = 0.0
    for t in sorted(by_t):
        if by_t[t]:
            break
        stable = t
    return stable


def survival_summary(runs: Sequence[MDRun]) -> dict[str, float]:
    """Per-model survival values (analysis properties): failure rate per atom·ps and its bounds, the stable
    temperature, counts of runs and failures per kind."""
    rate = failure_rate(runs)
    out = {
        "failure_rate_per_atom_ps": rate.rate_per_atom_ps,
        "failure_rate_upper95_per_atom_ps": rate.upper95_per_atom_ps,
        "stable_up_to_k": stable_up_to_k(runs) if runs else math.nan,
        "n_runs": float(len(runs)),
        "n_failures": float(rate.events),
    }
    for kind in ("exploded", "melted", "defect_lost"):
        out[f"n_{kind}"] = float(sum(r.failure_kind == kind for r in runs))
    return out
