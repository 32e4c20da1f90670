"""The subprocess worker: jobs and a long-lived calculator in another interpreter.

The "other environment" here is this very interpreter started as a child (the mechanism does not care which python
it is), and the calculator is ASE's EMT, so every number can be checked against EMT run in this process.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from mlipscope.models.worker import SubprocessCalculator, WorkerError, entry_of, evaluate_frames, run_job

JOBS = textwrap.dedent(
    """
    import os
    from pathlib import Path

    def write_and_sum(payload, work_dir):
        Path(work_dir, "made.txt").write_text("x" * payload["n"])
        return {"sum": sum(payload["values"]), "cwd_is_work_dir": os.getcwd() == work_dir}

    def boom(payload, work_dir):
        raise ValueError("the fit diverged at iteration 3")

    def hard_exit(payload, work_dir):
        import sys
        print("segfault-like death of the fitting code", file=sys.stderr, flush=True)
        os._exit(3)

    def noisy_emt():
        from ase.calculators.emt import EMT
        print("libraries print banners to stdout", flush=True)
        os.write(1, b"and C code writes to fd 1\\n")
        return EMT()

    def broken_factory():
        raise RuntimeError("model file is corrupt")

    def picky_emt():
        from ase.calculators.emt import EMT

        class Picky(EMT):
            def calculate(self, atoms=None, properties=("energy",), system_changes=None):
                if len(atoms) > 4:
                    raise RuntimeError("model exploded: too many atoms")
                super().calculate(atoms, properties, system_changes or [])

        return Picky()
    """
)


@pytest.fixture()
def jobs(tmp_path):
    path = tmp_path / "jobs.py"
    path.write_text(JOBS)
    return path


def structures():
    out = []
    for i, (a, rep) in enumerate([(3.61, (1, 1, 1)), (3.65, (2, 1, 1)), (3.58, (1, 2, 2))]):
        atoms = bulk("Cu", "fcc", a, cubic=True).repeat(rep)
        atoms.rattle(0.05, seed=i)
        out.append(atoms)
    return out


def emt_reference(atoms):
    atoms = atoms.copy()
    atoms.calc = EMT()
    return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()


def test_run_job_returns_result_and_keeps_files(jobs, tmp_path):
    work = tmp_path / "work"
    result = run_job(sys.executable, entry_of(jobs, "write_and_sum"), {"values": [1, 2, 3.5], "n": 4}, work)
    assert result == {"sum": 6.5, "cwd_is_work_dir": True}
    assert (work / "made.txt").read_text() == "xxxx"
    assert (work / "request.json").is_file() and (work / "worker.log").is_file()


def test_run_job_error_carries_child_message_and_traceback(jobs, tmp_path):
    with pytest.raises(WorkerError, match="the fit diverged at iteration 3") as info:
        run_job(sys.executable, entry_of(jobs, "boom"), {}, tmp_path / "w")
    assert "Traceback" in info.value.log_tail and 'raise ValueError("the fit diverged' in info.value.log_tail


def test_run_job_dead_child_reports_exit_code_and_stderr_tail(jobs, tmp_path):
    with pytest.raises(WorkerError, match="exited with code 3") as info:
        run_job(sys.executable, entry_of(jobs, "hard_exit"), {}, tmp_path / "w")
    assert "segfault-like death" in info.value.log_tail


def test_run_job_missing_interpreter(jobs, tmp_path):
    with pytest.raises(WorkerError, match="cannot start"):
        run_job(tmp_path / "no-such-python", entry_of(jobs, "write_and_sum"), {}, tmp_path / "w")


def test_evaluate_frames_matches_in_process_emt(jobs):
    frames = structures()
    results = evaluate_frames(sys.executable, entry_of(jobs, "noisy_emt"), {}, frames)
    assert len(results) == len(frames)
    for atoms, result in zip(frames, results, strict=True):
        energy, forces, stress = emt_reference(atoms)
        assert result["energy"] == pytest.approx(energy, abs=1e-12)
        np.testing.assert_allclose(result["forces"], forces, atol=1e-12)
        np.testing.assert_allclose(result["stress"], stress, atol=1e-12)


def test_evaluate_frames_records_failed_frames_and_keeps_the_others(jobs):
    frames = structures()  # 4, 8 and 16 atoms: the picky model fails on the last two
    results = evaluate_frames(sys.executable, entry_of(jobs, "picky_emt"), {}, frames)
    assert results[0]["energy"] == pytest.approx(emt_reference(frames[0])[0], abs=1e-12)
    assert [("error" in r) for r in results] == [False, True, True]
    assert "model exploded" in results[1]["error"]


def test_subprocess_calculator_matches_emt_with_one_long_lived_child(jobs):
    calc = SubprocessCalculator(sys.executable, entry_of(jobs, "noisy_emt"))
    try:
        pids = []
        for atoms in structures():
            energy, forces, stress = emt_reference(atoms)
            atoms.calc = calc
            assert atoms.get_potential_energy() == pytest.approx(energy, abs=1e-12)
            np.testing.assert_allclose(atoms.get_forces(), forces, atol=1e-12)
            np.testing.assert_allclose(atoms.get_stress(), stress, atol=1e-12)
            pids.append(calc.child_pid)
        assert len(set(pids)) == 1 and pids[0] != os.getpid()
        # same structure again: ASE's cache answers without a new request, moving an atom asks again
        atoms.positions[0] += 0.01
        assert atoms.get_potential_energy() != pytest.approx(energy, abs=1e-9)
    finally:
        proc = calc._proc
        calc.close()
    assert proc is not None and proc.poll() is not None  # close() ended the child


def test_subprocess_calculator_failed_structure_does_not_kill_the_server(jobs):
    calc = SubprocessCalculator(sys.executable, entry_of(jobs, "picky_emt"))
    small, big = structures()[0], structures()[1]
    try:
        big.calc = calc
        with pytest.raises(WorkerError, match="model exploded"):
            big.get_potential_energy()
        pid = calc.child_pid
        small.calc = calc
        assert small.get_potential_energy() == pytest.approx(emt_reference(small)[0], abs=1e-12)
        assert calc.child_pid == pid
    finally:
        calc.close()


def test_subprocess_calculator_broken_model_is_a_clear_error(jobs):
    calc = SubprocessCalculator(sys.executable, entry_of(jobs, "broken_factory"))
    atoms = structures()[0]
    atoms.calc = calc
    with pytest.raises(WorkerError, match="did not start: RuntimeError: model file is corrupt") as info:
        atoms.get_potential_energy()
    assert "Traceback" in info.value.log_tail


#: calculators a sandbox child keeps, as its calculator cache does
_KEPT: list = []


def keep_a_calculator(jobs_file: str) -> tuple[int, str]:
    """In a sandbox child: a long-lived calculator that has answered once, kept; its child's pid and log."""
    calc = SubprocessCalculator(sys.executable, entry_of(Path(jobs_file), "noisy_emt"))
    atoms = structures()[0]
    atoms.calc = calc
    atoms.get_potential_energy()
    _KEPT.append(calc)
    return calc.child_pid, str(calc._log_path)


def test_a_sandbox_child_ends_its_calculators_children_and_their_logs(jobs):
    """The sandbox child exits without the interpreter's teardown: its exit handlers must still end a kept
    calculator's child and remove its log (a finalizer, not ``__del__``, which that exit never runs)."""
    import psutil

    from mlipscope.runner.sandbox import Sandbox

    box = Sandbox()
    try:
        pid, log = box.call("test_worker:keep_a_calculator", (str(jobs),), timeout_s=120)
        assert psutil.pid_exists(pid) and Path(log).is_file()
    finally:
        box.close()
    assert not Path(log).exists()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
