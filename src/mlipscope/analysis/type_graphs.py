"""The correlation graph of each MLIP type, and how the types' graphs differ (the seed study's Fig. 7).

Each type with at least ``min_models`` members gets its own graph (same method, threshold and bootstrap as the
all-models graph, on its members only); a smaller type gets none and is listed with the reason. The comparison
table has one row per pair that is an edge in any type's graph or in the all-models graph: in which types it is an
edge, the kind (``shared by all`` compared types, ``only <type>``, or ``k of N types``) and every compared type's
correlation of the pair (also where it is below the threshold). An edge in one type only may be a mere threshold
crossing (r = 0.78 in one type, 0.76 in another): ``p_r_differs`` tests whether the largest and the smallest of the
types' correlations differ (Fisher z of independent samples, two-sided), ``r_differs`` is p < 0.05.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from mlipscope.analysis.correlation import CorrelationResult, correlation_graph


@dataclass(frozen=True)
class TypeGraphs:
    graphs: dict[str, CorrelationResult]  # type -> its graph (types with enough members)
    skipped: dict[str, str]  # type -> why it has no graph
    comparison: pd.DataFrame = field(default_factory=pd.DataFrame)  # see the module doc


def type_correlation_graphs(
    values: pd.DataFrame,
    types: pd.Series,
    *,
    min_models: int,
    overall: CorrelationResult | None = None,
    **graph_settings,
) -> TypeGraphs:
    """Graphs per type of ``values`` (models x canonical properties, transformed); ``graph_settings`` go to
    :func:`correlation_graph` (method, r2_threshold, n_bootstrap, edge_confidence, seed)."""
    graphs: dict[str, CorrelationResult] = {}
    counts: dict[str, pd.DataFrame] = {}
    skipped: dict[str, str] = {}
    for name in sorted(types.unique()):
        members = values.loc[types.index[types == name]]
        if len(members) < min_models:
            skipped[name] = f"{len(members)} members < {min_models} (analysis.min_models_correlation)"
            continue
        graphs[name] = correlation_graph(members, **graph_settings)
        present = members.notna().astype(float)
        counts[name] = present.T @ present  # pairwise-complete n of every pair
    return TypeGraphs(graphs, skipped, compare_graphs(graphs, overall, counts))


def fisher_z_p(r1: float, n1: float, r2: float, n2: float) -> float:
    """Two-sided p-value that two correlations of independent samples are equal (Fisher z)."""
    if not (np.isfinite(r1) and np.isfinite(r2)) or min(n1, n2) <= 3:
        return float("nan")
    z1, z2 = np.arctanh(np.clip([r1, r2], -0.999999, 0.999999))
    return float(2.0 * norm.sf(abs(z1 - z2) / np.sqrt(1.0 / (n1 - 3) + 1.0 / (n2 - 3))))


def _difference(row: dict, names: list[str], counts: dict[str, pd.DataFrame] | None) -> float:
    """Fisher p of the largest vs the smallest of the types' r for the row's pair."""
    r = {n: row[f"r_{n}"] for n in names if np.isfinite(row[f"r_{n}"])}
    if len(r) < 2 or counts is None:
        return float("nan")
    high, low = max(r, key=r.__getitem__), min(r, key=r.__getitem__)
    pair = (row["source"], row["target"])
    return fisher_z_p(r[high], counts[high].loc[pair], r[low], counts[low].loc[pair])


def compare_graphs(
    graphs: dict[str, CorrelationResult],
    overall: CorrelationResult | None,
    counts: dict[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """One row per edge of any graph: source, target, all_models (edge there), n_types, types, kind, r_<type>,
    p_r_differs, r_differs (``counts``: each type's pairwise-complete n, for the test)."""
    names = sorted(graphs)
    pairs: set[tuple[str, str]] = set()
    for result in [*graphs.values(), *([overall] if overall is not None else [])]:
        pairs |= {tuple(sorted(edge)) for edge in result.graph.edges}
    rows = []
    for source, target in sorted(pairs):
        with_edge = [n for n in names if graphs[n].graph.has_edge(source, target)]
        if not names:
            kind = "all models only"
        elif len(with_edge) == len(names):
            kind = "shared by both types" if len(names) == 2 else f"shared by all {len(names)} types"
        elif len(with_edge) == 1:
            kind = f"only {with_edge[0]}"
        elif not with_edge:
            kind = "all models only"
        else:
            kind = f"{len(with_edge)} of {len(names)} types"
        row = {
            "source": source,
            "target": target,
            "all_models": bool(overall is not None and overall.graph.has_edge(source, target)),
            "n_types": len(with_edge),
            "types": ", ".join(with_edge),
            "kind": kind,
        }
        for n in names:
            matrix = graphs[n].pearson if graphs[n].method == "pearson" else graphs[n].spearman
            row[f"r_{n}"] = float(matrix.loc[source, target]) if source in matrix.index else float("nan")
        row["p_r_differs"] = _difference(row, names, counts)
        row["r_differs"] = bool(row["p_r_differs"] < 0.05)
        rows.append(row)
    columns = ["source", "target", "all_models", "n_types", "types", "kind", *[f"r_{n}" for n in names]]
    columns += ["p_r_differs", "r_differs"]
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values(["n_types", "source", "target"], ascending=[False, True, True]).reset_index(drop=True)
