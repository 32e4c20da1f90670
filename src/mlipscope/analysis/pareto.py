"""Pareto analysis: non-dominated models in 2..N properties, per-type front quality, and the random null model.

Non-dominated sets, hypervolume and IGD come from moocore (the C library behind pymoo's indicators). All errors are
minimised. Dominance does not change under a monotone transform, so sets are computed on |error|; hypervolume and
IGD are computed on log10 errors scaled to [0, 1] over the models used (reference point 1.1 in every objective), so
that properties in different units weigh the same. Models with a NaN in any objective are left out (counted).

Null model: with many properties almost every model is Pareto-optimal just by chance. ``count_vs_k`` compares the
observed count with Gaussian variables of equal pairwise correlation rho (the observed mean correlation and 0), and
with the exact expectation for independent continuous variables (Bentley et al. 1978, J. ACM 25, 536):
M(n, 1) = 1, M(n, k) = sum_{i<=n} M(i, k-1) / i.

Comparing types: a type's hypervolume grows with its number of members (more draws, a better front), so the
full-sample values favour the big types. :func:`subsampled_quality` compares the types with at least
``min_type_members`` members on equal-size samples: ``n_subsamples`` times, m members drawn without replacement
from each type (m = the smallest of the compared types' sizes), the hypervolume and IGD of the sample's front;
reported as the median and the 2.5 / 97.5 percentiles: the spread of the front quality of m members of the type.
The smallest type's sample is all its members every time (a single value, no spread). Drawing with replacement
instead would bring the size bias back: m draws from m members hold only ~63 % distinct ones, m draws from many
hold nearly m. Only these are ranked; a smaller type is marked ``too_few_members``.
"""

from __future__ import annotations

from dataclasses import dataclass

import moocore
import numpy as np
import pandas as pd

from mlipscope.analysis.uncertainty import percentile_summary

EXACT_HV_MAX_OBJECTIVES = 6  # exact HV cost grows fast with the dimension; above this use moocore's approximation
HV_REFERENCE = 1.1


@dataclass(frozen=True)
class ParetoResult:
    objectives: list[str]
    n_dropped_nan: int
    optimal: pd.Series  # bool per model used: non-dominated in ``objectives``
    optimal_2d: pd.Series  # bool: non-dominated in the first two objectives (the figure)
    optimal_all: pd.Series  # bool: non-dominated in every analysed property
    scaled: pd.DataFrame  # log10 objectives scaled to [0, 1] (HV/IGD space)
    # per type: n_models, n_on_front, share_of_front, hypervolume, igd (all members), too_few_members, then on
    # equal-size samples subsample_size, hv_median, hv_ci_low, hv_ci_high, igd_median, igd_ci_low, igd_ci_high,
    # hv_rank (1 = largest median hypervolume; empty for a type with too few members)
    quality: pd.DataFrame
    hv_method: str
    count_vs_k: pd.DataFrame  # k, observed, observed_std, independent_expected, null_rho_<r>


def pareto_mask(values: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``values`` (minimisation; identical rows are all kept)."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or len(values) == 0:
        return np.zeros(len(values), dtype=bool)
    return np.asarray(moocore.is_nondominated(values, keep_weakly=True), dtype=bool)


def expected_maxima_independent(n_models: int, k_max: int) -> np.ndarray:
    """Expected number of non-dominated points among ``n_models`` i.i.d. continuous points, for k = 1..k_max."""
    i = np.arange(1, n_models + 1, dtype=float)
    current = np.ones(n_models)  # M(i, 1) = 1 for every i
    out = [1.0]
    for _ in range(2, k_max + 1):
        current = np.cumsum(current / i)
        out.append(float(current[-1]))
    return np.asarray(out)


def equicorrelated_normal(n: int, k: int, rho: float, rng: np.random.Generator) -> np.ndarray:
    """n samples of k standard normals with every pairwise correlation rho (one shared factor)."""
    shared = rng.standard_normal((n, 1))
    return np.sqrt(rho) * shared + np.sqrt(1.0 - rho) * rng.standard_normal((n, k))


def default_k_values(n_properties: int) -> list[int]:
    """About ten k from 2 to N, denser at small k where the count changes fastest."""
    if n_properties < 2:
        return []
    grid = np.unique(np.round(np.geomspace(2, n_properties, num=min(10, n_properties - 1))).astype(int))
    return [int(k) for k in grid]


def count_vs_k(
    values: np.ndarray,
    k_values: list[int],
    null_rhos: list[float],
    *,
    repeats: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Mean number of Pareto-optimal models over ``repeats`` random k-property subsets, beside the null models."""
    n, p = values.shape
    ks = [k for k in k_values if 1 <= k <= p]
    expected = expected_maxima_independent(n, max(ks)) if ks and n else np.array([])
    rows = []
    for k in ks:
        counts = [pareto_mask(values[:, rng.choice(p, size=k, replace=False)]).sum() for _ in range(max(repeats, 1))]
        row = {
            "k": k,
            "observed": float(np.mean(counts)),
            "observed_std": float(np.std(counts)),
            "independent_expected": float(expected[k - 1]),
        }
        for rho in null_rhos:
            null = [pareto_mask(equicorrelated_normal(n, k, rho, rng)).sum() for _ in range(max(repeats, 1))]
            row[f"null_rho_{rho:.2f}"] = float(np.mean(null))
        rows.append(row)
    return pd.DataFrame(rows)


def scale_objectives(log_errors: pd.DataFrame) -> pd.DataFrame:
    """Min-max scale each objective to [0, 1] over the models given (a constant objective becomes 0)."""
    low, high = log_errors.min(), log_errors.max()
    span = (high - low).where(high > low, 1.0)
    return (log_errors - low) / span


def hypervolume(points: np.ndarray, n_objectives: int) -> tuple[float, str]:
    """Hypervolume dominated by ``points`` up to the reference point (1.1, ..., 1.1); exact or approximated."""
    if len(points) == 0:
        return 0.0, "exact"
    ref = np.full(n_objectives, HV_REFERENCE)
    if n_objectives <= EXACT_HV_MAX_OBJECTIVES:
        return float(moocore.hypervolume(points, ref=ref)), "exact"
    return float(moocore.hv_approx(points, ref=ref, nsamples=2**16, method="Rphi-FWE+")), "approx (Rphi-FWE+)"


def front_quality(scaled: pd.DataFrame, types: pd.Series, global_front: np.ndarray) -> tuple[pd.DataFrame, str]:
    """Per type: hypervolume of its models and IGD of its own front to the global front (lower IGD is better)."""
    reference = scaled.to_numpy()[global_front]
    rows, method = [], "exact"
    for name in sorted(types.unique()):
        mask = (types == name).to_numpy()
        points = scaled.to_numpy()[mask]
        own_front = points[pareto_mask(points)]
        hv, method = hypervolume(own_front, scaled.shape[1])
        rows.append(
            {
                "type": name,
                "n_models": int(mask.sum()),
                "n_on_front": int((global_front & mask).sum()),
                "share_of_front": float((global_front & mask).sum() / max(global_front.sum(), 1)),
                "hypervolume": hv,
                "igd": float(moocore.igd(own_front, ref=reference)) if len(own_front) else np.nan,
            }
        )
    return pd.DataFrame(rows), method


SUBSAMPLE_COLUMNS = [
    "subsample_size",
    "hv_median",
    "hv_ci_low",
    "hv_ci_high",
    "igd_median",
    "igd_ci_low",
    "igd_ci_high",
]


def subsampled_quality(
    scaled: pd.DataFrame,
    types: pd.Series,
    global_front: np.ndarray,
    compared: list[str],
    *,
    n_subsamples: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Per compared type: hypervolume and IGD of the fronts of equal-size samples (see the module doc)."""
    rows = pd.DataFrame(columns=["type", *SUBSAMPLE_COLUMNS])
    if not compared or n_subsamples < 1:
        return rows
    points = scaled.to_numpy()
    reference = points[global_front]
    members = {name: np.flatnonzero((types == name).to_numpy()) for name in compared}
    size = min(len(m) for m in members.values())
    out = []
    for name in compared:
        hv = np.empty(n_subsamples)
        igd = np.empty(n_subsamples)
        for i in range(n_subsamples):
            sample = points[rng.choice(members[name], size=size, replace=False)]
            front = sample[pareto_mask(sample)]
            hv[i] = hypervolume(front, scaled.shape[1])[0]
            igd[i] = float(moocore.igd(front, ref=reference))
        hv_stats, igd_stats = percentile_summary(hv), percentile_summary(igd)
        out.append({"type": name, "subsample_size": size, **_named("hv", hv_stats), **_named("igd", igd_stats)})
    return pd.DataFrame(out, columns=["type", *SUBSAMPLE_COLUMNS])


def _named(prefix: str, stats: tuple[float, float, float]) -> dict[str, float]:
    return dict(zip((f"{prefix}_median", f"{prefix}_ci_low", f"{prefix}_ci_high"), stats, strict=True))


def with_subsamples(
    quality: pd.DataFrame,
    scaled: pd.DataFrame,
    types: pd.Series,
    global_front: np.ndarray,
    *,
    min_type_members: int,
    n_subsamples: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """``quality`` with ``too_few_members``, the equal-size sample columns and ``hv_rank``."""
    quality = quality.assign(too_few_members=quality["n_models"] < min_type_members)
    compared = quality.loc[~quality["too_few_members"], "type"].tolist()
    sub = subsampled_quality(scaled, types, global_front, compared, n_subsamples=n_subsamples, rng=rng)
    quality = quality.merge(sub, on="type", how="left")
    quality["hv_rank"] = quality["hv_median"].rank(ascending=False, method="min")
    return quality


def analyse_pareto(
    errors: pd.DataFrame,
    types: pd.Series,
    objectives: list[str],
    *,
    k_values: list[int] | None,
    null_rhos: list[float],
    repeats: int,
    seed: int,
    min_type_members: int = 10,
    n_subsamples: int = 200,
) -> ParetoResult:
    """Everything Pareto on the complete-case models (NaN-free in every analysed property)."""
    complete = errors.dropna()
    magnitude = complete.abs()
    kept_types = types.loc[complete.index]
    optimal = pareto_mask(magnitude[objectives].to_numpy())
    optimal_2d = pareto_mask(magnitude[objectives[:2]].to_numpy())
    optimal_all = pareto_mask(magnitude.to_numpy())
    logs = np.log10(magnitude[objectives].clip(lower=np.finfo(float).tiny))
    scaled = scale_objectives(logs)
    quality, method = front_quality(scaled, kept_types, optimal)
    rng = np.random.default_rng(seed)
    quality = with_subsamples(
        quality,
        scaled,
        kept_types,
        optimal,
        min_type_members=min_type_members,
        n_subsamples=n_subsamples,
        rng=np.random.default_rng([seed, 1]),  # its own stream: the null-model counts stay as they were
    )
    ks = default_k_values(magnitude.shape[1]) if k_values is None else k_values
    counts = count_vs_k(magnitude.to_numpy(), ks, null_rhos, repeats=repeats, rng=rng)
    index = complete.index
    return ParetoResult(
        objectives=list(objectives),
        n_dropped_nan=int(len(errors) - len(complete)),
        optimal=pd.Series(optimal, index=index, name="pareto_optimal"),
        optimal_2d=pd.Series(optimal_2d, index=index, name="pareto_optimal_2d"),
        optimal_all=pd.Series(optimal_all, index=index, name="pareto_optimal_all"),
        scaled=scaled,
        quality=quality,
        hv_method=method,
        count_vs_k=counts,
    )
