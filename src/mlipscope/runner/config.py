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
    material: str | None = None  # material name or file (None: the run's material)
    #: two-level sampling: this many descriptor settings x n / descriptor_points regression settings (None: one level)
    descriptor_points: int | None = None


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


_SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "run": {
        "name": str,
        "db": str,
        "out": str,
        "models_dir": str,
        "task_timeout_s": (int, float),
        "workers": int,
        "max_attempts": int,
        "no_worker_wait_s": (int, float),
        "progress_interval_s": (int, float),
        "group_tasks": str,
        "linear_batch": bool,
        "linear_batch_size": int,
        "memory_limit": (str, int),
    },
    "data": {"training_sets": list},
    "material": {"name": str, "file": str},
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
    "material": str,
    "descriptor_points": int,
}
_POTENTIAL_KEYS: dict[str, type | tuple[type, ...]] = {"name": str, "calculator": str, "material": str}
_TOP_LEVEL = {"run", "data", "material", "ensemble", "potentials", "suite", "analysis", "dynamics", "quick"}


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
        if (isinstance(value, bool) and expected is not bool) or not isinstance(value, expected):
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


def _resolve_material(path: Path, where: str, spec: str) -> str:
    """A shipped material name stays as is; a file is made absolute (relative to the config); both are loaded
    here, so a bad material file is reported against the config before any work."""
    from mlipscope.materials import load_material, shipped_material_names

    candidate = Path(spec) if Path(spec).is_absolute() else path.parent / spec
    resolved = str(candidate.resolve()) if candidate.is_file() else spec
    if resolved == spec and spec not in shipped_material_names():
        raise InputError(path, where, f"a shipped material {shipped_material_names()} or a material file", got=spec)
    load_material(resolved)
    return resolved


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
    material_table = raw.get("material", {})
    if len(material_table) > 1:
        raise InputError(path, "material", "one of 'name' (a shipped material) or 'file' (a material YAML)")
    suite_name = suite.get("name", "default")
    suite_material = suite_name.rpartition("-")[0]
    material_spec = material_table.get("name") or material_table.get("file") or suite_material or "si"
    run_material = _resolve_material(path, "material." + (next(iter(material_table), "name")), material_spec)

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

        space = get_family(table["family"]).hyperparameter_space()
        names = space.names
        for key, value in table.get("fixed", {}).items():
            if key not in names:
                raise InputError(path, f"{where}.fixed.{key}", f"a hyperparameter of {table['family']}: {names}")
            expected = space.parameters[names.index(key)].type_error(value)
            if expected:
                raise InputError(path, f"{where}.fixed.{key}", expected, got=value)
        for j, seed in enumerate(table.get("seeds", [0])):
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise InputError(path, f"{where}.seeds[{j}]", "a non-negative integer seed", got=seed)
        if table["n"] < 0:
            raise InputError(path, f"{where}.n", "a non-negative integer", got=table["n"])
        if table.get("sampler", "sobol") not in SAMPLERS:
            raise InputError(path, f"{where}.sampler", f"one of {SAMPLERS}", got=table["sampler"])
        if "descriptor_points" in table:
            from mlipscope.models.sampling import check_descriptor_points

            try:
                check_descriptor_points(get_family(table["family"]), table["n"], table["descriptor_points"])
            except InputError as exc:
                raise InputError(path, f"{where}.descriptor_points", exc.expected, got=exc.got) from None
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
                material=_resolve_material(path, f"{where}.material", table["material"])
                if "material" in table
                else None,
                descriptor_points=table.get("descriptor_points"),
            )
        )
    potentials = []
    for i, table in enumerate(raw.get("potentials", [])):
        _check_table(path, f"potentials[{i}]", table, _POTENTIAL_KEYS)
        if not {"name", "calculator"} <= set(table):
            raise InputError(path, f"potentials[{i}]", "keys 'name' and 'calculator' (and optionally 'material')")
        if "material" in table:
            table = {**table, "material": _resolve_material(path, f"potentials[{i}].material", table["material"])}
        potentials.append(PotentialSpec(**table))
    if not ensembles and not potentials:
        raise InputError(path, "ensemble", "at least one [[ensemble]] or [[potentials]] entry")

    labels = suite.get("properties") or None
    overrides = suite.get("overrides", {})
    reference = suite.get("reference", "material")
    if reference not in ("material", "none") and not reference.startswith("calc:"):
        from mlipscope.materials import reference_dir

        ref_path = Path(reference) if Path(reference).is_absolute() else base / reference
        shipped = reference_dir() / (reference.replace("-", "_") + ".yaml")
        if reference.endswith("-dft") and shipped.is_file():
            pass
        elif not ref_path.is_file():
            raise InputError(
                path,
                "suite.reference",
                "material, <material>-dft, none, calc:<spec> or an existing YAML/JSON file",
                got=reference,
            )
        else:
            reference = str(ref_path.resolve())
    analysis = raw.get("analysis", {})
    if not isinstance(analysis, dict):
        raise InputError(path, "analysis", "a table", got=analysis)
    from mlipscope.analysis import AnalysisConfig

    AnalysisConfig.from_dict(analysis, source=path)  # a bad analysis setting is found now, not after the run
    workers = run.get("workers", os.cpu_count() or 1)
    if workers < 1:
        raise InputError(path, "run.workers", "at least 1 worker", got=workers)
    max_attempts = run.get("max_attempts", 2)
    if max_attempts < 1:
        raise InputError(path, "run.max_attempts", "at least 1 attempt", got=max_attempts)
    timeout = run.get("task_timeout_s", 900)
    if not timeout > 0:
        raise InputError(path, "run.task_timeout_s", "a positive time limit in seconds", got=timeout)
    config = RunConfig(
        path=path,
        name=run.get("name", path.stem),
        db_path=_path("db", f"{path.stem}.duckdb"),
        out_dir=_path("out", f"{path.stem}-report"),
        models_dir=_path("models_dir", f"{path.stem}-models"),
        task_timeout_s=float(timeout),
        workers=int(workers),
        training_sets=training_sets,
        ensembles=ensembles,
        potentials=potentials,
        suite=suite_name,
        suite_properties=labels,
        suite_overrides=overrides,
        reference=reference,
        analysis=analysis,
        material=run_material,
        max_attempts=int(max_attempts),
        no_worker_wait_s=float(run.get("no_worker_wait_s", 300.0)),
        progress_interval_s=_positive(path, "run.progress_interval_s", run.get("progress_interval_s", 30.0)),
        dynamics=_dynamics(path, raw),
        group_tasks=_choice(path, "run.group_tasks", run.get("group_tasks", "auto"), ("auto", "model", "none")),
        linear_batch=_flag(path, "run.linear_batch", run.get("linear_batch", True)),
        linear_batch_size=_count(path, "run.linear_batch_size", run.get("linear_batch_size", 400)),
        memory_limit=_memory(path, run.get("memory_limit")),
    )
    for material in config.materials():
        try:  # instantiating the selected properties checks the suite name, labels, override settings and files
            for prop in config.properties_for(material):
                prop.validate_inputs()
        except InputError as exc:
            if exc.source not in (None, "<input>"):  # a bad file names itself; say which property reads it
                raise InputError(exc.source, exc.field, f"{exc.expected} (read by suite property in {path})",
                                 frame=exc.frame, got=exc.got) from None  # fmt: skip
            field = "suite.name" if exc.field == "suite" else f"suite.{exc.field.removeprefix('suite.')}"
            raise InputError(path, field, exc.expected, got=exc.got) from None
    try:  # the dynamics stage's labels and overrides are checked now, not after the main suite
        for prop in config.dynamics_properties():
            prop.validate_inputs()
    except InputError as exc:
        raise InputError(path, f"dynamics.{exc.field.removeprefix('suite.')}", exc.expected, got=exc.got) from None
    return config


def _choice(path: Path, where: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InputError(path, where, f"one of {list(allowed)}", got=value)
    return str(value)


def _flag(path: Path, where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InputError(path, where, "true or false", got=value)
    return value


def _count(path: Path, where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(path, where, "a positive integer", got=value)
    return value


def _memory(path: Path, value: Any) -> str | None:
    """A Dask memory limit ("4GiB", "2 GB", a number of bytes) checked now, not when the cluster starts."""
    if value is None:
        return None
    from dask.utils import parse_bytes

    try:
        parse_bytes(value) if isinstance(value, str) else int(value)
    except (ValueError, TypeError):
        raise InputError(
            path, "run.memory_limit", "a memory size such as '4GiB' or a number of bytes", got=value
        ) from None
    return str(value)


def _dynamics(path: Path, raw: dict[str, Any]):
    if "dynamics" not in raw:
        return None
    from mlipscope.runner.dynamics import DynamicsSpec

    return DynamicsSpec.from_table(path, raw["dynamics"])


def _positive(path: Path, where: str, value: float) -> float:
    if not value > 0:
        raise InputError(path, where, "a positive number of seconds", got=value)
    return float(value)
