"""Settings of the ensemble analysis, with defaults, validated from a dict or a YAML file.

YAML example (every key optional)::

    thresholds: {eos.lattice_constant_a: 0.005, elastic_perfect.c11_gpa: 5.0}
    r2_threshold: 0.6
    n_bootstrap: 200
    lasso: {alpha: 0.02, n_splits: 5}
    properties: [eos.lattice_constant_a, elastic_perfect.c11_gpa]
    selection_metrics: [re_vacancy.re_f_ev_a, errors_mlearn_test.force_rmse_ev_a]   # default: RE and RMSE columns
    canonical_only: true            # multi-property analyses see one value per property (analysis.canonical)
    canonical_properties: [eos.lattice_constant_a, elastic_perfect.c11_gpa]   # or name them yourself
    min_models_correlation: 20      # minimum sizes: below them an analysis says why it is empty
    min_type_members: 10
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from mlipscope.errors import InputError

TRANSFORMS = ("absolute", "relative", "log10", "zlog10")
MINIMUM_SIZES = (
    "min_models_correlation",
    "min_type_members",
    "min_models_prediction",
    "min_models_clustering",
    "min_models_selection",
)


@dataclass
class LassoSettings:
    """Lasso prediction graph: fixed ``alpha`` on z-scored log errors (a CV search per target is the slow part and
    moves R² little), ``n_splits`` random train/test splits of ``test_fraction``; an edge needs |mean coefficient|
    >= ``coef_threshold`` and a target mean test R² >= ``r2_threshold``."""

    alpha: float = 0.02
    n_splits: int = 10
    test_fraction: float = 0.25
    coef_threshold: float = 0.1
    r2_threshold: float = 0.6


@dataclass
class AnalysisConfig:
    """Everything the analyses can be told; defaults suit an ensemble of a few hundred to a few thousand models.

    ``thresholds`` are acceptable absolute errors per property (same units as the table, e.g. the DFT k-point
    error), ``threshold_sources`` say where each comes from (shown in the report); ``reference_values`` are needed
    only for the ``relative`` transform. ``transform`` is what the correlation, prediction and clustering analyses
    see; ``distribution_transform`` is what the figures show.
    ``pareto_properties`` are the objectives for the Pareto front quality (default: the representative properties
    of the correlation graph, at most ``max_pareto_objectives``). ``null_correlations`` are the equicorrelations of
    the random null model (default: 0 and the observed mean correlation).

    One value per property: with ``canonical_only`` the multi-property analyses (correlation graph, Pareto fronts,
    Lasso prediction, clustering) use the canonical value of each property (:mod:`mlipscope.analysis.canonical`:
    RMSE over MAE, whole set over per-config-type, raw energy over offset-removed, RE_F/RE_M/RE_A over their
    variants); ``canonical_properties`` names them explicitly instead. Every value stays in the difficulty table,
    the distributions and the selection.

    Minimum sizes (a number computed from few models carries its interval or is not shown):

    - ``min_models_correlation`` (20): models for the correlation graph (all models, and each type's own graph).
      A pair of unrelated properties passes r² > 0.6 with probability 6e-5 with 20 models, 9e-3 with 10 and 0.04
      with 7 (t test of r = 0): over a few hundred pairs a small ensemble draws edges from noise alone;
    - ``min_type_members`` (10): members for a type to be ranked (per-type shares, hypervolumes, "best type"
      statements); a smaller type is shown, marked "too few members", never ranked;
    - ``min_models_prediction`` (20): complete models for the Lasso graph (its test R² is over a quarter of them);
    - ``min_models_clustering`` (10): Pareto-optimal models to cluster;
    - ``min_models_selection`` (30): models behind the RE-vs-RMSE selection verdict (with ``n_selected`` = 10
      picks per metric, fewer models make the picks a third of the ensemble or more).
    """

    properties: list[str] | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    threshold_sources: dict[str, str] = field(default_factory=dict)
    reference_values: dict[str, float] = field(default_factory=dict)
    transform: str = "zlog10"
    distribution_transform: str = "log10"
    max_nan_fraction: float = 0.2
    correlation_method: str = "pearson"
    r2_threshold: float = 0.6
    n_bootstrap: int = 200
    edge_confidence: float = 0.9
    lasso: LassoSettings = field(default_factory=LassoSettings)
    pareto_properties: list[str] | None = None
    max_pareto_objectives: int = 4
    pareto_k_values: list[int] | None = None
    null_correlations: list[float] | None = None
    null_repeats: int = 3
    cluster_neighbors: int = 10
    louvain_resolution: float = 1.0
    logistic_c: float = 0.5
    selection_metrics: list[str] | None = None  # None: rare-event metrics and force RMSEs (analysis.selection)
    n_selected: int = 10
    type_column: str = "family"
    seed: int = 0
    canonical_only: bool = True
    canonical_properties: list[str] | None = None
    min_models_correlation: int = 20
    min_type_members: int = 10
    min_models_prediction: int = 20
    min_models_clustering: int = 10
    min_models_selection: int = 30

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | Path | None = None) -> AnalysisConfig:
        """Build from plain data; every unknown key or wrong type is an InputError naming ``analysis.<key>``."""
        if not isinstance(data, dict):
            raise InputError(source, "analysis", "a mapping of settings", got=data)
        known = {f.name: f for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise InputError(source, f"analysis.{key}", f"one of {sorted(known)}")
            kwargs[key] = _check(key, value, source)
        config = cls(**kwargs)
        config.validate(source)
        return config

    @classmethod
    def from_yaml(cls, path: str | Path) -> AnalysisConfig:
        path = Path(path)
        if not path.is_file():
            raise InputError(path, "analysis config", "an existing YAML file")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise InputError(path, "file contents", f"valid YAML ({exc})") from None
        return cls.from_dict(data, source=path)

    def validate(self, source: str | Path | None = None) -> None:
        for name in ("transform", "distribution_transform"):
            if getattr(self, name) not in TRANSFORMS:
                raise InputError(source, f"analysis.{name}", f"one of {TRANSFORMS}", got=getattr(self, name))
        if self.correlation_method not in ("pearson", "spearman"):
            raise InputError(source, "analysis.correlation_method", "'pearson' or 'spearman'")
        for name in ("max_nan_fraction", "r2_threshold", "edge_confidence"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(source, f"analysis.{name}", "a number in [0, 1]", got=getattr(self, name))
        if not 0.0 < self.lasso.test_fraction < 1.0:
            raise InputError(source, "analysis.lasso.test_fraction", "a number in (0, 1)")
        for name in ("n_bootstrap", "null_repeats", "cluster_neighbors", "n_selected", "max_pareto_objectives"):
            if getattr(self, name) < 0:
                raise InputError(source, f"analysis.{name}", "a non-negative integer", got=getattr(self, name))
        for name in MINIMUM_SIZES:
            if getattr(self, name) < 2:
                raise InputError(source, f"analysis.{name}", "an integer >= 2", got=getattr(self, name))
        if self.lasso.n_splits < 1 or self.lasso.alpha <= 0:
            raise InputError(source, "analysis.lasso", "n_splits >= 1 and alpha > 0")
        for name, value in self.thresholds.items():
            if not value > 0:
                raise InputError(source, f"analysis.thresholds.{name}", "a positive acceptable error", got=value)
        if self.null_correlations is not None:
            for rho in self.null_correlations:
                if not 0.0 <= rho < 1.0:
                    raise InputError(source, "analysis.null_correlations", "correlations in [0, 1)", got=rho)


def _check(key: str, value: Any, source: str | Path | None) -> Any:
    """Coerce YAML values to the field's type, or raise an InputError that says what was expected."""
    where = f"analysis.{key}"
    if key == "lasso":
        if not isinstance(value, dict):
            raise InputError(
                source, where, "a mapping with alpha, n_splits, test_fraction, coef_threshold, r2_threshold"
            )
        allowed = {f.name for f in fields(LassoSettings)}
        for k in value:
            if k not in allowed:
                raise InputError(source, f"{where}.{k}", f"one of {sorted(allowed)}")
        try:
            return LassoSettings(**{k: (int(v) if k == "n_splits" else float(v)) for k, v in value.items()})
        except (TypeError, ValueError):
            raise InputError(source, where, "numbers for every lasso setting", got=value) from None
    if key == "threshold_sources":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise InputError(source, where, "a mapping of property name to a text naming the source", got=value)
        return {str(k): v for k, v in value.items()}
    if key in ("thresholds", "reference_values"):
        if not isinstance(value, dict):
            raise InputError(source, where, "a mapping of property name to a number", got=value)
        return {str(k): _number(v, source, f"{where}.{k}") for k, v in value.items()}
    if key == "canonical_only":
        if not isinstance(value, bool):
            raise InputError(source, where, "true or false", got=value)
        return value
    if key in ("properties", "pareto_properties", "selection_metrics", "canonical_properties"):
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(source, where, "a list of property names", got=value)
        return list(value)
    if key == "pareto_k_values":
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, int) and v >= 1 for v in value):
            raise InputError(source, where, "a list of positive integers", got=value)
        return list(value)
    if key == "null_correlations":
        if value is None:
            return None
        if not isinstance(value, list):
            raise InputError(source, where, "a list of correlations in [0, 1)", got=value)
        return [_number(v, source, where) for v in value]
    if key in ("transform", "distribution_transform", "correlation_method", "type_column"):
        if not isinstance(value, str):
            raise InputError(source, where, "a string", got=value)
        return value
    if key in ("n_bootstrap", "null_repeats", "cluster_neighbors", "n_selected", "seed", "max_pareto_objectives") or (
        key in MINIMUM_SIZES
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(source, where, "an integer", got=value)
        return value
    return _number(value, source, where)


def _number(value: Any, source: str | Path | None, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(source, where, "a number", got=value)
    return float(value)
