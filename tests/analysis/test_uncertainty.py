"""Intervals against independent computations and their coverage on synthetic data with a known truth."""

import math

import numpy as np
import pandas as pd
import pytest

from mlipscope.analysis.findings import category_scores
from mlipscope.analysis.uncertainty import format_interval, percentile_summary, wilson_interval


def _wilson_by_hand(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson (1927) score interval, written out."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize(("k", "n"), [(0, 7), (7, 7), (3, 10), (1, 60), (30, 60), (412, 2300)])
def test_wilson_matches_the_formula(k, n):
    assert wilson_interval(k, n) == pytest.approx(_wilson_by_hand(k, n), abs=1e-12)


def test_wilson_known_values_and_empty():
    # Newcombe (1998), Stat. Med. 17, 857, Table I: 81/263 -> 0.2553 to 0.3662 (method 3, Wilson without correction)
    low, high = wilson_interval(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_wilson_coverage_for_small_samples():
    rng = np.random.default_rng(0)
    for p, n in [(0.1, 20), (0.5, 12), (0.8, 40)]:
        hits = rng.binomial(n, p, size=3000)
        covered = np.mean([lo <= p <= hi for lo, hi in (wilson_interval(k, n) for k in hits)])
        assert 0.92 <= covered <= 0.99, (p, n, covered)


def test_percentile_summary_and_format():
    median, low, high = percentile_summary(np.arange(1001.0))
    assert (median, low, high) == pytest.approx((500.0, 25.0, 975.0))
    assert all(math.isnan(v) for v in percentile_summary(np.array([np.nan])))
    assert format_interval(0.42, 0.31, 0.55) == "0.42 [0.31, 0.55]"
    assert format_interval(0.1, 0.05, 0.2, percent=True) == "10 % [5, 20]"
    assert format_interval(np.nan, 0, 1) == "—" and format_interval(0.5, np.nan, np.nan) == "0.5"


def test_bootstrap_interval_of_a_type_score_covers_the_truth():
    """Members meet a threshold with known probability: the type score's bootstrap interval covers it ~95 %."""
    rng = np.random.default_rng(1)
    truth = {"a": 0.3, "b": 0.6}
    covered = []
    for _ in range(120):
        types = pd.Series(["a"] * 40 + ["b"] * 40)
        met = pd.DataFrame({"x.barrier_ev": rng.random(80) < types.map(truth).to_numpy()})
        errors = pd.DataFrame({"x.barrier_ev": rng.random(80)})
        scores, _ = category_scores(
            errors, types, met, ["x.barrier_ev"], min_type_members=10, n_bootstrap=300, seed=int(rng.integers(1e9))
        )
        covered += [row.ci_low <= truth[row.type] <= row.ci_high for row in scores.itertuples()]
    assert 0.88 <= np.mean(covered) <= 0.99
