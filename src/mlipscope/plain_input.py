"""Reading input files without pydantic: YAML through libyaml, and the "did you mean" hint of an error.

Kept apart from :mod:`mlipscope.validation` (which imports pydantic and builds its schemas) so that a process that
only reads a reference file, such as an evaluation child, does not pay for pydantic.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` through libyaml where PyYAML has it (the same data, ~10x faster: a command reads the
    material and reference files in each of its processes); raises ``yaml.YAMLError`` as ``safe_load`` does."""
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def did_you_mean(word: Any, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` with the closest of ``choices`` to ``word``, or "" when none is close."""
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""
