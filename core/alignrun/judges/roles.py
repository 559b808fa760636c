"""The two judge roles of a run, kept apart: the *trainer* judge and the *evaluator* judge.

- the **evaluator** scores every reported number (``values.<v>.scorer``, or ``judge.evaluator`` for
  every value);
- the **trainer** judges training material: derived pairs, an RLHF reward, a steering search
  (``run.judges``).

With ``judge.crossfit`` (the default) a value whose evaluator is fitted on preference pairs that
overlap its training pairs gets the two halves of :mod:`alignrun.judges.crossfit`: the method trains
on one half, the evaluator is fitted on the other, and the trainer judge is the evaluator's kind
refitted on the training half. ``results.json`` ``verdicts`` records which judge trained, which
evaluated, the split, and whether the verdict is circular.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alignrun.errors import AlignrunError
from alignrun.judges.crossfit import overlap, rows_of, split_pairs
from alignrun.schema import JudgeSchema
from alignrun.settings import check_ranges

if TYPE_CHECKING:
    from alignrun.contracts import Scorer, Value

log = logging.getLogger("alignrun")


@dataclass
class JudgeConfig(JudgeSchema):
    """The ``judge:`` config node (fields and ranges in :class:`alignrun.schema.JudgeSchema`, defaults
    in ``conf/judge/crossfit.yaml``), checked."""

    def __post_init__(self) -> None:
        check_ranges(self, "judge")  # its types: Hydra checks them (alignrun.schema)
        if self.evaluator is not None:
            check_judge_node(self.evaluator)


def fitted_pairs(judge: Any) -> Any:
    """The preference pairs a judge is fitted on (``pairs``; an ensemble's: all its members'), None for
    a judge fitted on none."""
    members = getattr(judge, "members", None)
    if isinstance(members, Mapping):
        rows = [r for m in members.values() for r in rows_of(fitted_pairs(m))]
        return rows or None
    return getattr(judge, "pairs", None)


def check_judge_node(node: Any, where: str = "judge.evaluator") -> None:
    """A judge node is a config node with a ``_target_`` (an ensemble's: and ``members``, each a judge
    node or ``'own'``); checked before the run starts as well as when the judge is built.

    Raises:
        AlignrunError: anything else, said in one line.
    """
    from omegaconf import OmegaConf

    if isinstance(node, Mapping) and not OmegaConf.is_config(node):
        node = OmegaConf.create(dict(node))
    if not OmegaConf.is_dict(node) or ("_target_" not in node and "members" not in node):
        raise AlignrunError(
            f"{where}: a judge must be a config node with a _target_ (or an ensemble's members), or 'own'; "
            f"got {node!r:.80} (e.g. judge=reward_head, not judge.evaluator=reward_head)"
        )
    if "members" in node:
        if not OmegaConf.is_dict(node["members"]) or "_target_" not in node:
            raise AlignrunError(
                f"{where}: an ensemble judge needs a _target_ and members as a mapping name -> judge"
            )
        for name, member in node["members"].items():
            if member != "own":
                check_judge_node(member, f"{where}.members.{name}")


def build_judge(node: Any, value: Value, pairs: Any) -> Scorer:
    """Build a ``judge.evaluator`` node for ``value``: its target gets ``pairs`` (the judge-fitting
    half), ``value`` (the name) and ``description`` when its signature takes them.

    An ensemble's ``members`` are built the same way, each; the member ``own`` is the value's own
    judge (cross-fitted). Its scale is fixed on the judge-fitting pairs' answers (``reference``), so a
    candidate's scores do not depend on which other answers were scored beside them.
    """
    from hydra.utils import get_object
    from omegaconf import OmegaConf

    from alignrun.contracts import Scorer
    from alignrun.instantiate import build

    if isinstance(node, Mapping) and not OmegaConf.is_config(node):
        node = OmegaConf.create(dict(node))
    if isinstance(node, str) and node == "own":
        if value.scorer is None:
            raise AlignrunError(f"judge member 'own': value '{value.name}' has no scorer of its own")
        return value.scorer
    check_judge_node(node)
    if "members" in node:
        members = {str(k): build_judge(m, value, pairs) for k, m in node["members"].items()}
        rest = {str(k): v for k, v in OmegaConf.to_container(node).items() if k != "members"}  # type: ignore[union-attr]
        rows = rows_of(pairs if pairs is not None else value.heldout_pairs)
        reference = (
            [r["prompt"] for r in rows] * 2,
            [r["chosen"] for r in rows] + [r["rejected"] for r in rows],
        )
        kwargs = {"value": value.name, **({"reference": reference} if rows else {})}
        ensemble = get_object(str(rest.pop("_target_")))(members=members, **rest, **kwargs)
        if not isinstance(ensemble, Scorer):
            raise AlignrunError(f"judge.evaluator's ensemble must build a scorer (value '{value.name}')")
        return ensemble
    target = get_object(str(node["_target_"]))
    params = inspect.signature(target).parameters
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    given = {"pairs": pairs, "value": value.name, "description": value.description}
    kwargs = {k: v for k, v in given.items() if (k in params or takes_all) and k not in node}
    if "pairs" in kwargs and pairs is None:
        raise AlignrunError(
            f"judge.evaluator {node['_target_']} is fitted on preference pairs, and value '{value.name}' "
            "has none (give it preference_data, or choose a judge that needs no pairs)"
        )
    # partial, then called: answer text such as "${x}" must reach the judge as text, not go through
    # OmegaConf as a config value (an interpolation that does not parse)
    make = build(OmegaConf.create(OmegaConf.to_container(node)), _partial_=True, _convert_="all")
    judge = make(**kwargs)
    if not isinstance(judge, Scorer):
        raise AlignrunError(
            f"judge.evaluator must build a scorer with score(prompts, responses) (value '{value.name}')"
        )
    return judge


class Judging:
    """Assigns each value its evaluator and trainer judge before the data caps, and records how.

    Args:
        cfg: the ``judge:`` settings.
        sources: the values whose training pairs come from ``data.sources`` (not their own data).
    """

    def __init__(self, cfg: JudgeConfig, sources: set[str]) -> None:
        self.cfg = cfg
        self.sources = sources
        self.trainers: dict[str, Scorer] = {}
        self.record: dict[str, dict[str, Any]] = {}

    def assign(
        self, values: Mapping[str, Value], judges: Mapping[str, Scorer]
    ) -> tuple[dict[str, Value], dict[str, Scorer]]:
        """Split and refit: the values with ``preference_data`` the training half and ``scorer`` the
        evaluator fitted on the judge half, and the run's trainer judges (copies; the given ones are left
        as they are); :attr:`trainers` the trainer judges this assignment made.

        ``judges``: the run's trainer judges so far (``derive``'s); where a value's own scorer was its
        trainer judge, its training-half twin replaces it.
        """
        assigned = {name: self._assign(name, dataclasses.replace(value)) for name, value in values.items()}
        trainers = dict(judges)
        for name, trainer in self.trainers.items():
            if judges.get(name) is values[name].scorer:
                trainers[name] = trainer
        return assigned, trainers

    def _assign(self, name: str, value: Value) -> Value:
        """One value, completed: its split, its evaluator; its record in :attr:`record`."""
        own = value.preference_data if name not in self.sources else None
        rec: dict[str, Any] = {}
        judge_pairs = value.preference_data  # from a data.sources value: its own pairs, never trained on
        if self.cfg.crossfit and own is not None and self._shares(value, own):
            split = split_pairs(own, self.cfg.split_seed, self.cfg.judge_fraction)
            if not split.train or not split.judge:
                raise AlignrunError(
                    f"value '{name}': cross-fitting left {len(split.train)} training and "
                    f"{len(split.judge)} judge pair(s) (too few prompts to split; give it more pairs or "
                    "set judge.crossfit=false and accept a circular verdict)"
                )
            value.preference_data = _like(own, split.train)
            judge_pairs = split.judge
            rec["crossfit"] = split.record()
            if value.scorer is not None and callable(getattr(value.scorer, "with_pairs", None)):
                trainer = value.scorer.with_pairs(split.train)  # type: ignore[attr-defined]
                self.trainers[name] = trainer
                value.scorer = value.scorer.with_pairs(split.judge)  # type: ignore[attr-defined]
        if self.cfg.evaluator is not None:
            if name not in self.trainers and value.scorer is not None:
                self.trainers[name] = value.scorer  # the value's own judge trains, the chosen one grades
            value.scorer = build_judge(self.cfg.evaluator, value, judge_pairs)
            rec["evaluator_from"] = "judge.evaluator"
        self.record[name] = rec
        return value

    def _shares(self, value: Value, own: Any) -> bool:
        """Whether the value's evaluator (or the one ``judge.evaluator`` fits) learns prompts it trains on."""
        if self.cfg.evaluator is not None:
            return True  # the chosen evaluator is fitted on the value's own pairs: split them first
        fitted = fitted_pairs(value.scorer)
        return fitted is not None and overlap(rows_of(fitted), rows_of(own)) > 0


def _like(original: Any, rows: list[dict[str, Any]]) -> Any:
    """``rows`` in the container type of ``original`` (a ``datasets.Dataset`` stays one)."""
    if hasattr(original, "column_names"):
        from datasets import Dataset

        return Dataset.from_list(rows)
    return rows


def circularity(evaluator: Any, trainer: Any, trained_on: Any, judged: bool) -> tuple[bool, str]:
    """Whether a value's verdict is circular and why, in one phrase.

    Circular: the evaluator *is* the judge that made the training material, or it was fitted on
    prompts the method trained on.
    """
    from alignrun.derive.scorer import describe_scorer

    if judged and trainer is not None:
        j, e = describe_scorer(trainer), describe_scorer(evaluator)
        if trainer is evaluator or {**j, "role": ""} == {**e, "role": ""}:
            return True, "the judge that made its training material also scores it"
        members = getattr(evaluator, "members", None)
        if isinstance(members, Mapping) and any(
            m is trainer or describe_scorer(m) == j for m in members.values()
        ):
            return True, "the judge that made its training material is one of the evaluator's members"
    fitted = fitted_pairs(evaluator)
    shared = (
        overlap(rows_of(fitted), rows_of(trained_on)) if fitted is not None and trained_on is not None else 0
    )
    if shared:
        return True, f"the evaluator was fitted on {shared} prompt(s) the method trained on"
    return False, "independent: the evaluator never saw the training prompts"
