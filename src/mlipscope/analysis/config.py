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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar

import yaml
from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr

from mlipscope.errors import InputError
from mlipscope.validation import DATACLASS_CONFIG, checked, expect, validate

TRANSFORMS = ("absolute", "relative", "log10", "zlog10")
MINIMUM_SIZES = (
    "min_models_correlation",
    "min_type_members",
    "min_models_prediction",
    "min_models_clustering",
    "min_models_selection",
)


# the field types: what a YAML file may give (strict: true is no number, "0.5" no float), with their messages
_Number = Annotated[StrictFloat, expect("a number")]
_Fraction = Annotated[StrictFloat, expect("a number in [0, 1]", ge=0, le=1)]
_Count = Annotated[StrictInt, expect("a non-negative integer", ge=0)]
_MinSize = Annotated[StrictInt, expect("an integer >= 2", ge=2)]
_Names = Annotated[list[StrictStr] | None, expect("a list of property names")]
_Transform = Annotated[StrictStr, checked(lambda v: v in TRANSFORMS, f"one of {TRANSFORMS}")]


@dataclass
class LassoSettings:
    """Lasso prediction graph: fixed ``alpha`` on z-scored log errors (a CV search per target is the slow part and
    moves R² little), ``n_splits`` random train/test splits of ``test_fraction``; an edge needs |mean coefficient|
    >= ``coef_threshold`` and a target mean test R² >= ``r2_threshold``."""

    __pydantic_config__ = DATACLASS_CONFIG
    expected_text: ClassVar[str] = "a mapping with alpha, n_splits, test_fraction, coef_threshold, r2_threshold"

    alpha: Annotated[StrictFloat, expect("a positive number", gt=0)] = 0.02
    n_splits: Annotated[StrictInt, expect("a positive integer", ge=1)] = 10
    test_fraction: Annotated[StrictFloat, expect("a number in (0, 1)", gt=0, lt=1)] = 0.25
    coef_threshold: _Number = 0.1
    r2_threshold: _Number = 0.6


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

    __pydantic_config__ = DATACLASS_CONFIG  # the schema of an [analysis] table / analysis YAML (from_dict)

    properties: _Names = None
    thresholds: Annotated[
        dict[StrictStr, Annotated[StrictFloat, Field(gt=0)]],
        expect("a mapping of property name to a positive acceptable error"),
    ] = field(default_factory=dict)
    threshold_sources: Annotated[
        dict[StrictStr, StrictStr], expect("a mapping of property name to a text naming the source")
    ] = field(default_factory=dict)
    reference_values: Annotated[dict[StrictStr, StrictFloat], expect("a mapping of property name to a number")] = field(
        default_factory=dict
    )
    transform: _Transform = "zlog10"
    distribution_transform: _Transform = "log10"
    max_nan_fraction: _Fraction = 0.2
    correlation_method: Annotated[
        StrictStr, checked(lambda v: v in ("pearson", "spearman"), "'pearson' or 'spearman'")
    ] = "pearson"
    r2_threshold: _Fraction = 0.6
    n_bootstrap: _Count = 200
    edge_confidence: _Fraction = 0.9
    lasso: LassoSettings = field(default_factory=LassoSettings)
    pareto_properties: _Names = None
    max_pareto_objectives: _Count = 4
    pareto_k_values: Annotated[
        list[Annotated[StrictInt, Field(ge=1)]] | None, expect("a list of positive integers")
    ] = None
    null_correlations: Annotated[
        list[Annotated[StrictFloat, Field(ge=0, lt=1)]] | None, expect("a list of correlations in [0, 1)")
    ] = None
    null_repeats: _Count = 3
    cluster_neighbors: _Count = 10
    louvain_resolution: _Number = 1.0
    logistic_c: _Number = 0.5
    selection_metrics: _Names = None  # None: rare-event metrics and force RMSEs (analysis.selection)
    n_selected: _Count = 10
    type_column: StrictStr = "family"
    seed: StrictInt = 0
    canonical_only: StrictBool = True
    canonical_properties: _Names = None
    min_models_correlation: _MinSize = 20
    min_type_members: _MinSize = 10
    min_models_prediction: _MinSize = 20
    min_models_clustering: _MinSize = 10
    min_models_selection: _MinSize = 30

    @classmethod
    def from_dict(cls, data: Any, source: str | Path | None = None) -> AnalysisConfig:
        """Build from plain data; an unknown key, wrong type or value out of range is an InputError naming
        ``analysis.<key>`` (with "did you mean" for a near miss)."""
        if not isinstance(data, dict):
            raise InputError(source, "analysis", "a mapping of settings", got=data)
        return validate(cls, data, source, prefix="analysis")

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
