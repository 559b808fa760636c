"""``alignrun.lib.training.losses.dpo_loss`` against TRL's DPO sigmoid loss, on identical log-probs.

TRL 1.16 has no standalone loss function: the sigmoid loss lives inside
``DPOTrainer._compute_loss``. These tests build a real ``DPOTrainer`` on the tiny model (offline;
``precompute_ref_log_probs=True``, so reference log-probs come from the batch) and drive its public
``compute_loss`` with a stand-in policy whose per-token log-probs sum, per sequence, to values
chosen here. Both implementations then see the same four sequence log-probs.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch

from alignrun.lib.training.losses import dpo_loss
from alignrun.models.tiny import build_tiny

trl = pytest.importorskip("trl")

BATCH, WIDTH = 3, 12  # pairs, tokens per sequence


class FixedLogps:
    """Stands in for TRL's fused-LM-head policy: ``model(..., labels=, fused_lm_head=True)``.

    Returns per-token log-probs ``[2b, t-1]`` that are non-zero only on completion positions
    (``labels[:, 1:] != -100``) and sum, per row, to ``targets[row]`` (chosen rows, then rejected).
    """

    def __init__(self, targets: torch.Tensor) -> None:
        self.targets = targets
        self.calls = 0

    def __call__(
        self, *, input_ids: torch.Tensor, labels: torch.Tensor, fused_lm_head: bool = False, **_: Any
    ) -> SimpleNamespace:
        assert fused_lm_head, "TRL asks the policy for per-token log-probs, not logits"
        self.calls += 1
        mask = (labels[:, 1:] != -100).to(self.targets.dtype)  # [2b, t-1]
        share = torch.rand(mask.shape, dtype=self.targets.dtype) * mask + 1e-3 * mask
        share = share / share.sum(-1, keepdim=True)  # positive weights summing to 1 per row
        log_probs = share * self.targets[:, None]
        zeros = torch.zeros_like(log_probs)
        return SimpleNamespace(
            log_probs=log_probs,
            entropy=zeros,
            mean_logits=zeros,
            is_top1=torch.zeros(mask.shape, dtype=torch.bool),
        )


@pytest.fixture(scope="module")
def trainer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from datasets import Dataset

    lm = build_tiny()
    rows = [
        {"prompt": "Is the sky blue?", "chosen": " Yes, on a clear day.", "rejected": " No."},
        {"prompt": "Say hi.", "chosen": " Hi!", "rejected": " Go away."},
    ]
    args = trl.DPOConfig(
        output_dir=str(tmp_path_factory.mktemp("trl")),
        beta=0.1,
        loss_type=["sigmoid"],
        precompute_ref_log_probs=True,
        report_to=[],
        bf16=False,
        gradient_checkpointing=False,
        per_device_train_batch_size=2,
        save_strategy="no",
        logging_strategy="no",
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        disable_tqdm=True,
    )
    out = trl.DPOTrainer(
        model=lm.model, args=args, train_dataset=Dataset.from_list(rows), processing_class=lm.tokenizer
    )
    assert out.precompute_ref_logps and out.ref_model is None and out.loss_types == ["sigmoid"]
    assert "ref_chosen_logps" in out.train_dataset.column_names  # TRL ran its own precompute pass
    return out


def _inputs(seed: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """A right-padded ``[chosen; rejected]`` batch with random prompt and completion lengths, and the four
    sequence log-probs ``[4, b]``: policy chosen, policy rejected, reference chosen, reference rejected."""
    g = torch.Generator().manual_seed(seed)
    n = 2 * BATCH
    prompt = torch.randint(1, 5, (n,), generator=g)
    completion = torch.randint(1, WIDTH - 5, (n,), generator=g)
    pos = torch.arange(WIDTH)
    attention = (pos < (prompt + completion)[:, None]).long()
    completion_mask = ((pos >= prompt[:, None]) & (attention == 1)).long()
    logps = -torch.rand((4, BATCH), generator=g, dtype=torch.float64) * 40  # sequence log-probs in [-40, 0)
    inputs = {
        "input_ids": torch.randint(0, 100, (n, WIDTH), generator=g) * attention,
        "attention_mask": attention,
        "completion_mask": completion_mask,
        "ref_chosen_logps": logps[2],
        "ref_rejected_logps": logps[3],
    }
    return inputs, logps


@pytest.mark.parametrize("beta", [0.01, 0.1, 0.5, 2.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dpo_loss_matches_trl_sigmoid(trainer: Any, beta: float, seed: int) -> None:
    inputs, (pc, pr, rc, rr) = _inputs(seed)
    policy = FixedLogps(torch.cat([pc, pr]))
    trainer.beta = beta  # what _compute_loss reads; set from DPOConfig.beta at construction
    mode = "train" if trainer.model.training else "eval"  # the key _compute_loss logs under
    trainer._metrics[mode].clear()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        theirs = trainer.compute_loss(policy, inputs)
    assert policy.calls == 1  # the reference came from the batch: no second (reference) forward

    loss, chosen_reward, rejected_reward = dpo_loss(pc, pr, rc, rr, beta)
    assert loss.shape == (BATCH,)
    torch.testing.assert_close(loss.mean(), theirs, rtol=0, atol=1e-6)
    torch.testing.assert_close(chosen_reward, beta * (pc - rc), rtol=0, atol=1e-12)
    torch.testing.assert_close(rejected_reward, beta * (pr - rr), rtol=0, atol=1e-12)

    logged = trainer._metrics[mode]
    # TRL summed the stand-in's per-token log-probs back to the chosen sequence values ...
    assert logged["logps/chosen"][-1] == pytest.approx(float(pc.mean()), abs=1e-9)
    assert logged["logps/rejected"][-1] == pytest.approx(float(pr.mean()), abs=1e-9)
    # ... and its own reward bookkeeping agrees with ours
    assert logged["rewards/chosen"][-1] == pytest.approx(float(chosen_reward.mean()), abs=1e-6)
    assert logged["rewards/rejected"][-1] == pytest.approx(float(rejected_reward.mean()), abs=1e-6)
    margin = float((chosen_reward - rejected_reward).mean())
    assert logged["rewards/margins"][-1] == pytest.approx(margin, abs=1e-6)


def test_dpo_loss_gradient_matches_trl(trainer: Any) -> None:
    """Same loss, same gradient w.r.t. the policy's sequence log-probs."""
    inputs, logps = _inputs(7)
    trainer.beta = 0.1
    ours_in = logps[:2].clone().requires_grad_(True)
    dpo_loss(ours_in[0], ours_in[1], logps[2], logps[3], 0.1)[0].mean().backward()
    theirs_in = logps[:2].clone().reshape(-1).requires_grad_(True)
    trainer.compute_loss(FixedLogps(theirs_in), inputs).backward()
    assert ours_in.grad is not None and theirs_in.grad is not None
    torch.testing.assert_close(ours_in.grad.reshape(-1), theirs_in.grad, rtol=0, atol=1e-9)
