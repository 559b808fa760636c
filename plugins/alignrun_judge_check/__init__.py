"""Built-in plugin ``judge_check``: ``alignrun +method=judge_check values=[...]`` checks the judges alone.

For every value: the run's evaluator and the judges in ``method.judges`` (default: the MiniLM reward
model, the LM reward head and their ensemble), each on the value's labelled held-out pairs against the
trivial baselines (longer answer, refusal keyword, the base model's log-prob), with the bias probes,
calibration, Cohen's κ between every two judges and the gate (docs/judges.md). The model is not changed.
This module is imported on every ``--help``: keep it free of torch.
"""

from __future__ import annotations

from alignrun.hookspecs import hookimpl
from alignrun_judge_check.method import JudgeCheck

__all__ = ["JudgeCheck"]


@hookimpl
def alignrun_config_searchpath() -> str:
    return "pkg://alignrun_judge_check.conf"
