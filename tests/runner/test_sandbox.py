"""The sandbox child: its memory limit binds the model, its log stays small and goes away, and nothing it started
outlives a kill or a close. The functions below run in the child (``test_sandbox:<name>``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from mlipscope.errors import InputError
from mlipscope.failures import FailureKind
from mlipscope.runner import sandbox as sandbox_module
from mlipscope.runner.sandbox import MEMORY_ENV, Sandbox, SandboxCrash, set_child_memory_limit
from mlipscope.runner.threads import THREAD_ENV

MIB = 1 << 20


def material_as_loaded(material_or_none, source: str) -> tuple[str, bool]:
    """In the child: the fingerprint of what ``source`` loads to, and whether pydantic was imported for it."""
    from mlipscope.materials import load_material

    return load_material(source).fingerprint(), "pydantic" in sys.modules


def allocate(nbytes: int) -> int:
    import numpy as np

    return int(np.ones(nbytes // 8).nbytes)


def start_holders(nbytes: int, count: int) -> list[int]:
    """``count`` grandchildren each holding ``nbytes`` of touched memory, then this child waits."""
    code = f"import numpy, time; a = numpy.ones({nbytes // 8}); time.sleep(120)"
    pids = [subprocess.Popen([sys.executable, "-c", code]).pid for _ in range(count)]
    time.sleep(120)
    return pids


def lammps_energy() -> float:
    from ase.build import bulk

    from mlipscope.calculators import make_calculator

    atoms = bulk("Si", cubic=True)
    atoms.calc = make_calculator("sw")
    return float(atoms.get_potential_energy())


def chatter(nbytes: int, then_sleep_s: float) -> int:
    """Write ``nbytes`` to stderr (the log), wait, and return the log's size as this child then sees it."""
    line = b"x" * 1023 + b"\n"
    for _ in range(nbytes // len(line)):
        os.write(2, line)
    os.write(2, b"the last line\n")
    time.sleep(then_sleep_s)
    return os.fstat(2).st_size


def start_detached(pid_file: str, then: str) -> int:
    """Start a grandchild in a session of its own (``setsid``), then return, hang or crash."""
    grandchild = subprocess.Popen(["sleep", "300"], start_new_session=True)
    Path(pid_file).write_text(str(grandchild.pid))
    if then == "hang":
        time.sleep(3600)
    elif then == "abort":
        time.sleep(1.5)  # long enough for the parent to have seen it
        os.abort()
    return grandchild.pid


def child_pid() -> int:
    return os.getpid()


def blas_threads() -> tuple[dict[str, str | None], list[tuple[str, int]]]:
    """The thread variables as this process sees them, and (library, threads) of each BLAS / OpenMP pool that
    threadpoolctl finds once numpy and scipy's linear algebra are loaded."""
    import numpy  # noqa: F401 - loads OpenBLAS
    import scipy.linalg  # noqa: F401 - scipy's own BLAS
    from threadpoolctl import threadpool_info

    pools = [(pool["internal_api"], pool["num_threads"]) for pool in threadpool_info()]
    return {name: os.environ.get(name) for name in THREAD_ENV}, pools


def counts_to(n: int, pause_s: float) -> str:
    """Report ``n`` steps of progress, printing to stdout between them (the result channel must not see it)."""
    from mlipscope.properties.progress import report_progress

    for done in range(1, n + 1):
        print(f"step {done}", flush=True)
        time.sleep(pause_s)
        report_progress("frames", done, n)
    return "counted"


@pytest.fixture
def logs(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "logs"
    monkeypatch.setenv("MLIPSCOPE_SANDBOX_LOG_DIR", str(folder))
    monkeypatch.setenv(MEMORY_ENV, "")  # the default; restored after the test, whatever it sets
    return folder


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_an_oversized_allocation_is_out_of_memory_and_the_sandbox_recovers(logs):
    set_child_memory_limit("1GiB")
    box = Sandbox()
    try:
        start = time.monotonic()
        with pytest.raises(SandboxCrash) as crash:
            box.call("test_sandbox:allocate", (30 << 30,), timeout_s=60)
        assert time.monotonic() - start < 30
        assert crash.value.kind is FailureKind.OUT_OF_MEMORY and not crash.value.kind.transient
        assert crash.value.reason.startswith("out of memory: MemoryError") and "1.00 GiB" in crash.value.reason
        with pytest.raises(SandboxCrash, match="out of memory") as crash:  # what the machine could give: not it
            box.call("test_sandbox:allocate", (2 << 30,), timeout_s=60)
        assert box.call("test_sandbox:allocate", (64 * MIB,), timeout_s=60) == 64 * MIB  # the same child goes on
    finally:
        box.close()


def test_processes_over_the_limit_together_are_killed(logs):
    # each grandchild alone is under the limit (and its inherited rlimit): together they are not
    set_child_memory_limit(400 * MIB)
    box = Sandbox()
    try:
        with pytest.raises(SandboxCrash) as crash:
            box.call("test_sandbox:start_holders", (250 * MIB, 2), timeout_s=60)
        assert crash.value.kind is FailureKind.OUT_OF_MEMORY
        assert "held" in crash.value.reason and "over the limit of 0.39 GiB" in crash.value.reason
        assert not [p for p in psutil.Process().children(recursive=True) if "numpy" in " ".join(p.cmdline())]
    finally:
        box.close()


def test_lammps_evaluates_under_a_small_memory_limit(logs):
    # MPI and LAMMPS reserve address space and shared memory: only writable private memory counts
    set_child_memory_limit("1GiB")
    box = Sandbox()
    try:
        assert box.call("test_sandbox:lammps_energy", (), timeout_s=120) == pytest.approx(-34.693, abs=1e-3)
    finally:
        box.close()


def test_the_limit_comes_from_the_environment_and_bad_values_are_refused(monkeypatch):
    monkeypatch.setenv(MEMORY_ENV, "")
    assert sandbox_module.child_memory_bytes() == pytest.approx(0.8 * psutil.virtual_memory().total, rel=0.01)
    assert set_child_memory_limit("2GiB") == 2 << 30 and os.environ[MEMORY_ENV] == str(2 << 30)
    with pytest.raises(InputError, match="memory size"):
        set_child_memory_limit("lots")
    with pytest.raises(InputError, match="positive"):
        set_child_memory_limit(0)
    monkeypatch.setenv(MEMORY_ENV, "-5")
    with pytest.raises(InputError, match=MEMORY_ENV):
        sandbox_module.child_memory_bytes()


def test_a_chatty_log_is_cut_to_its_tail_and_removed_on_close(logs, monkeypatch):
    monkeypatch.setattr(sandbox_module, "LOG_MAX_BYTES", 2 * MIB)
    monkeypatch.setattr(sandbox_module, "LOG_KEEP_BYTES", MIB // 2)
    box = Sandbox()
    try:
        seen_by_child = box.call("test_sandbox:chatter", (20 * MIB, 1.5), timeout_s=60)
        assert seen_by_child <= 2 * MIB  # cut while the call was still running
        log = box.log_path
        assert log.stat().st_size <= MIB // 2 + 100
        text = log.read_text()
        assert text.startswith("[mlipscope:") and text.rstrip().endswith("the last line")
    finally:
        box.close()
    assert not list(logs.iterdir())


def test_logs_of_dead_parents_are_removed(logs):
    logs.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = logs / f"mlipscope-sandbox-{dead.stdout.strip()}-abc.log"
    alive = logs / f"mlipscope-sandbox-{os.getppid()}-abc.log"
    unrelated = logs / "notes.log"
    for path in (orphan, alive, unrelated):
        path.write_text("x")
    box = Sandbox()
    try:
        box.call("test_sandbox:child_pid", (), timeout_s=60)
        assert not orphan.exists() and alive.exists() and unrelated.exists()
    finally:
        box.close()
    assert sorted(p.name for p in logs.iterdir()) == sorted([alive.name, unrelated.name])


@pytest.mark.parametrize("how", ["timeout", "close", "crash"])
def test_a_detached_grandchild_does_not_outlive_the_child(logs, tmp_path, how):
    pid_file = tmp_path / "grandchild.pid"
    box = Sandbox()
    try:
        if how == "close":
            pid = box.call("test_sandbox:start_detached", (str(pid_file), "return"), timeout_s=60)
            assert not _gone(pid)
            box.close()
        else:
            with pytest.raises(SandboxCrash) as crash:
                box.call("test_sandbox:start_detached", (str(pid_file), "hang" if how == "timeout" else "abort"),
                         timeout_s=8 if how == "timeout" else 60)  # fmt: skip
            expected = FailureKind.TIMEOUT if how == "timeout" else FailureKind.CRASHED
            assert crash.value.kind is expected
            pid = int(pid_file.read_text())
        deadline = time.monotonic() + 5
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gone(pid)
    finally:
        box.close()
    assert not list(logs.iterdir())


def test_the_child_ignores_ctrl_c(logs):
    box = Sandbox()
    try:
        pid = box.call("test_sandbox:child_pid", (), timeout_s=60)
        os.kill(pid, signal.SIGINT)
        time.sleep(0.3)
        assert box.call("test_sandbox:child_pid", (), timeout_s=60) == pid
        assert "KeyboardInterrupt" not in box.log_path.read_text()
    finally:
        box.close()


def _pools_in(box: Sandbox) -> tuple[dict[str, str | None], list[tuple[str, int]]]:
    try:
        return box.call("test_sandbox:blas_threads", (), timeout_s=60)
    finally:
        box.close()


def test_the_child_runs_blas_and_openmp_on_one_thread(logs, monkeypatch):
    for name in THREAD_ENV:
        monkeypatch.delenv(name, raising=False)
    env, pools = _pools_in(Sandbox())
    assert env == THREAD_ENV
    assert "openblas" in {api for api, _ in pools}
    assert all(threads == 1 for _, threads in pools), pools
    if os.cpu_count() > 1:  # the same libraries in a plain process use more: the check above can fail
        code = "from threadpoolctl import threadpool_info; import numpy; print(threadpool_info()[0]['num_threads'])"
        plain = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert int(plain.stdout) > 1


def test_a_thread_count_the_user_set_is_kept(logs, monkeypatch):
    for name in THREAD_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    env, pools = _pools_in(Sandbox())
    assert env == {**THREAD_ENV, "OPENBLAS_NUM_THREADS": "2"}
    openblas = [threads for api, threads in pools if api == "openblas"]
    assert openblas and all(threads == min(2, os.cpu_count()) for threads in openblas), pools


def loaded(*modules: str) -> dict[str, bool]:
    return {module: module in sys.modules for module in modules}


def test_a_started_child_serves_the_first_call_with_the_evaluation_modules_loaded(logs):
    box = Sandbox()
    try:
        box.start()
        pid = box._proc.pid
        box.start()  # one child: a second start keeps it
        assert box._proc.pid == pid
        seen = box.call("test_sandbox:loaded", ("ase.optimize", "mlipscope.properties.context", "pandas"), timeout_s=60)
        assert box.call("test_sandbox:child_pid", (), timeout_s=60) == pid
    finally:
        box.close()
    # imported before the first request (the test module itself imports neither), and no database library
    assert seen == {"ase.optimize": True, "mlipscope.properties.context": True, "pandas": False}


def test_progress_reported_in_the_child_reaches_the_parent_while_it_runs(logs):
    box = Sandbox()
    try:
        seen, at = [], []

        def listen(*report) -> None:
            seen.append(report)
            at.append(time.monotonic())

        # the child forwards at most every 0.5 s: steps of 0.6 s all arrive, the first long before the result
        assert box.call("test_sandbox:counts_to", (3, 0.6), timeout_s=60, on_progress=listen) == "counted"
        assert seen == [("frames", 1, 3), ("frames", 2, 3), ("frames", 3, 3)]
        assert time.monotonic() - at[0] > 1.0
        assert box.call("test_sandbox:counts_to", (2, 0.0), timeout_s=60) == "counted"  # nobody listens: not sent
    finally:
        box.close()


def test_a_material_sent_to_the_child_is_not_read_again(tmp_path):
    """A request pickles its materials whole: the child loads them by their file without reading it (here the file
    is gone by the second call) and without pydantic (the file's validation is the parent's)."""
    from mlipscope.materials import load_material, shipped_dir

    path = tmp_path / "si_copy.yaml"
    path.write_text((shipped_dir() / "si.yaml").read_text().replace("name: si", "name: si_copy", 1))
    material = load_material(path)
    box = Sandbox()
    try:
        fingerprint, imported = box.call("test_sandbox:material_as_loaded", (material, str(path)), timeout_s=60)
        path.unlink()
        again, _ = box.call("test_sandbox:material_as_loaded", (None, str(path)), timeout_s=60)
    finally:
        box.close()
    assert fingerprint == again == material.fingerprint()
    assert not imported


PARENT = """
import sys, time
sys.path.insert(0, sys.argv[2])
from mlipscope.runner.sandbox import Sandbox
box = Sandbox()
print(box.call("test_sandbox:start_detached", (sys.argv[1], "return"), timeout_s=60), flush=True)
time.sleep(300)
"""


def test_a_grandchild_does_not_outlive_a_killed_parent(logs, tmp_path):
    """The parent dies without closing its sandbox (SIGKILL, the kernel's OOM killer): the child notices, and ends
    what it started (here a grandchild in a session of its own, as a trainer in its own environment) with itself."""
    pid_file = tmp_path / "grandchild.pid"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(pid_file), str(Path(__file__).parent)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        grandchild = int(parent.stdout.readline())
        assert not _gone(grandchild)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while not _gone(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(grandchild)
