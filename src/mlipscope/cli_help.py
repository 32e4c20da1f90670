"""Help texts of the command line: defaults shown, an example per command, the named calculators listed.

Kept apart from :mod:`mlipscope.cli` so the parser stays short; nothing here imports more than ``argparse`` until
a help text is actually printed (the calculator names are read from their registries then).
"""

from __future__ import annotations

import argparse
import textwrap

#: placeholders in a help text, replaced from the registries when help is printed (not at start-up: reading the
#: registries imports ASE)
NAMED_CALCULATORS = "<named calculators>"
MLIP_FAMILIES = "<mlip families>"

#: one or two example command lines per subcommand, shown at the end of its ``--help``
EXAMPLES: dict[str, tuple[str, ...]] = {
    "benchmark": (
        "mlipscope benchmark --calculator sw --suite quick",
        "mlipscope benchmark --calculator mlearn-snap:Mo --material mo --json > mo.json",
    ),
    "run": ("mlipscope run examples/si.toml --quick --log-file run.log",),
    "sample": ("mlipscope sample --family snap --n 20 --training-sets si_original_train --db results.duckdb",),
    "analyze": (
        "mlipscope analyze --db results.duckdb --out report/",
        "mlipscope analyze --table published.csv --type-column type --threshold-row DFT --transform log10",
    ),
    "export": ("mlipscope export --db results.duckdb --out export/ --format parquet",),
    "uncertainty": ("mlipscope uncertainty --db results.duckdb --top 10",),
    "status": ("mlipscope status --db results.duckdb",),
    "suites": ("mlipscope suites --suite si-quick", "mlipscope suites --material mo"),
    "materials": ("mlipscope materials",),
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Epilogs kept as written (the examples), ``(default: X)`` after options that have a meaningful default (none
    for a default of None or False: "default: None" says nothing), and the calculator placeholder expanded."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if NAMED_CALCULATORS in text:
            text = text.replace(NAMED_CALCULATORS, named_calculators_text())
        if MLIP_FAMILIES in text:
            from mlipscope.models.registry import FAMILIES

            text = text.replace(MLIP_FAMILIES, ", ".join(FAMILIES))
        unset = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if "(default" in text or unset or not action.option_strings:
            return text
        if isinstance(action.default, list | tuple):  # "(default: si_original_train)", not a Python list
            shown = " ".join(str(v) for v in action.default).replace("%", "%%")
            return f"{text} (default: {shown})"
        return f"{text} (default: %(default)s)"

    def _split_lines(self, text: str, width: int) -> list[str]:
        # not at hyphens: "mlearn-snap:<El>" and "tersoff-t2" are names to copy whole
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


def named_calculators_text() -> str:
    """The named calculator specs as one line of help, read from the registries that resolve them."""
    from mlipscope.calculators import named_calculator_forms

    forms, elements = named_calculator_forms()
    return f"{', '.join(forms)} (<El>: {', '.join(elements)}; foundation models take @cpu, @cuda or @auto)"


def epilog(command: str) -> str:
    return "example:\n" + "\n".join(f"  {line}" for line in EXAMPLES[command])


def finish_help(parser: argparse.ArgumentParser, subparsers: argparse._SubParsersAction) -> None:
    """Give every subcommand the formatter and its examples (a command without examples is a KeyError here, so a
    new command cannot ship without one)."""
    parser.formatter_class = HelpFormatter
    for name, sub in subparsers.choices.items():
        sub.formatter_class = HelpFormatter
        sub.epilog = epilog(name)
