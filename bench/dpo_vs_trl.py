"""DPO optimizer-step throughput: alignrun's training machinery against TRL's ``DPOTrainer``, in one run.

    python bench/dpo_vs_trl.py                # SmolLM2-135M, 3 warm-up + 10 timed steps (~5 min on 2 cores)
    python bench/dpo_vs_trl.py --model tiny   # the tiny model: checks that everything runs
    python bench/dpo_vs_trl.py --threads 1    # robust to other work on the machine (see below)
    python bench/dpo_vs_trl.py --trl nogc,precompute --steps 5

Both sides train the same base model (a fresh copy each) on the same batches: the first N bundled
``harmless`` pairs, prompts chat-formatted by ``LM.chat``, in alignrun's seeded batch order (TRL reads
them sequentially), so step k of each side sees the same token sequences (the table shows the mean
tokens per sequence of each). Same LoRA (r=8, α=16, dropout 0 on q/k/v/o_proj), 4 pairs per optimizer
step in one micro-batch, ``max_length`` 128, the same constant learning rate, AdamW, gradient-norm clip
1.0, and bf16 autocast where the hardware computes bf16 natively. A step's time is the time between the
ends of consecutive optimizer steps (data, forward, backward, clip, AdamW, bookkeeping): wall-clock,
and the CPU time of the process. The table reports medians over the timed steps. Reference log-probs,
which alignrun computes once before training, are timed separately.

TRL variants (``--trl``): ``default`` is ``DPOTrainer``'s defaults (a reference forward every step;
gradient checkpointing on), ``nogc`` the same without gradient checkpointing (alignrun does not
checkpoint), ``precompute`` ``precompute_ref_log_probs=True`` without checkpointing (TRL's counterpart of
alignrun's cached reference).

Other work on the machine: the load average is printed before and after; wall times are only
meaningful when it stays below the core count. With several torch threads, a thread that loses its
core stalls the others at every parallel region, so a busy machine inflates wall times by several
times and erratically. ``--threads 1`` avoids that: CPU time per step then measures the work done and
hardly moves with the load, so its TRL/alignrun ratio stays comparable.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from alignrun.hookspecs import hookimpl
from alignrun.lib.training.adapters import LoraSettings, lora_config
from alignrun.lm import LM, bf16_native

TRL_VARIANTS = {  # name -> (precompute_ref_log_probs, gradient_checkpointing, label)
    "default": (False, True, "TRL `DPOTrainer` defaults (reference forward each step, grad. checkpointing)"),
    "nogc": (False, False, "TRL, `gradient_checkpointing=False`"),
    "precompute": (True, False, "TRL, `precompute_ref_log_probs=True`, `gradient_checkpointing=False`"),
}
ALIGNRUN = "alignrun `Trainer` + `dpo_objective` (reference cached)"
SEED = 0  # alignrun batch order (single set: its seed is the objective's seed), LoRA init, TRL seed

Mark = tuple[float, float]  # (wall, process CPU) seconds


def mark() -> Mark:
    return time.perf_counter(), time.process_time()


@dataclass
class Result:
    """One configuration's per-step wall and CPU times (timed steps only) and its one-off costs."""

    label: str
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    setup: dict[str, float] = field(default_factory=dict)
    tokens_per_seq: float = 0.0
    total: float = 0.0  # wall seconds of all training steps, warm-up included

    def add_steps(self, marks: list[Mark], warmup: int) -> None:
        """Append the timed steps between consecutive ``marks`` (the first is the start of training)."""
        pairs = list(itertools.pairwise(marks))[warmup:]
        self.wall += [b[0] - a[0] for a, b in pairs]
        self.cpu += [b[1] - a[1] for a, b in pairs]
        self.total += marks[-1][0] - marks[0][0]


def load(model: str) -> LM:
    """A fresh copy of the base model, bf16 autocast where native."""
    if model == "tiny":
        from alignrun.models.tiny import build_tiny

        lm = build_tiny()
        lm.autocast = "auto"
        return lm
    from alignrun.models.smollm2 import load_smollm2

    return load_smollm2(autocast="auto")


def bundled_rows(n: int) -> list[dict[str, str]]:
    from alignrun.data.bundled import read_jsonl

    return [
        {k: r[k] for k in ("prompt", "chosen", "rejected")} for r in read_jsonl("harmless.pairs.jsonl")[:n]
    ]


class StepClock:
    """An ``alignrun_log`` plugin: marks the end of each optimizer step (the Trainer logs once per step)."""

    def __init__(self) -> None:
        self.marks: list[Mark] = []

    @hookimpl
    def alignrun_log(self, run: Any, metrics: dict[str, float], step: int | None) -> None:
        if step is not None:
            self.marks.append(mark())


def bench_alignrun(args: argparse.Namespace, rows: list[dict[str, str]], workdir: Path, out: Result) -> str:
    """Train with alignrun's Trainer; adds to ``out``; returns a description of the model."""
    from omegaconf import OmegaConf

    from alignrun.data import RunData
    from alignrun.interventions import NoSteering
    from alignrun.lib.training import adapters
    from alignrun.lib.training.batching import encode_pairs
    from alignrun.lib.training.dpo import dpo_objective, preference_set
    from alignrun.lib.training.trainer import Trainer, TrainSettings
    from alignrun.plugins import get_plugin_manager
    from alignrun.run import Run

    lm = load(args.model)
    torch.manual_seed(SEED)
    model = adapters.attach(lm, ["bench"], LoraSettings())
    params = adapters.train_only(model, "bench")
    settings = TrainSettings(
        steps=args.warmup + args.steps,
        batch_size=args.batch,
        micro_batch_size=args.batch,
        lr=args.lr,
        warmup_steps=0,
        max_length=args.max_length,
        progress=False,
    )
    start = time.perf_counter()
    data = preference_set(lm, "harmless", rows, settings)  # reference log-probs, once
    out.setup["reference log-probs, once (s)"] = time.perf_counter() - start

    pm = get_plugin_manager(autoload=False)
    clock = StepClock()
    pm.register(clock, name="bench-clock")
    run = Run(
        cfg=OmegaConf.create({"seed": 0, "resume": False}),
        lm=lm,
        values={},
        data=RunData(),
        method=None,  # type: ignore[arg-type]  # the Trainer never reads it
        steering=NoSteering(),
        output_dir=workdir / "alignrun",
        pm=pm,
    )
    model.train()
    trainer = Trainer(run, "bench", params, settings)
    clock.marks.append(mark())
    trainer.fit(dpo_objective(lm, [(data, 1.0)], args.beta, settings, seed=SEED))
    out.add_steps(clock.marks, args.warmup)

    out.tokens_per_seq = float(encode_pairs(lm, rows, args.max_length).attention_mask.sum(1).float().mean())
    bf16 = isinstance(lm.precision(), torch.autocast)
    return f"{lm.name} on {lm.device.type}, bf16 autocast: {bf16}"


def bench_trl(
    args: argparse.Namespace, rows: list[dict[str, str]], workdir: Path, variant: str, out: Result
) -> None:
    """Train with TRL's DPOTrainer (``variant`` of :data:`TRL_VARIANTS`); adds to ``out``."""
    from datasets import Dataset
    from transformers import PrinterCallback, TrainerCallback
    from trl import DPOConfig, DPOTrainer

    from alignrun.lib.training.trainer import batch_indices

    precompute, checkpointing, _ = TRL_VARIANTS[variant]
    marks: list[Mark] = []

    class Clock(TrainerCallback):
        def on_train_begin(self, *_: Any, **__: Any) -> None:
            marks.append(mark())

        def on_step_end(self, *_: Any, **__: Any) -> None:
            marks.append(mark())

    lm = load(args.model)
    lora = LoraSettings()
    peft_config = lora_config(lora)  # the exact adapter config alignrun trains
    # prompts formatted as alignrun formats them, and the pairs in alignrun's batch order (read sequentially),
    # so both sides train on the same token sequences in the same batches
    order = [
        i
        for step in range(args.warmup + args.steps)
        for i in batch_indices(len(rows), step, args.batch, SEED)
    ]
    dataset = Dataset.from_list([{**rows[i], "prompt": lm.chat([rows[i]["prompt"]])[0]} for i in order])
    config = DPOConfig(
        output_dir=str(workdir / f"trl-{variant}"),
        beta=args.beta,
        loss_type=["sigmoid"],
        learning_rate=args.lr,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        optim="adamw_torch",
        per_device_train_batch_size=args.batch,
        gradient_accumulation_steps=1,
        max_steps=args.warmup + args.steps,
        max_length=args.max_length,
        precompute_ref_log_probs=precompute,
        gradient_checkpointing=checkpointing,
        bf16=bf16_native(lm.device.type),
        use_cpu=lm.device.type == "cpu",
        report_to=[],
        logging_strategy="no",
        save_strategy="no",
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        disable_tqdm=True,
        seed=SEED,
        train_sampling_strategy="sequential",
    )
    start = time.perf_counter()
    trainer = DPOTrainer(
        model=lm.model,
        args=config,
        train_dataset=dataset,
        processing_class=lm.tokenizer,
        peft_config=peft_config,
        callbacks=[Clock()],
    )
    key = "init: tokenise + reference log-probs, once (s)" if precompute else "init: tokenise (s)"
    out.setup[key] = time.perf_counter() - start
    trainer.remove_callback(PrinterCallback)  # it prints the end-of-training metrics
    trainer.train()
    out.add_steps(marks, args.warmup)
    tokenized: Any = trainer.train_dataset  # a tokenised map-style Dataset here
    columns = (tokenized["prompt_ids"], tokenized["chosen_ids"], tokenized["rejected_ids"])
    lengths = [
        min(args.max_length, len(p) + len(c)) for p, cs, rs in zip(*columns, strict=True) for c in (cs, rs)
    ]
    out.tokens_per_seq = sum(lengths) / len(lengths)


def bench_floors(args: argparse.Namespace, rows: list[dict[str, str]]) -> dict[str, Mark]:
    """Median (wall, CPU) seconds of one step's model passes alone: what bounds a step.

    An alignrun step needs one policy forward+backward over the 2·batch sequences of a step (plus AdamW
    on the LoRA weights); TRL adds a no-grad reference forward unless it precomputes, and computes
    log-probs with its fused LM head (``trl.trainer.utils.add_fused_lm_head``, patched in here as
    ``DPOTrainer`` patches it, with the per-token metrics ``DPOTrainer`` asks it for).
    """
    from trl.trainer.utils import add_fused_lm_head

    from alignrun.lib.training import adapters
    from alignrun.lib.training.batching import TokenBatch, encode_pairs
    from alignrun.lib.training.logprobs import sequence_logps

    lm = load(args.model)
    torch.manual_seed(SEED)
    model = adapters.attach(lm, ["floor"], LoraSettings())
    adapters.train_only(model, "floor")
    model.train()
    starts = range(0, max(1, min(3, len(rows) // args.batch)) * args.batch, args.batch)
    batches = [encode_pairs(lm, rows[i : i + args.batch], args.max_length).to(lm.device) for i in starts]

    def timed(fn: Any) -> Mark:
        fn(batches[0])  # warm-up
        walls, cpus = [], []
        for k in range(3):
            start = mark()
            fn(batches[k % len(batches)])
            end = mark()
            walls.append(end[0] - start[0])
            cpus.append(end[1] - start[1])
        return statistics.median(walls), statistics.median(cpus)

    def logps(batch: TokenBatch, fused: bool) -> torch.Tensor:
        if not fused:
            return sequence_logps(model, batch)
        labels = batch.input_ids.masked_fill(batch.response_mask == 0, -100)
        out = model(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            labels=labels,
            fused_lm_head=True,
            use_cache=False,
        )
        return out.log_probs.sum(-1)

    def forward_backward(batch: TokenBatch, fused: bool = False) -> None:
        with lm.precision():
            loss = logps(batch, fused).sum()
        loss.backward()
        model.zero_grad(set_to_none=True)

    def reference_forward(batch: TokenBatch, fused: bool = False) -> None:
        with torch.no_grad(), model.disable_adapter(), lm.precision():
            logps(batch, fused)

    found = {
        "policy forward+backward, full logits + cross-entropy (alignrun)": timed(forward_backward),
        "no-grad reference forward, full logits + cross-entropy (alignrun: once per pair)": timed(
            reference_forward
        ),
    }
    add_fused_lm_head(model.get_base_model(), outputs=("log_probs", "entropy", "mean_logits", "is_top1"))
    found["policy forward+backward, TRL fused LM head"] = timed(lambda b: forward_backward(b, fused=True))
    found["no-grad reference forward, TRL fused LM head"] = timed(lambda b: reference_forward(b, fused=True))
    return found


def quiet() -> None:
    """No progress bars, deprecation notes or per-run metric dumps between the timings."""
    import datasets
    import transformers

    os.environ.setdefault("TQDM_DISABLE", "1")
    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*pin_memory.*")


def table(results: list[Result]) -> str:
    base = results[0]
    lines = [
        "| configuration | wall s / step | min–max | TRL / alignrun (wall) | CPU s / step "
        "| TRL / alignrun (CPU) | tokens / seq |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        wall, cpu = statistics.median(r.wall), statistics.median(r.cpu)
        if r is base:
            ratios = ("1 (baseline)", "1 (baseline)")
        else:
            ratios = (
                f"{wall / statistics.median(base.wall):.2f}×",
                f"{cpu / statistics.median(base.cpu):.2f}×",
            )
        lines.append(
            f"| {r.label} | {wall:.2f} | {min(r.wall):.2f}–{max(r.wall):.2f} | {ratios[0]} | {cpu:.2f} | "
            f"{ratios[1]} | {r.tokens_per_seq:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="DPO step throughput: alignrun vs TRL's DPOTrainer")
    parser.add_argument("--model", choices=["smollm2", "tiny"], default="smollm2")
    parser.add_argument("--warmup", type=int, default=3, help="untimed optimizer steps first (>= 1)")
    parser.add_argument("--steps", type=int, default=10, help="timed optimizer steps")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every configuration, in turn")
    parser.add_argument("--batch", type=int, default=4, help="pairs per optimizer step")
    parser.add_argument(
        "--pairs", type=int, default=None, help="training pairs (default: warmup+steps batches)"
    )
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument(
        "--trl", default=",".join(TRL_VARIANTS), help=f"TRL variants: {','.join(TRL_VARIANTS)}"
    )
    args = parser.parse_args()
    if args.warmup < 1:
        parser.error("--warmup must be >= 1: the first step's time includes one-off work")
    variants = [v for v in args.trl.split(",") if v]
    if unknown := sorted(set(variants) - set(TRL_VARIANTS)):
        parser.error(f"unknown --trl variants {unknown}; choose from {', '.join(TRL_VARIANTS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    quiet()
    rows = bundled_rows(args.pairs or (args.warmup + args.steps) * args.batch)

    loads = [os.getloadavg()[0]]
    print(
        f"load average (1 min) before: {loads[0]:.2f}; {os.cpu_count()} cores, {torch.get_num_threads()} "
        "torch threads",
        flush=True,
    )
    results = [Result(ALIGNRUN), *(Result(TRL_VARIANTS[v][2]) for v in variants)]
    about = ""
    with tempfile.TemporaryDirectory(prefix="dpo-bench-") as tmp:
        for round_ in range(args.rounds):
            for name, result in zip(["alignrun", *variants], results, strict=True):
                workdir = Path(tmp) / f"round{round_}"
                steps_before = len(result.wall)
                if name == "alignrun":
                    about = bench_alignrun(args, rows, workdir, result)
                else:
                    bench_trl(args, rows, workdir, name, result)
                loads.append(os.getloadavg()[0])
                new = result.wall[steps_before:]
                print(
                    f"{name}: median {statistics.median(new):.2f} s/step (wall), steps "
                    + " ".join(f"{s:.2f}" for s in new)
                    + f"; load now {loads[-1]:.2f}",
                    flush=True,
                )
                gc.collect()

    print("floors ...", flush=True)
    floors = bench_floors(args, rows)
    loads.append(os.getloadavg()[0])

    print(
        f"\nmodel: {about}; {len(rows)} pairs, {args.batch} pairs per step, max_length {args.max_length}; "
        f"{args.rounds} round(s) of {args.warmup} warm-up + {args.steps} timed steps; "
        f"{torch.get_num_threads()} torch threads\n"
    )
    print(table(results))
    print()
    for r in results:
        for k, v in {**r.setup, "all training steps, warm-up included (s)": r.total}.items():
            print(f"- {r.label}: {k}: {v:.2f}")
    print(f"\nOne step's model passes alone ({2 * args.batch} sequences; median of 3 batches):\n")
    print("| pass | wall s | CPU s |\n|---|---|---|")
    for k, (wall, cpu) in floors.items():
        print(f"| {k} | {wall:.2f} | {cpu:.2f} |")
    print(
        f"\nload average (1 min) before, after each configuration, after the floors: "
        f"{' '.join(f'{x:.2f}' for x in loads)}"
    )


if __name__ == "__main__":
    main()
