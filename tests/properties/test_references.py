import math

import pytest

from mlipscope.errors import InputError
from mlipscope.properties.base import ErrorRecord, Property
from mlipscope.properties.references import CalculatorReference, TabulatedReference, compare


class _Fixed(Property):
    name = "fixed"

    def __init__(self, label=None, values=None):
        super().__init__(label)
        self.values = values or {"a_a": 5.0, "rmse_ev": 0.1}

    def compute(self, calculator):
        return self.result(dict(self.values), {"a_a": "Å", "rmse_ev": "eV"}, error_metrics={"rmse_ev"})


def test_tabulated_file_roundtrip(tmp_path):
    path = tmp_path / "ref.yaml"
    path.write_text("name: test\nsource: unit test\nvalues:\n  fixed.a_a: {value: 5.5, source: paper}\n  other.x: 1\n")
    ref = TabulatedReference.from_file(path)
    assert ref.values_for(_Fixed()) == {"fixed.a_a": (5.5, "paper")}


def test_compare_handles_reference_error_metric_and_missing():
    prop = _Fixed()
    result = prop.compute(None)
    records = {r.name: r for r in compare(result, {"fixed.a_a": (5.5, "paper")})}
    assert records["fixed.a_a"].absolute_error == pytest.approx(0.5)
    assert records["fixed.a_a"].relative_error == pytest.approx(0.5 / 5.5)
    assert records["fixed.rmse_ev"].reference == 0.0 and records["fixed.rmse_ev"].absolute_error == pytest.approx(0.1)


def test_missing_reference_is_nan_not_dropped():
    records = compare(_Fixed().compute(None), {})
    assert {r.name for r in records} == {"fixed.a_a", "fixed.rmse_ev"}
    assert math.isnan(next(r for r in records if r.name == "fixed.a_a").absolute_error)


def test_calculator_reference_runs_the_same_property_once():
    calls = []

    class Counting(_Fixed):
        def compute(self, calculator):
            calls.append(calculator)
            return super().compute(calculator)

    ref = CalculatorReference(calculator="dft", name="dft")
    prop = Counting()
    assert ref.values_for(prop)["fixed.a_a"] == (5.0, "dft")
    ref.values_for(prop)
    assert calls == ["dft"]


def test_zero_reference_relative_error_is_nan():
    record = ErrorRecord.compare("x", 1.0, 0.0, "eV")
    assert record.absolute_error == 1.0 and math.isnan(record.relative_error)


@pytest.mark.parametrize(
    "text, field",
    [
        ("values: [1, 2]\n", "values"),
        ("values:\n  fixed.a_a: five\n", "values.fixed.a_a"),
        ("values: {a: [\n", "file contents"),
    ],
)
def test_bad_reference_files(tmp_path, text, field):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        TabulatedReference.from_file(path)
    assert str(path) in str(info.value) and f"'{field}'" in str(info.value)


def test_reference_file_thresholds_name_their_source(tmp_path):
    path = tmp_path / "ref.yaml"
    path.write_text(
        "name: t\nsource: mine\nvalues:\n  eos.lattice_constant_a: 3.17\n"
        "thresholds:\n  eos.lattice_constant_a: {value: 0.02, source: 'default tolerance'}\n"
        "  eos.bulk_modulus_gpa: 10\n"
    )
    ref = TabulatedReference.from_file(path)
    assert ref.thresholds == {
        "eos.lattice_constant_a": (0.02, "default tolerance"),
        "eos.bulk_modulus_gpa": (10.0, "mine"),
    }
    path.write_text("name: t\nvalues: {}\nthresholds:\n  eos.lattice_constant_a: -1\n")
    with pytest.raises(InputError, match="thresholds.eos.lattice_constant_a"):
        TabulatedReference.from_file(path)


def _study_files(tmp_path, mapping: str, errors: str = "a_E: 15\nb_F: 0.12\nc_X: 1.0\n"):
    (tmp_path / "errors.yaml").write_text(errors)
    (tmp_path / "mapping.yaml").write_text(
        "acceptable_errors: errors.yaml\nsources: {paper: 'A & B 2024 (Table 1)', md: 'A & B 2024 (MD set)'}\n"
        "mapping:\n" + mapping
    )
    path = tmp_path / "ref.yaml"
    path.write_text("values: {}\nstudy_thresholds: mapping.yaml\nthresholds:\n  fixed.other_ev: 0.5\n")
    return path


STUDY_MAPPING = (
    "  a_E: {value: fixed.rmse_ev, unit: meV, convert: {factor: 0.001, unit: eV}, differences: same}\n"
    "  b_F: {value: fixed.a_a, unit: Å, published: md}\n"
    "  c_X: {value: null, unit: '%', unmapped: not computed here}\n"
)


def test_study_thresholds_become_thresholds_with_key_and_conversion(tmp_path):
    ref = TabulatedReference.from_file(_study_files(tmp_path, STUDY_MAPPING))
    assert ref.thresholds == {
        "fixed.other_ev": (0.5, "ref.yaml"),
        "fixed.rmse_ev": (pytest.approx(0.015), "A & B 2024 (Table 1): a_E (15 meV = 0.015 eV)"),
        "fixed.a_a": (0.12, "A & B 2024 (MD set): b_F"),
    }
    assert ref.published_thresholds == {"fixed.rmse_ev", "fixed.a_a"}


@pytest.mark.parametrize(
    ("mapping", "errors", "field"),
    [
        (
            STUDY_MAPPING.replace("  c_X: {value: null, unit: '%', unmapped: not computed here}\n", ""),
            None,
            "mapping.c_X",
        ),
        (STUDY_MAPPING.replace("unmapped: not computed here", "meaning: x"), None, "mapping.c_X.unmapped"),
        (STUDY_MAPPING.replace("fixed.a_a, unit", "fixed_a_a, unit"), None, "mapping.b_F.value"),
        (STUDY_MAPPING.replace("published: md", "published: blog"), None, "mapping.b_F.published"),
        (STUDY_MAPPING.replace("factor: 0.001", "factor: -1"), None, "mapping.a_E.convert"),
        (STUDY_MAPPING.replace("fixed.a_a", "fixed.rmse_ev"), None, "mapping.b_F"),  # two keys, unequal thresholds
        (STUDY_MAPPING.replace("fixed.a_a", "fixed.other_ev"), None, "thresholds.fixed.other_ev"),  # a default too
        (STUDY_MAPPING, "a_E: 15\nb_F: -0.12\nc_X: 1.0\n", "b_F"),
    ],
)
def test_bad_study_mappings_name_the_field(tmp_path, mapping, errors, field):
    path = _study_files(tmp_path, mapping, *([errors] if errors else []))
    with pytest.raises(InputError) as info:
        TabulatedReference.from_file(path)
    assert f"'{field}'" in str(info.value)


def _write(tmp_path, text: str):
    path = tmp_path / "ref.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "field", "hint"),
    [
        ("values: {}\nthreshold:\n  fixed.a_a: 0.1\n", "threshold", "did you mean 'thresholds'?"),
        ("values: {}\nnot_availble: {}\n", "not_availble", "did you mean 'not_available'?"),
        ("values:\n  fixed.a_a: {value: 5.5, sorce: paper}\n", "values.fixed.a_a.sorce", "did you mean 'source'?"),
        ("values:\n  fixed.a_a: {same_as: fixed.b_a, value: 1}\n", "values.fixed.a_a.value", "nothing beside same_as"),
    ],
)
def test_unknown_keys_are_errors_naming_the_file_and_the_closest_key(tmp_path, text, field, hint):
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as info:
        TabulatedReference.from_file(path)
    assert str(path) in str(info.value) and f"'{field}'" in str(info.value) and hint in str(info.value)


def test_same_as_gives_one_value_to_several_names(tmp_path):
    path = _write(
        tmp_path,
        "source: file\nvalues:\n  elastic.a_a: {same_as: eos.a_a}\n  eos.a_a: {value: 5.4687, source: paper}\n"
        "  eos.b_gpa: 88.5\n  elastic.b_gpa: {same_as: eos.b_gpa}\n"
        "thresholds:\n  eos.a_a: {value: 0.02, source: tol}\n  elastic.a_a: {same_as: eos.a_a}\n",
    )
    ref = TabulatedReference.from_file(path)
    # an alias may come before the value it names; the file's order is kept
    assert list(ref.values) == ["elastic.a_a", "eos.a_a", "eos.b_gpa", "elastic.b_gpa"]
    assert ref.values["elastic.a_a"] == ref.values["eos.a_a"] == (5.4687, "paper")
    assert ref.values["elastic.b_gpa"] == (88.5, "file")
    assert ref.thresholds["elastic.a_a"] == (0.02, "tol")


@pytest.mark.parametrize(
    ("text", "field", "hint"),
    [
        ("values:\n  eos.a_a: 5.4\n  elastic.a_a: {same_as: eos.a_b}\n", "values.elastic.a_a.same_as", "'eos.a_a'"),
        # a threshold's alias names a threshold, not a value
        (
            "values:\n  eos.a_a: 5.4\nthresholds:\n  elastic.a_a: {same_as: eos.a_a}\n",
            "thresholds.elastic.a_a.same_as",
            "",
        ),
        # no chains: the named entry gives its number
        (
            "values:\n  eos.a_a: 5.4\n  b.a_a: {same_as: eos.a_a}\n  c.a_a: {same_as: b.a_a}\n",
            "values.c.a_a.same_as",
            "",
        ),
        ("values:\n  lattice_constant: 5.4\n", "values.lattice_constant", "'<label>.<key>'"),
    ],
)
def test_bad_same_as_and_value_names(tmp_path, text, field, hint):
    with pytest.raises(InputError) as info:
        TabulatedReference.from_file(_write(tmp_path, text))
    assert f"'{field}'" in str(info.value) and hint in str(info.value)


def test_labels_must_be_property_labels_with_did_you_mean(tmp_path):
    labels = ["eos", "elastic_perfect", "vacancy_64", "vacancy_216"]
    ok = "values:\n  eos.a_a: 5.4\nnot_available:\n  vacancy_*.formation_energy_ev: none\n"
    ok += "thresholds:\n  md_survival.failure_rate_per_atom_ps: 1.0e-5\n"  # a value the analysis adds
    assert TabulatedReference.from_file(_write(tmp_path, ok), labels=labels).values == {"eos.a_a": (5.4, "ref.yaml")}
    for text, field, closest in [
        ("values:\n  elastic_perfct.c11_gpa: 150\n", "values.elastic_perfct.c11_gpa", "elastic_perfect"),
        ("values: {}\nthresholds:\n  vacancy_46.formation_energy_ev: 0.2\n", "thresholds.vacancy_46.", "vacancy_64"),
        ("values: {}\nnot_available:\n  vacncy_*.formation_energy_ev: none\n", "not_available.vacncy_*", "vacancy_64"),
    ]:
        path = _write(tmp_path, text)
        with pytest.raises(InputError) as info:
            TabulatedReference.from_file(path, labels=labels)
        message = str(info.value)
        assert str(path) in message and f"'{field}" in message and "unknown label '" in message, message
        assert f"did you mean '{closest}'?" in message
        TabulatedReference.from_file(path)  # without labels (no material known) only the form is checked
