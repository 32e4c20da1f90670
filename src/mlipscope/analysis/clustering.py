"""Clusters of optimal models in error space, and the hyperparameters that explain membership.

Similarity graph: each model is joined to its k nearest neighbours (Euclidean, z-scored log errors; scikit-learn),
k = max(``n_neighbors``, sqrt(n)) because sparser kNN graphs make Louvain split one compact blob into several
communities; edge weight exp(-d² / s²) with s the median neighbour distance, so the graph adapts to the data's scale.
Communities: Louvain (networkx). Explanation: for each community, an L1-penalised logistic regression (one vs rest)
of membership on the models' metadata (numeric hyperparameters z-scored, categorical ones one-hot); the non-zero
coefficients name the hyperparameters that set a community apart, and the cross-validated balanced accuracy says
how well they do.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import kneighbors_graph

MIN_MODELS = 6


@dataclass(frozen=True)
class ClusteringResult:
    labels: pd.Series  # community index per clustered model (0 = largest)
    sizes: pd.Series
    modularity: float
    coefficients: pd.DataFrame  # community x feature, L1 logistic coefficients (0 = not used)
    explanation: pd.DataFrame  # community, size, balanced_accuracy, top_features


def louvain_clusters(
    values: pd.DataFrame, *, n_neighbors: int, resolution: float, seed: int
) -> tuple[pd.Series, float]:
    """Louvain communities of the kNN similarity graph of the rows of ``values`` (no NaN)."""
    x = values.to_numpy(dtype=float)
    k = max(1, min(max(n_neighbors, int(np.sqrt(len(x)))), len(x) - 1))
    distances = kneighbors_graph(x, n_neighbors=k, mode="distance", include_self=False)
    distances = distances.maximum(distances.T).tocoo()  # undirected: a pair is joined if either lists the other
    scale = np.median(distances.data[distances.data > 0]) if np.any(distances.data > 0) else 1.0
    graph = nx.Graph()
    graph.add_nodes_from(range(len(x)))
    weights = np.exp(-((distances.data / scale) ** 2))
    graph.add_weighted_edges_from(zip(distances.row.tolist(), distances.col.tolist(), weights.tolist(), strict=True))
    communities = nx.community.louvain_communities(graph, weight="weight", resolution=resolution, seed=seed)
    communities = sorted(communities, key=lambda c: (-len(c), min(c)))
    labels = np.empty(len(x), dtype=int)
    for index, members in enumerate(communities):
        labels[list(members)] = index
    modularity = nx.community.modularity(graph, communities, weight="weight")
    return pd.Series(labels, index=values.index, name="community"), float(modularity)


def feature_matrix(metadata: pd.DataFrame) -> pd.DataFrame:
    """Numeric metadata z-scored, categorical one-hot; constant columns dropped (they explain nothing)."""
    parts = []
    for column in metadata.columns:
        series = metadata[column]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            filled = series.fillna(series.median())
            if filled.std(ddof=0) > 0:
                parts.append(((filled - filled.mean()) / filled.std(ddof=0)).rename(column))
        elif series.nunique() > 1:
            parts.append(pd.get_dummies(series.astype(str), prefix=column, prefix_sep="=", dtype=float))
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=metadata.index)


def explain_membership(
    labels: pd.Series, features: pd.DataFrame, *, c: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One-vs-rest L1 logistic regression per community on the features."""
    coef_rows, rows = {}, []
    for community, size in labels.value_counts().sort_index().items():
        y = (labels == community).to_numpy()
        row = {"community": int(community), "size": int(size), "balanced_accuracy": np.nan, "top_features": ""}
        if features.shape[1] and 2 <= size <= len(y) - 2:
            model = LogisticRegression(
                l1_ratio=1.0, solver="liblinear", C=c, class_weight="balanced", random_state=seed
            )  # liblinear shuffles: seeded, so a report is reproducible
            folds = min(3, int(size), int(len(y) - size))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(features.to_numpy(), y)
                if folds >= 2:
                    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
                    scores = cross_val_score(model, features.to_numpy(), y, cv=cv, scoring="balanced_accuracy")
                    row["balanced_accuracy"] = float(scores.mean())
            coefs = pd.Series(model.coef_[0], index=features.columns)
            coef_rows[int(community)] = coefs
            top = coefs[coefs != 0].abs().sort_values(ascending=False).index[:3]
            row["top_features"] = ", ".join(f"{name} ({coefs[name]:+.2f})" for name in top)
        rows.append(row)
    coefficients = pd.DataFrame(coef_rows).T if coef_rows else pd.DataFrame(columns=features.columns)
    coefficients.index.name = "community"
    return coefficients, pd.DataFrame(rows, columns=["community", "size", "balanced_accuracy", "top_features"])


def cluster_models(
    values: pd.DataFrame,
    metadata: pd.DataFrame,
    *,
    n_neighbors: int = 10,
    resolution: float = 1.0,
    c: float = 0.5,
    seed: int = 0,
    min_models: int = MIN_MODELS,
) -> ClusteringResult | None:
    """Cluster the models in ``values`` (complete rows of transformed errors); None when fewer than
    ``min_models`` (at least :data:`MIN_MODELS`) to cluster."""
    values = values.dropna()
    if len(values) < max(min_models, MIN_MODELS):
        return None
    labels, modularity = louvain_clusters(values, n_neighbors=n_neighbors, resolution=resolution, seed=seed)
    features = feature_matrix(metadata.loc[values.index])
    coefficients, explanation = explain_membership(labels, features, c=c, seed=seed)
    sizes = labels.value_counts().sort_index()
    return ClusteringResult(labels, sizes, modularity, coefficients, explanation)
