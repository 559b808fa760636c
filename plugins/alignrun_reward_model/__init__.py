"""Built-in plugin ``reward_model``: ``alignrun +method=reward_model`` fits a reward head per value.

A Bradley–Terry head on the run's model's frozen last hidden state (:mod:`alignrun.judges.reward_head`),
fitted on each value's training pairs, saved under ``reward_models/<value>/`` and checked on the
value's held-out pairs. The model itself is returned unchanged.
This module is imported on every ``--help``: keep it free of torch.
"""

from __future__ import annotations

from alignrun.hookspecs import hookimpl
from alignrun_reward_model.method import RewardModelMethod

__all__ = ["RewardModelMethod"]


@hookimpl
def alignrun_config_searchpath() -> str:
    return "pkg://alignrun_reward_model.conf"
