"""Steering with an SAE feature: add ``coeff * W_dec[f]`` to the residual stream at one layer.

An ``Intervention``: ``with FeatureSteering(...).apply(lm): ...`` registers one forward hook on
decoder layer ``layer`` (its output is SAELens's ``blocks.L.hook_resid_post``) and always removes it
on exit. ``positions="prompt"`` steers only the prompt's positions — the forward passes over more
than one token, i.e. the prompt pass of ``generate`` with a KV cache; ``positions="all"`` also steers
every generated token.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from alignrun.errors import AlignrunError
from alignrun.lib.sae.activations import layer_module
from alignrun.lm import LM
from alignrun.settings import from_yaml, signature_from

POSITIONS = ("prompt", "all")


class FeatureSteering:
    """Add ``coeff * direction`` (``[d_model]``) to layer ``layer``'s output.

    Args:
        direction: the steering vector, usually an SAE decoder row ``W_dec[f]`` (unit norm).
        layer: the decoder layer whose output is steered.
        coeff: the multiple added; negative steers away from the feature.
        positions: ``prompt`` or ``all`` (see the module docstring).
        name: how reports call this setting (``feature:123@+8``).
        feature: the SAE feature whose decoder row ``direction`` is, if it is one.
    """

    def __init__(
        self,
        direction: torch.Tensor,
        layer: int,
        coeff: float,
        positions: str = "all",
        name: str | None = None,
        feature: int | None = None,
    ) -> None:
        if positions not in POSITIONS:
            raise AlignrunError(f"steering positions must be prompt or all, got '{positions}'")
        if direction.dim() != 1:
            raise AlignrunError(
                f"a steering direction is one vector [d_model], got shape {tuple(direction.shape)}"
            )
        self.direction = direction.detach().float()
        self.layer, self.coeff, self.positions = layer, float(coeff), positions
        self.name = name or f"direction@{coeff:+g}"
        self.feature = feature

    @contextmanager
    def apply(self, lm: LM) -> Iterator[LM]:
        module = layer_module(lm, self.layer)
        if self.direction.numel() != lm.model.config.hidden_size:
            raise AlignrunError(
                f"steering direction has {self.direction.numel()} dims, the model's residual stream "
                f"{lm.model.config.hidden_size}: the SAE belongs to another model"
            )
        delta = (self.coeff * self.direction).to(lm.device)

        def hook(_module: Any, _inputs: Any, output: Any) -> Any:
            hidden = output[0] if isinstance(output, tuple) else output
            if self.positions == "prompt" and hidden.shape[1] == 1:
                return None  # a decode step: only the prompt pass is steered
            steered = hidden + delta.to(hidden.dtype)
            return (steered, *output[1:]) if isinstance(output, tuple) else steered

        handle = module.register_forward_hook(hook)
        try:
            yield lm
        finally:
            handle.remove()


@signature_from("steering/sae_feature.yaml")
class SAEFeature(FeatureSteering):
    """``steering=sae_feature steering.sae=<folder> steering.feature=<f> steering.coeff=<c>``.

    Steers with one feature of a SAELens-format SAE (e.g. the ``sae/`` folder a ``sae_steering`` run
    saved), at the layer its ``hook_name`` names. ``coeff`` is in the residual stream's own units
    (decoder rows have unit norm); ``sae_steering`` reports the value it chose as ``sae/chosen_coeff``.
    """

    def __init__(self, sae: str, feature: int, coeff: float, positions: str = from_yaml()) -> None:
        from alignrun.lib.sae.format import load_sae, sae_layer

        model, cfg = load_sae(sae)
        if not 0 <= feature < model.d_sae:
            raise AlignrunError(f"steering.feature must be in 0..{model.d_sae - 1}, got {feature}")
        name = f"feature:{feature}@{coeff:+g}"
        super().__init__(model.W_dec[feature], sae_layer(cfg), coeff, positions, name, feature)
