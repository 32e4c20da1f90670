"""Where results live: behind the :class:`~mlipscope.store.protocol.ResultStore` protocol; one DuckDB file per run
(:class:`ResultsStore`: models, evaluations, property values, datasets) or, in tests, :class:`MemoryStore`."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["MemoryStore", "ResultStore", "ResultsStore", "model_id_for", "software_versions"]

#: name -> the module defining it, imported on first use: the sandbox child unpickles evaluations whose keys live
#: in :mod:`.protocol` and never opens a database, so it need not load DuckDB and pandas
_HOMES = {
    "ResultsStore": "mlipscope.store.duckdb_store",
    "model_id_for": "mlipscope.store.provenance",
    "software_versions": "mlipscope.store.provenance",
    "MemoryStore": "mlipscope.store.memory",
    "ResultStore": "mlipscope.store.protocol",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
