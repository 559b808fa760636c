"""Plugin discovery: entry points, the autoload switch, broken plugins, the search path."""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from alignrun import hookimpl, plugins
from alignrun.config import AlignrunSearchPathPlugin
from alignrun.errors import AlignrunError


class _FakeDist:
    def __init__(self, name: str) -> None:
        self.name = name


def _ep(name: str, value: str, dist: str) -> EntryPoint:
    ep = EntryPoint(name=name, value=value, group=plugins.ENTRY_POINT_GROUP)
    return ep._for(_FakeDist(dist))  # type: ignore[attr-defined]


@pytest.fixture
def fake_entry_points(monkeypatch: pytest.MonkeyPatch) -> list[EntryPoint]:
    eps = [
        _ep("none", "alignrun_none", "alignrun"),
        _ep("thirdparty", "alignrun_none.method", "someone-else"),
    ]
    monkeypatch.setattr(plugins, "entry_points", lambda group: eps)
    return eps


def test_builtin_plugin_is_an_entry_point() -> None:
    pm = plugins.get_plugin_manager()
    assert pm.get_plugin("none") is not None
    assert pm.get_plugin("alignrun.defaults") is not None
    assert "pkg://alignrun_none.conf" in plugins.config_searchpaths(pm)


def test_autoload_switch_keeps_builtins_only(fake_entry_points: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert {"none", "thirdparty"} <= set(dict(plugins.get_plugin_manager().list_name_plugin()))
    monkeypatch.setenv(plugins.DISABLE_AUTOLOAD_ENV, "1")
    names = set(dict(plugins.get_plugin_manager().list_name_plugin()))
    assert "none" in names and "thirdparty" not in names
    monkeypatch.setenv(plugins.PLUGINS_ENV, "thirdparty")
    assert "thirdparty" in set(dict(plugins.get_plugin_manager().list_name_plugin()))


def test_broken_plugin_named_with_how_to_disable(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [_ep("broken", "alignrun_no_such_module_xyz", "broken-dist")]
    monkeypatch.setattr(plugins, "entry_points", lambda group: eps)
    with pytest.raises(AlignrunError) as info:
        plugins.get_plugin_manager()
    message = str(info.value)
    assert "'broken'" in message and plugins.DISABLE_AUTOLOAD_ENV in message and "\n" not in message
    assert " at " not in message  # not installed at all: no file of the plugin's to point at


@pytest.mark.parametrize(
    ("source", "line"), [("import os\nNAME = undefined_name\n", 2), ("x = 1\ndef broken(:\n", 2)]
)
def test_a_plugin_failing_at_import_is_pointed_at_by_full_path_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, line: int
) -> None:
    module = tmp_path / "alignrun_fails_at_import.py"
    module.write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "alignrun_fails_at_import", raising=False)
    eps = [_ep("fails", "alignrun_fails_at_import", "fails-dist")]
    monkeypatch.setattr(plugins, "entry_points", lambda group: eps)
    with pytest.raises(AlignrunError) as info:
        plugins.get_plugin_manager()
    assert f" at {module.resolve()}:{line}; " in str(info.value), str(info.value)


@hookimpl
def alignrun_generat() -> None:
    """A misspelt hook (``alignrun_generate``), as a plugin module would define it."""


def test_a_misspelt_hook_name_fails_at_load_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [_ep("typo", "tests.unit.test_plugins", "typo-dist")]
    monkeypatch.setattr(plugins, "entry_points", lambda group: eps)
    with pytest.raises(AlignrunError) as info:
        plugins.get_plugin_manager()
    message = str(info.value)
    assert message.startswith("plugin 'typo' implements a hook alignrun does not have")
    assert "'alignrun_generat'" in message and "\n" not in message
    monkeypatch.setenv(plugins.DISABLE_AUTOLOAD_ENV, "1")  # not loaded: nothing to check
    assert plugins.get_plugin_manager().get_plugin("typo") is None


def test_alignrun_plugins_names_are_checked(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    eps = [_ep("broken", "alignrun_no_such_module_xyz", "broken-dist")]
    monkeypatch.setattr(plugins, "entry_points", lambda group: eps)
    monkeypatch.setenv(plugins.DISABLE_AUTOLOAD_ENV, "1")
    monkeypatch.setenv(plugins.PLUGINS_ENV, "brokn")
    with caplog.at_level("WARNING", logger="alignrun"):
        plugins.get_plugin_manager()
    said = "ALIGNRUN_PLUGINS names brokn, which no installed plugin is (third-party plugins: broken)"
    assert said in caplog.text
    monkeypatch.setenv(plugins.PLUGINS_ENV, "broken")  # loaded only because it is named there: say so
    with pytest.raises(AlignrunError, match="uninstall it or remove it from ALIGNRUN_PLUGINS"):
        plugins.get_plugin_manager()


def test_fresh_plugin_manager_per_call() -> None:
    assert plugins.get_plugin_manager() is not plugins.get_plugin_manager()


def test_hooks_are_all_prefixed() -> None:
    # every hook the manager knows, whatever its name: a spec added without the prefix fails here
    pm = plugins.get_plugin_manager(autoload=False)
    names = [name for name in vars(pm.hook) if not name.startswith("_")]
    assert len(names) >= 10
    unprefixed = sorted(n for n in names if not n.startswith("alignrun_"))
    assert not unprefixed, f"hooks without the alignrun_ prefix: {unprefixed}"


def test_searchpath_plugin_acts_only_for_alignrun() -> None:
    from hydra._internal.config_search_path_impl import ConfigSearchPathImpl

    other = ConfigSearchPathImpl()
    other.append("main", "pkg://someone_else.conf")
    AlignrunSearchPathPlugin().manipulate_search_path(other)
    assert [e.path for e in other.get_path()] == ["pkg://someone_else.conf"]

    ours = ConfigSearchPathImpl()
    ours.append("main", "pkg://alignrun.conf")
    AlignrunSearchPathPlugin().manipulate_search_path(ours)
    assert "pkg://alignrun_none.conf" in [e.path for e in ours.get_path()]


def test_addhooks_reaches_every_plugin_at_registration() -> None:
    from alignrun import hookimpl

    seen = []

    class Adder:
        @hookimpl
        def alignrun_addhooks(self, pluginmanager: Any) -> None:
            seen.append(pluginmanager)

    pm = plugins.get_plugin_manager()
    pm.register(Adder())
    assert seen == [pm]
