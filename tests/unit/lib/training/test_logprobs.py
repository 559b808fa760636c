"""sequence_logps against a direct full-vocabulary computation on the tiny model."""

from __future__ import annotations

import torch

from alignrun.lib.training.batching import encode_pairs
from alignrun.lib.training.logprobs import sequence_logps
from alignrun.models.tiny import build_tiny


def test_trimmed_logps_equal_the_full_computation() -> None:
    lm = build_tiny()
    rows = [
        {"prompt": "hi", "chosen": "hello there friend", "rejected": "no"},
        {"prompt": "a much longer question about the weather today", "chosen": "sunny", "rejected": "x y z"},
    ]
    batch = encode_pairs(lm, rows, 64)
    starts = batch.response_mask.float().argmax(1)
    assert len(set(starts.tolist())) > 1  # prompts of different lengths: rows start responses apart
    with torch.no_grad():
        got = sequence_logps(lm.model, batch)
        logp = torch.log_softmax(
            lm.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits, -1
        )
        want = torch.zeros(len(batch.input_ids))
        for i in range(len(batch.input_ids)):
            for t in range(1, batch.input_ids.shape[1]):
                if batch.response_mask[i, t]:
                    want[i] += logp[i, t - 1, batch.input_ids[i, t]]
    assert torch.allclose(got, want, atol=1e-4)
