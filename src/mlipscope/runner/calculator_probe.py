"""Check a calculator spec before any work without running user code in this process: the calculator is built in
the sandbox child under a time limit, so a factory that segfaults, hangs or calls ``sys.exit`` becomes one
InputError naming the spec (the CLI and the main job stay alive, and nothing is stored)."""

from __future__ import annotations

from mlipscope.errors import InputError
from mlipscope.failures import FailureKind
from mlipscope.runner.sandbox import run_isolated

#: how long building a calculator may take (a foundation model loads its weights: tens of seconds on a laptop)
PROBE_TIME_LIMIT_S = 120.0


def build_for_probe(spec: str) -> tuple | None:
    """In the child: build the calculator; None when it built, else an InputError's fields (it pickles as fields,
    so the parent raises the same message)."""
    from mlipscope.calculators import make_calculator

    try:
        make_calculator(spec)
    except InputError as exc:
        return (exc.source, exc.field, exc.expected, exc.got)
    return None


def probe_calculator(spec: str, time_limit_s: float | None = PROBE_TIME_LIMIT_S) -> None:
    """Raise InputError when ``spec`` does not build a calculator (in the sandbox child, within ``time_limit_s``)."""

    def crashed(kind: FailureKind, reason: str, elapsed_s: float) -> tuple:
        what = {
            FailureKind.TIMEOUT: f"to build within {time_limit_s:g} s (it hung: {reason})",
            FailureKind.CRASHED: f"to build without killing its process ({reason})",
            FailureKind.OUT_OF_MEMORY: f"to build within the memory limit ({reason})",
        }.get(kind, f"to build ({reason})")
        return (None, "calculator", f"a calculator spec that is able {what}", spec)

    fields = run_isolated("mlipscope.runner.calculator_probe:build_for_probe", (spec,), time_limit_s, crashed)
    if fields is not None:
        source, field, expected, got = fields
        raise InputError(source, field, expected, got=got)
