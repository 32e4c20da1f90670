"""The main job's TOML configuration: schema, profile merging and validation before any work starts.

The tables are pydantic schemas (:mod:`mlipscope.validation`): every unknown key, wrong type or missing file is
reported as one InputError naming the config file and the dotted key path (``ensemble[2].n``), before any work.
What needs more than the file (families, hyperparameters, materials, datasets, the suite's properties) is checked
next, still at load. See ``examples/si.toml`` for a commented example.
"""

from __future__ import annotations

import copy
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import Field

from mlipscope.errors import InputError
from mlipscope.validation import Schema, Seconds, checked, expect, validate

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
    material: str | None = None  # material name or file (None: the run's material)
    #: two-level sampling: this many descriptor settings x n / descriptor_points regression settings (None: one level)
    descriptor_points: int | None = None
    #: hyperparameters sampled over part of their range: name -> [low, high] or a list of choices
    ranges: dict[str, Any] = field(default_factory=dict)


@dataclass
class PotentialSpec:
    """An existing potential registered as a model (no fitting), benchmarked on ``material``."""

    name: str
    calculator: str
    material: str | None = None


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
    material: str = "si"  # the run's material: a shipped name or an absolute file path
    max_attempts: int = 2  # attempts of an evaluation whose failure is transient (timeout, crash, ...)
    no_worker_wait_s: float = 300.0  # how long a run waits with no Dask worker before it stops
    progress_interval_s: float = 30.0  # seconds between progress lines in batch mode and in the log file
    dynamics: Any = None  # runner.dynamics.DynamicsSpec of the [dynamics] table, or None (no dynamics stage)
    group_tasks: str = "auto"  # "auto" | "model" | "none": grouped fits and evaluation tasks (runner.submission)
    linear_batch: bool = True  # evaluate fixed-geometry properties of SNAP/POD members in batches
    linear_batch_size: int = 400  # members per batched task
    memory_limit: str | None = None  # per LocalCluster worker, e.g. "4GiB" (Dask's default: RAM / workers)

    def dynamics_properties(self) -> list:
        """The dynamics stage's properties (the run's material's full suite, ``[dynamics]`` labels and overrides),
        or [] without a ``[dynamics]`` table."""
        if self.dynamics is None:
            return []
        from mlipscope.properties.suite import build_suite, suite_entries

        full = self.suite.rpartition("-")[0] + "-full" if "-" in self.suite else "full"
        labels = self.dynamics.labels([e.label for e in suite_entries(full, material=self.material)])
        return build_suite(full, labels, self.dynamics.overrides, material=self.material)

    def materials(self) -> list[str]:
        """Every material the run evaluates, the run's own first."""
        used = [self.material] + [s.material or self.material for s in (*self.ensembles, *self.potentials)]
        return list(dict.fromkeys(used))

    def properties_for(self, material: str | None = None) -> list:
        """The suite's properties for ``material`` (default: the run's). In a run over several materials each
        material gets the run's suite kind, restricted to the listed labels (and overrides) its suite has."""
        from mlipscope.properties.suite import build_suite, suite_entries

        material = material or self.material
        if len(self.materials()) == 1:
            return build_suite(self.suite, self.suite_properties, self.suite_overrides, material=material)
        name = self.suite if material == self.material else self.suite.rpartition("-")[2]
        known = {e.label for e in suite_entries(name, material=material)}
        labels = [label for label in self.suite_properties if label in known] if self.suite_properties else None
        overrides = {k: v for k, v in self.suite_overrides.items() if k in known}
        return build_suite(name, labels, overrides, material=material)


GROUP_MODES = ("auto", "model", "none")
_TABLE = "a table"


def _memory_size(value: Any) -> bool:
    """A Dask memory limit ("4GiB", "2 GB", a number of bytes), checked now, not when the cluster starts."""
    if isinstance(value, str):
        from dask.utils import parse_bytes

        try:
            parse_bytes(value)
        except (ValueError, TypeError):
            return False
        return True
    return isinstance(value, int) and not isinstance(value, bool)  # a number of bytes


class _RunTable(Schema):
    expected_text: ClassVar[str] = _TABLE
    name: str | None = None
    db: str | None = None
    out: str | None = None
    models_dir: str | None = None
    task_timeout_s: Seconds = 900.0
    workers: int | None = expect("at least 1 worker", None, ge=1)
    max_attempts: int = expect("at least 1 attempt", 2, ge=1)
    no_worker_wait_s: float = 300.0
    progress_interval_s: float = expect("a positive number of seconds", 30.0, gt=0)
    group_tasks: Annotated[str, checked(lambda v: v in GROUP_MODES, f"one of {list(GROUP_MODES)}")] = "auto"
    linear_batch: bool = True
    linear_batch_size: int = expect("a positive integer", 400, ge=1)
    memory_limit: Annotated[Any, checked(_memory_size, "a memory size such as '4GiB' or a number of bytes")] = None


class _DataTable(Schema):
    expected_text: ClassVar[str] = _TABLE
    training_sets: list[str] = []


class _MaterialTable(Schema):
    expected_text: ClassVar[str] = _TABLE
    name: str | None = None
    file: str | None = None


class _SuiteTable(Schema):
    expected_text: ClassVar[str] = _TABLE
    name: str = "default"
    properties: list[str] | None = None
    reference: str = "material"
    overrides: dict[str, dict[str, Any]] = expect("a table of property label -> settings", {})


class _EnsembleTable(Schema):
    expected_text: ClassVar[str] = "an [[ensemble]] table"
    family: str
    n: int = expect("a positive number of members (n >= 1)", ge=1)
    sampler: Annotated[str, checked(lambda v: v in SAMPLERS, f"one of {SAMPLERS}")] = "sobol"
    sampler_seed: int = 0
    seeds: list[Annotated[int, Field(ge=0)]] = expect("a non-negative integer seed", [0])
    training_sets: list[str] = []
    fixed: dict[str, Any] = {}
    material: str | None = None
    descriptor_points: int | None = None
    ranges: dict[str, Any] = {}


class _PotentialTable(Schema):
    expected_text: ClassVar[str] = "a [[potentials]] table"
    name: str
    calculator: str
    material: str | None = None


class _Tables(Schema):
    """Every table of a run config (also the form of its ``[quick]`` profile, merged over them)."""

    expected_text: ClassVar[str] = "a TOML document of tables"
    run: _RunTable = _RunTable()
    data: _DataTable = _DataTable()
    material: _MaterialTable = _MaterialTable()
    suite: _SuiteTable = _SuiteTable()
    ensemble: list[_EnsembleTable] = expect("an array of tables ([[ensemble]])", [])
    potentials: list[_PotentialTable] = expect("an array of tables ([[potentials]])", [])
    analysis: dict[str, Any] = expect(_TABLE, {})  # checked by AnalysisConfig
    dynamics: Any = None  # checked by runner.dynamics.DynamicsSpec


class _RunFile(_Tables):
    quick: dict[str, Any] = expect("a [quick] table of the tables above", {})


def _merge(base: dict, override: dict) -> dict:
    """Deep-merge dicts; lists and scalars in ``override`` replace those in ``base``."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


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


def _resolve_material(path: Path, where: str, spec: str) -> str:
    """A material file is made absolute (relative to the config); a shipped name stays as is. Both are loaded here,
    so a bad material file is reported against the config before any work."""
    from mlipscope.materials import load_material, shipped_material_names

    candidate = Path(spec) if Path(spec).is_absolute() else path.parent / spec
    if candidate.is_file():
        resolved = str(candidate.resolve())
    elif spec in shipped_material_names():
        resolved = spec
    else:
        raise InputError(path, where, f"a shipped material {shipped_material_names()} or a material file", got=spec)
    load_material(resolved)
    return resolved


def _read_tables(path: Path, quick: bool) -> _Tables:
    """The file's tables, validated, with the ``[quick]`` profile merged over them when ``quick``."""
    if not path.is_file():
        raise InputError(path, "config file", "an existing TOML file")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, "file contents", f"valid TOML ({exc})") from None
    tables = validate(_RunFile, raw, path)
    validate(_Tables, tables.quick, path, prefix="quick")  # a typo in the profile is found without --quick too
    if not quick:
        return tables
    if not tables.quick:
        raise InputError(path, "quick", "a [quick] table (the --quick profile) in the config")
    raw.pop("quick")
    return validate(_Tables, _merge(raw, tables.quick), path)


def load_config(path: str | Path, *, quick: bool = False) -> RunConfig:
    """Read and validate a run config; with ``quick`` the ``[quick]`` table is deep-merged over the rest."""
    path = Path(path)
    tables = _read_tables(path, quick)
    run, suite = tables.run, tables.suite
    material = _run_material(path, tables)
    training_sets = [
        _resolve_dataset(path, f"data.training_sets[{i}]", s) for i, s in enumerate(tables.data.training_sets)
    ]
    ensembles = [_ensemble(path, i, table, training_sets) for i, table in enumerate(tables.ensemble)]
    potentials = _potentials(path, tables.potentials, material)
    if not ensembles and not potentials:
        raise InputError(path, "ensemble", "at least one [[ensemble]] or [[potentials]] entry")
    reference = _reference(path, suite.reference)
    from mlipscope.analysis import AnalysisConfig

    AnalysisConfig.from_dict(tables.analysis, source=path)  # a bad analysis setting is found now, not after the run

    def _path(value: str | None, default: str) -> Path:
        p = Path(default if value is None else value)
        return p if p.is_absolute() else (path.parent / p)

    config = RunConfig(
        path=path,
        name=path.stem if run.name is None else run.name,
        db_path=_path(run.db, f"{path.stem}.duckdb"),
        out_dir=_path(run.out, f"{path.stem}-report"),
        models_dir=_path(run.models_dir, f"{path.stem}-models"),
        task_timeout_s=float(run.task_timeout_s),
        workers=run.workers or os.cpu_count() or 1,
        training_sets=training_sets,
        ensembles=ensembles,
        potentials=potentials,
        suite=suite.name,
        suite_properties=suite.properties or None,
        suite_overrides=suite.overrides,
        reference=reference,
        analysis=tables.analysis,
        material=material,
        max_attempts=run.max_attempts,
        no_worker_wait_s=float(run.no_worker_wait_s),
        progress_interval_s=float(run.progress_interval_s),
        dynamics=_dynamics(path, tables.dynamics),
        group_tasks=run.group_tasks,
        linear_batch=run.linear_batch,
        linear_batch_size=run.linear_batch_size,
        memory_limit=None if run.memory_limit is None else str(run.memory_limit),
    )
    _check_suites(path, config)
    return config


def _run_material(path: Path, tables: _Tables) -> str:
    """The run's material: ``[material]`` name or file, else the suite name's material prefix, else si."""
    table = tables.material
    if table.name is not None and table.file is not None:
        raise InputError(path, "material", "one of 'name' (a shipped material) or 'file' (a material YAML)")
    spec = table.name or table.file or tables.suite.name.rpartition("-")[0] or "si"
    return _resolve_material(path, "material.file" if table.file is not None else "material.name", spec)


def _ensemble(path: Path, i: int, table: _EnsembleTable, default_sets: list[str]) -> EnsembleSpec:
    """One ``[[ensemble]]`` entry: family, fixed hyperparameters, descriptor points and training sets checked."""
    from mlipscope.models.registry import FAMILIES, get_family

    where = f"ensemble[{i}]"
    if table.family not in FAMILIES:
        raise InputError(path, f"{where}.family", f"one of {sorted(FAMILIES)}", got=table.family)
    family = get_family(table.family)
    space = family.hyperparameter_space()
    for key, value in table.fixed.items():
        if key not in space.names:
            raise InputError(path, f"{where}.fixed.{key}", f"a hyperparameter of {table.family}: {space.names}")
        expected = space.parameters[space.names.index(key)].type_error(value)
        if expected:
            raise InputError(path, f"{where}.fixed.{key}", expected, got=value)
    both = sorted(set(table.fixed) & set(table.ranges))
    if both:
        raise InputError(path, f"{where}.ranges.{both[0]}", "a hyperparameter that is not also in fixed")
    try:
        space.narrowed(table.ranges)
    except InputError as exc:
        raise InputError(path, f"{where}.{exc.field}", exc.expected, got=exc.got) from None
    if table.descriptor_points is not None:
        from mlipscope.models.sampling import check_descriptor_points

        try:
            check_descriptor_points(family, table.n, table.descriptor_points)
        except InputError as exc:
            raise InputError(path, f"{where}.descriptor_points", exc.expected, got=exc.got) from None
    sets = [
        _resolve_dataset(path, f"{where}.training_sets[{j}]", s) for j, s in enumerate(table.training_sets)
    ] or default_sets
    if not sets:
        raise InputError(path, f"{where}.training_sets", "at least one training set (or data.training_sets)")
    material = None if table.material is None else _resolve_material(path, f"{where}.material", table.material)
    return EnsembleSpec(
        family=table.family,
        n=table.n,
        sampler=table.sampler,
        sampler_seed=table.sampler_seed,
        seeds=list(table.seeds),
        training_sets=sets,
        fixed=dict(table.fixed),
        material=material,
        descriptor_points=table.descriptor_points,
        ranges=dict(table.ranges),
    )


def _potentials(path: Path, tables: list[_PotentialTable], run_material: str) -> list[PotentialSpec]:
    """The ``[[potentials]]`` entries; two with the same calculator on the same material would be one stored model
    (the model id hashes the calculator spec and, off the run's material, the material's name): refused."""
    from mlipscope.materials import load_material

    out: list[PotentialSpec] = []
    seen: dict[tuple[str, str | None], int] = {}
    for i, table in enumerate(tables):
        material = (
            None if table.material is None else _resolve_material(path, f"potentials[{i}].material", table.material)
        )
        spec = material or run_material
        key = (table.calculator, None if spec == run_material else load_material(spec).name)
        if key in seen:
            first = tables[seen[key]]
            raise InputError(
                path,
                f"potentials[{i}].calculator",
                f"a calculator not already listed: potentials[{seen[key]}] ({first.name!r}) and potentials[{i}] "
                f"({table.name!r}) are the same model on the same material",
                got=table.calculator,
            )
        seen[key] = i
        out.append(PotentialSpec(name=table.name, calculator=table.calculator, material=material))
    return out


def _reference(path: Path, reference: str) -> str:
    """``material``, ``none``, ``calc:<spec>``, a shipped ``<material>-dft`` or a file (made absolute)."""
    if reference in ("material", "none") or reference.startswith("calc:"):
        return reference
    from mlipscope.materials import reference_dir

    shipped = reference_dir() / (reference.replace("-", "_") + ".yaml")
    if reference.endswith("-dft") and shipped.is_file():
        return reference
    ref_path = Path(reference) if Path(reference).is_absolute() else path.parent / reference
    if not ref_path.is_file():
        raise InputError(
            path,
            "suite.reference",
            "material, <material>-dft, none, calc:<spec> or an existing YAML/JSON file",
            got=reference,
        )
    return str(ref_path.resolve())


def _check_suites(path: Path, config: RunConfig) -> None:
    """Instantiating the selected properties checks the suite name, labels, override settings and files (and the
    dynamics stage's, now rather than after the main suite)."""
    for material in config.materials():
        try:
            for prop in config.properties_for(material):
                prop.validate_inputs()
        except InputError as exc:
            if exc.source not in (None, "<input>"):  # a bad file names itself; say which property reads it
                raise InputError(exc.source, exc.field, f"{exc.expected} (read by suite property in {path})",
                                 frame=exc.frame, got=exc.got) from None  # fmt: skip
            field = "suite.name" if exc.field == "suite" else f"suite.{exc.field.removeprefix('suite.')}"
            raise InputError(path, field, exc.expected, got=exc.got) from None
    try:
        for prop in config.dynamics_properties():
            prop.validate_inputs()
    except InputError as exc:
        raise InputError(path, f"dynamics.{exc.field.removeprefix('suite.')}", exc.expected, got=exc.got) from None


def _dynamics(path: Path, table: Any) -> Any:
    if table is None:
        return None
    from mlipscope.runner.dynamics import DynamicsSpec

    return DynamicsSpec.from_table(path, table)
