"""Tokenising (prompt, response) pairs for training with the model's chat template.

A sequence is ``chat(prompt)`` (system turn, user turn, assistant header) followed by the
response and the end-of-turn token; only response tokens count in log-probs. Prompt and
response are tokenised separately and concatenated, so the boundary is exact. Rows are
right-padded; too-long prompts lose their start, too-long responses their end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from alignrun.lm import LM


@dataclass
class TokenBatch:
    """``[n, t]`` tensors: token ids, attention mask, and the response-token mask."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    response_mask: torch.Tensor

    def to(self, device: torch.device) -> TokenBatch:
        return TokenBatch(
            self.input_ids.to(device), self.attention_mask.to(device), self.response_mask.to(device)
        )


def encode(lm: LM, prompts: Sequence[str], responses: Sequence[str], max_length: int = 256) -> TokenBatch:
    """Tokenise each (prompt, response) into one right-padded row."""
    tok = lm.tokenizer
    end = tok.eos_token_id
    prompt_ids = tok(lm.chat(list(prompts)), add_special_tokens=False)["input_ids"]
    response_ids = tok(list(responses), add_special_tokens=False)["input_ids"]
    rows, masks = [], []
    for p, r in zip(prompt_ids, response_ids, strict=True):
        r = [*r, end]
        p = p[-max(max_length // 2, max_length - len(r)) :]  # keep the prompt's end (the question)
        r = r[: max_length - len(p)]
        rows.append(p + r)
        masks.append([0] * len(p) + [1] * len(r))
    width = max(len(x) for x in rows)
    pad = tok.pad_token_id if tok.pad_token_id is not None else end
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    response = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (row, mask) in enumerate(zip(rows, masks, strict=True)):
        ids[i, : len(row)] = torch.tensor(row)
        attention[i, : len(row)] = 1
        response[i, : len(row)] = torch.tensor(mask)
    return TokenBatch(ids, attention, response)


def encode_pairs(lm: LM, rows: Sequence[dict[str, str]], max_length: int = 256) -> TokenBatch:
    """``[2b, t]``: the b chosen sequences, then the b rejected ones."""
    prompts = [r["prompt"] for r in rows]
    return encode(lm, prompts * 2, [r["chosen"] for r in rows] + [r["rejected"] for r in rows], max_length)
