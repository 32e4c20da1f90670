"""The dynamics stage of a run: MD diffusion on the models chosen in the run itself, by rare-event metrics and by
the conventional force RMSE — the first seed paper's comparison (Liu, He & Mo 2023) on the user's own ensemble.

After the main suite, the ``k`` best ensemble members by the mean percentile of the rare-event metrics (RE_F and
RE_A of every RE set) and the ``k`` best by the test-set force RMSE are chosen from the stored errors; the dynamics
properties (``diffusion_*`` of the material's suite) run on their union. The report then compares the two groups'
diffusion errors, NEB consistency and MD survival (:func:`mlipscope.analysis.dynamics.dynamics_comparison`).

Config (``[dynamics]`` of a run file; absent: no dynamics stage)::

    [dynamics]
    k = 2                                   # models per selection
    properties = ["diffusion_vacancy"]      # labels of the material's full suite (default: every diffusion_*)
    re_metrics = ["re_vacancy.re_f_ev_a"]   # default: every .re_f_ev_a / .re_a column
    rmse_metric = "errors_mlearn_test.force_rmse_ev_a"   # default: the first test set's force RMSE
    max_cost_s_per_atom_step = 3e-4        # skip models whose measured calculator cost is higher (default: none)
    include_potentials = false              # choose among ensemble members only (default)
    overrides = { diffusion_vacancy = { target_hops = 30 } }

Why a cost limit: MD costs ~10⁵ steps per model, so a GAP or DeePMD model (10-50x a SNAP's cost per atom-step,
measured after each fit) can take the stage past any budget; the report says how many models the limit excluded.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mlipscope.errors import InputError

#: the survival value the analysis treats as a property (reference 0: DFT does not fail below melting)
GROUP_RE = "RE metrics"
GROUP_RMSE = "force RMSE"


@dataclass(frozen=True)
class DynamicsSpec:
    k: int = 2
    properties: tuple[str, ...] = ("diffusion_*",)
    re_metrics: tuple[str, ...] | None = None
    rmse_metric: str | None = None
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_cost_s_per_atom_step: float | None = None
    include_potentials: bool = False

    @classmethod
    def from_table(cls, path: Path, table: object) -> DynamicsSpec:
        """Parse the ``[dynamics]`` table of ``path`` (clear errors naming the field)."""
        if not isinstance(table, dict):
            raise InputError(path, "dynamics", "a table (k, properties, re_metrics, rmse_metric, overrides)")
        keys = {
            "k",
            "properties",
            "re_metrics",
            "rmse_metric",
            "overrides",
            "max_cost_s_per_atom_step",
            "include_potentials",
        }
        unknown = sorted(set(table) - keys)
        if unknown:
            raise InputError(path, f"dynamics.{unknown[0]}", f"one of {sorted(keys)}")
        k = table.get("k", 2)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InputError(path, "dynamics.k", "a positive integer (models per selection)", got=k)
        props = table.get("properties", ["diffusion_*"])
        if not isinstance(props, list) or not props or not all(isinstance(p, str) for p in props):
            raise InputError(path, "dynamics.properties", "a list of property labels (globs allowed)", got=props)
        re_metrics = table.get("re_metrics")
        if re_metrics is not None and (
            not isinstance(re_metrics, list) or not all(isinstance(m, str) for m in re_metrics)
        ):
            raise InputError(path, "dynamics.re_metrics", "a list of value names (e.g. re_vacancy.re_f_ev_a)")
        rmse = table.get("rmse_metric")
        if rmse is not None and not isinstance(rmse, str):
            raise InputError(path, "dynamics.rmse_metric", "a value name (e.g. errors_mlearn_test.force_rmse_ev_a)")
        overrides = table.get("overrides", {})
        if not isinstance(overrides, dict) or not all(isinstance(v, dict) for v in overrides.values()):
            raise InputError(path, "dynamics.overrides", "a table of property label -> settings")
        cost = table.get("max_cost_s_per_atom_step")
        if cost is not None and (isinstance(cost, bool) or not isinstance(cost, int | float) or not cost > 0):
            raise InputError(path, "dynamics.max_cost_s_per_atom_step", "a positive number of seconds", got=cost)
        include = table.get("include_potentials", False)
        if not isinstance(include, bool):
            raise InputError(path, "dynamics.include_potentials", "true or false", got=include)
        return cls(
            k, tuple(props), tuple(re_metrics) if re_metrics else None, rmse, dict(overrides),
            None if cost is None else float(cost), include,
        )  # fmt: skip

    def candidates(self, models: pd.DataFrame) -> tuple[list[str], int]:
        """(model ids the stage may choose, number excluded by the cost limit) from the store's models table:
        fitted members (and external potentials with ``include_potentials``) whose fit succeeded."""
        usable = models[models["status"] == "ok"]
        if not self.include_potentials:
            usable = usable[usable["family"] != "external"]
        if self.max_cost_s_per_atom_step is None:
            return list(usable["model_id"]), 0
        cost = pd.to_numeric(usable["eval_cost_s_per_atom_step"], errors="coerce")
        cheap = usable[~(cost > self.max_cost_s_per_atom_step)]  # unknown cost (NaN): kept
        return list(cheap["model_id"]), len(usable) - len(cheap)

    def labels(self, available: list[str]) -> list[str]:
        """The dynamics property labels among ``available`` (the material's full suite), in suite order."""
        chosen = [label for label in available if any(fnmatch.fnmatchcase(label, p) for p in self.properties)]
        if not chosen:
            raise InputError(None, "dynamics.properties", f"labels of the material's suite: {available}")
        return chosen


def re_metric_columns(columns, spec: DynamicsSpec) -> list[str]:
    if spec.re_metrics:
        return [c for c in spec.re_metrics if c in columns]
    return [c for c in columns if c.endswith((".re_f_ev_a", ".re_a"))]


def rmse_metric_column(columns, spec: DynamicsSpec) -> str | None:
    if spec.rmse_metric:
        return spec.rmse_metric if spec.rmse_metric in columns else None
    candidates = [
        c for c in columns if c.startswith("errors_") and c.count(".") == 1 and c.endswith(".force_rmse_ev_a")
    ]
    return candidates[0] if candidates else None


def choose_models(
    errors: pd.DataFrame, spec: DynamicsSpec, candidates: list[str] | None = None
) -> dict[str, list[str]]:
    """``{GROUP_RE: ids, GROUP_RMSE: ids}``: the ``k`` models (rows of ``errors``, |error| columns) best by the
    mean percentile of the RE metrics, and best by the force RMSE, among ``candidates`` (default: all rows;
    percentiles are taken among all rows). Models with a failed metric are not chosen."""
    out: dict[str, list[str]] = {}
    allowed = errors.index if candidates is None else errors.index.intersection(candidates)
    re_cols = re_metric_columns(errors.columns, spec)
    if re_cols:
        score = errors[re_cols].abs().rank(pct=True).mean(axis=1, skipna=False)
        out[GROUP_RE] = list(score.loc[allowed].dropna().nsmallest(spec.k).index)
    rmse = rmse_metric_column(errors.columns, spec)
    if rmse:
        out[GROUP_RMSE] = list(errors.loc[allowed, rmse].abs().dropna().nsmallest(spec.k).index)
    return out
