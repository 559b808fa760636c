"""The base model's evaluation, measured once and reused by content (alignrun.evaluation_cache)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alignrun import Run, hookimpl
from alignrun.config import compose
from alignrun.evaluation_cache import key, model_digest
from alignrun.lm import LM
from alignrun.loop import build_run, run_job
from alignrun.plugins import get_plugin_manager
from tests.conftest import SMOKE, empty_cache

# the model may change under steering: such a run measures its base
STEERED = ["steering=system_prompt", "steering.text=Answer briefly."]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = Path(empty_cache(tmp_path / "cache"))
    monkeypatch.setenv("ALIGNRUN_CACHE", str(path))
    return path


def job(out: Path, *overrides: str) -> dict[str, Any]:
    return run_job(compose(["+method=none", *SMOKE, *overrides]), out)


def samples(out: Path, which: str) -> list[tuple[str, str, str]]:
    """(value, prompt, answer) of the final (or base) model, from samples.jsonl."""
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    field = "answer" if which == "final" else "base_answer"
    return [(r["value"], r["prompt"], r[field]) for r in rows]


def test_a_none_run_measures_what_the_next_jobs_base_reads(cache: Path, tmp_path: Path) -> None:
    none = job(tmp_path / "none")
    assert none["reused"]["final"]["hit"] is False  # measured, and kept
    entry = none["reused"]["final"]["entry"]
    assert (cache / "evaluations" / entry).is_file()

    steered = job(tmp_path / "steered", *STEERED)
    assert steered["reused"]["base"] == {
        "hit": True,
        "entry": entry,
        "measured_s": pytest.approx(steered["reused"]["base"]["measured_s"]),
    }
    assert samples(tmp_path / "steered", "base") == samples(tmp_path / "none", "final")
    assert (
        f"The base evaluation was read from the user cache ({entry};"
        in (tmp_path / "steered" / "report.md").read_text()
    )

    # measured again instead of read: the same comparison, to the last digit
    fresh = job(tmp_path / "fresh", *STEERED, "reuse_base=false")
    assert fresh["reused"]["base"] == {"hit": False, "why": "reuse_base=false"}
    for part in ("scores", "vs_base", "length_control"):
        assert fresh[part] == steered[part], part
    assert fresh["metrics"].keys() - steered["metrics"].keys() == {"base/generation/tokens_per_s"}


def test_a_rerun_without_a_profile_reads_its_final_evaluation(cache: Path, tmp_path: Path) -> None:
    first = job(tmp_path / "a")
    again = job(tmp_path / "b")
    assert again["reused"]["final"]["hit"] is True
    assert again["scores"] == first["scores"] and again["scores_ci"] == first["scores_ci"]


def test_another_seed_reads_the_same_greedy_answers_with_its_own_intervals(
    cache: Path, tmp_path: Path
) -> None:
    job(tmp_path / "a")
    # model=tiny's weights and the capped prompts follow the seed: here they are held
    other = job(tmp_path / "b", "seed=1", "model.seed=0", "data.seed=0")
    assert other["reused"]["final"]["hit"] is True
    assert other["uncertainty"]["interval"].endswith("seed 1")
    assert job(tmp_path / "c", "seed=1")["reused"]["final"]["hit"] is False  # other weights and prompts


def test_other_prompts_or_settings_are_measured(cache: Path, tmp_path: Path) -> None:
    job(tmp_path / "a")
    assert job(tmp_path / "b", "generation.max_new_tokens=6")["reused"]["final"]["hit"] is False
    assert job(tmp_path / "c", "data.max_eval_prompts=1")["reused"]["final"]["hit"] is False
    # progress bars change nothing that is measured
    assert job(tmp_path / "d", "generation.progress=true")["reused"]["final"]["hit"] is True


def test_a_corrupt_entry_is_measured_again(
    cache: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    entry = cache / "evaluations" / job(tmp_path / "a")["reused"]["final"]["entry"]
    entry.write_text('{"inputs": ')
    again = job(tmp_path / "b")
    assert again["reused"]["final"]["hit"] is False
    assert "corrupt" in caplog.text
    assert json.loads(entry.read_text())["inputs"]["version"] == 1  # stored whole again


def test_the_digest_follows_the_weights(cache: Path, tmp_path: Path) -> None:
    import torch

    run = build_run(compose(["+method=none", *SMOKE]), tmp_path, get_plugin_manager())
    before = model_digest(run.lm)
    assert model_digest(run.lm) == before  # kept while no parameter changed
    twin = build_run(compose(["+method=none", *SMOKE]), tmp_path / "twin", get_plugin_manager())
    assert model_digest(twin.lm) == before  # a fresh load of the same weights
    with torch.no_grad():
        next(run.lm.model.parameters())[0, 0] += 1.0  # an in-place update, as an optimizer makes
    assert model_digest(run.lm) != before
    run.lm.system_prompt = "You are terse."
    with torch.no_grad():
        next(run.lm.model.parameters())[0, 0] -= 1.0
    assert model_digest(run.lm) != before  # the prompt wrapping decides answers too


class Plugged:
    @hookimpl
    def alignrun_generate(self, run: Run, lm: LM, prompts: list[str]) -> list[str]:
        return ["ok" for _ in prompts]


class Unpinned:
    """A scorer whose describe() pins nothing (a remote judge's, say)."""

    def score(self, prompts: list[str], responses: list[str]) -> list[float]:
        return [0.0 for _ in responses]

    def describe(self) -> dict[str, Any]:
        return {"kind": "remote", "url": "http://judge.invalid"}


def test_what_is_never_reused_says_why(tmp_path: Path) -> None:
    from alignrun.interventions import SystemPrompt

    cfg = compose(["+method=none", *SMOKE])
    run = build_run(cfg, tmp_path, get_plugin_manager())
    prompts = {n: run.data.eval_prompts[n] for n in run.values}
    assert not isinstance(key(run, run.lm, [], prompts), str)
    assert key(run, run.lm, [SystemPrompt("Be brief.")], prompts) == "the model is steered"
    plugged = get_plugin_manager()
    plugged.register(Plugged())
    other = build_run(cfg, tmp_path / "plugged", plugged)
    assert "a plugin generates" in str(key(other, other.lm, [], prompts))
    run.values["honest"].scorer = Unpinned()  # type: ignore[assignment]
    assert key(run, run.lm, [], prompts) == (
        "the judge of honest is not pinned to a local fit (describe() has no fit_sha)"
    )
