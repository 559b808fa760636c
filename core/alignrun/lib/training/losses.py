"""Preference losses as pure functions of sequence log-probabilities."""

from __future__ import annotations

import torch
import torch.nn.functional as F


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
