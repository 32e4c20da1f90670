"""Synthetic error tables with planted structure, for the scale benchmark and for demos of the report.

log10 error of property j in model m = level_j + type_offset + sqrt(r) * factor_{group(j)}(m) + sqrt(1 - r) * noise,
so properties of one group correlate with r across models and groups are independent. The hyperparameter
``hp.cutoff_a`` shifts the first factor (it "explains" part of the error), ``hp.seed`` explains nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def synthetic_error_table(
    n_models: int = 2300,
    n_properties: int = 60,
    *,
    n_groups: int = 6,
    within_group_r: float = 0.85,
    types: tuple[str, ...] = ("ace", "snap", "gap"),
    failed_fraction: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Wide table (index ``model_id``; columns ``family``, ``training_set_name``, ``hp.*``, then errors)."""
    rng = np.random.default_rng(seed)
    family = rng.choice(list(types), size=n_models)
    cutoff_a = rng.uniform(4.0, 6.0, size=n_models)
    factors = rng.standard_normal((n_models, n_groups))
    factors[:, 0] += 1.5 * (cutoff_a - 5.0)
    group = np.arange(n_properties) % n_groups
    levels = rng.uniform(-3.0, 1.0, size=n_properties)
    type_offset = pd.Series(np.linspace(-0.3, 0.3, len(types)), index=list(types))[family].to_numpy()
    noise = rng.standard_normal((n_models, n_properties))
    log_err = (
        levels
        + type_offset[:, None]
        + 0.3 * (np.sqrt(within_group_r) * factors[:, group] + np.sqrt(1.0 - within_group_r) * noise)
    )
    errors = 10.0**log_err
    if failed_fraction > 0:
        errors[rng.random(errors.shape) < failed_fraction] = np.nan
    names = [f"prop{j:02d}_g{group[j]}.error" for j in range(n_properties)]
    table = pd.DataFrame(errors, columns=names)
    table.insert(0, "family", family)
    table.insert(1, "training_set_name", rng.choice(["original", "vacancy_enhanced"], size=n_models))
    table.insert(2, "hp.cutoff_a", cutoff_a.round(3))
    table.insert(3, "hp.seed", rng.integers(0, 5, size=n_models))
    table.index = pd.Index([f"m{i:05d}" for i in range(n_models)], name="model_id")
    return table
