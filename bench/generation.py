"""Generation speed of the default model: tokens/s and achieved GFLOP/s against the CPU's matmul ceiling.

    HF_HUB_OFFLINE=1 python bench/generation.py [--batches 1 8 48] [--new-tokens 48] [--rounds 3]
        [--engines reference fast] [--natural] [--profile ENGINE]

Greedy ``LM.generate`` on the bundled scenarios with each ``generation.backend`` (``reference``:
transformers' ``generate`` under bf16 autocast, as alignrun ran before; ``fast``: alignrun's own loop),
every answer forced to exactly ``--new-tokens`` tokens (``min_new_tokens``) so both engines do the same
work; median of ``--rounds`` after one warm-up. ``--natural`` lets answers end at EOS instead (what runs
do) and counts the tokens actually generated. Achieved
GFLOP/s counts ``2 × parameters`` per generated token (the weight matmuls; the prompt's prefill and the
attention over the cache are not counted, so this understates the work done). The ceiling is a 2048²
matmul timed in the same run, in the dtype the run computes in: bf16 where the CPU computes it natively
(AVX512-BF16/AMX; ``autocast=auto`` then runs in bf16), else float32 (an emulated bf16 figure would take
minutes and say nothing about the run). The last line gives each engine's speed relative to the
reference at every batch size. ``--profile ENGINE`` adds a ``torch.profiler`` table of one batch.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable

import torch

from alignrun.lm import bf16_native
from alignrun.models.smollm2 import load_smollm2
from alignrun.profile.schwartz import scenarios
from alignrun.schema import GenerationConfig


def matmul_ceiling(dtype: torch.dtype, n: int = 2048, rounds: int = 10) -> float:
    """GFLOP/s of an ``n × n`` matmul in ``dtype`` (best of ``rounds``)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
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
    parser.add_argument("--engines", nargs="+", default=["reference", "fast"])
    parser.add_argument("--natural", action="store_true", help="answers end at EOS (not forced to length)")
    parser.add_argument("--profile", metavar="ENGINE", help="a torch.profiler table of one batch")
    args = parser.parse_args()
    torch.manual_seed(0)
    native = bf16_native("cpu")
    dtype = torch.bfloat16 if native else torch.float32  # what autocast="auto" computes in here
    ceiling = matmul_ceiling(dtype)
    lm = load_smollm2(autocast="auto")
    flops_per_token = 2 * sum(p.numel() for p in lm.model.parameters())
    print(
        f"CPU: {torch.get_num_threads()} threads, bf16 {'native' if native else 'not native (emulated)'}; "
        f"the run computes in {str(dtype).removeprefix('torch.')}; {str(dtype).removeprefix('torch.')} "
        f"matmul ceiling (2048^2): {ceiling:.0f} GFLOP/s; {flops_per_token / 1e9:.3f} GFLOP per token"
    )
    print("| engine | batch | median s | new tokens | tokens/s | GFLOP/s | % of ceiling | same answers |")
    print("|---|---|---|---|---|---|---|---|")
    answers: dict[int, list[str]] = {}  # the first engine's, per batch size
    speed: dict[tuple[str, int], float] = {}  # tokens/s per (engine, batch)
    for name in args.engines:
        for batch in args.batches:
            prompts = (scenarios() * 2)[:batch]
            cfg = config(args, batch, name)
            out = lm.generate(prompts, cfg)  # warm-up, and the answers compared
            call = functools.partial(lm.generate, prompts, cfg)
            median = statistics.median(_timed(call) for _ in range(args.rounds))
            tokens = sum(len(lm.tokenizer(a, add_special_tokens=False)["input_ids"]) for a in out)
            tokens = tokens if args.natural else batch * args.new_tokens
            tps = speed[name, batch] = tokens / median
            gflops = tps * flops_per_token / 1e9
            same = sum(a == b for a, b in zip(answers.setdefault(batch, out), out, strict=True))
            print(
                f"| {name} | {batch} | {median:.2f} | {tokens} | {tps:.1f} | {gflops:.1f} | "
                f"{100 * gflops / ceiling:.1f}% | {same}/{batch} |"
            )
    print(relative(speed, args.engines, args.batches))
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        batch = max(args.batches)
        prompts = (scenarios() * 2)[:batch]
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            lm.generate(prompts, config(args, batch, args.profile))
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


def relative(speed: dict[tuple[str, int], float], engines: list[str], batches: list[int]) -> str:
    """One line: each engine's tokens/s over the first engine's (the reference by default), per batch."""
    base = engines[0]
    parts = [
        f"{name}/{base}: " + ", ".join(f"batch {b} {speed[name, b] / speed[base, b]:.2f}x" for b in batches)
        for name in engines[1:]
    ]
    return "; ".join(parts) or f"one engine ({base}): nothing to compare"


def config(args: argparse.Namespace, batch: int, backend: str) -> GenerationConfig:
    """Greedy, one batch, forced to ``--new-tokens`` unless ``--natural``."""
    return GenerationConfig(
        max_new_tokens=args.new_tokens,
        min_new_tokens=0 if args.natural else args.new_tokens,
        batch_size=batch,
        progress=False,
        backend=backend,
    )


if __name__ == "__main__":
    main()
