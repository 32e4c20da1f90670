"""A bad --scheduler address is a clear error at once (no 30 s hang, no traceback)."""

from __future__ import annotations

import socket
import time

import pytest

from mlipscope.cli import main


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("not an address", "a Dask scheduler address tcp://host:port"),
        ("http://127.0.0.1:8786", "a Dask scheduler address tcp://host:port"),
        ("tcp://127.0.0.1", "a Dask scheduler address tcp://host:port"),
        ("tcp://127.0.0.1:{port}", "cannot connect"),
    ],
)
def test_bad_scheduler_address_fails_at_once(tmp_path, capsys, address, message):
    config = tmp_path / "run.toml"
    config.write_text('[run]\ndb = "r.duckdb"\n[[potentials]]\nname = "SW"\ncalculator = "sw"\n')
    start = time.monotonic()
    code = main(["run", str(config), "--scheduler", address.format(port=_free_port())])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert time.monotonic() - start < 10
    assert not (tmp_path / "r.duckdb").exists()  # nothing written
