"""The length-aware preference losses (``method/loss=rdpo|simpo``): closed forms, TRL, and a run each."""

from __future__ import annotations

import importlib
import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from alignrun import AlignrunError
from alignrun.config import compose
from alignrun.lib.training.losses import (
    LossSettings,
    check_beta,
    dpo_loss,
    preference_loss,
    rdpo_loss,
    simpo_loss,
)
from alignrun.loop import run_job
from alignrun.plugins import get_plugin_manager
from tests.conftest import SMOKE, tiny_train

POLICY = (torch.tensor([-10.0, -30.0, -8.0]), torch.tensor([-12.0, -20.0, -9.0]))
REFERENCE = (torch.tensor([-11.0, -29.0, -8.5]), torch.tensor([-11.5, -21.0, -9.5]))
TOKENS = (torch.tensor([10, 40, 5]), torch.tensor([12, 20, 9]))


def test_rdpo_closed_form_and_alpha_zero_is_dpo() -> None:
    beta, alpha = 0.5, 0.02
    loss, chosen, rejected = rdpo_loss(*POLICY, *REFERENCE, *TOKENS, beta=beta, alpha=alpha)
    for i in range(3):
        ratio_w = POLICY[0][i] - REFERENCE[0][i]
        ratio_l = POLICY[1][i] - REFERENCE[1][i]
        logit = beta * (ratio_w - ratio_l) + alpha * float(TOKENS[0][i] - TOKENS[1][i])
        assert loss[i].item() == pytest.approx(float(torch.log1p(torch.exp(-logit))), rel=1e-6)
        assert chosen[i].item() == pytest.approx(float(beta * ratio_w))
        assert rejected[i].item() == pytest.approx(float(beta * ratio_l))
    # a longer chosen answer starts with a higher logit: the pair pushes the policy less
    plain = dpo_loss(*POLICY, *REFERENCE, beta=beta)[0]
    assert loss[1] < plain[1] and loss[2] > plain[2]
    assert torch.allclose(rdpo_loss(*POLICY, *REFERENCE, *TOKENS, beta=beta, alpha=0.0)[0], plain)


def test_simpo_closed_form() -> None:
    beta, gamma = 2.0, 0.5
    loss, chosen, rejected = simpo_loss(*POLICY, *TOKENS, beta=beta, gamma=gamma)
    for i in range(3):
        w = float(POLICY[0][i] / TOKENS[0][i])
        lo = float(POLICY[1][i] / TOKENS[1][i])
        logit = beta * (w - lo) - gamma
        assert loss[i].item() == pytest.approx(float(torch.log1p(torch.exp(torch.tensor(-logit)))), rel=1e-6)
        assert chosen[i].item() == pytest.approx(beta * w) and rejected[i].item() == pytest.approx(beta * lo)
    # length-normalised: a reply twice as long with twice the log-prob has the same reward
    doubled = simpo_loss(POLICY[0] * 2, POLICY[1], TOKENS[0] * 2, TOKENS[1], beta=beta, gamma=gamma)[0]
    assert torch.allclose(doubled, loss)


def test_simpo_equals_trls_cpo_loss() -> None:
    trl_cpo = pytest.importorskip("trl.experimental.cpo.cpo_trainer")
    beta, gamma = 2.0, 0.7
    chosen_avg, rejected_avg = POLICY[0] / TOKENS[0], POLICY[1] / TOKENS[1]
    # TRL's cpo_loss reads only these attributes of the trainer; it gets average log-probs for simpo
    fake = SimpleNamespace(
        alpha=0.0,
        beta=beta,
        simpo_gamma=gamma,
        loss_type="simpo",
        label_smoothing=0.0,
        accelerator=SimpleNamespace(device=torch.device("cpu")),
    )
    theirs, their_chosen, their_rejected = trl_cpo.CPOTrainer.cpo_loss(fake, chosen_avg, rejected_avg)
    ours, our_chosen, our_rejected = simpo_loss(*POLICY, *TOKENS, beta=beta, gamma=gamma)
    assert torch.allclose(ours, theirs, atol=1e-6)
    assert torch.allclose(our_chosen, their_chosen) and torch.allclose(our_rejected, their_rejected)


def test_preference_loss_dispatches_and_beta_override() -> None:
    plain = preference_loss(LossSettings(), 0.1, POLICY, REFERENCE, TOKENS)[0]
    assert torch.allclose(plain, dpo_loss(*POLICY, *REFERENCE, beta=0.1)[0])
    simpo = preference_loss(LossSettings(kind="simpo", gamma=0.5, beta=2.0), 0.1, POLICY, REFERENCE, TOKENS)[
        0
    ]
    assert torch.allclose(simpo, simpo_loss(*POLICY, *TOKENS, beta=2.0, gamma=0.5)[0])
    rdpo = preference_loss(LossSettings(kind="rdpo", alpha=0.01), 0.3, POLICY, REFERENCE, TOKENS)[0]
    assert torch.allclose(rdpo, rdpo_loss(*POLICY, *REFERENCE, *TOKENS, beta=0.3, alpha=0.01)[0])
    assert not LossSettings(kind="simpo").needs_reference and LossSettings(kind="rdpo").needs_reference


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "ipo"}, "method.loss.kind must be one of dpo, rdpo, simpo"),
        ({"alpha": -1.0}, "method.loss.alpha"),
    ],
)
def test_bad_loss_settings_are_one_line(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(AlignrunError, match=message):
        LossSettings(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["dpo", "mod", "mva", "conditioned"])
@pytest.mark.parametrize("beta", [0, -0.5])
def test_every_dpo_method_checks_beta_with_the_one_check(method: str, beta: float) -> None:
    cls = {"dpo": "DPO", "mod": "MOD", "mva": "MVA", "conditioned": "Conditioned"}[method]
    target = getattr(importlib.import_module(f"alignrun_{method}.method"), cls)
    message = f"^{re.escape(f'method.beta must be > 0, got {beta}')}$"  # the text each method had by hand
    with pytest.raises(AlignrunError, match=message):
        check_beta(beta)
    with pytest.raises(AlignrunError, match=message):
        target(beta=beta)


TINY = tiny_train(2, batch_size=2, max_length=48)


@pytest.mark.slow
@pytest.mark.parametrize(("loss", "method"), [("rdpo", "mva"), ("simpo", "dpo")])
def test_each_loss_trains(tmp_path: Path, loss: str, method: str) -> None:
    # one run per loss; every method composes with every option (tests/unit/test_config.py)
    extra = (
        ["method.extrapolation.num_candidates=0", "method.extrapolation.points=2"] if method == "mva" else []
    )
    cfg = compose(
        [*SMOKE, f"+method={method}", f"method/loss={loss}", "values=[helpful,harmless]", *TINY, *extra]
    )
    results = run_job(cfg, tmp_path, get_plugin_manager())
    assert json.loads((tmp_path / "results.json").read_text())["method"] == method
    losses = [v for k, v in results["metrics"].items() if k.endswith("loss")]
    assert losses and all(math.isfinite(x) for x in losses)
