"""A third-party steering intervention (tests/plugins/alignrun_polite): found on the search path,
applied through the public user-prompt API, recorded in results.json and report.md."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from alignrun import Run, hookimpl, plugins
from alignrun.config import compose
from alignrun.interventions import SystemPrompt, UserPrompt, rewritten_user_prompt
from alignrun.lm import LM
from alignrun.loop import run_job
from alignrun.models.tiny import build_tiny
from tests.conftest import SMOKE

PLUGIN_ROOT = Path(__file__).resolve().parents[1] / "plugins"
POLITE = "Please answer kindly."


@pytest.fixture
def polite_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if a package ``alignrun-polite`` with the entry point ``polite`` were installed."""
    monkeypatch.syspath_prepend(str(PLUGIN_ROOT))
    installed = list(plugins.entry_points(group=plugins.ENTRY_POINT_GROUP))
    polite = EntryPoint(name="polite", value="alignrun_polite", group=plugins.ENTRY_POINT_GROUP)
    monkeypatch.setattr(plugins, "entry_points", lambda group: [*installed, polite])


class PromptSpy:
    """Records the chat text the model is given at each generation; lets the default generate."""

    def __init__(self) -> None:
        self.chats: list[list[str]] = []
        self.lm: LM | None = None

    @hookimpl
    def alignrun_generate(self, run: Run, lm: LM, prompts: list[str]) -> None:
        self.chats.append(lm.chat(prompts))
        self.lm = lm


def test_a_plugin_steering_rewrites_the_user_prompt_and_is_recorded(
    polite_installed: None, tmp_path: Path
) -> None:
    spy = PromptSpy()
    pm = plugins.get_plugin_manager()
    pm.register(spy)
    cfg = compose(["+method=none", "steering=polite", *SMOKE])
    results = run_job(cfg, tmp_path, pm)
    base, steered = spy.chats  # the base model (before/after comparison), then the steered one
    assert steered and all(POLITE in text for text in steered)
    assert not any(POLITE in text for text in base)
    assert spy.lm is not None and spy.lm.user_rewrites == []  # removed on exit
    assert results["applied"] == [{"by": "steering", "name": "polite", "text": POLITE}]
    assert json.loads((tmp_path / "results.json").read_text())["applied"] == results["applied"]
    report = (tmp_path / "report.md").read_text()
    assert "## Applied at evaluation" in report and f"- `steering=polite`: text {POLITE}" in report


def test_prompt_interventions_stack_and_restore() -> None:
    lm = build_tiny()
    system, user = SystemPrompt("Be brief."), UserPrompt("{prompt} Answer in French.")
    with system.apply(lm), user.apply(lm), rewritten_user_prompt(lm, str.upper):
        (text,) = lm.chat(["say hi"])
    assert "Be brief." in text and "SAY HI ANSWER IN FRENCH." in text  # the inner rewrite sees the outer's
    with pytest.raises(RuntimeError), user.apply(lm):
        raise RuntimeError("the body fails")
    assert lm.user_rewrites == [] and lm.system_prompt is None  # restored, also after the raise
    (plain,) = lm.chat(["say hi"])
    assert "say hi" in plain and "French" not in plain


def test_user_prompt_needs_its_placeholder() -> None:
    from alignrun import AlignrunError

    with pytest.raises(AlignrunError, match=r"must contain \{prompt\}"):
        UserPrompt("Answer in French.")
    assert UserPrompt("{prompt} {not a field}").rewrite("hi") == "hi {not a field}"


def test_the_method_intervention_is_recorded_after_steering(tmp_path: Path) -> None:
    from alignrun import MethodResult
    from alignrun.lib.training.adapters import AdapterMix

    class Mixer:
        @hookimpl
        def alignrun_run_method(self, run: Run, method: Any) -> MethodResult:
            return MethodResult(lm=run.lm, intervention=UserPrompt("{prompt}!", name="shout"))

    pm = plugins.get_plugin_manager()
    pm.register(Mixer())
    cfg = compose(["+method=none", "steering=system_prompt", "steering.text=Be kind.", *SMOKE])
    results = run_job(cfg, tmp_path, pm)
    assert results["applied"] == [
        {"by": "steering", "name": "system_prompt", "text": "Be kind."},
        {"by": "method", "name": "shout", "template": "{prompt}!"},
    ]
    report = (tmp_path / "report.md").read_text()
    assert "- `steering=system_prompt`: text Be kind." in report
    assert "- the method's `shout`: template {prompt}!" in report
    from alignrun.interventions import describe_intervention

    assert describe_intervention(AdapterMix({"helpful": 0.5})) == {
        "name": "adapter_mix",
        "weights": {"helpful": 0.5},
    }
