"""Built-in plugin ``rlhf``: multi-objective RLHF (MORLHF) with LoRA. Torch-free at import.

The method module imports torch and the training machinery only inside ``fit``.
"""

from __future__ import annotations

from alignrun.hookspecs import hookimpl
from alignrun_rlhf.method import RLHF

__all__ = ["RLHF"]


@hookimpl
def alignrun_config_searchpath() -> str:
    return "pkg://alignrun_rlhf.conf"
