import pandas as pd

from mlipscope.report.cross_material import write_cross_material_index


def test_cross_material_index_headers_carry_units(tmp_path):
    def table(scale: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "family": ["snap", "snap", "ace"],
                "eos.bulk_modulus_gpa": [1.0 * scale, 3.0 * scale, -2.0 * scale],
                "re_vacancy.re_a": [0.1, 0.3, 0.2],
            },
            index=["a", "b", "c"],
        )

    (tmp_path / "si").mkdir()
    (tmp_path / "ge").mkdir()
    sections = {"si": (table(1.0), tmp_path / "si" / "index.html"), "ge": (table(2.0), tmp_path / "ge" / "index.html")}
    page = write_cross_material_index(sections, tmp_path, title="t", run_summary={}).read_text()
    assert "<th>eos.bulk_modulus_gpa (GPa)</th>" in page
    assert "<th>re_vacancy.re_a</th>" in page  # dimensionless: no unit
    medians = pd.read_csv(tmp_path / "cross_material_medians.csv")
    snap_ge = medians[(medians["material"] == "ge") & (medians["family"] == "snap")]
    assert snap_ge["eos.bulk_modulus_gpa"].tolist() == [4.0]  # median of |2|, |6|
