"""Write a value graph as JSON, Graphviz DOT and a PNG (values on a circle, in circumplex order)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from alignrun.atomic import atomic_write_text
from alignrun.lib.graphs.model import ValueGraph

_COLOURS = {1: "#2a7d2a", -1: "#c0392b", 0: "#555555"}  # positive green, negative red, unknown grey


def to_dot(graph: ValueGraph, name: str = "value_graph") -> str:
    """A DOT digraph: ``a -> b`` for directed edges, ``dir=none`` undirected, ``dir=both`` bidirected."""
    lines = [f"digraph {name} {{", "  layout=circo;", "  node [shape=box, style=rounded];"]
    lines += [f'  "{n}";' for n in graph.nodes]
    for e in graph.edges:
        attrs = [f'color="{_COLOURS[e.sign]}"', f'label="{"+" if e.sign > 0 else "-" if e.sign < 0 else ""}"']
        if e.kind != "directed":
            attrs.append("dir=none" if e.kind == "undirected" else "dir=both")
        lines.append(f'  "{e.source}" -> "{e.target}" [{", ".join(attrs)}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_graph(graph: ValueGraph, out_dir: str | os.PathLike[str], stem: str = "graph") -> dict[str, str]:
    """``<stem>.json`` and ``<stem>.dot`` in ``out_dir``; returns artefact name -> file name."""
    out = Path(out_dir)
    atomic_write_text(out / f"{stem}.json", json.dumps(graph.to_dict(), indent=2) + "\n")
    atomic_write_text(out / f"{stem}.dot", to_dot(graph))
    return {f"{stem}_json": f"{stem}.json", f"{stem}_dot": f"{stem}.dot"}


def plot_graph(
    graph: ValueGraph, path: str | os.PathLike[str], reference: ValueGraph | None = None, title: str = ""
) -> None:
    """Draw ``graph`` with its nodes on a circle; ``reference`` edges as faint dashed lines beneath.

    Green: positive relation, red: negative; arrows for directed edges, plain lines undirected.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from alignrun.plots import save_figure

    n = len(graph.nodes)
    pos = {
        v: (math.cos(math.pi / 2 - 2 * math.pi * i / n), math.sin(math.pi / 2 - 2 * math.pi * i / n))
        for i, v in enumerate(graph.nodes)
    }
    fig, ax = plt.subplots(figsize=(7, 7))
    if reference is not None:
        for e in reference.edges:
            if e.source in pos and e.target in pos:
                (x0, y0), (x1, y1) = pos[e.source], pos[e.target]
                ax.plot([x0, x1], [y0, y1], ls="--", lw=1.0, color=_COLOURS[e.sign], alpha=0.25, zorder=1)
    for e in graph.edges:
        style = {"directed": "-|>", "bidirected": "<|-|>", "undirected": "-"}[e.kind]
        ax.annotate(
            "",
            xy=pos[e.target],
            xytext=pos[e.source],
            arrowprops={
                "arrowstyle": style,
                "color": _COLOURS[e.sign],
                "lw": 2.0,
                "shrinkA": 22,
                "shrinkB": 24,
            },
            zorder=2,
        )
    for v, (x, y) in pos.items():
        ax.text(x, y, v.replace("_", "-"), ha="center", va="center", fontsize=9, zorder=3,
                bbox={"boxstyle": "round", "fc": "white", "ec": "0.4"})  # fmt: skip
    handles = [
        Line2D([], [], color=_COLOURS[1], lw=2, label="positive"),
        Line2D([], [], color=_COLOURS[-1], lw=2, label="negative"),
    ]
    if reference is not None:
        handles.append(Line2D([], [], color="0.5", ls="--", alpha=0.5, label="reference edge"))
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    ax.set_xlim(-1.35, 1.35)
    ax.set_ylim(-1.35, 1.35)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or f"{len(graph.edges)} edges", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
