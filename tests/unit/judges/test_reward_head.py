"""The reward head on the LM: its losses in closed form, a fit on the tiny model, save/load, the HF
export, the cache, and ``+method=reward_model`` end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from alignrun.derive.pairs import judge_agreement
from alignrun.errors import AlignrunError
from alignrun.judges import reward_head
from alignrun.judges.reward_head import CostHead, RewardHead, fit_head, loss, model_node, sign_loss
from tests.conftest import SMOKE, empty_cache

TOPICS = [
    "the weather", "my garden", "a bike trip", "cooking rice", "a job interview", "learning piano",
    "fixing a tap", "saving money", "a rainy day", "painting a wall", "reading a novel", "walking a dog",
    "baking bread", "a long flight", "a science fair", "moving house", "a chess game", "a road trip",
]  # fmt: skip


def marker_pair(topic: str) -> dict[str, Any]:
    """Chosen and rejected differ only in their last words: the chosen one says thanks."""
    return {
        "prompt": f"Tell me about {topic}.",
        "chosen": f"Here is a thought about {topic}: thanks, truly.",
        "rejected": f"Here is a thought about {topic}: no, never.",
    }


TRAIN = [marker_pair(t) for t in TOPICS[:12]]
HELDOUT = [marker_pair(t) for t in TOPICS[12:]]


# ---------------------------------------------------------------------------------------------------
# closed forms (no model)
# ---------------------------------------------------------------------------------------------------


def test_loss_and_centring_in_closed_form() -> None:
    r_c, r_r = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0])
    # -mean(log σ(2), log σ(0)) = (0.126928 + 0.693147) / 2
    assert float(loss(r_c, r_r, 0.0)) == pytest.approx(0.4100376, abs=1e-6)
    # + c · mean((2 + 0)², (0 + 0)²) = 0.1 · 2
    assert float(loss(r_c, r_r, 0.1)) == pytest.approx(0.6100376, abs=1e-6)
    # the BT part sees differences only; the centring part sees the sum
    assert float(loss(r_c + 5, r_r + 5, 0.0)) == pytest.approx(0.4100376, abs=1e-6)


def test_cost_sign_term_in_closed_form() -> None:
    costs = torch.tensor([-2.0, 1.0])  # a safe answer below 0, an unsafe one above: both right
    unsafe = torch.tensor([False, True])
    # s = [-1, +1]: -mean(log σ(2), log σ(1)) = (0.126928 + 0.313262) / 2
    assert float(sign_loss(costs, unsafe)) == pytest.approx(0.2200948, abs=1e-6)
    # both on the wrong side: -mean(log σ(-2), log σ(-1))
    assert float(sign_loss(-costs, unsafe)) == pytest.approx(1.7200948, abs=1e-6)


def test_fit_head_on_toy_features() -> None:
    # the reward is the first coordinate; the second is noise the same for both answers
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(20, 1, generator=gen, dtype=torch.float64)
    chosen = torch.cat([torch.ones(20, 1, dtype=torch.float64) + 3, noise], 1)
    rejected = torch.cat([torch.zeros(20, 1, dtype=torch.float64) + 3, noise], 1)
    w, offset = fit_head({"chosen": chosen, "rejected": rejected}, l2=1e-3, c=0.01)
    assert w[0] > 0 and abs(float(w[1])) < 1e-3 * float(w[0])
    r = torch.cat([chosen, rejected]) @ w + offset
    assert float(r.mean()) == pytest.approx(0.0, abs=1e-9)  # centred on the training answers


def test_cost_fit_puts_zero_between_safe_and_unsafe() -> None:
    # pairs whose chosen answers are safe and rejected unsafe, at feature -1 / +1 (plus a shift of 5
    # that plain centring would not find: only the sign term places the threshold)
    chosen = torch.full((10, 1), 4.0, dtype=torch.float64)
    rejected = torch.full((10, 1), 6.0, dtype=torch.float64)
    feats = {
        "chosen": chosen,
        "rejected": rejected,
        "labelled": torch.cat([chosen, rejected]),
        "unsafe": torch.tensor([False] * 10 + [True] * 10),
    }
    w, offset = fit_head(feats, l2=1e-3, c=0.0, centre=False)
    cost = -(torch.tensor([4.0, 6.0], dtype=torch.float64) * w + offset)
    assert cost[0] < 0 < cost[1]


# ---------------------------------------------------------------------------------------------------
# on the tiny model
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh alignrun cache (the tiny model's weights only) for this module's tests."""
    path = empty_cache(tmp_path_factory.mktemp("reward-head-cache"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALIGNRUN_CACHE", path)
        yield path


@pytest.fixture(scope="module")
def head(cache: str) -> RewardHead:
    fitted = RewardHead(TRAIN, model="tiny", value="marker")
    fitted.fit()
    return fitted


@pytest.mark.slow
def test_fits_the_marker_above_chance(head: RewardHead) -> None:
    assert head.lm is not None and head.describe()["pairs"] == 12
    agreement = judge_agreement(head, HELDOUT)
    assert agreement is not None and agreement["accuracy"] >= 0.75, agreement
    scores = head.score(*_pair_inputs(HELDOUT))
    assert all(-1.0 < s < 1.0 for s in scores)


def _pair_inputs(rows: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    return [r["prompt"] for r in rows] * 2, [r["chosen"] for r in rows] + [r["rejected"] for r in rows]


def test_never_takes_a_loaded_model() -> None:
    # methods steer and fold adapters into the run's LM while judges score: a head builds its own
    with pytest.raises(AlignrunError, match="config node or a model name"):
        model_node(object())
    with pytest.raises(AlignrunError, match="no model 'nope'"):
        model_node("nope")


@pytest.mark.slow
def test_save_then_load_scores_the_same(head: RewardHead, tmp_path: Path) -> None:
    folder = head.save(tmp_path / "head")
    meta = json.loads((folder / "reward_head.json").read_text())
    assert meta["value"] == "marker" and meta["model"]["_target_"].endswith("build_tiny")
    loaded = RewardHead.load(folder)
    prompts, answers = _pair_inputs(HELDOUT)
    assert torch.allclose(loaded.reward(prompts, answers), head.reward(prompts, answers), atol=1e-6)
    with pytest.raises(AlignrunError, match="without its pairs"):
        loaded.with_pairs(None).fit()


@pytest.mark.slow
def test_export_hf_gives_the_reward_up_to_its_offset(head: RewardHead, tmp_path: Path) -> None:
    from alignrun.scorers.reward_model import RewardModelScorer

    folder = head.export_hf(tmp_path / "hf")
    config = json.loads((folder / "config.json").read_text())
    assert len(config["id2label"]) == 1
    offset = config["alignrun_reward_offset"]
    prompts, answers = _pair_inputs(HELDOUT)
    logits = torch.tensor(RewardModelScorer(str(folder), batch_size=5).score(prompts, answers))
    expected = head.reward(prompts, answers).float()
    assert torch.allclose(logits + offset, expected, atol=1e-4), (logits + offset - expected).abs().max()


@pytest.mark.slow
def test_second_fit_is_a_cache_hit(head: RewardHead, monkeypatch: pytest.MonkeyPatch) -> None:
    def refit(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("refitted a cached head")

    monkeypatch.setattr(reward_head, "fit_head", refit)
    again = head.with_pairs(TRAIN)
    assert again._weight is None and again.settings() == head.settings()  # an unfitted copy
    again.fit()
    prompts, answers = _pair_inputs(HELDOUT)
    assert torch.equal(again.reward(prompts, answers), head.reward(prompts, answers))
    with pytest.raises(AssertionError, match="refitted"):  # other pairs: a fit (the patched one)
        head.with_pairs(TRAIN[:6]).fit()


@pytest.mark.slow
def test_cost_head_on_the_tiny_model(head: RewardHead) -> None:
    rows = [{**r, "chosen_safe": True, "rejected_safe": False} for r in TRAIN]
    cost_head = CostHead(rows, model="tiny", center_rewards_coefficient=0.0)
    assert cost_head.lm is head.lm  # heads on one model node share one (read-only) copy
    prompts = [r["prompt"] for r in HELDOUT]
    safe = cost_head.safe_rate(prompts, [r["chosen"] for r in HELDOUT])
    unsafe = cost_head.safe_rate(prompts, [r["rejected"] for r in HELDOUT])
    assert safe > 0.5 > unsafe, (safe, unsafe)
    with pytest.raises(AlignrunError, match="cost head"):
        head.safe_rate(prompts, [r["chosen"] for r in HELDOUT])
    with pytest.raises(AlignrunError, match="safety labels"):
        CostHead(TRAIN, model="tiny").fit()


@pytest.mark.slow
def test_reward_model_method_run(cache: str, tmp_path: Path) -> None:
    from alignrun.config import compose
    from alignrun.loop import run_job

    overrides = ["+method=reward_model", *SMOKE, "model=tiny", "values=[helpful]", "data.max_pairs=16"]
    # judge.validity: the loop's own judge report (tests/unit/judges/test_validity.py), ~40 s here
    cfg = compose([*overrides, "judge.validity=false"])
    results = run_job(cfg, tmp_path)
    folder = tmp_path / "reward_models" / "helpful"
    assert (folder / "head.safetensors").is_file() and (folder / "reward_head.json").is_file()
    accuracy = results["metrics"]["reward_model/helpful/heldout_accuracy"]
    assert 0.0 <= accuracy <= 1.0
    loaded = RewardHead.load(folder)
    assert loaded.value == "helpful" and loaded.describe()["kind"] == "RewardHead"
