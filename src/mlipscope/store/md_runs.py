"""The MD runs stored with the diffusion evaluations (ok or failed: a failed run is survival data too)."""

from __future__ import annotations

from mlipscope.properties.md import MDRun


def md_runs_by_model(store, labels: list[str] | None = None) -> dict[str, list[MDRun]]:
    """Per model, every MD run stored in the details of its ``labels`` evaluations (default: every
    ``diffusion_*``). ``store``: a :class:`~mlipscope.store.duckdb_store.ResultsStore`."""
    evaluations = store.evaluations()
    if evaluations.empty:
        return {}
    rows = evaluations[["model_id", "property_label", "config_hash"]].drop_duplicates()
    wanted = rows["property_label"].isin(labels) if labels else rows["property_label"].str.startswith("diffusion_")
    runs: dict[str, list[MDRun]] = {}
    for model_id, label, config_hash in rows[wanted].itertuples(index=False):
        details = store.evaluation_details(model_id, label, config_hash) or {}
        runs.setdefault(model_id, []).extend(MDRun.from_dict(r) for r in details.get("md_runs", []))
    return runs
