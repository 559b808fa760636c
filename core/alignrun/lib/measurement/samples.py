"""Value-profile samples: one profile per (role, steering setting), the data value graphs learn from.

Each steering setting is an ``Intervention`` entered as a context (a prompt now, SAE features
later); inside it, every role's profile is measured in shared batches (roles ride along as
per-prompt system texts, see ``LM.chat``), so the cost is set by the number of answers, not
the number of roles.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from alignrun.atomic import atomic_write_text, write_jsonl
from alignrun.errors import AlignrunError

if TYPE_CHECKING:
    import numpy as np

    from alignrun.contracts import Intervention
    from alignrun.lib.roles import Role
    from alignrun.lm import LM
    from alignrun.profile import ValueProfiler

KEYS = ("setting", "role", "split")


def collect(
    profiler: ValueProfiler,
    lm: LM,
    roles: Mapping[str, Sequence[Role]],
    settings: Mapping[str, Intervention],
    progress: bool = True,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Profile ``lm`` under every setting × role.

    Args:
        profiler: measures one profile per role.
        lm: the model (any steering of the run already applied).
        roles: split name (``train``, ``held_out``) -> roles.
        settings: setting name -> intervention (``none`` is a real no-op).
        progress: a tqdm bar over settings.

    Returns:
        ``rows`` — ``{"setting", "role", "split", <value>: score, ...}`` per sample — and
        ``details``, what the model said per sample (answers or item probabilities).
    """
    people = [(split, role) for split, group in roles.items() for role in group]
    rows: list[dict[str, Any]] = []
    details: list[dict[str, Any]] = []
    for name, intervention in tqdm(settings.items(), desc="profiles", disable=not progress):
        with intervention.apply(lm) as steered:
            results = profiler.measure_many(steered, [role.text for _, role in people])
        for (split, role), result in zip(people, results, strict=True):
            key = {"setting": name, "role": role.id, "split": split}
            rows.append({**key, **result.scores})
            details.append({**key, "role_text": role.text, "details": result.details})
    return rows, details


def write(
    out_dir: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]], details: Sequence[dict[str, Any]]
) -> dict[str, str]:
    """``samples.csv`` (one row per sample, one column per value) and ``sample_answers.jsonl`` (answers;
    ``samples.jsonl`` is the final evaluation's, written by the loop)."""
    values = [k for k in rows[0] if k not in KEYS] if rows else []
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[*KEYS, *values], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{row[k]:.6f}" if k in values else row[k]) for k in (*KEYS, *values)})
    atomic_write_text(Path(out_dir) / "samples.csv", buf.getvalue())
    write_jsonl(Path(out_dir) / "sample_answers.jsonl", details)
    return {"samples": "samples.csv", "sample_answers": "sample_answers.jsonl"}


def matrix(rows: Sequence[Mapping[str, Any]], values: Sequence[str], split: str | None = None) -> np.ndarray:
    """``[n_samples, n_values]`` scores of the rows in ``split`` (all rows when None)."""
    import numpy as np

    return np.array([[float(r[v]) for v in values] for r in rows if split is None or r["split"] == split])


def shifts(
    rows: Sequence[Mapping[str, Any]],
    setting: str,
    values: Sequence[str],
    baseline: str = "none",
    split: str | None = None,
) -> list[dict[str, float]]:
    """Per role of ``split``: ``{value: score under setting - score under baseline}``.

    Raises:
        AlignrunError: a role measured under one of the two settings but not the other.
    """

    def by_role(name: str) -> dict[str, Mapping[str, Any]]:
        return {r["role"]: r for r in rows if r["setting"] == name and (split is None or r["split"] == split)}

    steered, base = by_role(setting), by_role(baseline)
    if steered.keys() != base.keys():
        raise AlignrunError(f"settings '{setting}' and '{baseline}' were measured on different roles")
    return [{v: float(steered[r][v]) - float(base[r][v]) for v in values} for r in steered]
