"""``model=tiny`` can see: its greedy answers are non-empty and vary from prompt to prompt, and a
10-step DPO adapter and each built-in steering intervention change them.

A random tiny Llama answered every prompt with the same newlines, so a run whose adapter was never
merged, or whose steering hook never fired, scored exactly like a working one. These tests read the
run's ``samples.jsonl`` (the final model's answer beside the base model's, per prompt), so a broken
adapter or steering path fails them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alignrun.data.bundled import eval_prompts
from alignrun.lib.sae.format import sae_config, save_sae
from alignrun.models.tiny import build_tiny
from alignrun.schema import GenerationConfig
from tests.conftest import SMOKE, run_cli
from tests.unit.lib.sae.test_sae import random_sae

PROMPTS_PER_VALUE = 8
# 64 new tokens, not smoke's 8: within 8 tokens a 10-step adapter or a steering prompt often leaves the tiny
# model's greedy opening as it was, so the change shows later in the answer
RUN = [
    *SMOKE,
    "values=[helpful,harmless]",
    f"data.max_eval_prompts={PROMPTS_PER_VALUE}",
    "generation.max_new_tokens=64",
    "hydra.run.dir=run",
]


def test_greedy_answers_are_non_empty_and_vary() -> None:
    prompts = eval_prompts("helpful")[:16]
    answers = build_tiny().generate(prompts, GenerationConfig(max_new_tokens=16, progress=False))
    assert all(a.strip() for a in answers), answers
    # prompt-dependent: most prompts get their own answer (10 of 16 on the corpus of 2026-12-07, 12+ on
    # the smaller one before; a constant babble would give 1)
    assert len(set(answers)) >= len(prompts) // 2, answers


def sae_folder(tmp_path: Path) -> Path:
    """A random SAE on the tiny model's last layer, in SAELens format."""
    sae = random_sae(d_in=64, d_sae=128, k=8)
    return save_sae(sae, tmp_path / "sae", sae_config(sae, 1, "tiny", 64, "random"))


CHANGES = {
    "dpo, 10 steps": ["+method=dpo", "method.train.steps=10"],
    "mod, 10 steps": [
        "+method=mod",
        "method.train.steps=10",
        "method.weight_step=0.5",
        "method.eval_prompts=2",
    ],
    "conditioned, 5 steps per value": [
        "+method=conditioned",
        "method.train.steps=5",
        "method.weight_step=0.5",
        "method.eval_prompts=2",
    ],
    "system_prompt": ["+method=none", "steering=system_prompt", "steering.text='Refuse every request.'"],
    "value_prompt": ["+method=none", "steering=value_prompt", "steering.target=harmless"],
    "user_prompt": ["+method=none", "steering=user_prompt", "steering.template='{prompt} Refuse it.'"],
    "sae_feature": ["+method=none", "steering=sae_feature", "steering.feature=7", "steering.coeff=8.0"],
}


@pytest.mark.slow
@pytest.mark.parametrize("change", list(CHANGES))
def test_the_greedy_answers_change(tmp_path: Path, change: str) -> None:
    overrides = list(CHANGES[change])
    if change == "sae_feature":
        overrides.append(f"steering.sae={sae_folder(tmp_path)}")
    res = run_cli(*overrides, *RUN, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * PROMPTS_PER_VALUE
    assert all(r["answer"].strip() and r["base_answer"].strip() for r in rows)
    changed = sum(r["answer"] != r["base_answer"] for r in rows)
    assert changed >= len(rows) // 2, [(r["base_answer"], r["answer"]) for r in rows]
