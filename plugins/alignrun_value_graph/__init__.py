"""Built-in plugin ``value_graph``: ``alignrun +method=value_graph`` learns the model's causal value graph.

Value profiles under many roles × steering settings, PC over them, compared with the Schwartz
circumplex reference and checked against held-out side effects. Torch-free at import.
"""

from __future__ import annotations

from alignrun.hookspecs import hookimpl
from alignrun_value_graph.method import ValueGraphMethod

__all__ = ["ValueGraphMethod"]


@hookimpl
def alignrun_config_searchpath() -> str:
    return "pkg://alignrun_value_graph.conf"
