"""The main job's TOML configuration: schema, profile merging and validation before any work starts.

Every unknown key, wrong type or missing file is reported as an InputError naming the config file and the dotted
key path. See ``examples/si.toml`` for a commented example.
"""

from __future__ import annotations

import copy
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlipscope.errors import InputError

SAMPLERS = ("random", "lhs", "sobol")


@dataclass
class EnsembleSpec:
    family: str
    n: int
    sampler: str = "sobol"
    sampler_seed: int = 0
    seeds: list[int] = field(default_factory=lambda: [0])
    training_sets: list[str] = field(default_factory=list)
    fixed: dict[str, Any] = field(default_factory=dict)


@dataclass
class PotentialSpec:
    """An existing potential registered as a model (no fitting)."""

    name: str
    calculator: str


@dataclass
class RunConfig:
    path: Path
    name: str
    db_path: Path
    out_dir: Path
    models_dir: Path
    task_timeout_s: float
    workers: int
    training_sets: list[str]
    ensembles: list[EnsembleSpec]
    potentials: list[PotentialSpec]
    suite: str
    suite_properties: list[str] | None
    suite_overrides: dict[str, dict[str, Any]]
    reference: str
    analysis: dict[str, Any]


_SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "run": {
        "name": str,
        "db": str,
        "out": str,
        "models_dir": str,
        "task_timeout_s": (int, float),
        "workers": int,
    },
    "data": {"training_sets": list},
    "suite": {"name": str, "properties": list, "reference": str, "overrides": dict},
}
_ENSEMBLE_KEYS: dict[str, type | tuple[type, ...]] = {
    "family": str,
    "n": int,
    "sampler": str,
    "sampler_seed": int,
    "seeds": list,
    "training_sets": list,
    "fixed": dict,
}
_POTENTIAL_KEYS: dict[str, type | tuple[type, ...]] = {"name": str, "calculator": str}
_TOP_LEVEL = {"run", "data", "ensemble", "potentials", "suite", "analysis", "quick"}


def _merge(base: dict, override: dict) -> dict:
    """Deep-merge dicts; lists and scalars in ``override`` replace those in ``base``."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _check_table(path: Path, where: str, table: Any, schema: dict[str, Any]) -> None:
    if not isinstance(table, dict):
        raise InputError(path, where, "a table", got=table)
    for key, value in table.items():
        if key not in schema:
            raise InputError(path, f"{where}.{key}", f"one of the keys {sorted(schema)} (unknown key)")
        expected = schema[key]
        if isinstance(value, bool) or not isinstance(value, expected):
            names = expected.__name__ if isinstance(expected, type) else " or ".join(t.__name__ for t in expected)
            raise InputError(path, f"{where}.{key}", f"a {names}", got=value)


def _resolve_dataset(path: Path, where: str, name: str) -> str:
    """A shipped example name stays as is; a path is made absolute (relative to the config) and must exist."""
    from mlipscope.data.examples import EXAMPLES

    if name in EXAMPLES:
        return name
    candidate = Path(name)
    if not candidate.is_absolute():
        candidate = path.parent / candidate
    if not candidate.is_file():
        raise InputError(
            path,
            where,
            f"a shipped dataset name ({', '.join(sorted(EXAMPLES))}) or an existing file",
            got=name,
        )
    return str(candidate.resolve())


def load_config(path: str | Path, *, quick: bool = False) -> RunConfig:
    """Read and validate a run config; with ``quick`` the ``[quick]`` table is deep-merged over the rest."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "config file", "an existing TOML file")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, "file contents", f"valid TOML ({exc})") from None
    for key in raw:
        if key not in _TOP_LEVEL:
            raise InputError(path, key, f"one of the top-level tables {sorted(_TOP_LEVEL)} (unknown key)")
    quick_table = raw.pop("quick", {})
    if quick:
        if not quick_table:
            raise InputError(path, "quick", "a [quick] table (the --quick profile) in the config")
        for key in quick_table:
            if key not in _TOP_LEVEL - {"quick"}:
                raise InputError(path, f"quick.{key}", f"one of {sorted(_TOP_LEVEL - {'quick'})}")
        raw = _merge(raw, quick_table)
    for section, schema in _SCHEMA.items():
        _check_table(path, section, raw.get(section, {}), schema)
    run, data, suite = raw.get("run", {}), raw.get("data", {}), raw.get("suite", {})
    base = path.parent

    def _path(key: str, default: str) -> Path:
        p = Path(run.get(key, default))
        return p if p.is_absolute() else (base / p)

    training_sets = [
        _resolve_dataset(path, f"data.training_sets[{i}]", str(s)) for i, s in enumerate(data.get("training_sets", []))
    ]
    ensembles = []
    ensemble_tables = raw.get("ensemble", [])
    if not isinstance(ensemble_tables, list):
        raise InputError(path, "ensemble", "an array of tables ([[ensemble]])")
    from mlipscope.models.registry import FAMILIES

    for i, table in enumerate(ensemble_tables):
        where = f"ensemble[{i}]"
        _check_table(path, where, table, _ENSEMBLE_KEYS)
        if "family" not in table or "n" not in table:
            raise InputError(path, where, "keys 'family' and 'n'")
        if table["family"] not in FAMILIES:
            raise InputError(path, f"{where}.family", f"one of {sorted(FAMILIES)}", got=table["family"])
        from mlipscope.models.registry import get_family

        names = get_family(table["family"]).hyperparameter_space().names
        for key in table.get("fixed", {}):
            if key not in names:
                raise InputError(path, f"{where}.fixed.{key}", f"a hyperparameter of {table['family']}: {names}")
        if table["n"] < 0:
            raise InputError(path, f"{where}.n", "a non-negative integer", got=table["n"])
        if table.get("sampler", "sobol") not in SAMPLERS:
            raise InputError(path, f"{where}.sampler", f"one of {SAMPLERS}", got=table["sampler"])
        sets = [
            _resolve_dataset(path, f"{where}.training_sets[{j}]", str(s))
            for j, s in enumerate(table.get("training_sets", []))
        ] or training_sets
        if not sets and table["n"] > 0:
            raise InputError(path, f"{where}.training_sets", "at least one training set (or data.training_sets)")
        ensembles.append(
            EnsembleSpec(
                family=table["family"],
                n=table["n"],
                sampler=table.get("sampler", "sobol"),
                sampler_seed=table.get("sampler_seed", 0),
                seeds=[int(s) for s in table.get("seeds", [0])],
                training_sets=sets,
                fixed=dict(table.get("fixed", {})),
            )
        )
    potentials = []
    for i, table in enumerate(raw.get("potentials", [])):
        _check_table(path, f"potentials[{i}]", table, _POTENTIAL_KEYS)
        if set(table) != set(_POTENTIAL_KEYS):
            raise InputError(path, f"potentials[{i}]", "keys 'name' and 'calculator'")
        potentials.append(PotentialSpec(**table))
    if not ensembles and not potentials:
        raise InputError(path, "ensemble", "at least one [[ensemble]] or [[potentials]] entry")

    from mlipscope.properties.suite import build_suite

    suite_name = suite.get("name", "si-default")
    labels = suite.get("properties") or None
    overrides = suite.get("overrides", {})
    try:  # instantiating the selected properties checks the suite name, the labels and the override settings
        build_suite(suite_name, labels, overrides)
    except InputError as exc:
        field = "suite.name" if exc.field == "suite" else f"suite.{exc.field.removeprefix('suite.')}"
        raise InputError(path, field, exc.expected, got=exc.got) from None
    reference = suite.get("reference", "si-dft")
    if reference not in ("si-dft", "none") and not reference.startswith("calc:"):
        ref_path = Path(reference) if Path(reference).is_absolute() else base / reference
        if not ref_path.is_file():
            raise InputError(
                path,
                "suite.reference",
                "si-dft, none, calc:<spec> or an existing YAML/JSON file",
                got=reference,
            )
        reference = str(ref_path.resolve())
    analysis = raw.get("analysis", {})
    if not isinstance(analysis, dict):
        raise InputError(path, "analysis", "a table", got=analysis)
    return RunConfig(
        path=path,
        name=run.get("name", path.stem),
        db_path=_path("db", f"{path.stem}.duckdb"),
        out_dir=_path("out", f"{path.stem}-report"),
        models_dir=_path("models_dir", f"{path.stem}-models"),
        task_timeout_s=float(run.get("task_timeout_s", 900)),
        workers=int(run.get("workers", os.cpu_count() or 1)),
        training_sets=training_sets,
        ensembles=ensembles,
        potentials=potentials,
        suite=suite_name,
        suite_properties=labels,
        suite_overrides=overrides,
        reference=reference,
        analysis=analysis,
    )
