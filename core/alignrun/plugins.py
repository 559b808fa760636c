"""Plugin discovery: a fresh pluggy manager per run, plugins from the ``alignrun`` entry-point group.

Built-in plugins (``alignrun_none`` ...) are entry points of the ``alignrun`` distribution
itself, registered exactly like a third-party package's. ``ALIGNRUN_DISABLE_PLUGIN_AUTOLOAD=1``
skips every entry point not shipped by alignrun; ``ALIGNRUN_PLUGINS=a,b`` then names the
third-party ones to load anyway (pytest's ``PYTEST_DISABLE_PLUGIN_AUTOLOAD``/``PYTEST_PLUGINS``).
This module is on the ``--help`` path: it must not import torch.
"""

from __future__ import annotations

import os
from importlib.metadata import EntryPoint, entry_points

import pluggy

from alignrun import hookspecs
from alignrun.errors import AlignrunError

ENTRY_POINT_GROUP = "alignrun"
DISABLE_AUTOLOAD_ENV = "ALIGNRUN_DISABLE_PLUGIN_AUTOLOAD"
PLUGINS_ENV = "ALIGNRUN_PLUGINS"
_OWN_DIST = "alignrun"


def _is_builtin(ep: EntryPoint) -> bool:
    dist = getattr(ep, "dist", None)
    return dist is not None and dist.name == _OWN_DIST


def _selected_entry_points() -> list[EntryPoint]:
    eps = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (not _is_builtin(ep), ep.name))
    if not os.environ.get(DISABLE_AUTOLOAD_ENV):
        return eps
    wanted = {n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(",") if n.strip()}
    return [ep for ep in eps if _is_builtin(ep) or ep.name in wanted]


def _load(ep: EntryPoint) -> object:
    try:
        return ep.load()
    except Exception as exc:  # any import failure of a plugin is reported the same way
        how = (
            "reinstall alignrun"
            if _is_builtin(ep)
            else f"uninstall it or set {DISABLE_AUTOLOAD_ENV}=1 to skip third-party plugins"
        )
        raise AlignrunError(
            f"plugin '{ep.name}' ({ep.value}) failed to import: {type(exc).__name__}: {exc}; {how}"
        ) from exc


def get_plugin_manager(*, autoload: bool = True) -> pluggy.PluginManager:
    """Build a fresh plugin manager: hookspecs, the core defaults, then the entry-point plugins.

    Args:
        autoload: load entry-point plugins (subject to the environment switches above).

    Raises:
        AlignrunError: a plugin failed to import (the message names it and how to skip it).
    """
    from alignrun import defaults

    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    # historic: every plugin registered from here on gets this call at registration
    pm.hook.alignrun_addhooks.call_historic(kwargs={"pluginmanager": pm})
    pm.register(defaults, name="alignrun.defaults")
    if autoload:
        for ep in _selected_entry_points():
            if pm.get_plugin(ep.name) is None:  # the same plugin installed twice loads once
                pm.register(_load(ep), name=ep.name)
    return pm


def config_searchpaths(pm: pluggy.PluginManager | None = None) -> list[str]:
    """Every search path plugins contribute through ``alignrun_config_searchpath``."""
    pm = pm or get_plugin_manager()
    paths = [p for p in pm.hook.alignrun_config_searchpath() if p]
    return list(dict.fromkeys(reversed(paths)))  # registration order, duplicates dropped
