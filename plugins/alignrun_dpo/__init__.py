"""Built-in plugin ``dpo``: DPO baselines for several values — single, weighted, sequential, soup.

Torch-free at import: the method module imports the training machinery only inside ``fit``.
"""

from __future__ import annotations

from alignrun.hookspecs import hookimpl
from alignrun_dpo.method import DPO

__all__ = ["DPO"]


@hookimpl
def alignrun_config_searchpath() -> str:
    return "pkg://alignrun_dpo.conf"
