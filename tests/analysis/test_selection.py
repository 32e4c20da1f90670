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
