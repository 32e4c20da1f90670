"""The single-model report: every value with its reference, acceptable error, their sources and the verdict; values
without a reference or an acceptable error say so; two models get a values x models table; figures from details."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mlipscope.report.single_model import ModelVerdict, write_single_model_report
from mlipscope.report.verdict import verdict

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _rows(shift: float = 0.0) -> pd.DataFrame:
    """One model's stored rows (the columns of ``store.records()``): a within, an outside, a value without a
    reference (its threshold cannot judge it) and one without an acceptable error, and a failed evaluation."""
    a = 5.47 + shift
    return pd.DataFrame(
        [
            ("eos", "ok", "eos.lattice_constant_a", a, 5.46, "Å", abs(a - 5.46), "PBE paper", ""),
            ("eos", "ok", "eos.bulk_modulus_gpa", 80.0, 90.0, "GPa", 10.0, "WIEN2k", ""),
            ("eos", "ok", "eos.energy_per_atom_ev", -4.3, math.nan, "eV", math.nan, None, ""),
            ("eos", "ok", "eos.cohesive_energy_ev", 4.3, 4.6, "eV", 0.3, "exp.", ""),
            ("vacancy_64", "failed", None, math.nan, math.nan, None, math.nan, None, "EvaluationError: melted"),
        ],
        columns=["property_label", "status", "name", "value", "reference", "unit", "absolute_error",
                 "reference_source", "reason"],
    )  # fmt: skip


ACCEPTABLE = {
    "eos.lattice_constant_a": (0.02, "study table S13"),
    "eos.bulk_modulus_gpa": (4.0, "default tolerance"),
    "eos.energy_per_atom_ev": (0.1, "a threshold without a reference value"),
}


def _model(model_id: str, rows: pd.DataFrame, acceptable=ACCEPTABLE, details=None) -> ModelVerdict:
    failed = rows.loc[rows["status"] != "ok", ["property_label", "reason"]].reset_index(drop=True)
    about = {"family": "external", "path": f"calc-{model_id}", "hyperparameters": {"calculator": model_id}}
    origin = {"material": "si", "reference": "material", "found": "recorded by mlipscope benchmark"}
    return ModelVerdict(model_id, about, verdict(rows, acceptable), failed, origin, details or {})


def test_a_model_page_lists_every_value_with_its_reference_acceptable_error_and_verdict(tmp_path, html_tables):
    index = write_single_model_report([_model("m1", _rows())], tmp_path, title="one model", why="1 model")
    page = (tmp_path / "models" / "m1.html").read_text()
    values = {r["value name"]: r for r in html_tables(page)[1]}
    assert list(values) == ["eos.lattice_constant_a", "eos.bulk_modulus_gpa", "eos.energy_per_atom_ev",
                            "eos.cohesive_energy_ev"]  # fmt: skip
    a = values["eos.lattice_constant_a"]
    assert (a["value"], a["reference"], a["reference source"], a["|error|"]) == ("5.47", "5.46", "PBE paper", "0.01")
    assert (a["acceptable error"], a["acceptable error source"], a["verdict"]) == ("0.02", "study table S13", "within")
    b = values["eos.bulk_modulus_gpa"]  # 10 GPa off, 4 GPa allowed: 2.5x outside
    assert b["acceptable error"] == "4" and b["verdict"] == "outside (2.5× the acceptable error)"
    e = values["eos.energy_per_atom_ev"]  # a threshold but no reference: not judged, and said so
    assert e["reference"] == "no reference" and e["verdict"] == "no reference" and e["|error|"] == "—"
    c = values["eos.cohesive_energy_ev"]
    assert c["acceptable error"] == "no acceptable error" and c["verdict"] == "no acceptable error"
    assert (
        "Verdict: 1 of 2 values within their acceptable errors (1 without a reference, 1 without an acceptable "
        "error: not judged); 1 evaluation(s) failed; worst: eos.bulk_modulus_gpa 2.5× its acceptable error" in page
    )
    failed = html_tables(page)[2]
    assert failed == [{"property_label": "vacancy_64", "reason": "EvaluationError: melted"}]
    assert "recorded by mlipscope benchmark" in page and "(no stored details of a property with a figure)" in page
    models = html_tables(index.read_text())[0]
    assert [(m["model_id"], m["within"], m["judged"], m["no reference"], m["failed evaluations"]) for m in models] == [
        ("m1", "1", "2", "1", "1")
    ]
    assert 'href="models/m1.html"' in index.read_text() and "Values × models" not in index.read_text()
    long = pd.read_csv(tmp_path / "tables" / "values.csv")
    assert len(long) == 4 and list(long["verdict"]) == ["within", "outside (2.5× the acceptable error)",
                                                        "no reference", "no acceptable error"]  # fmt: skip


def test_two_models_get_a_values_by_models_table(tmp_path, html_tables):
    tight = {**ACCEPTABLE, "eos.lattice_constant_a": (0.005, "another reference")}
    models = [_model("m1", _rows()), _model("m2", _rows(shift=0.02), tight)]
    index = write_single_model_report(models, tmp_path, title="two", why="2 models").read_text()
    table = {r["value name"]: r for r in html_tables(index)[1]}
    a = table["eos.lattice_constant_a"]
    # columns named by the calculators (short and distinct), references and acceptable errors once or "varies"
    assert a["calc-m1: value"] == "5.47" and a["calc-m2: value"] == "5.49" and a["reference"] == "5.46"
    assert a["acceptable error"] == "varies" and a["calc-m1: verdict"] == "within"
    assert a["calc-m2: verdict"] == "outside (6× the acceptable error)"  # |5.49 - 5.46| / 0.005
    assert table["eos.energy_per_atom_ev"]["reference"] == "no reference"
    assert table["eos.bulk_modulus_gpa"]["acceptable error"] == "4"
    assert (tmp_path / "models" / "m1.html").is_file() and (tmp_path / "models" / "m2.html").is_file()


def test_figures_of_the_stored_details_eos_and_parity(tmp_path):
    eos = {"volumes_a3_per_atom": [18.0, 19.0, 20.0, 21.0], "energies_ev_per_atom": [-4.50, -4.60, -4.62, -4.58]}
    frame = {"config_type": "bulk", "energy_dft_ev_atom": -5.0, "energy_model_ev_atom": -4.9,
             "forces_dft_ev_a": [[0.1, 0.0, -0.1]], "forces_model_ev_a": [[0.2, 0.0, -0.1]]}  # fmt: skip
    details = {"eos": eos, "errors_x": {"frames": [frame, {**frame, "energy_model_ev_atom": -5.1}]}}
    write_single_model_report([_model("m1", _rows(), details=details)], tmp_path, title="t", why="w")
    page = (tmp_path / "models" / "m1.html").read_text()
    for name in ("m1__eos__eos.png", "m1__errors_x__parity.png"):
        assert f'src="figures/{name}"' in page
        assert (tmp_path / "models" / "figures" / name).read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize(("layout", "drawn"), [("errors/3", True), ("errors/2", True), ("errors/9", False)])
def test_a_parity_figure_from_the_compact_layouts(tmp_path, layout, drawn):
    import numpy as np

    from mlipscope.data.examples import load_example
    from mlipscope.properties.frame_data import FrameErrors

    data = load_example("si_mlearn_test")
    n_atoms = np.array([len(a) for a in data.frames[:3]])
    errors = FrameErrors(
        index=np.arange(3),
        n_atoms=n_atoms,
        energy_error_ev_atom=np.array([0.01, -0.02, 0.005]),
        force_error_ev_a=np.full(3 * int(n_atoms.sum()), 0.1),
        stress_error_gpa=np.full((3, 6), 0.5),
        dataset="si_mlearn_test",
        dataset_hash=data.content_hash[:16],
    ).to_details()
    details = {"errors_x": {"frames": dict(errors, layout=layout)}}
    write_single_model_report([_model("m1", _rows(), details=details)], tmp_path, title="t", why="w")
    assert (tmp_path / "models" / "figures" / "m1__errors_x__parity.png").is_file() == drawn


@pytest.mark.parametrize("frames", [[], [{"config_type": "bulk"}], "not a list"])
def test_no_parity_figure_from_incomplete_frames(tmp_path, frames):
    write_single_model_report([_model("m1", _rows(), details={"x": {"frames": frames}})], tmp_path, title="t", why="")
    assert not list((tmp_path / "models" / "figures").iterdir())


def test_columns_fall_back_to_model_ids_when_paths_do_not_tell_models_apart():
    from mlipscope.report.single_model import column_labels

    one, two = _model("m1", _rows()), _model("m2", _rows())
    assert column_labels([one, two]) == ["calc-m1", "calc-m2"]
    two.about = {**two.about, "path": "calc-m1"}  # the same calculator twice (e.g. two materials)
    assert column_labels([one, two]) == ["m1", "m2"]
    one.about = {**one.about, "path": "/a/long/folder/of/fitted/models/snap/0123456789abcdef"}
    assert column_labels([one, _model("m2", _rows())]) == ["m1", "m2"]
