import numpy as np
import pandas as pd
import pytest

from mlipscope.analysis.selection import percentiles, rank_by_thresholds, select_by_metrics


def test_percentiles_are_ranks_of_magnitudes():
    errors = pd.DataFrame({"a": [0.3, -0.1, 0.2, np.nan]})
    out = percentiles(errors)["a"]
    assert out.tolist()[:3] == pytest.approx([100.0, 100 / 3, 200 / 3]) and np.isnan(out.iloc[3])


def test_most_thresholds_ranking():
    errors = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [3.0, 1.0, 2.0]}, index=["x", "y", "z"])
    met = pd.DataFrame({"a": [True, True, False], "b": [False, True, False]}, index=errors.index)
    table = rank_by_thresholds(met, errors, pd.Series("t", index=errors.index), n=2)
    assert table["model_id"].tolist() == ["y", "x"]
    assert table["n_met"].tolist() == [2, 1]


def test_metric_that_tracks_the_others_selects_good_models():
    rng = np.random.default_rng(0)
    quality = rng.normal(size=500)
    errors = pd.DataFrame(
        {
            "good_metric": np.exp(quality + 0.2 * rng.normal(size=500)),
            "other1": np.exp(quality + 0.2 * rng.normal(size=500)),
            "other2": np.exp(quality + 0.2 * rng.normal(size=500)),
            "unrelated": np.exp(rng.normal(size=500)),
        }
    )
    by_metric, summary, ignored = select_by_metrics(errors, ["good_metric", "unrelated", "absent"], n=20)
    assert ignored == ["absent"]
    picked = by_metric["good_metric"].index
    assert set(picked) == set(errors["good_metric"].nsmallest(20).index)
    assert summary.loc["good_metric", ["other1", "other2"]].max() < 15
    assert 25 < summary.loc["unrelated", ["other1", "other2"]].mean() < 75


def test_default_metrics_are_re_metrics_and_whole_set_force_rmses():
    from mlipscope.analysis.selection import default_selection_metrics

    columns = [
        "re_vacancy.re_f_ev_a",
        "re_vacancy.re_a",
        "re_vacancy.re_m_ev_a",
        "re_vacancy.force_rmse_ev_a",
        "errors_test.force_rmse_ev_a",
        "errors_test.force_rmse_ev_a.surface",
        "eos.lattice_constant_a",
    ]
    assert default_selection_metrics(columns) == [
        "re_vacancy.re_f_ev_a",
        "re_vacancy.re_a",
        "re_vacancy.force_rmse_ev_a",
        "errors_test.force_rmse_ev_a",
    ]


def test_comparison_scores_each_metrics_picks_in_absolute_terms():
    """A metric tied to the barrier picks models with small barrier errors; one unrelated to it does not. The
    medians and shares are those of the picks, computed here by hand."""
    from mlipscope.analysis.selection import compare_selections

    rng = np.random.default_rng(1)
    quality = rng.normal(size=400)
    errors = pd.DataFrame(
        {
            "re.re_f_ev_a": np.exp(quality + 0.3 * rng.normal(size=400)),
            "errors.force_rmse_ev_a": np.exp(rng.normal(size=400)),
            "migration.barrier_ev": -0.1 * np.exp(quality + 0.3 * rng.normal(size=400)),  # signed errors
        }
    )
    met = errors.abs().le(0.1)
    by_metric, _, _ = select_by_metrics(errors, ["re.re_f_ev_a", "errors.force_rmse_ev_a"], n=25)
    table = compare_selections(errors, met, by_metric).set_index(["metric", "property"])
    re_picks = errors["re.re_f_ev_a"].nsmallest(25).index
    row = table.loc[("re.re_f_ev_a", "migration.barrier_ev")]
    assert row["median_abs_error"] == pytest.approx(errors.loc[re_picks, "migration.barrier_ev"].abs().median())
    assert row["share_within_threshold"] == pytest.approx(met.loc[re_picks, "migration.barrier_ev"].mean())
    rmse_row = table.loc[("errors.force_rmse_ev_a", "migration.barrier_ev")]
    baseline = table.loc[("all models", "migration.barrier_ev")]
    assert row["median_abs_error"] < 0.5 * rmse_row["median_abs_error"]
    assert row["share_within_threshold"] > baseline["share_within_threshold"]
    assert ("re.re_f_ev_a", "re.re_f_ev_a") not in table.index  # a metric is not scored on itself


def _barrier_table(n: int, seed: int) -> pd.DataFrame:
    """An RE metric tied to the barrier error, a force RMSE unrelated to it."""
    rng = np.random.default_rng(seed)
    quality = rng.normal(size=n)
    return pd.DataFrame(
        {
            "re.re_f_ev_a": np.exp(quality + 0.3 * rng.normal(size=n)),
            "errors.force_rmse_ev_a": np.exp(rng.normal(size=n)),
            "migration.barrier_ev": 0.1 * np.exp(quality + 0.3 * rng.normal(size=n)),
        }
    )


def test_verdict_with_bootstrap_interval_and_n():
    from mlipscope.analysis.selection import re_vs_rmse_verdict

    errors = _barrier_table(300, 2)
    metrics = ["re.re_f_ev_a", "errors.force_rmse_ev_a"]
    verdict, note = re_vs_rmse_verdict(errors, metrics, 20, n_bootstrap=200, seed=0, min_models=30)
    assert note == "" and len(verdict) == 1
    row = verdict.iloc[0]
    re_picks = errors["re.re_f_ev_a"].nsmallest(20).index
    rmse_picks = errors["errors.force_rmse_ev_a"].nsmallest(20).index
    by_hand = (
        errors.loc[re_picks, "migration.barrier_ev"].median() - errors.loc[rmse_picks, "migration.barrier_ev"].median()
    )
    assert row["difference"] == pytest.approx(by_hand)
    assert (row["n_models"], row["n_selected"]) == (300, 20)
    assert row["diff_ci_low"] <= row["difference"] <= row["diff_ci_high"] < 0
    assert row["verdict"] == "RE better"


def test_verdict_of_two_unrelated_metrics_is_mostly_no_difference():
    """Null case: neither metric says anything about the barrier; the interval should include 0 ~95 % of the time."""
    from mlipscope.analysis.selection import re_vs_rmse_verdict

    rng = np.random.default_rng(3)
    outcomes = []
    for seed in range(40):
        errors = _barrier_table(120, seed)
        errors["re.re_f_ev_a"] = np.exp(rng.normal(size=120))  # now unrelated as well
        verdict, _ = re_vs_rmse_verdict(errors, list(errors.columns[:2]), 10, n_bootstrap=100, seed=seed, min_models=30)
        outcomes.append(verdict["verdict"].iloc[0])
    assert outcomes.count("no clear difference") >= 34


def test_no_verdict_below_the_minimum_or_without_both_kinds_of_metric():
    from mlipscope.analysis.selection import re_vs_rmse_verdict, select_models

    errors = _barrier_table(25, 4)
    metrics = ["re.re_f_ev_a", "errors.force_rmse_ev_a"]
    verdict, note = re_vs_rmse_verdict(errors, metrics, 10, n_bootstrap=50, seed=0, min_models=30)
    assert verdict.empty and "25 models" in note and "min_models_selection" in note
    _, note = re_vs_rmse_verdict(errors, metrics[:1], 10, n_bootstrap=50, seed=0, min_models=10)
    assert "force-RMSE metric" in note
    types = pd.Series("t", index=errors.index)
    result = select_models(errors, types, pd.DataFrame(index=errors.index), metrics, 10, min_models=30)
    assert result.comparison is None and result.metric_summary.empty and result.verdict.empty
    assert set(result.by_metric) == set(metrics)  # the picks themselves are still listed
