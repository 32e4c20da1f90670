"""The unit of work: an Evaluation's key is the key the engine always stored (the same hash functions, so an old
database resumes), and an outcome becomes a stored Record in one way, its failure kind kept."""

from __future__ import annotations

import math

import pytest

from mlipscope.failures import FailureKind
from mlipscope.models.sampling import MemberSpec
from mlipscope.properties.base import ErrorRecord
from mlipscope.properties.suite import build_suite
from mlipscope.runner.evaluate import EvaluationOutcome, evaluation_base_key, evaluation_key, model_content_key
from mlipscope.runner.work import Evaluated, Evaluation, Fit, FitOutcome, model_record
from mlipscope.store.protocol import EvaluationKey, Status


@pytest.fixture(scope="module")
def props():
    return build_suite("si-default", ["eos", "errors_mlearn_test", "vacancy_64"], material="si")


@pytest.mark.parametrize("reference", ["material", "si-dft", "none"])
def test_key_of_a_potential_is_todays_evaluation_key(props, reference):
    for prop in props:
        evaluation = Evaluation.of("external-1", "sw", prop, reference)
        today = evaluation_key(evaluation_base_key(prop, reference), model_content_key("sw"))
        assert evaluation.key == EvaluationKey("external-1", prop.label, today)
        base = evaluation_base_key(prop, reference)
        assert Evaluation.of("external-1", "sw", prop, reference, base_key=base).key == evaluation.key


def test_key_of_a_fitted_model_holds_its_model_file_hash(props, tmp_path):
    prop = props[0]
    base = evaluation_base_key(prop, "material")
    fitted = Evaluation.of("snap-1", str(tmp_path), prop, "material", model_file_hash="abc")
    assert (
        fitted.config_hash
        == evaluation_key(base, model_content_key(str(tmp_path), "abc"))
        == evaluation_key(base, "abc")
    )
    refitted = Evaluation.of("snap-1", str(tmp_path), prop, "material", model_file_hash="abd")
    assert refitted.key != fitted.key  # a changed model file at the same path is evaluated again
    other_reference = Evaluation.of("snap-1", str(tmp_path), prop, "none", model_file_hash="abc")
    assert other_reference.key != fitted.key
    assert fitted.material is prop.material


def test_an_ok_outcome_becomes_a_record_with_values_and_versions(props):
    evaluation = Evaluation.of("m", "sw", props[0], "none")
    value = ErrorRecord("eos.lattice_constant_a", 5.43, 5.46, "Å", 0.03, 0.0055, "dft")
    outcome = EvaluationOutcome("eos", "ok", [value], wall_time_s=1.5, calculator_time_s=1.0, details={"v": [1]})
    record = Evaluated(evaluation.key, outcome).record({"ase": "3"})
    assert record.key == evaluation.key and record.status is Status.OK and record.failure_kind is None
    assert record.values == (value,) and record.details == {"v": [1]} and record.wall_time_s == 1.5
    assert record.software_versions == {"ase": "3"}


@pytest.mark.parametrize("kind", list(FailureKind))
def test_a_failed_outcome_keeps_its_kind(props, kind):
    evaluation = Evaluation.of("m", "sw", props[0], "none")
    record = Evaluated(evaluation.key, EvaluationOutcome.failed("eos", kind, "why", 2.0)).record({"ase": "3"})
    assert record.status is Status.FAILED and record.failure_kind is kind and record.reason == "why"
    assert record.values == () and record.software_versions == {}  # as the engine always stored failures


def test_timeout_and_lost_worker_are_their_own_kinds(props):
    evaluation = Evaluation.of("m", "sw", props[0], "none")
    timeout = Evaluated.failed(evaluation, FailureKind.TIMEOUT, "timeout: hard limit", 3.0).record()
    assert timeout.failure_kind is FailureKind.TIMEOUT and timeout.failure_kind.transient
    assert timeout.key == evaluation.key and timeout.wall_time_s == 3.0
    kindless = EvaluationOutcome("eos", "failed", reason="old")  # a failure built without a kind is an error
    assert Evaluated(evaluation.key, kindless).record().failure_kind is FailureKind.ERROR


def test_a_fit_becomes_its_model_record(tmp_path):
    fit = Fit("snap-1", MemberSpec("snap", {"twojmax": 4}, "/data/si_train.extxyz", 3, 0), "hash", str(tmp_path))
    ok = model_record(FitOutcome(fit, "ok", fit_wall_time_s=2.0, model_file_hash="f"), {"ase": "3"})
    assert (ok.model_id, ok.family, ok.seed, ok.training_set_name, ok.path) == (
        "snap-1", "snap", 3, "si_train", fit.model_dir
    )  # fmt: skip
    assert ok.status is Status.OK and ok.model_file_hash == "f" and ok.software_versions == {"ase": "3"}
    failed = model_record(FitOutcome(fit, "failed", reason="diverged"))
    assert failed.status is Status.FAILED and failed.reason == "diverged" and math.isnan(failed.fit_wall_time_s)
