"""``generation.backend=fast`` (the default): alignrun's own decoding loop over the model's forward.

Where the reference engine's time went (bench/generation.py --profile, SmolLM2, batch 48) and what
this engine does about it:

- fp32 weights re-cast to bf16 by autocast at every step (22% of CPU time; half of a batch-1 step):
  weights are held in bf16 for the call (:mod:`alignrun.held_weights`; the same values, so the same
  logits).
- padding: batches stay the caller's, as the reference makes them. Sorting prompts by length first
  changed 36 of 96 greedy answers on role × scenario prompts (a prompt's padding width moves bf16
  near-ties) and saved nothing measurable (10.0 s vs 10.2 s), so it is not done.
- finished rows stay in the batch (fed padding) until the last row ends, as in ``generate``. Dropping
  them (tried) changed 12 of the default run's 141 greedy eval answers — a matmul's row count changes
  its bf16 rounding — and saved nothing measurable there (16.3 s vs 16.0 s: most answers run to
  ``max_new_tokens``).
- the KV cache grew by a ``torch.cat`` of every layer at every step (13% once weights were held): it
  is sized once for the whole generation (:mod:`alignrun.generation.cache`).
- only the last position's logits are computed at prefill (``logits_to_keep=1``).

Decoding follows transformers' ``generate`` with the model's ``generation_config``: its EOS ids, its
repetition penalty and min-new-tokens, and for sampling temperature → top-k (50 unless set) → top-p,
then a multinomial draw — transformers' own logits processors, given the ids so far. A
generation_config that asks for anything else (beam search, banned words, n-gram blocking ...) is
answered by the reference engine, with a warning, so the answers never silently change meaning.
Answers, greedy and sampled, equal the reference's (tests; bench/generation.py counts them).
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from tqdm.auto import tqdm

from alignrun import interrupts
from alignrun.generation.cache import presized_cache

if TYPE_CHECKING:
    from alignrun.lm import LM
    from alignrun.schema import GenerationConfig

log = logging.getLogger("alignrun")

# generation_config fields this loop implements (or that do not change what is generated)
HANDLED = {
    "_from_model_config", "transformers_version", "use_cache", "output_attentions", "output_hidden_states",
    "output_scores", "output_logits", "return_dict_in_generate", "pad_token_id", "bos_token_id",
    "eos_token_id", "decoder_start_token_id", "do_sample", "temperature", "top_k", "top_p",
    "repetition_penalty", "max_length", "max_new_tokens", "min_new_tokens", "num_return_sequences",
    "num_beams", "cache_implementation",
}  # fmt: skip


def settings(lm: LM, cfg: GenerationConfig) -> Any | None:
    """The model's generation_config merged with ``cfg``, as ``generate`` would see it; None when
    it asks for something this loop does not implement."""
    gc = copy.deepcopy(lm.model.generation_config)
    gc.update(do_sample=cfg.do_sample, temperature=cfg.temperature, top_p=cfg.top_p)
    # transformers 5 leaves unset fields None and resolves them from these; 4.x stores the defaults
    defaults = gc._get_default_generation_params() if hasattr(gc, "_get_default_generation_params") else {}
    extra = {
        k: v
        for k, v in gc.to_diff_dict().items()
        if k not in HANDLED and v not in (None, False) and v != defaults.get(k)  # 0/False: a feature off
    }
    if gc.num_beams not in (None, 1) or gc.num_return_sequences not in (None, 1) or extra:
        log.warning(
            "generation.backend=fast does not implement %s from the model's generation_config; "
            "these prompts go to the reference engine",
            sorted(extra) or "beam search / several sequences",
        )
        return None
    gc.top_k = 50 if gc.top_k is None else gc.top_k  # transformers' default when sampling
    return gc


@torch.inference_mode()
def generate(
    lm: LM, prompts: list[str], cfg: GenerationConfig, seed: int, systems: Sequence[str | None] | None
) -> list[str]:
    """Answer each prompt (see :mod:`alignrun.generation`)."""
    if not prompts:
        return []
    gc = settings(lm, cfg)
    if gc is None and lm.decoding is not None:
        from alignrun.errors import AlignrunError

        raise AlignrunError(
            "decoding-time composition needs the fast engine, and the model's generation_config asks "
            "for what it does not implement (see the warning above)"
        )
    if gc is None:
        from alignrun.generation import reference

        return reference.generate(lm, prompts, cfg, seed, systems)
    tok = lm.tokenizer
    texts = lm.chat(prompts, systems)
    ids: list[list[int]] = tok(
        texts, truncation=True, max_length=cfg.max_prompt_tokens, add_special_tokens=False
    )["input_ids"]
    answers: list[list[int]] = []
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    was_training = lm.model.training
    lm.model.eval()
    try:
        # the caller's batches, as the reference makes them: a prompt's padding is part of its numerics
        batches = range(0, len(ids), cfg.batch_size)
        for start in tqdm(batches, desc="generate", disable=not cfg.progress or len(batches) < 2):
            interrupts.check()
            answers.extend(decode(lm, ids[start : start + cfg.batch_size], cfg, gc))
    finally:
        lm.model.train(was_training)
        torch.random.set_rng_state(generator_state)
    return [t.strip() for t in tok.batch_decode(answers, skip_special_tokens=True)]


def eos_ids(gc: Any, tok: Any) -> list[int]:
    eos = gc.eos_token_id if gc.eos_token_id is not None else tok.eos_token_id
    return [eos] if isinstance(eos, int) else list(eos or [])


def decode(lm: LM, prompts: list[list[int]], cfg: GenerationConfig, gc: Any) -> list[list[int]]:
    """Greedy or sampled continuations of one batch of token-id prompts, each up to its first EOS."""
    device = lm.device
    eos_list = eos_ids(gc, lm.tokenizer)
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else eos_list[0]
    rows = [torch.tensor(p, dtype=torch.long) for p in prompts]
    input_ids = left_pad(rows, pad).to(device)
    mask = left_pad([torch.ones_like(r) for r in rows], 0).to(device)
    width = input_ids.shape[1]
    # transformers' position ids for left padding: count real tokens, pads at 0
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
    eos = torch.tensor(eos_list, device=device)
    # the ids each row holds so far, for the logits processors; a prompt's pad stands as the row's last
    # token, so the repetition penalty counts the row's tokens, padding aside (as transformers 5's
    # generate does through prompt_ignore_length, which transformers 4 does not take)
    held = torch.where(mask.bool(), input_ids, input_ids[:, -1:])
    processors = logits_processors(gc, max(cfg.min_new_tokens, gc.min_new_tokens or 0), width, eos)
    out: list[list[int]] = [[] for _ in prompts]
    finished = torch.zeros(len(prompts), dtype=torch.bool, device=device)
    with lm.precision():
        forward = next_token_scores(lm, width + cfg.max_new_tokens)
        scores = forward(input_ids=input_ids, attention_mask=mask, position_ids=positions, logits_to_keep=1)
        for step in range(cfg.max_new_tokens):
            scores = processors(held, scores)
            if gc.do_sample:
                token = torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1).squeeze(1)
            else:
                token = scores.argmax(dim=-1)
            # a finished row is fed padding, as generate does; it keeps its place in the batch
            token = token.masked_fill(finished, pad)
            for r, (t, ended) in enumerate(zip(token.tolist(), finished.tolist(), strict=True)):
                if not ended:
                    out[r].append(t)
            finished |= torch.isin(token, eos)
            if step == cfg.max_new_tokens - 1 or bool(finished.all()):
                break
            held = torch.cat([held, token[:, None]], dim=1)
            mask = torch.cat([mask, mask.new_ones((len(token), 1))], dim=1)
            positions = positions[:, -1:] + 1
            scores = forward(input_ids=token[:, None], attention_mask=mask, position_ids=positions)
    return out


def left_pad(rows: Sequence[torch.Tensor], value: int) -> torch.Tensor:
    """``[len(rows), longest]``: the rows right-aligned, ``value`` before each.

    ``pad_sequence`` pads on the right; its ``padding_side`` needs torch 2.6 (the floor is 2.2), so
    the rows are reversed, padded and reversed back: the same tensor, integer for integer.
    """
    from torch.nn.utils.rnn import pad_sequence

    return pad_sequence([r.flip(0) for r in rows], batch_first=True, padding_value=value).flip(1)


def logits_processors(gc: Any, min_new_tokens: int, prompt_width: int, eos: torch.Tensor) -> Any:
    """transformers' processors for what ``gc`` asks, in ``generate``'s order: repetition penalty,
    then min-new-tokens, then (sampling) temperature, top-k and top-p. Called with the ids so far."""
    from transformers import (
        LogitsProcessorList,
        MinNewTokensLengthLogitsProcessor,
        RepetitionPenaltyLogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    processors = LogitsProcessorList()
    if gc.repetition_penalty not in (None, 1.0):
        processors.append(RepetitionPenaltyLogitsProcessor(float(gc.repetition_penalty)))
    if min_new_tokens > 0:
        processors.append(MinNewTokensLengthLogitsProcessor(prompt_width, min_new_tokens, eos))
    if gc.do_sample:
        if gc.temperature is not None and gc.temperature != 1.0:
            processors.append(TemperatureLogitsWarper(gc.temperature))
        if gc.top_k:
            processors.append(TopKLogitsWarper(top_k=gc.top_k))
        if gc.top_p is not None and gc.top_p < 1.0:
            processors.append(TopPLogitsWarper(top_p=gc.top_p))
    return processors


def next_token_scores(lm: LM, length: int) -> Callable[..., torch.Tensor]:
    """A forward returning ``[batch, vocab]`` float32 next-token scores, each stream with its own cache.

    One model: its last-position logits. With ``lm.decoding`` (a composition), every stream runs the
    same inputs under its own context and KV cache, and ``combine`` turns their logits into scores.
    """
    dtype = autocast_dtype(lm.device.type)
    rule = lm.decoding
    streams = list(rule.streams) if rule is not None else [None]
    # sized once for the whole generation, not grown by torch.cat each step (13% of the CPU time measured;
    # alignrun.generation.cache)
    caches = [presized_cache(lm.model, length, dtype) for _ in streams]

    def forward(**inputs: Any) -> torch.Tensor:
        logits = []
        for stream, cache in zip(streams, caches, strict=True):
            with stream(lm) if stream is not None else contextlib.nullcontext():
                out = lm.model(**inputs, **{CACHE_KWARG: cache, "use_cache": True}).logits
            logits.append(out[:, -1, :].float())
        return rule.combine(logits) if rule is not None else logits[0]

    return forward


def autocast_dtype(device_type: str) -> torch.dtype | None:
    """The dtype autocast computes in on ``device_type`` right now, None when it is off."""
    try:
        on = torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4 takes no device type
        return None
    return torch.get_autocast_dtype(device_type) if on else None


def _cache_kwarg() -> str:
    """transformers 5 renamed ``past_key_values`` to ``cache``."""
    import transformers

    return "cache" if int(transformers.__version__.split(".")[0]) >= 5 else "past_key_values"


CACHE_KWARG = _cache_kwarg()
