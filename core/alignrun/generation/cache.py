"""A KV cache sized once for the whole generation, for the fast engine.

transformers' ``DynamicCache`` grows each layer by ``torch.cat`` at every step, copying the whole
cache each time (13% of a batch-48 SmolLM2 generation's CPU time once weights were held in bf16).
The fast engine knows the final length up front (prompt width + ``max_new_tokens``), so each layer
here writes into one buffer of that size and hands attention a view of the filled part: the same
keys and values, no copies. ``batch_select_indices`` (the cache API's row selection) keeps working.

Models whose layers are not all plain full attention (sliding windows, linear-attention layers) keep
the ``DynamicCache`` itself; so does a transformers without the layered cache API.
"""

from __future__ import annotations

import functools
from typing import Any

import torch


def presized_cache(model: Any, capacity: int, dtype: torch.dtype | None = None) -> Any:
    """A ``DynamicCache`` whose layers hold ``capacity`` positions each (a plain one where unsafe).

    ``dtype``: the autocast dtype the forward runs under, if any. Keys and values are stored cast
    to it: attention would cast them to it at every step anyway (RoPE leaves the keys fp32 under
    autocast), so the stored values are the ones attention used, without the per-step cast.
    """
    from transformers import DynamicCache

    layer = _presized_layer_class()
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    full = all(t == "full_attention" for t in getattr(config, "layer_types", None) or ["full_attention"])
    if layer is None or not full or getattr(config, "sliding_window", None):
        return DynamicCache()
    cache = DynamicCache()
    # the cache only calls it to make each new layer, so a partial serves as the class
    cache.layer_class_to_replicate = functools.partial(  # type: ignore[assignment]
        layer, capacity=capacity, dtype=dtype
    )
    return cache


@functools.cache
def _presized_layer_class() -> Any:
    try:
        from transformers.cache_utils import DynamicLayer
    except ImportError:
        return None
    if not hasattr(DynamicLayer, "lazy_initialization"):
        return None

    class PresizedLayer(DynamicLayer):
        """A ``DynamicLayer`` writing into a preallocated ``[batch, heads, capacity, dim]`` buffer."""

        def __init__(self, capacity: int, dtype: torch.dtype | None = None) -> None:
            super().__init__()
            self.capacity = capacity
            self.dtype = dtype
            self.length = 0

        def update(
            self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
        ) -> tuple[torch.Tensor, torch.Tensor]:
            if self.dtype is not None:
                key_states, value_states = key_states.to(self.dtype), value_states.to(self.dtype)
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
                self.key_buffer = key_states.new_empty(
                    (*key_states.shape[:2], self.capacity, key_states.shape[3])
                )
                self.value_buffer = value_states.new_empty(
                    (*value_states.shape[:2], self.capacity, value_states.shape[3])
                )
            end = self.length + key_states.shape[-2]
            if end > self.capacity:  # the engine sized it for the whole generation: a bug, not a case
                raise RuntimeError(f"KV cache sized for {self.capacity} positions got {end}")
            self.key_buffer[:, :, self.length : end] = key_states
            self.value_buffer[:, :, self.length : end] = value_states
            self.length = end
            self.keys, self.values = self.key_buffer[:, :, :end], self.value_buffer[:, :, :end]
            return self.keys, self.values

        def batch_select_indices(self, indices: torch.Tensor) -> None:
            if self.length:
                self.key_buffer, self.value_buffer = self.key_buffer[indices], self.value_buffer[indices]
                self.keys = self.key_buffer[:, :, : self.length]
                self.values = self.value_buffer[:, :, : self.length]

    return PresizedLayer
