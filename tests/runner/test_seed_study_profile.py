"""The shipped six-type profile (examples/seed-study.toml) plans what the seed study's comparison needs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from mlipscope.models.registry import get_family
from mlipscope.runner.config import load_config
from mlipscope.runner.plan import plan_models

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "examples" / "seed-study.toml"
STUDY_TYPES = {"gap", "mtp", "nnp", "snap", "deepmd-se_e2_a", "deepmd-se_e3"}
STUDY_TRAINING_SETS = {
    "si_original_train",
    "si_interstitial_train",
    "si_vacancy_train",
    "si_di_interstitial_train",
    "si_tetra_interstitial_train",
}


def _planned(cfg):
    members = []
    for spec in cfg.ensembles:
        hashes = {name: name for name in spec.training_sets}  # distinct stand-ins: ids only need to differ by set
        members += plan_models(spec, cfg.models_dir, hashes, cfg.material)
    return members


def test_at_least_30_distinct_members_of_each_of_the_six_study_types_over_the_study_training_sets():
    cfg = load_config(PROFILE)
    members = _planned(cfg)
    types = Counter(get_family(m.member.family).type_name(m.member.hyperparameters) for m in members)
    assert set(types) == STUDY_TYPES and min(types.values()) >= 30, types
    assert len({m.model_id for m in members}) == len(members)  # no two members are the same model
    for name in STUDY_TYPES:
        of_type = [m for m in members if get_family(m.member.family).type_name(m.member.hyperparameters) == name]
        assert {m.member.training_set for m in of_type} == STUDY_TRAINING_SETS
        points = {tuple(sorted((k, str(v)) for k, v in m.member.hyperparameters.items())) for m in of_type}
        assert len(points) >= 6  # sampled over hyperparameters, not one setting repeated


def test_suite_is_the_example_suite_of_every_study_property_with_a_dft_reference():
    study, example = load_config(PROFILE), load_config(ROOT / "examples" / "si.toml")
    assert study.suite_properties == example.suite_properties
    assert study.reference == example.reference == "si-dft"
