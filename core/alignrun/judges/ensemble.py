"""An ensemble judge: several judges' scores of one value, put on a common scale and combined.

Members rarely share a scale: a preference scorer's ``tanh(reward / 2)``, an LLM judge's mapped
1–10 ratings and a phrase scorer's two levels all lie in ``[-1, 1]`` yet spread over it very
differently, so averaging raw scores lets the widest-spread member decide. Each member's scores are
therefore standardised, ``z = (s - mean) / std``, by that member's own mean and (population) std:

- over the batch being scored by default. Simple, but the scale then moves with the batch: the
  same answer scored in another batch gets another number, and a batch of one scores 0.
- over a fixed ``reference=(prompts, responses)`` when given (better: scores of different batches,
  and of different models' answers, stay comparable). The reference is scored once, lazily.

A member whose scores do not vary (std 0) has no ranking to offer and contributes 0 everywhere.
NaN scores (an LLM judge's unreadable reply) are left out of its mean and std and skipped when
combining that item; an item no member scored stays NaN.

Combiners (per item, over the members that scored it):

- ``mean``: the average of the standardised scores.
- ``min``: the most pessimistic member: an answer counts as good only if every judge agrees.
- ``inverse_variance``: a weighted mean with weights ``1 / var_i``, where ``var_i``, member ``i``'s
  noise estimate, is the variance over items of its disagreement with the members' mean,
  ``d_i(x) = z_i(x) - mean_j z_j(x)``. There is no ground truth to measure noise against, so
  agreement with the consensus stands in for it: a member that often departs from the others
  counts less. The consensus includes the member itself (simple, and the same ranking of members
  as leaving it out when noise is independent); with two members both ``var_i`` are equal and this
  is the plain mean. Computed on the reference when given, else on the batch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np

from alignrun.errors import AlignrunError

COMBINERS = ("mean", "min", "inverse_variance")
VAR_FLOOR = 1e-12  # a member in perfect agreement with the consensus would otherwise get infinite weight


def standardise(scores: np.ndarray, mean: float, std: float) -> np.ndarray:
    """``(scores - mean) / std``; all 0 (NaN kept) when ``std`` is 0 or NaN: no spread, no ranking."""
    if not std > 0:
        return np.where(np.isnan(scores), np.nan, 0.0)
    return (scores - mean) / std


def scale_of(scores: np.ndarray) -> tuple[float, float]:
    """(mean, population std) of the non-NaN ``scores``; (NaN, NaN) when there are none."""
    kept = scores[~np.isnan(scores)]
    if kept.size == 0:
        return math.nan, math.nan
    return float(kept.mean()), float(kept.std())


def noise_variances(z: np.ndarray) -> np.ndarray:
    """Per member (row of ``z``, members × items), the variance over items of its disagreement with
    the per-item mean of the members, NaNs skipped; NaN for a member with no scored item."""
    out = np.full(z.shape[0], math.nan)
    if z.shape[1] == 0:
        return out
    with np.errstate(all="ignore"):
        consensus = _nanmean_cols(z)
        d = z - consensus
    for i, row in enumerate(d):
        kept = row[~np.isnan(row)]
        if kept.size:
            out[i] = float(kept.var())
    return out


def combine_z(z: np.ndarray, how: str, variances: np.ndarray | None = None) -> np.ndarray:
    """Combine standardised scores ``z`` (members × items) into one score per item, NaNs skipped."""
    if how == "mean":
        return _nanmean_cols(z)
    if how == "min":
        return np.array([min(col[~np.isnan(col)], default=math.nan) for col in z.T], dtype=float)
    if how == "inverse_variance":
        if variances is None:
            variances = noise_variances(z)
        weights = 1.0 / np.maximum(np.nan_to_num(variances, nan=np.inf), VAR_FLOOR)
        scored = ~np.isnan(z)
        total = (np.where(scored, z, 0.0) * weights[:, None]).sum(axis=0)
        norm = (scored * weights[:, None]).sum(axis=0)
        with np.errstate(all="ignore"):
            return np.where(norm > 0, total / np.where(norm > 0, norm, 1.0), math.nan)
    raise AlignrunError(f"ensemble combine must be one of {', '.join(COMBINERS)}, got '{how}'")


def _nanmean_cols(z: np.ndarray) -> np.ndarray:
    scored = ~np.isnan(z)
    count = scored.sum(axis=0)
    total = np.where(scored, z, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), math.nan)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r over the items both scored; NaN with fewer than 2 or no spread."""
    both = ~np.isnan(a) & ~np.isnan(b)
    x, y = a[both], b[both]
    if x.size < 2 or not x.std() > 0 or not y.std() > 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


class Ensemble:
    """A judge combining other judges' standardised scores (see the module docstring for why).

    Args:
        members: the judges, by name (a list: named ``<index>:<class name>``).
        combine: ``mean``, ``min`` or ``inverse_variance``.
        value: the value judged, for ``describe()``.
        reference: ``(prompts, responses)`` that fix each member's scale (and the inverse-variance
            weights); None: each batch scored sets its own.
    """

    # no ``score_range``: standardised scores are unbounded

    def __init__(
        self,
        members: Mapping[str, Any] | Sequence[Any],
        combine: str = "mean",
        value: str = "",
        reference: tuple[Sequence[str], Sequence[str]] | None = None,
    ) -> None:
        if combine not in COMBINERS:
            raise AlignrunError(f"ensemble combine must be one of {', '.join(COMBINERS)}, got '{combine}'")
        if isinstance(members, Mapping):
            self.members: dict[str, Any] = dict(members)
        else:
            self.members = {f"{i}:{type(m).__name__}": m for i, m in enumerate(members)}
        if not self.members:
            raise AlignrunError("an ensemble judge needs at least one member")
        if reference is not None and len(reference[0]) != len(reference[1]):
            raise AlignrunError(
                f"ensemble reference has {len(reference[0])} prompts for {len(reference[1])} responses"
            )
        self.combine = combine
        self.value = value
        self.reference = reference
        self._ref_scale: tuple[list[tuple[float, float]], np.ndarray] | None = None

    # ---- scoring -------------------------------------------------------------------------------

    def member_scores(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """Raw scores, members × items (float, NaN kept)."""
        rows = [np.asarray(m.score(prompts, responses), dtype=float) for m in self.members.values()]
        for name, row in zip(self.members, rows, strict=True):
            if row.shape != (len(prompts),):
                raise AlignrunError(
                    f"ensemble member '{name}' gave {row.size} scores for {len(prompts)} items"
                )
        return np.stack(rows) if rows else np.zeros((0, len(prompts)))

    def standardised(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """Each member's scores on its common scale, members × items."""
        raw = self.member_scores(prompts, responses)
        scales = self._reference()[0] if self.reference is not None else [scale_of(row) for row in raw]
        return np.stack([standardise(row, *scale) for row, scale in zip(raw, scales, strict=True)])

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        """The combined standardised score of each (prompt, response); NaN where no member scored."""
        z = self.standardised(prompts, responses)
        variances = self._reference()[1] if self.reference is not None else None
        return [float(v) for v in combine_z(z, self.combine, variances)]

    def weights(self, prompts: Sequence[str] = (), responses: Sequence[str] = ()) -> dict[str, float]:
        """The normalised inverse-variance weights (on the reference, else on this batch)."""
        if self.reference is not None:
            variances = self._reference()[1]
        else:
            variances = noise_variances(self.standardised(prompts, responses))
        w = 1.0 / np.maximum(np.nan_to_num(variances, nan=np.inf), VAR_FLOOR)
        w = w / w.sum() if w.sum() > 0 else w
        return dict(zip(self.members, (float(x) for x in w), strict=True))

    def disagreement(self, prompts: Sequence[str], responses: Sequence[str]) -> dict[str, Any]:
        """How far the members are apart on these items, on the common scale.

        Returns:
            ``pairwise``: ``{"a|b": mean |z_a - z_b|}`` over items both scored; ``mean_abs_diff``:
            their average; ``correlation``: each member's Pearson r with the ensemble's score;
            ``n``: the number of items.
        """
        z = self.standardised(prompts, responses)
        variances = self._reference()[1] if self.reference is not None else None
        combined = combine_z(z, self.combine, variances)
        names = list(self.members)
        pairwise: dict[str, float] = {}
        for (i, a), (j, b) in combinations(enumerate(names), 2):
            diff = np.abs(z[i] - z[j])
            diff = diff[~np.isnan(diff)]
            pairwise[f"{a}|{b}"] = float(diff.mean()) if diff.size else math.nan
        finite = [v for v in pairwise.values() if not math.isnan(v)]
        return {
            "pairwise": pairwise,
            "mean_abs_diff": float(np.mean(finite)) if finite else math.nan,
            "correlation": {name: _corr(z[i], combined) for i, name in enumerate(names)},
            "n": len(prompts),
        }

    # ---- optional judge parts ------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """The combiner, the scale's source and each member's own ``describe()``."""
        return {
            "kind": "ensemble",
            "value": self.value,
            "combine": self.combine,
            "scale": "reference" if self.reference is not None else "batch",
            "reference_n": len(self.reference[0]) if self.reference is not None else None,
            "members": {name: _describe(m) for name, m in self.members.items()},
        }

    def with_pairs(self, rows: Any) -> Ensemble:
        """An ensemble of the members refitted on ``rows`` where they can be (others as they are)."""
        refitted = {
            name: m.with_pairs(rows) if callable(getattr(m, "with_pairs", None)) else m
            for name, m in self.members.items()
        }
        return Ensemble(refitted, combine=self.combine, value=self.value, reference=self.reference)

    def _reference(self) -> tuple[list[tuple[float, float]], np.ndarray]:
        """The members' (mean, std) and noise variances on the reference, scored once."""
        if self._ref_scale is None:
            assert self.reference is not None
            raw = self.member_scores(*self.reference)
            scales = [scale_of(row) for row in raw]
            z = np.stack([standardise(row, *s) for row, s in zip(raw, scales, strict=True)])
            self._ref_scale = (scales, noise_variances(z))
        return self._ref_scale


def _describe(judge: Any) -> dict[str, Any]:
    if callable(getattr(judge, "describe", None)):
        return dict(judge.describe())
    return {"kind": type(judge).__name__}
