"""Dump what a results database stores, for the golden comparison (tests/runner/test_golden.py): every model's
id, family and status, every evaluation's key, status, failure kind and values. Read with plain DuckDB SQL, so
it reads a database written by any mlipscope version of schema 1, 2 or 3 the same way.

    python tests/runner/golden_dump.py <database> <out.json>
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import duckdb


def dump(db_path: str | Path) -> dict:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        columns = {
            r[0]
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'evaluations'"
            ).fetchall()
        }
        kind = "failure_kind" if "failure_kind" in columns else "NULL"
        models = con.execute(
            "SELECT model_id, family, status, training_set_name, model_file_hash FROM models ORDER BY model_id"
        ).fetchall()
        evaluations = con.execute(
            f"SELECT model_id, property_label, config_hash, status, {kind} FROM evaluations "
            "ORDER BY model_id, property_label, config_hash"
        ).fetchall()
        values = con.execute(
            "SELECT model_id, property_label, config_hash, name, value, reference, unit, absolute_error "
            "FROM property_values ORDER BY model_id, property_label, config_hash, name"
        ).fetchall()
    finally:
        con.close()

    def number(x: float | None) -> float | None:
        return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)

    return {
        "models": [list(r) for r in models],
        "evaluations": [list(r) for r in evaluations],
        "values": [[*r[:4], number(r[4]), number(r[5]), r[6], number(r[7])] for r in values],
    }


if __name__ == "__main__":
    Path(sys.argv[2]).write_text(json.dumps(dump(sys.argv[1]), indent=1) + "\n")
