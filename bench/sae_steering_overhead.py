"""Generation speed with and without SAE feature steering, on the default model.

    python bench/sae_steering_overhead.py [--rounds 5] [--prompts 48] [--new-tokens 48] [--layer 15]

The steering hook adds ``coeff * W_dec[f]`` to one decoder layer's output on every forward pass
(``positions=all``, the most expensive setting). The SAE itself is never run during steering — only
its decoder row is added — so the cost is one vector add per layer call. A random unit direction
stands in for a decoder row: the cost does not depend on which vector is added. Timed: greedy
``LM.generate`` of ``--prompts`` bundled scenario prompts in one batch (the profile's batch of 48),
``--new-tokens`` each, alternating plain and steered runs ``--rounds`` times after one warm-up each;
tokens/s from the median. Goal: overhead ≤ 5%. Table in docs/methods/sae_steering.md.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from alignrun.lib.sae.intervention import FeatureSteering
from alignrun.models.smollm2 import load_smollm2
from alignrun.profile.schwartz import scenarios
from alignrun.schema import GenerationConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--prompts", type=int, default=48)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--layer", type=int, default=15)
    args = parser.parse_args()
    torch.manual_seed(0)
    lm = load_smollm2(autocast="auto")
    prompts = (scenarios() * 2)[: args.prompts]
    cfg = GenerationConfig(max_new_tokens=args.new_tokens, batch_size=args.prompts, progress=False)
    direction = torch.nn.functional.normalize(torch.randn(lm.model.config.hidden_size), dim=0)
    steer = FeatureSteering(direction, args.layer, coeff=4.0, positions="all")
    # every run decodes exactly --new-tokens: steered text might otherwise stop at another length
    lm.model.generation_config.min_new_tokens = args.new_tokens

    def run(steered: bool) -> float:
        start = time.perf_counter()
        if steered:
            with steer.apply(lm):
                lm.generate(prompts, cfg)
        else:
            lm.generate(prompts, cfg)
        return time.perf_counter() - start

    run(False), run(True)  # warm-up
    plain, steered = [], []
    for _ in range(args.rounds):
        plain.append(run(False))
        steered.append(run(True))
    tokens = args.prompts * args.new_tokens
    p, s = statistics.median(plain), statistics.median(steered)
    print(f"prompts {args.prompts} x {args.new_tokens} new tokens, layer {args.layer}, {args.rounds} rounds")
    print("| run | median s | tokens/s |")
    print("|---|---|---|")
    print(f"| plain | {p:.2f} | {tokens / p:.1f} |")
    print(f"| SAE feature steering (all positions) | {s:.2f} | {tokens / s:.1f} |")
    print(f"overhead: {100 * (s / p - 1):+.1f}% (per-round spread plain {min(plain):.2f}-{max(plain):.2f} s, "
          f"steered {min(steered):.2f}-{max(steered):.2f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
