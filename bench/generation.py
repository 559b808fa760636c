"""Generation speed of the default model: tokens/s and achieved GFLOP/s against the bf16 matmul ceiling.

    HF_HUB_OFFLINE=1 python bench/generation.py [--batches 1 8 48] [--new-tokens 48] [--rounds 3] [--profile]

Issue 14's measuring stick, measured first: greedy ``LM.generate`` (the reference engine: transformers'
``generate`` under bf16 autocast) on the bundled scenarios, every run forced to decode exactly
``--new-tokens`` (``min_new_tokens``), median of ``--rounds`` after one warm-up. Achieved GFLOP/s counts
``2 × parameters`` per generated token (the weight matmuls; attention over the cache is small at these
lengths). The ceiling is a 2048² bf16 matmul timed in the same run. ``--profile`` adds a
``torch.profiler`` table of one batch (where the milliseconds go). Engines to compare go in ``ENGINES``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from alignrun.config import GenerationConfig
from alignrun.lm import LM
from alignrun.models.smollm2 import load_smollm2
from alignrun.profile.schwartz import scenarios

Engine = Callable[[LM, list[str], GenerationConfig], list[str]]
ENGINES: dict[str, Engine] = {
    "reference": lambda lm, prompts, cfg: lm.generate(prompts, cfg),
}


def matmul_ceiling(n: int = 2048, rounds: int = 10) -> float:
    """GFLOP/s of an ``n × n`` bf16 matmul (best of ``rounds``)."""
    a, b = torch.randn(n, n, dtype=torch.bfloat16), torch.randn(n, n, dtype=torch.bfloat16)
    a @ b  # warm-up
    best = min(_timed(lambda: a @ b) for _ in range(rounds))
    return 2 * n**3 / best / 1e9


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 48])
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    ceiling = matmul_ceiling()
    lm = load_smollm2(autocast="auto")
    lm.model.generation_config.min_new_tokens = args.new_tokens  # every row decodes the same length
    flops_per_token = 2 * sum(p.numel() for p in lm.model.parameters())
    print(f"bf16 matmul ceiling (2048^2): {ceiling:.0f} GFLOP/s; {flops_per_token / 1e9:.3f} GFLOP per token")
    print("| engine | batch | median s | tokens/s | GFLOP/s | % of ceiling |")
    print("|---|---|---|---|---|---|")
    for name, engine in ENGINES.items():
        for batch in args.batches:
            prompts = (scenarios() * 2)[:batch]
            cfg = GenerationConfig(max_new_tokens=args.new_tokens, batch_size=batch, progress=False)

            def once(
                engine: Engine = engine, prompts: list[str] = prompts, cfg: GenerationConfig = cfg
            ) -> float:
                return _timed(lambda: engine(lm, prompts, cfg))

            once()  # warm-up
            median = statistics.median(once() for _ in range(args.rounds))
            tps = batch * args.new_tokens / median
            gflops = tps * flops_per_token / 1e9
            share = 100 * gflops / ceiling
            print(f"| {name} | {batch} | {median:.2f} | {tps:.1f} | {gflops:.1f} | {share:.1f}% |")
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        batch = max(args.batches)
        prompts = (scenarios() * 2)[:batch]
        cfg = GenerationConfig(max_new_tokens=args.new_tokens, batch_size=batch, progress=False)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            lm.generate(prompts, cfg)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


if __name__ == "__main__":
    main()
