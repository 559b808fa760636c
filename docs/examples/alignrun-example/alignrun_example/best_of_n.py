"""Best-of-N sampling: answer every prompt ``n`` times, keep the answer the values rate highest.

The inference-time baseline of WebGPT (Nakano et al., 2021, §3.3) and of reward
over-optimisation studies (Gao et al., 2023): nothing is trained, the policy is

    y* = argmax_{y_1..y_n ~ π(·|x)} r(x, y),    r(x, y) = Σ_v w_v · s_v(x, y)

with ``s_v`` value ``v``'s scorer and ``w_v`` its ``weight``. The method takes effect through
``alignrun_generate``: ``fit`` registers the method object with the run's plugin manager, so
every generation of the run (the final evaluation and any method's candidates) goes through
it. Torch-free at import: only ``LM.generate`` touches the model.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from alignrun.contracts import MethodResult
from alignrun.errors import AlignrunError
from alignrun.hookspecs import hookimpl
from alignrun.settings import from_yaml, signature_from

if TYPE_CHECKING:
    from alignrun.contracts import Value
    from alignrun.lm import LM
    from alignrun.run import Run

PLUGIN_NAME = "alignrun_example.best_of_n"


def weighted_reward(
    values: Mapping[str, Value], prompts: Sequence[str], responses: Sequence[str]
) -> list[float]:
    """``r(x, y) = Σ_v w_v · s_v(x, y)`` for each (prompt, response) pair; values without a scorer add 0.

    Every value scores every pair, whichever value's eval set the prompt came from.

    Raises:
        AlignrunError: a scorer returned the wrong number of scores or a non-finite one.
    """
    total = [0.0] * len(responses)
    for name, value in values.items():
        if value.scorer is None:
            continue
        scores = [float(s) for s in value.scorer.score(prompts, responses)]
        if len(scores) != len(responses) or not all(math.isfinite(s) for s in scores):
            raise AlignrunError(
                f"scorer of value '{name}' must return one finite score per response "
                f"({len(responses)}), got {scores!r:.200}"
            )
        total = [t + value.weight * s for t, s in zip(total, scores, strict=True)]
    return total


@signature_from("method/best_of_n.yaml")
class BestOfN:
    """``+method=best_of_n``: sample ``n`` answers per prompt, return the highest-reward one.

    Args:
        n: samples per prompt; generation costs ``n`` times as much. ``n=1`` is plain sampling.
        temperature: sampling temperature of the candidates (higher: more diverse).
        top_p: nucleus-sampling mass of the candidates (1.0: off).
    """

    def __init__(
        self, n: int = from_yaml(), temperature: float = from_yaml(), top_p: float = from_yaml()
    ) -> None:
        if n < 1:
            raise AlignrunError(f"best_of_n: n must be at least 1, got {n}")
        if temperature <= 0:
            raise AlignrunError(f"best_of_n: temperature must be > 0, got {temperature}")
        if not 0 < top_p <= 1:
            raise AlignrunError(f"best_of_n: top_p must be in (0, 1], got {top_p}")
        self.n = n
        self.temperature = temperature
        self.top_p = top_p

    def fit(self, run: Run) -> MethodResult:
        """Hook this object into ``run``'s generation; the model itself is returned unchanged.

        Raises:
            AlignrunError: no value of the run has a scorer, so there is nothing to rank by.
        """
        if not any(v.scorer is not None for v in run.values.values()):
            raise AlignrunError(
                "best_of_n ranks samples with the values' scorers, but no value in this run has a scorer"
            )
        # Each run has its own plugin manager: the hookimpl below lives exactly as long as this run.
        if not run.pm.is_registered(self):
            run.pm.register(self, name=PLUGIN_NAME)
        return MethodResult(lm=run.lm)

    @hookimpl  # normal priority: runs before the core's trylast default and, being firstresult, replaces it
    def alignrun_generate(self, run: Run, lm: LM, prompts: list[str]) -> list[str] | None:
        """Sample ``n`` answers per prompt (seeds ``seed .. seed+n-1``) and keep the best of each."""
        from alignrun.schema import GenerationConfig

        if not prompts:
            return []
        cfg = dataclasses.replace(
            GenerationConfig(**run.cfg.generation),
            do_sample=True,
            temperature=self.temperature,
            top_p=self.top_p,
        )
        seed = int(run.cfg.seed)
        samples = [lm.generate(prompts, cfg, seed=seed + i) for i in range(self.n)]  # [sample][prompt]
        rewards = [weighted_reward(run.values, prompts, s) for s in samples]  # [sample][prompt]
        best = []
        for j, per_sample in enumerate(zip(*rewards, strict=True)):
            i = max(range(self.n), key=per_sample.__getitem__)  # ties: the lowest seed wins
            best.append((samples[i][j], per_sample[i]))
        run.log(
            {
                # mean reward of a single sample vs of the kept one: the gain Best-of-N buys
                "best_of_n/reward_sample": sum(map(sum, rewards)) / (self.n * len(prompts)),
                "best_of_n/reward_best": sum(r for _, r in best) / len(prompts),
            }
        )
        return [response for response, _ in best]
