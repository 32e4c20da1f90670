"""The MD runs stored with the diffusion and MD-stability evaluations (ok or failed: a failed run is survival data
too)."""

from __future__ import annotations

from mlipscope.properties.md import MDRun
from mlipscope.store.protocol import ResultStore


def md_runs_by_model(store: ResultStore, labels: list[str] | None = None) -> dict[str, list[MDRun]]:
    """Per model, every MD run stored in the details of its ``labels`` evaluations (default: every
    ``diffusion_*`` and ``md_stability*``). ``store``: a :class:`~mlipscope.store.protocol.ResultStore`."""
    evaluations = store.records()
    if evaluations.empty:
        return {}
    rows = evaluations[["model_id", "property_label", "config_hash"]].drop_duplicates()
    default = rows["property_label"].str.startswith(("diffusion_", "md_stability"))
    wanted = rows["property_label"].isin(labels) if labels else default
    rows = rows[wanted]
    details = store.details(sorted(set(rows["model_id"])))  # one query, not a table scan per evaluation
    runs: dict[str, list[MDRun]] = {}
    for key in rows.itertuples(index=False, name=None):
        runs.setdefault(key[0], []).extend(MDRun.from_dict(r) for r in details.get(key, {}).get("md_runs", []))
    return runs
