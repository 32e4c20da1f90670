"""Where results live: one DuckDB file per run (models, evaluations, property values, datasets)."""

from mlipscope.store.duckdb_store import ResultsStore, model_id_for, software_versions

__all__ = ["ResultsStore", "model_id_for", "software_versions"]
