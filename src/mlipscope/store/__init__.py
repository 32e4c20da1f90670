"""Where results live: behind the :class:`~mlipscope.store.protocol.ResultStore` protocol; one DuckDB file per run
(:class:`ResultsStore`: models, evaluations, property values, datasets) or, in tests, :class:`MemoryStore`."""

from mlipscope.store.duckdb_store import ResultsStore, model_id_for, software_versions
from mlipscope.store.memory import MemoryStore
from mlipscope.store.protocol import ResultStore

__all__ = ["MemoryStore", "ResultStore", "ResultsStore", "model_id_for", "software_versions"]
