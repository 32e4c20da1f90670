"""The dynamics stage's comparison: per group of chosen models (by rare-event metrics, by force RMSE), their
diffusion activation-energy errors, consistency with their own NEB barrier and MD survival. Pure functions of the
value and error tables and of the MD runs (read from a store by :func:`mlipscope.store.md_runs.md_runs_by_model`).
"""

from __future__ import annotations

import math

import pandas as pd

from mlipscope.analysis.survival import survival_summary
from mlipscope.properties.md import MDRun

#: the survival value that enters the error table (an error against 0 failures)
SURVIVAL_METRIC = "md_survival.failure_rate_per_atom_ps"


def survival_table(runs: dict[str, list[MDRun]]) -> pd.DataFrame:
    """Per model, the survival values (``md_survival.*``) of its MD runs."""
    if not runs:
        return pd.DataFrame()
    table = pd.DataFrame({m: survival_summary(r) for m, r in runs.items()}).T
    return table.add_prefix("md_survival.")


def dynamics_comparison(
    values: pd.DataFrame,
    errors: pd.DataFrame,
    groups: dict[str, list[str]],
    survival: pd.DataFrame,
    thresholds: dict[str, float],
    labels: list[str],
) -> pd.DataFrame:
    """One row per (group, diffusion label): models, how many gave an Arrhenius fit, median |Ea error|, share
    within the Ea threshold, share consistent with their NEB barrier, MD failures (all dynamics runs of the
    group's models) and the share of models whose MD failure rate is within its threshold."""
    rows = []
    for group, ids in groups.items():
        for label in labels:
            ea = f"{label}.activation_energy_ev"
            present = [m for m in ids if m in values.index]
            fitted = values.loc[present, ea].notna() if ea in values.columns else pd.Series(dtype=bool)
            err = errors.loc[present, ea].abs() if ea in errors.columns else pd.Series(dtype=float)
            limit = thresholds.get(ea, math.nan)
            consistent = f"{label}.ea_neb_consistent"
            cons = values.loc[present, consistent].dropna() if consistent in values.columns else pd.Series(dtype=float)
            surv = survival.loc[[m for m in present if m in survival.index]] if len(survival) else survival
            n_fail = float(surv["md_survival.n_failures"].sum()) if len(surv) else math.nan
            rate_limit = thresholds.get(SURVIVAL_METRIC, math.nan)
            rates = surv[SURVIVAL_METRIC] if SURVIVAL_METRIC in surv.columns else pd.Series(dtype=float)
            rows.append(
                {
                    "group": group,
                    "property": label,
                    "n_models": len(ids),
                    "n_arrhenius_fits": int(fitted.sum()) if len(fitted) else 0,
                    "median_abs_ea_error_ev": float(err.median()) if err.notna().any() else math.nan,
                    "share_within_threshold": float((err <= limit).mean()) if len(err) and limit == limit else math.nan,
                    "share_consistent_with_neb": float(cons.mean()) if len(cons) else math.nan,
                    "md_failures": n_fail,
                    "share_md_survival_within_threshold": float((rates <= rate_limit).mean())
                    if len(rates) and rate_limit == rate_limit
                    else math.nan,
                }
            )
    return pd.DataFrame(rows)
