"""Causal value graphs (docs/architecture.md, "Measuring values"): a graph type, PC discovery, a human
reference, comparison,
side-effect prediction (co-change) and rendering. Torch-free; causal-learn and matplotlib are
imported only inside the functions that need them.
"""

from __future__ import annotations

from alignrun.lib.graphs.model import Edge, ValueGraph

__all__ = ["Edge", "ValueGraph"]
