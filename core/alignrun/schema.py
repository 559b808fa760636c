"""The typed nodes of alignrun's primary config: fields, types and ranges; the defaults are the YAML's.

The ground floor of the config: the engine, the derivation and the judges read their node as one of
these dataclasses, and :mod:`alignrun.config` registers :class:`AlignrunSchema` with Hydra so that
``seed=abc`` fails at composition. Each domain checks the meaning of its own node (``derive.pairs``'s
modes in :class:`alignrun.derive.DeriveConfig`); here are only types and ranges. Torch- and Hydra-free.

Every default lives in one place, the YAML a user reads and ``--help`` shows: ``conf/alignrun.yaml``
(``seed``, ``resume``, ``generation:``, ``derive:``, ``candidates:``, ``results:``) and
``conf/judge/crossfit.yaml`` (``judge:``). Each class takes its defaults from there when it is defined
(:func:`alignrun.settings.defaults_from`), so ``GenerationConfig()`` in Python is the run's default
and Hydra's schema merges the same values under the YAML: the composed config is what the YAML says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from alignrun.errors import AlignrunError
from alignrun.settings import check_ranges, defaults_from, from_yaml

PRIMARY = "alignrun.yaml"


@dataclass
@defaults_from(PRIMARY, "generation", own=("backend",))
class GenerationConfig:
    """``generation:`` how every model answers eval prompts."""

    max_new_tokens: int = from_yaml(ge=1)
    batch_size: int = from_yaml(ge=1)
    do_sample: bool = from_yaml()
    temperature: float = from_yaml(gt=0)
    top_p: float = from_yaml(gt=0, le=1)
    max_prompt_tokens: int = from_yaml(ge=1)
    progress: bool = from_yaml()
    min_new_tokens: int = from_yaml(ge=0)
    # Not the YAML's `fast` on purpose: the many GenerationConfig(...) built in Python (profiles,
    # searches, rollouts) mean "the model's engine" (``LM.backend``, which the loop sets from the run's
    # generation.backend), so a run with generation.backend=reference stays on it throughout.
    backend: str | None = None


@dataclass
@defaults_from(PRIMARY, "results")
class ResultsConfig:
    """``results:`` how results are summarised."""

    hypervolume_reference: float = from_yaml()
    baselines: list[str] = from_yaml()


@dataclass
@defaults_from(PRIMARY, "derive")
class DeriveSchema:
    """``derive:`` materials built for values that lack them (checked by ``alignrun.derive.DeriveConfig``)."""

    pairs: str = from_yaml()
    prompts: int = from_yaml(ge=1)
    eval_prompts: int = from_yaml(ge=1)
    samples: int = from_yaml(ge=1)
    temperature: float = from_yaml(gt=0)
    max_new_tokens: int = from_yaml(ge=1)
    margin: float = from_yaml(ge=0)
    batch_size: int = from_yaml(ge=1)
    split_exemplars: bool = from_yaml()
    judge: Any = from_yaml()


@dataclass
@defaults_from("judge/crossfit.yaml")  # the default option of the judge group
class JudgeSchema:
    """``judge:`` which judge trains and which evaluates (checked by ``judges.roles.JudgeConfig``)."""

    crossfit: bool = from_yaml()
    judge_fraction: float = from_yaml(gt=0, lt=1)
    split_seed: int = from_yaml()
    evaluator: Any = from_yaml()
    validity: bool = from_yaml()


@dataclass
@defaults_from(PRIMARY, "candidates")
class CandidatesConfig:
    """``candidates:`` how every method's candidate models are scored."""

    eval_prompts: int | None = from_yaml(ge=1)
    grid: list[float] | None = from_yaml()

    def __post_init__(self) -> None:
        check_ranges(self, "candidates")
        if self.grid is not None and (not self.grid or min(self.grid) < 0):
            raise AlignrunError(
                f"candidates.grid wants per-value weights >= 0, e.g. [0,0.5,1]; got {self.grid}"
            )


@dataclass
@defaults_from(PRIMARY)
class AlignrunSchema:
    """The primary config's typed top level: ``seed=abc`` fails at composition, not mid-run.

    The groups (``model``, ``values``, ...) have no default here: the defaults list chooses them.
    """

    seed: int = from_yaml()
    resume: bool = from_yaml()
    reuse_base: bool = from_yaml()
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    results: ResultsConfig = field(default_factory=ResultsConfig)
    derive: DeriveSchema = field(default_factory=DeriveSchema)
    judge: JudgeSchema = field(default_factory=JudgeSchema)
    candidates: CandidatesConfig = field(default_factory=CandidatesConfig)
    model: Any = MISSING
    values: dict[str, Any] = field(default_factory=dict)
    data: Any = MISSING
    steering: Any = MISSING
    loggers: dict[str, Any] = field(default_factory=dict)
    profile: Any = None
    method: Any = None
