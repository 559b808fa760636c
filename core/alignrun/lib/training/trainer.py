"""One LoRA training loop for every method: seeded batches, accumulation, autocast, checkpoints, resume.

A method supplies ``loss_fn(step, start, stop)`` returning the summed loss of positions
``[start, stop)`` of step ``step``'s global batch, divided by the global batch size, plus
metrics. Which examples those positions are is the method's business (usually
:func:`batch_indices`), so the batch order is a pure function of (seed, step); so are the random
draws inside a step (LoRA dropout, anything a loss samples: :func:`step_seed`). Resuming needs only the
step number, the adapter weights and the optimizer state, and ends bit-equal to an uninterrupted
run on CPU; a phase trains the same whatever phases ran before it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import shutil
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from tqdm.auto import tqdm

from alignrun import distributed, interrupts
from alignrun.atomic import atomic_write_dir
from alignrun.errors import AlignrunError
from alignrun.run import Run
from alignrun.run_dir import refuse_changes, training_settings
from alignrun.settings import check_fields, defaults_from, from_yaml, ranged

LossFn = Callable[[int, int, int], tuple[torch.Tensor, dict[str, float]]]
log = logging.getLogger("alignrun")
KEEP_CHECKPOINTS = 2  # per phase; the newest resumes, the one before survives a crash mid-write


@dataclass
@defaults_from("method/train/default.yaml")  # the one home of its defaults
class TrainSettings:
    """The ``method.train`` node.

    Args:
        steps: optimizer steps.
        batch_size: pairs (or samples) per optimizer step, over all ranks and micro-batches.
        micro_batch_size: pairs per forward/backward on one rank (memory knob; results do not change).
        lr: AdamW learning rate (LoRA likes higher rates than full fine-tuning).
        warmup_steps: linear warm-up, then constant.
        weight_decay: AdamW weight decay.
        max_grad_norm: gradient-norm clip (0: off).
        max_length: tokens per sequence (prompt + response).
        checkpoint_every: save a resumable checkpoint every N steps (0: only at the end).
        progress: tqdm bar.
    """

    # not in the YAML: each method's own budget (dpo and mva set it, rlhf derives it); this is Python's
    steps: int = ranged(60, ge=1)  # 0 would publish the untrained adapter as a result
    batch_size: int = from_yaml(ge=1)
    micro_batch_size: int = from_yaml(ge=1)
    lr: float = from_yaml(gt=0)
    warmup_steps: int = from_yaml(ge=0)
    weight_decay: float = from_yaml(ge=0)
    max_grad_norm: float = from_yaml(ge=0)
    max_length: int = from_yaml(ge=2)  # a prompt token and a response token at least
    checkpoint_every: int = from_yaml(ge=0)
    progress: bool = from_yaml()

    def __post_init__(self) -> None:
        check_fields(self, "method.train")
        if self.batch_size % self.micro_batch_size:
            raise AlignrunError(
                f"method.train.batch_size ({self.batch_size}) must be a multiple of "
                f"micro_batch_size ({self.micro_batch_size})"
            )


def batch_indices(n: int, step: int, batch_size: int, seed: int) -> list[int]:
    """Example ids of step ``step``'s global batch: epochs of seeded permutations of ``range(n)``."""
    if n <= 0:
        raise AlignrunError("no training examples")
    start = step * batch_size
    out: list[int] = []
    while len(out) < batch_size:
        epoch, offset = divmod(start + len(out), n)
        order = list(range(n))
        random.Random(seed * 1_000_003 + epoch).shuffle(order)
        out.extend(order[offset : offset + batch_size - len(out)])
    return out


def step_seed(seed: int, phase: str, step: int, rank: int = 0) -> int:
    """The torch seed of one optimizer step of one phase: its dropout masks (and any sampling) depend
    on the run's seed and where the step is, not on how much the global RNG was drawn before it — so
    a resumed phase, or one whose earlier phases were loaded instead of trained, draws the same."""
    return zlib.crc32(f"{seed}/{phase}/{step}/{rank}".encode())


def _state_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """AdamW state as flat tensors (safetensors) plus the JSON-able rest — no pickle."""
    sd = opt.state_dict()
    tensors = {
        f"state.{i}.{k}": v
        for i, st in sd["state"].items()
        for k, v in st.items()
        if isinstance(v, torch.Tensor)
    }
    return tensors, {"param_groups": sd["param_groups"]}


def _load_state(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        _, i, k = key.split(".", 2)
        state.setdefault(int(i), {})[k] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


class Trainer:
    """Trains ``params`` (one adapter's LoRA weights) with ``loss_fn``.

    Args:
        run: the run (seed, autocast policy of ``run.lm``, logging, output dir, resume flag).
        name: names the training phase: checkpoints go to ``<run dir>/checkpoints/<name>/``,
            metrics are prefixed ``train/<name>/``.
        params: the trainable parameters.
        settings: the ``method.train`` settings.
    """

    def __init__(
        self, run: Run, name: str, params: Sequence[torch.nn.Parameter], settings: TrainSettings
    ) -> None:
        if not params:
            raise AlignrunError(f"training '{name}': no trainable parameters")
        if settings.batch_size % (settings.micro_batch_size * distributed.world_size()):
            raise AlignrunError(
                f"method.train.batch_size ({settings.batch_size}) must be a multiple of micro_batch_size "
                f"({settings.micro_batch_size}) × ranks ({distributed.world_size()})"
            )
        self.run, self.name, self.params, self.settings = run, name, list(params), settings
        self.opt = torch.optim.AdamW(self.params, lr=settings.lr, weight_decay=settings.weight_decay)
        # Accelerate wraps this phase's model and optimizer for the launcher's engine (DDP, FSDP,
        # DeepSpeed; on one process both come back as they were). Each phase prepares afresh: methods
        # switch which adapter is trainable between phases, and DDP registers the trainable
        # parameters when it wraps. The scheduler is not prepared: accelerate would step it once per
        # rank, and the schedule is per optimizer step here.
        self.accelerator = distributed.accelerator()
        self.accelerator.free_memory()  # one phase trains at a time: drop the earlier phases' wrappers
        self.model, self.prepared_opt = self.accelerator.prepare(run.lm.model, self.opt)
        warmup = max(settings.warmup_steps, 0)
        # not transformers' get_constant_schedule_with_warmup: its first step has lr 0, which spends a
        # whole optimizer step (~5 s on SmolLM2 here) on nothing; this ramp reaches lr at step `warmup`
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: min(1.0, (s + 1) / (warmup + 1)))
        self.dir = run.output_dir / "checkpoints" / name
        self.step = 0

    # -- checkpoints -----------------------------------------------------------------
    def save(self) -> Path:
        """Write a checkpoint of the current step atomically; returns its folder."""
        target = self.dir / f"step-{self.step:06d}"
        if not self.run.is_main_process:
            return target

        def write(folder: Path) -> None:
            tensors, meta = _state_tensors(self.opt)
            tensors.update({f"param.{i}": p.detach().clone() for i, p in enumerate(self.params)})
            safetensors.torch.save_file(tensors, folder / "state.safetensors")
            meta.update(
                step=self.step, scheduler=self.sched.state_dict(), settings=training_settings(self.run.cfg)
            )
            (folder / "trainer_state.json").write_text(json.dumps(meta, default=float))

        atomic_write_dir(target, write)  # a dot-named temp folder: resume's step-* glob never sees it
        for old in sorted(self.dir.glob("step-*"))[:-KEEP_CHECKPOINTS]:  # resume needs only the newest
            shutil.rmtree(old, ignore_errors=True)
        self.run.hook.alignrun_checkpoint_saved(run=self.run, path=target, step=self.step)
        return target

    def resume(self) -> Path | None:
        """With ``resume=true``: restore the newest checkpoint that loads, falling back to the one
        kept before it when the newest is corrupt (a warning says so). Returns what was restored.

        Raises:
            AlignrunError: the checkpoint was written with settings that differ from this run's.
        """
        if not self.run.cfg.get("resume"):
            return None
        found = sorted(self.dir.glob("step-*"), reverse=True) if self.dir.is_dir() else []
        for path in found:
            try:
                meta = json.loads((path / "trainer_state.json").read_text())
                if "settings" in meta:  # before any weight moves: a refusal is not a corrupt file
                    refuse_changes(meta["settings"], training_settings(self.run.cfg), str(path))
                self.restore(path, meta)
                return path
            except AlignrunError:
                raise
            except Exception as exc:  # truncated or garbled files: the previous checkpoint may load
                log.warning(
                    "checkpoint %s does not load (%s: %s); falling back to the one before it",
                    path,
                    type(exc).__name__,
                    str(exc)[:200],
                )
        if found:
            raise AlignrunError(f"training '{self.name}': no checkpoint in {self.dir} loads; start a new run")
        return None

    def restore(self, path: Path, meta: dict[str, Any] | None = None) -> None:
        tensors = safetensors.torch.load_file(path / "state.safetensors")
        if meta is None:
            meta = json.loads((path / "trainer_state.json").read_text())
        if any(f"param.{i}" not in tensors for i in range(len(self.params))):
            raise ValueError("state.safetensors lacks some of the adapter's parameters")
        with torch.no_grad():
            for i, p in enumerate(self.params):
                p.copy_(tensors.pop(f"param.{i}"))
        _load_state(self.opt, tensors, meta)
        self.sched.load_state_dict(meta["scheduler"])
        self.step = int(meta["step"])

    # -- the loop --------------------------------------------------------------------
    def fit(self, loss_fn: LossFn, steps: int | None = None) -> dict[str, float]:
        """Train to ``steps`` (default ``settings.steps``); resumes from the latest checkpoint
        when the run was started with ``resume=true``. Returns the last step's metrics."""
        total = self.settings.steps if steps is None else steps
        self.resume()
        s = self.settings
        world, rank = distributed.world_size(), distributed.rank()
        per_rank = s.batch_size // world
        last: dict[str, float] = {}
        bar = tqdm(
            total=total,
            initial=self.step,
            desc=f"train {self.name}",
            disable=not (s.progress and self.run.is_main_process),
        )
        acc = self.accelerator
        starts = range(rank * per_rank, (rank + 1) * per_rank, s.micro_batch_size)
        seed = int(self.run.cfg.seed)
        while self.step < total:
            interrupts.check()  # a Ctrl-C swallowed on its way ends the run here (alignrun.interrupts)
            torch.manual_seed(step_seed(seed, self.name, self.step, rank))
            metrics: dict[str, float] = {}
            for start in starts:
                # gradients are synchronised once per step, at its last micro-batch
                sync = contextlib.nullcontext() if start == starts[-1] else acc.no_sync(self.model)
                with sync:
                    with self.run.lm.precision(), _forward_through(self.run.lm, self.model):
                        loss, parts = loss_fn(self.step, start, start + s.micro_batch_size)
                    if not torch.isfinite(loss):
                        raise AlignrunError(
                            f"training '{self.name}': loss is {loss.item()} at step {self.step}; "
                            "lower method.train.lr or check the data"
                        )
                    # each rank's loss is its share of the global batch mean; the engine averages
                    # gradients over ranks, so × ranks makes that average the global batch's gradient
                    acc.backward(loss * world)
                for k, v in parts.items():
                    metrics[k] = metrics.get(k, 0.0) + v
            if world > 1:  # every rank's share of the batch, summed: the global batch's metrics
                names = sorted(metrics)
                shares = torch.tensor([metrics[k] for k in names], device=acc.device)  # nccl: on the GPU
                total_parts = acc.reduce(shares, reduction="sum")
                metrics = dict(zip(names, total_parts.tolist(), strict=True))
            if s.max_grad_norm > 0:
                norm = acc.clip_grad_norm_(self.params, s.max_grad_norm)
                if norm is not None:  # None under DeepSpeed, which clips by its own config
                    metrics["grad_norm"] = float(norm)
            self.prepared_opt.step()
            self.sched.step()
            self.prepared_opt.zero_grad(set_to_none=True)
            self.step += 1
            metrics["lr"] = float(self.sched.get_last_lr()[0])
            last = {f"train/{self.name}/{k}": v for k, v in metrics.items()}
            self.run.log(last, step=self.step)
            bar.update(1)
            if s.checkpoint_every and self.step % s.checkpoint_every == 0 and self.step < total:
                self.save()
        bar.close()
        self.save()
        # a method's cost in the sweep report; once, not in every step's log line
        last[self.params_key] = self.trainable_params
        return last

    @property
    def params_key(self) -> str:
        return f"train/{self.name}/trainable_params"

    @property
    def trainable_params(self) -> float:
        """How many weights this trainer trains (the sweep report's cost column)."""
        return float(sum(p.numel() for p in self.params))


@contextlib.contextmanager
def _forward_through(lm: Any, model: Any) -> Iterator[None]:
    """``lm.model`` is the engine's wrapper of it for the block, so a loss's forward passes go
    through the wrapper (DDP synchronises gradients only for forwards through it)."""
    if model is lm.model:
        yield
        return
    inner, lm.model = lm.model, model
    try:
        yield
    finally:
        lm.model = inner
