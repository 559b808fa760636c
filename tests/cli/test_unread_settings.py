"""A setting nothing reads is refused, before anything is written, in one line naming the nearest
valid key — whether the chosen method reads that part of the config or not (issue 35).

The run dir is never made: the preflight checks every node (:func:`alignrun.config.check_unread`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignrun.config import check_config, check_settings, compose
from tests.cli.test_bad_input import TINY, assert_one_line, run_main

NONE = ["+method=none", *TINY]
DPO = ["+method=dpo", *TINY]

# (case id, command line, what the one line says)
UNREAD: list[tuple[str, list[str], str]] = [
    ("appended top-level key", [*NONE, "+seeed=3"],
     "seeed is not a setting alignrun reads; did you mean seed?"),
    ("value weight of the wrong type, method none", [*NONE, "values.helpful.weight=abc"],
     "values.helpful.weight wants a number, got 'abc'"),
    ("misspelt generation key", [*NONE, "+generation.max_new_token=64"],
     "did you mean generation.max_new_tokens?"),
    ("misspelt method key", [*DPO, "+method.bta=0.5"], "did you mean method.beta?"),
    ("a key for a method that takes none", [*NONE, "+method.bta=0.5"], "method takes no settings"),
    ("misspelt value key", [*NONE, "+values.helpful.wieght=2"], "did you mean values.helpful.weight?"),
    ("misspelt model key", [*NONE, "+model.dtipe=float32"], "model.dtipe is not a setting of model"),
    ("misspelt scorer key", [*NONE, "+values.helpful.scorer.l22=0.1"],
     "did you mean values.helpful.scorer.l2?"),
    ("misspelt candidates key", [*NONE, "+candidates.gird=[0,1]"], "did you mean candidates.grid?"),
    ("misspelt results key", [*NONE, "+results.baseline=[]"], "did you mean results.baselines?"),
    ("misspelt derive key", [*NONE, "+derive.prompt=3"], "did you mean derive.prompts?"),
    ("misspelt logger key", [*NONE, "loggers=[jsonl]", "+loggers.jsonl.filname=x"],
     "did you mean loggers.jsonl.filename?"),
    ("judge key", [*NONE, "+judge.colour=1"], "judge.colour is not a setting of judge"),
    ("evaluator without a target", [*NONE, "+judge.evaluator.colour=1"],
     "judge.evaluator: a judge must be a config node with a _target_"),
    ("profile key", [*NONE, "+profile.colour=1"], "profile.colour is not a setting of profile"),
    ("a key for profile=none", [*NONE, "profile=none", "+profile.colour=1"], "profile=none takes none"),
    ("steering key", [*NONE, "+steering.colour=1"], "steering.colour is not a setting of steering"),
    ("own pairs without a path", [*NONE, "+data.sources.helpful.pth=x.jsonl"],
     "data.sources.helpful needs path=<your file>"),
    ("own pairs, misspelt column key", [*NONE, "+data.sources.helpful.path=x.jsonl",
                                        "+data.sources.helpful.prompt_colum=q"],
     "did you mean data.sources.helpful.prompt_column?"),
    ("own eval prompts, misspelt key", [*NONE, "+data.eval_sources.helpful.path=x.jsonl",
                                        "+data.eval_sources.helpful.group_col=g"],
     "did you mean data.eval_sources.helpful.group_column?"),
    ("value loader key", [*NONE, "values.helpful.eval_prompts.name=3"],
     "values.helpful.eval_prompts.name wants a string, got 3"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "says"), [(a, s) for _, a, s in UNREAD], ids=[i for i, _, _ in UNREAD])
def test_an_unread_setting_is_one_line_and_no_run_dir(
    args: list[str],
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    line = assert_one_line(*run_main([*args, "hydra.run.dir=D"], capsys))
    assert says in line, line
    assert list(tmp_path.iterdir()) == [], "a preflight error left files behind"


@pytest.mark.parametrize(
    "overrides",
    [
        ["+data.sources.helpful.path=my.jsonl", "+data.sources.helpful.prompt_column=q"],  # docs/values.md
        ["data=do_not_answer"],
        ["model.adapter=null"],  # read by the core, not by the model's loader
        ["judge=ensemble"],
        ["judge=reward_head"],
        ["values=[helpful,harmless]", "values.helpful.weight=2"],
    ],
)
def test_documented_settings_still_pass(overrides: list[str]) -> None:
    cfg = compose(["+method=dpo", *TINY, *overrides])
    check_config(cfg)
    check_settings(cfg)
