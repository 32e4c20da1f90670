"""`mlipscope export`: the database's tables as CSV, Parquet and JSON hold the same numbers as the store."""

from __future__ import annotations

import pandas as pd
import pytest

from mlipscope.analysis.table import wide_error_table
from mlipscope.cli import main
from mlipscope.errors import InputError
from mlipscope.report.export import export_results, values_table
from mlipscope.store.duckdb_store import ResultsStore


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "r.duckdb"
    assert main(["benchmark", "--calculator", "sw", "--db", str(path), "--properties", "eos", "vacancy_64"]) == 0
    return path


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_export_round_trips_the_values(db, tmp_path, fmt):
    written = export_results(db, tmp_path / fmt, fmt)
    assert set(written) == {"models", "values", "errors", "failures"}
    read = {"csv": pd.read_csv, "parquet": pd.read_parquet, "json": pd.read_json}[fmt]
    values = read(written["values"])
    with ResultsStore(db, read_only=True) as store:
        stored = store.evaluations()
        wide = wide_error_table(store.records(), store.models())
        # the exported long table is the store's own, built through the protocol
        pd.testing.assert_frame_equal(values_table(store.records(), store.models()), stored)
    a = values.loc[values["name"] == "eos.lattice_constant_a", "value"].item()
    assert a == pytest.approx(stored.loc[stored["name"] == "eos.lattice_constant_a", "value"].item(), rel=1e-12)
    assert a == pytest.approx(5.431, abs=2e-3)  # Stillinger-Weber
    errors = read(written["errors"]).set_index("model_id")
    column = "vacancy_64.formation_energy_ev"
    assert errors[column].iloc[0] == pytest.approx(wide[column].iloc[0], rel=1e-12)
    assert len(read(written["models"])) == 1


def test_export_cli_and_bad_input(db, tmp_path, capsys):
    assert main(["export", "--db", str(db), "--out", str(tmp_path / "o"), "--format", "json"]) == 0
    assert "values: " in capsys.readouterr().out and (tmp_path / "o" / "errors.json").is_file()
    with pytest.raises(InputError, match="--db"):
        export_results(tmp_path / "absent.duckdb", tmp_path / "x")
    with pytest.raises(InputError, match="--format"):
        export_results(db, tmp_path / "x", "xlsx")


def test_relaxed_structures_go_to_an_ase_database(db, tmp_path, capsys):
    """The SW vacancy cell and bulk come back as ASE rows whose energies are the model's own (recomputed here)
    and give the stored formation energy."""
    import ase.db

    from mlipscope.calculators import make_calculator

    path = tmp_path / "structures.db"
    assert main(["export", "--db", str(db), "--out", str(tmp_path / "o"), "--structures", str(path)]) == 0
    assert "structures: 2 in" in capsys.readouterr().out
    with ase.db.connect(path) as con:
        rows = {r.structure: r for r in con.select(model_id=con.get(1).model_id)}
    assert set(rows) == {"relaxed_bulk", "relaxed_defect_cell"}
    vacancy, bulk = rows["relaxed_defect_cell"].toatoms(), rows["relaxed_bulk"].toatoms()
    assert len(vacancy) == 63 and rows["relaxed_defect_cell"].property_label == "vacancy_64"
    stored_e = rows["relaxed_defect_cell"].energy
    probe = vacancy.copy()
    probe.calc = make_calculator("sw")
    assert probe.get_potential_energy() == pytest.approx(stored_e, abs=1e-4)  # positions rounded to 1e-6 Å
    formation = stored_e - len(vacancy) * rows["relaxed_bulk"].energy / len(bulk)
    with ResultsStore(db, read_only=True) as store:
        values = store.evaluations()
    stored_formation = values.loc[values["name"] == "vacancy_64.formation_energy_ev", "value"].item()
    assert formation == pytest.approx(stored_formation, abs=1e-6)
    with pytest.raises(InputError, match="ending in .db"):
        from mlipscope.report.export import export_structures

        export_structures(db, tmp_path / "s.sqlite")
