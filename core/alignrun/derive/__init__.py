"""Derived materials: what a method needs and a value lacks, built from the value's definition.

Every value alignrun knows — bundled, Schwartz's, loaded, a plugin's YAML — can be used by every
method; what it lacks is derived here, once per run, and recorded in ``results.json`` ``derived``:

- **eval prompts** (none given): held-out prompts from its ``prompts`` or the bundled scenarios
  (:mod:`alignrun.derive.prompts`); the rest are its *training prompts*, never evaluated on;
- **a scorer** (none given): the behavioural embedding classifier over its exemplars
  (:mod:`alignrun.derive.scorer`), on one half of them;
- **a judge** for derived pairs: the other half of the exemplars, the value's own scorer, or
  ``derive.judge``; results say which judge trained and which evaluated, and flag a circular
  verdict (the same judge both times);
- **preference pairs** (when the method trains on pairs, ``derive.pairs=auto``, or for every value,
  ``always``): on-policy from the run's model (:mod:`alignrun.derive.pairs`), cached per (model,
  value, seed, settings) in ``<cache>/derived/`` (:mod:`alignrun.derive.store`).

Steering material needs no step of its own: SAE feature discovery and prompt search read a value's
pairs (chosen vs rejected) beside its exemplars and questionnaire.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from alignrun.contracts import Scorer, Value
from alignrun.derive.prompts import split_prompts
from alignrun.derive.scorer import ExemplarScorer, describe_scorer, split_exemplars
from alignrun.errors import AlignrunError
from alignrun.profile import spread
from alignrun.schema import DeriveSchema
from alignrun.settings import check_ranges

if TYPE_CHECKING:
    from alignrun.data import DataSpec, RunData
    from alignrun.lm import LM

PAIR_MODES = ("auto", "always", "never")
EXEMPLAR_PROMPT = "Tell me about something you did recently."  # as alignrun.lib.sae.features
log = logging.getLogger("alignrun")


@dataclass
class DeriveConfig(DeriveSchema):
    """The ``derive:`` config node (fields and ranges in :class:`alignrun.schema.DeriveSchema`;
    defaults, each knob commented, in ``conf/alignrun.yaml``), checked."""

    def __post_init__(self) -> None:
        if self.pairs not in PAIR_MODES:
            raise AlignrunError(f"derive.pairs must be one of {', '.join(PAIR_MODES)}, got '{self.pairs}'")
        check_ranges(self, "derive")  # its types: Hydra checks them (alignrun.schema)

    def settings(self) -> dict[str, Any]:
        """The knobs that change derived pairs (their cache key; the batch size too: padding moves
        sampled tokens). The judge is keyed by its own description."""
        return {k: v for k, v in asdict(self).items() if k not in ("pairs", "judge")}


class Derivation:
    """Derives one run's missing materials and keeps the record of what it did.

    Args:
        cfg: the ``derive:`` settings.
        seed: the run's seed (prompt splits, sampling).
    """

    def __init__(self, cfg: DeriveConfig, seed: int) -> None:
        self.cfg = cfg
        self.seed = seed
        self.record: dict[str, dict[str, Any]] = {}
        self.judges: dict[str, Scorer] = {}
        self.train_prompts: dict[str, list[str]] = {}
        self._named_judge: Scorer | None = None

    def prepare(self, values: Mapping[str, Value]) -> dict[str, Value]:
        """Eval prompts, scorers and judges (no model needed): the values completed (copies; the
        given ones are left as they are), the trainer judges in :attr:`judges`."""
        if self.cfg.judge is not None:
            from alignrun.instantiate import build

            self._named_judge = build(self.cfg.judge, _convert_="all")
            if not isinstance(self._named_judge, Scorer):
                raise AlignrunError(
                    "derive.judge must build a scorer (an object with score(prompts, responses))"
                )
        completed: dict[str, Value] = {}
        for name, given in values.items():
            value = dataclasses.replace(given)
            completed[name] = value
            rec: dict[str, Any] = {}
            had_eval = bool(value.eval_prompts)
            train, held = split_prompts(value, self.seed, self.cfg.eval_prompts)
            if not had_eval:
                value.eval_prompts = held
                source = (
                    "prompts" if value.prompts
                    else "pair prompts" if value.preference_data is not None
                    else "bundled scenarios"
                )  # fmt: skip
                rec["eval_prompts"] = {"derived": True, "n": len(held), "from": source}
            self.train_prompts[name] = spread(train, self.cfg.prompts)  # evenly over the pool's topics
            judge = self._named_judge
            if value.scorer is None:
                items = [q["question"] for q in value.questionnaire or [] if q.get("polarity", 1) > 0]
                texts = value.exemplars or items or [value.description or name]
                judge_half, eval_half = (
                    split_exemplars(texts) if self.cfg.split_exemplars else (list(texts), list(texts))
                )
                value.scorer = ExemplarScorer(name, eval_half, role="evaluator")
                source = "exemplars" if value.exemplars else "questionnaire items" if items else "description"
                rec["scorer"] = {"derived": True, "from": source}
                judge = judge or ExemplarScorer(name, judge_half, role="judge")
            self.judges[name] = judge or value.scorer
            self.record[name] = rec
        log.debug("derived eval prompts/scorers: %s", {k: sorted(v) for k, v in self.record.items()})
        return completed

    def pairs(self, lm: LM, values: Mapping[str, Value], data: RunData, spec: DataSpec, needed: bool) -> None:
        """On-policy pairs for the values that need them (``derive.pairs``), into ``data.pairs``."""
        from datasets import Dataset

        from alignrun.derive.pairs import derive_pairs, judge_agreement
        from alignrun.derive.store import cached

        for name, value in values.items():
            mode = self.cfg.pairs
            if not (mode == "always" or (mode == "auto" and needed and name not in data.pairs)):
                continue
            judge, prompts = self.judges[name], self.train_prompts[name]
            inputs = {
                "model": lm.name,
                "value": {"name": name, "description": value.description, "exemplars": value.exemplars},
                "prompts": prompts,
                "judge": describe_scorer(judge),
                "seed": self.seed,
                "settings": self.cfg.settings(),
            }

            def build(
                value: Value = value, judge: Scorer = judge, prompts: list[str] = prompts
            ) -> dict[str, Any]:
                log.info("deriving preference pairs for '%s' from %d prompts", value.name, len(prompts))
                start = time.perf_counter()
                entry = derive_pairs(
                    lm, value, prompts, judge, samples=self.cfg.samples, temperature=self.cfg.temperature,
                    max_new_tokens=self.cfg.max_new_tokens, margin=self.cfg.margin,
                    batch_size=self.cfg.batch_size, seed=stable_seed(self.seed, value.name),
                )  # fmt: skip
                entry["stats"]["seconds"] = time.perf_counter() - start
                return entry

            entry, path, hit = cached("pairs", name, inputs, build)
            labelled, on = self.agreement_pairs(value)  # not cached: it reads no model
            agreement = judge_agreement(judge, labelled)
            rows = entry["rows"]
            if not rows:
                raise AlignrunError(
                    f"no derived preference pairs for value '{name}': no prompt's answers differed by the "
                    f"judge's margin {self.cfg.margin} (lower derive.margin, raise derive.samples or "
                    "derive.temperature, or give the value preference_data)"
                )
            replaced = name in data.pairs
            cols = ("prompt", "chosen", "rejected")
            data.pairs[name] = spec.cap(name, Dataset.from_list([{c: r[c] for c in cols} for r in rows]))
            self.record[name]["pairs"] = {
                "derived": True, "replaced_own": replaced, "model": lm.name, "cache": str(path),
                "cache_hit": hit, "used": len(data.pairs[name]), **entry["stats"],
                "judge_agreement": {**agreement, "on": on} if agreement else None,
            }  # fmt: skip
        for name in values:
            if name in data.pairs:
                self.train_prompts[name] = list(dict.fromkeys(str(r["prompt"]) for r in data.pairs[name]))

    def agreement_pairs(self, value: Value) -> tuple[Any, str | None]:
        """Labelled pairs no judge saw: the value's ``heldout_pairs``, else each of its evaluator-half
        exemplars against each counter-exemplar (a judge on the other half never saw either)."""
        if value.heldout_pairs is not None:
            return value.heldout_pairs, "heldout_pairs"
        if value.counter_exemplars and value.exemplars and self.cfg.split_exemplars:
            _, held = split_exemplars(value.exemplars)
            if held != list(value.exemplars):
                rows = [  # every held-out exemplar against every counter-exemplar
                    {"prompt": EXEMPLAR_PROMPT, "chosen": e, "rejected": c}
                    for e in held
                    for c in value.counter_exemplars
                ]
                return rows, "held-out exemplars vs counter-exemplars"
        return None, None


def stable_seed(seed: int, name: str) -> int:
    """A per-value seed that does not depend on Python's hash randomisation."""
    return int(hashlib.sha256(f"{seed}-{name}".encode()).hexdigest()[:8], 16)
