"""Plugin discovery: a fresh pluggy manager per run, plugins from the ``alignrun`` entry-point group.

Built-in plugins (``alignrun_none`` ...) are entry points of the ``alignrun`` distribution
itself, registered exactly like a third-party package's. ``ALIGNRUN_DISABLE_PLUGIN_AUTOLOAD=1``
skips every entry point not shipped by alignrun; ``ALIGNRUN_PLUGINS=a,b`` then names the
third-party ones to load anyway (pytest's ``PYTEST_DISABLE_PLUGIN_AUTOLOAD``/``PYTEST_PLUGINS``).
This module is on the ``--help`` path: it must not import torch.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sysconfig
import traceback
from collections.abc import Mapping, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from alignrun import hookspecs
from alignrun.errors import AlignrunError, causes

ENTRY_POINT_GROUP = "alignrun"
DISABLE_AUTOLOAD_ENV = "ALIGNRUN_DISABLE_PLUGIN_AUTOLOAD"
PLUGINS_ENV = "ALIGNRUN_PLUGINS"
_OWN_DIST = "alignrun"
log = logging.getLogger("alignrun")


def _is_builtin(ep: EntryPoint) -> bool:
    dist = getattr(ep, "dist", None)
    return dist is not None and dist.name == _OWN_DIST


def autoload_hint() -> str:
    """What to add to an "unknown method/value" message while third-party autoload is off ("" when on)."""
    if not os.environ.get(DISABLE_AUTOLOAD_ENV):
        return ""
    return f" ({DISABLE_AUTOLOAD_ENV} is set: only {PLUGINS_ENV}=a,b loads third-party plugins)"


def _selected_entry_points() -> list[EntryPoint]:
    eps = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (not _is_builtin(ep), ep.name))
    if not os.environ.get(DISABLE_AUTOLOAD_ENV):
        return eps
    wanted = {n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(",") if n.strip()}
    unknown = sorted(wanted - {ep.name for ep in eps})
    if unknown:  # a typo here would silently run without the plugin the user asked for
        known = sorted(ep.name for ep in eps if not _is_builtin(ep)) or ["none installed"]
        log.warning(
            "%s names %s, which no installed plugin is (third-party plugins: %s)",
            PLUGINS_ENV, ", ".join(unknown), ", ".join(known),
        )  # fmt: skip
    return [ep for ep in eps if _is_builtin(ep) or ep.name in wanted]


def _load(ep: EntryPoint) -> object:
    try:
        return ep.load()
    except Exception as exc:  # any import failure of a plugin is reported the same way
        if _is_builtin(ep):
            how = "reinstall alignrun"
        elif os.environ.get(DISABLE_AUTOLOAD_ENV):  # only ALIGNRUN_PLUGINS can have loaded it
            how = f"uninstall it or remove it from {PLUGINS_ENV}"
        else:
            how = f"uninstall it or set {DISABLE_AUTOLOAD_ENV}=1 to skip third-party plugins"
        raise AlignrunError(
            f"plugin '{ep.name}' ({ep.value}) failed to import: {type(exc).__name__}: {exc}"
            f"{raised_at(exc)}; {how}"
        ) from exc


def raised_at(exc: BaseException) -> str:
    """`` at /full/path/file.py:LINE``: where ``exc`` was raised outside Python's own library (a
    syntax error: the file and line that failed to parse); empty when no such frame exists, e.g. a
    plugin module that is not installed at all (the message names the module)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" at {os.path.realpath(exc.filename)}:{exc.lineno}"
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith("<")
        and not os.path.realpath(f.filename).startswith(stdlib)
        and os.path.realpath(f.filename) != os.path.realpath(__file__)  # the loader, not the plugin
    ]
    return f" at {os.path.realpath(frames[-1].filename)}:{frames[-1].lineno}" if frames else ""


def get_plugin_manager(*, autoload: bool = True) -> pluggy.PluginManager:
    """Build a fresh plugin manager: hookspecs, the core defaults, then the entry-point plugins.

    Args:
        autoload: load entry-point plugins (subject to the environment switches above).

    Raises:
        AlignrunError: a plugin failed to import (the message names it and how to skip it), or
            implements a hook that does not exist (:func:`check_hook_names`).
    """
    from alignrun import defaults

    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    # historic: every plugin registered from here on gets this call at registration
    pm.hook.alignrun_addhooks.call_historic(kwargs={"pluginmanager": pm})
    pm.register(defaults, name="alignrun.defaults")
    pm.add_hookcall_monitoring(lambda *_: None, _name_failing_plugin)
    if autoload:
        for ep in _selected_entry_points():
            if pm.get_plugin(ep.name) is None:  # the same plugin installed twice loads once
                pm.register(_load(ep), name=ep.name)
        check_hook_names(pm)
    return pm


def check_hook_names(pm: pluggy.PluginManager) -> None:
    """Fail on a hook implementation whose name no hookspec has (``alignrun_generat``): pluggy keeps
    it pending and never calls it, so the plugin would silently do nothing. pluggy's
    ``check_pending`` finds it; this says it in one line that names the plugin."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as err:
        raise AlignrunError(
            f"plugin '{pm.get_name(err.plugin)}' implements a hook alignrun does not have: {err} "
            "(misspelt? docs/plugin_hooks.md lists the hooks)"
        ) from None


_CULPRIT = "_alignrun_failed_in"


def _name_failing_plugin(
    outcome: pluggy.Result[Any], hook_name: str, hook_impls: Sequence[Any], kwargs: Mapping[str, Any]
) -> None:
    """Tag an exception escaping a hook with the plugin whose implementation raised it, so the CLI
    can say ``plugin 'x' failed in alignrun_log`` in one line. The innermost hook tags first; the
    core's own implementations (``alignrun.defaults``) are never the culprit named."""
    exc = outcome.exception
    if exc is None or isinstance(exc, AlignrunError) or hasattr(exc, _CULPRIT):
        return
    codes = {frame.f_code for frame, _ in traceback.walk_tb(exc.__traceback__)}
    for impl in hook_impls:
        if impl.plugin_name != "alignrun.defaults" and getattr(impl.function, "__code__", None) in codes:
            with contextlib.suppress(AttributeError):  # an exception type with __slots__: left unnamed
                setattr(exc, _CULPRIT, (impl.plugin_name, hook_name))
            return


def failing_plugin(exc: BaseException) -> tuple[str, str] | None:
    """``(plugin name, hook name)`` of the plugin that raised ``exc`` (or its cause), if one did."""
    return next((getattr(e, _CULPRIT) for e in causes(exc) if hasattr(e, _CULPRIT)), None)


def config_searchpaths(pm: pluggy.PluginManager | None = None) -> list[str]:
    """Every search path plugins contribute through ``alignrun_config_searchpath``."""
    pm = pm or get_plugin_manager()
    paths = [p for p in pm.hook.alignrun_config_searchpath() if p]
    return list(dict.fromkeys(reversed(paths)))  # registration order, duplicates dropped
