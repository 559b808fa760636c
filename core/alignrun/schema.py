"""The typed nodes of alignrun's primary config: fields, defaults and ranges, nothing else.

The ground floor of the config: the engine, the derivation and the judges read their node as one of
these dataclasses, and :mod:`alignrun.config` registers :class:`AlignrunSchema` with Hydra so that
``seed=abc`` fails at composition. Each domain checks the meaning of its own node (``derive.pairs``'s
modes in :class:`alignrun.derive.DeriveConfig`); here are only types and ranges. Torch- and Hydra-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from alignrun.settings import ranged


@dataclass
class GenerationConfig:
    """``generation:`` how every model answers eval prompts."""

    max_new_tokens: int = ranged(64, ge=1)
    batch_size: int = ranged(48, ge=1)
    do_sample: bool = False
    temperature: float = ranged(1.0, gt=0)
    top_p: float = ranged(1.0, gt=0, le=1)
    max_prompt_tokens: int = ranged(512, ge=1)
    progress: bool = True
    min_new_tokens: int = ranged(0, ge=0)
    # None: the model's engine (``LM.backend``, which the loop sets from the run's generation.backend)
    backend: str | None = None


@dataclass
class ResultsConfig:
    """``results:`` how results are summarised."""

    hypervolume_reference: float = -1.0
    baselines: list[str] = field(default_factory=list)


@dataclass
class DeriveSchema:
    """``derive:`` materials built for values that lack them (checked by ``alignrun.derive.DeriveConfig``)."""

    pairs: str = "auto"
    prompts: int = ranged(24, ge=1)
    eval_prompts: int = ranged(12, ge=1)
    samples: int = ranged(2, ge=1)
    temperature: float = ranged(0.8, gt=0)
    max_new_tokens: int = ranged(64, ge=1)
    margin: float = ranged(0.2, ge=0)
    batch_size: int = ranged(48, ge=1)
    split_exemplars: bool = True
    judge: Any = None


@dataclass
class JudgeSchema:
    """``judge:`` which judge trains and which evaluates (checked by ``judges.roles.JudgeConfig``)."""

    crossfit: bool = True
    judge_fraction: float = ranged(0.5, gt=0, lt=1)
    split_seed: int = 0
    evaluator: Any = None
    validity: bool = True


@dataclass
class CandidatesConfig:
    """``candidates:`` how every method's candidate models are scored."""

    eval_prompts: int | None = ranged(24, ge=1)


@dataclass
class AlignrunSchema:
    """The primary config's typed top level: ``seed=abc`` fails at composition, not mid-run."""

    seed: int = 0
    resume: bool = False
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
