"""Built-in plugin ``mva``: Multi-Value Alignment — value decorrelation (HSIC) and value extrapolation.

Torch-free at import: the estimator and training code is imported inside ``MVA.fit``.
"""

from __future__ import annotations

from alignrun.hookspecs import hookimpl
from alignrun_mva.method import MVA

__all__ = ["MVA"]


@hookimpl
def alignrun_config_searchpath() -> str:
    return "pkg://alignrun_mva.conf"
