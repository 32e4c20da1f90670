import numpy as np
import pandas as pd
import pytest

from mlipscope.analysis.thresholds import evaluate_thresholds


def test_pass_share_per_type_counts_failures_as_not_meeting():
    errors = pd.DataFrame(
        {
            "easy": [0.1, -0.2, 0.3, 0.4, 5.0, 0.1],
            "hard": [0.1, 2.0, 3.0, np.nan, 4.0, 5.0],
            "free": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        },
        index=list("abcdef"),
    )
    types = pd.Series(["x", "x", "x", "y", "y", "y"], index=errors.index)
    result = evaluate_thresholds(errors, types, {"easy": 0.5, "hard": 1.0, "typo": 1.0})
    assert result.ignored == ["typo"]
    assert result.pass_share.loc["easy", "x"] == pytest.approx(1.0)
    assert result.pass_share.loc["easy", "y"] == pytest.approx(2 / 3)
    assert result.pass_share.loc["hard", "y"] == pytest.approx(0.0)  # the NaN model counts, and fails
    assert result.pass_share.loc["hard", "all"] == pytest.approx(1 / 6)
    assert list(result.difficulty["property"]) == ["hard", "easy"]
    hard = result.difficulty.set_index("property").loc["hard"]
    assert (hard["n_failed"], hard["n_meeting"], hard["difficulty_rank"]) == (1, 1, 1)
    assert hard["median_error"] == pytest.approx(3.0)
    assert result.met.loc["b", "easy"] and not result.met.loc["d", "hard"]


def test_every_share_carries_its_n_and_wilson_interval_and_small_types_are_not_ranked():
    from mlipscope.analysis.uncertainty import wilson_interval

    rng = np.random.default_rng(0)
    n = {"big": 40, "mid": 12, "tiny": 4}
    types = pd.Series(np.repeat(list(n), list(n.values())))
    errors = pd.DataFrame({"p": rng.uniform(0, 2, size=len(types))})
    result = evaluate_thresholds(errors, types, {"p": 1.0}, min_type_members=10)
    table = result.share_intervals.set_index("type")
    met = errors["p"].le(1.0)
    for name, size in {**n, "all": len(types)}.items():
        members = met if name == "all" else met[types == name]
        assert table.loc[name, "n_models"] == size and table.loc[name, "n_meeting"] == members.sum()
        assert (table.loc[name, "ci_low"], table.loc[name, "ci_high"]) == wilson_interval(int(members.sum()), size)
    assert table.loc["tiny", "too_few_members"] and np.isnan(table.loc["tiny", "rank"])
    assert np.isnan(table.loc["all", "rank"]) and sorted(table.loc[["big", "mid"], "rank"]) in ([1, 2], [1, 1])
    row = result.difficulty.iloc[0]
    assert row["n_models"] == len(types)
    assert (row["share_ci_low"], row["share_ci_high"]) == wilson_interval(int(met.sum()), len(types))


def test_a_table_without_types_has_one_share_row_per_property():
    errors = pd.DataFrame({"p": [0.1, 2.0, 0.3], "q": [1.0, 1.0, 3.0]})
    types = pd.Series("all", index=errors.index)  # load_error_table's type when the table has no type column
    result = evaluate_thresholds(errors, types, {"p": 1.0, "q": 2.0})
    assert result.share_intervals["type"].tolist() == ["all", "all"]
    assert result.share_intervals["n_models"].tolist() == [3, 3]


def test_values_without_an_acceptable_error_are_listed_as_unjudged_not_dropped():
    errors = pd.DataFrame({"a": [0.1, 0.5], "dimer.r_min_a": [0.01, 0.2], "melting.t_melt_k": [10.0, np.nan]})
    types = pd.Series(["x", "x"], index=errors.index)
    result = evaluate_thresholds(errors, types, {"a": 0.2})
    assert result.unjudged == ["dimer.r_min_a", "melting.t_melt_k"]
    assert list(result.difficulty["property"]) == ["a"]
