"""``steering.md``: a steering study's search, held-out target shift, side effects and co-change rates."""

from __future__ import annotations

from typing import Any


def _f(x: float | None, signed: bool = True) -> str:
    return "–" if x is None else (f"{x:+.3f}" if signed else f"{x:.3f}")


def render(result: dict[str, Any], names: list[str]) -> str:
    target, shift = result["target"], result["target_shift"]
    low, high = shift["ci95"]
    up = result["direction"] == "up"
    moved = sum((s > 0) == up and s != 0 for s in shift["per_role"])
    chosen = f"`{result['chosen']}`"
    fluency = result["fluency"]["search"]
    held = result["fluency"]["held_out"]
    lines = [
        f"# Steering {target} {result['direction']}",
        "",
        f"Profiles: `{result['mode']}`. Chosen on training roles: {chosen}",
        "",
        *([f"> {result['chosen_text']}", ""] if result.get("chosen_text") else []),
        *result.get("notes", []),
        "## Search (training roles)",
        "",
        "Mean target shift in the asked direction, per candidate, against no steering; fluency of its "
        f"answers (distinct-2 × length; chosen only at ≥ {result['fluency']['min']:.0%} of no steering's "
        f"{_f(fluency.get('none'), False)}).",
        "",
        "| candidate | shift | fluency |",
        "|---|---|---|",
        *(
            f"| {k} | {_f(v)} | {_f(fluency.get(k), False)} |"
            for k, v in sorted(result["search"].items(), key=lambda kv: -kv[1])
        ),
        "",
        f"## Held-out roles ({result['roles']})",
        "",
        f"Target shift: **{_f(shift['mean'])}** (95% t-interval {_f(low)} to {_f(high)}); moved the "
        f"asked way in {moved} of {result['roles']} roles. Control ({result['control_label']}: "
        f"{', '.join(result['controls'])}): {_f(result['control_target_shift'])}.",
        "",
    ]
    if "chosen" in held and "none" in held:
        lines += [
            f"Held-out fluency: {_f(held['chosen'], False)} (no steering {_f(held['none'], False)}).",
            "",
        ]
    if result["comparisons"]:
        compared = ", ".join(f"{k} {_f(v)}" for k, v in result["comparisons"].items())
        lines += [f"Compared on the same roles (target shift): {compared}.", ""]
    lines += [
        f"Side effects. A value co-changes in a role when |shift| > {result['threshold']:.3g} (twice "
        "the controls' RMS shift unless set). Graph: the target's possible descendants in the value graph "
        f"({result['graph']}); reference: its neighbours in the Schwartz circumplex.",
        "",
        "| value | shift | control | co-changed in | graph expects | reference expects |",
        "|---|---|---|---|---|---|",
    ]
    for v in names:
        row = result["side_effects"][v]
        label = f"**{v}** (target)" if v == target else v
        lines.append(
            f"| {label} | {_f(row['shift'])} | {_f(row['control'])} | {row['changed']:.0%} | "
            f"{'yes' if row['graph_expected'] else ''} | {'yes' if row['reference_expected'] else ''} |"
        )
    lines += ["", "| graph | expected co-change | unexpected co-change |", "|---|---|---|"]
    for which, rates in result["cochange"].items():
        lines.append(
            f"| {which} | {_f(rates['expected'], False)} ({rates['n_expected']}) "
            f"| {_f(rates['unexpected'], False)} ({rates['n_unexpected']}) |"
        )
    lines += ["", "(n): (role, value) pairs in that group.", ""]
    return "\n".join(lines)
