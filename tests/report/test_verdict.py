"""The verdict of one model: each value against its acceptable error, failures counted apart, the worst misses."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from mlipscope.cli import main
from mlipscope.report.verdict import verdict


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        [
            ("eos", "ok", "eos.lattice_constant_a", 5.47, 5.46, "Å", 0.01),
            ("eos", "ok", "eos.bulk_modulus_gpa", 80.0, 90.0, "GPa", 10.0),
            ("errors_x", "ok", "errors_x.force_rmse_ev_a", 0.3, 0.0, "eV/Å", 0.3),
            ("errors_x", "ok", "errors_x.energy_rmse_mev_atom", 5.0, 0.0, "meV/atom", 5.0),
            ("vacancy_64", "failed", None, math.nan, math.nan, None, math.nan),
        ],
        columns=["property_label", "status", "name", "value", "reference", "unit", "absolute_error"],
    )


def test_values_are_judged_against_their_acceptable_errors():
    acceptable = {"eos.lattice_constant_a": (0.02, "s"), "eos.bulk_modulus_gpa": (5.0, "s"),
                  "errors_x.force_rmse_ev_a": (0.1, "s")}  # fmt: skip
    result = verdict(_rows(), acceptable)
    within = {r.name: r.within for r in result.rows}
    assert within == {"eos.lattice_constant_a": True, "eos.bulk_modulus_gpa": False,
                      "errors_x.force_rmse_ev_a": False, "errors_x.energy_rmse_mev_atom": None}  # fmt: skip
    assert result.n_within == 1 and len(result.judged) == 3 and result.n_failed == 1
    assert [r.name for r in result.worst()] == ["errors_x.force_rmse_ev_a", "eos.bulk_modulus_gpa"]  # 3x, then 2x
    line = result.summary_line()
    assert line.startswith("1 of 3 values within") and "1 without an acceptable error" in line and "failed" in line


def test_rows_as_dicts_give_the_verdict_of_the_frame():
    acceptable = {"eos.lattice_constant_a": (0.02, "s"), "errors_x.force_rmse_ev_a": (0.1, "s")}
    records = [{k: (None if isinstance(x, float) and math.isnan(x) else x) for k, x in row.items()}
               for row in _rows().to_dict("records")]  # fmt: skip
    from_dicts, from_frame = verdict(records, acceptable), verdict(_rows(), acceptable)
    assert from_dicts.as_dict() == from_frame.as_dict()
    assert [(r.name, r.within) for r in from_dicts.rows] == [(r.name, r.within) for r in from_frame.rows]


def test_benchmark_says_mo_snap_force_rmse_is_outside_its_acceptable_error(tmp_path, capsys):
    """The issue's case: mlearn-snap:Mo's force RMSE against its own 0.12 eV/Å threshold was printed as 'ok'."""
    args = ["benchmark", "--calculator", "mlearn-snap:Mo", "--material", "mo", "--properties", "errors_mlearn_test"]
    assert main([*args, "--db", str(tmp_path / "r.duckdb"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rmse = next(v for v in out["values"] if v["name"] == "errors_mlearn_test.force_rmse_ev_a")
    assert rmse["within"] is False and rmse["acceptable_error"] == pytest.approx(0.12)
    assert rmse["value"] == pytest.approx(0.376, abs=0.01)
    assert out["verdict"]["n_judged"] >= 1 and out["verdict"]["worst"][0]["name"] == rmse["name"]
    assert main([*args, "--db", str(tmp_path / "r.duckdb")]) == 0
    assert "verdict:" in capsys.readouterr().err


def test_a_value_without_a_reference_is_not_judged_even_with_an_acceptable_error():
    rows = pd.concat([_rows(), pd.DataFrame([("eos", "ok", "eos.energy_per_atom_ev", -4.3, math.nan, "eV", math.nan)],
                                            columns=_rows().columns)])  # fmt: skip
    result = verdict(rows, {"eos.energy_per_atom_ev": (0.1, "s"), "eos.lattice_constant_a": (0.02, "s")})
    row = next(r for r in result.rows if r.name == "eos.energy_per_atom_ev")
    assert row.within is None and row.status == "no reference" and not row.has_reference
    assert (result.n_without_reference, result.n_without_acceptable_error, len(result.judged)) == (1, 3, 1)
    assert result.as_dict()["n_without_reference"] == 1
    assert "(1 without a reference, 3 without an acceptable error: not judged)" in result.summary_line()
