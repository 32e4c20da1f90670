"""Command-line interface: ``mlipscope benchmark | sample | run | status | analyze | export | uncertainty | suites |
materials``."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from mlipscope import __version__
from mlipscope.cli_help import MLIP_FAMILIES, NAMED_CALCULATORS, finish_help
from mlipscope.errors import MlipscopeError

#: ``benchmark``'s per-property time limit when --time-limit is not given: a foundation model's suite takes
#: minutes, so a property past half an hour is hung or far too slow for this machine
BENCHMARK_TIME_LIMIT_S = 1800.0


def _add_benchmark(sub) -> None:
    p = sub.add_parser("benchmark", help="evaluate one potential on a property suite")
    p.add_argument(
        "--calculator",
        required=True,
        help=f"a named calculator: {NAMED_CALCULATORS}; or 'lammps:pair_style ...;pair_coeff ...' | module:function "
        "| a fitted model directory",
    )
    p.add_argument("--material", default=None, help="shipped material name or material YAML file (default: si)")
    p.add_argument(
        "--suite",
        default="default",
        help="default | quick | dynamics | full, or <material>-<kind> (`mlipscope suites`)",
    )
    p.add_argument("--properties", nargs="*", help="subset of the suite's property labels")
    p.add_argument(
        "--reference",
        default="material",
        help="material (the material's DFT values) | <material>-dft | a YAML/JSON file | calc:<spec> | none",
    )
    p.add_argument("--db", default="results.duckdb", help="results database (DuckDB file)")
    p.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help=f"per-property time limit, s (default: {BENCHMARK_TIME_LIMIT_S:g}; a property past it is stored as a "
        "timeout failure)",
    )
    p.add_argument("--retry-failed", action="store_true", help="evaluate stored failures again")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="LABEL.SETTING=VALUE",
        help="change a property setting for this run (repeatable; results stored as a model of their own), e.g. "
        "vacancy_64.fmax=0.01, eos.n_points=11, '*.fmax=0.01' (every property with an fmax); "
        "settings: `mlipscope suites`",
    )
    p.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")


def _add_run(sub) -> None:
    p = sub.add_parser("run", help="the main job: sample, fit, benchmark, analyse, report (from a TOML config)")
    p.add_argument("config", type=Path)
    p.add_argument("--quick", action="store_true", help="use the config's quick profile")
    p.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler (tcp://host:port)")
    p.add_argument("--workers", type=int, default=None, help="LocalCluster workers (default: number of cores)")
    p.add_argument("--db", type=Path, default=None, help="override the config's database path")
    p.add_argument("--retry-failed", action="store_true", help="evaluate every stored failure again")
    p.add_argument("--out", type=Path, default=None, help="override the config's output directory")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress or failure lines (errors and summary only)")
    p.add_argument("--log-file", type=Path, default=None, help="the run's log (default: <out>/run.log)")
    p.add_argument(
        "--dashboard", type=int, nargs="?", const=8787, default=None, metavar="PORT",
        help="serve the LocalCluster's Dask dashboard (default port 8787; 0: any free port); its address is printed",
    )  # fmt: skip


def _add_sample(sub) -> None:
    p = sub.add_parser("sample", help="fit an ensemble of one MLIP family over sampled hyperparameters")
    p.add_argument("--family", required=True, help=f"the MLIP family to fit: {MLIP_FAMILIES}")
    p.add_argument("--n", type=int, required=True, help="number of hyperparameter points")
    p.add_argument(
        "--training-sets",
        nargs="+",
        default=["si_original_train"],
        help="shipped example names or extxyz paths",
    )
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="fit seeds: each point is fitted once per seed")
    p.add_argument("--sampler", choices=["random", "lhs", "sobol"], default="sobol", help="hyperparameter sampler")
    p.add_argument("--sampler-seed", type=int, default=0, help="seed of the sampler")
    p.add_argument("--db", type=Path, default=Path("results.duckdb"), help="results database (DuckDB file)")
    p.add_argument("--models-dir", type=Path, default=Path("models"), help="folder for the fitted models")


def _add_analyze(sub) -> None:
    p = sub.add_parser("analyze", help="analyse an ensemble's errors and write an HTML report")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--db", type=Path, help="results database")
    src.add_argument("--table", type=Path, help="error table CSV (one row per model, one column per property)")
    p.add_argument("--config", type=Path, default=None, help="analysis settings (YAML)")
    p.add_argument("--out", type=Path, default=Path("report"), help="folder for the HTML report, tables and figures")
    p.add_argument("--title", default="mlipscope report", help="the report's title")
    db = p.add_argument_group("results databases (--db)")
    db.add_argument(
        "--reference",
        default=None,
        help="reference whose acceptable errors judge the values: material | <material>-dft | a YAML/JSON file "
        "(default: the one each model was benchmarked against)",
    )
    db.add_argument("--material", default=None, help="material of --reference (name or YAML file; default: si)")
    table = p.add_argument_group("error tables from elsewhere (--table)")
    table.add_argument("--type-column", default=None, help="column holding each model's MLIP type (default: family)")
    table.add_argument("--id-column", default=None, help="column holding model ids (default: model_id or column 1)")
    table.add_argument(
        "--metadata-columns", default=None, help="comma-separated columns (or globs, e.g. 'hp_*') that are not errors"
    )
    table.add_argument(
        "--threshold-row",
        default=None,
        help="a row of acceptable errors (e.g. DFT), found by its id or its type column: thresholds, not a model",
    )
    table.add_argument(
        "--transform",
        choices=["absolute", "log10"],
        default="absolute",
        help="what the table holds: absolute errors or log10 |errors|",
    )


def _add_export(sub) -> None:
    p = sub.add_parser("export", help="write a results database's tables as CSV, Parquet or JSON files")
    p.add_argument("--db", type=Path, required=True, help="results database")
    p.add_argument("--out", type=Path, default=Path("export"), help="folder for models/values/errors/failures")
    p.add_argument("--format", choices=["csv", "parquet", "json"], default="csv", help="file format of the tables")
    p.add_argument(
        "--structures", type=Path, default=None, help="also write the relaxed structures to this ASE database (.db)"
    )


def _add_uncertainty(sub) -> None:
    p = sub.add_parser(
        "uncertainty", help="write the frames the ensemble disagrees on most as extended XYZ, for DFT labelling"
    )
    p.add_argument("--db", type=Path, required=True, help="results database")
    p.add_argument("--out", type=Path, default=Path("uncertain_frames"), help="folder for the .extxyz files")
    p.add_argument("--top", type=int, default=20, help="frames per dataset, most uncertain first")


def _add_status(sub) -> None:
    p = sub.add_parser("status", help="a run's progress: done / failed / remaining, failure reasons (works mid-run)")
    p.add_argument("--db", type=Path, required=True, help="results database (its snapshot while a run writes it)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON (default: text lines)")


def _readable_db(path: Path) -> Path:
    """The database, or the snapshot its writer published while a run holds it (said on stderr)."""
    from mlipscope.store.duckdb_store import readable_database

    source, note = readable_database(path)
    if note:
        print(f"mlipscope: {note}", file=sys.stderr)
    return source


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlipscope", description="benchmark machine-learning interatomic potentials")
    parser.add_argument("--version", action="version", version=f"mlipscope {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_benchmark(sub)
    _add_run(sub)
    _add_sample(sub)
    _add_analyze(sub)
    _add_export(sub)
    _add_uncertainty(sub)
    _add_status(sub)
    p = sub.add_parser("suites", help="list the property suites and their properties")
    p.add_argument("--suite", default=None, help="list only this suite (default: every suite)")
    p.add_argument(
        "--material", default=None, help="list the suites of this material, name or YAML file (default: all shipped)"
    )
    sub.add_parser("materials", help="list the shipped materials")
    finish_help(parser, sub)
    return parser


def _fmt(x: float, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.{digits}g}"


def cmd_benchmark(args) -> int:
    from mlipscope.runner.sandbox import worker_sandbox

    worker_sandbox().start()  # the evaluation child starts and imports while this process imports and reads inputs
    from rich.console import Console

    from mlipscope.calculators import calculator_species, check_species
    from mlipscope.runner.benchmark import benchmark_calculator, load_reference, setting_overrides, suite_properties
    from mlipscope.runner.calculator_probe import PROBE_TIME_LIMIT_S, probe_calculator
    from mlipscope.runner.engine import retry_hint
    from mlipscope.runner.progress import BenchmarkProgress
    from mlipscope.store.duckdb_store import ResultsStore

    console = Console(stderr=True)
    if args.time_limit is not None:  # finite and bounded: ``inf`` would never end a hang (and fails deep inside)
        from mlipscope.validation import check_seconds

        check_seconds(args.time_limit, "mlipscope benchmark", "--time-limit")
    time_limit_s = BENCHMARK_TIME_LIMIT_S if args.time_limit is None else args.time_limit
    overrides = setting_overrides(args.suite, args.properties, args.material, args.set)
    properties = suite_properties(args.suite, args.properties, material=args.material, overrides=overrides)
    material = properties[0].material if properties else None
    if material is not None:
        check_species(args.calculator, calculator_species(args.calculator), material)
    reference = load_reference(args.reference, material)
    # bad specs fail here, before any output; built in the sandbox child: a factory that crashes or hangs stops nothing
    probe_calculator(args.calculator, args.time_limit or PROBE_TIME_LIMIT_S)
    # progress on stderr (bars in a terminal; a line per finished property, also with --json: stdout is the JSON)
    with ResultsStore(args.db) as store, BenchmarkProgress(len(properties), console) as progress:
        run = benchmark_calculator(
            args.calculator,
            properties,
            reference,
            store,
            time_limit_s=time_limit_s,
            on_progress=lambda label, outcome: progress.finished(label, None if outcome is None else outcome.status),
            on_property_progress=progress.inside,
            isolate_with_reference=args.reference,
            retry_failed=args.retry_failed,
            settings=overrides,
        )
        # this run's evaluations only: the model's evaluations stored with other inputs (a changed reference file)
        # are not this benchmark's
        rows = store.evaluation_rows(run.model_id, run.config_hashes)
    _print_benchmark(args, run, rows, properties, reference, console)
    if hint := retry_hint(run.stored_failures_skipped):  # on stderr: --json output stays one document
        console.print(hint)
    return 0


def _print_benchmark(args, run, rows, properties, reference, console) -> None:
    """The table (or JSON) of one benchmark: each value with its acceptable error and whether it is within, and
    the verdict (N of M within, the worst misses)."""
    from rich.console import Console
    from rich.table import Table

    from mlipscope.properties.acceptable_errors import acceptable_error_map
    from mlipscope.report.verdict import row_dict, verdict

    result = verdict(rows, acceptable_error_map(properties, reference))
    if args.json:  # "results": the stored rows as before; "values" and "verdict": each value judged, the summary
        out = {
            "model_id": run.model_id,
            "calculator": args.calculator,
            "verdict": result.as_dict(),
            "values": [row_dict(r) for r in result.rows],
            "results": rows,
        }
        print(json.dumps(out, indent=1))
        return
    table = Table(title=f"{args.calculator} — suite {args.suite} (model {run.model_id})")
    table.add_column("value", no_wrap=True)
    for col in ("model", "reference", "unit", "|error|", "acceptable", "verdict"):
        table.add_column(col, justify="left" if col in ("unit", "verdict") else "right")
    for r in result.rows:
        mark = "—" if r.within is None else ("[green]within" if r.within else f"[red]outside ({r.miss_ratio:.3g}×)")
        table.add_row(r.name, _fmt(r.value), _fmt(r.reference), r.unit, _fmt(r.absolute_error, 3),
                      _fmt(r.acceptable_error, 3) if math.isfinite(r.acceptable_error) else "—", mark)  # fmt: skip
    failed = {(r["property_label"], r["reason"]): None for r in rows if r["status"] != "ok"}  # ordered, once each
    for label, reason in failed:
        table.add_row(str(label), "", "", "", "", "", f"[red]failed: {reason}")
    Console(width=max(Console().width, 120)).print(table)
    console.print(f"verdict: {result.summary_line()}")
    n_failed = sum(not o.ok for o in run.outcomes)
    console.print(f"{len(run.outcomes)} evaluated, {len(run.skipped)} already stored, {n_failed} failed → {args.db}")


def cmd_suites(args) -> int:
    from mlipscope.materials import load_material
    from mlipscope.properties.suite import SUITE_KINDS, split_suite_name, suite_entries, suite_names

    if args.material:
        material = load_material(args.material)
        names = [f"{material.name}-{kind}" for kind in SUITE_KINDS]
    else:
        material, names = None, suite_names()
    if args.suite:  # one suite: a full name, or a kind of the chosen (or default) material
        from mlipscope.errors import InputError
        from mlipscope.validation import did_you_mean

        known = [*names, *SUITE_KINDS]
        if args.suite not in known:
            expected = f"one of {known}{did_you_mean(args.suite, known)}"
            raise InputError(args.material, "--suite", expected, got=args.suite)
        chosen, kind = split_suite_name(args.suite, material)
        names = [f"{chosen.name}-{kind}"]
    for name in names:
        print(f"{name}:")
        for e in suite_entries(name, material=material):
            config = ", ".join(f"{k}={v}" for k, v in e.config.items())
            print(f"  {e.label:28s} {e.target.rsplit('.', 1)[-1]}({config})")
    return 0


def cmd_materials(args) -> int:
    from mlipscope.materials import load_material, shipped_material_names

    rows = [("name", "species", "prototype", "description", "datasets")]
    for name in shipped_material_names():
        m = load_material(name)
        sets = ", ".join(f"{role} {len(v)}" for role, v in m.datasets.items() if v)
        proto = m.structure.prototype or "structure file"
        rows.append((m.name, "-".join(m.species), proto, m.description, sets or "none"))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:  # the header first, columns aligned on the longest entry
        print("  ".join(f"{r[i]:{widths[i]}s}" for i in range(3)) + f"  {r[3]}  [{r[4]}]")
    return 0


def cmd_run(args) -> int:
    from mlipscope.runner.main_job import run_from_config
    from mlipscope.runner.scheduler_address import check_scheduler_address

    if args.scheduler:  # before anything is read or created: a wrong address is one error within seconds
        check_scheduler_address(args.scheduler)
    run_from_config(
        args.config,
        quick=args.quick,
        scheduler=args.scheduler,
        n_workers=args.workers,
        retry_failed=args.retry_failed,
        db_path=args.db,
        out_dir=args.out,
        quiet=args.quiet,
        log_file=args.log_file,
        dashboard=args.dashboard,
    )
    return 0


def cmd_sample(args) -> int:
    from mlipscope.runner.sample import sample_command

    sample_command(
        family=args.family,
        n=args.n,
        training_sets=args.training_sets,
        seeds=args.seeds,
        sampler=args.sampler,
        sampler_seed=args.sampler_seed,
        db_path=args.db,
        models_dir=args.models_dir,
    )
    return 0


def cmd_analyze(args) -> int:
    from mlipscope.runner.reporting import analyze_command

    if args.db is not None and (args.id_column or args.metadata_columns or args.threshold_row):
        from mlipscope.errors import InputError

        raise InputError(args.db, "--id-column/--metadata-columns/--threshold-row", "--table (they describe a CSV)")
    if args.table is not None and (args.reference or args.material):
        from mlipscope.errors import InputError

        raise InputError(args.table, "--reference/--material", "--db (they name the reference of stored models)")
    path = analyze_command(
        db_path=None if args.db is None else _readable_db(args.db),
        table_path=args.table,
        config_path=args.config,
        out_dir=args.out,
        title=args.title,
        type_column=args.type_column,
        id_column=args.id_column,
        metadata_columns=[c.strip() for c in args.metadata_columns.split(",")] if args.metadata_columns else None,
        threshold_row=args.threshold_row,
        values=args.transform,
        reference=args.reference,
        material=args.material,
    )
    print(f"report written to {path}")
    return 0


def cmd_export(args) -> int:
    from mlipscope.report.export import export_results

    db = _readable_db(args.db)
    for name, path in export_results(db, args.out, args.format).items():
        print(f"{name}: {path}")
    if args.structures is not None:
        from mlipscope.report.export import export_structures

        print(f"structures: {export_structures(db, args.structures)} in {args.structures}")
    return 0


def cmd_uncertainty(args) -> int:
    from mlipscope.report.uncertainty_export import uncertainty_command

    written, notes = uncertainty_command(_readable_db(args.db), args.out, args.top)
    for note in notes:
        print(f"mlipscope: {note}", file=sys.stderr)
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0


def cmd_status(args) -> int:
    from mlipscope.store.duckdb_store import ResultsStore

    with ResultsStore.open_for_reading(args.db) as store:
        status = store.run_status()
    print(json.dumps(status.as_dict(), indent=1) if args.json else "\n".join(status.lines()))
    return 0


COMMANDS = {
    "benchmark": cmd_benchmark,
    "suites": cmd_suites,
    "materials": cmd_materials,
    "run": cmd_run,
    "sample": cmd_sample,
    "analyze": cmd_analyze,
    "export": cmd_export,
    "uncertainty": cmd_uncertainty,
    "status": cmd_status,
}


def _stored_in(args) -> str | None:
    """Where a command that was stopped keeps what it finished (for its one line), None for read-only commands."""
    if args.command in ("benchmark", "sample"):
        return str(args.db)
    if args.command == "run":
        return str(args.db) if args.db is not None else f"the database of {args.config}"
    return None


def main(argv: list[str] | None = None) -> int:
    import signal

    from mlipscope.signals import Stopped, stop_cleanly, stopped_message

    args = build_parser().parse_args(argv)

    def describe(stop: Stopped) -> str:
        return stopped_message(stop, _stored_in(args))

    try:
        # Ctrl-C / SIGTERM: one line, exit 130 / 143, no traceback from this process or its workers
        with stop_cleanly(describe, starts_processes=args.command in ("run", "sample")):
            return COMMANDS[args.command](args)
    except MlipscopeError as exc:
        print(f"mlipscope: error: {exc}", file=sys.stderr)
        return 2
    except (Stopped, KeyboardInterrupt) as exc:  # KeyboardInterrupt: a Ctrl-C that reached Python's own handler
        stop = exc if isinstance(exc, Stopped) else Stopped(signal.SIGINT)
        print(describe(stop), file=sys.stderr)
        return stop.exit_code


#: commands whose every resource (store, sandbox child, temporary files) is closed by a ``with`` block or an exit
#: handler, so the script may skip the interpreter's teardown after them
_FAST_EXIT_COMMANDS = ("benchmark",)


def script_main() -> None:
    """The ``mlipscope`` script and ``python -m mlipscope``: :func:`main`, then the exit. After ``benchmark`` the
    exit handlers run (they end the sandbox child and remove temporary files), the output is flushed, and the process
    ends without the interpreter's teardown: unloading numpy, pandas, DuckDB and rich is ~0.1 s of a one-property
    benchmark's 1 s. Other commands (a Dask cluster, stores closed by their finalisers) exit as usual."""
    code = main()
    if len(sys.argv) > 1 and sys.argv[1] in _FAST_EXIT_COMMANDS:
        import atexit
        import contextlib
        import os

        atexit._run_exitfuncs()  # what a normal exit runs first: sandbox children, weakref finalizers, logging
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe (``| head``) has nothing left to take
                stream.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    script_main()
