"""Self-report value profiles on the default model: log-prob scoring vs generate-then-parse.

    python bench/self_report_modes.py [--repeats 2]

Both modes score the same 120 bundled questionnaire items under the same autocast policy
(``model.autocast=auto``). Reports wall time per mode (best of ``--repeats``), the speed
ratio, the Spearman rank correlation of the 10 value scores, and item-level agreement
(same sign of the item's P(yes) - 0.5). The table goes to docs/values.md.
"""

from __future__ import annotations

import argparse
import time

import torch

from alignrun.models.smollm2 import load_smollm2
from alignrun.profile.schwartz import schwartz_values
from alignrun.profile.self_report import aggregate, generate_p_yes, item_prompts, logprob_p_yes


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's ρ (average ranks for ties)."""

    def ranks(x: list[float]) -> torch.Tensor:
        t = torch.tensor(x)
        order = t.argsort()
        r = torch.empty_like(t)
        r[order] = torch.arange(len(x), dtype=t.dtype)
        for v in t.unique():  # average tied ranks
            r[t == v] = r[t == v].mean()
        return r

    ra, rb = ranks(a), ranks(b)
    return float(torch.corrcoef(torch.stack([ra, rb]))[0, 1])


def timed(fn, repeats: int):  # type: ignore[no-untyped-def]
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=6, help="generate-then-parse answer length")
    args = parser.parse_args()

    lm = load_smollm2()
    values = schwartz_values()
    prompts, keys = item_prompts(values)
    logprob_p_yes(lm, prompts[: args.batch_size], args.batch_size)  # warm-up (first-call allocations)
    t_lp, p_lp = timed(lambda: logprob_p_yes(lm, prompts, args.batch_size), args.repeats)
    t_gen, p_gen = timed(
        lambda: generate_p_yes(lm, prompts, args.batch_size, max_new_tokens=args.max_new_tokens), args.repeats
    )
    names = list(values)
    s_lp, s_gen = aggregate(keys, p_lp, names), aggregate(keys, p_gen, names)
    agree = sum((a - 0.5) * (b - 0.5) > 0 for a, b in zip(p_lp, p_gen, strict=True)) / len(prompts)
    parsed = sum(p != 0.5 for p in p_gen) / len(prompts)
    threads = torch.get_num_threads()
    print(f"model {lm.name}, {len(prompts)} items, autocast {lm.autocast}, torch threads {threads}")
    print("| mode | seconds | items/s |")
    print("|---|---|---|")
    print(f"| logprob | {t_lp:.2f} | {len(prompts) / t_lp:.1f} |")
    print(f"| generate ({args.max_new_tokens} tokens) | {t_gen:.2f} | {len(prompts) / t_gen:.1f} |")
    print(f"\nspeed ratio generate/logprob: {t_gen / t_lp:.2f}x")
    rho = spearman([s_lp[n] for n in names], [s_gen[n] for n in names])
    print(f"Spearman rho of the 10 value scores: {rho:.2f}")
    print(f"item-level sign agreement: {agree:.2f}; generate answers parsed as yes/no: {parsed:.2f}")
    print("| value | logprob | generate |")
    print("|---|---|---|")
    for n in names:
        print(f"| {n} | {s_lp[n]:+.3f} | {s_gen[n]:+.3f} |")


if __name__ == "__main__":
    main()
