"""MORLHF building blocks: the multi-value reward, RLOO advantages, the PPO-clip loss, rollouts.

The estimators are pure functions of tensors (tested against hand-computed values); the
rollout and the ``loss_fn`` for the shared :class:`~alignrun.lib.training.trainer.Trainer` glue
them to a run's model. Log-probabilities are sequence-level: ``log π(y|x) = Σ_t log π(y_t|x, y_<t)``
over the response tokens (:func:`~alignrun.lib.training.logprobs.sequence_logps`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from alignrun.contracts import Scorer
from alignrun.errors import AlignrunError
from alignrun.lib.training.batching import encode
from alignrun.lib.training.logprobs import sequence_logps
from alignrun.lib.training.trainer import LossFn, TrainSettings
from alignrun.lm import LM
from alignrun.schema import GenerationConfig

# -- estimators (pure) -------------------------------------------------------------------


def weighted_reward(scores: Mapping[str, torch.Tensor], weights: Mapping[str, float]) -> torch.Tensor:
    """The MORLHF reward ``r(x, y) = Σ_v w_v · s_v(x, y)`` with ``w_v = weight_v / Σ_u weight_u``.

    Linear scalarisation of several reward models, the "MORLHF" baseline of Zhou et al. 2023
    (MODPO) and the MORL baseline of Rame et al. 2023 (Rewarded Soups).

    Args:
        scores: value -> ``[n]`` scorer outputs ``s_v``.
        weights: value -> its (unnormalised) weight; the keys of ``scores`` are used.

    Returns:
        ``[n]`` rewards.
    """
    if not scores:
        raise AlignrunError("no scores to combine into a reward")
    total = sum(weights[v] for v in scores)
    if total <= 0:
        raise AlignrunError(f"the weights of the scored values must sum to > 0, got {total}")
    reward = torch.zeros_like(next(iter(scores.values())))
    for v, s in scores.items():
        reward = reward + (weights[v] / total) * s
    return reward


AGGREGATIONS = ("weighted_sum", "normalize_then_sum")


def group_normalised(
    scores: torch.Tensor, k: int, eps: float = 1e-6
) -> tuple[torch.Tensor, dict[str, float]]:
    """One value's scores normalised within each prompt's group of ``k`` samples, as GDPO does.

    GDPO (Liu et al. 2026, "Group reward-Decoupled Normalization Policy Optimization", arXiv
    2601.05242) normalises each reward on its own before they are summed:
    ``z_i = (s_i − mean_g(s)) / (std_g(s) + eps)`` over the samples ``g`` of the same prompt (std
    with Bessel's correction, as GRPO implementations compute it). A value whose scores spread
    widely then no longer drowns one whose scores spread little; a group of equal scores gives
    zeros.

    Args:
        scores: ``[p·k]`` scores, each prompt's ``k`` samples in a row.
        k: samples per prompt (≥ 2).

    Returns:
        ``[p·k]`` normalised scores, and the statistics used (means over the groups of their mean
        and std), which the run logs and saves.
    """
    if k < 2 or scores.numel() % k:
        raise AlignrunError(
            f"group normalisation needs groups of k >= 2 samples, got {scores.numel()} for k={k}"
        )
    groups = scores.view(-1, k)
    mean = groups.mean(dim=1, keepdim=True)
    std = groups.std(dim=1, keepdim=True)
    z = (groups - mean) / (std + eps)
    return z.reshape(-1), {"mean": float(mean.mean()), "std": float(std.mean())}


def aggregated_reward(
    scores: Mapping[str, torch.Tensor], weights: Mapping[str, float], aggregation: str, k: int
) -> tuple[torch.Tensor, dict[str, dict[str, float]]]:
    """The training reward of ``method.aggregation``, and each value's normalisation statistics.

    ``weighted_sum``: :func:`weighted_reward` of the raw scores (no statistics).
    ``normalize_then_sum``: :func:`weighted_reward` of the :func:`group_normalised` scores.
    """
    if aggregation == "weighted_sum":
        return weighted_reward(scores, weights), {}
    if aggregation != "normalize_then_sum":
        raise AlignrunError(
            f"method.aggregation must be one of {', '.join(AGGREGATIONS)}, got '{aggregation}'"
        )
    normalised, stats = {}, {}
    for v, s in scores.items():
        normalised[v], stats[v] = group_normalised(s, k)
    return weighted_reward(normalised, weights), stats


def kl_penalised_reward(
    reward: torch.Tensor, logp_old: torch.Tensor, logp_ref: torch.Tensor, beta: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``r − β · KL̂`` with the sequence-level KL estimate ``KL̂ = log π_old(y|x) − log π_ref(y|x)``.

    ``KL̂`` is the single-sample (k1) estimate of ``KL(π_old(·|x) ‖ π_ref(·|x))`` for ``y ~ π_old``
    (Ziegler et al. 2019; Ouyang et al. 2022, eq. 2); its mean over samples is unbiased.

    Args:
        reward: ``[n]`` task rewards.
        logp_old, logp_ref: ``[n]`` summed response log-probs under the sampling policy and the reference.
        beta: penalty strength; higher stays closer to the reference.

    Returns:
        ``(penalised reward [n], KL̂ [n])``.
    """
    kl = logp_old - logp_ref
    return reward - beta * kl, kl


def rloo_advantages(rewards: torch.Tensor, normalise: bool = False, eps: float = 1e-8) -> torch.Tensor:
    """REINFORCE leave-one-out advantages (Kool et al. 2019; Ahmadian et al. 2024).

    ``A_i = r_i − 1/(k−1) · Σ_{j≠i} r_j`` over the k samples of the same prompt: the baseline
    is the mean reward of the *other* samples, so it does not depend on ``y_i`` and the policy
    gradient stays unbiased, and no value network is needed.

    Args:
        rewards: ``[p, k]`` rewards, row = the k samples of one prompt (k ≥ 2).
        normalise: divide by the standard deviation over the whole batch (RLOO advantages
            already have mean 0 per prompt); a batch of equal rewards gives zeros.
        eps: guards the division.

    Returns:
        ``[p, k]`` advantages.
    """
    if rewards.dim() != 2 or rewards.shape[1] < 2:
        raise AlignrunError(f"RLOO needs rewards of shape [prompts, k >= 2], got {list(rewards.shape)}")
    k = rewards.shape[1]
    baseline = (rewards.sum(dim=1, keepdim=True) - rewards) / (k - 1)
    advantages = rewards - baseline
    if normalise:
        advantages = advantages / (advantages.std() + eps) if advantages.numel() > 1 else advantages
    return advantages


def ppo_clip_loss(
    logp: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor, clip_eps: float = 0.2
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The PPO clipped surrogate, negated to a loss (Schulman et al. 2017, eq. 7).

    ``L = −min(ρ · A, clip(ρ, 1 − ε, 1 + ε) · A)``, ``ρ = exp(log π(y|x) − log π_old(y|x))``.

    With ``A > 0`` the gain stops once ``ρ > 1 + ε``; with ``A < 0`` once ``ρ < 1 − ε``; on the
    clipped side the gradient is zero, so one batch of samples cannot move the policy far.

    Args:
        logp: ``[b]`` summed response log-probs under the policy being trained (with grad).
        logp_old: ``[b]`` the same under the policy that sampled the responses (no grad).
        advantages: ``[b]`` advantage of each response.
        clip_eps: ε.

    Returns:
        ``(loss [b], ratio [b], clipped [b] bool)``: per-sample loss (average it yourself), the
        detached ratio, and whether the clipped term was the one taken (zero gradient).
    """
    ratio = torch.exp(logp - logp_old)
    unclipped = ratio * advantages
    clipped_obj = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    loss = -torch.minimum(unclipped, clipped_obj)
    clipped = clipped_obj < unclipped
    return loss, ratio.detach(), clipped.detach()


# -- rollouts -----------------------------------------------------------------------------


@dataclass
class Rollout:
    """One iteration's samples, flat: sample ``i`` answers ``prompts[i]`` (each prompt k times in a row).

    Tensors are ``[n]`` with ``n = prompts_per_iteration · k``. ``order`` is the seeded sample
    layout: micro-batch ``c`` is ``order[c·m : (c+1)·m]`` (``m = micro_batch_size``) in every
    log-prob pass — old policy, reference, and each PPO update — so that a sample is always
    computed with the same batch-mates and padding. Under bf16 autocast that makes ``ρ`` exactly 1
    before the first update; regrouped, rounding alone moved SmolLM2's sequence log-probs by up to
    0.23 nats (ρ off by 26%, beyond the clip range).
    """

    prompts: list[str]
    responses: list[str]
    order: list[int]
    scores: dict[str, torch.Tensor]
    reward: torch.Tensor
    logp_old: torch.Tensor
    logp_ref: torch.Tensor
    kl: torch.Tensor
    advantages: torch.Tensor
    normalisation: dict[str, dict[str, float]] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        """Means over the samples: per-value scores, the weighted reward (of the raw scores, whatever
        the aggregation trained on), KL, response length; the normalisation statistics when used."""
        out = {f"rlhf/reward/{v}": float(s.mean()) for v, s in self.scores.items()}
        for v, stats in self.normalisation.items():
            out |= {f"rlhf/normalisation/{v}/{k}": x for k, x in stats.items()}
        out["rlhf/reward"] = float(self.reward.mean())
        out["rlhf/kl"] = float(self.kl.mean())
        out["rlhf/response_chars"] = sum(len(r) for r in self.responses) / max(len(self.responses), 1)
        return out


def seeded_order(n: int, seed: int) -> list[int]:
    """A permutation of ``range(n)`` drawn from ``seed``."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order


@torch.no_grad()
def response_logps(
    lm: LM,
    prompts: Sequence[str],
    responses: Sequence[str],
    order: Sequence[int],
    settings: TrainSettings,
    reference: bool = False,
) -> torch.Tensor:
    """``[n]`` summed response log-probs under the active adapter, or with every adapter off.

    Micro-batches are consecutive chunks of ``order`` (see :class:`Rollout`); results are in
    sample order.
    """
    model = lm.model
    off = model.disable_adapter() if reference and hasattr(model, "disable_adapter") else torch.no_grad()
    was_training = model.training
    model.eval()
    out = torch.zeros(len(prompts))
    try:
        with off, lm.precision():
            for start in range(0, len(order), settings.micro_batch_size):
                ids = list(order[start : start + settings.micro_batch_size])
                batch = encode(
                    lm, [prompts[i] for i in ids], [responses[i] for i in ids], settings.max_length
                )
                out[ids] = sequence_logps(model, batch.to(lm.device)).float().cpu()
    finally:
        model.train(was_training)
    return out


def collect_rollout(
    lm: LM,
    prompts: Sequence[str],
    scorers: Mapping[str, Scorer],
    weights: Mapping[str, float],
    *,
    samples_per_prompt: int,
    generation: GenerationConfig,
    seed: int,
    kl_beta: float,
    normalise_advantages: bool,
    settings: TrainSettings,
    aggregation: str = "weighted_sum",
) -> Rollout:
    """Sample k responses per prompt from the current policy, score them, compute advantages.

    ``seed`` seeds the sampling and the sample layout; ``aggregation`` makes the training reward
    from the scores (:func:`aggregated_reward`).
    """
    k = samples_per_prompt
    flat = [p for p in prompts for _ in range(k)]
    responses = lm.generate(flat, generation, seed=seed)
    scores: dict[str, torch.Tensor] = {}
    for name, scorer in scorers.items():
        values = scorer.score(flat, responses)
        if len(values) != len(flat):
            raise AlignrunError(
                f"scorer of value '{name}' returned {len(values)} scores for {len(flat)} responses"
            )
        scores[name] = torch.tensor(values, dtype=torch.float32)
        if not torch.isfinite(scores[name]).all():
            raise AlignrunError(f"scorer of value '{name}' returned a non-finite score")
    reward = weighted_reward(scores, weights)  # reported: the reward curve in the values' own units
    signal, normalisation = aggregated_reward(scores, weights, aggregation, k)
    order = seeded_order(len(flat), seed)
    logp_old = response_logps(lm, flat, responses, order, settings)
    logp_ref = response_logps(lm, flat, responses, order, settings, reference=True)
    penalised, kl = kl_penalised_reward(signal, logp_old, logp_ref, kl_beta)
    advantages = rloo_advantages(penalised.view(-1, k), normalise=normalise_advantages).reshape(-1)
    return Rollout(flat, responses, order, scores, reward, logp_old, logp_ref, kl, advantages, normalisation)


def ppo_objective(
    lm: LM, rollout: Rollout, *, first_step: int, clip_eps: float, settings: TrainSettings, seed: int
) -> LossFn:
    """``loss_fn`` for the Trainer over one rollout: ``ppo_epochs`` passes of minibatches.

    Minibatch ``m`` is ``rollout.order[m·B : (m+1)·B]`` (``B = batch_size``); Trainer step
    ``first_step + e·M + j`` is the ``j``-th minibatch of PPO epoch ``e`` in that epoch's seeded
    order of the ``M = n / B`` minibatches. Micro-batches stay those of the rollout's log-prob passes.
    """
    n = len(rollout.responses)
    per_epoch = n // settings.batch_size

    def loss_fn(step: int, start: int, stop: int) -> tuple[torch.Tensor, dict[str, float]]:
        epoch, j = divmod(step - first_step, per_epoch)
        m = seeded_order(per_epoch, seed * 1_000_003 + epoch)[j]
        ids = rollout.order[m * settings.batch_size + start : m * settings.batch_size + stop]
        batch = encode(
            lm, [rollout.prompts[i] for i in ids], [rollout.responses[i] for i in ids], settings.max_length
        ).to(lm.device)
        logp = sequence_logps(lm.model, batch)
        old = rollout.logp_old[ids].to(logp.device)
        loss, ratio, clipped = ppo_clip_loss(logp, old, rollout.advantages[ids].to(logp.device), clip_eps)
        scale = 1.0 / settings.batch_size  # summed over micro-batches and ranks -> the minibatch mean
        metrics = {
            "loss": float(loss.detach().sum()) * scale,
            "ratio": float(ratio.sum()) * scale,
            "clip_frac": float(clipped.float().sum()) * scale,
            "approx_kl": float((old - logp.detach()).sum()) * scale,  # KL(π_old ‖ π), k1 estimate
        }
        return loss.sum() * scale, metrics

    return loss_fn


def prompt_pool(
    train_prompts: Mapping[str, Sequence[str]],
    eval_prompts: Mapping[str, Sequence[str]],
    values: Sequence[str],
) -> tuple[list[str], str]:
    """Training prompts: every value's training prompts (its pairs' prompts, else those derived for
    it, never its eval prompts) pooled, deduplicated in order.

    Returns ``(prompts, source)`` with source ``"train"``, or ``"eval"`` when no value has training
    prompts and the eval prompts stand in.
    """
    pooled = [str(p) for v in values for p in train_prompts.get(v) or []]
    source = "train"
    if not pooled:
        pooled = [str(p) for v in values for p in eval_prompts.get(v) or []]
        source = "eval"
    return list(dict.fromkeys(pooled)), source
