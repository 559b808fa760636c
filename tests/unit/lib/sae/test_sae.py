"""Sparse autoencoders: the TopK model and its loss, training, SAELens's on-disk format, activations,
feature discovery and feature steering (hooks always removed)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from alignrun.errors import AlignrunError
from alignrun.lib.sae.activations import (
    cached_activations,
    capture,
    decoder_layers,
    layer_module,
    mean_norm,
    residual_activations,
)
from alignrun.lib.sae.features import cohens_d, materials, preference_rows, rank_features
from alignrun.lib.sae.format import CFG, WEIGHTS, load_sae, sae_config, sae_layer, save_sae
from alignrun.lib.sae.intervention import FeatureSteering, SAEFeature
from alignrun.lib.sae.model import SparseAutoencoder, topk_loss
from alignrun.lib.sae.source import SAESource, convert_saelens, training_texts
from alignrun.lib.sae.train import SAETraining, fold_input_scale, sae_metrics, train_sae
from alignrun.models.tiny import build_tiny
from tests.conftest import empty_cache


def random_sae(
    d_in: int = 8, d_sae: int = 32, k: int | None = 4, arch: str = "topk", seed: int = 0
) -> SparseAutoencoder:
    torch.manual_seed(seed)
    sae = SparseAutoencoder(d_in, d_sae, k, arch)
    sae.init_weights(torch.randn(64, d_in), seed=seed)
    with torch.no_grad():
        sae.b_enc.normal_(0, 0.1)
    return sae


def sparse_data(
    n: int = 6000, d_in: int = 16, atoms: int = 48, active: int = 3, seed: int = 0
) -> torch.Tensor:
    """Sums of ``active`` random unit atoms with positive weights: data an SAE should explain well."""
    g = torch.Generator().manual_seed(seed)
    dictionary = torch.nn.functional.normalize(torch.randn(atoms, d_in, generator=g), dim=1)
    idx = torch.stack([torch.randperm(atoms, generator=g)[:active] for _ in range(n)])
    weights = torch.rand(n, active, generator=g) + 0.5
    return (weights[..., None] * dictionary[idx]).sum(1) * 3.0 + 1.0


def test_topk_encoding_is_topk_then_relu() -> None:
    sae = random_sae()
    x = torch.randn(10, 8)
    h = sae.pre_activations(x)
    torch.testing.assert_close(h, (x - sae.b_dec) @ sae.W_enc + sae.b_enc)
    f = sae.encode(x)
    assert ((f != 0).sum(-1) <= 4).all()
    top = h.topk(4, dim=-1)
    torch.testing.assert_close(f.gather(-1, top.indices), torch.relu(top.values))
    standard = random_sae(k=None, arch="standard")
    torch.testing.assert_close(standard.encode(x), torch.relu(standard.pre_activations(x)))
    with pytest.raises(ValueError, match="k"):
        SparseAutoencoder(8, 32, None, "topk")
    jump = random_sae(k=None, arch="jumprelu")
    with torch.no_grad():
        jump.threshold.fill_(0.2)
    h = jump.pre_activations(x)
    torch.testing.assert_close(jump.encode(x), torch.where(h > 0.2, h, torch.zeros_like(h)))


def test_jumprelu_round_trip_and_normalisation(tmp_path: Path) -> None:
    jump = random_sae(k=None, arch="jumprelu")
    with torch.no_grad():
        jump.threshold.uniform_(0.0, 0.3)
        jump.W_dec.mul_(torch.rand(32, 1) + 0.5)
    x = torch.randn(6, 8)
    before = jump.encode(x) * jump.W_dec.norm(dim=1)  # features in unit-decoder units
    out = jump(x)
    jump.normalize_decoder()
    torch.testing.assert_close(jump.encode(x), before, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(jump(x), out, atol=1e-5, rtol=1e-5)
    folder = save_sae(jump, tmp_path / "j", sae_config(jump, 0, "m", 8, "d"))
    again, cfg = load_sae(folder)
    assert again.architecture == "jumprelu" and cfg["activation_fn_str"] == "jumprelu"
    torch.testing.assert_close(again.encode(x), jump.encode(x))


def test_decoder_normalisation_keeps_the_function_and_grads_are_projected() -> None:
    sae = random_sae(k=None, arch="standard")
    with torch.no_grad():
        sae.W_dec.mul_(torch.rand(32, 1) + 0.5)  # uneven row norms
    x = torch.randn(5, 8)
    before = sae(x)
    sae.normalize_decoder()
    torch.testing.assert_close(sae.W_dec.norm(dim=1), torch.ones(32))
    torch.testing.assert_close(sae(x), before, atol=1e-5, rtol=1e-5)
    sae(x).pow(2).sum().backward()
    sae.project_decoder_grads()
    assert sae.W_dec.grad is not None
    assert (sae.W_dec.grad * sae.W_dec).sum(1).abs().max() < 1e-5


def test_topk_loss_and_auxk() -> None:
    sae = random_sae()
    x = torch.randn(16, 8)
    loss, f, x_hat = topk_loss(sae, x, dead=torch.zeros(32, dtype=torch.bool))
    torch.testing.assert_close(loss, (x - x_hat).pow(2).sum(-1).mean())
    dead = torch.ones(32, dtype=torch.bool)
    dead[f.nonzero()[:, 1]] = False  # the features that fired are alive
    with_aux, _, _ = topk_loss(sae, x, dead=dead)
    assert with_aux > loss
    with_aux.backward()
    assert sae.W_enc.grad is not None and sae.W_enc.grad[:, dead].abs().sum() > 0  # dead features learn


def test_input_scale_folds_into_the_weights() -> None:
    sae = random_sae(k=3)
    x, s = torch.randn(6, 8), 2.5
    f_scaled, x_hat_scaled = sae.encode(x * s), sae(x * s)
    fold_input_scale(sae, s)
    torch.testing.assert_close(sae.encode(x), f_scaled / s, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(sae(x), x_hat_scaled / s, atol=1e-5, rtol=1e-4)


def test_training_explains_sparse_data() -> None:
    data = sparse_data()
    sae, metrics = train_sae(
        data, SAETraining(expansion=4, k=4, steps=400, batch_size=256, lr=3e-3), progress=False
    )
    assert metrics["explained_variance"] > 0.8, metrics
    assert 0 < metrics["l0"] <= 4 and 0 <= metrics["dead_fraction"] < 1
    on_train = sae_metrics(sae, data[:300])
    assert (
        set(on_train) == {"explained_variance", "l0", "dead_fraction"}
        and on_train["explained_variance"] > 0.8
    )
    with pytest.raises(AlignrunError, match="at least 100"):
        train_sae(data[:10], SAETraining(), progress=False)
    with pytest.raises(AlignrunError, match=r"sae\.training"):
        SAETraining(k=0)


def test_saelens_format_round_trip(tmp_path: Path) -> None:
    sae = random_sae(d_in=8, d_sae=32, k=4)
    cfg = sae_config(sae, layer=1, model_name="tiny", context_size=64, dataset="d")
    folder = save_sae(sae, tmp_path / "sae", cfg)
    assert sorted(p.name for p in folder.iterdir()) == [CFG, WEIGHTS]
    from safetensors.torch import load_file

    tensors = load_file(str(folder / WEIGHTS))
    assert {k: tuple(v.shape) for k, v in tensors.items()} == {
        "W_enc": (8, 32), "W_dec": (32, 8), "b_enc": (32,), "b_dec": (8,)
    }  # fmt: skip
    written = json.loads((folder / CFG).read_text())
    assert written["architecture"] == "topk" and written["k"] == 4 and written["dtype"] == "float32"
    assert (
        written["metadata"]["sae_lens_version"]
        and written["metadata"]["hook_name"] == "blocks.1.hook_resid_post"
    )
    assert written["activation_fn_kwargs"] == {"k": 4} and written["hook_layer"] == 1  # SAELens 5's flat keys
    again, cfg2 = load_sae(folder)
    x = torch.randn(5, 8)
    torch.testing.assert_close(again.encode(x), sae.encode(x))
    assert sae_layer(cfg2) == 1
    legacy = {
        **written,
        "architecture": "standard",
        "activation_fn_str": "topk",
    }  # how SAELens 3-5 wrote TopK
    (folder / CFG).write_text(json.dumps(legacy))
    assert load_sae(folder)[0].architecture == "topk"


def test_bad_sae_folders_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(AlignrunError, match=r"needs cfg\.json"):
        load_sae(tmp_path)
    sae = random_sae()
    folder = save_sae(sae, tmp_path / "s", sae_config(sae, 0, "m", 8, "d"))
    cfg = json.loads((folder / CFG).read_text())
    (folder / CFG).write_text(json.dumps({**cfg, "architecture": "gated"}))
    with pytest.raises(AlignrunError, match="gated"):
        load_sae(folder)
    (folder / CFG).write_text(json.dumps({**cfg, "d_sae": 64}))
    with pytest.raises(AlignrunError, match="does not match"):
        load_sae(folder)
    with pytest.raises(AlignrunError, match="residual-stream"):
        sae_layer({"metadata": {"hook_name": "blocks.3.attn.hook_z"}})


def test_loads_with_saelens_when_installed(tmp_path: Path) -> None:
    sae_lens = pytest.importorskip("sae_lens")
    sae = random_sae(d_in=8, d_sae=32, k=4)
    folder = save_sae(sae, tmp_path / "sae", sae_config(sae, 1, "tiny", 64, "d"))
    loaded = sae_lens.SAE.load_from_disk(str(folder), device="cpu")
    assert type(loaded).__name__ == "TopKSAE" and loaded.cfg.k == 4
    assert loaded.cfg.metadata.hook_name == "blocks.1.hook_resid_post"
    x = torch.randn(5, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(x), sae.encode(x), atol=1e-5, rtol=1e-5)
    mine, cfg = convert_saelens(loaded)
    torch.testing.assert_close(mine.encode(x), sae.encode(x))
    assert sae_layer(cfg) == 1


def test_convert_saelens_objects() -> None:
    sae = random_sae(d_in=8, d_sae=32, k=4)

    class TopKSAE(torch.nn.Module):  # what SAELens 6 hands back: same tensors, cfg with k and metadata
        def __init__(self) -> None:
            super().__init__()
            for name in ("W_enc", "W_dec", "b_enc", "b_dec"):
                setattr(self, name, torch.nn.Parameter(getattr(sae, name).detach().clone()))
            meta = SimpleNamespace(hook_name="blocks.2.hook_resid_post", model_name="m", context_size=16)
            self.cfg = SimpleNamespace(k=4, rescale_acts_by_decoder_norm=False, metadata=meta)

    mine, cfg = convert_saelens(TopKSAE())
    torch.testing.assert_close(mine.encode(torch.ones(2, 8)), sae.encode(torch.ones(2, 8)))
    assert sae_layer(cfg) == 2 and cfg["k"] == 4

    class GatedSAE(torch.nn.Module):
        cfg = SimpleNamespace()

    with pytest.raises(AlignrunError, match="GatedSAE"):
        convert_saelens(GatedSAE())


def test_residual_activations_read_the_layer_output_and_stop_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lm = build_tiny()
    texts = lm.chat(["Should I help a friend move?", "Hi"])
    acts = residual_activations(lm, texts, layer=0, progress=False)
    enc = lm.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        hidden = lm.model(**enc, output_hidden_states=True).hidden_states[1]  # after decoder layer 0
    keep = enc["attention_mask"].bool() & ~torch.isin(
        enc["input_ids"], torch.tensor(lm.tokenizer.all_special_ids)
    )
    torch.testing.assert_close(acts, hidden[keep], atol=1e-5, rtol=1e-5)
    later: list[int] = []
    handle = layer_module(lm, 1).register_forward_hook(lambda *_: later.append(1))
    residual_activations(lm, texts, layer=0, progress=False)
    handle.remove()
    assert later == []  # layers above the captured one never ran
    with pytest.raises(AlignrunError, match="layer 5 does not exist"):
        residual_activations(lm, texts, layer=5)
    monkeypatch.setenv("ALIGNRUN_CACHE", str(tmp_path))
    first = cached_activations(lm, texts, 0, progress=False)
    assert list((tmp_path / "activations").iterdir())
    torch.testing.assert_close(cached_activations(lm, texts, 0, progress=False), first)
    assert mean_norm(lm, 0, texts) == pytest.approx(float(acts.norm(dim=1).mean()), rel=1e-4)
    assert len(decoder_layers(lm.model)) == 2


def test_feature_steering_adds_the_direction_and_always_removes_its_hook() -> None:
    lm = build_tiny()
    ids = lm.tokenizer(lm.chat(["Hello there"]), return_tensors="pt", add_special_tokens=False)["input_ids"]
    direction = torch.nn.functional.normalize(torch.randn(lm.model.config.hidden_size), dim=0)
    with torch.no_grad():
        plain = lm.model(input_ids=ids).logits
        with capture(lm, 0, stop=False) as seen:
            lm.model(input_ids=ids)
        steer = FeatureSteering(direction, layer=0, coeff=5.0)
        with steer.apply(lm), capture(lm, 0, stop=False) as steered_seen:
            steered = lm.model(input_ids=ids).logits
        torch.testing.assert_close(steered_seen[0], seen[0] + 5.0 * direction)  # added on every position
        assert not torch.allclose(steered, plain)
        after = lm.model(input_ids=ids).logits
    torch.testing.assert_close(after, plain)  # the same outputs as never steered
    assert all(not layer._forward_hooks for layer in decoder_layers(lm.model))
    with pytest.raises(RuntimeError), steer.apply(lm):
        raise RuntimeError("the body failed")
    assert all(not layer._forward_hooks for layer in decoder_layers(lm.model))
    prompt_only = FeatureSteering(direction, layer=0, coeff=5.0, positions="prompt")
    with torch.no_grad(), prompt_only.apply(lm):
        one = lm.model(input_ids=ids[:, :1]).logits  # a one-token pass is a decode step: not steered
    torch.testing.assert_close(one, plain[:, :1], atol=1e-5, rtol=1e-5)
    with (
        pytest.raises(AlignrunError, match="another model"),
        FeatureSteering(torch.ones(3), 0, 1.0).apply(lm),
    ):
        pass
    with pytest.raises(AlignrunError, match="positions"):
        FeatureSteering(direction, 0, 1.0, positions="middle")


def test_sae_feature_steering_from_a_folder(tmp_path: Path) -> None:
    sae = random_sae(d_in=64, d_sae=128, k=8)
    folder = save_sae(sae, tmp_path / "sae", sae_config(sae, 1, "tiny", 64, "d"))
    steer = SAEFeature(str(folder), feature=7, coeff=-2.0)
    assert steer.layer == 1 and steer.coeff == -2.0 and steer.feature == 7
    torch.testing.assert_close(steer.direction, sae.W_dec[7].detach())
    with pytest.raises(AlignrunError, match=r"steering\.feature"):
        SAEFeature(str(folder), feature=500, coeff=1.0)


def test_cohens_d_by_hand() -> None:
    pos = torch.tensor([[1.0, 0.0], [3.0, 0.0]])
    neg = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    # feature 0: means 2 vs 0, variances 1 and 0 -> d = 2 / sqrt(0.5); feature 1 never varies -> 0
    torch.testing.assert_close(cohens_d(pos, neg), torch.tensor([2 / 0.5**0.5, 0.0]))


def test_feature_ranking_on_the_tiny_model() -> None:
    from alignrun.profile.schwartz import scenarios, schwartz_values

    lm = build_tiny()
    value = schwartz_values(["benevolence"])["benevolence"]
    found = materials(lm, value, scenarios()[:2], max_new_tokens=4)
    assert set(found) == {"answers", "questionnaire", "exemplars"}
    pos, neg = found["questionnaire"]
    assert len(pos) == len(neg) == len(value.questionnaire or []) and pos[0][1] != neg[0][1]
    sae = random_sae(d_in=64, d_sae=128, k=8)
    ranking = rank_features(lm, sae, 1, value, scenarios()[:2], n_top=3, n_random=2, max_new_tokens=4)
    assert len(ranking.top) == 3 and len(ranking.random) == 2 and not set(ranking.top) & set(ranking.random)
    assert ranking.scores == sorted(ranking.scores, reverse=True)
    assert set(ranking.per_material) == set(found)


def test_preference_pairs_are_a_material() -> None:
    from datasets import Dataset

    from alignrun.contracts import Value

    rows = [{"prompt": f"q{i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(10)]
    assert [r["prompt"] for r in preference_rows(rows, 4)] == ["q0", "q2", "q5", "q7"]  # spread evenly
    assert preference_rows(Dataset.from_list(rows), 20) == rows and preference_rows(None, 4) == []
    lm = build_tiny()
    value = Value(name="helpful", preference_data=Dataset.from_list(rows))
    found = materials(lm, value, [], max_pairs=3)
    assert set(found) == {"pairs"}
    assert found["pairs"] == (
        [("q0", "good 0"), ("q3", "good 3"), ("q6", "good 6")],
        [("q0", "bad 0"), ("q3", "bad 3"), ("q6", "bad 6")],
    )
    # the run's pairs for the value replace its own
    assert materials(lm, value, [], pairs=rows[:1])["pairs"] == ([("q0", "good 0")], [("q0", "bad 0")])
    ranking = rank_features(lm, random_sae(d_in=64, d_sae=128, k=8), 1, value, [], n_top=2, n_random=1)
    assert set(ranking.per_material) == {"pairs"} and ranking.sizes == {"pairs": 20}
    with pytest.raises(AlignrunError, match="no material"):
        rank_features(lm, random_sae(d_in=64, d_sae=128, k=8), 1, Value(name="bare"), [])


@pytest.mark.slow
def test_an_sae_trains_on_the_tiny_model_and_is_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALIGNRUN_CACHE", empty_cache(tmp_path))
    lm = build_tiny()
    assert len(training_texts(lm)) > 1000
    source = SAESource(
        layer=1, max_length=64, training=SAETraining(expansion=2, k=8, steps=30, batch_size=256)
    )
    sae, cfg, metrics = source.train(lm, progress=False)
    assert (sae.d_in, sae.d_sae, sae.k) == (64, 128, 8) and sae_layer(cfg) == 1
    assert {"explained_variance", "l0", "dead_fraction", "tokens"} <= set(metrics)
    folders = list((tmp_path / "saes").iterdir())
    assert len(folders) == 1 and (folders[0] / CFG).is_file() and (folders[0] / WEIGHTS).is_file()
    again, _, metrics2 = source.get(lm, progress=False)  # from the cache, not retrained
    assert metrics2 == metrics and torch.equal(again.W_dec, sae.W_dec)
    with pytest.raises(AlignrunError, match="not both"):
        SAESource(path="a", release="b")
