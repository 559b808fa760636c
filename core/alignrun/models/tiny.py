"""``model=tiny``: a tiny Llama with a tokenizer and weights trained in-process (tests, smoke runs).

Nothing is downloaded: the byte-level BPE tokenizer is trained on alignrun's bundled text, the
weights are drawn from ``seed`` and then trained for ``pretrain_steps`` next-token steps on the
bundled preference pairs as chat turns. A random Llama answers every prompt with the same run of
newlines, so no test could tell a trained adapter or a steering hook from the base; after
pretraining it babbles prompt-dependent, non-empty text. The trained weights are cached per
(architecture, seed, steps) under ``<cache>/models/`` (about 10 s to train once on 2 cores, a tenth
of a second to load).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import safetensors.torch
import torch
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
from torch.nn.utils.rnn import pad_sequence
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from alignrun.atomic import atomic_write_bytes
from alignrun.cache import cache_dir, keep, read_entry
from alignrun.data.bundled import bundled_text, read_jsonl
from alignrun.lm import LM
from alignrun.settings import from_yaml, signature_from

# ChatML, the format of SmolLM2-Instruct, so prompts look alike on the tiny and the real model.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"]


def train_tokenizer(vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """Byte-level BPE over the bundled text; any string still encodes (byte fallback)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(bundled_text(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<pad>",
        unk_token="<|endoftext|>",
    )
    fast.chat_template = CHAT_TEMPLATE
    # whole-word yes/no tokens, so self-report profiles (one next-token probability each) read
    # real numbers off the tiny model instead of a constant 0 for a "yes" it cannot spell
    fast.add_tokens([AddedToken(w, single_word=True) for w in ("yes", "Yes", "No")])
    return fast


@signature_from("model/tiny.yaml")
def build_tiny(
    seed: int = 0,
    vocab_size: int = from_yaml(),
    hidden_size: int = from_yaml(),
    intermediate_size: int = from_yaml(),
    num_hidden_layers: int = from_yaml(),
    num_attention_heads: int = from_yaml(),
    num_key_value_heads: int = from_yaml(),
    max_position_embeddings: int = 1024,
    pretrain_steps: int = from_yaml(),
) -> LM:
    """Build the tiny model; same ``seed`` and ``pretrain_steps``, same weights (0 steps: random weights)."""
    tokenizer = train_tokenizer(vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        num_key_value_heads=num_key_value_heads,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    name = f"tiny-llama-{num_hidden_layers}x{hidden_size}-seed{seed}"
    if pretrain_steps > 0:
        _pretrained(model, tokenizer, seed, pretrain_steps)
        name += f"-pretrained{pretrain_steps}"
    model.eval()
    return LM(model=model, tokenizer=tokenizer, name=name)


# Bump when the recipe below changes, so cached weights are retrained (the corpus is in the key itself).
PRETRAIN_VERSION = 1
PRETRAIN_LR = 3e-3
PRETRAIN_BATCH = 16
PRETRAIN_MAX_TOKENS = 128


def _pretrained(model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, seed: int, steps: int) -> None:
    """Load ``model``'s pretrained weights from the cache, or train and cache them."""
    # the tokenizer is trained on the bundled text: weights cached for another corpus would read
    # another vocabulary of the same size, so the corpus is part of the key
    corpus = hashlib.sha256("\x00".join(bundled_text()).encode()).hexdigest()
    key = hashlib.sha256(
        json.dumps([PRETRAIN_VERSION, model.config.to_dict(), len(tokenizer), seed, steps, corpus]).encode()
    ).hexdigest()[:16]
    entry = cache_dir() / "models" / f"tiny-{key}.safetensors"
    state = read_entry(entry, lambda: _fitting(entry, model), "tiny model") if entry.is_file() else None
    if state is None:
        pretrain(model, tokenizer, seed, steps)
        # the LM head is tied to the embeddings: saving both would store one tensor twice
        state = {k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
        keep(entry, lambda: atomic_write_bytes(entry, safetensors.torch.save(state)), "tiny model")
    model.load_state_dict(state, strict=False)


def _fitting(entry: Path, model: LlamaForCausalLM) -> dict[str, torch.Tensor]:
    """The weights in ``entry``, checked against ``model``'s names and shapes before any is loaded
    (a mismatch is a corrupt entry: retrained from the seed, never trained on from half-loaded weights)."""
    state = safetensors.torch.load(entry.read_bytes())
    want = {k: v.shape for k, v in model.state_dict().items() if k != "lm_head.weight"}
    if {k: v.shape for k, v in state.items()} != want:
        raise ValueError("its tensors do not match the model's")
    return state


def chat_corpus(tokenizer: PreTrainedTokenizerFast) -> list[list[int]]:
    """Every bundled pair's prompt with its chosen and its rejected answer, as chat-formatted token ids."""
    texts = []
    for value in ("harmless", "helpful", "honest"):
        for row in read_jsonl(f"{value}.pairs.jsonl"):
            for answer in (row["chosen"], row["rejected"]):
                turns = [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": answer}]
                texts.append(tokenizer.apply_chat_template(turns, tokenize=False))
    return [tokenizer(t, add_special_tokens=False)["input_ids"][:PRETRAIN_MAX_TOKENS] for t in texts]


def pretrain(model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, seed: int, steps: int) -> None:
    """``steps`` AdamW steps of next-token loss on :func:`chat_corpus`, batches drawn from ``seed``.

    Both answers of each pair are learnt, so the tiny model sits between chosen and rejected and a
    few DPO steps can move it either way.
    """
    corpus = chat_corpus(tokenizer)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=PRETRAIN_LR)
    model.train()
    for _ in range(steps):
        rows = [
            torch.tensor(corpus[i])
            for i in torch.randint(len(corpus), (PRETRAIN_BATCH,), generator=generator)
        ]
        ids = pad_sequence(rows, batch_first=True, padding_value=tokenizer.pad_token_id)
        labels = pad_sequence(rows, batch_first=True, padding_value=-100)
        loss = model(input_ids=ids, attention_mask=(labels != -100).long(), labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
