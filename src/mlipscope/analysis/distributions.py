"""Distributions of each property's (transformed) error per MLIP type: the numbers behind the violin figures."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class DistributionResult:
    transform: str
    values: pd.DataFrame  # models x properties, transformed (what the figure draws)
    types: pd.Series
    summary: pd.DataFrame  # long: property, type, n, n_failed, min, q25, median, q75, max


def summarize_distributions(values: pd.DataFrame, types: pd.Series, transform: str) -> DistributionResult:
    """Quantiles per (property, type) and over all models (type ``all``); NaN (failed) values are counted apart."""
    long = values.assign(type=types).melt(id_vars="type", var_name="property", value_name="value")
    everything = long.assign(type="all")
    long = pd.concat([long, everything], ignore_index=True)
    grouped = long.groupby(["property", "type"], sort=False)["value"]
    summary = pd.DataFrame(
        {
            "n": grouped.count(),
            "n_failed": grouped.size() - grouped.count(),
            "min": grouped.min(),
            "q25": grouped.quantile(0.25),
            "median": grouped.median(),
            "q75": grouped.quantile(0.75),
            "max": grouped.max(),
        }
    ).reset_index()
    return DistributionResult(transform, values, types, summary)
