"""Generation engines: what answers every prompt of a run, behind ``LM.generate``.

An engine is a function ``(lm, prompts, cfg, seed, systems) -> answers``: it formats each prompt
with ``lm.chat`` (``systems`` gives each its own system text), answers under ``cfg`` (a
:class:`~alignrun.config.GenerationConfig`), seeds sampling with ``seed`` and leaves the global RNG
as it found it, and returns one stripped answer per prompt, in order, special tokens removed. It
runs the model through its ordinary forward, so forward hooks (SAE feature steering), prompt
interventions and adapter mixes apply whatever the engine.

``generation.backend`` picks one: ``fast`` (:mod:`alignrun.generation.fast`, the default),
``reference`` (:mod:`alignrun.generation.reference`, transformers' ``generate`` as alignrun ran it
before; the yardstick the fast engine is tested against), or ``package.module:function`` for an
engine of your own (a vLLM engine on a GPU box, say) without a change here.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from alignrun.errors import AlignrunError

if TYPE_CHECKING:
    from alignrun.lm import LM
    from alignrun.schema import GenerationConfig

Engine = Callable[["LM", list[str], "GenerationConfig", int, "Sequence[str | None] | None"], list[str]]

BACKENDS = {
    "fast": "alignrun.generation.fast:generate",
    "reference": "alignrun.generation.reference:generate",
}


def check_backend(backend: str) -> None:
    """Fail early on a ``generation.backend`` that cannot name an engine, importing nothing heavy.

    Raises:
        AlignrunError: neither a built-in name nor ``module:function`` of a module that exists.
    """
    if backend in BACKENDS:
        return
    module_name, _, attr = backend.partition(":")
    if not attr:
        raise AlignrunError(
            f"generation.backend '{backend}' is not an engine: choose {' or '.join(BACKENDS)}, "
            "or give package.module:function"
        )
    try:
        found = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise AlignrunError(f"generation.backend '{backend}': no module named {module_name}")


@functools.lru_cache(maxsize=16)
def engine(backend: str) -> Engine:
    """The engine ``backend`` names: a key of :data:`BACKENDS` or ``module:function``.

    Raises:
        AlignrunError: an unknown name, a module that does not import, a missing function.
    """
    check_backend(backend)
    module_name, _, attr = BACKENDS.get(backend, backend).partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AlignrunError(f"generation.backend '{backend}': cannot import {module_name} ({exc})") from exc
    found = getattr(module, attr, None)
    if not callable(found):
        raise AlignrunError(f"generation.backend '{backend}': {module_name} has no function {attr}")
    return found
