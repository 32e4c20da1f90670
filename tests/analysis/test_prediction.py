import numpy as np
import pandas as pd
import pytest

from mlipscope.analysis.config import LassoSettings
from mlipscope.analysis.prediction import prediction_graph


def test_planted_linear_dependence():
    rng = np.random.default_rng(0)
    n = 400
    x1, x2, z, w = rng.normal(size=(4, n))
    y = 0.7 * x1 + 0.7 * x2 + 0.1 * rng.normal(size=n)
    frame = pd.DataFrame({"x1": x1, "x2": x2, "y": y, "z": z, "w": w})
    frame.loc[5, "w"] = np.nan
    result = prediction_graph(frame, LassoSettings(alpha=0.02, n_splits=4), seed=0)
    assert result.n_models == n - 1
    assert result.r2.loc["y", "r2_mean"] > 0.95
    assert result.r2.loc["z", "r2_mean"] < 0.05 and result.r2.loc["w", "r2_mean"] < 0.05
    assert result.graph.has_edge("x1", "y") and result.graph.has_edge("x2", "y")
    assert result.graph.degree("z") == 0 and result.graph.degree("w") == 0
    # standardized coefficients: y_std = (0.7 x1 + 0.7 x2) / sd(y), shrunk by alpha
    sd_y = np.std(y)
    assert result.coefficients.loc["y", "x1"] == pytest.approx(0.7 * np.std(x1) / sd_y, abs=0.05)
    ranks = result.ranking.set_index("property")["pagerank"]
    assert min(ranks[["x1", "x2", "y"]]) > max(ranks[["z", "w"]])


def test_too_few_models_give_no_fits():
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(5, 3)), columns=list("abc"))
    result = prediction_graph(frame, LassoSettings())
    assert result.r2.empty and result.graph.number_of_edges() == 0


def test_r2_spread_over_splits_matches_the_split_scores():
    """The interval columns are percentiles of the per-split test R², recomputed here with sklearn directly."""
    from sklearn.linear_model import Lasso
    from sklearn.model_selection import ShuffleSplit

    from mlipscope.analysis.transforms import zscore

    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 2))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": x[:, 0] - x[:, 1] + 0.5 * rng.normal(size=120)})
    settings = LassoSettings(alpha=0.02, n_splits=8)
    result = prediction_graph(frame, settings, seed=3)
    row = result.r2.loc["y"]
    data = zscore(frame).to_numpy()
    splits = ShuffleSplit(n_splits=8, test_size=0.25, random_state=3).split(data)
    scores = [Lasso(alpha=0.02).fit(data[tr, :2], data[tr, 2]).score(data[te, :2], data[te, 2]) for tr, te in splits]
    assert row["r2_mean"] == pytest.approx(np.mean(scores), abs=1e-3)
    assert (row["r2_ci_low"], row["r2_ci_high"]) == pytest.approx(tuple(np.percentile(scores, [2.5, 97.5])), abs=1e-3)
    assert row["n_splits"] == 8 and row["n_test_models"] == 30
    ranking = result.ranking.set_index("property")
    assert ranking.loc["y", "r2_ci_low"] == pytest.approx(row["r2_ci_low"])


def test_minimum_models_is_a_parameter():
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(15, 3)), columns=list("abc"))
    assert prediction_graph(frame, LassoSettings(), min_models=20).r2.empty
    assert len(prediction_graph(frame, LassoSettings(), min_models=10).r2) == 3
