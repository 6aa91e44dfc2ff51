"""A2 adapters: eq. 4, Dual-Adapter routing / modes / groups, adapter-only training, adapter weights I/O."""

import pytest
import torch

from espnet_ext.asr.adapters import adapter_io
from espnet_ext.asr.adapters.adapter import Adapter
from espnet_ext.asr.adapters.dual_adapter import DualAdapter

LANGS = ["en", "fr", "zh"]


def randomize(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every parameter a random value (adapters start as the identity, which tests nothing)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return module


def manual_delta(a: Adapter, h: torch.Tensor) -> torch.Tensor:
    z = torch.nn.functional.layer_norm(h, (a.size,), a.norm.weight, a.norm.bias, a.norm.eps)
    return torch.relu(z @ a.down.weight.T + a.down.bias) @ a.up.weight.T + a.up.bias


def test_adapter_is_eq4_and_starts_as_identity():
    a = Adapter(8, bottleneck=3)
    h = torch.randn(2, 5, 8)
    assert torch.equal(a(h), h)
    randomize(a)
    assert torch.allclose(a(h), manual_delta(a, h) + h, atol=1e-6)
    assert a.down.weight.shape == (3, 8) and a.up.weight.shape == (8, 3)


def test_espnet_initialize_keeps_the_identity_start():
    from espnet2.torch_utils.initialize import initialize

    dual = DualAdapter(8, LANGS, bottleneck=4)
    for init in ("xavier_uniform", "chainer"):
        randomize(dual)
        initialize(dual, init)
        dual.set_language(torch.tensor([0, 2]))
        h = torch.randn(2, 3, 8)
        assert torch.equal(dual(h), h), init


@pytest.mark.parametrize("mode,residual", [("dual", "single"), ("lang", "single"), ("common", "single"),
                                           ("dual", "per_adapter")])
def test_modes_match_the_reference_equations(mode, residual):
    dual = randomize(DualAdapter(8, LANGS, bottleneck=4, mode=mode, residual=residual))
    h = torch.randn(3, 4, 8)
    dual.set_language(torch.tensor([1, 1, 1]))
    expected = h.clone()
    if mode in ("dual", "common"):
        expected = expected + manual_delta(dual.common, h)
    if mode in ("dual", "lang"):
        expected = expected + manual_delta(dual.lang_adapters["fr"], h)
    if residual == "per_adapter":
        expected = expected + h  # o = o_lang + o_com, each with its own "+ h" (eq. 4)
    assert torch.allclose(dual(h), expected, atol=1e-5)
    assert dual.adapter_names() == {"dual": LANGS + ["common"], "lang": LANGS, "common": ["common"]}[mode]


def test_mixed_language_batch_routes_each_utterance_to_its_adapter():
    dual = randomize(DualAdapter(8, LANGS, bottleneck=4))
    h = torch.randn(5, 4, 8)
    ids = torch.tensor([2, 0, 1, 0, 2])
    dual.set_language(ids)
    mixed = dual(h)
    for b in range(5):
        dual.set_language(ids[b:b + 1])
        assert torch.allclose(mixed[b:b + 1], dual(h[b:b + 1]), atol=1e-6)
    dual.set_language(torch.tensor([1]))  # one id is broadcast over the batch (beam search hypotheses)
    assert torch.allclose(dual(h), dual.common(h) + manual_delta(dual.lang_adapters["fr"], h), atol=1e-5)


def test_gradient_reaches_only_the_utterances_language_and_common_adapters():
    dual = randomize(DualAdapter(8, LANGS, bottleneck=4))
    dual.set_language(torch.tensor([0, 1, 0]))
    out = dual(torch.randn(3, 4, 8))
    out[1].pow(2).sum().backward()  # the loss of the fr utterance only
    grads = {name: dual.adapter(name).up.weight.grad for name in dual.adapter_names()}
    assert grads["fr"].abs().sum() > 0 and grads["common"].abs().sum() > 0
    assert grads["en"].abs().sum() == 0 and grads["zh"].abs().sum() == 0  # gathered, but no gradient


def test_group_adapters_share_parameters_within_a_group():
    groups = {"en": "latin", "fr": "latin", "zh": "chinese", "ru": "cyrillic"}  # ru: not in this inventory
    dual = randomize(DualAdapter(8, LANGS, bottleneck=4, groups=groups))
    assert dual.slots == ["latin", "chinese"] and list(dual.lang_adapters) == ["latin", "chinese"]
    assert dual.slot_of("fr") == "latin"
    h = torch.randn(1, 4, 8).expand(3, 4, 8)
    dual.set_language(torch.tensor([0, 1, 2]))
    out = dual(h)
    assert torch.equal(out[0], out[1]) and not torch.allclose(out[0], out[2])
    out[1].sum().backward()  # fr's loss trains the shared latin adapter
    assert dual.lang_adapters["latin"].up.weight.grad.abs().sum() > 0
    assert dual.lang_adapters["chinese"].up.weight.grad.abs().sum() == 0  # in the graph (zh row), no gradient
    n_individual = sum(p.numel() for p in DualAdapter(8, LANGS, bottleneck=4).parameters())
    n_grouped = sum(p.numel() for p in dual.parameters())
    assert n_individual - n_grouped == sum(p.numel() for p in Adapter(8, 4).parameters())


def per_utterance_reference(dual: DualAdapter, h: torch.Tensor, ids) -> torch.Tensor:
    """Today's single-language computation, one utterance at a time: h + Δ_com(h) + Δ_slot(h) (eq. 4)."""
    rows = []
    for b, i in enumerate(ids):
        x, out = h[b:b + 1], h[b:b + 1]
        if dual.common is not None:
            out = out + dual.common.delta(x)
        if dual.slots:
            out = out + dual.lang_adapters[dual.slot_of(dual.languages[int(i)])].delta(x)
        if dual.residual == "per_adapter" and dual.mode == "dual":
            out = out + x
        rows.append(out)
    return torch.cat(rows)


@pytest.mark.parametrize("kwargs", [dict(), dict(bottleneck_per_language={"zh": 7}), dict(mode="lang"),
                                    dict(groups={"en": "latin", "fr": "latin", "zh": "han"}),
                                    dict(residual="per_adapter")])
def test_oracle_routing_reproduces_the_single_adapter_computation(kwargs):
    dual = randomize(DualAdapter(8, LANGS, bottleneck=4, **kwargs))
    h = torch.randn(6, 3, 2, 8)  # any (B, ..., D)
    ids = torch.tensor([2, 0, 0, 1, 2, 0])
    dual.set_language(ids)
    out = dual(h)
    expected = per_utterance_reference(dual, h, ids)
    # one batched matmul over all adapters vs one adapter at a time: equal up to float rounding
    assert (out - expected).abs().max() < 1e-6 * expected.abs().max() * 10
    assert not torch.allclose(out, per_utterance_reference(dual, h, ids.flip(0)), atol=1e-3)


def test_routing_weights_sum_to_one_per_frame_and_groups_add_up():
    dual = DualAdapter(8, LANGS, bottleneck=4, groups={"en": "latin", "fr": "latin", "zh": "han"})
    dual.set_language(torch.tensor([0, 2]))
    assert torch.equal(dual.routing_weights(2), torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]]))
    posterior = torch.softmax(torch.randn(2, 5, 3), dim=-1)  # (B, T, L) frame posteriors
    dual.set_language_weights(posterior)
    w = dual.routing_weights(2)
    assert w.shape == (2, 5, 2) and torch.allclose(w.sum(-1), torch.ones(2, 5))
    assert torch.allclose(w[..., 0], posterior[..., 0] + posterior[..., 1])  # en + fr share "latin"
    dual.set_language_weights(posterior[:1, 0])  # one utterance's (1, L) weights, 4 beam hypotheses
    assert dual.routing_weights(4).shape == (4, 1, 2)
    with pytest.raises(ValueError, match="2 columns for 3 languages"):
        dual.set_language_weights(torch.ones(1, 2))


def test_soft_routing_mixes_the_language_adapters_per_utterance_and_per_frame():
    dual = randomize(DualAdapter(8, LANGS, bottleneck=4, bottleneck_per_language={"fr": 6}))
    h = torch.randn(2, 5, 8)
    deltas = torch.stack([dual.lang_adapters[lang].delta(h) for lang in LANGS], dim=-1)  # (B, T, D, L)
    base = h + dual.common.delta(h)
    post = torch.softmax(torch.randn(2, 3), dim=-1)
    dual.set_language_weights(post)
    assert torch.allclose(dual(h), base + (deltas * post[:, None, None, :]).sum(-1), atol=1e-5)
    frames = torch.softmax(torch.randn(2, 5, 3), dim=-1)
    dual.set_language_weights(frames)
    assert torch.allclose(dual(h), base + (deltas * frames[:, :, None, :]).sum(-1), atol=1e-5)


def test_hard_one_hot_weights_equal_oracle_and_off_is_common_only():
    dual = randomize(DualAdapter(8, LANGS, bottleneck=4))
    h = torch.randn(3, 4, 8)
    ids = torch.tensor([1, 2, 0])
    dual.set_language(ids)
    oracle = dual(h)
    dual.set_language_weights(torch.nn.functional.one_hot(ids, 3).float())
    assert torch.equal(dual(h), oracle)
    dual.switch_language_off()
    assert torch.equal(dual(h), h + dual.common.delta(h))


def test_bottleneck_per_language():
    dual = DualAdapter(8, LANGS, bottleneck=4, bottleneck_per_language={"zh": 16})
    assert dual.lang_adapters["zh"].bottleneck == 16 and dual.lang_adapters["en"].bottleneck == 4
    assert dual.common.bottleneck == 4


@pytest.mark.parametrize("kwargs,message", [
    (dict(mode="both"), "adapter mode must be one of"),
    (dict(residual="twice"), "adapter residual must be one of"),
    (dict(groups={"en": "latin", "fr": "latin"}), r"no group for languages \['zh'\]"),
    (dict(bottleneck_per_language={"de": 8}), r"keys \['de'\] that name no adapter"),
    (dict(mode="common", groups={"en": "a", "fr": "a", "zh": "b"}), "mode 'common' has no language-specific"),
    (dict(languages=["en", "zh.TW"]), "cannot name an adapter"),
    (dict(languages=[]), "needs the language inventory"),
])
def test_bad_configuration_is_named(kwargs, message):
    kwargs = {"languages": LANGS, **kwargs}
    with pytest.raises(ValueError, match=message):
        DualAdapter(8, **kwargs)


def test_missing_language_is_a_clear_error():
    with pytest.raises(RuntimeError, match="routes on the utterance's language but none was given"):
        DualAdapter(8, LANGS)(torch.randn(2, 3, 8))


class _TinyModel(torch.nn.Module):
    def __init__(self, languages=LANGS):
        super().__init__()
        self.shared = torch.nn.Linear(8, 8)
        self.layers = torch.nn.ModuleList([DualAdapter(8, languages, bottleneck=4) for _ in range(2)])

    def forward(self, x, lang):
        for m in self.layers:
            m.set_language(lang)
        x = self.shared(x)
        for m in self.layers:
            x = m(x)
        return x


def test_adapter_only_training_changes_only_the_selected_adapters():
    torch.manual_seed(0)
    model = randomize(_TinyModel())
    trainable = adapter_io.train_only_adapters(model, ["zh"])
    assert trainable == [f"layers.{i}.lang_adapters.zh.{p}" for i in range(2)
                         for p in ("norm.weight", "norm.bias", "down.weight", "down.bias", "up.weight", "up.bias")]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(4, 8), torch.tensor([0, 1, 2, 2])).pow(2).sum().backward()
    opt.step()
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and changed <= set(trainable)
    assert all(".lang_adapters.zh." in k for k in changed)
    with pytest.raises(ValueError, match=r"adapter names \['de'\] match no adapter"):
        adapter_io.train_only_adapters(model, ["de"])


def test_save_and_load_adapter_weights_alone(tmp_path):
    src = randomize(_TinyModel(), seed=1)
    saved = adapter_io.save_adapters(src, tmp_path / "a.pth", ["fr", "common"])
    assert all((".lang_adapters.fr." in k) or (".common." in k) for k in saved)
    dst = randomize(_TinyModel(), seed=2)
    shared_before = dst.shared.weight.clone()
    en_before = dst.layers[0].lang_adapters["en"].up.weight.clone()
    loaded = adapter_io.load_adapters(dst, tmp_path / "a.pth")
    assert loaded == saved
    for k in saved:
        assert torch.equal(dst.state_dict()[k], src.state_dict()[k])
    assert torch.equal(dst.shared.weight, shared_before)
    assert torch.equal(dst.layers[0].lang_adapters["en"].up.weight, en_before)


def test_loading_adapters_into_another_architecture_fails_clearly(tmp_path):
    adapter_io.save_adapters(_TinyModel(["en", "fr", "zh", "sv"]), tmp_path / "a.pth", ["sv"])
    with pytest.raises(ValueError, match=r"adapters \['sv'\] do not exist in the model"):
        adapter_io.load_adapters(_TinyModel(), tmp_path / "a.pth")
    torch.save({"weights": 1}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not an espnet_ext adapter file"):
        adapter_io.load_adapters(_TinyModel(), tmp_path / "other.pth")


def test_stacked_adapters_are_reused_without_gradients_until_a_parameter_changes():
    """Decoding reuses the stacked weights across beam-search steps; an in-place update (optimizer step,
    load_state_dict) must rebuild them, and the reused stack gives exactly the freshly built result."""
    torch.manual_seed(0)
    m = DualAdapter(16, ["en", "fr", "zh"], bottleneck=4)
    for a in m.lang_adapters.values():
        torch.nn.init.normal_(a.up.weight)
    h = torch.randn(2, 5, 16)
    m.set_language(torch.tensor([0, 2]))
    fresh = m(h)  # with gradients: built at the call
    with torch.no_grad():
        assert torch.equal(m(h), fresh) and torch.equal(m(h), fresh)
        m.lang_adapters["en"].up.weight.add_(1.0)
        changed = m(h)
    assert not torch.equal(changed, fresh) and torch.equal(changed, m(h))


@pytest.mark.parametrize("kwargs", [dict(), dict(mode="lang"), dict(groups={"en": "latin", "fr": "latin", "zh": "han"}),
                                    dict(residual="per_adapter")])
def test_gathered_path_equals_the_weighted_sum_in_values_and_gradients(kwargs):
    """One-hot routing per utterance takes the gathered computation (each utterance's rows of the stack); it
    must give the weighted sum of all adapters (one-hot weights) up to float rounding, gradients included."""
    dual = randomize(DualAdapter(8, LANGS, bottleneck=4, **kwargs))
    assert dual.uniform_bottleneck
    h = torch.randn(5, 3, 8, requires_grad=True)
    ids = torch.tensor([2, 0, 1, 1, 0])
    dual.set_language(ids)
    gathered = dual(h)
    (g_h,) = torch.autograd.grad(gathered.pow(2).sum(), h)
    g_p = torch.autograd.grad(dual(h).pow(2).sum(), list(dual.parameters()))
    weights = torch.nn.functional.one_hot(dual.slot_of_lang[ids], len(dual.slots)).float().unsqueeze(1)
    weighted = h + dual.language_delta(h, weights) + (dual.common.delta(h) if dual.common is not None else 0)
    if dual.residual == "per_adapter" and dual.mode == "dual":
        weighted = weighted + h
    assert (gathered - weighted).abs().max() < 1e-5
    assert torch.allclose(g_h, torch.autograd.grad(weighted.pow(2).sum(), h, retain_graph=True)[0], atol=1e-4)
    for a, b in zip(g_p, torch.autograd.grad(weighted.pow(2).sum(), list(dual.parameters()), allow_unused=True)):
        assert torch.allclose(a, torch.zeros_like(a) if b is None else b, atol=1e-4)


def test_unequal_bottlenecks_take_the_weighted_path():
    dual = randomize(DualAdapter(8, LANGS, bottleneck=4, bottleneck_per_language={"zh": 7}))
    assert not dual.uniform_bottleneck
    with pytest.raises(RuntimeError, match="one bottleneck size"):
        dual.gathered_delta(torch.randn(2, 3, 8), torch.tensor([0, 1]))


def test_soft_routing_stack_is_reused_without_gradients_until_a_parameter_changes():
    dual = randomize(DualAdapter(8, LANGS, bottleneck=4))
    h = torch.randn(2, 5, 8)
    dual.set_language_weights(torch.softmax(torch.randn(2, 3), dim=-1))
    fresh = dual(h)
    with torch.no_grad():
        assert torch.equal(dual(h), fresh)
        dual.lang_adapters["fr"].down.weight.mul_(2.0)
        changed = dual(h)
    assert not torch.equal(changed, fresh) and torch.equal(changed, dual(h))
