"""Acceptable errors: how far a property may be from DFT before a model counts as wrong, each with its source.

The seed study's acceptable error of a property is how far a cheaper DFT setting is from the converged one: on the
Si rare-event sets, the Γ-only (``forces_K1``) and 2×2×2 (``forces_K2``, ``energy_K2``) forces against 4×4×4.
Those are computed here, from the arrays the frames carry, by running the property itself with the cheaper setting
as the "model" (:class:`~mlipscope.properties.rare_events.StoredForcesCalculator`). A study's published acceptable
errors (a reference file's ``study_thresholds``, e.g. Liu & Mo 2024 for Si) cover most of the rest; values with
neither get the documented default tolerances of the material's reference file.

Precedence, lowest first: the reference file's own ``thresholds`` (defaults), the cheaper-DFT errors of the setting
marked ``threshold: true``, the study's published acceptable errors, the run config's ``[analysis] thresholds``.
A published value beats the computed one because it is what the study ranked its models with; for the Si RE metrics
both are the Γ-only vs 4×4×4 error (RE_F equal to the published digits, RE_A and RE_M within 0.7 %), and the
computed one stays in the cheaper-DFT table (column ``published_error`` beside it) for comparison.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mlipscope.properties.base import Property
from mlipscope.properties.references import Reference

if TYPE_CHECKING:
    import pandas as pd

#: values of a dataset property that are counts or bookkeeping, not errors with an acceptable size
NOT_ERRORS = ("n_re_atoms", "failed_frame_fraction")
#: the columns of :func:`cheaper_dft_errors`
CHEAPER_COLUMNS = ["value", "setting", "error", "threshold", "source"]


def _cheaper_rows(properties: Sequence[Property], reference: Reference | None) -> list[dict]:
    """The rows of :func:`cheaper_dft_errors`, as dicts."""
    rows = []
    for setting in getattr(reference, "cheaper_dft", []):
        for prop in properties:
            result = prop.cheaper_setting_result(setting.forces, setting.energy)
            if result is None:
                continue
            for key in sorted(result.error_metrics):
                error = result.values[key]
                if key in NOT_ERRORS or not math.isfinite(error):
                    continue
                rows.append(
                    {
                        "value": f"{result.label}.{key}",
                        "setting": setting.name,
                        "error": abs(float(error)),
                        "threshold": setting.threshold,
                        "source": f"{setting.name} DFT vs the reference labels of {result.details.get('dataset', '?')}"
                        " (computed from the data)",
                    }
                )
    return rows


def cheaper_dft_errors(properties: Sequence[Property], reference: Reference | None) -> pd.DataFrame:
    """One row per (value name, cheaper DFT setting): the setting's error against the reference labels.

    Columns: ``value``, ``setting``, ``error``, ``threshold`` (the setting is the one used as threshold),
    ``source``. Empty when the reference names no cheaper setting or no property's frames carry its arrays.
    """
    import pandas as pd

    return pd.DataFrame(_cheaper_rows(properties, reference), columns=CHEAPER_COLUMNS)


def acceptable_error_map(
    properties: Sequence[Property], reference: Reference | None, overrides: dict[str, float] | None = None
) -> dict[str, tuple[float, str]]:
    """The first element of :func:`acceptable_errors`, without its table (and without pandas)."""
    return _chosen(properties, reference, _cheaper_rows(properties, reference), overrides)


def _chosen(
    properties: Sequence[Property], reference: Reference | None, rows: list[dict], overrides: dict[str, float] | None
) -> dict[str, tuple[float, str]]:
    labels = {prop.label for prop in properties}
    thresholds = getattr(reference, "thresholds", {})
    published = getattr(reference, "published_thresholds", frozenset())
    chosen = {k: v for k, v in thresholds.items() if k.split(".", 1)[0] in labels}
    for row in rows:
        if row["threshold"] and row["error"] > 0 and row["value"] not in published:
            chosen[row["value"]] = (row["error"], row["source"])
    for name, value in (overrides or {}).items():
        chosen[name] = (float(value), "run config [analysis] thresholds")
    return chosen


def acceptable_errors(
    properties: Sequence[Property], reference: Reference | None, overrides: dict[str, float] | None = None
) -> tuple[dict[str, tuple[float, str]], pd.DataFrame]:
    """(value name -> (acceptable |error|, source), the cheaper-DFT table) for a suite and its reference; file
    thresholds of properties outside the suite are left out.

    The table's ``threshold`` column is true where that row's error is the threshold used; ``published_error`` is
    the study's published acceptable error of the value (NaN where none), which takes precedence over the row.
    A cheaper setting that reproduces a value exactly (error 0, e.g. no atom with δF > 0.5 eV/Å) gives no threshold:
    no model could meet a zero tolerance, so the file default (if any) stays.
    """
    import pandas as pd

    rows = _cheaper_rows(properties, reference)
    thresholds = getattr(reference, "thresholds", {})
    published = getattr(reference, "published_thresholds", frozenset())
    table = pd.DataFrame(rows, columns=CHEAPER_COLUMNS)
    table["published_error"] = [thresholds[v][0] if v in published else math.nan for v in table["value"]]
    table["threshold"] = table["threshold"] & (table["error"] > 0) & ~table["value"].isin(published)
    return _chosen(properties, reference, rows, overrides), table
