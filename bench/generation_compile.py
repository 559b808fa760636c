"""Would a static KV cache and ``torch.compile`` pay on this machine? Measured against the fast engine.

    HF_HUB_OFFLINE=1 python bench/generation_compile.py [--batch 48] [--new-tokens 48] [--rounds 3]

Greedy answers to the bundled scenarios, every answer forced to ``--new-tokens`` tokens, three ways:

- ``fast``: ``generation.backend=fast`` (held bf16 weights, a pre-sized dynamic-length cache);
- ``static``: transformers' ``generate`` with ``cache_implementation="static"`` (fixed shapes: attention
  runs over the whole cache, unfilled positions masked), weights held as in ``fast``, not compiled;
- ``static+compile``: the same with transformers' own compilation of the decoding forward
  (``torch.compile``, inductor, ``dynamic=False``), which it does on GPUs by default and on CPU when
  ``CompileConfig._compile_all_devices`` is set. Its first call includes the compilation.

Prints each one's first-call time, the median of ``--rounds`` calls after it, and how many answers
equal the fast engine's (which equal the reference engine's: bench/generation.py).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from alignrun.lm import LM
from alignrun.models.smollm2 import load_smollm2
from alignrun.profile.schwartz import scenarios
from alignrun.schema import GenerationConfig


def static_engine(lm: LM, prompts: list[str], new_tokens: int, compiled: bool) -> Callable[[], list[str]]:
    """transformers' ``generate`` over a static cache, compiled or not, as a no-argument call."""
    from transformers import CompileConfig

    tok = lm.tokenizer
    tok.padding_side = "left"
    enc = tok(lm.chat(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
    settings: dict[str, object] = dict(
        max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, cache_implementation="static"
    )
    if compiled:
        config = CompileConfig(fullgraph=False, dynamic=False)
        config._compile_all_devices = True  # type: ignore[assignment]  # accelerators only unless told
        settings["compile_config"] = config
    else:
        settings["disable_compile"] = True

    def call() -> list[str]:
        with torch.inference_mode(), lm.precision():
            out = lm.model.generate(**enc, **settings)
        answers = tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        return [a.strip() for a in answers]

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=48)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    lm = load_smollm2(autocast="auto")
    prompts = (scenarios() * 2)[: args.batch]
    cfg = GenerationConfig(
        max_new_tokens=args.new_tokens,
        min_new_tokens=args.new_tokens,
        batch_size=args.batch,
        progress=False,
        backend="fast",
    )
    engines: dict[str, Callable[[], list[str]]] = {
        "fast": lambda: lm.generate(prompts, cfg),
        "static": static_engine(lm, prompts, args.new_tokens, compiled=False),
        "static+compile": static_engine(lm, prompts, args.new_tokens, compiled=True),
    }
    print(f"SmolLM2-135M-Instruct, greedy, batch {args.batch}, {args.new_tokens} new tokens")
    print("| engine | first call s | median s after it | same answers as fast |")
    print("|---|---|---|---|")
    reference: list[str] = []
    for name, call in engines.items():
        start = time.perf_counter()
        answers = call()
        first = time.perf_counter() - start
        reference = reference or answers
        times = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        same = sum(a == b for a, b in zip(reference, answers, strict=True))
        print(f"| {name} | {first:.2f} | {statistics.median(times):.2f} | {same}/{args.batch} |", flush=True)


if __name__ == "__main__":
    main()
