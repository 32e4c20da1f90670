"""`mlipscope analyze --db` on one model or a few: the single-model report, judged against the acceptable errors of
the reference the model was benchmarked with (recorded by `benchmark`), the one given to analyze, or the config's."""

from __future__ import annotations

import contextlib
import html
import io
import json
import math
from pathlib import Path

import pytest

from mlipscope.analysis import AnalysisConfig
from mlipscope.cli import main
from mlipscope.materials import load_material
from mlipscope.properties.base import ErrorRecord
from mlipscope.report.tables import format_cell
from mlipscope.runner.references import load_reference
from mlipscope.runner.reporting import analyze_command
from mlipscope.runner.single_model import (
    ensemble_minimum,
    record_model_context,
    recorded_context,
    use_single_model_report,
)
from mlipscope.store.duckdb_store import ResultsStore
from mlipscope.store.protocol import EvaluationKey, ModelRecord, Record, Status

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sw_db(tmp_path_factory) -> tuple[Path, dict]:
    """SW Si benchmarked on the EOS and the mlearn test set through the CLI, and its JSON output."""
    db = tmp_path_factory.mktemp("sw") / "sw.duckdb"
    args = ["benchmark", "--calculator", "sw", "--suite", "si-quick", "--properties", "eos", "errors_mlearn_test"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*args, "--db", str(db), "--json"]) == 0
    return db, json.loads(out.getvalue())


def _analyze(db: Path, out: Path, tables, **kwargs) -> tuple[str, dict[str, dict[str, str]]]:
    """analyze --db on a one-model database: its page and its values table by value name."""
    analyze_command(db_path=db, table_path=None, config_path=None, out_dir=out, title="t", **kwargs)
    (page,) = (out / "models").glob("*.html")
    text = page.read_text()
    return text, {r["value name"]: r for r in tables(text)[1]}


def _judged(verdict: str, error: float, acceptable: float) -> bool:
    """The verdict is what |error| against the acceptable error says (4 digits shown: a relative margin)."""
    if error <= acceptable * (1 - 1e-3):
        return verdict == "within"
    if error >= acceptable * (1 + 1e-3):
        return verdict.startswith("outside (")
    return verdict == "within" or verdict.startswith("outside (")


def test_one_benchmarked_model_is_judged_against_its_reference_thresholds(sw_db, tmp_path, html_tables):
    db, bench = sw_db
    with ResultsStore(db, read_only=True) as store:
        (model_id,) = store.models()["model_id"]
        assert recorded_context(store, model_id) == {"material": "si", "reference": "material"}
        stored = store.records()
    page, rows = _analyze(db, tmp_path, html_tables)
    ok = stored[stored["status"] == "ok"]
    assert set(rows) == set(ok["name"])  # every value, none dropped
    n_within = n_judged = 0
    for r in ok.itertuples():
        row = rows[r.name]
        assert row["value"] == format_cell(r.value) and row["unit"] == r.unit
        if math.isnan(r.reference):
            assert row["reference"] == row["verdict"] == "no reference"
            continue
        assert row["|error|"] == format_cell(abs(r.value - r.reference))
        assert row["reference source"] == r.reference_source
        if row["acceptable error"] == "no acceptable error":
            assert row["verdict"] == "no acceptable error"
            continue
        n_judged += 1
        n_within += row["verdict"] == "within"
        assert _judged(row["verdict"], abs(r.value - r.reference), float(row["acceptable error"]))
        assert row["acceptable error source"] not in ("", "—")
    assert n_judged >= 4  # a, B, the energy and force RMSEs at least
    # the same verdict benchmark printed, from the same reference file
    assert (n_within, n_judged) == (bench["verdict"]["n_within"], bench["verdict"]["n_judged"])
    assert f"Verdict: {n_within} of {n_judged} values within their acceptable errors" in page
    thresholds = load_reference("material", load_material("si")).thresholds
    rmse = rows["errors_mlearn_test.force_rmse_ev_a"]  # SW on the mlearn Si test set: 1.5 eV/Å against 0.12
    assert float(rmse["acceptable error"]) == thresholds["errors_mlearn_test.force_rmse_ev_a"][0] == 0.12
    assert rmse["verdict"].startswith("outside (") and float(rmse["value"]) > 1.0
    assert rows["eos.energy_per_atom_ev"]["verdict"] == "no reference"
    for name in ("eos__eos.png", "errors_mlearn_test__parity.png"):
        (figure,) = (tmp_path / "models" / "figures").glob(f"*__{name}")
        assert figure.read_bytes().startswith(PNG_MAGIC) and f"figures/{figure.name}" in page


def test_a_tight_threshold_of_the_analysis_config_is_a_miss_and_a_loose_one_within(sw_db, tmp_path, html_tables):
    db, _ = sw_db
    config = tmp_path / "analysis.yaml"
    config.write_text(
        "thresholds: {eos.lattice_constant_a: 0.0001, eos.bulk_modulus_gpa: 100.0}\n"
        "threshold_sources: {eos.lattice_constant_a: my tight tolerance}\n"
    )
    analyze_command(db_path=db, table_path=None, config_path=config, out_dir=tmp_path / "r", title="t")
    (page,) = (tmp_path / "r" / "models").glob("*.html")
    rows = {r["value name"]: r for r in html_tables(page.read_text())[1]}
    a = rows["eos.lattice_constant_a"]
    assert a["acceptable error"] == "0.0001" and a["acceptable error source"] == "my tight tolerance"
    shown = float(a["verdict"].removeprefix("outside (").removesuffix("× the acceptable error)"))
    assert shown == pytest.approx(float(a["|error|"]) / 1e-4, rel=2e-3) and shown > 100  # SW 5.431 vs PBE 5.469 Å
    b = rows["eos.bulk_modulus_gpa"]  # SW 101 GPa against 88.5: outside the file's 5 GPa, within the config's 100
    assert b["verdict"] == "within" and b["acceptable error source"] == f"analysis config {config}"


def test_a_reference_given_to_analyze_replaces_the_recorded_one(sw_db, tmp_path, html_tables):
    db, _ = sw_db
    reference = tmp_path / "mine.yaml"
    reference.write_text(
        "values: {eos.lattice_constant_a: 5.43}\n"
        "thresholds: {eos.lattice_constant_a: {value: 0.001, source: my reference's tolerance}}\n"
    )
    page, rows = _analyze(db, tmp_path / "r", html_tables, reference=str(reference))
    assert rows["eos.lattice_constant_a"]["acceptable error source"] == "my reference's tolerance"
    assert rows["eos.lattice_constant_a"]["verdict"].startswith("outside (")  # the stored error is 0.038 Å
    assert rows["eos.bulk_modulus_gpa"]["verdict"] == "no acceptable error"  # not in that file
    assert "given to mlipscope analyze" in page
    with pytest.raises(Exception, match="missing.yaml"):  # a reference given that cannot be read is an error
        _analyze(db, tmp_path / "r2", html_tables, reference=str(tmp_path / "missing.yaml"))


def _synthetic_db(path: Path, lattice_a: dict[str, float], *, context: bool) -> Path:
    """Models with an EOS lattice constant and bulk modulus each (PBE reference 5.4687 Å, 88.545 GPa)."""
    with ResultsStore(path) as store:
        for model_id, a in lattice_a.items():
            store.put_model(ModelRecord(model_id, "external", {"calculator": model_id}, path=model_id))
            values = (
                ErrorRecord.compare("eos.lattice_constant_a", a, 5.4687, "Å", "PBE"),
                ErrorRecord.compare("eos.bulk_modulus_gpa", 88.545 + 500 * (a - 5.4687), 88.545, "GPa", "PBE"),
            )
            store.put_records([Record(EvaluationKey(model_id, "eos", "h"), Status.OK, values)])
            if context:
                record_model_context(store, model_id, "si", "material")
    return path


def test_without_a_recorded_reference_values_say_no_acceptable_error_until_one_is_given(tmp_path, html_tables):
    db = _synthetic_db(tmp_path / "s.duckdb", {"m1": 5.50}, context=False)
    page, rows = _analyze(db, tmp_path / "r", html_tables)
    assert {r["verdict"] for r in rows.values()} == {"no acceptable error"}
    assert "give analyze --reference or --material" in page
    page, rows = _analyze(db, tmp_path / "r2", html_tables, material="si")
    thresholds = load_reference("material", load_material("si")).thresholds
    for name, error in (("eos.lattice_constant_a", 5.50 - 5.4687), ("eos.bulk_modulus_gpa", 500 * (5.50 - 5.4687))):
        expected, source = thresholds[name]
        row = rows[name]
        assert (row["acceptable error"], row["acceptable error source"]) == (format_cell(expected), source)
        assert _judged(rows[name]["verdict"], error, expected)
    assert rows["eos.lattice_constant_a"]["verdict"] == "within"  # 0.031 Å against 0.162
    assert rows["eos.bulk_modulus_gpa"]["verdict"].startswith("outside (")  # 15.7 GPa against 5


def test_the_rule_few_models_is_below_the_smallest_minimum_size_of_the_ensemble_analysis():
    assert ensemble_minimum(AnalysisConfig()) == (10, ["analysis.min_type_members", "analysis.min_models_clustering"])
    assert [use_single_model_report(n, AnalysisConfig()) for n in (0, 1, 9, 10)] == [False, True, True, False]
    lowered = AnalysisConfig(min_models_clustering=3)
    assert ensemble_minimum(lowered) == (3, ["analysis.min_models_clustering"])
    assert [use_single_model_report(n, lowered) for n in (2, 3)] == [True, False]


def test_a_few_models_get_one_table_and_lowered_minimum_sizes_the_ensemble_with_the_file_thresholds(
    tmp_path, html_tables
):
    db = _synthetic_db(tmp_path / "s.duckdb", {"m1": 5.47, "m2": 5.50, "m3": 5.40}, context=True)
    analyze_command(db_path=db, table_path=None, config_path=None, out_dir=tmp_path / "few", title="t")
    index = (tmp_path / "few" / "index.html").read_text()
    assert "3 model(s) with stored results, fewer than the 10" in index
    a = {r["value name"]: r for r in html_tables(index)[1]}["eos.lattice_constant_a"]
    expected, source = load_reference("material", load_material("si")).thresholds["eos.lattice_constant_a"]
    assert a["acceptable error"] == format_cell(expected) and a["reference"] == "5.469"
    for model, value in (("m1", 5.47), ("m2", 5.50), ("m3", 5.40)):
        assert _judged(a[f"{model}: verdict"], abs(value - 5.4687), expected)
        assert a[f"{model}: value"] == format_cell(value)
    config = tmp_path / "analysis.yaml"
    config.write_text("min_models_clustering: 2\nn_bootstrap: 5\nnull_repeats: 1\n")
    analyze_command(db_path=db, table_path=None, config_path=config, out_dir=tmp_path / "ens", title="t")
    ensemble = (tmp_path / "ens" / "index.html").read_text()
    assert "Difficulty" in ensemble and "model(s) with stored results" not in ensemble
    assert html.escape(source) in ensemble  # the reference file's acceptable error and source: the difficulty table


def test_the_context_names_shipped_materials_and_absolute_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ref.yaml").write_text("values: {eos.lattice_constant_a: 5.43}\n")
    with ResultsStore(tmp_path / "c.duckdb") as store:
        record_model_context(store, "a", load_material("mo"), "ref.yaml")
        record_model_context(store, "b", None, "calc:sw")
        assert recorded_context(store, "a") == {"material": "mo", "reference": str(tmp_path / "ref.yaml")}
        assert recorded_context(store, "b") == {"material": None, "reference": "calc:sw"}
        assert recorded_context(store, "c") is None


def test_reference_and_material_belong_to_a_database(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "e.csv").write_text("model_id,family,x\na,f,1\n")
    assert main(["analyze", "--table", "e.csv", "--material", "si"]) == 2
    assert "--reference/--material" in capsys.readouterr().err
