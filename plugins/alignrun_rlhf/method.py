"""``+method=rlhf``: on-policy multi-objective RLHF (MORLHF) — PPO-clip with an RLOO baseline.

Reward ``r(x, y) = Σ_v w_v · s_v(x, y)`` over the run's values that have a scorer
(``w_v = weight_v / Σ weight``), penalised by ``β · (log π_old − log π_ref)``. The policy is
the run's model with one LoRA adapter ``rlhf``; the reference is the same model with the
adapter disabled, so no second copy of the model is held. Per iteration:

1. a seeded batch of training prompts (every value's pair prompts, pooled and deduplicated);
2. k sampled responses per prompt from the current policy;
3. old-policy and reference log-probs, scorer rewards, KL-penalised rewards, RLOO advantages;
4. ``ppo_epochs`` passes of the clipped objective over minibatches, through the shared Trainer
   (one Trainer named ``rlhf``; each iteration ends with a checkpoint, so ``resume=true``
   continues at the next iteration's rollout).

Torch-free at import: torch and the training machinery are imported inside ``fit``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import Any

from alignrun.atomic import atomic_write_text
from alignrun.contracts import MethodResult
from alignrun.errors import AlignrunError
from alignrun.run import Run
from alignrun.schema import GenerationConfig
from alignrun.settings import build_settings, from_yaml, signature_from

log = logging.getLogger("alignrun")


@signature_from("method/rlhf.yaml")
class RLHF:
    """Args: see ``conf/method/rlhf.yaml`` (every knob is commented there)."""

    def __init__(
        self,
        iterations: int = from_yaml(),
        prompts_per_iteration: int = from_yaml(),
        samples_per_prompt: int = from_yaml(),
        max_new_tokens: int = from_yaml(),
        temperature: float = from_yaml(),
        generation_batch_size: int = from_yaml(),
        kl_beta: float = from_yaml(),
        clip_eps: float = from_yaml(),
        ppo_epochs: int = from_yaml(),
        normalise_advantages: bool = from_yaml(),
        aggregation: str = from_yaml(),
        lora: dict[str, Any] | None = None,
        train: dict[str, Any] | None = None,
    ) -> None:
        from alignrun.lib.training.adapters import LoraSettings
        from alignrun.lib.training.trainer import TrainSettings

        if aggregation not in ("weighted_sum", "normalize_then_sum"):
            raise AlignrunError(
                f"method.aggregation must be weighted_sum or normalize_then_sum, got '{aggregation}'"
            )
        self.aggregation = aggregation
        train = dict(train or {})
        if "steps" in train:
            raise AlignrunError(
                "method.train.steps is set by rlhf itself (iterations × ppo_epochs × minibatches); "
                "set method.iterations instead"
            )
        for knob, value, low in (
            ("iterations", iterations, 1),
            ("prompts_per_iteration", prompts_per_iteration, 1),
            ("samples_per_prompt", samples_per_prompt, 2),
            ("max_new_tokens", max_new_tokens, 1),
            ("generation_batch_size", generation_batch_size, 1),
            ("ppo_epochs", ppo_epochs, 1),
        ):
            if value < low:
                raise AlignrunError(f"method.{knob} must be >= {low}, got {value}")
        if temperature <= 0 or clip_eps <= 0 or kl_beta < 0:
            raise AlignrunError(
                f"method.temperature and method.clip_eps must be > 0 and method.kl_beta >= 0, "
                f"got {temperature}, {clip_eps}, {kl_beta}"
            )
        self.iterations, self.prompts_per_iteration, self.k = (
            iterations,
            prompts_per_iteration,
            samples_per_prompt,
        )
        self.max_new_tokens, self.temperature = max_new_tokens, temperature
        self.generation_batch_size = generation_batch_size
        self.kl_beta, self.clip_eps, self.ppo_epochs = kl_beta, clip_eps, ppo_epochs
        self.normalise_advantages = normalise_advantages
        self.lora = build_settings(LoraSettings, lora, "method.lora")
        self.train = build_settings(TrainSettings, train, "method.train")
        samples = prompts_per_iteration * samples_per_prompt
        if samples % self.train.batch_size:
            raise AlignrunError(
                f"method.train.batch_size ({self.train.batch_size}) must divide the samples per iteration, "
                f"prompts_per_iteration × samples_per_prompt = {samples}"
            )
        self.steps_per_iteration = ppo_epochs * samples // self.train.batch_size
        every = self.train.checkpoint_every
        if every % self.steps_per_iteration:
            raise AlignrunError(
                f"method.train.checkpoint_every ({every}) must be 0 or a multiple of the optimizer steps "
                f"per iteration ({self.steps_per_iteration}): a checkpoint inside an iteration could not be "
                "resumed without its rollout; every iteration already ends with one"
            )

    def fit(self, run: Run) -> MethodResult:
        from tqdm.auto import tqdm

        from alignrun.lib.training import adapters
        from alignrun.lib.training.trainer import Trainer, batch_indices
        from alignrun_rlhf.ppo import collect_rollout, ppo_objective, prompt_pool

        # the reward is each value's judge — kept apart from the scorer that evaluates it where a
        # disjoint one exists (a derived scorer's other exemplar half), so no verdict is circular
        judges = {n: run.judges.get(n) or v.scorer for n, v in run.values.items()}
        scorers = {n: s for n, s in judges.items() if s is not None}
        if not scorers:
            raise AlignrunError(
                "+method=rlhf needs a value with a scorer (the reward); none of "
                f"{', '.join(run.values)} has one"
            )
        weights = {n: float(run.values[n].weight) for n in scorers}
        for n in scorers:
            run.derived.setdefault(n, {})["reward"] = True
        pool, source = prompt_pool(run.data.train_prompts, run.data.eval_prompts, list(run.values))
        if not pool:
            raise AlignrunError(
                "+method=rlhf found no prompts: no value has preference pairs or eval prompts"
            )
        if source == "eval":
            log.warning(
                "rlhf: no value has preference pairs; training on the %d eval prompts, so the final "
                "scores are not measured on held-out prompts",
                len(pool),
            )
        else:
            log.info(
                "rlhf: %d training prompts from the values' pairs; reward from %s",
                len(pool),
                ", ".join(f"{n} (w={w / sum(weights.values()):.2f})" for n, w in weights.items()),
            )

        lm, seed = run.lm, int(run.cfg.seed)
        model = adapters.attach(lm, ["rlhf"], self.lora)
        params = adapters.train_only(model, "rlhf")
        per_iter = self.steps_per_iteration
        settings = dataclasses.replace(self.train, steps=self.iterations * per_iter, progress=False)
        trainer = Trainer(run, "rlhf", params, settings)
        if (latest := trainer.resume()) is not None:
            log.info("rlhf: resuming after iteration %d (%s)", trainer.step // per_iter, latest)
        generation = GenerationConfig(
            max_new_tokens=self.max_new_tokens,
            batch_size=self.generation_batch_size,
            do_sample=True,
            temperature=self.temperature,
            top_p=1.0,
            max_prompt_tokens=int(run.cfg.generation.max_prompt_tokens),
            progress=False,
        )

        summary: dict[str, float] = {}
        normalisation: list[dict[str, Any]] = []  # per iteration: each value's group mean and std
        first = trainer.step // per_iter
        bar = tqdm(
            range(first, self.iterations),
            initial=first,
            total=self.iterations,
            desc="rlhf",
            disable=not (self.train.progress and run.is_main_process),
        )
        for it in bar:
            t0 = time.perf_counter()
            ids = batch_indices(len(pool), it, self.prompts_per_iteration, seed)
            rollout_seed = seed * 1_000_003 + 7919 * (it + 1)  # sampling, sample layout, minibatch order
            rollout = collect_rollout(
                lm,
                [pool[i] for i in ids],
                scorers,
                weights,
                samples_per_prompt=self.k,
                generation=generation,
                seed=rollout_seed,
                kl_beta=self.kl_beta,
                normalise_advantages=self.normalise_advantages,
                settings=settings,
                aggregation=self.aggregation,
            )
            if rollout.normalisation:
                normalisation.append({"iteration": it, **rollout.normalisation})
            t1 = time.perf_counter()
            model.train()
            last = trainer.fit(
                ppo_objective(
                    lm,
                    rollout,
                    first_step=it * per_iter,
                    clip_eps=self.clip_eps,
                    settings=settings,
                    seed=rollout_seed,
                ),
                steps=(it + 1) * per_iter,
            )
            summary = rollout.summary() | {
                "rlhf/clip_frac": last.get("train/rlhf/clip_frac", 0.0),  # of the iteration's last update
                "rlhf/rollout_seconds": t1 - t0,
                "rlhf/update_seconds": time.perf_counter() - t1,
            }
            run.log(summary, step=it)
            bar.set_postfix(reward=f"{summary['rlhf/reward']:.3f}", kl=f"{summary['rlhf/kl']:.2f}")
        bar.close()
        model.eval()

        artefacts = adapters.save_adapters(run, model, ["rlhf"])
        # this process's iterations (after a resume: the ones it ran)
        if run.is_main_process and normalisation:
            file = run.output_dir / "reward_normalisation.json"
            atomic_write_text(file, json.dumps(normalisation, indent=2) + "\n")
            artefacts["reward_normalisation"] = file.name
        metrics = {k: v for k, v in summary.items() if not k.endswith("_seconds")}
        metrics[trainer.params_key] = trainer.trainable_params
        return MethodResult(
            lm=lm, intervention=adapters.AdapterMix({"rlhf": 1.0}), metrics=metrics, artefacts=artefacts
        )
