"""The memory limit of sandbox children (:mod:`mlipscope.runner.sandbox`): ``RLIMIT_DATA`` of the child and the
parent's kill threshold for the child's processes together. It travels in an environment variable, so the processes
this one starts (Dask workers) inherit it.
"""

from __future__ import annotations

import os

import psutil

from mlipscope.errors import InputError

#: environment variable holding the memory limit of sandbox children, in bytes
MEMORY_ENV = "MLIPSCOPE_CHILD_MEMORY_BYTES"


def default_child_memory_bytes() -> int:
    """80 % of the machine's memory: one runaway model must leave room for the rest of the machine."""
    return int(0.8 * psutil.virtual_memory().total)


def child_memory_bytes() -> int:
    """The memory limit of sandbox children started from now on."""
    value = os.environ.get(MEMORY_ENV, "").strip()
    if not value:
        return default_child_memory_bytes()
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit <= 0:
        raise InputError(None, f"environment variable {MEMORY_ENV}", "a positive number of bytes", got=value)
    return limit


def set_child_memory_limit(limit: int | str | None) -> int:
    """Limit the memory of the sandbox children this process (and the processes it starts from now on, e.g. Dask
    workers) runs: a number of bytes or a size such as ``"2GiB"``; None for the default. Returns the limit in bytes.
    A child already running is replaced at its next call."""
    if limit is None:
        os.environ.pop(MEMORY_ENV, None)
        return child_memory_bytes()
    if isinstance(limit, str):
        from dask.utils import parse_bytes

        try:
            limit = parse_bytes(limit)
        except (ValueError, TypeError):
            raise InputError(
                None, "memory limit", "a memory size such as '4GiB' or a number of bytes", got=limit
            ) from None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise InputError(None, "memory limit", "a positive number of bytes", got=limit)
    os.environ[MEMORY_ENV] = str(limit)
    return limit
