"""Scheduler addresses: ``--scheduler`` naming a malformed address, a closed port, a service that is not Dask (an
HTTP server) or a Dask worker gives one error line within seconds, and nothing is created."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from mlipscope.cli import main
from mlipscope.errors import InputError
from mlipscope.runner.scheduler_address import check_scheduler_address, parse_scheduler_address

CONFIG = """
[run]
db = "run.duckdb"
out = "report"
[[potentials]]
name = "SW"
calculator = "sw"
[suite]
name = "si-quick"
properties = ["eos"]
"""


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the test's output stays the CLI's
        pass


@pytest.fixture
def http_server():
    server = HTTPServer(("127.0.0.1", 0), _Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"tcp://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def _run_with(tmp_path, monkeypatch, capsys, address: str) -> str:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run.toml").write_text(CONFIG)
    start = time.monotonic()
    assert main(["run", "run.toml", "--scheduler", address]) == 2
    assert time.monotonic() - start < 15
    err = capsys.readouterr().err
    assert err.startswith("mlipscope: error:") and len(err.strip().splitlines()) == 1, err
    assert "field '--scheduler'" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.toml"], "something was created"
    return err


@pytest.mark.parametrize(
    "address", ["tcp://[::1:8786", "tcp://::1:8786", "http://127.0.0.1:8786", "tcp://localhost", "tcp://h:99999"]
)
def test_a_malformed_scheduler_address_is_one_error(tmp_path, monkeypatch, capsys, address):
    assert "tcp://[::1]:8786" in _run_with(tmp_path, monkeypatch, capsys, address)  # says how to write one


def test_a_closed_port_is_one_error(tmp_path, monkeypatch, capsys):
    assert "cannot connect" in _run_with(tmp_path, monkeypatch, capsys, _closed_port())


def test_an_http_server_is_not_a_scheduler(tmp_path, monkeypatch, capsys, http_server):
    assert "not a Dask service" in _run_with(tmp_path, monkeypatch, capsys, http_server)


def test_a_dask_scheduler_passes_and_a_worker_does_not():
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address=None) as c:
        host, port = check_scheduler_address(c.scheduler_address)
        assert c.scheduler_address == f"tcp://{host}:{port}"
        worker = next(iter(c.workers.values())).address
        with pytest.raises(InputError, match="this address is a Dask Worker"):
            check_scheduler_address(worker)


def test_ipv6_addresses_parse():
    assert parse_scheduler_address("[::1]:8786") == ("tcp", "::1", 8786)
    assert parse_scheduler_address("tls://[fe80::1]:8786") == ("tls", "fe80::1", 8786)
