"""``mlipscope sample``: fit an ensemble and register it in a results database: the main job's path (the engine on
a Dask executor) with one ensemble and the cheapest suite (the test-set errors of each member), built from the
command-line arguments."""

from __future__ import annotations

import os
from pathlib import Path

from mlipscope.errors import InputError
from mlipscope.runner.config import SAMPLERS, EnsembleSpec, RunConfig
from mlipscope.runner.main_job import MainJob

#: where the run's errors name the arguments
SOURCE = "mlipscope sample"
#: the suite each sampled member is evaluated on (the test-set errors: seconds per member)
SAMPLE_SUITE, SAMPLE_PROPERTIES = "si-quick", ["errors_mlearn_test"]


def sample_config(
    *,
    family: str,
    n: int,
    training_sets: list[str],
    seeds: list[int],
    sampler: str,
    sampler_seed: int,
    db_path: Path,
    models_dir: Path,
) -> RunConfig:
    """The run of ``mlipscope sample``, its arguments checked (an InputError names the argument)."""
    from mlipscope.models.registry import FAMILIES

    if family not in FAMILIES:
        raise InputError(SOURCE, "--family", f"one of {sorted(FAMILIES)}", got=family)
    if n < 0:
        raise InputError(SOURCE, "--n", "a non-negative integer", got=n)
    if sampler not in SAMPLERS:
        raise InputError(SOURCE, "--sampler", f"one of {SAMPLERS}", got=sampler)
    for seed in seeds:
        if seed < 0:
            raise InputError(SOURCE, "--seeds", "a non-negative integer seed", got=seed)
    if not training_sets and n > 0:
        raise InputError(SOURCE, "--training-sets", "at least one training set")
    models_dir = Path(models_dir).resolve()
    ensemble = EnsembleSpec(
        family=family,
        n=n,
        sampler=sampler,
        sampler_seed=sampler_seed,
        seeds=list(seeds),
        training_sets=[_dataset(name) for name in training_sets],
    )
    config = RunConfig(
        path=Path(SOURCE),
        name="sample",
        db_path=Path(db_path).resolve(),
        out_dir=models_dir / "_report",
        models_dir=models_dir,
        task_timeout_s=900.0,
        workers=os.cpu_count() or 1,
        training_sets=[],
        ensembles=[ensemble],
        potentials=[],
        suite=SAMPLE_SUITE,
        suite_properties=list(SAMPLE_PROPERTIES),
        suite_overrides={},
        reference="material",
        analysis={},
    )
    return config


def sample_command(
    *,
    family: str,
    n: int,
    training_sets: list[str],
    seeds: list[int],
    sampler: str,
    sampler_seed: int,
    db_path: Path,
    models_dir: Path,
) -> None:
    """``mlipscope sample``: fit an ensemble and register it."""
    config = sample_config(
        family=family,
        n=n,
        training_sets=training_sets,
        seeds=seeds,
        sampler=sampler,
        sampler_seed=sampler_seed,
        db_path=db_path,
        models_dir=models_dir,
    )
    MainJob(config).run()


def _dataset(name: str) -> str:
    """A shipped dataset name as it is, a file made absolute (it must exist)."""
    from mlipscope.data.examples import EXAMPLES

    if name in EXAMPLES:
        return name
    if not Path(name).is_file():
        expected = f"a shipped dataset name ({', '.join(sorted(EXAMPLES))}) or an existing file"
        raise InputError(SOURCE, "--training-sets", expected, got=name)
    return str(Path(name).resolve())
