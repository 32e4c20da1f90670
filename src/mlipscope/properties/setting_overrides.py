"""Property settings changed for one run from the command line: ``--set <label>.<setting>=<value>``.

``<label>`` is the label of a property the command evaluates, or a glob of labels (``'*.fmax=0.01'``: every such
property that has an ``fmax``); ``<setting>`` is a keyword argument of the property's class (what
``mlipscope suites`` lists and a run config's ``[suite.overrides.<label>]`` sets). ``<value>`` is read as JSON
(``9``, ``0.01``, ``1e-3``, ``true``, ``[2, 2, 2]``, ``null``), else as text (``FIRE``), and checked against the
setting's type. A setting is part of the property's configuration and so of its stored evaluation keys: results
with a changed setting are stored beside those with the default, never mixed with them.
"""

from __future__ import annotations

import fnmatch
import functools
import inspect
import json
import typing
from collections.abc import Sequence
from typing import Any

from mlipscope.errors import InputError
from mlipscope.properties.registry import SuiteEntry
from mlipscope.validation import check_type, did_you_mean

#: what an assignment looks like (for its error messages)
SYNTAX = "<label>.<setting>=<value>, e.g. eos.n_points=11 or '*.fmax=0.01'"
#: keyword arguments of every property that are not settings
_NOT_SETTINGS = ("self", "label", "material")


def settings_of(cls: type) -> dict[str, Any]:
    """Setting name -> type annotation of a property class (its keyword arguments but label and material)."""
    return dict(_settings(cls))


@functools.cache
def _settings(cls: type) -> tuple[tuple[str, Any], ...]:
    hints = typing.get_type_hints(cls.__init__)
    names = [n for n in inspect.signature(cls.__init__).parameters if n not in _NOT_SETTINGS]
    return tuple((name, hints.get(name, Any)) for name in names)


def parse_assignments(
    assignments: Sequence[str], entries: Sequence[SuiteEntry], source: str = "--set"
) -> dict[str, dict[str, Any]]:
    """The overrides (label -> {setting: value}) that ``assignments`` make on ``entries`` (the properties a command
    evaluates); a later assignment of the same setting wins. InputError (naming ``source`` and the assignment) for
    a malformed one, a label or setting that is not there (with "did you mean"), or a value of the wrong type."""
    labels = [entry.label for entry in entries]
    overrides: dict[str, dict[str, Any]] = {}
    for text in assignments:
        target, equals, raw = text.partition("=")
        pattern, _, setting = target.strip().partition(".")
        if not equals or not pattern or not setting.isidentifier():
            raise InputError(source, text, SYNTAX)
        matched = [entry for entry in entries if fnmatch.fnmatchcase(entry.label, pattern)]
        if not matched:
            expected = f"a label of the properties evaluated, one of {labels}"
            raise InputError(source, text, f"{expected} (unknown label '{pattern}'{did_you_mean(pattern, labels)})")
        taking = [entry for entry in matched if setting in settings_of(entry.property_class())]
        if not taking:
            known = sorted({name for entry in matched for name in settings_of(entry.property_class())})
            hint = f"unknown setting '{setting}'{did_you_mean(setting, known)}"
            raise InputError(source, text, f"a setting of {pattern}, one of {known} ({hint})")
        readings = _readings(raw.strip())
        for entry in taking:
            annotation = settings_of(entry.property_class())[setting]
            overrides.setdefault(entry.label, {})[setting] = check_type(annotation, readings, source, text)
    return overrides


def _readings(raw: str) -> list[Any]:
    """How a value may be read, most specific first: as JSON (a number, true, a list, null), then as the text."""
    try:
        return [json.loads(raw), raw]
    except json.JSONDecodeError:
        return [raw]
