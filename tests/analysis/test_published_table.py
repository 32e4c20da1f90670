"""`mlipscope analyze --table` on a table shaped like a published one: an unnamed index column, string metadata
columns, log10 errors, and a "DFT" benchmark row of acceptable errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlipscope.analysis.synthetic import synthetic_error_table
from mlipscope.analysis.table import load_error_table, split_threshold_row
from mlipscope.cli import main
from mlipscope.errors import InputError


@pytest.fixture
def published(tmp_path):
    """60 models x 6 properties as log10 |error|, an index column without a header, a 'Model type' column, two
    free-text metadata columns and a benchmark row 'DFT' (log10 of the acceptable error) first."""
    source = synthetic_error_table(60, 6, n_groups=2, seed=3)
    errors = source.drop(columns=["family", "training_set_name", "hp.cutoff_a", "hp.seed"])
    errors.columns = [f"prop{i}" for i in range(errors.shape[1])]
    logged = np.log10(errors.abs())
    logged.insert(0, "Model type", source["family"].str.upper())
    logged.insert(1, "note_a", "trained on set " + source["training_set_name"].astype(str))
    logged.insert(2, "note_b", "v1")
    dft = {"Model type": "DFT", "note_a": "k-point error", "note_b": "-"}
    dft.update({c: float(np.log10(errors[c].abs().median())) for c in errors.columns})  # half the models pass
    table = pd.concat([pd.DataFrame([dft], index=["DFT"]), logged])
    path = tmp_path / "published.csv"
    table.to_csv(path)  # the index column gets an empty header, as pandas and spreadsheets write it
    return path, errors


def test_published_table_reads_with_declared_columns(published):
    path, errors = published
    table = load_error_table(path, type_column="Model type", metadata_columns=["note_*"], values="log10")
    rest, thresholds = split_threshold_row(table, "DFT")
    assert "DFT" not in rest.errors.index and len(rest.errors) == 60
    assert sorted(rest.type_names) == ["ACE", "GAP", "SNAP"]
    assert list(rest.errors.columns) == list(errors.columns)  # the notes and the type are metadata
    np.testing.assert_allclose(rest.errors.to_numpy(), errors.abs().to_numpy(), rtol=1e-9)  # back from log10
    assert thresholds["prop0"] == pytest.approx(errors["prop0"].abs().median(), rel=1e-9)


def test_analyze_cli_uses_the_benchmark_row_as_thresholds(published, tmp_path, capsys):
    path, errors = published
    out = tmp_path / "rep"
    args = ["analyze", "--table", str(path), "--out", str(out), "--type-column", "Model type"]
    args += ["--metadata-columns", "note_*", "--threshold-row", "DFT", "--transform", "log10"]
    assert main(args) == 0
    difficulty = pd.read_csv(out / "tables" / "difficulty.csv").set_index("property")
    assert set(difficulty.index) == set(errors.columns)
    for prop in errors.columns:  # the threshold is the median |error|: half of the 60 models meet it
        assert difficulty.loc[prop, "share_meeting"] == pytest.approx(0.5, abs=1 / 60)
        assert "row 'DFT'" in difficulty.loc[prop, "source"]
    shares = pd.read_csv(out / "tables" / "pass_share.csv")
    assert {"ACE", "GAP", "SNAP"} <= set(shares.columns)


def test_undeclared_text_column_or_unknown_row_is_a_clear_error(published, capsys):
    path, _ = published
    with pytest.raises(InputError, match="note_a"):
        load_error_table(path, type_column="Model type", values="log10")
    table = load_error_table(path, type_column="Model type", metadata_columns=["note_*"], values="log10")
    with pytest.raises(InputError, match="--threshold-row"):
        split_threshold_row(table, "PBE")
    with pytest.raises(InputError, match="metadata column 'hp_\\*'"):
        load_error_table(path, metadata_columns=["hp_*"])
    assert main(["analyze", "--db", str(path), "--threshold-row", "DFT"]) == 2
    assert "--table" in capsys.readouterr().err


def _typed_table(tmp_path):
    """A published layout: an unnamed running index (pandas reads it as 'Unnamed: 0'), a 'type' column naming the
    benchmark row 'DFT', two properties."""
    path = tmp_path / "typed.csv"
    path.write_text(",type,prop_a,prop_b\n0,DFT,0.1,2.0\n1,GAP,0.05,3.0\n2,GAP,0.2,1.0\n3,ACE,0.08,1.5\n")
    assert pd.read_csv(path).columns[0] == "Unnamed: 0"
    return path


def test_threshold_row_found_by_its_type_value(tmp_path):
    table = load_error_table(_typed_table(tmp_path), type_column="type")
    rest, thresholds = split_threshold_row(table, "DFT", type_column="type")
    assert thresholds == {"prop_a": 0.1, "prop_b": 2.0}
    assert list(rest.errors.index) == ["1", "2", "3"] and sorted(rest.type_names) == ["ACE", "GAP"]
    rest_by_id, by_id = split_threshold_row(table, "0", type_column="type")  # the id still works
    assert by_id == thresholds and list(rest_by_id.errors.index) == ["1", "2", "3"]


def test_threshold_row_not_found_or_ambiguous_names_what_was_searched(tmp_path):
    table = load_error_table(_typed_table(tmp_path), type_column="type")
    with pytest.raises(InputError, match="--threshold-row") as info:
        split_threshold_row(table, "PBE", type_column="type")
    text = str(info.value)
    assert "the ids" in text and "'0'" in text and "column 'type'" in text and "'GAP'" in text and "'PBE'" in text
    with pytest.raises(InputError, match=r"rows \['1', '2'\]"):  # two GAP rows: which one is not for us to guess
        split_threshold_row(table, "GAP", type_column="type")
    with pytest.raises(InputError, match="the ids") as info:  # without a type column only the ids are searched
        split_threshold_row(table, "DFT")
    assert "column 'type'" not in str(info.value)


def test_analyze_cli_finds_the_threshold_row_in_the_type_column(tmp_path):
    out = tmp_path / "rep"
    args = ["analyze", "--table", str(_typed_table(tmp_path)), "--out", str(out), "--type-column", "type"]
    assert main([*args, "--threshold-row", "DFT"]) == 0
    difficulty = pd.read_csv(out / "tables" / "difficulty.csv").set_index("property")
    # thresholds 0.1 and 2.0: prop_a met by 0.05 and 0.08 (2 of 3), prop_b by 1.0 and 1.5 (2 of 3)
    assert difficulty.loc["prop_a", "threshold"] == pytest.approx(0.1)
    assert difficulty.loc["prop_b", "threshold"] == pytest.approx(2.0)
    assert difficulty.loc["prop_a", "share_meeting"] == pytest.approx(2 / 3)
    assert "row 'DFT'" in difficulty.loc["prop_a", "source"]
