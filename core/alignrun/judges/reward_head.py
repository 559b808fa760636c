"""A Bradley–Terry reward head on the LM itself: a linear probe on its frozen last hidden state.

The reward model of TRL's ``RewardTrainer`` and safe-rlhf's reward/cost models, with the backbone
frozen: the answer ``y`` to prompt ``x`` is chat-formatted (user turn, assistant turn), run through
the model once, and its feature ``h(x, y)`` is the final-layer hidden state (after the final norm)
at the last non-pad token — exactly how ``LlamaForSequenceClassification`` pools, so the head
exported as such a model (:meth:`RewardHead.export_hf`) gives the same logits. The reward is
``r = w · h + b``, with ``(w, b)`` minimising, over the training pairs,

    L = -mean log σ(r_c - r_r) + c · mean((r_c + r_r)²) + λ‖w‖²

(Bradley & Terry 1952; Ouyang et al. 2022, eq. 1; the centring term is TRL's
``center_rewards_coefficient``, Eisenstein et al. 2023) with L-BFGS on features computed once.
Scores are ``tanh(r / 2)`` = ``2σ(r) - 1`` in (-1, 1), ``r`` centred on the training answers.

The cost form (safe-rlhf, Dai et al. 2024, eq. 6): a cost ``c = -r`` whose sign also means
something. Where a pair's answers carry ``chosen_safe``/``rejected_safe`` labels, the loss adds
``-mean log σ(s · c)`` over the labelled answers, ``s = +1`` unsafe, ``-1`` safe, so that cost < 0
reads "safe" (:meth:`RewardHead.safe_rate`); the reward is then not re-centred.

The head loads its **own** copy of the model (from a config node or a ``conf/model`` name): methods
fold adapters into and steer the run's model while judges score, and a judge that moved with the
model it judges would measure nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import safetensors.torch
import torch

from alignrun.atomic import atomic_write_bytes, atomic_write_dir
from alignrun.cache import cache_dir, keep, read_entry
from alignrun.errors import AlignrunError
from alignrun.settings import from_yaml, signature_from

if TYPE_CHECKING:
    from alignrun.lm import LM

FEATURES_VERSION = "last-hidden/rightmost-non-pad/1"  # bump when features() changes: refits cached heads
FORMAT_VERSION = 1  # of a saved head's folder (reward_head.json)
SAFETY_COLUMNS = ("chosen_safe", "rejected_safe")


def loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor, c: float) -> torch.Tensor:
    """The Bradley–Terry loss with TRL's reward centring (``center_rewards_coefficient``).

    ``-mean log σ(r_c - r_r) + c · mean((r_c + r_r)²)``; the centring term keeps rewards near 0
    where only their differences are identified (Eisenstein et al. 2023, "Helping or Herding?").

    Args:
        r_chosen: rewards of the chosen answers, shape ``[n]``.
        r_rejected: rewards of the rejected answers, shape ``[n]``.
        c: the centring coefficient (0: plain Bradley–Terry).
    """
    bt = -torch.nn.functional.logsigmoid(r_chosen - r_rejected).mean()
    return bt + c * (r_chosen + r_rejected).pow(2).mean()


def sign_loss(costs: torch.Tensor, unsafe: torch.Tensor) -> torch.Tensor:
    """safe-rlhf's cost sign term ``-mean log σ(s · cost)``, ``s = +1`` unsafe, ``-1`` safe.

    safe-rlhf sums the term of both answers of a pair (twice this mean when every answer is
    labelled); the mean keeps its weight independent of how many answers carry labels.

    Args:
        costs: costs of the labelled answers, shape ``[m]``.
        unsafe: whether each answer is unsafe, shape ``[m]`` (bool).
    """
    sign = torch.where(unsafe, 1.0, -1.0).to(costs.dtype)
    return -torch.nn.functional.logsigmoid(sign * costs).mean()


def model_node(model: Any) -> dict[str, Any]:
    """A resolved ``model`` config node as a plain dict, from a node, a dict, a ``conf/model``
    option name (``"tiny"``, ``"smollm2"``) or a local Hugging Face model folder (``model=hf``).

    Raises:
        AlignrunError: a name that is no ``conf/model`` option.
    """
    from omegaconf import DictConfig, OmegaConf

    if isinstance(model, DictConfig):
        return dict(OmegaConf.to_container(model, resolve=True))  # type: ignore[arg-type]
    if isinstance(model, Mapping):
        return dict(OmegaConf.to_container(OmegaConf.create(dict(model)), resolve=True))  # type: ignore[arg-type]
    if not isinstance(model, str):
        raise AlignrunError(f"RewardHead: model must be a config node or a model name, not {model!r:.60}")
    folder = Path(model).expanduser()
    if folder.is_dir():  # a downloaded HF model folder
        overrides = ["model=hf", f"model.name='{folder}'"]
    else:
        from alignrun.config import installed_options

        options = installed_options("model")
        if model not in options:
            raise AlignrunError(
                f"RewardHead: no model '{model}' (choose one of {', '.join(options)}, "
                "pass a local model folder or a model config node)"
            )
        overrides = [f"model={model}"]
    return dict(OmegaConf.to_container(_compose(overrides).model, resolve=True))  # type: ignore[arg-type]


def _compose(overrides: list[str]) -> Any:
    """alignrun's config with ``overrides``; inside a running Hydra app (the CLI) through its own
    compose, which ``initialize_config_module`` would refuse."""
    from hydra.core.global_hydra import GlobalHydra

    from alignrun.config import CONFIG_NAME, compose

    if GlobalHydra.instance().is_initialized():
        from hydra import compose as hydra_compose

        return hydra_compose(config_name=CONFIG_NAME, overrides=overrides)
    return compose(overrides)


FEATURE_MEMO = 20_000  # remembered feature rows per model copy (~90 MB at SmolLM2's width in float64)
_FEATURES: dict[str, dict[str, torch.Tensor]] = {}

# the model copies heads hold, by model node: judges of several values (judge=reward_head, the
# reward_model method) load one copy, released with the last head using it
_COPIES: weakref.WeakValueDictionary[str, LM] = weakref.WeakValueDictionary()


def _load_copy(node: dict[str, Any]) -> LM:
    """A fresh LM built from ``node``, its tokenizer set to pad right and truncate left."""
    from omegaconf import OmegaConf

    from alignrun.models.adapter import build_lm

    lm = build_lm(OmegaConf.create(node))
    lm.model.eval()
    tok = lm.tokenizer
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    # right padding keeps each row's positions those of its unpadded text (Llama counts positions
    # from 0 whatever the mask), as RewardModelScorer reads an export; left truncation keeps the answer
    tok.padding_side, tok.truncation_side = "right", "left"
    return lm


def _digest(obj: Any, n: int = 24) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


@signature_from("judge/reward_head.yaml", "evaluator")
class RewardHead:
    """A judge: a reward head on an LM's frozen last hidden state, fitted on preference pairs lazily.

    Args:
        pairs: rows or a ``datasets.Dataset`` with ``prompt``, ``chosen``, ``rejected`` (and, for
            the cost form, optional booleans ``chosen_safe``/``rejected_safe``).
        model: the LM whose hidden states are the features: a ``model`` config node (dict), a
            ``conf/model`` option name (``tiny``, ``smollm2``) or a local HF model folder. Its own
            copy is loaded; a name is composed with the default ``seed`` (0).
        l2: weight decay λ on ``w``; larger is smoother, less fitted to the training pairs.
        center_rewards_coefficient: TRL's ``c``: adds ``c · mean((r_c + r_r)²)`` to the loss.
        max_length: tokens kept per (prompt, answer), truncated from the left (the answer stays).
        batch_size: texts per forward pass.
        seed: seeds the head's starting point (the objective is convex: fits from other seeds agree
            to the optimiser's tolerance); part of the cache key.
        cost: the safe-rlhf cost form (module docstring): needs safety labels on some answers.
        value: the value it judges, recorded in :meth:`describe` and saved folders.
    """

    score_range = (-1.0, 1.0)  # tanh(reward / 2)

    def __init__(
        self,
        pairs: Any,
        model: Any = from_yaml(),
        l2: float = from_yaml(),
        center_rewards_coefficient: float = from_yaml(),
        max_length: int = from_yaml(),
        batch_size: int = from_yaml(),
        seed: int = 0,
        cost: bool = False,
        value: str | None = None,
    ) -> None:
        check_settings(l2, center_rewards_coefficient, max_length, batch_size)
        self.pairs = pairs
        self.model = model
        self.l2 = float(l2)
        self.center_rewards_coefficient = float(center_rewards_coefficient)
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.cost = bool(cost)
        self.value = value
        self._node: dict[str, Any] | None = None
        self._lm: LM | None = None
        self._weight: torch.Tensor | None = None  # [d], float64
        self._offset = 0.0  # the reward's constant: r = w · h + offset (bias minus the centring)
        self._fit_sha: str | None = None

    # ------------------------------------------------------------------ settings and identity

    def settings(self) -> dict[str, Any]:
        """The fit's knobs (saved folders, cache keys, :meth:`describe`)."""
        return {
            "l2": self.l2,
            "center_rewards_coefficient": self.center_rewards_coefficient,
            "max_length": self.max_length,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "cost": self.cost,
        }

    @property
    def node(self) -> dict[str, Any]:
        """The resolved model config node the features come from."""
        if self._node is None:
            self._node = model_node(self.model)
        return self._node

    @property
    def lm(self) -> LM:
        """This head's own copy of the model, never the run's (loaded on first use; heads on the same
        model node share one copy while any of them lives: they only read it)."""
        if self._lm is None:
            key = _digest(self.node)
            lm = _COPIES.get(key)
            if lm is None:
                lm = _load_copy(self.node)
                _COPIES[key] = lm
            self._lm = lm
        return self._lm

    def _rows(self) -> list[dict[str, Any]]:
        if self.pairs is None:
            raise AlignrunError("this RewardHead was loaded without its pairs; it cannot be refitted")
        rows = []
        for i, r in enumerate(self.pairs):
            row: dict[str, Any] = {k: str(r[k]) for k in ("prompt", "chosen", "rejected")}
            for k in SAFETY_COLUMNS:
                label = r.get(k) if isinstance(r, Mapping) else None
                if label is not None and not isinstance(label, (bool, int)):
                    raise AlignrunError(
                        f"RewardHead: pair {i}: {k} must be true, false or null, not {label!r}"
                    )
                row[k] = None if label is None else bool(label)
            rows.append(row)
        if not rows:
            raise AlignrunError("RewardHead needs at least one preference pair")
        if self.cost and all(r[k] is None for r in rows for k in SAFETY_COLUMNS):
            raise AlignrunError(
                "a cost head needs safety labels: rows with chosen_safe/rejected_safe (safe-rlhf); "
                "without them its threshold 0 means nothing"
            )
        return rows

    def _key(self, rows: list[dict[str, Any]]) -> str:
        return _digest([FEATURES_VERSION, self.node, self.lm.name, rows, self.settings()])

    def describe(self) -> dict[str, Any]:
        """What this judge is and what it was fitted on (results.json ``verdicts``/``judges``)."""
        node = self.node
        model = self.model if isinstance(self.model, str) else node.get("name") or node.get("_target_")
        out: dict[str, Any] = {
            "kind": "CostHead" if self.cost else "RewardHead",
            "model": str(model),
            "model_config_sha": _digest(node, 12),
            **self.settings(),
        }
        if self.value is not None:
            out["value"] = self.value
        if self.pairs is not None:
            rows = self._rows()
            out["pairs"] = len(rows)
            out["fit_sha"] = _digest([FEATURES_VERSION, node, rows, self.settings()], 12)
        elif self._fit_sha is not None:
            out["fit_sha"] = self._fit_sha
        return out

    def with_pairs(self, rows: Any) -> RewardHead:
        """An unfitted copy with the same settings on other pairs (cross-fitting); it shares this
        head's model copy, which judges only read."""
        other = type(self)(rows, self.model, cost=self.cost, value=self.value, **_knobs(self.settings()))
        other._node, other._lm = self._node, self._lm
        return other

    # ------------------------------------------------------------------ features and fitting

    def _format(self, prompt: str, response: str) -> str:
        tok = self.lm.tokenizer
        if getattr(tok, "chat_template", None):
            messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
            return str(tok.apply_chat_template(messages, tokenize=False))
        return f"{prompt}\n\n{response}"

    @torch.no_grad()  # not inference_mode: the fit takes gradients through products with these
    def features(self, prompts: Sequence[str], responses: Sequence[str]) -> torch.Tensor:
        """``h(x, y)``: the last hidden state at the rightmost non-pad token, shape ``[n, d]``, float64
        on the CPU (the pooling of ``LlamaForSequenceClassification``, so an export matches)."""
        lm = self.lm
        texts = [self._format(p, r) for p, r in zip(prompts, responses, strict=True)]
        # text -> features, shared by every head on this model copy: a run checks one answer with
        # several heads and probes (the ensemble's member, the trainer twin, the validity report)
        memo = _FEATURES.setdefault(f"{_digest(self.node)}-{self.max_length}", {})
        if len(memo) + len(texts) > FEATURE_MEMO:  # before reading it: what is missing is then all
            memo.clear()
        missing = sorted({t for t in texts if t not in memo}, key=len)  # similar lengths: less padding
        for text, row in zip(missing, self._forward(missing), strict=True):
            memo[text] = row
        width = lm.model.config.get_text_config().hidden_size
        return torch.stack([memo[t] for t in texts]) if texts else torch.zeros(0, width, dtype=torch.float64)

    def _forward(self, texts: Sequence[str]) -> torch.Tensor:
        """The features of formatted texts, batch by batch."""
        lm = self.lm
        backbone = getattr(lm.model, lm.model.base_model_prefix)  # the decoder, final norm included
        pad = lm.tokenizer.pad_token_id
        out = []
        for start in range(0, len(texts), self.batch_size):
            enc = lm.tokenizer(
                list(texts[start : start + self.batch_size]),
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self.max_length,
            ).to(lm.device)
            hidden = backbone(input_ids=enc.input_ids, attention_mask=enc.attention_mask).last_hidden_state
            positions = torch.arange(enc.input_ids.shape[1], device=hidden.device)
            last = (positions * (enc.input_ids != pad)).argmax(-1)  # [b]
            out.append(hidden[torch.arange(len(last), device=hidden.device), last].double().cpu())
        width = lm.model.config.get_text_config().hidden_size
        return torch.cat(out) if out else torch.zeros(0, width, dtype=torch.float64)

    def fit(self) -> None:
        """Fit the head (called by the first score), or load it from ``<cache>/judges/``.

        The key hashes the model (its resolved config and name), the pairs, the settings, the
        seed and :data:`FEATURES_VERSION`: a change to any refits.
        """
        rows = self._rows()
        key = self._key(rows)
        entry = cache_dir() / "judges" / f"reward-head-{key}.safetensors"
        state = (
            read_entry(entry, lambda: safetensors.torch.load(entry.read_bytes()), "reward head")
            if entry.is_file()
            else None
        )
        if state is None:
            weight, offset = fit_head(self._features_of(rows), **self._fit_args())
            state = {"weight": weight, "offset": torch.tensor(offset, dtype=torch.float64)}
            keep(entry, lambda: atomic_write_bytes(entry, safetensors.torch.save(state)), "reward head")
        self._weight, self._offset = state["weight"], float(state["offset"])
        self._fit_sha = self.describe().get("fit_sha")

    def _fit_args(self) -> dict[str, Any]:
        return {
            "l2": self.l2,
            "c": self.center_rewards_coefficient,
            "seed": self.seed,
            "centre": not self.cost,
        }

    def _features_of(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        prompts = [r["prompt"] for r in rows]
        feats = {
            "chosen": self.features(prompts, [r["chosen"] for r in rows]),
            "rejected": self.features(prompts, [r["rejected"] for r in rows]),
        }
        if self.cost:  # answers with a safety label: their features and whether they are unsafe
            labelled = [
                (r["prompt"], r[a], r[f"{a}_safe"])
                for r in rows
                for a in ("chosen", "rejected")
                if r[f"{a}_safe"] is not None
            ]
            feats["labelled"] = self.features([p for p, _, _ in labelled], [y for _, y, _ in labelled])
            feats["unsafe"] = torch.tensor([not safe for _, _, safe in labelled], dtype=torch.bool)
        return feats

    # ------------------------------------------------------------------ scoring

    def reward(self, prompts: Sequence[str], responses: Sequence[str]) -> torch.Tensor:
        """``r(x, y) = w · h + offset`` (unbounded, float64), shape ``[n]``; centred on the training
        answers for a reward head, the cost's negative for a cost head."""
        if self._weight is None:
            self.fit()
        assert self._weight is not None
        return self.features(prompts, responses) @ self._weight + self._offset

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        """``tanh(r / 2)`` per answer: above 0, more like the chosen answers (cost head: safe)."""
        if not responses:
            return []
        return [float(s) for s in torch.tanh(self.reward(prompts, responses) / 2)]

    def cost_of(self, prompts: Sequence[str], responses: Sequence[str]) -> torch.Tensor:
        """The cost ``c = -r`` (safe-rlhf's sign: above 0 unsafe), shape ``[n]``."""
        return -self.reward(prompts, responses)

    def safe_rate(self, prompts: Sequence[str], responses: Sequence[str]) -> float:
        """The share of answers whose cost is below 0 (a cost head only: its 0 was fitted to labels).

        Raises:
            AlignrunError: a reward head (its 0 is the training answers' mean, not a safety line).
        """
        if not self.cost:
            raise AlignrunError("safe_rate needs a cost head (RewardHead(..., cost=True) or CostHead)")
        if not responses:
            return float("nan")
        return float((self.cost_of(prompts, responses) < 0).double().mean())

    # ------------------------------------------------------------------ saving, loading, export

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted head as a folder: ``head.safetensors`` (``weight`` ``[d]``, ``offset``)
        and ``reward_head.json`` (model node, settings, value, format version); atomically."""
        if self._weight is None:
            self.fit()
        assert self._weight is not None
        meta = {
            "format_version": FORMAT_VERSION,
            "features_version": FEATURES_VERSION,
            "kind": "CostHead" if self.cost else "RewardHead",
            "value": self.value,
            "model": self.node,
            "settings": self.settings(),
            "offset": self._offset,
            "fit_sha": self.describe().get("fit_sha"),
        }
        state = {
            "weight": self._weight.contiguous(),
            "offset": torch.tensor(self._offset, dtype=torch.float64),
        }

        def write(tmp: Path) -> None:
            (tmp / "head.safetensors").write_bytes(safetensors.torch.save(state))
            (tmp / "reward_head.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

        atomic_write_dir(path, write)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RewardHead:
        """A head :meth:`save` wrote; scores as the saved one did (no pairs: it cannot refit).

        Raises:
            AlignrunError: not such a folder, or one of a newer format.
        """
        folder = Path(path).expanduser()
        meta_file = folder / "reward_head.json"
        if not meta_file.is_file():
            raise AlignrunError(f"{folder} is not a saved reward head (no reward_head.json)")
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION or meta.get("features_version") != FEATURES_VERSION:
            raise AlignrunError(
                f"{folder}: reward head format {meta.get('format_version')}/{meta.get('features_version')}, "
                f"this alignrun reads {FORMAT_VERSION}/{FEATURES_VERSION}"
            )
        settings = dict(meta["settings"])
        cost = bool(settings.pop("cost", False))
        head = cls(None, meta["model"], cost=cost, value=meta.get("value"), **_knobs(settings))
        state = safetensors.torch.load((folder / "head.safetensors").read_bytes())
        head._node = dict(meta["model"])
        head._weight, head._offset = state["weight"], float(state["offset"])
        head._fit_sha = meta.get("fit_sha")
        return head

    def export_hf(self, path: str | os.PathLike[str]) -> Path:
        """Write a Hugging Face ``AutoModelForSequenceClassification`` folder (``num_labels=1``):
        the base weights, ``score.weight = w`` and the tokenizer (pad right, truncate left), so
        :class:`alignrun.scorers.reward_model.RewardModelScorer` and any RLHF stack read it.

        The constant cannot be stored: Llama's (and most decoders') ``score`` layer has no bias.
        The logit is therefore ``r - offset``; the offset is in the config as
        ``alignrun_reward_offset`` (add it back to get this head's reward).

        Raises:
            AlignrunError: the model's architecture has no sequence-classification class.
        """
        if self._weight is None:
            self.fit()
        assert self._weight is not None
        from transformers import AutoModelForSequenceClassification

        lm = self.lm
        config = lm.model.config.__class__.from_dict(lm.model.config.to_dict())
        config.num_labels = 1
        config.id2label, config.label2id = {0: "reward"}, {"reward": 0}
        config.pad_token_id = lm.tokenizer.pad_token_id
        config.architectures = None
        config.alignrun_reward_offset = self._offset
        config.alignrun_reward_head = {"value": self.value, "cost": self.cost, **self.settings()}
        try:
            model = AutoModelForSequenceClassification.from_config(config, dtype=lm.model.dtype)
        except ValueError as exc:
            raise AlignrunError(
                f"export_hf: {type(config).__name__} has no sequence-classification model: {exc}"
            ) from exc
        prefix = model.base_model_prefix
        getattr(model, prefix).load_state_dict(getattr(lm.model, prefix).state_dict())
        with torch.no_grad():
            model.score.weight.copy_(self._weight.to(model.score.weight.dtype).reshape(1, -1))
        model.eval()

        def write(tmp: Path) -> None:
            model.save_pretrained(tmp, safe_serialization=True)
            lm.tokenizer.save_pretrained(tmp)

        atomic_write_dir(path, write)
        return Path(path)


class CostHead(RewardHead):
    """:class:`RewardHead` in its cost form (``cost=True``): safe-rlhf's cost model on the LM."""

    def __init__(self, pairs: Any, model: Any = "smollm2", **kwargs: Any) -> None:
        kwargs.setdefault("cost", True)
        super().__init__(pairs, model, **kwargs)


def check_settings(l2: float, c: float, max_length: int, batch_size: int, prefix: str = "") -> None:
    """One line naming the bad knobs (``prefix``: where they are set, e.g. ``method.``)."""
    if l2 < 0 or c < 0:
        raise AlignrunError(f"reward head: {prefix}l2 and {prefix}center_rewards_coefficient must be >= 0")
    if max_length < 1 or batch_size < 1:
        raise AlignrunError(f"reward head: {prefix}max_length and {prefix}batch_size must be >= 1")


def fit_head(
    feats: Mapping[str, torch.Tensor], l2: float, c: float, seed: int = 0, centre: bool = True
) -> tuple[torch.Tensor, float]:
    """``(w, offset)`` minimising the module docstring's loss with L-BFGS, features given.

    Args:
        feats: ``chosen`` and ``rejected`` features ``[n, d]``; for the cost form also
            ``labelled`` ``[m, d]`` and ``unsafe`` ``[m]`` (bool), which add :func:`sign_loss`.
        l2: weight decay on ``w`` (not on the bias).
        c: the centring coefficient of :func:`loss`.
        seed: draws the starting ``w`` (small normal).
        centre: subtract the training answers' mean reward from the constant (off for a cost
            head, whose 0 is fitted).

    Returns:
        ``w`` ``[d]`` (float64) and the constant ``offset``: ``r = w · h + offset``.
    """
    chosen, rejected = feats["chosen"].double(), feats["rejected"].double()
    generator = torch.Generator().manual_seed(seed)
    w = (1e-3 * torch.randn(chosen.shape[1], generator=generator, dtype=torch.float64)).requires_grad_()
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    labelled = feats.get("labelled")
    unsafe = feats.get("unsafe")
    opt = torch.optim.LBFGS([w, b], max_iter=500, tolerance_grad=1e-9, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        total = loss(chosen @ w + b, rejected @ w + b, c) + l2 * w.pow(2).sum()
        if labelled is not None and unsafe is not None and len(unsafe):
            total = total + sign_loss(-(labelled.double() @ w + b), unsafe)
        total.backward()
        return total

    with torch.enable_grad():
        opt.step(closure)
    weight = w.detach()
    if centre:  # r - mean(r over the training answers): the bias cancels
        return weight, -float((torch.cat([chosen, rejected]) @ weight).mean())
    return weight, float(b.detach())


def _knobs(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The constructor's numeric knobs out of :meth:`RewardHead.settings`."""
    keys = ("l2", "center_rewards_coefficient", "max_length", "batch_size", "seed")
    return {k: settings[k] for k in keys if k in settings}
