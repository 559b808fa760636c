"""The unmodified model's answers and scores, kept in the user cache by content and reused.

In a sweep ``-m +method=none,dpo,mva,prompt_steering`` every job that may change the model measures
the base model first (the "before" of its paired comparisons), and ``none``'s final evaluation is
that very measurement plus a value profile: the same generation and scoring, once per job and again
in every later run. :func:`lookup` finds it by what decides it, :func:`store` keeps it:

- the model: a digest of its weights and buffers (bytes, so a trained copy never matches), its
  config, the tokenizer (vocabulary and chat template) and how the LM wraps prompts (system prompt,
  autocast, engine); torch and transformers versions and the device, whose numerics differ;
- the prompts, value by value, and the generation settings (not ``progress``; the seed only when
  sampling: greedy answers do not depend on it);
- every value's judge as its ``describe()`` says, and only judges it pins (a fit made here,
  :func:`alignrun.derive.scorer.pinned`): a remote or unpinned judge may score otherwise next time.

Only alignrun's own ``alignrun_generate``/``alignrun_evaluate`` and built-in engines qualify (a plugin's
hook may read anything), only an LM without adapters, forward hooks, prompt rewrites or a decoding
composition, only under no steering, only on one process. What is stored is the raw measurement
(per-prompt scores, answers, their lengths; the value profile left out: its answers are an artefact
of the run that measured it, ``profile.jsonl``); intervals are recomputed from it with the reading
run's seed. An entry is written whole (:func:`alignrun.atomic.atomic_write_text`) or not at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignrun.cache import cache_dir, keep, read_entry
from alignrun.uncertainty import Interval

if TYPE_CHECKING:
    from alignrun.evaluation import Generations, Measured
    from alignrun.lm import LM
    from alignrun.run import Run

VERSION = 1  # bump when what an evaluation computes changes: older entries are never read
log = logging.getLogger("alignrun")


@dataclass(frozen=True)
class Key:
    """Where an evaluation's entry lives (``path``) and the inputs it was keyed on."""

    path: Path
    inputs: dict[str, Any]


def key(run: Run, lm: LM, interventions: Sequence[Any], prompts: Mapping[str, list[str]]) -> Key | str:
    """The cache key of evaluating ``lm`` under ``interventions`` on ``prompts`` (value -> its
    prompts), or why such an evaluation is not reused (a sentence for results.json)."""
    why = _not_reusable(run, lm, interventions)
    if why:
        return why
    from alignrun.derive.scorer import describe_scorer, pinned

    judges = {n: describe_scorer(run.values[n].scorer) for n in prompts}
    loose = sorted(n for n, d in judges.items() if not pinned(d))
    if loose:
        return f"the judge of {', '.join(loose)} is not pinned to a local fit (describe() has no fit_sha)"
    gen = {k: v for k, v in _plain(run.cfg.generation).items() if k != "progress"}
    inputs = {
        "version": VERSION,
        "model": model_digest(lm),
        "prompts": {n: list(p) for n, p in prompts.items()},
        "generation": gen,
        "seed": int(run.cfg.seed) if gen.get("do_sample") else None,
        "judges": judges,
    }
    blob = json.dumps(inputs, sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]
    return Key(cache_dir() / "evaluations" / f"base-{digest}.json", inputs)


def lookup(k: Key) -> dict[str, Any] | None:
    """The stored measurement for ``k`` (``merged``, ``generations``, ``lengths``, ``seconds``), or None."""
    if not k.path.is_file():
        return None
    doc = read_entry(k.path, lambda: json.loads(k.path.read_text(encoding="utf-8")), "base evaluation")
    if not isinstance(doc, dict) or doc.get("inputs") != json.loads(json.dumps(k.inputs, default=str)):
        return None  # a digest collision or a foreign file: measure, and store over it
    return {
        "merged": {name: _decode(v) for name, v in doc["merged"].items()},
        "generations": doc["generations"],
        "lengths": doc["lengths"],
        "seconds": float(doc["seconds"]),
    }


def store(
    k: Key,
    merged: Mapping[str, Measured],
    generations: Mapping[str, Generations],
    lengths: Mapping[str, list[int]],
    seconds: float,
) -> None:
    """Keep a measurement under ``k`` (``merged``: the metrics a reader may get back; the caller leaves
    out the value profile and the generation speed)."""
    from alignrun.atomic import atomic_write_text

    doc = {
        "inputs": k.inputs,
        "merged": {name: _encode(v) for name, v in merged.items()},
        "generations": {n: {"prompts": g.prompts, "responses": g.responses} for n, g in generations.items()},
        "lengths": dict(lengths),
        "seconds": seconds,
    }
    text = json.dumps(doc, ensure_ascii=False, allow_nan=False, default=str)
    keep(k.path, lambda: atomic_write_text(k.path, text), "base evaluation")


def model_digest(lm: LM) -> str:
    """A digest of everything in ``lm`` that decides its answers: weights and buffers (their bytes),
    the model config, the tokenizer, the prompt wrapping, the engine, and where it computes.

    Hashing is about a second per GB of weights; the digest is kept on the LM while no parameter
    has changed since (torch bumps a tensor's version on every in-place update)."""
    import torch
    import transformers

    tensors = list(lm.model.state_dict(keep_vars=True).items())
    stamp = tuple((name, t.data_ptr(), t._version) for name, t in tensors)
    memo = lm.meta.get("_digest")
    if memo is not None and memo[0] == stamp:
        return str(memo[1])
    h = hashlib.blake2b(digest_size=20)
    for name, t in tensors:
        data = t.detach().cpu().contiguous()
        h.update(f"{name}:{data.dtype}:{tuple(data.shape)}".encode())
        h.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    tok = lm.tokenizer
    backend = getattr(tok, "backend_tokenizer", None)
    vocabulary = backend.to_str() if backend is not None else json.dumps(sorted(tok.get_vocab().items()))
    for part in (
        lm.model.config.to_json_string(use_diff=False),
        vocabulary,
        str(getattr(tok, "chat_template", None)),
        json.dumps(tok.special_tokens_map, sort_keys=True, default=str),
        json.dumps([lm.system_prompt, lm.autocast, lm.backend, lm.device.type]),
        json.dumps([torch.__version__, transformers.__version__]),
    ):
        h.update(hashlib.sha256(part.encode("utf-8")).digest())
    digest = h.hexdigest()
    lm.meta["_digest"] = (stamp, digest)
    return digest


def _not_reusable(run: Run, lm: LM, interventions: Sequence[Any]) -> str | None:
    from alignrun import distributed
    from alignrun.generation import BACKENDS
    from alignrun.interventions import NoSteering

    if not bool(run.cfg.get("reuse_base", True)):
        return "reuse_base=false"
    if distributed.world_size() > 1:
        return "several processes evaluate"
    if any(not isinstance(i, NoSteering) for i in interventions):
        return "the model is steered"
    hooks = (run.pm.hook.alignrun_generate, run.pm.hook.alignrun_evaluate)
    if any(impl.plugin_name != "alignrun.defaults" for hook in hooks for impl in hook.get_hookimpls()):
        return "a plugin generates or evaluates (its hook may read anything)"
    if (run.cfg.generation.get("backend") or lm.backend) not in BACKENDS:
        return "generation.backend is not a built-in engine"
    if lm.decoding is not None or lm.user_rewrites:
        return "the LM decodes a composition or rewrites prompts"
    if hasattr(lm.model, "peft_config") or any(
        m._forward_hooks or m._forward_pre_hooks for m in lm.model.modules()
    ):
        return "the model carries adapters or forward hooks"
    return None


def _plain(node: Any) -> dict[str, Any]:
    from omegaconf import OmegaConf

    return dict(OmegaConf.to_container(node, resolve=True))  # type: ignore[arg-type]


def _encode(v: Measured) -> dict[str, Any]:
    if isinstance(v, Interval):
        return {"interval": [v.estimate, v.lo, v.hi, v.level]}
    if isinstance(v, Sequence):
        return {"items": [float(x) for x in v]}
    return {"value": float(v)}


def _decode(d: dict[str, Any]) -> Measured:
    if "interval" in d:
        return Interval(*d["interval"])
    if "items" in d:
        return [float(x) for x in d["items"]]
    return float(d["value"])
