"""``data=``: how much of each value's data a run uses, and where it comes from.

Values carry their own data (``preference_data``, ``eval_prompts``); the ``data`` config
caps it and may swap a value's preference data for another source. The core loop calls
:meth:`DataSpec.prepare` once, so every method sees the same ``run.data``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alignrun.data.shortcuts import shortcut_warnings
from alignrun.errors import AlignrunError
from alignrun.settings import check_fields, ranged

if TYPE_CHECKING:
    from alignrun.contracts import Value

PAIR_COLUMNS = ("prompt", "chosen", "rejected")  # a preference pair's columns, as every loader returns them
FEW_PAIRS = 8  # fewer than one default batch: said in the log and the report, the run goes on
log = logging.getLogger("alignrun")


def _plain(source: Any) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(source, resolve=True) if OmegaConf.is_config(source) else source


def _materialise(source: Any, own_file: str = "preference_pairs") -> Any:
    """A source as given, or built from its config node (``{path: ...}``: the loader ``own_file``)."""
    source = _plain(source)
    if isinstance(source, dict) and "_target_" in source:
        from alignrun.instantiate import build

        return build(source, _convert_="all")
    if isinstance(source, dict) and "path" in source:  # +data.sources.<value>.path=my.jsonl: your own file
        from alignrun.data import loaders, prompt_sets

        load = loaders.preference_pairs if own_file == "preference_pairs" else prompt_sets.prompt_file
        return load(**source)
    return source


def _prompt_rows(name: str, rows: Any) -> tuple[list[str], list[str | None]]:
    """An eval source's rows (strings, or ``{"prompt", "group"}`` mappings) as prompts and groups."""
    if isinstance(rows, str) or (not isinstance(rows, Sequence) and not hasattr(rows, "__iter__")):
        raise AlignrunError(
            f"data.eval_sources.{name} must give a list of prompts, got {type(rows).__name__}"
        )
    prompts: list[str] = []
    groups: list[str | None] = []
    for row in rows:
        prompt, group = (row, None) if isinstance(row, str) else (None, None)
        if isinstance(row, Mapping):
            prompt, group = row.get("prompt"), row.get("group")
        if not isinstance(prompt, str) or not prompt.strip():
            raise AlignrunError(
                f"data.eval_sources.{name}: every row needs a non-empty prompt, got {row!r:.80}"
            )
        prompts.append(prompt)
        groups.append(None if group is None else str(group))
    if not prompts:
        raise AlignrunError(f"data.eval_sources.{name} gave no prompts")
    return prompts, groups


@dataclass
class RunData:
    """Per value: training preference pairs (a ``datasets.Dataset``), held-out eval prompts, and
    training prompts (the pairs' prompts, else the derived ones: what on-policy methods and steering
    searches use; never among the eval prompts); ``eval_groups``: for values whose eval prompts came
    from ``data.eval_sources`` with groups (Do-Not-Answer's risk areas), one label per eval prompt —
    the report breaks the value's scores down by them."""

    pairs: dict[str, Any] = field(default_factory=dict)
    eval_prompts: dict[str, list[str]] = field(default_factory=dict)
    train_prompts: dict[str, list[str]] = field(default_factory=dict)
    eval_groups: dict[str, list[str | None]] = field(default_factory=dict)


@dataclass
class DataSpec:
    """The ``data:`` config node.

    Args:
        max_pairs: cap on training pairs per value (None: all). Subsampled with ``seed``.
        max_eval_prompts: cap on eval prompts per value (None: all); smaller evaluates faster.
        sources: value name -> a preference-pair ``Dataset`` replacing that value's own, the
            config node (``_target_``) that loads it, or ``{path: ..., [prompt_column: ...]}`` for
            your own file (:func:`alignrun.data.loaders.preference_pairs`); nodes are instantiated
            only for values in the run, so ``data=pku_saferlhf values=[harmless]`` never loads the
            helpful split.
        eval_sources: value -> where its eval prompts come from instead of its own: a config node
            (``_target_``) giving prompts or rows ``{"prompt", "group"}`` (e.g.
            :func:`alignrun.data.prompt_sets.do_not_answer`, ``data=do_not_answer``), or ``{path: ...,
            [prompt_column: ..., group_column: ...]}`` for your own file
            (:func:`alignrun.data.prompt_sets.prompt_file`).
        seed: the subsampling seed.
    """

    max_pairs: int | None = ranged(None, ge=1)
    max_eval_prompts: int | None = ranged(None, ge=1)  # 0 would report no scores at all
    sources: Mapping[str, Any] = field(default_factory=dict)
    eval_sources: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0

    def __post_init__(self) -> None:
        check_fields(self, "data")
        from alignrun.data import loaders, prompt_sets
        from alignrun.settings import check_call

        for kind, sources, load in (
            ("sources", self.sources, loaders.preference_pairs),
            ("eval_sources", self.eval_sources, prompt_sets.prompt_file),
        ):
            for name, source in sources.items():  # your own file's keys, checked before anything loads
                node = _plain(source)
                if isinstance(node, dict) and "_target_" not in node:
                    if "path" not in node:
                        raise AlignrunError(
                            f"data.{kind}.{name} needs path=<your file> (or a _target_ that loads it); "
                            f"got keys {', '.join(map(str, node)) or 'none'}"
                        )
                    check_call(load, node, f"data.{kind}.{name}")

    def prepare(self, values: Mapping[str, Value]) -> RunData:
        """Apply sources and caps to every value's data.

        Raises:
            AlignrunError: pairs lack a required column or are empty.
        """
        unused = sorted((set(self.sources) | set(self.eval_sources)) - set(values))
        if unused:
            log.info("data sources for %s not loaded: not among this run's values", ", ".join(unused))
        data = RunData()
        for name, value in values.items():
            pairs = _materialise(self.sources[name]) if name in self.sources else value.preference_data
            if pairs is not None:
                missing = [c for c in PAIR_COLUMNS if c not in pairs.column_names]
                if missing:
                    raise AlignrunError(
                        f"preference data of value '{name}' lacks column(s) {', '.join(missing)} "
                        "(expected one row per pair: prompt, chosen, rejected)"
                    )
                if len(pairs) == 0:
                    raise AlignrunError(f"preference data of value '{name}' is empty")
                data.pairs[name] = self.cap(name, pairs)
                if name in self.sources:  # your own file: say which shortcut predicts its labels
                    for line in shortcut_warnings(
                        list(data.pairs[name]), f"preference data of value '{name}'"
                    ):
                        log.warning("%s", line)
                if len(data.pairs[name]) < FEW_PAIRS:
                    log.warning(
                        "value '%s' has only %d preference pair(s): training repeats them every step "
                        "and the adapter learns those few answers, not the value",
                        name,
                        len(data.pairs[name]),
                    )
            if name in self.eval_sources:
                prompts, groups = _prompt_rows(name, _materialise(self.eval_sources[name], "prompt_file"))
            else:
                prompts, groups = list(value.eval_prompts or []), []
            if self.max_eval_prompts is not None and len(prompts) > self.max_eval_prompts:
                keep = sorted(
                    self.rng(name, "eval_prompts").sample(range(len(prompts)), self.max_eval_prompts)
                )
                prompts, groups = [prompts[i] for i in keep], [groups[i] for i in keep] if groups else []
            data.eval_prompts[name] = prompts
            if any(g is not None for g in groups):
                data.eval_groups[name] = groups
        return data

    def cap(self, name: str, pairs: Any) -> Any:
        """``pairs`` of value ``name`` cut to ``max_pairs`` (a seeded subset, kept in order)."""
        if self.max_pairs is not None and len(pairs) > self.max_pairs:
            keep = self.rng(name, "pairs").sample(range(len(pairs)), self.max_pairs)
            pairs = pairs.select(sorted(keep))
        return pairs

    def rng(self, value: str, what: str) -> random.Random:
        """One generator per (seed, value, what): a value's held-out prompts are the same whatever
        ``max_pairs`` is and whichever other values the run has, so capped runs stay comparable."""
        return random.Random(f"alignrun-data-{self.seed}-{value}-{what}")
