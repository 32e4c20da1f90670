"""Readers beside a writer: while one process holds the results database and writes it in batches,
`mlipscope status`, `analyze --db` and `export` in other processes read the snapshot it publishes (correct counts,
no lock error); batched inserts store exactly what one-by-one inserts store; status counts done / failed /
remaining with failure reasons grouped."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from mlipscope.analysis.table import wide_error_table
from mlipscope.cli import main
from mlipscope.errors import InputError
from mlipscope.failures import FailureKind
from mlipscope.properties.base import ErrorRecord
from mlipscope.store.duckdb_store import (
    DatabaseLockedError,
    EvaluationResult,
    ResultsStore,
    readable_database,
    snapshot_path_for,
)

LABELS = ("eos", "elastic", "vacancy", "surface")


def _records(label: str, x: float) -> list[ErrorRecord]:
    return [
        ErrorRecord.compare(f"{label}.a", 1.0 + x, 1.0, "eV", "dft"),
        ErrorRecord.compare(f"{label}.b", 2.0 * x, 0.0, "GPa"),  # reference 0: relative error NaN
        ErrorRecord.compare(f"{label}.c", math.nan, 3.0, "Å"),  # no value: errors NaN
    ]


def _results(models: list[str]) -> list[EvaluationResult]:
    """Ok and failed evaluations, one key stored twice (a retried failure that then succeeds)."""
    out = []
    for i, m in enumerate(models):
        for j, label in enumerate(LABELS):
            if (i + j) % 5 == 0:
                out.append(
                    EvaluationResult(
                        m,
                        label,
                        "h",
                        status="failed",
                        reason="timeout after 5 s",
                        wall_time_s=5,
                        failure_kind=FailureKind.TIMEOUT,
                    )
                )
            else:
                out.append(EvaluationResult(m, label, "h", _records(label, 0.1 * i + j), wall_time_s=0.5 + i))
    out.append(EvaluationResult(models[0], "eos", "h", _records("eos", 9.0), wall_time_s=1.0, details={"k": [1, 2]}))
    return out


def _fill(store: ResultsStore, n_models: int = 6) -> list[str]:
    return [store.register_model("snap", {"i": i}, seed=i, training_set_name="si") for i in range(n_models)]


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["created"]).reset_index(drop=True)


def _store_one(store: ResultsStore, r: EvaluationResult) -> None:
    if r.status == "ok":
        store.add_evaluation(
            r.model_id, r.property_label, r.config_hash, r.records, wall_time_s=r.wall_time_s, details=r.details
        )
    else:
        store.add_failed_evaluation(
            r.model_id, r.property_label, r.config_hash, r.reason, kind=r.failure_kind, wall_time_s=r.wall_time_s
        )


def _attempts(store: ResultsStore) -> dict[tuple[str, str], int]:
    rows = store._con.execute("SELECT model_id, property_label, attempts FROM evaluations").fetchall()
    return {(m, p): a for m, p, a in rows}


def test_batched_inserts_store_what_one_by_one_inserts_store(tmp_path):
    stores = {}
    for mode in ("one_by_one", "batch", "add_evaluations"):
        store = ResultsStore(tmp_path / f"{mode}.duckdb")
        models = _fill(store)
        # a stored failure that the batch replaces: attempts count on, old values go
        store.add_failed_evaluation(models[1], "elastic", "h", "crashed: segfault", kind=FailureKind.CRASHED)
        results = _results(models)
        if mode == "one_by_one":
            for r in results:
                _store_one(store, r)
        elif mode == "batch":
            with store.batch():
                for r in results:
                    _store_one(store, r)
                    assert store.has_evaluation(r.model_id, r.property_label, "h")  # reads see the buffer
                assert store._con.execute("SELECT count(*) FROM evaluations").fetchall() == [(1,)]  # not written yet
                assert store.evaluation_details(models[0], "eos", "h") == {"k": [1, 2]}
                assert not store.needs_evaluation(models[0], "eos", "h")
        else:
            assert store.add_evaluations(results) == len(results)
        stores[mode] = store
    ref = stores["one_by_one"]
    for mode, store in stores.items():
        pd.testing.assert_frame_equal(_comparable(store.evaluations()), _comparable(ref.evaluations()), obj=mode)
        pd.testing.assert_frame_equal(_comparable(store.failures()), _comparable(ref.failures()), obj=mode)
        wide = [wide_error_table(s.records(), s.models()) for s in (store, ref)]
        pd.testing.assert_frame_equal(wide[0], wide[1], obj=mode)
        assert _attempts(store) == _attempts(ref)
        nan_stored = store._con.execute("SELECT count(*) FROM property_values WHERE isnan(value)").fetchall()
        assert nan_stored[0][0] > 0  # NaN stays NaN (not NULL) in every write path
    attempts = _attempts(ref)
    assert len(attempts) == 6 * len(LABELS)
    # stored twice in the batch (a failure, then a success), and a stored failure replaced: two attempts each
    assert attempts[(models[0], "eos")] == 2 and attempts[(models[1], "elastic")] == 2
    assert sum(attempts.values()) == 6 * len(LABELS) + 2
    assert ref.evaluations().query("status == 'failed'")["reason"].unique().tolist() == ["timeout after 5 s"]
    for store in stores.values():
        store.close()


def test_batch_errors_and_writes_at_exit(tmp_path):
    with ResultsStore(tmp_path / "r.duckdb") as store:
        (model,) = _fill(store, 1)
        with pytest.raises(InputError, match="a registered model"), store.batch():
            store.add_evaluation("snap-000000000000", "eos", "h", _records("eos", 1.0), wall_time_s=1)
        with pytest.raises(InputError, match="max_rows"), store.batch(max_rows=0):
            pass
        with pytest.raises(RuntimeError), store.batch():
            store.add_evaluation(model, "eos", "h", _records("eos", 1.0), wall_time_s=1)
            raise RuntimeError("the caller failed: its finished results are still written")
        assert len(store.evaluations()) == 3
        with store.batch(max_rows=2):  # full batches are written as they fill
            for label in LABELS:
                store.add_failed_evaluation(model, label, "h2", "boom", kind=FailureKind.ERROR)
            assert store._con.execute("SELECT count(*) FROM evaluations").fetchall()[0][0] == 1 + 4
        with pytest.raises(InputError, match="status"):
            store.add_evaluations([EvaluationResult(model, "eos", "h", status="maybe")])


def test_status_counts_done_failed_remaining_and_reasons(tmp_path):
    path = tmp_path / "r.duckdb"
    with ResultsStore(path) as store:
        a, b, broken = _fill(store, 3)
        store.update_model(broken, status="failed", reason="singular matrix (at snap.py:12)")
        to_fit = "snap-0123456789ab"  # planned, not fitted yet: no row
        assert store.run_status().evaluations == {"stored": 0, "done": 0, "failed": 0}
        # stored by an earlier run: ok; transient failure with attempts left (run again: remaining); deterministic
        # failure (stays: failed); a stale config hash (run again: remaining)
        store.add_evaluation(a, "eos", "h-eos", _records("eos", 1.0), wall_time_s=1)
        store.add_failed_evaluation(a, "elastic", "h-elastic", "timeout after 300 s", kind=FailureKind.TIMEOUT)
        store.add_failed_evaluation(
            a, "vacancy", "h-vacancy", "EvaluationError: exploded (at md.py:3)", kind=FailureKind.NON_PHYSICAL
        )
        store.add_evaluation(a, "surface", "h-old", _records("surface", 1.0), wall_time_s=1)
        plan = [(m, label, f"h-{label}") for m in (a, b, broken) for label in LABELS]
        plan += [(to_fit, label, None) for label in LABELS]
        assert store.record_run_plan(plan, name="si", max_attempts=2) == 16
        time.sleep(0.01)
        store.add_evaluation(b, "eos", "h-eos", _records("eos", 2.0), wall_time_s=1)  # this run
        store.add_failed_evaluation(
            b, "elastic", "h-elastic", "EvaluationError: exploded (at md.py:9)", kind=FailureKind.NON_PHYSICAL
        )
        status = store.run_status()
        assert status.evaluations == {"planned": 16, "done": 2, "failed": 2, "remaining": 8, "not_run_fit_failed": 4}
        assert status.models == {"planned": 4, "ready": 2, "fit_failed": 1, "to_fit": 1}
        assert status.plan_name == "si" and status.rate_per_min > 0 and status.eta_s > 0
        reasons = {(r["stage"], r["reason"]): (r["count"], r["kind"]) for r in status.failure_reasons}
        assert reasons == {
            ("vacancy", "EvaluationError: exploded"): (1, "deterministic"),
            ("elastic", "EvaluationError: exploded"): (1, "deterministic"),
            ("fit (snap)", "singular matrix"): (1, "deterministic"),
        }
        # the model still to fit is fitted and evaluated: any config hash counts
        store.register_model("snap", {"late": True}, model_id=to_fit)
        store.add_evaluations([EvaluationResult(to_fit, label, "h-new", _records(label, 1.0)) for label in LABELS])
        assert store.run_status().evaluations["done"] == 2 + 4
        # with retry_failed every failure stored before the plan is run again
        store.record_run_plan(plan, retry_failed=True)
        assert store.run_status().evaluations["failed"] == 0
        with pytest.raises(InputError, match="run plan"):
            store.record_run_plan([("m", "eos")])
    text = "\n".join(status.lines())
    assert "remaining 8" in text and "EvaluationError: exploded" in text


_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from mlipscope.failures import FailureKind
    from mlipscope.properties.base import ErrorRecord
    from mlipscope.store.duckdb_store import ResultsStore, model_id_for

    db, signals, n_models, n_batches = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    labels = ["eos", "elastic", "vacancy"]

    def wait_for(name):
        deadline = time.monotonic() + 60
        while not (signals / name).exists():
            if time.monotonic() > deadline:
                sys.exit("no signal " + name)
            time.sleep(0.02)

    with ResultsStore(db, snapshot_interval_s=0.0) as store:
        models = [model_id_for("snap", {"i": i}, i, "") for i in range(n_models)]  # fitted (registered) batch by batch
        (signals / "opened").touch()
        wait_for("go-0")
        store.record_run_plan([(m, label, "h") for m in models for label in labels], name="test")
        per_batch = n_models // n_batches
        for k in range(n_batches):
            with store.batch():
                for i, m in enumerate(models[k * per_batch : (k + 1) * per_batch]):
                    store.register_model("snap", {"i": k * per_batch + i}, seed=k * per_batch + i, model_id=m)
                    for j, label in enumerate(labels):
                        if label == "vacancy" and i % 2:
                            reason = "EvaluationError: melted (at md.py:1)"
                            store.add_failed_evaluation(m, label, "h", reason, kind=FailureKind.NON_PHYSICAL)
                        else:
                            x = 0.01 * (k * per_batch + i + 1) * (j + 1)
                            records = [ErrorRecord.compare(f"{label}.x", 1.0 + x, 1.0, "eV")]
                            store.add_evaluation(m, label, "h", records, wall_time_s=0.1)
            store.publish_snapshot(force=True)
            (signals / f"batch-{k}").touch()
            wait_for(f"go-{k + 1}")
    """
)


def _wait_for(path: Path, writer: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert writer.poll() is None, log.read_text()[-2000:]
        assert time.monotonic() < deadline, f"the writer did not reach {path.name}"
        time.sleep(0.02)


def test_status_analyze_export_work_while_a_writer_holds_the_database(tmp_path, capsys):
    """The writer is another process: `mlipscope status` runs as a command, analyze and export through the CLI's
    main in this (test) process; either way a process that does not hold the lock."""
    db, signals, log = tmp_path / "run.duckdb", tmp_path / "signals", tmp_path / "writer.log"
    signals.mkdir()
    n_models, n_batches = 8, 2
    with open(log, "w") as err:
        writer = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(db), str(signals), str(n_models), str(n_batches)],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        _wait_for(signals / "opened", writer, log)
        # locked, nothing published yet: a clear error naming the file, not DuckDB's lock message
        with pytest.raises(DatabaseLockedError, match=rf"{db.name}.*being written by PID {writer.pid}"):
            ResultsStore.open_for_reading(db)
        (signals / "go-0").touch()
        _wait_for(signals / "batch-0", writer, log)

        command = [sys.executable, "-m", "mlipscope.cli", "status", "--db", str(db), "--json"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        status = json.loads(done.stdout)
        # read from the snapshot: the writer still holds its lock after publishing (copying the file in the writer's
        # own process would have dropped DuckDB's POSIX lock)
        assert status["source"] == str(snapshot_path_for(db)) and "being written" in status["note"]
        assert 0 <= status["snapshot_age_s"] < 60
        assert status["evaluations"] == {
            "planned": 24,
            "done": 10,  # 4 models x 3 labels, half of the vacancies failed
            "failed": 2,
            "remaining": 12,
            "not_run_fit_failed": 0,
        }
        assert status["models"] == {"planned": 8, "ready": 4, "fit_failed": 0, "to_fit": 4}
        assert status["failure_reasons"] == [
            {"stage": "vacancy", "reason": "EvaluationError: melted", "kind": "deterministic", "count": 2}
        ]
        capsys.readouterr()
        assert main(["analyze", "--db", str(db), "--out", str(tmp_path / "report")]) == 0
        assert "reading its snapshot" in capsys.readouterr().err and (tmp_path / "report" / "index.html").is_file()
        assert main(["export", "--db", str(db), "--out", str(tmp_path / "export")]) == 0
        errors = pd.read_csv(tmp_path / "export" / "errors.csv")
        assert len(errors) == 4 and errors["eos.x"].notna().all()

        (signals / "go-1").touch()
        _wait_for(signals / "batch-1", writer, log)
        source, note = readable_database(db)
        with ResultsStore(source, read_only=True) as snap:  # the second batch's snapshot replaced the first
            assert snap.run_status().evaluations["remaining"] == 0
        assert "published" in note
        (signals / "go-2").touch()
        assert writer.wait(timeout=60) == 0, log.read_text()[-2000:]
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    # the writer is gone: readers open the database itself, which holds everything
    capsys.readouterr()
    assert main(["status", "--db", str(db)]) == 0
    final = capsys.readouterr()
    assert "being written" not in final.out + final.err
    assert "done 20, failed 4, remaining 0" in final.out and "EvaluationError: melted" in final.out
    assert not list(tmp_path.glob("*.tmp-*"))


def test_locked_without_snapshot_is_a_clear_cli_error(tmp_path):
    db = tmp_path / "r.duckdb"
    with ResultsStore(db) as store:  # this very process holds it: same message as for another process
        _fill(store, 1)
        assert not snapshot_path_for(db).exists()
        with pytest.raises(DatabaseLockedError, match="being written by this process"):
            readable_database(db)
        path = store.publish_snapshot()
        assert path == snapshot_path_for(db) and store.publish_snapshot() is None  # nothing new: no copy
        source, note = readable_database(db)
        assert source == path and "published 0 s ago" in note
    with pytest.raises(InputError, match="absent.duckdb"):
        ResultsStore.open_for_reading(tmp_path / "absent.duckdb")
    with ResultsStore.open_for_reading(db) as reader, pytest.raises(InputError, match="opened for writing"):
        reader.publish_snapshot()
    assert main(["status", "--db", str(tmp_path / "absent.duckdb")]) == 2
