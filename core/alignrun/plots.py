"""Plots of a run's candidate models: every candidate, the Pareto front, and other runs to compare.

matplotlib is imported inside the functions: ``alignrun --help`` and plugin discovery import
this package and must stay light.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

from alignrun.atomic import atomic_write_bytes
from alignrun.errors import AlignrunError

AXIS_LABEL = "{} score (higher = more aligned)"
# baselines get a marker and a colour each; the run's own front keeps C0, so they start at C1
_MARKERS = ("s", "^", "D", "v", "P", "X", "*", "<", ">", "h")


def load_baselines(paths: Sequence[str | os.PathLike[str]]) -> dict[str, list[dict[str, float]]]:
    """Read other runs' ``results.json`` files as points to overlay on ``pareto.png``.

    Args:
        paths: ``results.json`` files; relative ones are resolved against the current working
            directory (the CLI keeps it: Hydra's ``job.chdir`` is false).

    Returns:
        label -> score dicts ({value: score}). The label is the run's method and its run dir's
        name (``"dpo (12-30-01)"``); the points are every candidate's scores when the run has
        candidates, else its final ``scores``.

    Raises:
        AlignrunError: a file that is missing, unreadable or not an alignrun ``results.json``
            (one line naming the path).
    """
    baselines: dict[str, list[dict[str, float]]] = {}
    for raw in paths:
        path = Path(raw).expanduser()
        path = path if path.is_absolute() else Path.cwd() / path
        label, points = _read_baseline(path)
        unique, n = label, 2
        while unique in baselines:  # two runs with the same method and dir name must both show
            unique, n = f"{label} #{n}", n + 1
        baselines[unique] = points
    return baselines


def _read_baseline(path: Path) -> tuple[str, list[dict[str, float]]]:
    where = f"results.baselines: {path}"
    if path.is_dir():
        raise AlignrunError(f"{where} is a directory; give the results.json inside it")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AlignrunError(f"{where} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AlignrunError(f"{where} cannot be read ({exc.__class__.__name__}: {exc})") from None
    except json.JSONDecodeError as exc:
        raise AlignrunError(f"{where} is not JSON ({exc})") from None
    if not isinstance(results, dict) or not isinstance(results.get("scores"), dict):
        raise AlignrunError(f'{where} is not an alignrun results.json (no "scores" object)')
    candidates = results.get("candidates") or []
    if not isinstance(candidates, list):
        raise AlignrunError(f'{where} has a "candidates" entry that is not a list')
    try:
        if candidates:
            points = [_score_dict(c["scores"]) for c in candidates]
        else:
            points = [_score_dict(results["scores"])]
    except (TypeError, KeyError, ValueError) as exc:
        raise AlignrunError(f"{where} has malformed scores ({exc})") from None
    return f"{results.get('method', '?')} ({path.parent.name})", points


def _score_dict(scores: Any) -> dict[str, float]:
    if not isinstance(scores, dict):
        raise TypeError(f"expected {{value: score}}, got {type(scores).__name__}")
    out = {}
    for value, score in scores.items():
        # bool is an int subclass; a true/false here is a corrupted file, not a score of 1/0
        if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
            raise ValueError(f"score of {value!r} is {score!r}")
        out[str(value)] = float(score)
    return out


def plot_pareto(
    values: Sequence[str],
    candidates: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    baselines: Mapping[str, Sequence[Mapping[str, float]]] | None = None,
) -> None:
    """Scatter every candidate's scores, highlight the Pareto front, overlay baselines; write a PNG.

    Two values give one panel (x: first value, y: second) with the front joined by a step line,
    the boundary of the region the front dominates. More values give one panel per pair of
    values in an upper-triangle grid; the highlighted points are the front over *all* values,
    so a front point can look dominated in a single pair's projection.

    Args:
        values: the run's value names, in ``results.json`` order.
        candidates: ``results.json`` ``"candidates"`` entries (``scores`` and ``pareto`` are read).
        path: the PNG to write (atomically: readers never see half an image).
        baselines: label -> score dicts of other runs (see :func:`load_baselines`); a point
            missing one of a panel's two values is left out of that panel.

    Raises:
        ValueError: fewer than two values.
    """
    if len(values) < 2:
        raise ValueError(f"a Pareto plot needs at least two values, got {list(values)}")
    import matplotlib

    matplotlib.use("Agg")  # no display on clusters; must come before pyplot
    import matplotlib.pyplot as plt

    baselines = baselines or {}
    pairs = list(combinations(range(len(values)), 2))
    if len(values) == 2:
        fig, ax = plt.subplots(figsize=(5.5, 4.5))
        panels = {pairs[0]: ax}
    else:
        n = len(values) - 1  # rows: first value 0..n-1, columns: second value 1..n
        fig, grid = plt.subplots(n, n, figsize=(3.6 * n, 3.3 * n), squeeze=False)
        panels = {(i, j): grid[i][j - 1] for i, j in pairs}
        for i in range(n):
            for j in range(i):
                grid[i][j].set_visible(False)  # the lower triangle repeats the upper one

    front_style = {"s": 55, "color": "C0", "edgecolors": "black", "linewidths": 0.6}
    for (i, j), ax in panels.items():
        xv, yv = values[i], values[j]
        _scatter(ax, [c["scores"] for c in candidates], xv, yv, s=18, color="0.65", label="candidate")
        front = [c["scores"] for c in candidates if c.get("pareto")]
        _scatter(ax, front, xv, yv, label="Pareto front", **front_style)
        if len(values) == 2 and front:
            xs, ys = zip(*sorted((p[xv], p[yv]) for p in front), strict=True)
            # x ascending on a maximised 2-D front means y descending; "pre" draws the staircase
            # that bounds the dominated region rather than cutting its corners
            ax.step(xs, ys, where="pre", color="C0", linewidth=1.2, zorder=2)
        for k, (label, points) in enumerate(baselines.items()):
            # hollow markers: a baseline point on top of a candidate must not hide it
            _scatter(
                ax,
                points,
                xv,
                yv,
                s=60,
                marker=_MARKERS[k % len(_MARKERS)],
                facecolors="none",
                edgecolors=f"C{k % 9 + 1}",
                linewidths=1.4,
                label=label,
            )
        ax.set_xlabel(AXIS_LABEL.format(xv), fontsize=8)
        ax.set_ylabel(AXIS_LABEL.format(yv), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)

    handles, labels = next(iter(panels.values())).get_legend_handles_labels()
    if len(values) == 2:
        panels[pairs[0]].legend(fontsize=7, loc="best")
    else:  # one legend for the grid, in the empty lower-left corner
        fig.legend(handles, labels, fontsize=8, loc="lower left", bbox_to_anchor=(0.02, 0.02))
    n_front = sum(bool(c.get("pareto")) for c in candidates)
    fig.suptitle(f"{len(candidates)} candidates, {n_front} on the front")
    fig.tight_layout()
    save_figure(fig, path)


def _scatter(ax: Any, points: Sequence[Mapping[str, float]], xv: str, yv: str, **kwargs: Any) -> None:
    pts = [(p[xv], p[yv]) for p in points if xv in p and yv in p]
    if pts:
        xs, ys = zip(*pts, strict=True)
        ax.scatter(xs, ys, zorder=3, **kwargs)
    else:  # keep the legend entry: an empty front or a baseline of other values is worth seeing
        ax.scatter([], [], **kwargs)


def save_figure(fig: Any, path: str | os.PathLike[str]) -> None:
    """Render ``fig`` as PNG in memory, write it atomically, and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=120)
    finally:
        plt.close(fig)  # pyplot keeps figures alive until closed; sweeps draw many
    atomic_write_bytes(path, buf.getvalue())
