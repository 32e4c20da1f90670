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
