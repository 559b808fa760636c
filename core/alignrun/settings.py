"""Typed, ranged settings: one check, in plain words, for every knob a run reads.

A dataclass setting declares its range beside its default (``steps: int = ranged(60, ge=1)``)
and calls :func:`check_fields` in ``__post_init__``; a method's own constructor arguments are
checked against its signature's annotations by :func:`check_call` before it is built. Either
way ``method.beta=abc`` gets ``method.beta wants a number, got 'abc'`` — not a ``TypeError``
from deep inside the method after the model has loaded.

A setting whose default a YAML file under ``conf/`` also states takes it from there
(:func:`defaults_from`, :func:`from_yaml`): the YAML is what ``--help`` shows and runs record, so it
is the one home of that default and the dataclass keeps only the type and the range. A class or
function that a config node builds takes its parameters' defaults from its node the same way
(:func:`signature_from`).

Torch-free: the CLI's preflight runs these before anything is written.
"""

from __future__ import annotations

import copy
import difflib
import functools
import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, Field, field, fields, is_dataclass
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
    return field(default=default, metadata={"bounds": _checked_bounds(bounds)})


def from_yaml(**bounds: float) -> Any:
    """A dataclass field whose default is the YAML's (the class's :func:`defaults_from`), with
    :func:`ranged`'s bounds; or, without bounds, a parameter's default that
    :func:`signature_from` fills in from the YAML."""
    return field(metadata={"bounds": _checked_bounds(bounds), _FROM_YAML: True})


def _checked_bounds(bounds: dict[str, float]) -> dict[str, float]:
    unknown = set(bounds) - set(_BOUNDS)
    if unknown:
        raise TypeError(f"ranged() takes {', '.join(_BOUNDS)}, not {', '.join(sorted(unknown))}")
    return bounds


# ---------------------------------------------------------------------------------------------------
# Defaults from conf/
#
# The YAML files under conf/ are what users read, what --help shows and what a run records in
# .hydra/config.yaml; a dataclass that restated their defaults had to be pinned to them by a test.
# Now a settings class names its file (``@defaults_from("method/lora/default.yaml")``) and declares
# its fields ``from_yaml(ge=1)``: types and ranges here, values there, read once when the class is
# defined, so ``LoraSettings()`` in Python still works and cannot drift. A field that also keeps a
# literal default while its YAML has one is refused when the class is defined.

CONF_PACKAGE = "alignrun.conf"  # conf/, as the wheel ships it (Hydra reads it as pkg://alignrun.conf)
_FROM_YAML = "from_yaml"
_HYDRA_KEYS = ("defaults", "hydra")  # a config file's keys that are Hydra's, not settings


@functools.cache
def _conf_file(path: str, package: str = CONF_PACKAGE) -> Mapping[str, Any]:
    """``conf/<path>`` of ``package`` (the core's, or a plugin's ``<plugin>.conf``) as plain data,
    read once per process.

    Found where the package ``alignrun.conf`` lies (a folder in every install, editable or wheel);
    ``importlib.resources`` only where it does not (a zip): importing it costs 7.5 ms of imports
    (zipfile, tempfile, ...) that ``import alignrun.config`` would otherwise not make.
    """
    from importlib.util import find_spec
    from pathlib import Path

    spec = find_spec(package)
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    file = Path(roots[0], *path.split("/")) if roots else None
    if file is not None and file.is_file():
        text = file.read_text(encoding="utf-8")
    else:
        from importlib.resources import files

        resource = files(package)
        for part in path.split("/"):
            resource = resource.joinpath(part)
        text = resource.read_text(encoding="utf-8")
    loader = _yaml_loader()(text)
    try:
        data = loader.get_single_data()
    finally:
        loader.dispose()
    if data is None:  # comments only (profile/none.yaml): no settings, as OmegaConf.load reads it
        return {}
    if not isinstance(data, Mapping):
        raise TypeError(f"conf/{path} is not a mapping of settings")
    return data


@functools.cache
def _yaml_loader() -> Any:
    """OmegaConf's YAML rules (``OmegaConf.load``, which Hydra reads these files with: ``1e-3`` is a
    float, a date stays a string) on libyaml's parser where PyYAML has it. OmegaConf's pure-Python
    loader takes 12 ms over ``alignrun.yaml`` and the schema reads it on every import (``--help``);
    this takes 1 ms. tests/unit/test_config.py checks that both read every file under conf/ alike."""
    import yaml  # type: ignore[import-untyped]  # PyYAML ships no type hints; OmegaConf depends on it
    from omegaconf._utils import get_yaml_loader

    rules = get_yaml_loader()
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is None:
        return rules
    return type("ConfLoader", (fast,), {"yaml_implicit_resolvers": rules.yaml_implicit_resolvers})


def yaml_defaults(path: str, node: str | None = None, *, package: str = CONF_PACKAGE) -> dict[str, Any]:
    """The settings ``conf/<path>`` states (its key ``node``'s, when given), as plain data: a fresh
    copy, interpolations such as ``${seed}`` and ``???`` left as written.

    Args:
        path: a file under ``conf/``, e.g. ``"method/lora/default.yaml"``.
        node: a key of that file, e.g. ``"generation"`` in ``"alignrun.yaml"``; dotted for a nested
            one (``"hydra.callbacks.sweep_summary"``).
        package: whose ``conf/``: the core's, or a plugin's (``"alignrun_dpo.conf"``).

    Raises:
        TypeError: the file or its node is not a mapping.
    """
    data: Any = _conf_file(path, package)
    for key in node.split(".") if node is not None else ():
        data = data.get(key) if isinstance(data, Mapping) else None
        if not isinstance(data, Mapping):
            raise TypeError(f"{package}: conf/{path} has no node '{node}'")
    return copy.deepcopy(dict(data))


def defaults_from(
    path: str, node: str | None = None, *, own: Sequence[str] = (), package: str | None = None
) -> Callable[[type[_T]], type[_T]]:
    """Class decorator, under ``@dataclass``: each field declared :func:`from_yaml` takes its default
    from :func:`yaml_defaults` ``(path, node)``, read from the class's own package's ``conf/``.

    Hydra's own keys (``defaults``, ``hydra``, ``_target_``) are not settings; a key whose YAML value
    is a mapping and whose field is built by a ``default_factory`` is a nested node, which its own
    class reads.

    Args:
        path: the YAML file under ``conf/``.
        node: the key in it that holds the settings (None: the whole file).
        own: fields that keep a literal default on purpose, one that differs from the YAML's (say
            why beside the field): e.g. ``generation.backend``, None in Python (the model's engine)
            and ``fast`` for a run.
        package: whose ``conf/`` (None: the class's own top-level package's, e.g. ``alignrun.conf``).

    Raises:
        TypeError: when the class is defined: a ``from_yaml`` field the YAML lacks or leaves
            unset (``???``, an interpolation); a YAML key no field takes; a field that keeps a literal
            default the YAML also states (two homes), or an ``own`` one equal to the YAML's.
    """

    def decorate(cls: type[_T]) -> type[_T]:
        where = f"conf/{path}" + (f" ({node}:)" if node else "")
        data = yaml_defaults(path, node, package=package or _conf_package(cls))
        names = list(inspect.get_annotations(cls))
        for name in own:
            if name not in data:
                raise TypeError(f"{cls.__name__}: own= names '{name}', which {where} does not set")
        for key in data:
            if key not in names and not str(key).startswith("_") and key not in _HYDRA_KEYS:
                raise TypeError(f"{where} sets '{key}', which {cls.__name__} has no field for")
        for name in names:
            declared = cls.__dict__.get(name, MISSING)
            if isinstance(declared, Field) and declared.metadata.get(_FROM_YAML):
                setattr(cls, name, _field_from(data, name, declared, f"{cls.__name__}.{name}", where))
            elif name in data:
                _check_one_home(cls.__name__, name, declared, data[name], where, own)
        return cls

    return decorate


def _conf_package(target: Any) -> str:
    """Whose ``conf/`` a target's defaults are in: its top-level package's (``alignrun_dpo.DPO`` ->
    ``alignrun_dpo.conf``, where the plugin's method YAML lies; ``alignrun.schema`` -> ``alignrun.conf``)."""
    return f"{target.__module__.partition('.')[0]}.conf"


def _field_from(data: Mapping[str, Any], name: str, declared: Field[Any], what: str, where: str) -> Any:
    """``declared`` (a :func:`from_yaml` field) with the YAML's value as its default."""
    if name not in data:
        raise TypeError(f"{what} takes its default from {where}, which has no '{name}'")
    value = data[name]
    if isinstance(value, str) and (value == "???" or "${" in value):
        raise TypeError(f"{what}: {where} gives '{value}', not a value a default can be")
    metadata = dict(declared.metadata)
    if isinstance(value, list | dict):  # a fresh copy per instance, as a literal default_factory
        return field(default_factory=functools.partial(copy.deepcopy, value), metadata=metadata)
    return field(default=value, metadata=metadata)


def _check_one_home(cls: str, name: str, declared: Any, value: Any, where: str, own: Sequence[str]) -> None:
    nested = isinstance(value, Mapping) and isinstance(declared, Field)
    if nested and declared.default_factory is not MISSING:
        return  # a nested node: its own class reads it
    default = declared.default if isinstance(declared, Field) else declared
    if name not in own:
        raise TypeError(
            f"{cls}.{name} keeps a default of its own and {where} states one too: declare it "
            "from_yaml() (or, if it differs on purpose, name it in own=)"
        )
    if default == value:
        raise TypeError(f"{cls}.{name} is in own= but its default equals {where}'s: declare it from_yaml()")


# A class or function a config node builds (``_target_: alignrun_dpo.DPO``) reads its settings as
# arguments, not fields: its parameters default to ``from_yaml()`` and :func:`signature_from` puts the
# YAML's values in their place, so ``DPO()`` in Python, ``inspect.signature`` and the run agree with
# the file without a second copy of each number.
_C = TypeVar("_C", bound=Callable[..., Any])


def signature_from(
    path: str, node: str | None = None, *, own: Sequence[str] = (), package: str | None = None
) -> Callable[[_C], _C]:
    """Decorator for a class (its ``__init__``) or a function that a config node builds: each
    parameter whose default is :func:`from_yaml` takes the value ``conf/<path>`` gives it.

    The file is the target's own package's (``alignrun_dpo.DPO`` reads ``alignrun_dpo.conf``, a core
    class ``alignrun.conf``), read once when the target is defined.

    Args:
        path: the YAML file under the package's ``conf/``, e.g. ``"method/dpo.yaml"``.
        node: the key in it that holds the arguments (None: the whole file).
        own: parameters that keep a literal default on purpose, one that differs from the YAML's.
        package: whose ``conf/`` (None: the target's own top-level package's).

    Raises:
        TypeError: when the target is defined: a ``from_yaml`` parameter the YAML lacks, leaves unset
            or gives a mapping (one object every call would share; a list becomes a tuple); a
            parameter that keeps a literal default the YAML also states. (Keys the target does not
            take are the run's to refuse when it builds the node: a model's ``adapter``, say, the
            core reads first.)
    """

    def decorate(target: _C) -> _C:
        if inspect.isclass(target) and "__init__" not in vars(target):
            raise TypeError(f"{target.__qualname__} has no __init__ of its own to give defaults to")
        function = target.__init__ if inspect.isclass(target) else target
        home = package or _conf_package(target)
        where = f"{home}: conf/{path}" + (f" ({node}:)" if node else "")
        data = yaml_defaults(path, node, package=home)
        name = target.__qualname__

        def default_for(param: str, declared: Any) -> Any:
            if isinstance(declared, Field) and declared.metadata.get(_FROM_YAML):
                if declared.metadata["bounds"]:
                    raise TypeError(f"{name}.{param}: from_yaml() bounds apply to dataclass fields only")
                made = _field_from(data, param, declared, f"{name}.{param}", where)
                if isinstance(data[param], list):  # a tuple: one default every call can share
                    return tuple(data[param])
                if made.default is MISSING:
                    raise TypeError(f"{name}.{param}: {where} gives a mapping, one every call would share")
                return made.default
            stated = data.get(param, MISSING)
            unset = isinstance(stated, str) and (stated == "???" or "${" in stated)
            if stated is not MISSING and not unset and not isinstance(stated, Mapping):
                _check_one_home(name, param, declared, stated, where, own)
            return declared

        code = function.__code__
        positional = code.co_varnames[: code.co_argcount]
        defaults = list(function.__defaults__ or ())
        first = len(positional) - len(defaults)
        function.__defaults__ = (
            tuple(default_for(p, d) for p, d in zip(positional[first:], defaults, strict=True)) or None
        )
        keywords = function.__kwdefaults__ or {}
        function.__kwdefaults__ = {p: default_for(p, d) for p, d in keywords.items()} or None
        return target

    return decorate


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
    check_bounds(key, value, bounds)


def check_bounds(key: str, value: Any, bounds: Mapping[str, float] | None) -> None:
    """One key's ``ranged`` bounds (a value that is not a number is not checked).

    Raises:
        AlignrunError: ``<key> must be >= 1, got 0``.
    """
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


def check_ranges(obj: Any, prefix: str) -> None:
    """Check every field of dataclass ``obj`` against its ``ranged`` bounds only: for a node of the
    typed schema (:mod:`alignrun.schema`), whose types Hydra has checked when it composed the config
    (``generation.max_new_tokens=abc`` never gets this far).

    Raises:
        AlignrunError: the first field out of range.
    """
    for f in fields(obj):
        check_bounds(f"{prefix}.{f.name}", getattr(obj, f.name), _bounds(f))


def _bounds(f: Field[Any]) -> Mapping[str, float]:
    return dict(f.metadata.get("bounds", {}))


def unknown_key(key: str, known: Sequence[str]) -> str:
    """The one line that refuses setting ``key`` (``a.b.c``): the nearest of ``known`` (the settings
    its node takes) as a suggestion, and the list when it is short."""
    node, _, name = key.rpartition(".")
    where = f"a setting of {node}" if node else "a setting alignrun reads"
    if not known:
        return f"{key} is not {where}: {node} takes no settings"
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    hint = f"; did you mean {node + '.' if node else ''}{close[0]}?" if close else ""
    listed = f" ({node or 'the top level'} takes: {', '.join(known)})" if len(known) <= 12 else ""
    return f"{key} is not {where}{hint}{listed}"


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
            raise AlignrunError(unknown_key(f"{prefix}.{key}", known))
        check_value(f"{prefix}.{key}", value, hints.get(key, Any))


def build_settings(cls: type[_T], node: Mapping[str, Any] | None, prefix: str) -> _T:
    """``cls(**node)`` for a settings dataclass, with unknown keys and wrong types reported as
    ``<prefix>.<key>`` (its ``__post_init__`` checks the ranges)."""
    node = dict(node or {})
    check_call(cls, node, prefix)
    return cls(**node)
