"""docs/plugin_hooks.md documents every hook in ``alignrun.hookspecs``, with its exact signature.

Each hook has a section headed ``## alignrun_xxx(arg1, arg2)``, its arguments named in the
hookspec's order (datasette's ``tests/meta/test_docs.py``). Fenced code blocks are skipped when
looking for headings, and each ```python example must parse and implement only real hooks
with arguments the hookspec has.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from alignrun import hookspecs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugin_hooks.md"
SPEC_MARKER = "alignrun_spec"  # the attribute pluggy.HookspecMarker("alignrun") sets
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
HOOK_HEADING = re.compile(r"^## (alignrun_\w*)(.*)$", re.MULTILINE)
SIGNATURE = re.compile(r"^\(([\w, ]*)\)$")


def _hookspecs() -> dict[str, list[str]]:
    """Hook name -> its parameter names in order, for every function marked as a hookspec.

    Selected by pluggy's marker, not by name, so a hookspec without the ``alignrun_`` prefix is
    still found (and fails ``test_every_hookspec_is_prefixed``).
    """
    return {
        name: list(inspect.signature(func).parameters)
        for name, func in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(func, SPEC_MARKER)
    }


HOOKS = _hookspecs()


@pytest.fixture(scope="module")
def text() -> str:
    return DOCS.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def headings(text: str) -> dict[str, list[list[str] | None]]:
    """Hook name -> the argument list of each of its ``## name(...)`` headings (None: malformed)."""
    found: dict[str, list[list[str] | None]] = {}
    for match in HOOK_HEADING.finditer(FENCE.sub("", text)):
        name, rest = match.groups()
        sig = SIGNATURE.match(rest)
        args = [a.strip() for a in sig.group(1).split(",") if a.strip()] if sig else None
        found.setdefault(name, []).append(args)
    return found


def test_hookspecs_found() -> None:
    assert "alignrun_run_start" in HOOKS, "collected no hookspecs: did pluggy's marker attribute change?"


def test_every_hookspec_is_prefixed() -> None:
    unprefixed = sorted(name for name in HOOKS if not name.startswith("alignrun_"))
    assert not unprefixed, f"hookspecs without the alignrun_ prefix: {unprefixed}"


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_hook_documented_with_signature(hook: str, headings: dict[str, list[list[str] | None]]) -> None:
    expected = f"## {hook}({', '.join(HOOKS[hook])})"
    assert hook in headings, f"{DOCS.name} has no section for {hook}; add one headed `{expected}`"
    assert headings[hook] == [HOOKS[hook]], f"{DOCS.name}: the section for {hook} must be headed `{expected}`"


def test_no_section_for_a_missing_hook(headings: dict[str, list[list[str] | None]]) -> None:
    unknown = sorted(set(headings) - set(HOOKS))
    assert not unknown, f"{DOCS.name} documents hooks alignrun.hookspecs does not have: {unknown}"


def test_examples_implement_real_hooks(text: str) -> None:
    examples = [code for lang, code in FENCE.findall(text) if lang == "python"]
    assert len(examples) >= len(HOOKS), "every hook section needs a ```python example"
    for number, code in enumerate(examples, 1):
        tree = ast.parse(code, filename=f"{DOCS.name}, python example #{number}")
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            if not any("hookimpl" in ast.unparse(d) for d in node.decorator_list):
                continue  # a helper, or a hookspec of the plugin's own: not an implementation
            assert node.name in HOOKS, f"example #{number} implements unknown hook {node.name}"
            extra = sorted({a.arg for a in node.args.args} - {"self", *HOOKS[node.name]})
            assert not extra, f"example #{number}: {node.name} takes {extra}, which its hookspec lacks"
