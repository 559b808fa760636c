"""The example third-party plugin (docs/examples/alignrun-example), installed as a user would install it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

pytest.importorskip("alignrun_example")

from omegaconf import OmegaConf

from alignrun import AlignrunError, Run, Value, hookimpl
from alignrun.config import GenerationConfig, compose
from alignrun.data import RunData
from alignrun.interventions import NoSteering
from alignrun.loop import build_values
from alignrun.plugins import DISABLE_AUTOLOAD_ENV, PLUGINS_ENV, get_plugin_manager
from alignrun_example import BestOfN, ConciseScorer
from tests.conftest import scaled_timeout

# --------------------------------------------------------------------------- the concise scorer


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("", -1.0),  # empty: missing, not concise
        ("   \n ", -1.0),
        ("Canberra.", 1.0),
        ("one two three", 1.0),  # exactly max_words
        ("one two three four", 2 * 3 / 4 - 1),  # just over: 0.5, no cliff
        ("a b c d e f", 0.0),  # twice the limit
        (" ".join(["w"] * 12), -0.5),  # four times: 2*3/12 - 1
    ],
)
def test_concise_scorer_hand_checked(response: str, expected: float) -> None:
    assert ConciseScorer(max_words=3).score(["any prompt"], [response]) == [pytest.approx(expected)]


def test_concise_scorer_default_limit_and_order() -> None:
    scorer = ConciseScorer()
    assert scorer.score(["p"] * 3, [" ".join(["w"] * 40), " ".join(["w"] * 80), "x"]) == [1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="max_words"):
        ConciseScorer(max_words=0)


def test_concise_value_config_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    values = build_values(compose(["+method=best_of_n", "values=[concise]"]))
    concise = values["concise"]
    assert concise.name == "concise"
    assert isinstance(concise.scorer, ConciseScorer) and concise.scorer.max_words == 40
    assert concise.eval_prompts is not None and len(concise.eval_prompts) == 8
    assert concise.preference_data is None


# --------------------------------------------------------------------------- best-of-n selection


class WordCountLM:
    """Sample ``i`` (seed ``base + i``) of prompt ``j``: ``(i + j) % 4 + 1`` words, naming its seed first."""

    name = "word-count"

    def __init__(self, base_seed: int) -> None:
        self.base_seed = base_seed
        self.calls: list[tuple[int, GenerationConfig]] = []

    def generate(self, prompts: list[str], cfg: GenerationConfig, seed: int = 0) -> list[str]:
        self.calls.append((seed, cfg))
        i = seed - self.base_seed
        return [" ".join([f"s{seed}"] + ["w"] * ((i + j) % 4)) for j in range(len(prompts))]


class DistanceTo4:
    """``-|words - 4|``: prefers four-word answers."""

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        return [-abs(len(r.split()) - 4.0) for r in responses]


class Recorder:
    def __init__(self) -> None:
        self.logged: list[dict[str, float]] = []

    @hookimpl
    def alignrun_log(self, run: Run, metrics: dict[str, float], step: int | None) -> None:
        self.logged.append(metrics)


def make_run(lm: WordCountLM, method: BestOfN, long_weight: float, short_weight: float) -> Run:
    values = {
        "long": Value("long", weight=long_weight, scorer=DistanceTo4()),
        "short": Value("short", weight=short_weight, scorer=ConciseScorer(max_words=1)),
        "unscored": Value("unscored", weight=100.0),  # no scorer: skipped
    }
    cfg = OmegaConf.create({"seed": lm.base_seed, "generation": {"max_new_tokens": 8, "progress": False}})
    return Run(
        cfg=cfg,
        lm=lm,  # type: ignore[arg-type]  # a stand-in: BestOfN only calls lm.generate
        values=values,
        data=RunData(),
        method=method,
        steering=NoSteering(),
        output_dir=Path("unused"),
        pm=get_plugin_manager(autoload=False),
    )


def test_best_of_n_picks_the_highest_weighted_reward() -> None:
    lm = WordCountLM(base_seed=7)
    method = BestOfN(n=4, temperature=0.7)
    run = make_run(lm, method, long_weight=3.0, short_weight=1.0)
    recorder = Recorder()
    run.pm.register(recorder)

    # before fit only the core default answers: one greedy call
    run.hook.alignrun_generate(run=run, lm=lm, prompts=["a", "b", "c"])
    assert [(seed, cfg.do_sample) for seed, cfg in lm.calls] == [(7, False)]
    lm.calls.clear()

    assert method.fit(run).lm is lm
    out = run.hook.alignrun_generate(run=run, lm=lm, prompts=["a", "b", "c"])
    # reward 3*(-|k-4|) + concise(k) for k words: k=1 -8, k=2 -6, k=3 -10/3, k=4 -0.5 -> four words win
    assert out == ["s10 w w w", "s9 w w w", "s8 w w w"]
    assert [seed for seed, _ in lm.calls] == [7, 8, 9, 10]
    assert all(cfg.do_sample and cfg.temperature == 0.7 and cfg.max_new_tokens == 8 for _, cfg in lm.calls)
    assert recorder.logged == [
        {
            "best_of_n/reward_sample": pytest.approx((-8 - 6 - 10 / 3 - 0.5) / 4),
            "best_of_n/reward_best": pytest.approx(-0.5),
        }
    ]


def test_best_of_n_follows_the_weights() -> None:
    lm = WordCountLM(base_seed=0)
    method = BestOfN(n=4)
    run = make_run(lm, method, long_weight=1.0, short_weight=10.0)
    method.fit(run)
    method.fit(run)  # fitting twice on one run registers once
    # k=1: -3 + 10 = 7 beats k=2: -2, k=3: -1 - 10/3, k=4: -5 -> one-word answers win
    assert run.hook.alignrun_generate(run=run, lm=lm, prompts=["a", "b", "c"]) == ["s0", "s3", "s2"]


def test_best_of_n_rejects_bad_settings_and_runs_without_scorers() -> None:
    with pytest.raises(AlignrunError, match="n must be"):
        BestOfN(n=0)
    with pytest.raises(AlignrunError, match="top_p"):
        BestOfN(top_p=0.0)
    method = BestOfN()
    run = make_run(WordCountLM(0), method, 1.0, 1.0)
    run.values = {"unscored": Value("unscored")}
    with pytest.raises(AlignrunError, match="no value in this run has a scorer"):
        method.fit(run)


# --------------------------------------------------------------------------- the CLI, as a user runs it


def alignrun(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in (DISABLE_AUTOLOAD_ENV, PLUGINS_ENV)}
    clean["HF_HUB_OFFLINE"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "alignrun", *args],
        cwd=tmp_path,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=scaled_timeout(600),
    )


@pytest.mark.slow
def test_cli_runs_best_of_n_with_concise(tmp_path: Path) -> None:
    proc = alignrun(
        tmp_path, "+method=best_of_n", "values=[helpful,concise]", "experiment=smoke", "hydra.run.dir=run"
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["method"] == "best_of_n"
    assert results["values"] == ["helpful", "concise"]
    assert -1.0 <= results["scores"]["concise"] <= 1.0
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert any("best_of_n/reward_best" in row for row in logged)


def _group_line(help_text: str, group: str) -> list[str]:
    line = next(ln for ln in help_text.splitlines() if ln.startswith(f"{group}: "))
    return line.split(": ", 1)[1].split(", ")


def test_cli_help_lists_the_plugin(tmp_path: Path) -> None:
    proc = alignrun(tmp_path, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "best_of_n" in _group_line(proc.stdout, "method")
    assert "concise" in _group_line(proc.stdout, "values")


@pytest.mark.slow
def test_autoload_off_hides_the_plugin_and_plugins_env_brings_it_back(tmp_path: Path) -> None:
    off = alignrun(tmp_path, "--help", **{DISABLE_AUTOLOAD_ENV: "1"})
    assert off.returncode == 0, off.stderr
    assert "best_of_n" not in _group_line(off.stdout, "method")
    assert "none" in _group_line(off.stdout, "method")  # built-in plugins still load
    assert "concise" not in _group_line(off.stdout, "values")
    chosen = alignrun(tmp_path, "--help", **{DISABLE_AUTOLOAD_ENV: "1", PLUGINS_ENV: "best_of_n"})
    assert "best_of_n" in _group_line(chosen.stdout, "method")
