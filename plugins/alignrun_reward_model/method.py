"""The ``reward_model`` method: a reward head per value on the run's model, nothing trained into it.

What an RLHF or best-of-n pipeline needs first (a reward model per value), and a probe of how much
of a value the model's own representation already separates: the head is linear on frozen
features, so its held-out accuracy is a lower bound on what the model "knows" about the value.
Torch-free at import (the plugin's ``__init__`` is imported on every ``--help``).
"""

from __future__ import annotations

import logging
from typing import Any

from alignrun.contracts import MethodResult
from alignrun.errors import AlignrunError
from alignrun.run import Run
from alignrun.settings import from_yaml, signature_from

log = logging.getLogger("alignrun")


@signature_from("method/reward_model.yaml")
class RewardModelMethod:
    """``+method=reward_model``; every knob is commented in ``conf/method/reward_model.yaml``.

    Args:
        model: the model whose hidden states are the features (a ``conf/model`` name or node);
            None: the run's model node, loaded as the head's own copy (``model.adapter`` included).
        l2: weight decay λ on the head.
        center_rewards_coefficient: TRL's reward centring coefficient.
        max_length: tokens per (prompt, answer).
        batch_size: texts per forward pass.
        seed: the head's starting point.
        cost: fit safe-rlhf cost heads (the pairs need ``chosen_safe``/``rejected_safe``).
        export_hf: also write each head as a Hugging Face sequence-classification model.
    """

    changes_model = False  # returns the run's model as it is: no before/after to measure
    needs = ("preference_data",)  # the core loop derives on-policy pairs for values without any

    def __init__(
        self,
        model: Any = from_yaml(),
        l2: float = from_yaml(),
        center_rewards_coefficient: float = from_yaml(),
        max_length: int = from_yaml(),
        batch_size: int = from_yaml(),
        seed: int = 0,
        cost: bool = from_yaml(),
        export_hf: bool = from_yaml(),
    ) -> None:
        from alignrun.judges.reward_head import check_settings

        check_settings(l2, center_rewards_coefficient, max_length, batch_size, "method.")
        self.model = model
        self.knobs: dict[str, Any] = {
            "l2": l2,
            "center_rewards_coefficient": center_rewards_coefficient,
            "max_length": max_length,
            "batch_size": batch_size,
            "seed": seed,
            "cost": cost,
        }
        self.export_hf = export_hf

    def fit(self, run: Run) -> MethodResult:
        from omegaconf import OmegaConf

        from alignrun.derive.pairs import judge_agreement
        from alignrun.judges.reward_head import RewardHead

        model = self.model if self.model is not None else OmegaConf.to_container(run.cfg.model, resolve=True)
        metrics: dict[str, float] = {}
        artefacts: dict[str, str] = {}
        first: RewardHead | None = None
        for name, value in run.values.items():
            pairs = run.data.pairs.get(name)
            if pairs is None or len(pairs) == 0:
                raise AlignrunError(
                    f"reward_model: value '{name}' has no training pairs (give it preference_data, "
                    "or let derive.pairs=auto derive them)"
                )
            # the first head loads the model copy; the others share it (judges only read it)
            head = (
                RewardHead(pairs, model, value=name, **self.knobs)
                if first is None
                else first.with_pairs(pairs)
            )
            head.value = name
            first = first or head
            head.fit()
            train = judge_agreement(head, pairs)
            if train is not None:
                metrics[f"reward_model/{name}/train_accuracy"] = train["accuracy"]
            held = judge_agreement(head, value.heldout_pairs)
            if held is None:
                log.warning("reward_model: value '%s' has no held-out pairs; no held-out accuracy", name)
            else:
                metrics[f"reward_model/{name}/heldout_accuracy"] = held["accuracy"]
                metrics[f"reward_model/{name}/heldout_pairs"] = held["pairs"]
            if run.is_main_process:
                folder = head.save(run.output_dir / "reward_models" / name)
                artefacts[f"reward_model/{name}"] = str(folder.relative_to(run.output_dir))
                if self.export_hf:
                    hf = head.export_hf(run.output_dir / "reward_models" / f"{name}-hf")
                    artefacts[f"reward_model/{name}/hf"] = str(hf.relative_to(run.output_dir))
        run.log(metrics)
        return MethodResult(lm=run.lm, metrics=metrics, artefacts=artefacts)
