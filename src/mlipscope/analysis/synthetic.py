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


#: canonical values of :func:`suite_like_error_table` -> (latent factor, log10 typical |error|, signed)
SUITE_VALUES: dict[str, tuple[int, float, bool]] = {
    "errors_mlearn_test.energy_rmse_mev_atom": (0, 0.8, False),
    "errors_mlearn_test.force_rmse_ev_a": (1, -1.0, False),
    "re_vacancy.re_f_ev_a": (1, -0.8, False),
    "re_vacancy.re_m_ev_a": (1, -0.9, False),
    "re_vacancy.re_a": (1, -1.0, False),
    "re_vacancy.force_rmse_ev_a": (1, -1.0, False),
    "re_vacancy.energy_rmse_ev_atom": (0, -2.0, False),
    "re_interstitial.re_f_ev_a": (1, -0.7, False),
    "re_interstitial.re_m_ev_a": (1, -0.8, False),
    "re_interstitial.re_a": (1, -0.9, False),
    "eos.lattice_constant_a": (2, -2.0, True),
    "eos.bulk_modulus_gpa": (2, 0.6, True),
    "elastic_perfect.c11_gpa": (2, 0.9, True),
    "elastic_perfect.c12_gpa": (2, 0.8, True),
    "elastic_perfect.c44_gpa": (3, 0.9, True),
    "vacancy_64.formation_energy_ev": (0, -0.7, True),
    "tetrahedral_64.formation_energy_ev": (0, -0.5, True),
    "dumbbell_64.formation_energy_ev": (0, -0.6, True),
    "surface_100.surface_energy_j_m2": (0, -1.2, True),
    "migration_vacancy.barrier_ev": (1, -1.2, True),
    "phonons_perfect.gamma_lto_thz": (3, -0.4, True),
}
SUITE_CONFIG_TYPES = ("bulk_aimd", "vacancy_aimd", "surface")


def suite_like_error_table(
    type_sizes: dict[str, int] | None = None, *, trade_off: float = 0.5, seed: int = 0
) -> pd.DataFrame:
    """A table with the column names of the Si suite: canonical values (:data:`SUITE_VALUES`) and their variants
    (MAE, offset-removed energy, per config type, RE vector errors and shares). Four latent factors (energy,
    force, elastic, phonon quality) make the canonical values correlate within a factor; ``trade_off`` couples the
    force and elastic factors negatively. Each type is better than the others in one factor."""
    type_sizes = type_sizes or {"ace": 30, "snap": 25, "pod": 5}
    rng = np.random.default_rng(seed)
    family = np.repeat(list(type_sizes), list(type_sizes.values()))
    n = len(family)
    factors = rng.standard_normal((n, 4))
    factors[:, 2] -= trade_off * factors[:, 1]  # better forces go with worse elastic constants
    for i, name in enumerate(type_sizes):
        factors[family == name, i % 4] -= 1.0  # each type is best in one factor
    values = {}
    for name, (factor, level, signed) in SUITE_VALUES.items():
        log_err = level + 0.3 * (0.9 * factors[:, factor] + 0.45 * rng.standard_normal(n))
        sign = rng.choice([-1.0, 1.0], size=n) if signed else 1.0
        values[name] = sign * 10.0**log_err
    for label in ("errors_mlearn_test",):
        for metric in ("energy_rmse_mev_atom", "force_rmse_ev_a"):
            base = values[f"{label}.{metric}"]
            values[f"{label}.{metric.replace('rmse', 'mae')}"] = 0.8 * base * 10 ** (0.02 * rng.standard_normal(n))
            for config_type in SUITE_CONFIG_TYPES:
                values[f"{label}.{metric}.{config_type}"] = base * 10 ** (0.1 * rng.standard_normal(n))
        energy = values[f"{label}.energy_rmse_mev_atom"]
        values[f"{label}.energy_offset_removed_rmse_mev_atom"] = 0.9 * energy * 10 ** (0.05 * rng.standard_normal(n))
    for label in ("re_vacancy", "re_interstitial"):
        re_f = values[f"{label}.re_f_ev_a"]
        values[f"{label}.vector_rmse_ev_a"] = 1.3 * re_f * 10 ** (0.03 * rng.standard_normal(n))
        values[f"{label}.vector_mae_ev_a"] = 1.1 * re_f * 10 ** (0.03 * rng.standard_normal(n))
        values[f"{label}.frac_df_gt_0p5"] = np.clip(re_f * 10 ** (0.1 * rng.standard_normal(n)), 0, 1)
    table = pd.DataFrame(values)
    table.insert(0, "type", family)
    table.insert(1, "hp.cutoff_a", rng.uniform(4.0, 6.0, size=n).round(3))
    table.index = pd.Index([f"m{i:04d}" for i in range(n)], name="model_id")
    return table
