"""Prediction graph: how well each property's error is predicted by the others (Lasso), and which ones predict.

Each property in turn is the target of a Lasso regression on all the others, over repeated random train/test splits
of the complete-case models (a model with any NaN is left out: Lasso needs full rows). Columns are z-scored first so
coefficients are comparable with one threshold. An edge predictor -> target is drawn where the split-averaged
|coefficient| passes the threshold and the target's mean test R² is at least the R² threshold. PageRank on the
reversed graph (target -> predictor) ranks the properties that carry the most information about the others.

Spread: each target's test R² is reported as the mean, standard deviation and 2.5 / 97.5 percentiles over the
splits (``r2_ci_low``, ``r2_ci_high``: the range a new split would give), with the number of test models per split.
Below ``min_models`` complete models nothing is fitted.

Speed: a fixed alpha with warm starts between splits of the same target; a cross-validated alpha per target would
multiply the cost by the number of alphas x folds.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso
from sklearn.model_selection import ShuffleSplit

from mlipscope.analysis.config import LassoSettings
from mlipscope.analysis.transforms import zscore
from mlipscope.analysis.uncertainty import percentile_summary

R2_COLUMNS = ["r2_mean", "r2_std", "r2_median", "r2_ci_low", "r2_ci_high", "n_splits", "n_test_models"]


@dataclass(frozen=True)
class PredictionResult:
    settings: LassoSettings
    n_models: int
    r2: pd.DataFrame  # per target: test R² over splits, R2_COLUMNS
    coefficients: pd.DataFrame  # target x predictor, split-averaged standardized Lasso coefficient
    graph: nx.DiGraph  # predictor -> target, attribute weight = |coefficient|
    ranking: (
        pd.DataFrame
    )  # property, pagerank (reversed graph), r2_mean, r2_ci_low, r2_ci_high, n_targets, n_predictors


def lasso_one_target(
    x: np.ndarray, y: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]], alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (n_splits x n_features) and test R² (n_splits) of Lasso fits of y on x, one per split."""
    model = Lasso(alpha=alpha, warm_start=True, max_iter=5000, tol=1e-4)
    coefs, scores = [], []
    for train, test in splits:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x[train], y[train])
        coefs.append(model.coef_.copy())
        scores.append(model.score(x[test], y[test]))
    return np.asarray(coefs), np.asarray(scores)


def prediction_graph(
    values: pd.DataFrame, settings: LassoSettings, *, seed: int = 0, min_models: int = 10
) -> PredictionResult:
    """Lasso prediction graph of the columns of ``values`` (models x properties, transformed errors)."""
    complete = zscore(values.dropna())
    complete = complete.loc[:, complete.notna().all()]  # constant columns carry nothing to predict with
    names = list(complete.columns)
    data = complete.to_numpy(dtype=float)
    n_models = len(data)
    coef_matrix = pd.DataFrame(0.0, index=names, columns=names)
    r2_rows = []
    if n_models >= max(min_models, 4) and len(names) >= 2:
        splitter = ShuffleSplit(n_splits=settings.n_splits, test_size=settings.test_fraction, random_state=seed)
        splits = list(splitter.split(data))
        for j, target in enumerate(names):
            others = [i for i in range(len(names)) if i != j]
            coefs, scores = lasso_one_target(data[:, others], data[:, j], splits, settings.alpha)
            coef_matrix.loc[target, [names[i] for i in others]] = coefs.mean(axis=0)
            median, low, high = percentile_summary(scores)
            r2_rows.append(
                {
                    "property": target,
                    "r2_mean": scores.mean(),
                    "r2_std": scores.std(),
                    "r2_median": median,
                    "r2_ci_low": low,
                    "r2_ci_high": high,
                    "n_splits": len(splits),
                    "n_test_models": len(splits[0][1]),
                }
            )
    r2 = pd.DataFrame(r2_rows, columns=["property", *R2_COLUMNS]).set_index("property")
    graph = nx.DiGraph()
    graph.add_nodes_from(names)
    for target in r2.index[r2["r2_mean"] >= settings.r2_threshold]:
        for predictor, coef in coef_matrix.loc[target].items():
            if abs(coef) >= settings.coef_threshold:
                graph.add_edge(predictor, target, weight=abs(coef), coefficient=coef)
    pagerank = nx.pagerank(graph.reverse(copy=True), weight="weight") if names else {}
    ranking = pd.DataFrame(
        {
            "property": names,
            "pagerank": [pagerank.get(n, np.nan) for n in names],
            "r2_mean": [r2["r2_mean"].get(n, np.nan) for n in names],
            "r2_ci_low": [r2["r2_ci_low"].get(n, np.nan) for n in names],
            "r2_ci_high": [r2["r2_ci_high"].get(n, np.nan) for n in names],
            "n_targets": [graph.out_degree(n) for n in names],
            "n_predictors": [graph.in_degree(n) for n in names],
        }
    )
    ranking = ranking.sort_values("pagerank", ascending=False).reset_index(drop=True)
    return PredictionResult(settings, n_models, r2, coef_matrix, graph, ranking)
