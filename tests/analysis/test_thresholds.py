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
