"""Schemas of input files (pydantic models) and the one adapter from a pydantic error to an :class:`InputError`.

A schema subclasses :class:`Schema`: unknown keys are refused (with "did you mean" for a near miss) and types are
strict, so ``"no"`` is not read as true nor ``"3"`` as 3 (an int is still accepted for a float). Conventions:

- ``expect("what a user should write", default, ...)`` gives a field the text its errors show;
- ``checked(predicate, expected)`` adds a check beyond the type (a value in a set, a finite number, ...);
- no ``Union`` other than ``Optional``: pydantic names union arms in error locations, so a field that takes several
  types is ``Any`` with a ``checked`` predicate;
- a stdlib dataclass that is its own schema (``analysis.AnalysisConfig``) sets ``__pydantic_config__`` to
  :data:`DATACLASS_CONFIG`, uses strict field types (``StrictInt``, ...) and ``Annotated[type, expect(...)]``.

:func:`validate` returns the model or raises ONE InputError naming the file, the dotted field path (e.g.
``ensemble[2].n``), what was expected and what it got. Bottom layer: imports only ``errors`` and pydantic.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError, PydanticUndefined

from mlipscope.errors import InputError
from mlipscope.plain_input import did_you_mean as did_you_mean  # re-exported
from mlipscope.plain_input import load_yaml as load_yaml  # re-exported

T = TypeVar("T")

#: the longest time limit a run or a command accepts (a longer one is a typo, and ``inf`` never ends a hang)
MAX_SECONDS = 7 * 24 * 3600.0
SECONDS_EXPECTED = f"a positive, finite number of seconds, at most 7 days ({MAX_SECONDS:.0f})"


class Schema(BaseModel):
    """Base of every input schema: extra keys forbidden, strict types."""

    model_config = ConfigDict(extra="forbid", strict=True)
    #: what a value of this table is, for an error at the table itself (e.g. a list where a mapping belongs)
    expected_text: ClassVar[str] = "a mapping of settings"


#: a stdlib dataclass used as a schema sets ``__pydantic_config__ = DATACLASS_CONFIG`` and strict field types
#: (``StrictInt``, ...): strict mode for the whole dataclass would refuse a mapping for the dataclass itself
DATACLASS_CONFIG = ConfigDict(extra="forbid")


def expect(expected: str, default: Any = PydanticUndefined, **kwargs: Any) -> Any:
    """A field whose errors say ``expected`` (``kwargs`` go to pydantic's ``Field``: constraints, default_factory)."""
    return Field(default, json_schema_extra={"expected": expected}, **kwargs)


def checked(predicate: Callable[[Any], bool], expected: str) -> AfterValidator:
    """A check after the type: a value for which ``predicate`` is false is refused with ``expected``."""

    def check(value: Any) -> Any:
        if not predicate(value):
            raise PydanticCustomError("mlipscope", "expected {expected}", {"expected": expected})
        return value

    return AfterValidator(check)


def is_number(value: Any) -> bool:
    """An int or a float, not a bool (YAML/TOML ``true`` is no number)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_seconds(value: Any) -> bool:
    return is_number(value) and math.isfinite(value) and 0 < value <= MAX_SECONDS


#: an optional table written as nothing (``defects:`` in YAML) reads as an empty one
NONE_AS_EMPTY = BeforeValidator(lambda value: {} if value is None else value)
#: a time limit: positive, finite, at most :data:`MAX_SECONDS`
Seconds = Annotated[
    float,
    Field(json_schema_extra={"expected": SECONDS_EXPECTED}),
    checked(is_seconds, SECONDS_EXPECTED),
]


def check_seconds(value: Any, source: str | Path | None, field: str) -> float:
    """A time limit given outside a schema (a command-line option), checked like :data:`Seconds`."""
    if not is_seconds(value):
        raise InputError(source, field, SECONDS_EXPECTED, got=value)
    return float(value)


def validate(schema: type[T], data: Any, source: str | Path | None, *, prefix: str = "") -> T:
    """``data`` as a ``schema`` instance (a :class:`Schema` or a dataclass with :data:`DATACLASS_CONFIG`), or one
    InputError against ``source`` (field paths start with ``prefix``)."""
    try:
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            return schema.model_validate(data)  # type: ignore[return-value]
        return _adapter(schema).validate_python(data)
    except ValidationError as exc:
        raise to_input_error(exc, schema, source, prefix=prefix) from None


@functools.cache
def _adapter(schema: type) -> TypeAdapter:
    return TypeAdapter(schema)


_UNKNOWN = ("extra_forbidden", "unexpected_keyword_argument")
_TABLE_KINDS = ("model_type", "model_attributes_type", "dataclass_type", "dataclass_exact_type")


def to_input_error(exc: ValidationError, schema: type, source: str | Path | None, *, prefix: str = "") -> InputError:
    """The first problem of ``exc`` (fields are checked in their order in the file's schema) as an InputError."""
    errors = exc.errors(include_url=False)
    # an unknown key first: a typo'd key is why its intended neighbour is reported missing
    error = next((e for e in errors if e["type"] in _UNKNOWN), errors[0])
    loc = tuple(part for part in error["loc"] if part != "[key]")
    field = field_path(prefix, loc) or prefix or "file contents"
    kind = error["type"]
    if kind in _UNKNOWN:
        allowed = sorted(_fields(_walk(schema, loc[:-1])[1]))
        return InputError(source, field, f"one of the keys {allowed} (unknown key{did_you_mean(loc[-1], allowed)})")
    if kind == "missing":
        return InputError(source, field, "a value (required)")
    owner_text, end = _walk(schema, loc)
    if kind == "mlipscope":
        expected = error["ctx"]["expected"]
    elif kind in _TABLE_KINDS and hasattr(end, "expected_text"):
        expected = end.expected_text  # a table where something else stands: the table's own description
    elif owner_text is not None:
        expected = owner_text
    else:
        expected = _generic(error)
    return InputError(source, field, expected, got=error.get("input"))


def check_type(annotation: Any, candidates: list[Any], source: str | Path | None, field: str) -> Any:
    """The first of ``candidates`` (readings of one input, most specific first) that is of the type ``annotation``,
    checked strictly (no true for 1, no 9.5 for an integer; an int is a float; a list where a tuple belongs is
    read as the tuple), as that type; else an InputError naming the type expected."""
    adapter = _lenient_adapter(annotation)
    for candidate in candidates:
        for value in (candidate, tuple(candidate)) if isinstance(candidate, list) else (candidate,):
            try:
                return adapter.validate_python(value, strict=True)
            except ValidationError:
                continue
    raise InputError(source, field, type_text(annotation), got=candidates[-1] if candidates else None)


@functools.cache
def _lenient_adapter(annotation: Any) -> TypeAdapter:
    """A type adapter that accepts any class (a Dataset object) as an isinstance check."""
    return TypeAdapter(annotation, config=ConfigDict(arbitrary_types_allowed=True))


_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a text", type(None): "null"}


def type_text(annotation: Any) -> str:
    """A type annotation in the words of mlipscope's messages: ``int | None`` -> 'an integer or null'."""
    annotation = typing.get_args(annotation)[0] if typing.get_origin(annotation) is Annotated else annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(type_text(arm) for arm in typing.get_args(annotation)))
    if annotation in _TYPE_WORDS:
        return _TYPE_WORDS[annotation]
    if typing.get_origin(annotation) in (list, tuple):
        return f"a list ({str(annotation).replace('typing.', '')})"
    if typing.get_origin(annotation) is dict:
        return "a mapping"
    return f"a {getattr(annotation, '__name__', str(annotation))}"


def field_path(prefix: str, loc: tuple[Any, ...]) -> str:
    """``("ensemble", 2, "n")`` -> ``ensemble[2].n`` (after ``prefix.`` when given)."""
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _unwrap(tp: Any) -> Any:
    """The type inside ``Annotated[...]`` and ``Optional[...]``."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            arms = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = arms[0] if len(arms) == 1 else Any
        else:
            return tp


def _walk(schema: type, loc: tuple[Any, ...]) -> tuple[str | None, Any]:
    """(the expected text of the last named field on ``loc``, or None; the type at the end of ``loc``)."""
    tp: Any = schema
    text = None
    for part in loc:
        tp = _unwrap(tp)
        fields = _fields(tp)
        if fields:
            if part not in fields:
                return None, None
            tp, text = fields[part]
            continue
        args = typing.get_args(tp)
        origin = typing.get_origin(tp)
        if origin in (list, tuple, set, frozenset) and args:
            tp = args[0]
        elif origin is dict and len(args) == 2:
            tp = args[1]
        else:
            return text, None
    return text, _unwrap(tp)


def _fields(tp: Any) -> dict[str, tuple[Any, str | None]]:
    """Key -> (annotation, the expected text given with ``expect``) of a schema model or dataclass; {} otherwise."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return {info.alias or name: (info.annotation, _text(info)) for name, info in tp.model_fields.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp, include_extras=True)
        return {f.name: (hints[f.name], _annotated_text(hints[f.name])) for f in dataclasses.fields(tp)}
    return {}


def _text(info: FieldInfo) -> str | None:
    extra = info.json_schema_extra
    return str(extra["expected"]) if isinstance(extra, dict) and "expected" in extra else None


def _annotated_text(annotation: Any) -> str | None:
    """The expected text of a ``Field`` inside a dataclass field's ``Annotated[...]`` (outermost first)."""
    while typing.get_origin(annotation) is Annotated:
        base, *metadata = typing.get_args(annotation)
        for item in metadata:
            if isinstance(item, FieldInfo) and _text(item):
                return _text(item)
        annotation = base
    return None


_TYPES = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def _generic(error: Any) -> str:
    """What a pydantic error type means in the words of mlipscope's messages."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _TYPES:
        return _TYPES[kind]
    if kind in _BOUNDS:
        bound = next(iter(ctx.values()))
        return f"a number {_BOUNDS[kind]} {bound}"
    if kind == "literal_error":
        return f"one of {ctx.get('expected')}"
    if kind == "too_short":
        return f"at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"at most {ctx.get('max_length')} item(s)"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return str(error["msg"])
