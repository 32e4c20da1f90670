"""The main job: from a config to a report, on Dask, resumable and failure-tolerant.

Stages: plan the ensemble (deterministic model ids, :mod:`.plan`) → fit the members not yet stored → evaluate every
(model, property) pair not yet stored → export the error table → analyse → write the report. The tasks
(:mod:`.work`) run through the engine (:mod:`.engine`) on a Dask executor (a LocalCluster by default); only this
client process writes to the store, so a run killed at any point loses at most the tasks in flight and a restart
skips everything stored.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from mlipscope.analysis.table import wide_error_table
from mlipscope.failures import FailureKind
from mlipscope.properties.base import Property
from mlipscope.runner.config import RunConfig, load_config
from mlipscope.runner.dask_client import make_client
from mlipscope.runner.engine import Engine, Listener, record_plan, retry_hint
from mlipscope.runner.executors import DaskExecutor
from mlipscope.runner.plan import KeyedEvaluations, RunPlan, check_run, plan_models, plan_run
from mlipscope.runner.progress import RunProgress, run_log
from mlipscope.runner.reporting import (
    analysis_settings,
    cross_material_report,
    dynamic_columns,
    dynamics_report,
    with_mlip_types,
    with_survival_columns,
    write_analysis_report,
)
from mlipscope.runner.scheduler_address import check_scheduler_address
from mlipscope.runner.submission import Submission
from mlipscope.runner.work import Evaluated, Evaluation, FitOutcome
from mlipscope.store.status import failures_table

__all__ = ["GROUP_ABOVE", "LARGE_ENSEMBLE", "MainJob", "RunSummary", "plan_models", "run_from_config"]

log = logging.getLogger(__name__)

#: above this many planned ensemble members the run warns with the counts before planning
LARGE_ENSEMBLE = 20_000
#: with ``run.group_tasks = "auto"``, above this many (model, property) pairs a model's properties go in one task
#: (below it, one task per pair balances better: a slow model's properties then run on every worker)
GROUP_ABOVE = 5000


@dataclass
class RunSummary:
    n_models_planned: int = 0
    n_models_ok: int = 0
    n_fits_failed: int = 0
    n_evaluations: int = 0
    n_evaluations_failed: int = 0
    n_skipped_stored: int = 0
    n_stored_failures_skipped: int = 0  # of n_skipped_stored: stored failures not retried (--retry-failed runs them)
    failure_reasons: dict[str, int] = field(default_factory=dict)
    wall_time_s: float = 0.0
    calculator_time_s: float = 0.0  # inside calculator calls of the evaluations (summed over workers)
    fit_time_s: float = 0.0  # inside the fitting codes
    evaluation_task_time_s: float = 0.0  # whole evaluation tasks: property code (ASE, phonopy) + calculators
    fit_task_time_s: float = 0.0  # whole fit tasks: fit, training-set metrics, evaluation-cost measurement
    n_tasks: dict[str, int] = field(default_factory=dict)  # Dask tasks submitted, by kind (fit, eval, evals, batch)
    report_wall_time_s: float = 0.0  # export, analysis and report

    def as_dict(self) -> dict[str, Any]:
        """The counts and times, non-finite floats as None: the log's summary line must stay valid JSON."""
        return {k: _finite_or_none(v) for k, v in vars(self).items()}


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MainJob:
    """Runs one config. Separated from the CLI so tests can drive it (and kill it) directly."""

    def __init__(
        self,
        config: RunConfig,
        *,
        scheduler: str | None = None,
        n_workers: int | None = None,
        console: Console | None = None,
        show_progress: bool = True,
        retry_failed: bool = False,
        log_file: Path | None = None,
        dashboard: int | None = None,
    ) -> None:
        """``log_file``: where the run's log goes (progress lines, failures with reasons, the summary); default
        ``<out>/run.log``. ``dashboard``: serve the LocalCluster's Dask dashboard on this port (0: any free)."""
        self.config = config
        self.dashboard = dashboard
        self._dask: tuple | None = None  # (client, LocalCluster or None), started on the first stage that needs it
        self._checked_datasets: dict[str, Any] | None = None  # what check_run gave the first stage
        self.log_file = log_file
        self.scheduler = scheduler
        if n_workers is not None and n_workers < 1:
            from mlipscope.errors import InputError

            raise InputError(None, "--workers", "at least 1 worker", got=n_workers)
        self.n_workers = n_workers or config.workers
        self.console = console or Console(stderr=True)
        self.show_progress = show_progress
        self.summary = RunSummary()
        self.report_error = ""
        self.retry_failed = retry_failed

    def properties(self, material: str | None = None) -> list[Property]:
        return self.config.properties_for(material)

    def run(self) -> RunSummary:
        from mlipscope.store.duckdb_store import ResultsStore

        start = time.perf_counter()
        cfg = self.config
        if self.scheduler:
            check_scheduler_address(self.scheduler)  # at once, before the store is touched
        cfg.db_path.parent.mkdir(parents=True, exist_ok=True)
        with run_log(self.log_file or cfg.out_dir / "run.log"), ResultsStore(cfg.db_path) as store:
            log.info("run %s: config %s, database %s", cfg.name, cfg.path, cfg.db_path)
            try:
                self._execute(store)
                if cfg.dynamics is not None:
                    self._dynamics_stage(store)
            finally:
                self._close_dask()
            self.summary.wall_time_s = time.perf_counter() - start
            report_start = time.perf_counter()
            report = self._report(store)
            self.summary.report_wall_time_s = time.perf_counter() - report_start
            log.info("summary: %s", json.dumps(self.summary.as_dict(), default=str, allow_nan=False))
        if report is None:
            from mlipscope.errors import MlipscopeError

            raise MlipscopeError(
                f"every result is stored in {cfg.db_path}, but the report could not be made: {self.report_error}"
                f" (rerun `mlipscope analyze --db {cfg.db_path}` once fixed)"
            )
        return self.summary

    # -- stages -------------------------------------------------------------------------------------------------
    def _warn_if_large(self) -> None:
        """Say what a very large config plans before planning it (10⁶ members take minutes and gigabytes)."""
        cfg = self.config
        n_members = sum(s.n * max(len(s.training_sets), 1) * max(len(s.seeds), 1) for s in cfg.ensembles)
        if n_members > LARGE_ENSEMBLE:
            n_props = max(len(self.properties(m)) for m in cfg.materials())
            self.console.print(
                f"[yellow]warning: {cfg.path}: {n_members:,} ensemble members planned "
                f"(× {n_props} properties ≈ {n_members * n_props:,} evaluations)"
            )

    def _dask_client(self):
        """The run's Dask client, started on first use (after planning, so a bad config never starts a cluster) and
        kept for the dynamics stage; :meth:`run` closes it."""
        if self._dask is None:
            if self.scheduler:
                check_scheduler_address(self.scheduler)
            self._dask = make_client(
                self.scheduler,
                self.n_workers,
                memory_limit=self.config.memory_limit,
                dashboard=self.dashboard,
                console=self.console,
            )
        return self._dask[0]

    def _close_dask(self) -> None:
        if self._dask is not None:
            client, cluster = self._dask
            self._dask = None
            client.close()
            if cluster is not None:
                cluster.close()

    def _dynamics_stage(self, store) -> None:
        """Choose the k best models by RE metrics and by force RMSE from what is stored, then run the dynamics
        properties on them (:mod:`mlipscope.runner.dynamics`); the selection is stored for the report."""
        from mlipscope.report.dynamics_section import SELECTION_META_KEY
        from mlipscope.runner.dynamics import choose_models

        cfg = self.config
        spec = cfg.dynamics
        props = cfg.dynamics_properties()
        table = wide_error_table(store.records(), store.models())
        own = [m for m, material in self.model_materials.items() if material == cfg.material]
        candidates, n_costly = spec.candidates(store.models()[lambda m: m["model_id"].isin(own)])
        groups = choose_models(table, spec, candidates)
        chosen = list(dict.fromkeys(m for ids in groups.values() for m in ids))
        selection = {
            "groups": groups,
            "labels": [p.label for p in props],
            "k": spec.k,
            "n_candidates": len(candidates),
            "n_excluded_by_cost": n_costly,
            "max_cost_s_per_atom_step": spec.max_cost_s_per_atom_step,
            "reference": cfg.reference,
            "material": cfg.material,
        }
        store.set_meta(SELECTION_META_KEY, json.dumps(selection))
        text = "; ".join(f"{group}: {', '.join(ids) or 'none'}" for group, ids in groups.items())
        log.info("dynamics stage: %s on %s", [p.label for p in props], text)
        self.console.print(f"dynamics stage: {len(chosen)} models ({text})")
        if chosen:
            self._execute(store, dynamics=(set(chosen), props))

    def _execute(self, store, dynamics: tuple[set[str], list[Property]] | None = None) -> None:
        """Fit what is missing and evaluate every (model, property) not stored yet. ``dynamics``: (model ids,
        properties) of the dynamics stage instead of the suite (the models are fitted already)."""
        cfg = self.config
        if self._checked_datasets is None:  # the first stage (the dynamics stage runs on what it checked and warned)
            self._checked_datasets = check_run(cfg)  # every check first, then the writes: a bad config leaves the store
            self._warn_if_large()
        datasets = self._checked_datasets
        plan = plan_run(cfg, store, datasets)
        props_of = {m: self.properties(m) for m in cfg.materials()}
        if dynamics is not None:
            chosen, dynamics_props = dynamics
            plan = RunPlan([m for m in plan.members if m.model_id in chosen],
                           [p for p in plan.potentials if p.model_id in chosen])  # fmt: skip
            props_of = {m: dynamics_props for m in cfg.materials()}
        self.model_materials = {m.model_id: m.material or cfg.material for m in plan.members}
        self.model_materials.update({p.model_id: p.material for p in plan.potentials})
        keyed = KeyedEvaluations(props_of, self.model_materials, cfg.reference)
        stored = {row.model_id: row for row in store.models().itertuples(index=False)}
        known = {p.model_id: keyed.of(p.model_id, p.calculator) for p in plan.potentials}
        for m in plan.members:
            if m.model_id in stored:  # a stored model's keys are known (its model file hash is stored with it)
                known[m.model_id] = keyed.of(m.model_id, m.model_dir, _text(stored[m.model_id].model_file_hash))
        to_fit = [m for m in plan.members if m.model_id not in stored]
        fitted_ok = [m.model_id for m in plan.members if m.model_id in stored and stored[m.model_id].status == "ok"]
        ready = [e for model_id in [*fitted_ok, *(p.model_id for p in plan.potentials)] for e in known[model_id]]
        if dynamics is None:
            self.summary.n_models_planned = len(plan.members) + len(plan.potentials)
            self.summary.n_fits_failed = sum(1 for m in plan.members if m.model_id in stored) - len(fitted_ok)
        n_props = {model_id: len(props_of[material]) for model_id, material in self.model_materials.items()}
        n_pairs = sum(n_props.values())
        # the plan, so `mlipscope status` in another process counts what remains (hash None: a model still to fit,
        # whose evaluation keys are not known yet)
        plan_keys: list[tuple[str, str, str | None]] = []
        for model_id in [*(m.model_id for m in plan.members), *(p.model_id for p in plan.potentials)]:
            if model_id in known:
                plan_keys += [tuple(e.key) for e in known[model_id]]
            else:
                plan_keys += [(model_id, label, None) for label in keyed.labels(model_id)]
        record_plan(store, plan_keys, name=cfg.name, max_attempts=cfg.max_attempts, retry_failed=self.retry_failed,
                    append=dynamics is not None)  # fmt: skip
        engine = Engine(store, self._executor(plan, n_pairs), max_attempts=cfg.max_attempts,
                        retry_failed=self.retry_failed, batched=True)  # fmt: skip
        with RunProgress(self.console, disable=not self.show_progress, interval_s=cfg.progress_interval_s) as progress:
            engine.listener = _RunListener(self, progress, n_props)
            progress.stage("fits", len(plan.members), already_done=len(plan.members) - len(to_fit))
            progress.stage("evaluations", n_pairs)
            engine.run(ready, to_fit, keyed.of_fit)
        self.summary.n_stored_failures_skipped += engine.stored_failures_skipped

    def _executor(self, plan: RunPlan, n_pairs: int) -> DaskExecutor:
        """The Dask executor of a stage: grouped tasks above :data:`GROUP_ABOVE` pairs (``run.group_tasks``)."""
        cfg = self.config
        client = self._dask_client()
        submission = Submission(
            client,
            None,
            cfg.task_timeout_s,
            {m.model_id: m.member.family for m in plan.members},
            grouped=cfg.group_tasks == "model" or (cfg.group_tasks == "auto" and n_pairs > GROUP_ABOVE),
            linear_batch=cfg.linear_batch,
            linear_batch_size=cfg.linear_batch_size,
            n_tasks=self.summary.n_tasks,
        )
        return DaskExecutor(
            client, submission, console=self.console, no_worker_wait_s=cfg.no_worker_wait_s, db_path=cfg.db_path
        )

    def _log_event(self, task: str, model_id: str, status: str) -> None:
        """Append one line per stored result to ``<out>/events.jsonl`` (a tail-able record of the run's progress)."""
        self.config.out_dir.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"time": time.time(), "task": task, "model_id": model_id, "status": status})
        with open(self.config.out_dir / "events.jsonl", "a") as fh:
            fh.write(line + "\n")

    def _failure_line(self, text: str) -> None:
        """One line per failure with its reason: in the log, and on the console unless the run is quiet."""
        log.warning("failed: %s", text)
        if self.show_progress:
            self.console.print(f"[red]failed[/]: {text}", highlight=False, soft_wrap=True)

    def _report(self, store) -> Path | None:
        cfg = self.config
        cfg.out_dir.mkdir(parents=True, exist_ok=True)
        records, models = store.records(), store.models()  # read once: the table, failures and survival use them
        wide_error_table(records, models).to_csv(cfg.out_dir / "errors.csv")
        self.summary.n_models_ok = int((models["status"] == "ok").sum()) if len(models) else 0
        failures = failures_table(records, models)
        kinds = Counter(FailureKind(k).group for k in failures["failure_kind"]) if len(failures) else Counter()
        run_summary = {
            **self.summary.as_dict(),
            "stored_failed_evaluations_deterministic": kinds.get("deterministic", 0),
            "stored_failed_evaluations_transient": kinds.get("transient", 0),
            "stored_failed_evaluations_by_property": dict(Counter(failures["property_label"])) if len(failures) else {},
        }
        table = with_survival_columns(store, wide_error_table(records, models, include_hyperparameters=True))
        table = with_mlip_types(table, models)
        try:
            from mlipscope.report.model_pages import ModelReportData

            model_data = ModelReportData.from_store(store)  # details read lazily: the store stays open meanwhile
            if len(cfg.materials()) == 1:
                settings, cheaper = analysis_settings(cfg, cfg.material)
                dynamics = dynamics_report(store, cfg.reference, cfg.material)
                path = write_analysis_report(
                    table.drop(columns=dynamic_columns(table, dynamics)),
                    settings,
                    cfg.out_dir,
                    title=cfg.name,
                    run_summary=run_summary,
                    settings_source=cfg.path,
                    cheaper_dft=cheaper,
                    model_data=model_data,
                    dynamics=dynamics,
                )
            else:
                path = cross_material_report(cfg, self.model_materials, table, run_summary, model_data)
        except Exception as exc:  # noqa: BLE001 - the stored results are safe; say why the report is missing
            self.report_error = f"{type(exc).__name__}: {exc}"
            log.debug("analysis failed", exc_info=True)
            return None
        self.console.print(f"report: {path}")
        return path


class _RunListener(Listener):
    """The main job's view of the engine: the run summary, progress bars, failure lines and the events file."""

    def __init__(self, job: MainJob, progress: RunProgress, n_props: dict[str, int]) -> None:
        self.job, self.summary, self.progress, self.n_props = job, job.summary, progress, n_props

    def skipped(self, evaluations: Sequence[Evaluation]) -> None:
        self.summary.n_skipped_stored += len(evaluations)
        for _ in evaluations:
            self.progress.advance("evaluations", True)

    def fitted(self, outcome: FitOutcome) -> None:
        planned, summary = outcome.planned, self.summary
        summary.fit_task_time_s += outcome.task_wall_time_s
        if outcome.ok:
            summary.fit_time_s += outcome.fit_wall_time_s
        else:
            summary.n_fits_failed += 1
            self.job._failure_line(f"{planned.model_id} fit ({planned.member.family}): {outcome.reason}")
            key = f"fit: {_short(outcome.reason)}"
            summary.failure_reasons[key] = summary.failure_reasons.get(key, 0) + 1
        self.job._log_event("fit", planned.model_id, outcome.status)
        self.progress.advance("fits", outcome.ok)
        if not outcome.ok:
            self.progress.add_total("evaluations", -self.n_props[planned.model_id])

    def evaluated(self, done: Evaluated) -> None:
        outcome, summary = done.outcome, self.summary
        summary.n_evaluations += 1
        if math.isfinite(outcome.wall_time_s):
            summary.evaluation_task_time_s += outcome.wall_time_s
        if outcome.ok:
            summary.calculator_time_s += outcome.calculator_time_s
        else:
            summary.n_evaluations_failed += 1
            self.job._failure_line(f"{done.key.model_id} {outcome.property_label}: {outcome.reason}")
            key = f"{outcome.property_label}: {_short(outcome.reason)}"
            summary.failure_reasons[key] = summary.failure_reasons.get(key, 0) + 1
        self.job._log_event(outcome.property_label, done.key.model_id, outcome.status)
        self.progress.advance("evaluations", outcome.ok)

    def waiting(self) -> None:
        self.progress.tick()


def _text(value: object) -> str:
    """A stored text field, empty when missing (a null read back as None or NaN)."""
    return value if isinstance(value, str) else ""


def _short(reason: str) -> str:
    return reason.split(" (at ")[0][:80]


def run_from_config(
    config_path: Path,
    *,
    quick: bool = False,
    scheduler: str | None = None,
    n_workers: int | None = None,
    retry_failed: bool = False,
    db_path: Path | None = None,
    out_dir: Path | None = None,
    quiet: bool = False,
    log_file: Path | None = None,
    dashboard: int | None = None,
) -> RunSummary:
    """``quiet``: no progress or failure lines on the console (errors and the closing summary only; the log file
    still has everything)."""
    config = load_config(config_path, quick=quick)
    if db_path is not None:
        config.db_path = db_path
    if out_dir is not None:
        config.out_dir = out_dir
    summary = MainJob(
        config,
        scheduler=scheduler,
        n_workers=n_workers,
        retry_failed=retry_failed,
        console=Console(stderr=True, quiet=quiet),
        show_progress=not quiet,
        log_file=log_file,
        dashboard=dashboard,
    ).run()
    Console(stderr=True, soft_wrap=True).print(
        f"{summary.n_models_planned} models ({summary.n_fits_failed} failed fits), "
        f"{summary.n_evaluations} evaluations this run ({summary.n_evaluations_failed} failed), "
        f"{summary.n_skipped_stored} already stored; {summary.wall_time_s:.0f} s + report "
        f"{summary.report_wall_time_s:.0f} s; Dask tasks: "
        + (", ".join(f"{n} {kind}" for kind, n in summary.n_tasks.items()) or "none")
    )
    if hint := retry_hint(summary.n_stored_failures_skipped):
        Console(stderr=True, soft_wrap=True).print(hint)
    return summary
