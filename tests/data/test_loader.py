"""read_dataset / write_dataset: labels moved to fixed keys, extras kept, every bad input named precisely."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from mlipscope.data.dataset import ENERGY_KEY, FORCES_KEY, STRESS_KEY
from mlipscope.data.loader import (
    REFERENCE_SHIFT_KEY,
    combine_datasets,
    read_dataset,
    read_datasets,
    write_dataset,
)
from mlipscope.errors import InputError

HEADER = 'Lattice="5.43 0 0 0 5.43 0 0 0 5.43" pbc="T T T"'
PROPS = "species:S:1:pos:R:3:forces:R:3"
ROWS = ("Si 0.0 0.0 0.0 0.1 -0.2 0.3", "Si 1.3575 1.3575 1.3575 -0.1 0.2 -0.3")
VOLUME_A3 = 5.43**3


def _frame(info: str = "energy=-10.8 source=a", props: str = PROPS, rows: tuple[str, ...] = ROWS) -> str:
    return f"{len(rows)}\n{HEADER} Properties={props} {info}\n" + "\n".join(rows) + "\n"


def _write(tmp_path, *frames: str, name: str = "set.extxyz"):
    path = tmp_path / name
    path.write_text("".join(frames))
    return path


def _check(exc: InputError, path, field: str, frame: int | None) -> None:
    msg = str(exc)
    assert str(path) in msg
    assert f"field '{field}'" in msg
    assert exc.field == field
    assert exc.frame == frame
    if frame is not None:
        assert f"frame {frame}" in msg


def test_labels_move_to_fixed_keys_and_extras_stay(tmp_path):
    props = PROPS + ":r_migrating:R:1"
    rows = tuple(r + f" {x}" for r, x in zip(ROWS, ("0.0", "2.5"), strict=True))
    stress = " ".join(str(v) for v in (0.01, 0.004, 0.003, 0.004, 0.02, 0.002, 0.003, 0.002, 0.03))
    text = _frame(f'energy=-10.8 energy_K2=-10.7 stress="{stress}" source=a config_type=bulk', props, rows)
    path = _write(tmp_path, text, _frame("energy=-10.9 source=a"))
    data = read_dataset(path)
    assert (data.name, data.path, len(data)) == ("set", path, 2)
    first = data[0]
    assert first.calc is None
    assert first.info[ENERGY_KEY] == -10.8
    assert first.info["energy_K2"] == -10.7
    np.testing.assert_allclose(first.arrays[FORCES_KEY], [[0.1, -0.2, 0.3], [-0.1, 0.2, -0.3]])
    np.testing.assert_allclose(first.arrays["r_migrating"], [0.0, 2.5])
    # Voigt order xx, yy, zz, yz, xz, xy from the 3x3 written above
    np.testing.assert_allclose(first.info[STRESS_KEY], [0.01, 0.02, 0.03, 0.002, 0.003, 0.004])
    assert STRESS_KEY not in data[1].info


def test_named_keys_3x3_stress_and_virial(tmp_path):
    props = PROPS + ":forces_K1:R:3"
    rows = tuple(r + " 1.0 2.0 3.0" for r in ROWS)
    raw = np.array([[0.01, 0.004, 0.003], [0.004, 0.02, 0.002], [0.003, 0.002, 0.03]])
    flat = " ".join(str(v) for v in raw.ravel())
    path = _write(tmp_path, _frame(f'energy=-1 energy_K2=-10.7 REF_stress="{flat}" source=a', props, rows))
    data = read_dataset(path, energy_key="energy_K2", forces_key="forces_K1", stress_key="REF_stress")
    assert data[0].info[ENERGY_KEY] == -10.7
    np.testing.assert_allclose(data[0].arrays[FORCES_KEY], [[1.0, 2.0, 3.0]] * 2)
    expected = [raw[0, 0], raw[1, 1], raw[2, 2], raw[1, 2], raw[0, 2], raw[0, 1]]
    np.testing.assert_allclose(data[0].info[STRESS_KEY], expected)

    virial = np.array([[1.0, 0.3, 0.4], [0.3, 2.0, 0.5], [0.4, 0.5, 3.0]])  # eV, W = -V sigma
    path = _write(tmp_path, _frame(f'energy=-1 virial="{" ".join(map(str, virial.ravel()))}"'), name="v.xyz")
    expected = -np.array([1.0, 2.0, 3.0, 0.5, 0.4, 0.3]) / VOLUME_A3
    np.testing.assert_allclose(read_dataset(path)[0].info[STRESS_KEY], expected, rtol=1e-12)


def test_index_selects_frames_and_errors_name_file_positions(tmp_path):
    frames = [_frame(f"energy={-10 - i} source=a") for i in range(4)]
    path = _write(tmp_path, *frames)
    assert read_dataset(path, index="1:3").energies_ev().tolist() == [-11.0, -12.0]
    assert read_dataset(path, index=-1).energies_ev().tolist() == [-13.0]
    bad = _write(tmp_path, *frames[:2], _frame("energy=nan source=a"), name="bad.extxyz")
    with pytest.raises(InputError) as err:
        read_dataset(bad, index="1:")
    _check(err.value, bad, "energy", 2)
    with pytest.raises(InputError) as err:
        read_dataset(path, index=7)
    _check(err.value, path, "index", None)


NAN_POS = ("Si nan 0.0 0.0 0.1 -0.2 0.3", ROWS[1])
NAN_FORCE = ("Si 0.0 0.0 0.0 0.1 inf 0.3", ROWS[1])
NO_FORCES = tuple(" ".join(r.split()[:4]) for r in ROWS)


FM_PROPS = PROPS + ":fm:R:3"
FM_ROWS = tuple(r + " 0.0 0.0 0.0" for r in ROWS)


@pytest.mark.parametrize(
    ("frame_text", "kwargs", "field"),
    [
        (_frame("source=a"), {}, "energy"),
        (_frame("energy=-10.8", "species:S:1:pos:R:3", NO_FORCES), {}, "forces"),
        (_frame("energy=nan"), {}, "energy"),
        (_frame("energy=-10.8", rows=NAN_FORCE), {}, "forces"),
        (_frame('energy=-10.8 stress="inf 0 0 0 1 0 0 0 1"'), {}, "stress"),
        (_frame("energy=-10.8", rows=NAN_POS), {}, "positions"),
        (_frame('energy=-10.8 E2="1.0 2.0"'), {"energy_key": "E2"}, "E2"),
        (_frame('energy=-10.8 E2=-1 S4="1.0 2.0 3.0 4.0"'), {"stress_key": "S4"}, "S4"),
        (_frame("energy=-10.8"), {"forces_key": "fm"}, "fm"),
        (_frame("energy=-10.8 energy_units=kcal/mol"), {}, "energy_units"),
        (_frame("energy=-10.8 forces_units=eV/bohr"), {}, "forces_units"),
        (_frame("energy=-10.8 stress_units=GPa"), {}, "stress_units"),
        (_frame("energy=-10.8 units=hartree"), {}, "units"),
    ],
    ids=lambda x: x if isinstance(x, str) and len(x) < 20 else "",
)
def test_bad_frame_names_file_frame_and_field(tmp_path, frame_text, kwargs, field):
    good = _frame('energy=-10.8 E2=-10.0 S4="0 0 0 0 0 0"', FM_PROPS, FM_ROWS)  # has every named key
    path = _write(tmp_path, good, frame_text)
    with pytest.raises(InputError) as err:
        read_dataset(path, **kwargs)
    _check(err.value, path, field, 1)


def test_forces_of_wrong_shape(tmp_path):
    props = PROPS + ":r_migrating:R:1"
    rows = tuple(r + " 1.0" for r in ROWS)
    path = _write(tmp_path, _frame("energy=-1", props, rows))
    with pytest.raises(InputError) as err:
        read_dataset(path, forces_key="r_migrating")
    _check(err.value, path, "r_migrating", 0)
    assert "(2, 3)" in str(err.value)


def test_declared_ev_units_are_accepted(tmp_path):
    info = "energy=-10.8 energy_units=eV forces_units=eV/Ang stress_units=eV/A^3 units=metal"
    path = _write(tmp_path, _frame(info))
    assert read_dataset(path).energies_ev().tolist() == [-10.8]


def test_empty_missing_and_unreadable_files(tmp_path):
    empty = _write(tmp_path, "", name="empty.xyz")
    with pytest.raises(InputError) as err:
        read_dataset(empty)
    _check(err.value, empty, "frames", None)
    garbage = _write(tmp_path, "this is not an xyz file\n", name="garbage.extxyz")
    with pytest.raises(InputError) as err:
        read_dataset(garbage)
    _check(err.value, garbage, "file contents", None)
    assert "extended XYZ" in str(err.value)
    missing = tmp_path / "nope.extxyz"
    with pytest.raises(InputError) as err:
        read_dataset(missing)
    _check(err.value, missing, "path", None)
    bad_db = _write(tmp_path, '{"not": "an ase db"}', name="bad.json")
    with pytest.raises(InputError) as err:
        read_dataset(bad_db)
    _check(err.value, bad_db, "file contents", None)
    assert "ASE database" in str(err.value)


def test_mixed_sources_need_reference_energies(tmp_path):
    path = _write(tmp_path, _frame("energy=-10.8 source=a"), _frame("energy=-300.0 source=b"))
    with pytest.raises(InputError) as err:
        read_dataset(path)
    _check(err.value, path, "source", 1)
    assert "reference_energies" in str(err.value)
    with pytest.raises(InputError) as err:
        read_dataset(path, reference_energies={"a": -5.0})
    _check(err.value, path, "source", 1)

    data = read_dataset(path, reference_energies={"a": -5.0, "b": {"Si": -150.5}})
    # two atoms per frame: E - 2 * e_ref
    np.testing.assert_allclose(data.energies_ev(), [-10.8 + 10.0, -300.0 + 301.0])
    assert [a.info[REFERENCE_SHIFT_KEY] for a in data] == [-10.0, -301.0]

    # a referenced set written and read back is not shifted twice and may be mixed
    again = read_dataset(write_dataset(data, tmp_path / "out.extxyz"))
    np.testing.assert_allclose(again.energies_ev(), data.energies_ev())
    raw_a = read_dataset(_write(tmp_path, _frame("energy=-1 source=a"), name="a.xyz"))
    raw_b = read_dataset(_write(tmp_path, _frame("energy=-2 source=b"), name="b.xyz"))
    assert len(combine_datasets([again, data])) == 4
    with pytest.raises(InputError) as err:
        combine_datasets([raw_a, raw_b])
    assert err.value.field == "source" and err.value.frame == 1
    with pytest.raises(InputError):
        combine_datasets([data, raw_a])  # referenced + unreferenced


def test_write_read_round_trip_keeps_hash_and_extras(tmp_path):
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    rng = np.random.default_rng(3)
    atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
    atoms.arrays["r_migrating"] = rng.uniform(0, 5.5, len(atoms))
    atoms.info.update(source="a", config_type="rattled", energy_K2=-43.1)
    atoms.calc = SinglePointCalculator(
        atoms, energy=-43.2, forces=rng.normal(size=(8, 3)), stress=rng.normal(scale=1e-3, size=6)
    )
    first = _write(tmp_path, name="first.extxyz")
    import ase.io

    ase.io.write(first, [atoms, atoms], format="extxyz")
    data = read_dataset(first)
    back = read_dataset(write_dataset(data, tmp_path / "sub" / "second.extxyz"))
    assert back.content_hash == data.content_hash
    np.testing.assert_allclose(back[0].arrays["r_migrating"], atoms.arrays["r_migrating"], atol=1e-8)
    assert back[1].info["energy_K2"] == -43.1
    assert [d.name for d in read_datasets([first, tmp_path / "sub" / "second.extxyz"])] == ["first", "second"]


@pytest.mark.parametrize("suffix", [".db", ".json"])
def test_ase_database(tmp_path, suffix):
    import ase.db

    atoms = bulk("Si", "diamond", a=5.43)
    forces = np.array([[0.1, 0.0, -0.1], [-0.1, 0.0, 0.1]])
    atoms.calc = SinglePointCalculator(atoms, energy=-10.85, forces=forces)
    path = tmp_path / f"set{suffix}"
    with ase.db.connect(path) as db:
        db.write(atoms, source="a", config_type="bulk", data={"forces_K1": 2 * forces, "energy_K2": -10.8})
        db.write(atoms, source="a", config_type="bulk")
    data = read_dataset(path)
    assert len(data) == 2 and data.config_types == ["bulk", "bulk"]
    assert data[0].info[ENERGY_KEY] == -10.85
    np.testing.assert_allclose(data[0].arrays[FORCES_KEY], forces)
    np.testing.assert_allclose(data[0].arrays["forces_K1"], 2 * forces)
    assert data[0].info["energy_K2"] == -10.8
    assert math.isclose(read_dataset(path, index=":1", energy_key="energy_K2")[0].info[ENERGY_KEY], -10.8)
    with pytest.raises(InputError) as err:
        read_dataset(path, energy_key="energy_K2")  # the second row has no energy_K2
    _check(err.value, path, "energy_K2", 1)
