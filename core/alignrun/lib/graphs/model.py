"""A value graph: values as nodes; directed, undirected (orientation unknown) or bidirected edges.

PC returns a CPDAG: edges it could orient are directed, the rest undirected. An undirected
edge may point either way, so the *possible descendants* of a value are those reachable along
directed edges forwards and undirected edges either way, never against an arrowhead; a
bidirected edge (``<->``: PC found conflicting orientations) is not followed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignrun.errors import AlignrunError

KINDS = ("directed", "undirected", "bidirected")


@dataclass(frozen=True)
class Edge:
    """``source -> target`` when ``kind`` is directed; otherwise the order carries no meaning.

    ``sign`` is +1 or -1 (the sign of the two values' correlation), 0 when unknown.
    """

    source: str
    target: str
    kind: str = "undirected"
    sign: int = 0

    @property
    def pair(self) -> frozenset[str]:
        return frozenset((self.source, self.target))


@dataclass
class ValueGraph:
    """Nodes (value names, in display order), edges and how the graph was made (``meta``)."""

    nodes: list[str]
    edges: list[Edge]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        known = set(self.nodes)
        for e in self.edges:
            if e.kind not in KINDS:
                raise AlignrunError(
                    f"edge {e.source}-{e.target}: kind must be one of {KINDS}, got {e.kind!r}"
                )
            if e.source not in known or e.target not in known or e.source == e.target:
                raise AlignrunError(f"edge {e.source}-{e.target} joins values not in the graph's nodes")
        pairs = [e.pair for e in self.edges]
        if len(set(pairs)) != len(pairs):
            raise AlignrunError("a value graph has at most one edge per pair of values")

    def skeleton(self) -> set[frozenset[str]]:
        """The edges without orientation."""
        return {e.pair for e in self.edges}

    def neighbours(self, node: str) -> set[str]:
        return {v for e in self.edges if node in e.pair for v in e.pair if v != node}

    def possible_descendants(self, node: str) -> set[str]:
        """Values reachable from ``node`` along ``->`` forwards and ``--`` either way (``node`` excluded)."""
        step: dict[str, set[str]] = {n: set() for n in self.nodes}
        for e in self.edges:
            if e.kind == "directed":
                step[e.source].add(e.target)
            elif e.kind == "undirected":
                step[e.source].add(e.target)
                step[e.target].add(e.source)
        seen, frontier = {node}, [node]
        while frontier:
            frontier = [n for cur in frontier for n in step[cur] if n not in seen]
            seen.update(frontier)
        return seen - {node}

    def subgraph(self, nodes: Iterable[str]) -> ValueGraph:
        """The graph induced on ``nodes`` (kept in this graph's order)."""
        keep = set(nodes)
        return ValueGraph(
            [n for n in self.nodes if n in keep],
            [e for e in self.edges if e.pair <= keep],
            dict(self.meta),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": list(self.nodes),
            "edges": [
                {"source": e.source, "target": e.target, "kind": e.kind, "sign": e.sign} for e in self.edges
            ],
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "graph") -> ValueGraph:
        try:
            edges = [
                Edge(str(e["source"]), str(e["target"]), str(e["kind"]), int(e.get("sign", 0)))
                for e in data["edges"]
            ]
            return cls([str(n) for n in data["nodes"]], edges, dict(data.get("meta") or {}))
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            raise AlignrunError(
                f"{where} is not a value graph (nodes, edges with source/target/kind): {exc}"
            ) from None

    @classmethod
    def load(cls, path: str | Path) -> ValueGraph:
        """Read ``graph.json``, or the one inside a ``value_graph`` run dir.

        Raises:
            AlignrunError: a missing or malformed file (one line naming it).
        """
        file = Path(path).expanduser()
        if file.is_dir():
            file = file / "graph.json"
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise AlignrunError(
                f"no value graph at {file} (give a value_graph run dir or its graph.json)"
            ) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise AlignrunError(f"value graph {file} cannot be read: {exc}") from None
        return cls.from_dict(data, where=str(file))
