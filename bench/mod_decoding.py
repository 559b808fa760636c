"""What decoding-time composition (``+method=mod``) costs per token against one model, on SmolLM2.

    HF_HUB_OFFLINE=1 python bench/mod_decoding.py [--batch 48] [--new-tokens 48] [--rounds 3]

Greedy answers to the bundled scenarios, every answer forced to ``--new-tokens`` tokens, with the
fast engine, five ways: the base model; one LoRA adapter folded into the weights (how MVA and the
soup evaluate a candidate); one adapter active, unfolded; and MOD compositions of two and three
adapters (one forward per adapter per token, each with its own KV cache). The adapters are fresh
LoRA r=8 adapters with random B (training does not change their cost). Prints the median of
``--rounds`` calls after a warm-up call, and seconds per generated token.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import torch

from alignrun.lib.training.adapters import LoraSettings, attach, merged, mixed
from alignrun.models.smollm2 import load_smollm2
from alignrun.profile.schwartz import scenarios
from alignrun.schema import GenerationConfig
from alignrun_mod.decoding import Composition


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=48)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    lm = load_smollm2()
    names = ["v0", "v1", "v2"]
    model = attach(lm, names, LoraSettings())
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.01)
    model.eval()
    prompts = (scenarios() * 4)[: args.batch]
    cfg = GenerationConfig(
        max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, batch_size=args.batch, progress=False
    )
    ways: dict[str, Callable[[], AbstractContextManager[object]]] = {
        "base model": lambda: model.disable_adapter(),
        "one adapter, folded": lambda: merged(model, {"v0": 1.0}),
        "one adapter, unfolded": lambda: mixed(model, {"v0": 1.0}),
        "mod, 2 adapters": lambda: Composition({"v0": 0.5, "v1": 0.5}).apply(lm),
        "mod, 3 adapters": lambda: Composition(dict.fromkeys(names, 1 / 3)).apply(lm),
    }
    tokens = args.batch * args.new_tokens
    print(f"batch {args.batch}, {args.new_tokens} new tokens, {torch.get_num_threads()} threads")
    print("| way | seconds (median) | ms per token | × base |")
    print("|---|---|---|---|")
    base = None
    for label, context in ways.items():
        times = []
        for _ in range(args.rounds + 1):
            with context():
                t = time.perf_counter()
                lm.generate(prompts, cfg)
                times.append(time.perf_counter() - t)
        median = statistics.median(times[1:])
        base = base or median
        print(f"| {label} | {median:.2f} | {1000 * median / tokens:.2f} | {median / base:.2f} |")


if __name__ == "__main__":
    main()
