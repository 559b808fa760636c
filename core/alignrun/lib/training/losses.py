"""Preference losses as pure functions of sequence log-probabilities."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from alignrun.errors import AlignrunError
from alignrun.settings import check_fields, check_value, defaults_from, from_yaml


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    beta: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Direct Preference Optimization, sigmoid loss (Rafailov et al. 2023, eq. 7).

    ``L = -log σ(β · [(log π(y_w|x) - log π_ref(y_w|x)) - (log π(y_l|x) - log π_ref(y_l|x))])``

    Args:
        policy_chosen, policy_rejected: ``[b]`` summed response log-probs under the policy.
        reference_chosen, reference_rejected: ``[b]`` the same under the frozen reference.
        beta: inverse temperature of the implicit reward; higher stays closer to the reference.

    Returns:
        ``(loss[b], chosen_reward[b], rejected_reward[b])`` with rewards ``β·(log π - log π_ref)``
        (detached), per pair; average ``loss`` yourself.
    """
    chosen_ratio = policy_chosen - reference_chosen
    rejected_ratio = policy_rejected - reference_rejected
    loss = -F.logsigmoid(beta * (chosen_ratio - rejected_ratio))
    return loss, beta * chosen_ratio.detach(), beta * rejected_ratio.detach()


def check_beta(beta: float, key: str = "method.beta") -> None:
    """A DPO-family method's ``beta``, checked when the method is built (before the model loads).

    ``β ≤ 0`` flips or flattens every preference; the methods' signatures say ``float`` only, so the
    range is checked here, once for all of them.

    Raises:
        AlignrunError: ``method.beta must be > 0, got 0``.
    """
    check_value(key, beta, float, {"gt": 0})


LOSSES = ("dpo", "rdpo", "simpo")


@dataclass
@defaults_from("method/loss/default.yaml")  # the one home of its defaults
class LossSettings:
    """``method.loss``: which preference loss the DPO-family methods train with (``method/loss=<option>``).

    Args:
        kind: ``dpo`` (:func:`dpo_loss`), ``rdpo`` (:func:`rdpo_loss`, length-regularised) or ``simpo``
            (:func:`simpo_loss`, length-normalised, no reference model).
        alpha: rdpo's weight on the length difference ``|y_w| - |y_l|`` (tokens), in logit units.
        gamma: simpo's target reward margin γ.
        beta: the loss's inverse temperature; None takes the method's ``beta`` (SimPO's log-probs are
            per-token averages, about 100× smaller than DPO's summed ratios, so its option sets its own).
    """

    kind: str = from_yaml()
    alpha: float = from_yaml(ge=0)
    gamma: float = from_yaml(ge=0)
    beta: float | None = from_yaml(gt=0)

    def __post_init__(self) -> None:
        check_fields(self, "method.loss")
        if self.kind not in LOSSES:
            raise AlignrunError(f"method.loss.kind must be one of {', '.join(LOSSES)}, got '{self.kind}'")

    @property
    def needs_reference(self) -> bool:
        """SimPO compares the policy with itself: no reference log-probs to compute."""
        return self.kind != "simpo"


def rdpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    chosen_tokens: torch.Tensor,
    rejected_tokens: torch.Tensor,
    beta: float = 0.1,
    alpha: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Length-regularised DPO, R-DPO (Park et al. 2024, "Disentangling Length from Quality in DPO", eq. 9).

    ``L = -log σ(β·[ratio_w - ratio_l] + α·(|y_w| - |y_l|))``, ``ratio = log π(y|x) - log π_ref(y|x)``,
    ``|y|`` the response's token count. The length term explains away the part of a preference that
    length alone predicts, so the implicit reward ``β·ratio`` need not learn "longer is better": with
    a longer chosen answer the logit starts higher and the pair pushes the policy less. ``α = 0`` is DPO.

    Returns:
        ``(loss[b], chosen_reward[b], rejected_reward[b])`` as :func:`dpo_loss`.
    """
    chosen_ratio = policy_chosen - reference_chosen
    rejected_ratio = policy_rejected - reference_rejected
    length = alpha * (chosen_tokens - rejected_tokens).to(chosen_ratio.dtype)
    loss = -F.logsigmoid(beta * (chosen_ratio - rejected_ratio) + length)
    return loss, beta * chosen_ratio.detach(), beta * rejected_ratio.detach()


def simpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    chosen_tokens: torch.Tensor,
    rejected_tokens: torch.Tensor,
    beta: float = 2.0,
    gamma: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """SimPO (Meng et al. 2024, eq. 6): length-normalised log-probs, a target margin, no reference.

    ``L = -log σ(β/|y_w| · log π(y_w|x) - β/|y_l| · log π(y_l|x) - γ)``. TRL implements it as
    ``CPOTrainer(loss_type="simpo", cpo_alpha=0)``, whose ``cpo_loss`` on average log-probs is the same
    (tested).

    Args:
        policy_chosen, policy_rejected: ``[b]`` *summed* response log-probs under the policy.
        chosen_tokens, rejected_tokens: ``[b]`` response token counts (the averages' denominators).

    Returns:
        ``(loss[b], chosen_reward[b], rejected_reward[b])`` with rewards ``β·mean log π`` (detached).
    """
    chosen = policy_chosen / chosen_tokens.clamp(min=1).to(policy_chosen.dtype)
    rejected = policy_rejected / rejected_tokens.clamp(min=1).to(policy_rejected.dtype)
    loss = -F.logsigmoid(beta * (chosen - rejected) - gamma)
    return loss, beta * chosen.detach(), beta * rejected.detach()


def preference_loss(
    settings: LossSettings,
    beta: float,
    policy: tuple[torch.Tensor, torch.Tensor],
    reference: tuple[torch.Tensor, torch.Tensor],
    tokens: tuple[torch.Tensor, torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The loss ``settings`` names on (chosen, rejected) log-probs, reference log-probs and token counts."""
    beta = settings.beta if settings.beta is not None else beta
    if settings.kind == "simpo":
        return simpo_loss(*policy, *tokens, beta=beta, gamma=settings.gamma)
    if settings.kind == "rdpo":
        return rdpo_loss(*policy, *reference, *tokens, beta=beta, alpha=settings.alpha)
    return dpo_loss(*policy, *reference, beta=beta)
