"""Cost of producing one MVA extrapolated candidate vs one DPO training step, on the default model.

    python bench/mva_extrapolation.py [--repeats 200] [--steps 3]

A candidate ``base + Σ_i w_i θ_i`` is produced by entering ``adapters.mixed(model, weights)``
(rescaling every LoRA layer's scaling in place) and leaving it again, or — what candidate
evaluation uses, for base-speed generation — ``adapters.merged`` (folding the mixture into a
copy-restored base weight). Compared with:
- one DPO optimizer step of ``+method=mva``'s defaults (8 pairs, micro-batches of 4, bf16
  autocast, LoRA r=8 on q/k/v/o, bundled helpful pairs), median of ``--steps`` after a warm-up;
- the two ways a candidate could be made without in-place rescaling: merging a deep copy
  (``merge_and_unload``) and PEFT's ``add_weighted_adapter`` (what saving a Pareto candidate uses).
Acceptance: one candidate ≤ 1% of one training step. Table in docs/methods/mva.md.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from alignrun.config import compose
from alignrun.data.bundled import pairs
from alignrun.lib.training import adapters
from alignrun.lib.training.dpo import dpo_objective, preference_set
from alignrun.lib.training.trainer import TrainSettings
from alignrun.models.smollm2 import load_smollm2

VALUES = ("helpful", "harmless", "honest")


def median_time(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    cfg = compose(["+method=mva"])
    lm = load_smollm2(autocast="auto")
    settings = TrainSettings(**{k: v for k, v in cfg.method.train.items() if k != "progress"}, progress=False)
    model = adapters.attach(lm, list(VALUES), adapters.LoraSettings(**cfg.method.lora))
    with torch.no_grad():  # trained-looking value vectors (B starts at zero)
        for layer in adapters.lora_layers(model):
            for v in VALUES:
                layer.lora_B[v].weight.normal_(0, 1e-3)
    weights = {"helpful": 0.7, "harmless": 1.0, "honest": 0.3}

    def candidate() -> None:
        with adapters.mixed(model, weights):
            pass

    t_candidate = median_time(candidate, args.repeats)

    def folded() -> None:
        with adapters.merged(model, weights):
            pass

    t_folded = median_time(folded, max(args.repeats // 10, 3))

    def merged_copy() -> None:
        clone = copy.deepcopy(model)
        with adapters.mixed(clone, weights):
            clone.merge_and_unload()

    t_merge = median_time(merged_copy, 3)

    def weighted_adapter() -> None:
        model.base_model.add_weighted_adapter(
            list(weights), list(weights.values()), "tmp", combination_type="cat"
        )
        model.delete_adapter("tmp")

    t_weighted = median_time(weighted_adapter, 5)

    data = preference_set(lm, "helpful", [dict(r) for r in pairs("helpful")][:64], settings)
    params = adapters.train_only(model, "helpful")
    model.train()
    loss_fn = dpo_objective(lm, [(data, 1.0)], 0.1, settings, 0)
    opt = torch.optim.AdamW(params, lr=settings.lr)
    step_counter = iter(range(10**6))

    def train_step() -> None:
        step = next(step_counter)
        for start in range(0, settings.batch_size, settings.micro_batch_size):
            with lm.precision():
                loss, _ = loss_fn(step, start, start + settings.micro_batch_size)
            loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    train_step()  # warm-up
    t_step = median_time(train_step, args.steps)

    layers = len(list(adapters.lora_layers(model)))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {layers} LoRA layers")
    print("\n| operation | time | vs one training step |")
    print("|---|---|---|")
    for name, t in (
        ("one extrapolated candidate (`mixed`: rescale in place, enter + exit)", t_candidate),
        ("one candidate folded into the base weights (`merged`, what evaluation uses)", t_folded),
        ("merge a deep copy (`merge_and_unload`)", t_merge),
        ("PEFT `add_weighted_adapter` (cat) + delete", t_weighted),
        ("one DPO training step (8 pairs, bf16 autocast)", t_step),
    ):
        print(f"| {name} | {t * 1e3:.3f} ms | {100 * t / t_step:.4f}% |")


if __name__ == "__main__":
    main()
