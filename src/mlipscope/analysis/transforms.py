"""Error transforms: absolute, relative, log10 and z-scored log10, column by column, NaN kept as NaN.

Errors are compared as magnitudes, so every transform starts from |e|. Errors spread over decades across an ensemble,
hence log10; z-scoring the log puts every property on one scale for correlations, Lasso and distances. An exact zero
error has no logarithm: it is placed one decade below the column's smallest non-zero error (documented, rare).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlipscope.errors import InputError


def absolute(errors: pd.DataFrame) -> pd.DataFrame:
    return errors.abs()


def relative(errors: pd.DataFrame, reference_values: dict[str, float]) -> pd.DataFrame:
    """|e| / |reference|: needs a non-zero reference value per property (config ``reference_values``)."""
    missing = [c for c in errors.columns if not reference_values.get(c)]
    if missing:
        raise InputError(
            None,
            f"analysis.reference_values.{missing[0]}",
            "a non-zero reference value for every property when the transform is 'relative'",
        )
    scale = pd.Series({c: abs(reference_values[c]) for c in errors.columns})
    return errors.abs().div(scale, axis=1)


def log10(errors: pd.DataFrame) -> pd.DataFrame:
    magnitude = errors.abs()
    positive = magnitude.where(magnitude > 0)
    floor = positive.min() / 10.0  # NaN where a column has no positive value: its log stays NaN
    clipped = magnitude.where((magnitude > 0) | magnitude.isna(), floor, axis=1)
    return np.log10(clipped)


def zscore(values: pd.DataFrame) -> pd.DataFrame:
    """Centre and scale each column over the models (NaN ignored); a constant column becomes all-NaN."""
    std = values.std(ddof=0)
    return (values - values.mean()).div(std.where(std > 0))


def zlog10(errors: pd.DataFrame) -> pd.DataFrame:
    return zscore(log10(errors))


def apply(name: str, errors: pd.DataFrame, reference_values: dict[str, float] | None = None) -> pd.DataFrame:
    """Apply the transform called ``name`` (one of :data:`mlipscope.analysis.config.TRANSFORMS`)."""
    if name == "absolute":
        return absolute(errors)
    if name == "relative":
        return relative(errors, reference_values or {})
    if name == "log10":
        return log10(errors)
    if name == "zlog10":
        return zlog10(errors)
    raise InputError(None, "analysis.transform", "absolute, relative, log10 or zlog10", got=name)
