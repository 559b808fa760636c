"""``+method=rlhf``: the estimators against hand-computed values, one real update, the CLI, resume."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import OmegaConf

from alignrun import AlignrunError, Run, Value, hookimpl
from alignrun.config import compose
from alignrun.data import RunData
from alignrun.loop import run_job
from alignrun.models.tiny import build_tiny
from alignrun.plugins import get_plugin_manager
from alignrun_rlhf import RLHF
from alignrun_rlhf.ppo import (
    aggregated_reward,
    group_normalised,
    kl_penalised_reward,
    ppo_clip_loss,
    prompt_pool,
    response_logps,
    rloo_advantages,
    weighted_reward,
)
from tests.conftest import assert_same_adapters, run_cli

TINY = [
    "experiment=smoke",
    "method.iterations=2",
    "method.prompts_per_iteration=2",
    "method.samples_per_prompt=2",
    "method.max_new_tokens=6",
    "method.train.batch_size=2",
    "method.train.micro_batch_size=2",
    "method.train.max_length=64",
    "method.train.progress=false",
]
# The tiny model's ops are too small to gain from a second thread, and on a shared 2-core machine two
# threads per process oversubscribe the cores: this file took 105 s with torch's default, 21 s with one.
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- estimators --------------------------------------------------------------------------


def test_rloo_advantages_leave_one_out() -> None:
    rewards = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 4.0]])
    # A_i = r_i - mean of the other two: [1 - 2.5, 2 - 2, 3 - 1.5], [0 - 2, 0 - 2, 4 - 0]
    want = torch.tensor([[-1.5, 0.0, 1.5], [-2.0, -2.0, 4.0]])
    assert torch.allclose(rloo_advantages(rewards), want)
    std = math.sqrt((1.5**2 * 2 + 2**2 * 2 + 4**2) / 5)  # unbiased, mean already 0
    assert torch.allclose(rloo_advantages(rewards, normalise=True), want / std)
    assert torch.equal(rloo_advantages(torch.ones(2, 4), normalise=True), torch.zeros(2, 4))
    with pytest.raises(AlignrunError, match="k >= 2"):
        rloo_advantages(torch.ones(3, 1))


def test_kl_penalised_reward() -> None:
    reward = torch.tensor([1.0, 0.5])
    old, ref = torch.tensor([-10.0, -20.0]), torch.tensor([-12.0, -19.0])
    penalised, kl = kl_penalised_reward(reward, old, ref, beta=0.1)
    assert torch.allclose(kl, torch.tensor([2.0, -1.0]))
    assert torch.allclose(penalised, torch.tensor([1.0 - 0.2, 0.5 + 0.1]))


def test_weighted_reward_normalises_weights() -> None:
    scores = {"a": torch.tensor([1.0, 0.0]), "b": torch.tensor([0.0, 1.0])}
    assert torch.allclose(
        weighted_reward(scores, {"a": 3.0, "b": 1.0, "unscored": 5.0}), torch.tensor([0.75, 0.25])
    )
    with pytest.raises(AlignrunError, match="sum to > 0"):
        weighted_reward(scores, {"a": 0.0, "b": 0.0})


@pytest.mark.parametrize(
    ("ratio", "adv", "loss", "grad", "clipped"),
    [
        (1.0, 2.0, -2.0, -2.0, False),  # on-policy: the plain policy gradient -A ∇log π
        (1.5, 1.0, -1.2, 0.0, True),  # A > 0, ρ > 1 + ε: gain capped at (1 + ε) A, no gradient
        (0.5, 1.0, -0.5, -0.5, False),  # A > 0, ρ < 1 - ε: unclipped, still pushed up
        (0.5, -1.0, 0.8, 0.0, True),  # A < 0, ρ < 1 - ε: capped at (1 - ε) A, no gradient
        (1.5, -1.0, 1.5, 1.5, False),  # A < 0, ρ > 1 + ε: unclipped, still pushed down
    ],
)
def test_ppo_clip_loss_both_sides(ratio: float, adv: float, loss: float, grad: float, clipped: bool) -> None:
    old = torch.tensor([-7.0])
    logp = (old + math.log(ratio)).requires_grad_(True)
    got, rho, was_clipped = ppo_clip_loss(logp, old, torch.tensor([adv]), clip_eps=0.2)
    got.sum().backward()
    assert logp.grad is not None
    assert got.item() == pytest.approx(loss) and rho.item() == pytest.approx(ratio)
    assert logp.grad.item() == pytest.approx(grad)  # d(-ρA)/d log π = -ρA where unclipped
    assert bool(was_clipped) is clipped


def test_prompt_pool_dedupes_and_falls_back_to_eval_prompts() -> None:
    train = {"a": ["x", "y"], "b": ["y", "z"]}
    assert prompt_pool(train, {"a": ["e"]}, ["a", "b"]) == (["x", "y", "z"], "train")
    assert prompt_pool({}, {"a": ["e", "f"], "b": ["e"]}, ["a", "b"]) == (["e", "f"], "eval")


def test_bad_settings_are_one_line_errors() -> None:
    with pytest.raises(AlignrunError, match="samples_per_prompt must be >= 2"):
        RLHF(samples_per_prompt=1)
    with pytest.raises(AlignrunError, match=r"batch_size \(4\) must divide"):
        RLHF(prompts_per_iteration=3, samples_per_prompt=2, train={"batch_size": 4, "micro_batch_size": 2})
    with pytest.raises(AlignrunError, match="checkpoint_every"):
        RLHF(train={"checkpoint_every": 3})  # 4 steps per iteration with the defaults
    with pytest.raises(AlignrunError, match=r"method\.iterations"):
        RLHF(train={"steps": 10})


# -- one update on the tiny model ----------------------------------------------------------


class _TokenScorer:
    """Reward: the share of a response's tokens that are ``target``."""

    def __init__(self, tokenizer: Any, target: int) -> None:
        self.tokenizer, self.target = tokenizer, target

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        ids = self.tokenizer(list(responses), add_special_tokens=False)["input_ids"]
        return [sum(i == self.target for i in row) / max(len(row), 1) for row in ids]


def _tiny_run(tmp_path: Path, scorer: Any, prompts: list[str]) -> Run:
    lm = build_tiny()
    return Run(
        cfg=OmegaConf.create({"seed": 0, "resume": False, "generation": {"max_prompt_tokens": 512}}),
        lm=lm,
        values={"tok": Value("tok", scorer=scorer)},
        data=RunData(pairs={"tok": [{"prompt": p} for p in prompts]}, train_prompts={"tok": prompts}),
        method=None,  # type: ignore[arg-type]  # not called: fit is called directly
        steering=None,  # type: ignore[arg-type]
        output_dir=tmp_path,
        pm=get_plugin_manager(autoload=False),
    )


def test_updates_raise_the_reward_of_a_fixed_token(tmp_path: Path) -> None:
    """Three PPO iterations make the policy emit a rewarded token more often, on fresh samples."""
    from alignrun.schema import GenerationConfig

    prompts = [f"Tell me about topic number {i}." for i in range(16)]
    probe = build_tiny()
    gen = GenerationConfig(max_new_tokens=8, batch_size=128, do_sample=True, progress=False)
    flat = [p for p in prompts for _ in range(8)]
    counts = Counter(t for r in probe.generate(flat, gen, seed=99) for t in probe.tokenizer(r)["input_ids"])
    # a token the base model samples now and then, that decodes to clean text (no partial UTF-8)
    target = next(t for t, _ in counts.most_common() if "\ufffd" not in probe.tokenizer.decode([t]))
    run = _tiny_run(tmp_path, _TokenScorer(probe.tokenizer, target), prompts)
    scorer = run.values["tok"].scorer
    assert scorer is not None
    before = sum(scorer.score(flat, run.lm.generate(flat, gen, seed=7))) / len(flat)
    method = RLHF(
        iterations=3,
        prompts_per_iteration=16,
        samples_per_prompt=4,
        max_new_tokens=8,
        kl_beta=0.0,
        train={"lr": 1e-2, "batch_size": 32, "micro_batch_size": 32, "progress": False},
    )
    result = method.fit(run)
    assert result.intervention is not None
    with result.intervention.apply(run.lm):
        after = sum(scorer.score(flat, run.lm.generate(flat, gen, seed=7))) / len(flat)
    assert after > 1.5 * before > 0, (before, after)
    assert set(result.metrics) >= {"rlhf/reward/tok", "rlhf/reward", "rlhf/kl"}
    assert (tmp_path / "adapters" / "rlhf" / "adapter_model.safetensors").is_file()


def test_ratio_is_exactly_one_before_the_first_update(tmp_path: Path) -> None:
    """The update reuses the rollout's micro-batch layout: under bf16, ρ is 1 bit for bit at step 0."""
    from alignrun.lib.training import adapters
    from alignrun.lib.training.adapters import LoraSettings
    from alignrun.lib.training.trainer import TrainSettings
    from alignrun_rlhf.ppo import Rollout, ppo_objective

    run = _tiny_run(tmp_path, None, [])
    lm = run.lm
    lm.autocast = "bfloat16"
    model = adapters.attach(lm, ["rlhf"], LoraSettings())
    adapters.train_only(model, "rlhf")
    prompts = ["a b c", "hello there friend"] * 2
    responses = ["yes", "no way at all", "x", "a much longer answer than the others"]
    settings = TrainSettings(batch_size=4, micro_batch_size=2, max_length=64)
    order = [3, 0, 2, 1]
    old = response_logps(lm, prompts, responses, order, settings)
    ref = response_logps(lm, prompts, responses, order, settings, reference=True)
    assert torch.equal(old, ref)  # a fresh adapter (B = 0) is the reference exactly
    zeros = torch.zeros(4)
    rollout = Rollout(
        prompts, responses, order, {}, zeros, old, ref, zeros, torch.tensor([1.0, -1.0, 0.5, 2.0])
    )
    loss_fn = ppo_objective(lm, rollout, first_step=0, clip_eps=0.2, settings=settings, seed=0)
    model.train()
    for start in (0, 2):
        with lm.precision():
            _, metrics = loss_fn(0, start, start + 2)
        assert metrics["ratio"] == 0.5 and metrics["approx_kl"] == 0.0  # two ratios of exactly 1, over B = 4


def test_normalize_then_sum_closed_form() -> None:
    # two prompts × k = 2 samples; helpful spreads [1, 3] then not at all, harmless [0, 2] then [5, 7]
    scores = {"helpful": torch.tensor([1.0, 3.0, 0.0, 0.0]), "harmless": torch.tensor([0.0, 2.0, 5.0, 7.0])}
    weights = {"helpful": 1.0, "harmless": 1.0}
    plain, none = aggregated_reward(scores, weights, "weighted_sum", 2)
    torch.testing.assert_close(plain, torch.tensor([0.5, 2.5, 2.5, 3.5]))
    assert none == {}
    # per group: z = (s - mean) / std with std = sqrt(2) for [1, 3] (Bessel), so ±1/sqrt(2); [0, 0] -> 0
    reward, stats = aggregated_reward(scores, weights, "normalize_then_sum", 2)
    h = 2**-0.5
    torch.testing.assert_close(reward, torch.tensor([-h, h, -h / 2, h / 2]), atol=1e-5, rtol=0)
    assert stats["helpful"] == pytest.approx({"mean": 1.0, "std": 2**0.5 / 2})  # groups (2, √2), (0, 0)
    assert stats["harmless"] == pytest.approx({"mean": 3.5, "std": 2**0.5})
    # the scale of a value no longer sets its share: ×100 on harmless gives the same reward
    scaled, _ = aggregated_reward(
        {**scores, "harmless": 100 * scores["harmless"]}, weights, "normalize_then_sum", 2
    )
    torch.testing.assert_close(scaled, reward, atol=1e-5, rtol=0)
    with pytest.raises(AlignrunError, match="groups of k >= 2"):
        group_normalised(torch.ones(3), 2)
    with pytest.raises(AlignrunError, match=r"method\.aggregation"):
        aggregated_reward(scores, weights, "max", 2)
    with pytest.raises(AlignrunError, match=r"method\.aggregation"):
        RLHF(aggregation="mean")


def test_normalize_then_sum_run_saves_its_statistics(tmp_path: Path) -> None:
    from alignrun.config import compose
    from alignrun.loop import run_job

    cfg = compose(["+method=rlhf", *TINY, "loggers=[]", "method.aggregation=normalize_then_sum"])
    results = run_job(cfg, tmp_path, get_plugin_manager())
    saved = json.loads((tmp_path / "reward_normalisation.json").read_text())
    assert [row["iteration"] for row in saved] == [0, 1]
    assert all(set(row) == {"iteration", *results["values"]} for row in saved)
    assert all(row[v]["std"] >= 0 for row in saved for v in results["values"])
    last = saved[-1]
    for v in results["values"]:  # the final metrics are the last iteration's statistics
        assert results["metrics"][f"rlhf/normalisation/{v}/std"] == pytest.approx(last[v]["std"])


# -- the CLI -----------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_run_writes_scores_metrics_and_a_peft_adapter(tmp_path: Path) -> None:
    from peft import PeftModel

    res = run_cli("+method=rlhf", *TINY, "loggers=[jsonl]", "hydra.run.dir=D", cwd=tmp_path, env=ONE_THREAD)
    assert res.returncode == 0, res.stderr[-3000:]
    out = tmp_path / "D"
    results = json.loads((out / "results.json").read_text())
    assert results["method"] == "rlhf" and set(results["scores"]) == {"helpful", "harmless", "honest"}
    for key in (
        "rlhf/reward",
        "rlhf/kl",
        "rlhf/reward/helpful",
        "rlhf/reward/harmless",
        "rlhf/reward/honest",
    ):
        assert math.isfinite(results["metrics"][key]), key
    curve = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in curve if "rlhf/reward" in m] == [0, 1]  # one point per iteration
    peft_model = PeftModel.from_pretrained(build_tiny().model, out / "adapters" / "rlhf")
    assert any("lora_B" in n and p.abs().sum() > 0 for n, p in peft_model.named_parameters())  # trained
    lora = sum(p.numel() for n, p in peft_model.named_parameters() if "lora_" in n)
    assert results["metrics"]["train/rlhf/trainable_params"] == lora  # the sweep report's cost


class _Kill:
    """Interrupts the run right after the checkpoint of ``step``, as a kill would."""

    def __init__(self, step: int) -> None:
        self.step = step

    @hookimpl
    def alignrun_checkpoint_saved(self, run: Any, path: Path, step: int) -> None:
        if step == self.step:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_kill_and_resume_continues_at_the_next_iteration_bit_equal(tmp_path: Path) -> None:
    overrides = ["+method=rlhf", *TINY, "loggers=[]", "values=[helpful]", "data.max_eval_prompts=1"]
    run_job(compose(overrides), tmp_path / "straight")
    pm = get_plugin_manager()
    pm.register(_Kill(step=4))  # 2 PPO epochs × 2 minibatches per iteration: the end of iteration 0
    with pytest.raises(KeyboardInterrupt):
        run_job(compose(overrides), tmp_path / "resumed", pm)
    assert not (tmp_path / "resumed" / "adapters").exists()
    run_job(compose([*overrides, "resume=true"]), tmp_path / "resumed")
    assert_same_adapters(tmp_path / "straight", tmp_path / "resumed", ["rlhf"])
