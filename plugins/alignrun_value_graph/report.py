"""``value_graph.md``: the learnt graph, its comparison with the reference, and side-effect prediction."""

from __future__ import annotations

from typing import Any

from alignrun.lib.graphs.model import ValueGraph

ARROWS = {"directed": "→", "undirected": "—", "bidirected": "↔"}


def fmt(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "–"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def edge_table(graph: ValueGraph) -> list[str]:
    if not graph.edges:
        return ["No edges: every pair of values tested independent given some set of others.", ""]
    lines = ["| edge | relation |", "|---|---|"]
    for e in graph.edges:
        sign = "positive" if e.sign > 0 else "negative" if e.sign < 0 else "?"
        lines.append(f"| {e.source} {ARROWS[e.kind]} {e.target} | {sign} |")
    return [*lines, ""]


def settings_table(settings: dict[str, dict[str, Any]]) -> list[str]:
    """What each steering setting did (``describe_intervention``'s records); SAE ones with their replay."""
    lines = ["## Settings", "", "| setting | what it does |", "|---|---|"]
    for name, info in settings.items():
        if "feature" in info:
            what = (
                f"SAE feature {info['feature']} added at layer {info['layer']} × {info['coeff']:.4g} "
                f"({info['positions']} positions); replay: `steering=sae_feature steering.sae=<this run>/sae "
                f"steering.feature={info['feature']} steering.coeff={info['coeff']:.6g}`"
            )
        elif "text" in info:
            what = f'system text "{info["text"]}"'
        else:
            what = "no steering" if name == "none" else info.get("name", name)
        lines.append(f"| {name} | {what} |")
    return [*lines, ""]


def render(
    graph: ValueGraph,
    reference: ValueGraph,
    comparison: dict[str, float],
    effects: dict[str, Any],
    mode: str,
    settings: dict[str, dict[str, Any]] | None = None,
) -> str:
    meta = graph.meta
    lines = [
        "# Value graph",
        "",
        f"PC (Fisher-z, alpha {meta['alpha']}, conditioning sets up to {meta['max_depth']}) over "
        f"{meta['n_samples']} samples ({meta['roles']} training roles × {len(meta['settings'])} settings), "
        f"`{mode}` value profiles. → directed, — orientation undetermined, ↔ conflicting orientations.",
        "",
        f"## Learnt graph ({len(graph.edges)} edges)",
        "",
        *edge_table(graph),
    ]
    if meta.get("constant"):
        lines += [f"Never varied (left unconnected): {', '.join(meta['constant'])}.", ""]
    if comparison:
        lines += [
            f"## Against the Schwartz reference ({len(reference.edges)} edges)",
            "",
            "Skeletons compared (the reference is undirected). Chance precision = the reference's share "
            "of all value pairs.",
            "",
            "| precision | recall | F1 | SHD | sign agreement | chance precision |",
            "|---|---|---|---|---|---|",
            "| "
            + " | ".join(
                [
                    *(fmt(comparison.get(k)) for k in ("precision", "recall", "f1")),
                    f"{comparison['shd']:.0f}",
                    *(fmt(comparison.get(k)) for k in ("sign_agreement", "chance_precision")),
                ]
            )
            + " |",
            "",
        ]
    table = effects["table"]
    if table:
        lines += [
            "## Side effects on held-out roles",
            "",
            f"A value co-changes in a role when |shift| > {effects['threshold']:.3g} (the placebo prompt's "
            "noise floor unless set). Expected: the learnt graph's possible descendants of the target / "
            "the reference's neighbours; unexpected: the other values.",
            "",
            "| setting | target shift | learnt: expected | learnt: unexpected | reference: expected "
            "| reference: unexpected |",
            "|---|---|---|---|---|---|",
        ]
        for name, row in table.items():
            lines.append(
                f"| {name} | {fmt(row['target_shift'], True)} | {fmt(row['learnt']['expected'])} "
                f"| {fmt(row['learnt']['unexpected'])} | {fmt(row['reference']['expected'])} "
                f"| {fmt(row['reference']['unexpected'])} |"
            )
        lines.append("")
    if settings:
        lines += settings_table(settings)
    return "\n".join(lines)
