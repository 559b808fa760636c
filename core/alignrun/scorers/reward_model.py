"""A scorer backed by any Hugging Face sequence-classification reward model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from alignrun.errors import AlignrunError


class RewardModelScorer:
    """Scores ``(prompt, response)`` with an ``AutoModelForSequenceClassification`` reward model.

    The pair is formatted with the reward model's chat template when it has one (user turn,
    assistant turn), else as ``prompt + "\\n\\n" + response``. With one output label the
    logit is the reward (the usual RLHF reward-model head); with two, the log-odds of label 1.
    A **multi-head** model (one output per objective; ArmoRM-style models return them as ``rewards``,
    others as logits) needs the head to read: ``head``, or ``heads`` (value -> head index) with the
    value's name (``judge.evaluator`` passes it), so one model can judge several values.

    Args:
        name: hub id or local folder of the reward model.
        batch_size: pairs per forward pass.
        max_length: tokens kept per pair (truncated from the left, keeping the response).
        device: ``auto``, ``cpu``, ``cuda``...
        trust_remote_code: run the checkpoint's own code; off unless you trust it.
        head: the output index to read on a multi-head model.
        heads: value -> output index; with ``value``, the head of that value.
        value: the value this scorer judges (for ``heads``).
    """

    def __init__(
        self,
        name: str,
        batch_size: int = 8,
        max_length: int = 512,
        device: str = "auto",
        trust_remote_code: bool = False,
        head: int | None = None,
        heads: Mapping[str, int] | None = None,
        value: str | None = None,
    ) -> None:
        if heads is not None:
            if value is None or value not in heads:
                raise AlignrunError(
                    f"reward model '{name}': heads maps {', '.join(map(str, heads)) or 'no value'}, "
                    f"not value '{value}'"
                )
            head = int(heads[value])
        self.head = head
        self.name = name
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self.trust_remote_code = trust_remote_code
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from alignrun.models.hf import remote_code_refused, resolve_device

        try:
            from transformers import AutoConfig

            # the config first: a checkpoint's own code is refused here, before the tokenizer fails on it
            AutoConfig.from_pretrained(self.name, trust_remote_code=self.trust_remote_code)
            self._tokenizer = AutoTokenizer.from_pretrained(
                self.name, trust_remote_code=self.trust_remote_code
            )
            self._model = AutoModelForSequenceClassification.from_pretrained(
                self.name, trust_remote_code=self.trust_remote_code
            )
        except (OSError, ValueError) as exc:
            refused = remote_code_refused(exc, self.name, "the reward model scorer's trust_remote_code")
            if refused is not None:
                raise refused from None
            where = (
                "" if Path(self.name).is_dir() else " (a hub id needs hub access; else pass a local folder)"
            )
            raise AlignrunError(
                f"could not load reward model '{self.name}'{where}: {str(exc).splitlines()[0]}"
            ) from exc
        labels = int(self._model.config.num_labels)
        if self.head is None and labels not in (1, 2):
            raise AlignrunError(
                f"reward model '{self.name}' has {labels} heads; say which this value reads "
                "(head=<index>, or heads={value: index})"
            )
        if self.head is not None and not 0 <= self.head < labels:
            raise AlignrunError(
                f"reward model '{self.name}' has {labels} head(s); head {self.head} does not exist "
                "(the value map does not match the model)"
            )
        if self._tokenizer.pad_token is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token
        self._model.config.pad_token_id = self._tokenizer.pad_token_id
        self._tokenizer.truncation_side = "left"
        self._model.to(resolve_device(self.device)).eval()

    def _format(self, prompt: str, response: str) -> str:
        if getattr(self._tokenizer, "chat_template", None):
            messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
            return str(self._tokenizer.apply_chat_template(messages, tokenize=False))
        return f"{prompt}\n\n{response}"

    @torch.inference_mode()
    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        if self._model is None:
            self._load()
        texts = [self._format(p, r) for p, r in zip(prompts, responses, strict=True)]
        out: list[float] = []
        device = next(self._model.parameters()).device
        for start in range(0, len(texts), self.batch_size):
            enc = self._tokenizer(
                texts[start : start + self.batch_size],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self.max_length,
            ).to(device)
            output = self._model(**enc)
            rewards = getattr(output, "rewards", None)  # ArmoRM-style: one reward per objective
            logits = (rewards if rewards is not None else output.logits).float()  # [b, heads]
            if self.head is None:
                reward = logits[:, 0] if logits.shape[1] == 1 else logits[:, 1] - logits[:, 0]
            elif self.head < logits.shape[1]:
                reward = logits[:, self.head]
            else:
                raise AlignrunError(
                    f"reward model '{self.name}' returned {logits.shape[1]} rewards; head {self.head} "
                    "does not exist (the value map does not match the model)"
                )
            out.extend(reward.tolist())
        return out
