"""The main job: from a config to a report, on Dask, resumable and failure-tolerant.

Stages: plan the ensemble (deterministic model ids) → fit the members not yet stored → evaluate every (model,
property) pair not yet stored → export the error table → analyse → write the report. Tasks run on a Dask cluster (a
LocalCluster by default); only this client process writes to the DuckDB store, one committed write per finished
task, so a run killed at any point loses at most the tasks in flight and a restart skips everything stored.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from mlipscope.failures import FailureKind
from mlipscope.properties.base import Property
from mlipscope.runner.config import EnsembleSpec, RunConfig, load_config
from mlipscope.runner.evaluate import EvaluationOutcome, evaluation_base_key, evaluation_key, model_content_key
from mlipscope.runner.progress import RunProgress
from mlipscope.runner.reporting import (
    analysis_settings,
    cross_material_report,
    dynamic_columns,
    dynamics_report,
    with_survival_columns,
    write_analysis_report,
)
from mlipscope.runner.submission import Submission
from mlipscope.runner.tasks import FitOutcome, PlannedModel, load_dataset_cached

log = logging.getLogger(__name__)

# fetching a finished task's result: poll this often, and give up (a transient failure, retried on the next run)
# after this long while Dask still calls it finished
_FETCH_POLL_S = 5.0
_FETCH_GIVE_UP_S = 60.0
_RESULT_LOST = object()  # marker: the result's worker died before the fetch; the task is being recomputed
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
    failure_reasons: dict[str, int] = field(default_factory=dict)
    wall_time_s: float = 0.0
    calculator_time_s: float = 0.0  # inside calculator calls of the evaluations (summed over workers)
    fit_time_s: float = 0.0  # inside the fitting codes
    evaluation_task_time_s: float = 0.0  # whole evaluation tasks: property code (ASE, phonopy) + calculators
    fit_task_time_s: float = 0.0  # whole fit tasks: fit, training-set metrics, evaluation-cost measurement
    n_tasks: dict[str, int] = field(default_factory=dict)  # Dask tasks submitted, by kind (fit, eval, evals, batch)
    report_wall_time_s: float = 0.0  # export, analysis and report

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def plan_models(
    spec: EnsembleSpec, models_dir: Path, dataset_hashes: dict[str, str], material: str | None = None
) -> list[PlannedModel]:
    """Deterministic list of members: sampled hyperparameters × training sets × seeds, with store ids."""
    from mlipscope.models.registry import get_family
    from mlipscope.models.sampling import MemberSpec, ensemble_plan
    from mlipscope.store.duckdb_store import model_id_for

    if spec.n == 0:
        return []
    family = get_family(spec.family)
    planned, seen = [], set()
    plan = ensemble_plan(
        family,
        spec.n,
        spec.training_sets,
        spec.seeds,
        spec.sampler,
        spec.sampler_seed,
        descriptor_points=spec.descriptor_points,
    )
    for member in plan:
        hps = {**member.hyperparameters, **spec.fixed}
        member = MemberSpec(member.family, hps, member.training_set, member.seed, member.index)
        model_id = model_id_for(spec.family, hps, member.seed, dataset_hashes[member.training_set])
        if model_id not in seen:  # fixed hyperparameters can make sampled points identical
            seen.add(model_id)
            planned.append(
                PlannedModel(
                    model_id,
                    member,
                    dataset_hashes[member.training_set],
                    str(models_dir / spec.family),
                    material=material or spec.material,
                )
            )
    return planned


def _dataset_name(name_or_path: str) -> str:
    return Path(name_or_path).stem if "/" in name_or_path else name_or_path


def check_scheduler_address(address: str, timeout_s: float = 3.0) -> tuple[str, int]:
    """``tcp://host:port`` of a Dask scheduler that accepts connections, checked at once (a bad address would
    otherwise hang for Dask's connect timeout, then end in a traceback)."""
    import socket
    from urllib.parse import urlsplit

    from mlipscope.errors import InputError

    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if parts.scheme not in ("tcp", "tls") or not host or not port:
        raise InputError(None, "--scheduler", "a Dask scheduler address tcp://host:port", got=address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(
            None, "--scheduler", f"a running Dask scheduler at {host}:{port} (cannot connect: {reason})", got=address
        ) from None
    return host, port


def _make_client(
    scheduler: str | None,
    n_workers: int,
    *,
    memory_limit: str | None = None,
    dashboard: int | None = None,
    console: Console | None = None,
):
    """A client of ``scheduler``, or of a new LocalCluster of ``n_workers`` single-threaded worker processes with
    ``memory_limit`` each (Dask pauses a worker at 80 % of it and restarts one at 95 %: its tasks then run again
    elsewhere) and, with ``dashboard`` (a port; 0 for any free one), the Dask dashboard, whose address is printed."""
    from dask.distributed import Client, LocalCluster

    from mlipscope.errors import InputError

    if scheduler:
        check_scheduler_address(scheduler)
        try:
            client = Client(scheduler, timeout="15s")
        except (OSError, TimeoutError) as exc:
            raise InputError(None, "--scheduler", f"a Dask scheduler that answers ({exc})", got=scheduler) from None
        if console is not None and client.dashboard_link:
            console.print(f"Dask dashboard: {client.dashboard_link}")
        return client, None
    if dashboard is not None:
        try:
            import bokeh  # noqa: F401 - the dashboard needs it; say so before the cluster starts without one
        except ImportError:
            raise InputError(None, "--dashboard", "bokeh installed (pip install 'mlipscope[dashboard]')") from None
    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None if dashboard is None else f"127.0.0.1:{dashboard}",
        memory_limit=memory_limit if memory_limit is not None else "auto",
        silence_logs=logging.ERROR,
    )
    client = Client(cluster)
    if dashboard is not None and console is not None:
        console.print(f"Dask dashboard: {client.dashboard_link}")
    log.info("LocalCluster: %d workers, memory limit %s, dashboard %s", n_workers, memory_limit or "auto",
             client.dashboard_link if dashboard is not None else "off")  # fmt: skip
    return client, cluster


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
        self._submission: Submission | None = None  # the current stage's task submission

    def properties(self, material: str | None = None) -> list[Property]:
        return self.config.properties_for(material)

    def run(self) -> RunSummary:
        from mlipscope.store.duckdb_store import ResultsStore

        start = time.perf_counter()
        cfg = self.config
        if self.scheduler:
            check_scheduler_address(self.scheduler)  # at once, before the store is touched
        cfg.db_path.parent.mkdir(parents=True, exist_ok=True)
        with _run_log(self.log_file or cfg.out_dir / "run.log"), ResultsStore(cfg.db_path) as store:
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
            log.info("summary: %s", json.dumps(self.summary.as_dict(), default=str))
        if report is None:
            from mlipscope.errors import MlipscopeError

            raise MlipscopeError(
                f"every result is stored in {cfg.db_path}, but the report could not be made: {self.report_error}"
                f" (rerun `mlipscope analyze --db {cfg.db_path}` once fixed)"
            )
        return self.summary

    # -- stages -------------------------------------------------------------------------------------------------
    def _plan(self, store) -> tuple[list[PlannedModel], list[tuple[str, str]]]:
        from mlipscope.models.registry import get_family
        from mlipscope.store.duckdb_store import model_id_for

        cfg = self.config
        from mlipscope.calculators import calculator_species, check_species, make_calculator
        from mlipscope.errors import InputError
        from mlipscope.materials import load_material
        from mlipscope.runner.benchmark import load_reference

        for material in cfg.materials():  # a bad reference is a config error: fail before any work starts
            load_reference(cfg.reference, material)
        for spec in cfg.ensembles:
            ok, why = get_family(spec.family).available() if spec.n else (True, "")
            if not ok:
                raise InputError(cfg.path, f"ensemble.family={spec.family}", f"an installed family ({why})")
        # every check first, then the writes: a config error leaves the store untouched
        datasets = {}
        for spec in cfg.ensembles:
            material = load_material(spec.material or cfg.material)
            for name in spec.training_sets if spec.n else []:
                dataset = datasets.setdefault(name, load_dataset_cached(name))
                missing = sorted(set(material.species) - set(dataset.species))
                if missing:  # a model fitted on these data could not describe the material: refuse before any fit
                    raise InputError(
                        cfg.path,
                        f"ensemble.family={spec.family}.training_sets",
                        f"training data with every element of material '{material.name}' {list(material.species)}",
                        got=f"{name}: species {dataset.species}",
                    )
        for i, pot in enumerate(cfg.potentials):
            check_species(pot.name, calculator_species(pot.calculator), load_material(pot.material or cfg.material))
            try:  # importable, builds, returns a calculator: found now, not after the fits
                make_calculator(pot.calculator)
            except InputError as exc:
                raise InputError(cfg.path, f"potentials[{i}].calculator", exc.expected, got=pot.calculator) from None
        if not getattr(self, "_warned_size", False):
            self._warn_if_large()
            self._warned_size = True
        hashes = {name: store.add_dataset(dataset) for name, dataset in datasets.items()}
        members = [
            member
            for spec in cfg.ensembles
            for member in plan_models(spec, cfg.models_dir, hashes, spec.material or cfg.material)
        ]
        potentials = []
        for pot in cfg.potentials:
            material_spec = pot.material or cfg.material
            key = {"calculator": pot.calculator}
            if material_spec != cfg.material:  # the same potential may be benchmarked on several materials
                key["material"] = load_material(material_spec).name
            model_id = model_id_for("external", key, None, "")
            store.register_model(
                "external",
                {**key, "name": pot.name},
                path=pot.calculator,
                model_id=model_id,
                training_set_name=pot.name,
            )
            potentials.append((model_id, pot.calculator, material_spec))
        return members, potentials

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
            self._dask = _make_client(
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
        table = store.error_table()
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
        members, potentials = self._plan(store)
        cfg = self.config
        props_of = {m: self.properties(m) for m in cfg.materials()}
        if dynamics is not None:
            chosen, dynamics_props = dynamics
            members = [m for m in members if m.model_id in chosen]
            potentials = [p for p in potentials if p[0] in chosen]
            props_of = {m: dynamics_props for m in cfg.materials()}
        # stored keys hold the content of every input: property settings, datasets, reference table, model files
        self.base_keys = {id(p): evaluation_base_key(p, cfg.reference) for props in props_of.values() for p in props}
        self.model_keys = {model_id: model_content_key(spec) for model_id, spec, _ in potentials}
        self.model_materials = {m.model_id: m.material or cfg.material for m in members}
        self.model_materials.update({model_id: material for model_id, _, material in potentials})
        if dynamics is None:
            self.summary.n_models_planned = len(members) + len(potentials)
        stored_models = [(m, store.get_model(m.model_id)) for m in members]
        to_fit = [m for m, row in stored_models if row is None]
        fitted_ok = [
            (m.model_id, m.model_dir, m.material or cfg.material)
            for m, row in stored_models
            if row and row["status"] == "ok"
        ]
        for m, row in stored_models:
            if row:
                self.model_keys[m.model_id] = model_content_key(m.model_dir, str(row.get("model_file_hash") or ""))
        if dynamics is None:
            self.summary.n_fits_failed = sum(1 for _, row in stored_models if row and row["status"] != "ok")
        ready_models = fitted_ok + potentials
        family = {m.model_id: m.member.family for m in members}
        n_pairs = sum(len(props_of[self.model_materials[m]]) for m in family) + sum(
            len(props_of[material]) for _, _, material in potentials
        )
        n_fits_left = len(to_fit)
        # [store hook 1/5] the plan, so `mlipscope status` in another process counts what remains (hash None: a
        # model still to fit, whose evaluation keys are not known yet)
        store.record_run_plan(
            [
                (model_id, p.label, self._key(model_id, p) if model_id in self.model_keys else None)
                for model_id in [m.model_id for m in members] + [pot[0] for pot in potentials]
                for p in props_of[self.model_materials[model_id]]
            ],
            name=cfg.name,
            max_attempts=cfg.max_attempts,
            retry_failed=self.retry_failed,
            append=dynamics is not None,
        )

        def pending_props(model_id: str) -> list[Property]:
            props = props_of[self.model_materials[model_id]]
            todo = [
                p
                for p in props
                if store.needs_evaluation(
                    model_id,
                    p.label,
                    self._key(model_id, p),
                    max_attempts=cfg.max_attempts,
                    retry_failed=self.retry_failed,
                )
            ]
            self.summary.n_skipped_stored += len(props) - len(todo)
            return todo

        def n_props(model_id: str) -> int:
            return len(props_of[self.model_materials[model_id]])

        from dask.distributed import as_completed

        client = self._dask_client()
        futures = as_completed()
        submit = self._submission = Submission(
            client,
            futures,
            cfg.reference,
            cfg.task_timeout_s,
            self._key,
            family,
            grouped=cfg.group_tasks == "model" or (cfg.group_tasks == "auto" and n_pairs > GROUP_ABOVE),
            linear_batch=cfg.linear_batch,
            linear_batch_size=cfg.linear_batch_size,
            n_tasks=self.summary.n_tasks,
        )
        with (
            RunProgress(self.console, disable=not self.show_progress, interval_s=cfg.progress_interval_s) as progress,
            store.batch(),  # [store hook 2/5] results arriving together are written in one transaction
        ):
            progress.stage("fits", len(members), already_done=len(members) - len(to_fit))
            n_expected = sum(n_props(m.model_id) for m in members) + sum(n_props(p[0]) for p in potentials)
            progress.stage("evaluations", n_expected)
            already, ready_jobs = 0, []
            for model_id, model, _ in ready_models:
                todo = pending_props(model_id)
                already += n_props(model_id) - len(todo)
                ready_jobs.append((model_id, model, todo))
            submit.evaluations(ready_jobs)  # a resumed large run: its stored members' remaining pairs, grouped
            submit.fits(to_fit)
            progress.add_total("evaluations", 0)
            for _ in range(already):
                progress.advance("evaluations", True)

            def on_wait() -> None:  # [store hook 3/5] write buffered results, publish the snapshot (throttled)
                store.publish_snapshot()
                progress.tick()

            if n_fits_left == 0:
                submit.linear_batches()
            for future in self._completed(client, futures, on_wait=on_wait):
                if future.status not in ("finished", "error", "cancelled"):
                    # its result was on a worker that died: Dask computes it again; wait for it once more
                    futures.add(future)
                    continue
                result = self._result_or_lost(future, client)
                if result is _RESULT_LOST:
                    # the worker holding it died between "finished" and our fetch: Dask computes it again
                    futures.add(future)
                    continue
                fits = [result] if isinstance(result, FitOutcome) else result
                if fits and isinstance(fits[0], FitOutcome):
                    jobs = []
                    for fit in fits:
                        self._store_fit(store, fit)
                        self._log_event("fit", fit.planned.model_id, fit.status)
                        progress.advance("fits", fit.status == "ok")
                        n_fits_left -= 1
                        if fit.status != "ok":
                            progress.add_total("evaluations", -n_props(fit.planned.model_id))
                            continue
                        planned = fit.planned
                        self.model_keys[planned.model_id] = model_content_key(planned.model_dir, fit.model_file_hash)
                        todo = pending_props(planned.model_id)
                        for _ in range(n_props(planned.model_id) - len(todo)):
                            progress.advance("evaluations", True)
                        jobs.append((planned.model_id, planned.model_dir, todo))
                    submit.evaluations(jobs)
                    if n_fits_left == 0:  # every member of every descriptor group is known now
                        submit.linear_batches()
                else:
                    for model_id, config_hash, outcome in result if isinstance(result, list) else [result]:
                        self._store_eval(store, model_id, config_hash, outcome)
                        self._log_event(outcome.property_label, model_id, outcome.status)
                        progress.advance("evaluations", outcome.ok)
                future.release()
        store.publish_snapshot(force=True)  # [store hook 4/5] every result of the run readable at once

    def _completed(self, client, futures, on_wait=lambda: None):
        """Finished futures as they come, watching the cluster between them: a lost worker is logged (Dask runs
        its tasks elsewhere); with no worker left the run waits ``run.no_worker_wait_s`` and then stops; a
        scheduler that stops answering ends the run with one line (everything finished is stored: rerun to
        resume)."""
        from mlipscope.errors import MlipscopeError

        workers = set(client.scheduler_info().get("workers", {}))
        alone_since = None
        last_check = time.monotonic()
        while True:
            batch = futures.next_batch(block=False)
            if batch:
                yield from batch
                continue
            if futures.is_empty():
                return
            on_wait()  # [store hook 5/5] before the sleep: results just handed over are stored at once
            time.sleep(0.05)
            if time.monotonic() - last_check < 2.0:
                continue
            last_check = time.monotonic()
            try:
                now = set(client.scheduler_info().get("workers", {}))
            except Exception as exc:  # noqa: BLE001 - any comm error means the scheduler is gone
                raise MlipscopeError(self._scheduler_lost(exc)) from None
            if client.status not in ("running", "connecting", "newly-created"):
                raise MlipscopeError(self._scheduler_lost(client.status))
            for lost in sorted(workers - now):
                self.console.print(f"[yellow]Dask worker lost: {lost}; its tasks run again on the other workers")
                log.warning("Dask worker lost: %s", lost)
            workers = now
            if now:
                alone_since = None
                continue
            alone_since = alone_since or time.monotonic()
            waited = time.monotonic() - alone_since
            if waited == 0 or int(waited) % 30 < 2:
                self.console.print(
                    f"[yellow]no Dask worker left; waiting up to {self.config.no_worker_wait_s:g} s for one"
                )
            if waited > self.config.no_worker_wait_s:
                raise MlipscopeError(
                    f"no Dask worker for {waited:.0f} s (run.no_worker_wait_s); every finished result is stored "
                    f"in {self.config.db_path}: start workers and run again to resume"
                )

    def _scheduler_lost(self, why: object) -> str:
        return (
            f"the Dask scheduler stopped answering ({why}); every finished result is stored in "
            f"{self.config.db_path}: run again to resume"
        )

    def _result_or_lost(self, future, client):
        """The task's result; a task whose workers kept dying (Dask's KilledWorker) comes back as a failure; a
        task cancelled because the scheduler is gone ends the run (its result is not stored: rerun to resume)."""
        from mlipscope.errors import MlipscopeError

        try:
            # a bounded fetch: the worker holding a finished result can die before we gather it, and an unbounded
            # ``result()`` then waits for a recomputation that, with no worker left, never comes
            waited_s = 0.0
            while True:
                try:
                    return future.result(timeout=_FETCH_POLL_S)
                except TimeoutError:
                    waited_s += _FETCH_POLL_S
                    if future.status != "finished":
                        return _RESULT_LOST
                    if waited_s >= _FETCH_GIVE_UP_S:
                        raise TimeoutError(f"its result could not be fetched in {waited_s:.0f} s") from None
        except Exception as exc:  # noqa: BLE001 - a lost task is a (transient) failed result, not the run's end
            if client.status != "running" or "Cancelled" in type(exc).__name__:
                raise MlipscopeError(self._scheduler_lost(f"{type(exc).__name__}: {exc}"[:200])) from None
            lost = self._submission.lost(future.key, f"worker lost: {type(exc).__name__}: {exc}"[:500])
            if lost is None:
                raise
            return lost

    def _log_event(self, task: str, model_id: str, status: str) -> None:
        """Append one line per stored result to ``<out>/events.jsonl`` (a tail-able record of the run's progress)."""
        self.config.out_dir.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"time": time.time(), "task": task, "model_id": model_id, "status": status})
        with open(self.config.out_dir / "events.jsonl", "a") as fh:
            fh.write(line + "\n")

    def _key(self, model_id: str, prop: Property) -> str:
        return evaluation_key(self.base_keys[id(prop)], self.model_keys.get(model_id, ""))

    def _store_fit(self, store, outcome: FitOutcome) -> None:
        from mlipscope.store.duckdb_store import software_versions

        p, m = outcome.planned, outcome.planned.member
        store.register_model(
            m.family,
            m.hyperparameters,
            seed=m.seed,
            training_set_hash=p.training_set_hash,
            training_set_name=_dataset_name(m.training_set),
            fit_wall_time_s=outcome.fit_wall_time_s,
            path=p.model_dir,
            model_file_hash=outcome.model_file_hash,
            status=outcome.status,
            reason=outcome.reason,
            eval_cost_s_per_atom_step=outcome.eval_cost_s_per_atom_step,
            software_versions=software_versions(),
            model_id=p.model_id,
        )
        self.summary.fit_task_time_s += outcome.task_wall_time_s
        if outcome.status == "ok":
            self.summary.fit_time_s += outcome.fit_wall_time_s
        else:
            self.summary.n_fits_failed += 1
            self._failure_line(f"{p.model_id} fit ({m.family}): {outcome.reason}")
            self.summary.failure_reasons[f"fit: {_short(outcome.reason)}"] = (
                self.summary.failure_reasons.get(f"fit: {_short(outcome.reason)}", 0) + 1
            )

    def _failure_line(self, text: str) -> None:
        """One line per failure with its reason: in the log, and on the console unless the run is quiet."""
        log.warning("failed: %s", text)
        if self.show_progress:
            self.console.print(f"[red]failed[/]: {text}", highlight=False, soft_wrap=True)

    def _store_eval(self, store, model_id: str, config_hash: str, outcome: EvaluationOutcome) -> None:
        from mlipscope.store.duckdb_store import software_versions

        self.summary.n_evaluations += 1
        if math.isfinite(outcome.wall_time_s):
            self.summary.evaluation_task_time_s += outcome.wall_time_s
        if outcome.ok:
            store.add_evaluation(
                model_id,
                outcome.property_label,
                config_hash,
                outcome.records,
                wall_time_s=outcome.wall_time_s,
                details=outcome.details,
                software_versions=software_versions(),
            )
            self.summary.calculator_time_s += outcome.calculator_time_s
        else:
            store.add_failed_evaluation(
                model_id,
                outcome.property_label,
                config_hash,
                outcome.reason,
                kind=outcome.failure_kind,
                wall_time_s=outcome.wall_time_s,
                details=outcome.details,
            )
            self.summary.n_evaluations_failed += 1
            self._failure_line(f"{model_id} {outcome.property_label}: {outcome.reason}")
            key = f"{outcome.property_label}: {_short(outcome.reason)}"
            self.summary.failure_reasons[key] = self.summary.failure_reasons.get(key, 0) + 1

    def _report(self, store) -> Path | None:
        cfg = self.config
        cfg.out_dir.mkdir(parents=True, exist_ok=True)
        table_path = cfg.out_dir / "errors.csv"
        store.export_error_table(table_path)
        models = store.models()
        self.summary.n_models_ok = int((models["status"] == "ok").sum()) if len(models) else 0
        failures = store.failures()
        kinds = Counter(FailureKind(k).group for k in failures["failure_kind"]) if len(failures) else Counter()
        run_summary = {
            **self.summary.as_dict(),
            "stored_failed_evaluations_deterministic": kinds.get("deterministic", 0),
            "stored_failed_evaluations_transient": kinds.get("transient", 0),
            "stored_failed_evaluations_by_property": dict(Counter(failures["property_label"])) if len(failures) else {},
        }
        table = with_survival_columns(store, store.error_table(include_hyperparameters=True))
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


@contextlib.contextmanager
def _run_log(path: Path):
    """Log the run (``mlipscope.*`` loggers at INFO, with timestamps) to ``path`` while it lasts."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    package_log = logging.getLogger("mlipscope")
    old_level = package_log.level
    package_log.addHandler(handler)
    if package_log.getEffectiveLevel() > logging.INFO:
        package_log.setLevel(logging.INFO)
    try:
        yield
    finally:
        package_log.removeHandler(handler)
        package_log.setLevel(old_level)
        handler.close()


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
    return summary
