"""``--set <label>.<setting>=<value>``: read as JSON or text, checked against the setting's type, globs over the
properties evaluated, and errors that name the assignment with "did you mean"."""

from __future__ import annotations

import pytest

from mlipscope.errors import InputError
from mlipscope.properties.setting_overrides import parse_assignments, settings_of
from mlipscope.properties.suite import build_suite, suite_entries


@pytest.fixture(scope="module")
def entries():
    return suite_entries("si-full", ["eos", "elastic_perfect", "vacancy_64", "phonons_perfect", "diffusion_vacancy"])


def test_values_are_read_as_their_settings_types(entries):
    overrides = parse_assignments(
        [
            "eos.n_points=11",
            "eos.isolated_atom_box_a=25",  # an integer is a number: stored as 25.0, like a float default
            "vacancy_64.optimizer=FIRE",  # no JSON: the text
            "vacancy_64.rattle_a=null",
            "phonons_perfect.supercell=[3, 3, 3]",
            "diffusion_vacancy.temperatures_k=[900, 1100]",  # a list where a tuple belongs
            "eos.n_points=13",  # a later assignment wins
        ],
        entries,
    )
    assert overrides == {
        "eos": {"n_points": 13, "isolated_atom_box_a": 25.0},
        "vacancy_64": {"optimizer": "FIRE", "rattle_a": None},
        "phonons_perfect": {"supercell": [3, 3, 3]},
        "diffusion_vacancy": {"temperatures_k": (900.0, 1100.0)},
    }
    assert isinstance(overrides["eos"]["isolated_atom_box_a"], float)
    props = {p.label: p for p in build_suite("si-full", [e.label for e in entries], overrides)}
    assert props["eos"].n_points == 13 and props["vacancy_64"].optimizer == "FIRE"


def test_a_glob_sets_every_property_that_has_the_setting(entries):
    overrides = parse_assignments(["*.fmax=1e-2"], entries)
    having = {e.label for e in entries if "fmax" in settings_of(e.property_class())}
    assert set(overrides) == having == {"elastic_perfect", "vacancy_64", "phonons_perfect"}  # not eos, no fmax
    assert all(changed == {"fmax": 0.01} for changed in overrides.values())


@pytest.mark.parametrize(
    ("assignment", "fragment"),
    [
        ("eos.n_points=11.5", "expected an integer, got '11.5'"),
        ("eos.n_points=true", "expected an integer"),  # true is no 1
        ("eos.volume_range=small", "expected a number, got 'small'"),
        ("vacancy_64.rattle_a=big", "expected a number or null"),
        ("phonons_perfect.supercell=3", "expected a list (tuple[int, int, int]) or a list (list[int])"),
        ("vacancy_64.fmx=0.1", "unknown setting 'fmx'; did you mean 'fmax'?"),
        ("vacancy_46.fmax=0.1", "unknown label 'vacancy_46'; did you mean 'vacancy_64'?"),
        ("surface_*.fmax=0.1", "unknown label 'surface_*'"),  # not evaluated: the glob matches nothing
        ("eos.n_points", "expected <label>.<setting>=<value>"),
        ("n_points=3", "expected <label>.<setting>=<value>"),
    ],
)
def test_bad_assignments_name_themselves(entries, assignment, fragment):
    with pytest.raises(InputError) as info:
        parse_assignments([assignment], entries, "mlipscope benchmark --set")
    message = str(info.value)
    assert message.startswith(f"mlipscope benchmark --set: field '{assignment}'") and fragment in message, message
