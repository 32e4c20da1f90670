"""Planning a run: the config checked as a whole before any work (references, families, training data, potentials),
then the ensemble members to fit (deterministic model ids) and the existing potentials, registered in the store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlipscope.properties.base import Property
from mlipscope.runner.config import EnsembleSpec, RunConfig
from mlipscope.runner.evaluate import evaluation_base_key
from mlipscope.runner.tasks import load_dataset_cached
from mlipscope.runner.work import Evaluation, Fit, FitOutcome
from mlipscope.store.protocol import ModelRecord, ResultStore


@dataclass(frozen=True)
class Potential:
    """An existing potential of the run: its model id, calculator spec and material (name or file)."""

    model_id: str
    calculator: str
    material: str


@dataclass(frozen=True)
class RunPlan:
    members: list[Fit]
    potentials: list[Potential]


class KeyedEvaluations:
    """The evaluations of a stage's models with their keys: ``props_of`` each material (name or file), the
    material of each model, the run's reference spec. Each property's base key is computed once."""

    def __init__(self, props_of: dict[str, list[Property]], model_materials: dict[str, str], reference: str) -> None:
        self.props_of, self.model_materials, self.reference = props_of, model_materials, reference
        # stored keys hold the content of every input: property settings, datasets, reference table, model files
        self.base_keys = {id(p): evaluation_base_key(p, reference) for props in props_of.values() for p in props}

    def of(self, model_id: str, model: str, model_file_hash: str = "") -> list[Evaluation]:
        """The evaluations of a model loaded from ``model`` (a directory or a calculator spec)."""
        return [
            Evaluation.of(
                model_id, model, p, self.reference, model_file_hash=model_file_hash, base_key=self.base_keys[id(p)]
            )
            for p in self.props_of[self.model_materials[model_id]]
        ]

    def of_fit(self, fit: FitOutcome) -> list[Evaluation]:
        """The evaluations of a model just fitted (their keys hold its model file's hash)."""
        return self.of(fit.planned.model_id, fit.planned.model_dir, fit.model_file_hash)

    def labels(self, model_id: str) -> list[str]:
        return [p.label for p in self.props_of[self.model_materials[model_id]]]


def plan_models(
    spec: EnsembleSpec, models_dir: Path, dataset_hashes: dict[str, str], material: str | None = None
) -> list[Fit]:
    """Deterministic list of members: sampled hyperparameters × training sets × seeds, with store ids."""
    from mlipscope.models.registry import get_family
    from mlipscope.models.sampling import MemberSpec, ensemble_plan
    from mlipscope.store.provenance import model_id_for

    if spec.n == 0:
        return []
    family = get_family(spec.family)
    planned, seen = [], set()
    plan = ensemble_plan(
        family,
        spec.n,
        spec.training_sets,
        spec.seeds,
        spec.sampler,
        spec.sampler_seed,
        descriptor_points=spec.descriptor_points,
        ranges=spec.ranges,
    )
    repair = getattr(family, "repair_hyperparameters", None)
    for member in plan:
        hps = {**member.hyperparameters, **spec.fixed}
        if repair is not None and spec.fixed:
            # the sampled values repaired against the fixed ones (a sampled rcut_smth of 3.9 Å against a fixed rcut of
            # 4 Å, not the sampled rcut it was drawn with); the fixed values stay as given
            hps = {**repair(hps), **spec.fixed}
        member = MemberSpec(member.family, hps, member.training_set, member.seed, member.index)
        model_id = model_id_for(spec.family, hps, member.seed, dataset_hashes[member.training_set])
        if model_id not in seen:  # fixed hyperparameters can make sampled points identical
            seen.add(model_id)
            training_hash = dataset_hashes[member.training_set]
            models_root = str(models_dir / spec.family)
            planned.append(Fit(model_id, member, training_hash, models_root, material=material or spec.material))
    return planned


def check_run(cfg: RunConfig) -> dict[str, Any]:
    """Every check of the config that needs the data, before anything is written (a config error leaves the store
    untouched); returns the training datasets by name."""
    from mlipscope.calculators import calculator_species, check_species
    from mlipscope.errors import InputError
    from mlipscope.materials import load_material
    from mlipscope.models.registry import get_family
    from mlipscope.runner.calculator_probe import probe_calculator
    from mlipscope.runner.references import load_reference

    for material in cfg.materials():  # a bad reference is a config error: fail before any work starts
        load_reference(cfg.reference, material)
    for spec in cfg.ensembles:
        ok, why = get_family(spec.family).available() if spec.n else (True, "")
        if not ok:
            raise InputError(cfg.path, f"ensemble.family={spec.family}", f"an installed family ({why})")
    datasets = {}
    for spec in cfg.ensembles:
        material = load_material(spec.material or cfg.material)
        for name in spec.training_sets if spec.n else []:
            dataset = datasets.setdefault(name, load_dataset_cached(name))
            missing = sorted(set(material.species) - set(dataset.species))
            if missing:  # a model fitted on these data could not describe the material: refuse before any fit
                raise InputError(
                    cfg.path,
                    f"ensemble.family={spec.family}.training_sets",
                    f"training data with every element of material '{material.name}' {list(material.species)}",
                    got=f"{name}: species {dataset.species}",
                )
    for i, pot in enumerate(cfg.potentials):
        check_species(pot.name, calculator_species(pot.calculator), load_material(pot.material or cfg.material))
        try:  # importable, builds, returns a calculator: found now, not after the fits (built in the sandbox child)
            probe_calculator(pot.calculator)
        except InputError as exc:
            raise InputError(cfg.path, f"potentials[{i}].calculator", exc.expected, got=pot.calculator) from None
    return datasets


def plan_run(cfg: RunConfig, store: ResultStore, datasets: dict[str, Any]) -> RunPlan:
    """The members to fit and the potentials, registered in ``store`` (and the training datasets, where the store
    keeps datasets)."""
    from mlipscope.materials import load_material
    from mlipscope.store.provenance import model_id_for

    add_dataset = getattr(store, "add_dataset", None)  # an optional capability (the DuckDB store's table)
    hashes = {name: add_dataset(d) if add_dataset else d.content_hash for name, d in datasets.items()}
    members = [
        member
        for spec in cfg.ensembles
        for member in plan_models(spec, cfg.models_dir, hashes, spec.material or cfg.material)
    ]
    potentials = []
    for pot in cfg.potentials:
        material_spec = pot.material or cfg.material
        key = {"calculator": pot.calculator}
        if material_spec != cfg.material:  # the same potential may be benchmarked on several materials
            key["material"] = load_material(material_spec).name
        model_id = model_id_for("external", key, None, "")
        hyperparameters = {**key, "name": pot.name}
        store.put_model(
            ModelRecord(model_id, "external", hyperparameters, path=pot.calculator, training_set_name=pot.name)
        )
        potentials.append(Potential(model_id, pot.calculator, material_spec))
    return RunPlan(members, potentials)
