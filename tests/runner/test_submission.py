"""Which fits and evaluations go in one Dask task, and what a lost task is stored as (no cluster: a recording
client stands in for Dask)."""

from __future__ import annotations

from mlipscope.failures import FailureKind
from mlipscope.models.sampling import MemberSpec
from mlipscope.properties.suite import build_suite
from mlipscope.runner.submission import FIT_CHUNK, Submission
from mlipscope.runner.tasks import fit_planned, fit_planned_chunk
from mlipscope.runner.work import Evaluated, Evaluation, Fit, FitOutcome


class RecordingClient:
    def __init__(self) -> None:
        self.submitted: list[tuple] = []

    def submit(self, function, *args, key: str, **_):
        self.submitted.append((function, args, key))
        return key


class Futures(list):
    add = list.append


def _planned(n: int, family: str = "snap", twojmax: int = 4) -> list[Fit]:
    return [
        Fit(
            f"{family}-{twojmax}-{i}",
            MemberSpec(family, {"twojmax": twojmax, "alpha": 10.0**-i}, "si_original_train", 0, i),
            "hash",
            "/tmp/models",
            material="si",
        )
        for i in range(n)
    ]


def _submission(grouped: bool) -> tuple[Submission, RecordingClient]:
    client = RecordingClient()
    family = {}
    submission = Submission(client, Futures(), 60.0, family, grouped=grouped)
    return submission, client


def _evaluations(model_id: str, props) -> list[Evaluation]:
    """Evaluations with readable keys: <model>/<label>."""
    return [Evaluation(model_id, f"dir-{model_id}", p, "si-dft", f"{model_id}/{p.label}") for p in props]


def test_grouped_fits_chunk_linear_members_by_descriptor_setting():
    submission, client = _submission(grouped=True)
    members = _planned(FIT_CHUNK + 3) + _planned(2, twojmax=6) + _planned(1, family="gap")
    submission.fits(members)
    kinds = [(function, len(args[0]) if function is fit_planned_chunk else 1) for function, args, _ in client.submitted]
    # one descriptor setting split in chunks of FIT_CHUNK, another setting on its own, the GAP member alone
    assert kinds == [(fit_planned, 1), (fit_planned_chunk, FIT_CHUNK), (fit_planned_chunk, 3), (fit_planned_chunk, 2)]
    assert submission.n_tasks == {"fit": 1, "fit chunk": 3}
    # a chunk whose workers kept dying: each of its members is a failed fit, with the reason
    chunk_key = client.submitted[2][2]
    lost = submission.lost(chunk_key, "worker lost: KilledWorker")
    assert [o.planned.model_id for o in lost] == [m.model_id for m in members[FIT_CHUNK : FIT_CHUNK + 3]]
    assert all(isinstance(o, FitOutcome) and o.status == "failed" and "KilledWorker" in o.reason for o in lost)
    (single,) = submission.lost(client.submitted[0][2], "worker lost: KilledWorker")
    assert isinstance(single, FitOutcome) and single.planned.member.family == "gap"
    assert submission.lost("no-such-task", "worker lost") is None


def test_small_runs_fit_and_evaluate_one_task_each():
    submission, client = _submission(grouped=False)
    submission.fits(_planned(3))
    assert submission.n_tasks == {"fit": 3}
    props = build_suite("si-default", ["eos", "vacancy_64"], material="si")
    submission.evaluations(_evaluations("sw", props))
    assert submission.n_tasks == {"fit": 3, "single": 2}
    label = props[0].label
    (lost,) = submission.lost(f"eval-sw-{label}", "worker lost")
    assert isinstance(lost, Evaluated) and lost.key == ("sw", label, f"sw/{label}")
    assert lost.outcome.status == "failed" and lost.outcome.failure_kind is FailureKind.WORKER_LOST


def test_grouped_evaluations_of_several_models_go_in_one_task_and_fail_together_when_lost():
    submission, client = _submission(grouped=True)
    props = build_suite("si-default", ["eos", "errors_mlearn_test"], material="si")
    submission.family.update({"a": "snap", "b": "snap"})
    submission.evaluations(_evaluations("a", props) + _evaluations("b", props))
    # the dataset errors wait for their descriptor group's batch; both EOS go in one task
    assert submission.n_tasks == {"grouped": 1}
    (_, args, key) = client.submitted[0]
    assert [(e.model_id, e.prop.label) for e in args[0]] == [("a", "eos"), ("b", "eos")]
    lost = submission.lost(key, "worker lost")
    assert sorted(tuple(done.key) for done in lost) == [("a", "eos", "a/eos"), ("b", "eos", "b/eos")]
    assert all(done.outcome.failure_kind is FailureKind.WORKER_LOST for done in lost)


def test_grouped_evaluations_of_a_resumed_run_are_chunked_and_slow_models_stay_apart():
    submission, client = _submission(grouped=True)
    props = build_suite("si-default", ["eos", "vacancy_64"], material="si")
    linear = [f"snap-{i}" for i in range(FIT_CHUNK + 1)]
    submission.family.update({m: "snap" for m in linear} | {"gap-0": "gap", "gap-1": "gap"})
    submission.evaluations([e for m in [*linear, "gap-0", "gap-1", "sw"] for e in _evaluations(m, props)])
    held = [list(dict.fromkeys(e.model_id for e in args[0])) for _, args, _ in client.submitted]
    # linear members FIT_CHUNK to a task; each GAP model and the external potential in a task of its own
    assert held == [linear[:FIT_CHUNK], linear[FIT_CHUNK:], ["gap-0"], ["gap-1"], ["sw"]]
    assert len({key for _, _, key in client.submitted}) == len(client.submitted)
    # a second task for a model already in one (its batched properties evaluated alone) gets a key of its own
    submission.evaluations(_evaluations("gap-0", props))
    assert len({key for _, _, key in client.submitted}) == len(client.submitted) == 6
