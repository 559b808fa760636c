"""Typed, ranged settings: one check, in plain words, for every knob a run reads.

A dataclass setting declares its range beside its default (``steps: int = ranged(60, ge=1)``)
and calls :func:`check_fields` in ``__post_init__``; a method's own constructor arguments are
checked against its signature's annotations by :func:`check_call` before it is built. Either
way ``method.beta=abc`` gets ``method.beta wants a number, got 'abc'`` — not a ``TypeError``
from deep inside the method after the model has loaded.

Torch-free: the CLI's preflight runs these before anything is written.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import Field, field, fields, is_dataclass
from typing import Any, TypeVar

from alignrun.errors import AlignrunError

_T = TypeVar("_T")
_BOUNDS = ("ge", "gt", "le", "lt")
_OPS = {
    "ge": (">=", float.__ge__),
    "gt": (">", float.__gt__),
    "le": ("<=", float.__le__),
    "lt": ("<", float.__lt__),
}


def ranged(default: Any, **bounds: float) -> Any:
    """A dataclass field with ``default`` and bounds (``ge``, ``gt``, ``le``, ``lt``) that
    :func:`check_fields` enforces; ``None`` is never out of range."""
    unknown = set(bounds) - set(_BOUNDS)
    if unknown:
        raise TypeError(f"ranged() takes {', '.join(_BOUNDS)}, not {', '.join(sorted(unknown))}")
    return field(default=default, metadata={"bounds": bounds})


def describe(hint: Any) -> str:
    """``int | None`` -> ``an integer or null``: the type a key wants, in words."""
    if _is_union(hint):
        parts = [describe(a) for a in typing.get_args(hint) if a is not type(None)]
        nullable = type(None) in typing.get_args(hint)
        return " or ".join(parts + (["null"] if nullable else []))
    base = typing.get_origin(hint) or hint
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    if base in names:
        return names[base]
    if base in (list, tuple, Sequence):
        args = typing.get_args(hint)
        return f"a list of {_plural(describe(args[0]))}" if args and args[0] is not Any else "a list"
    if base in (dict, Mapping):
        return "a mapping"
    return getattr(hint, "__name__", str(hint))


def _plural(words: str) -> str:
    return {"an integer": "integers", "a number": "numbers", "a string": "strings"}.get(words, words)


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def accepts(hint: Any, value: Any) -> bool | None:
    """Whether ``value`` fits ``hint``; None where the hint is not one this check knows (a class,
    a protocol): then the target's own checks decide."""
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    if hint is type(None):
        return value is None
    if _is_union(hint):
        verdicts = [accepts(a, value) for a in typing.get_args(hint)]
        return True if True in verdicts else None if None in verdicts else False
    base = typing.get_origin(hint) or hint
    if base is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if base in (bool, str):
        return isinstance(value, base)
    if base in (list, tuple, Sequence):
        if isinstance(value, str) or not isinstance(value, Sequence):
            return False
        args = typing.get_args(hint)
        inner = [accepts(args[0], v) for v in value] if args and args[0] is not Any else []
        return False not in inner
    if base in (dict, Mapping):
        return isinstance(value, Mapping)
    return None


def check_value(key: str, value: Any, hint: Any, bounds: Mapping[str, float] | None = None) -> None:
    """One key's type, then its bounds.

    Raises:
        AlignrunError: ``<key> wants <type>, got <value>`` or ``<key> must be >= 1, got 0``.
    """
    if isinstance(value, Mapping) and "_target_" in value:
        return  # a node that builds an object: the object's own checks apply
    if accepts(hint, value) is False:
        raise AlignrunError(f"{key} wants {describe(hint)}, got {value!r}")
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return
    for name, limit in (bounds or {}).items():
        symbol, holds = _OPS[name]
        if not holds(float(value), float(limit)):
            raise AlignrunError(f"{key} must be {symbol} {limit:g}, got {value!r}")


def check_fields(obj: Any, prefix: str) -> None:
    """Check every field of dataclass ``obj`` against its annotation and ``ranged`` bounds;
    keys are reported as ``<prefix>.<field>``.

    Raises:
        AlignrunError: the first field with a wrong type or out of range.
    """
    hints = typing.get_type_hints(type(obj))
    for f in fields(obj):
        check_value(f"{prefix}.{f.name}", getattr(obj, f.name), hints.get(f.name, Any), _bounds(f))


def _bounds(f: Field[Any]) -> Mapping[str, float]:
    return dict(f.metadata.get("bounds", {}))


def check_call(target: Any, kwargs: Mapping[str, Any], prefix: str) -> None:
    """Check the arguments a config node gives ``target`` (a class or function) against its
    signature: unknown keys and annotated types. Types the check does not know pass through.

    Raises:
        AlignrunError: an argument ``target`` does not take, or one of the wrong type.
    """
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):  # a builtin or C callable: nothing to read
        return
    try:  # a dataclass's own annotations; a class's __init__'s; a function's
        hints = typing.get_type_hints(
            target if is_dataclass(target) else target.__init__ if inspect.isclass(target) else target
        )
    except Exception:  # an annotation that does not resolve: check the keys only
        hints = {}
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key, value in kwargs.items():
        if key.startswith("_"):
            continue
        if key not in params:
            if open_ended:
                continue
            known = [p for p in params if params[p].kind is not inspect.Parameter.VAR_POSITIONAL]
            raise AlignrunError(f"{prefix}.{key} is not a setting of {prefix}; it takes: {', '.join(known)}")
        check_value(f"{prefix}.{key}", value, hints.get(key, Any))


def build_settings(cls: type[_T], node: Mapping[str, Any] | None, prefix: str) -> _T:
    """``cls(**node)`` for a settings dataclass, with unknown keys and wrong types reported as
    ``<prefix>.<key>`` (its ``__post_init__`` checks the ranges)."""
    node = dict(node or {})
    check_call(cls, node, prefix)
    return cls(**node)
