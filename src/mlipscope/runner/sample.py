"""``mlipscope sample``: fit an ensemble and register it in a results database, without property evaluation
(a main-job run of the ensemble with the cheapest suite)."""

from __future__ import annotations

from pathlib import Path

from mlipscope.runner.config import load_config
from mlipscope.runner.main_job import MainJob


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
    """``mlipscope sample``: fit an ensemble and register it (no property evaluation)."""
    import tempfile

    text = "\n".join(
        [
            "[run]",
            f'db = "{Path(db_path).resolve()}"',
            f'models_dir = "{Path(models_dir).resolve()}"',
            f'out = "{Path(models_dir).resolve()}/_report"',
            "[[ensemble]]",
            f'family = "{family}"',
            f"n = {n}",
            f'sampler = "{sampler}"',
            f"sampler_seed = {sampler_seed}",
            f"seeds = {list(seeds)}",
            "training_sets = [" + ", ".join(f'"{_abs_or_name(s)}"' for s in training_sets) + "]",
            "[suite]",
            'name = "si-quick"',
            'properties = ["errors_mlearn_test"]',
        ]
    )
    from mlipscope.errors import InputError

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sample.toml"
        path.write_text(text)
        try:
            config = load_config(path)
        except InputError as exc:  # name the user's argument, not the file written for them
            key = exc.field.removeprefix("ensemble[0].").split(".")[0].split("[")[0]
            arg = SAMPLE_ARGUMENTS.get(key, exc.field)
            raise InputError("mlipscope sample", arg, exc.expected, got=exc.got) from None
    MainJob(config).run()


#: config keys of the TOML that ``mlipscope sample`` writes -> the command-line arguments they come from
SAMPLE_ARGUMENTS = {
    "family": "--family",
    "n": "--n",
    "training_sets": "--training-sets",
    "seeds": "--seeds",
    "sampler": "--sampler",
    "sampler_seed": "--sampler-seed",
    "db": "--db",
    "models_dir": "--models-dir",
}


def _abs_or_name(name: str) -> str:
    return str(Path(name).resolve()) if Path(name).exists() else name
