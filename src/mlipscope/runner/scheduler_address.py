"""Check a ``--scheduler`` address before anything is created: one clear error within seconds.

Handing Dask a wrong address fails late and badly: a malformed IPv6 address raises a bare ``ValueError``, an HTTP
server hangs the client (it waits for a request that never ends) or makes it read the reply's first bytes as a frame
length ("Unable to allocate 3.07 EiB"). So the address is parsed here, a TCP connection is tried with a timeout,
and the service is asked who it is with Dask's own protocol (``identity``), the whole exchange under a deadline.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from urllib.parse import urlsplit

from mlipscope.errors import InputError

FIELD = "--scheduler"
_EXPECTED = "a Dask scheduler address tcp://host:port (an IPv6 host in brackets: tcp://[::1]:8786)"


def parse_scheduler_address(address: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of ``tcp://host:port``, ``tls://...``, ``host:port`` or ``[ipv6]:port``."""
    text = address.strip()
    try:
        parts = urlsplit(text if "://" in text else f"tcp://{text}")
        host, port = parts.hostname, parts.port
    except ValueError:  # "Invalid IPv6 URL", "Port out of range 0-65535", a port that is not a number
        raise InputError(None, FIELD, _EXPECTED, got=address) from None
    if parts.scheme not in ("tcp", "tls") or not host or not port or parts.path.strip("/") or parts.query:
        raise InputError(None, FIELD, _EXPECTED, got=address)
    return parts.scheme, host, port


def check_scheduler_address(address: str, timeout_s: float = 3.0) -> tuple[str, int]:
    """``(host, port)`` of the Dask scheduler at ``address``, checked at once: parsed, connected to within
    ``timeout_s``, and answering Dask's ``identity`` as a scheduler within ``timeout_s`` more; an
    :class:`~mlipscope.errors.InputError` naming the address and what went wrong otherwise."""
    scheme, host, port = parse_scheduler_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise InputError(
            None, FIELD, f"a running Dask scheduler at {host}:{port} (cannot connect: {reason})", got=address
        ) from None
    url = f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"
    kind = _identify(url, timeout_s)
    if kind != "Scheduler":
        what = f"a Dask {kind}" if kind else "not a Dask service, or one that does not answer"
        raise InputError(None, FIELD, f"a Dask scheduler at {host}:{port} (this address is {what})", got=address)
    return host, port


def _identify(url: str, timeout_s: float) -> str | None:
    """The ``type`` a Dask server at ``url`` reports for itself; None when it does not answer as one in time.

    The exchange runs in a thread of its own with its own event loop: the caller may be inside another loop, and a
    service that sends garbage may block the thread (a huge allocation), which the join's timeout then leaves
    behind."""
    answer: list[str | None] = [None]

    def ask() -> None:
        try:
            answer[0] = asyncio.run(asyncio.wait_for(_ask_identity(url, timeout_s), timeout_s))
        except BaseException:  # noqa: BLE001 - whatever a non-Dask service makes the client do: "not Dask"
            answer[0] = None

    thread = threading.Thread(target=ask, daemon=True, name="mlipscope-scheduler-check")
    thread.start()
    thread.join(timeout_s + 1.0)
    return answer[0]


async def _ask_identity(url: str, timeout_s: float) -> str | None:
    from distributed.comm import connect
    from distributed.security import Security

    comm = await connect(url, timeout=timeout_s, **Security().get_connection_args("client"))
    try:
        await comm.write({"op": "identity", "reply": True})
        reply = await comm.read()
    finally:
        comm.abort()
    return reply.get("type") if isinstance(reply, dict) and isinstance(reply.get("type"), str) else None
