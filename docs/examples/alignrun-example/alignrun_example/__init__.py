"""alignrun-example: a third-party alignrun plugin (method ``best_of_n``, value ``concise``).

alignrun imports this module through the ``alignrun`` entry point ``best_of_n`` on every
command, ``alignrun --help`` included, and registers it with each run's plugin manager. So
it stays cheap: nothing here (or in the modules it imports) imports torch at module level.
"""

from __future__ import annotations

from alignrun.hookspecs import hookimpl
from alignrun_example.best_of_n import BestOfN
from alignrun_example.concise import ConciseScorer

__all__ = ["BestOfN", "ConciseScorer"]


@hookimpl
def alignrun_config_searchpath() -> str:
    """Put ``conf/method/best_of_n.yaml`` and ``conf/values/concise.yaml`` on Hydra's search path."""
    return "pkg://alignrun_example.conf"
