"""A Bradley–Terry reward model on sentence embeddings, fitted to a value's own preference pairs.

Reward ``r(x, y) = w · φ(x, y)`` with features ``φ = [e_y, e_x ⊙ e_y, refusal(y), hedge(y)]``
(``e`` the unit MiniLM embedding; the product term lets the reward depend on whether the
answer fits the prompt; the two marker flags are cheap, robust cues for refusing and for
admitting uncertainty). ``w`` minimises the Bradley–Terry loss over the training pairs

    L(w) = -mean log σ(r(x, y_chosen) - r(x, y_rejected)) + λ‖w‖²

(Bradley & Terry 1952; the reward-model objective of Ouyang et al. 2022, eq. 1) with
L-BFGS. The reward is centred on the training answers and reported as ``tanh(r / 2)`` =
``2σ(r) - 1`` in (-1, 1): above 0, the answer is more like the chosen ones.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import safetensors.torch
import torch

from alignrun.atomic import atomic_write_bytes
from alignrun.cache import cache_dir, keep, read_entry
from alignrun.embeddings import Embedder, default_embedder
from alignrun.errors import AlignrunError
from alignrun.scorers.phrase import refusal_scorer, uncertainty_scorer

FEATURES_VERSION = "emb+prod+flags/1"  # bump when features() changes: invalidates cached fits


class PreferenceScorer:
    """Scores answers for one value by a reward model fitted on that value's pairs (lazily, once).

    Args:
        pairs: a ``datasets.Dataset`` (or list of dicts) with ``prompt``, ``chosen``, ``rejected``.
        l2: weight-decay strength λ; larger is smoother and less fitted to the training pairs.
        embedder: sentence embedder (default: the bundled all-MiniLM-L6-v2).
    """

    score_range = (-1.0, 1.0)  # tanh(reward / 2)

    def __init__(self, pairs: Any, l2: float = 1e-3, embedder: Embedder | None = None) -> None:
        self.pairs = pairs
        self.l2 = l2
        self._embedder = embedder
        self._weights: torch.Tensor | None = None
        self._offset = 0.0
        self._refusal = refusal_scorer()
        self._hedge = uncertainty_scorer()

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = default_embedder()
        return self._embedder

    def features(self, prompts: Sequence[str], responses: Sequence[str]) -> torch.Tensor:
        """``φ(x, y)``, shape ``[n, 2 * 384 + 2]``."""
        e_x = self.embedder.encode(list(prompts))
        e_y = self.embedder.encode(list(responses))
        flags = torch.tensor(
            [[float(self._refusal.matches(r)), float(self._hedge.matches(r))] for r in responses]
        ).reshape(len(responses), 2)
        return torch.cat([e_y, e_x * e_y, flags], dim=1)

    def fit(self) -> None:
        """Fit ``w`` on the pairs (called by the first ``score``), or load it from the cache.

        The cache key hashes the pairs, ``l2``, the feature version and the embedder's folder,
        so a changed dataset or setting refits.
        """
        rows = self._rows()
        key = hashlib.sha256(
            json.dumps([FEATURES_VERSION, self.l2, str(self.embedder.path), rows]).encode()
        ).hexdigest()[:24]
        cached = cache_dir() / "scorers" / f"preference-{key}.safetensors"
        state = (
            read_entry(cached, lambda: safetensors.torch.load(cached.read_bytes()), "scorer")
            if cached.is_file()
            else None
        )
        if state is not None:
            self._weights, self._offset = state["weights"], float(state["offset"])
            return
        self._fit(rows)
        assert self._weights is not None
        blob = safetensors.torch.save({"weights": self._weights, "offset": torch.tensor(self._offset)})
        keep(cached, lambda: atomic_write_bytes(cached, blob), "preference scorer")

    def _rows(self) -> list[dict[str, str]]:
        rows = [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in self.pairs]
        if not rows:
            raise AlignrunError("PreferenceScorer needs at least one preference pair")
        return rows

    def with_pairs(self, pairs: Any) -> PreferenceScorer:
        """An unfitted copy with the same settings, fitted on ``pairs`` when first used (cross-fitting)."""
        return PreferenceScorer(pairs, l2=self.l2, embedder=self._embedder)

    def describe(self) -> dict[str, Any]:
        """What this scorer is (results.json ``verdicts``, derived-pair cache keys): its fit's inputs."""
        rows = self._rows()
        digest = hashlib.sha256(json.dumps([FEATURES_VERSION, self.l2, rows]).encode()).hexdigest()[:12]
        return {"kind": "PreferenceScorer", "pairs": len(rows), "l2": self.l2, "fit_sha": digest}

    def _fit(self, rows: list[dict[str, str]]) -> None:
        prompts = [r["prompt"] for r in rows]
        chosen = self.features(prompts, [r["chosen"] for r in rows])
        rejected = self.features(prompts, [r["rejected"] for r in rows])
        diff = chosen - rejected
        w = torch.zeros(diff.shape[1], requires_grad=True)
        opt = torch.optim.LBFGS([w], max_iter=200, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = -torch.nn.functional.logsigmoid(diff @ w).mean() + self.l2 * w.pow(2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        self._weights = w.detach()
        self._offset = float((torch.cat([chosen, rejected]) @ self._weights).mean())

    def reward(self, prompts: Sequence[str], responses: Sequence[str]) -> torch.Tensor:
        """The centred reward ``r(x, y)`` (unbounded), shape ``[n]``."""
        if self._weights is None:
            self.fit()
        assert self._weights is not None
        return self.features(prompts, responses) @ self._weights - self._offset

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        if not responses:
            return []
        return torch.tanh(self.reward(prompts, responses) / 2).tolist()
