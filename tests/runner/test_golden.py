"""The golden comparison: a small main job (tests/runner/data/golden/golden.toml: two SNAP and one POD member, two
existing potentials, one NaN potential whose evaluations fail, six properties) stores the same models, keys,
values and failures as the engine before its redesign did (golden.json, written by the code of commit d548abc),
and a database that code wrote resumes with nothing to do but the one potential whose meaning changed since
(``tersoff``: T2 -> T3, issue 22). The run reads copies of the material and reference
files of that commit (golden_si.yaml, golden_reference.yaml and the study files it names): their content is part
of every key, so a later change to the shipped files would change the keys for a reason that is not the engine's.
Regenerate (only when a change of keys is intended, with the code that defines them): run golden.toml in
GOLDEN_RUN_DIR as the fixture sets it up, then `python tests/runner/golden_dump.py golden.duckdb golden.json`.

A fitted member's evaluation keys contain its model file's content hash: a machine whose BLAS rounds the fit
differently in the last bit gives other keys (and values equal within the tolerance), so those keys are compared
only where the model file hash matches the golden one.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from golden_dump import dump

from mlipscope.cli import main
from mlipscope.data.examples import example_path

GOLDEN = Path(__file__).parent / "data" / "golden"


#: a stored key holds the path of every file its evaluation reads (the material file, the datasets): the golden run
#: lives in this fixed folder, whatever the checkout's location, so its keys are the same on every machine
GOLDEN_RUN_DIR = Path(tempfile.gettempdir()) / "mlipscope-golden-run"


@pytest.fixture
def golden_dir(monkeypatch) -> Iterator[Path]:
    shutil.rmtree(GOLDEN_RUN_DIR, ignore_errors=True)
    GOLDEN_RUN_DIR.mkdir(parents=True)
    for path in [GOLDEN / "golden.toml", GOLDEN / "golden_nan.py", *GOLDEN.glob("*.yaml")]:
        shutil.copy(path, GOLDEN_RUN_DIR / path.name)
    for name in ("si_mlearn_test", "si_vacancy_re_test"):  # the test sets golden_si.yaml reads beside itself
        shutil.copy(example_path(name), GOLDEN_RUN_DIR / example_path(name).name)
    monkeypatch.syspath_prepend(str(GOLDEN_RUN_DIR))  # the NaN potential's module, here and in child processes
    paths = [str(GOLDEN_RUN_DIR), os.environ.get("PYTHONPATH")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, paths)))
    yield GOLDEN_RUN_DIR
    shutil.rmtree(GOLDEN_RUN_DIR, ignore_errors=True)


#: ``tersoff`` means Tersoff's T3 since issue 22 (T2 before, now ``tersoff-t2``): an intended change of this model's
#: keys and values, so its evaluations are compared apart from the engine's
TERSOFF_ID = "external-9143e18f977e"


def _golden() -> dict:
    return json.loads((GOLDEN / "golden.json").read_text())


def _without(dumped: dict, model_id: str) -> dict:
    return {k: [r for r in rows if k == "models" or r[0] != model_id] for k, rows in dumped.items()}


def _run(directory: Path, capsys) -> str:
    assert main(["run", str(directory / "golden.toml")]) == 0
    return capsys.readouterr().err


def test_fresh_run_stores_the_golden_keys_values_and_failures(golden_dir, capsys):
    _run(golden_dir, capsys)
    full = dump(golden_dir / "golden.duckdb")
    got, want = _without(full, TERSOFF_ID), _without(_golden(), TERSOFF_ID)
    assert [m[:4] for m in got["models"]] == [m[:4] for m in want["models"]]  # ids, families, statuses
    same_file = {m[0] for m, w in zip(got["models"], want["models"], strict=True) if m[4] == w[4]}
    fitted = {m[0] for m in want["models"] if m[1] != "external"}

    def keys(rows: list, n: int) -> list:
        return [tuple(r[:n]) if r[0] in same_file or r[0] not in fitted else (r[0], r[1], *r[3:n]) for r in rows]

    assert keys(got["evaluations"], 5) == keys(want["evaluations"], 5)  # key, status, failure kind
    assert keys(got["values"], 4) == keys(want["values"], 4)
    assert [r[6] for r in got["values"]] == [r[6] for r in want["values"]]  # units
    for column in (4, 5, 7):  # value, reference, absolute error
        a = np.array([np.nan if r[column] is None else r[column] for r in got["values"]], dtype=float)
        b = np.array([np.nan if r[column] is None else r[column] for r in want["values"]], dtype=float)
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8, equal_nan=True)
    failed = [r for r in got["evaluations"] if r[3] == "failed"]
    assert len(failed) == 6 and {r[4] for r in failed} == {"non_physical"}
    t3 = {r[3]: r[4] for r in full["values"] if r[0] == TERSOFF_ID}
    assert t3["elastic_perfect.c44_gpa"] == pytest.approx(69.0, abs=0.5)  # T3 (T2: 10.3 GPa)


def test_database_of_the_old_engine_resumes_with_only_the_changed_potential_to_do(golden_dir, capsys):
    with gzip.open(GOLDEN / "golden.duckdb.gz") as packed, open(golden_dir / "golden.duckdb", "wb") as out:
        shutil.copyfileobj(packed, out)
    err = _run(golden_dir, capsys)
    # everything the old engine stored is reused, except the potential whose meaning changed (tersoff: T2 -> T3)
    assert "6 evaluations this run" in err and "30 already stored" in err
    after = dump(golden_dir / "golden.duckdb")
    assert _without(after, TERSOFF_ID) == _without(_golden(), TERSOFF_ID)
    old_rows = [r for r in _golden()["evaluations"] if r[0] == TERSOFF_ID]
    assert all(r in after["evaluations"] for r in old_rows)  # the T2 results stay, under their own keys
