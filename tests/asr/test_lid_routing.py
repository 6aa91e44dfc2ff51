"""LID head (issue 20): joint LID loss, state_dict keys, two-pass oracle / hard / soft routing, decoding
without a language tag, and frame-level LID targets from the CTC forced alignment (code-switching)."""

import re

import numpy as np
import pytest
import torch

import espnet_ext  # noqa: F401
from espnet_ext.asr.adapters import adapter_io
from espnet_ext.asr.decoder.adapter_transformer_decoder import AdapterTransformerDecoder
from espnet_ext.asr.encoder.adapter_transformer_encoder import AdapterTransformerEncoder
from espnet_ext.asr.lid.frame_lid_targets import FrameLidTargets, ctc_forced_alignment, token_script
from espnet_ext.asr.lid.lid_router import smooth_over_frames
from espnet_ext.asr.multilingual_model import MultilingualASRModel
from espnet2.asr.ctc import CTC
from espnet2.asr.espnet_model import ESPnetASRModel

LANGS = ["en", "fr", "zh"]
TOKENS = ["<blank>", "<unk>", "a", "b", "c", "中", "文", "<sos/eos>"]
ENC = dict(output_size=16, attention_heads=2, linear_units=24, num_blocks=2, input_layer="linear")
HEAD_KEYS = ["lid_head.linear.weight", "lid_head.linear.bias"]


def parts(seed=0, **enc_kw):
    torch.manual_seed(seed)
    enc = AdapterTransformerEncoder(8, languages=LANGS, adapter_bottleneck=4, **ENC, **enc_kw)
    dec = AdapterTransformerDecoder(len(TOKENS), 16, languages=LANGS, adapter_bottleneck=4, attention_heads=2,
                                    linear_units=24, num_blocks=1)
    return dict(vocab_size=len(TOKENS), token_list=TOKENS, frontend=None, specaug=None, normalize=None,
                preencoder=None, encoder=enc, postencoder=None, decoder=dec, ctc=CTC(len(TOKENS), 16),
                joint_network=None, ctc_weight=0.3)


def build(lid_weight=0.5, seed=0, enc_kw=None, **kw):
    model = MultilingualASRModel(**parts(seed, **(enc_kw or {})), languages=LANGS, lid_weight=lid_weight, **kw)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # adapters start as the identity, which would route nothing
        for _, p in adapter_io.named_adapter_parameters(model):
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return model


def batch():
    torch.manual_seed(1)
    return dict(speech=torch.randn(3, 14, 8), speech_lengths=torch.tensor([14, 11, 9]),
                text=torch.tensor([[2, 3, -1], [5, 6, 5], [4, -1, -1]]), text_lengths=torch.tensor([2, 3, 1]),
                lang=torch.tensor([[0], [2], [1]]))


def test_lid_loss_is_added_and_its_gradient_reaches_the_head_and_the_encoder():
    model = build(lid_weight=0.5).train()
    loss, stats, _ = model(**batch())
    asr = 0.3 * stats["loss_ctc"] + 0.7 * stats["loss_att"]
    assert torch.allclose(loss, asr + 0.5 * stats["lid_loss"], atol=1e-5)
    assert 0 <= float(stats["lid_acc"]) <= 1 and float(stats["lid_loss"]) > 0
    model.zero_grad()
    lid_loss, _ = model.lid_loss(model.lid_router.last, torch.tensor([0, 2, 1]), batch()["text"],
                                 batch()["text_lengths"])
    lid_loss.backward()  # the LID loss alone
    assert model.lid_head.linear.weight.grad.abs().sum() > 0
    assert model.encoder.encoders[0].feed_forward.w_1.weight.grad.abs().sum() > 0  # shared encoder
    assert model.encoder.embed[0].weight.grad.abs().sum() > 0
    first = model.encoder.encoders[0].adapter
    assert first.common.up.weight.grad.abs().sum() > 0
    # pass 1 runs the common adapter only: the LID loss trains no language-specific adapter
    assert all(a.up.weight.grad is None or a.up.weight.grad.abs().sum() == 0 for a in first.lang_adapters.values())


def test_state_dict_keys_without_and_with_the_head(tmp_path):
    stock = ESPnetASRModel(**parts())
    plain = MultilingualASRModel(**parts(), languages=LANGS)
    assert list(plain.state_dict()) == list(stock.state_dict())  # lid_weight 0: today's keys exactly
    with_head = build(lid_weight=0.3)
    assert list(with_head.state_dict()) == list(stock.state_dict()) + HEAD_KEYS
    torch.save(with_head.state_dict(), tmp_path / "m.pth")
    reloaded = build(lid_weight=0.3, seed=7)
    saved = torch.load(tmp_path / "m.pth")
    reloaded.load_state_dict(saved)  # strict
    assert list(reloaded.state_dict()) == list(saved)
    assert all(torch.equal(reloaded.state_dict()[k], v) for k, v in saved.items())


def encode(model, x, lens, lang=None, routing=None):
    model.set_lang_routing(routing)
    with model.language_context(lang, x.shape[0]):
        return model.encode(x, lens)[0], model.lid_router.last


def test_two_pass_routing_oracle_hard_soft():
    model = build().eval()
    x, lens = batch()["speech"], batch()["speech_lengths"]
    plain = MultilingualASRModel(**parts(), languages=LANGS).eval()
    plain.load_state_dict(model.state_dict(), strict=False)
    tag = torch.tensor([0, 2, 1])
    with torch.no_grad():
        with plain.language_context(tag, 3):
            today = plain.encode(x, lens)[0]
        oracle, lid = encode(model, x, lens, tag)
        assert torch.equal(oracle, today) and lid.routing == "oracle"  # the LID pass leaves oracle untouched

        # pass 1 = the encoder with the common adapters only
        for m in plain.conditioned_modules():
            m.switch_language_off()
        first = plain.encoder(x, lens)[0]
        assert torch.equal(lid.features, first)
        posterior = model.lid_head(first, lens)[0].softmax(-1)

        hard, lid = encode(model, x, lens, tag, routing="hard")  # the tag is ignored
        with plain.language_context(posterior.argmax(-1), 3):
            assert torch.equal(hard, plain.encode(x, lens)[0])

        soft, _ = encode(model, x, lens, routing="soft")
        for m in plain.conditioned_modules():
            m.set_language_weights(posterior)
        assert torch.allclose(soft, plain.encoder(x, lens)[0], atol=1e-6)
        assert not torch.allclose(soft, hard, atol=1e-4)
        assert torch.equal(encode(model, x, lens)[0], soft)  # no tag, no choice: soft

    with pytest.raises(RuntimeError, match="lang_routing 'oracle' needs each utterance's language"):
        encode(model, x, lens, routing="oracle")
    with pytest.raises(ValueError, match="lang_routing 'soft' routes by the LID head, but this model has none"):
        plain.set_lang_routing("soft")
    with pytest.raises(ValueError, match="lang_routing must be one of"):
        model.set_lang_routing("auto")


def test_a_few_training_steps_lower_the_lid_loss():
    model = build(lid_weight=1.0).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(10):
        opt.zero_grad()
        loss, stats, _ = model(**batch())
        loss.backward()
        opt.step()
        losses.append(float(stats["lid_loss"]))
    assert losses[-1] < losses[0] * 0.85, losses  # (lr 3e-3: 1.31 -> 1.13 in 8 steps)


def test_decoding_without_a_language_writes_the_chosen_language(tmp_path):
    from espnet_ext.asr.speech2text_builder import MultilingualSpeech2Text

    model = build().eval()
    feats = torch.from_numpy(np.random.default_rng(0).standard_normal((30, 8)).astype(np.float32))

    class _S2T(MultilingualSpeech2Text):  # the model above, without a config file
        def __init__(self):
            from espnet.nets.batch_beam_search import BatchBeamSearch
            from espnet.nets.scorers.ctc import CTCPrefixScorer

            self.asr_model, self.asr_train_args, self.device, self.dtype = model, None, "cpu", "float32"
            self.beam_search = BatchBeamSearch(
                scorers=dict(decoder=model.decoder, ctc=CTCPrefixScorer(model.ctc, model.eos)),
                weights=dict(decoder=0.7, ctc=0.3), beam_size=2, vocab_size=len(TOKENS), sos=model.sos,
                eos=model.eos, token_list=TOKENS)
            self.maxlenratio, self.minlenratio = 0.3, 0.0
            self.converter, self.tokenizer = _Ids(), None
            self.hugging_face_model, self.beam_search_transducer = None, None
            self.enh_s2t_task, self.multi_asr, self.nbest = False, False, 1

        def check_input(self, speech, key=None):
            pass

    class _Ids:
        def ids2tokens(self, ids):
            return [TOKENS[i] for i in ids]

    s2t = _S2T()
    with torch.no_grad():
        model.set_lang_routing(None)
        results = s2t(feats)  # no language: soft routing by the LID head
        code, posterior = s2t.last_language()
        expected = model.lid_head(model.lid_router.last.features, torch.tensor([30]))[0].softmax(-1)[0]
        assert code == LANGS[int(expected.argmax())] and posterior == pytest.approx(float(expected.max()), abs=1e-6)
        assert results and model.lid_router.last.routing == "soft"
        s2t(feats, lang="fr")
        assert s2t.last_language()[0] == "fr" and model.lid_router.last.routing == "oracle"


def test_script_of_tokens_and_ctc_forced_alignment_give_frame_languages():
    assert [token_script(t) for t in ["中", "\u2581hello", "é", "1", "a中"]] == ["han", "latin", "latin", None, None]
    # 8 frames; best path: a a _ 中 中 _ b _  (a, 中, b); the reference is "a 中 b"
    path = [2, 2, 0, 5, 5, 0, 3, 0]
    log_probs = torch.full((1, 8, len(TOKENS)), -5.0)
    log_probs[0, torch.arange(8), torch.tensor(path)] = -0.1
    index = ctc_forced_alignment(log_probs, torch.tensor([8]), torch.tensor([[2, 5, 3]]), torch.tensor([3]), 0)
    assert index.tolist() == [[0, 0, -1, 1, 1, -1, 2, -1]]
    targets = FrameLidTargets(TOKENS, LANGS, None)
    frames = targets(log_probs.expand(2, -1, -1), torch.tensor([8, 6]), torch.tensor([[2, 5, 3], [5, 6, -1]]),
                     torch.tensor([3, 2]))
    en, zh = 0, 2
    assert frames[0].tolist() == [en, en, en, zh, zh, zh, en, en]  # blanks take the language before them
    # utterance 2 "中文" in 6 frames: all zh; frames past its length get none
    assert frames[1].tolist() == [zh] * 6 + [-1, -1]
    too_short = targets(log_probs[:, :2], torch.tensor([2]), torch.tensor([[2, 5, 3]]), torch.tensor([3]))
    assert too_short.tolist() == [[-1, -1]]  # 3 tokens cannot fit 2 frames
    with pytest.raises(ValueError, match="lid_script_languages"):
        FrameLidTargets(TOKENS, LANGS, {"latin": "de", "han": "zh"})


def test_frame_level_lid_trains_and_routes_the_encoder_adapters_per_frame():
    model = build(lid_weight=0.5, lid_level="frame").train()
    loss, stats, _ = model(**batch())
    loss.backward()
    assert float(stats["lid_loss"]) > 0 and model.lid_head.linear.weight.grad.abs().sum() > 0
    model.eval()
    x, lens = batch()["speech"], batch()["speech_lengths"]
    with torch.no_grad():
        out, lid = encode(model, x, lens, routing="soft")
        frames = lid.frame_logits.softmax(-1)
        adapter = model.encoder.encoders[0].adapter
        model.set_lang_routing("soft")
        with model.language_context(None, 3):
            model.encode(x, lens)
            w = adapter.routing_weights(3)
            assert w.shape == (3, x.shape[1], 3) and torch.allclose(w, frames)
            assert torch.allclose(w.sum(-1), torch.ones(3, x.shape[1]))
            decoder_w = model.decoder.decoders[0].adapter.routing_weights(3)
            assert decoder_w.shape == (3, 1, 3) and torch.allclose(decoder_w[:, 0], lid.posteriors("frame"))


def count_calls(modules):
    calls = [0] * len(modules)
    for i, m in enumerate(modules):
        m.register_forward_hook(lambda *_, i=i: calls.__setitem__(i, calls[i] + 1))
    return calls


@pytest.mark.parametrize("common_layers, lid_layers, expected_calls", [
    (0, None, [1, 2, 2]), (0, 1, [1, 2, 1]), (1, 1, [1, 1, 1]), (1, None, [1, 1, 2])])
def test_lid_pass_shares_the_input_layer_and_the_language_agnostic_layers(common_layers, lid_layers, expected_calls):
    """The input layer runs once per forward (both passes start from its output); pass 1 runs the first
    ``lid_layers`` layers with the common adapters only, and the head reads them after the final LayerNorm.
    encoder_conf.adapter_common_layers 1: layer 0 holds the common adapter only, so it runs once, in the real
    pass; with lid_layers 1 the head reads it and no layer runs twice, else pass 1 goes on from it."""
    common = dict(adapter_common_layers=common_layers)
    model = build(lid_layers=lid_layers, enc_kw=common).eval()
    assert model.lid_router.shared_layers == common_layers
    enc = model.encoder
    calls = count_calls([enc.embed, *enc.encoders])
    x, lens, tag = batch()["speech"], batch()["speech_lengths"], torch.tensor([0, 2, 1])
    with torch.no_grad():
        out, lid = encode(model, x, lens, tag)
    assert calls == expected_calls
    plain = MultilingualASRModel(**parts(**common), languages=LANGS).eval()
    plain.load_state_dict(model.state_dict(), strict=False)
    with torch.no_grad():
        for m in plain.conditioned_modules():
            m.switch_language_off()
        h, masks = plain.encoder.embed_input(x, lens)
        for layer in list(plain.encoder.encoders)[:lid_layers]:
            h, masks = layer(h, masks)
        assert torch.equal(lid.features, plain.encoder.after_norm(h))
        with plain.language_context(tag, 3):
            assert torch.equal(out, plain.encode(x, lens)[0])  # oracle: ESPnet's own forward, every layer in turn
        posterior = model.lid_head(lid.features, lens)[0].softmax(-1)
        soft, _ = encode(model, x, lens, routing="soft")
        for m in plain.conditioned_modules():
            m.set_language_weights(posterior)
        assert torch.allclose(soft, plain.encoder(x, lens)[0], atol=1e-6)


def test_layer_drop_applies_to_both_passes_as_in_espnet():
    """The routed encoder runs its layers one by one; ESPnet's layer drop (MultiSequential) still applies."""
    model = build(lid_layers=None, enc_kw=dict(layer_drop_rate=1.0)).train()
    enc = model.encoder
    calls = count_calls([enc.embed, *enc.encoders])
    x, lens = batch()["speech"], batch()["speech_lengths"]
    out, lid = encode(model, x, lens, torch.tensor([0, 2, 1]))
    assert calls == [1, 0, 0]  # every layer dropped, in pass 1 and in the real pass
    assert torch.equal(out, lid.features)  # both are the final LayerNorm of the input layer's output
    model.eval()
    encode(model, x, lens, torch.tensor([0, 2, 1]))
    assert calls == [2, 2, 2]  # no drop at inference


@pytest.mark.parametrize("encoder_grad", [True, False])
def test_the_lid_loss_reaches_the_shared_layers_unless_lid_encoder_grad_is_false(encoder_grad):
    model = build(lid_layers=1, lid_encoder_grad=encoder_grad, enc_kw=dict(adapter_common_layers=1)).train()
    model(**batch())
    model.zero_grad()
    lid_loss, _ = model.lid_loss(model.lid_router.last, torch.tensor([0, 2, 1]), batch()["text"],
                                 batch()["text_lengths"])
    lid_loss.backward()
    assert model.lid_head.linear.weight.grad.abs().sum() > 0
    shared = model.encoder.encoders[0].feed_forward.w_1.weight.grad
    assert (shared is not None and shared.abs().sum() > 0) == encoder_grad
    assert model.encoder.encoders[1].feed_forward.w_1.weight.grad is None  # above the head: the ASR loss's only


def test_adapter_common_layers_keep_the_common_adapter_only():
    enc = AdapterTransformerEncoder(8, languages=LANGS, adapter_bottleneck=4, adapter_common_layers=1, **ENC)
    first, second = (layer.adapter for layer in enc.encoders)
    assert first.mode == "common" and first.slots == [] and first.common.bottleneck == 4
    assert second.mode == "dual" and second.slots == LANGS
    keys = [k for k in enc.state_dict() if ".adapter." in k]
    assert not any(k.startswith("encoders.0.adapter.lang_adapters.") for k in keys)
    assert any(k.startswith("encoders.1.adapter.lang_adapters.zh.") for k in keys)
    for bad, message in [(3, "must be between 0 and num_blocks (2), got 3"), (-1, "got -1")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            AdapterTransformerEncoder(8, languages=LANGS, adapter_common_layers=bad, **ENC)
    with pytest.raises(ValueError, match="needs adapter_mode dual, got 'lang'"):
        AdapterTransformerEncoder(8, languages=LANGS, adapter_mode="lang", adapter_common_layers=1, **ENC)


def test_lid_encoder_grad_false_trains_the_head_only_from_the_lid_loss():
    model = build(lid_weight=0.5, lid_layers=1, lid_encoder_grad=False).train()
    loss, stats, _ = model(**batch())
    lid = model.lid_router.last
    assert not lid.features.requires_grad
    model.zero_grad()
    lid_loss, _ = model.lid_loss(lid, torch.tensor([0, 2, 1]), batch()["text"], batch()["text_lengths"])
    lid_loss.backward(retain_graph=True)
    assert model.lid_head.linear.weight.grad.abs().sum() > 0
    assert all(p.grad is None for n, p in model.named_parameters() if not n.startswith("lid_head."))
    loss.backward()  # the ASR part still trains the encoder
    assert model.encoder.encoders[0].feed_forward.w_1.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("kw, message", [
    (dict(lid_layers=0), "model_conf.lid_layers must be between 1 and the encoder's 2 layers, got 0"),
    (dict(lid_layers=3), "model_conf.lid_layers must be between 1 and the encoder's 2 layers, got 3"),
    (dict(lid_layers=True), "model_conf.lid_layers must be an integer number of encoder layers, got True"),
    (dict(lid_layers=1, lid_level="frame"), "model_conf.lid_layers needs lid_level 'utterance'"),
    (dict(lid_encoder_grad="no"), "model_conf.lid_encoder_grad must be true or false, got 'no'"),
    (dict(lid_weight=0.0, lid_layers=1), "lid_weight 0 builds no head: set lid_weight > 0 or drop them"),
])
def test_bad_lid_pass_options_are_config_errors(kw, message):
    kw = {"lid_weight": 0.5, **kw}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        MultilingualASRModel(**parts(), languages=LANGS, **kw)


def test_frame_targets_route_training_per_frame_by_the_reference_languages():
    """lid_train_routing frame_targets: each frame's encoder adapters are those of its reference token's
    language (one-hot), a frame without one takes the LID posterior; the code-switched or mistagged utterance
    trains the adapters of the languages it is written in, not those of its tag."""
    model = build(lid_weight=0.5, lid_level="frame", lid_train_routing="frame_targets").train()
    seen = []
    adapter = model.encoder.encoders[0].adapter
    adapter.register_forward_hook(  # the real pass (pass 1 runs the common adapters only: no weights)
        lambda m, i, o: seen.append(m.routing_weights(3).detach().clone()) if m.lang_weights is not None else None)
    loss, stats, _ = model(**batch())
    lid = model.lid_router.last
    assert lid.routing == "frame_targets" and model.lid_router.train_targets is None
    targets, (w,) = lid.frame_targets, seen
    inside = torch.arange(targets.shape[1])[None] < lid.lengths[:, None]
    assert torch.equal(targets >= 0, inside)  # every utterance aligned: every valid frame has a language
    en, fr, zh = (LANGS.index(x) for x in ("en", "fr", "zh"))
    assert set(targets[0][inside[0]].tolist()) == {en}  # "a b"
    assert set(targets[1][inside[1]].tolist()) == {zh}  # 中文中
    assert set(targets[2][inside[2]].tolist()) == {en}  # "c", tagged fr
    assert torch.equal(w[inside], torch.nn.functional.one_hot(targets[inside], 3).float())
    assert torch.allclose(w[~inside], lid.frame_logits.softmax(-1)[~inside].detach())
    model.zero_grad()
    loss.backward()
    grad = {lang: a.up.weight.grad.abs().sum() for lang, a in zip(LANGS, adapter.lang_adapters.values())}
    assert grad["en"] > 0 and grad["zh"] > 0 and grad["fr"] < 1e-6 * grad["en"]  # no frame is written in fr
    with pytest.raises(ValueError, match="lid_train_routing 'frame_targets' routes training by the frame targets"):
        build(lid_weight=0.5, lid_train_routing="frame_targets")  # utterance level
    with pytest.raises(ValueError, match="lid_train_routing must be one of \\('tag', 'frame_targets', 'soft'\\), "
                                         "got 'frames'"):
        build(lid_weight=0.5, lid_level="frame", lid_train_routing="frames")


def test_frame_smoothing_averages_the_valid_frames_of_each_window():
    p = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.3, 0.7]],
                      [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]]])
    lengths = torch.tensor([4, 5])
    out = smooth_over_frames(p, lengths, 3)
    # utterance 0, frames 0..3 valid: frame 0 = mean(f0, f1), frame 3 = mean(f2, f3) (frame 4 is padding)
    expected0 = torch.tensor([[0.5, 0.5], [2 / 3, 1 / 3], [2 / 3, 1 / 3], [1.0, 0.0]])
    assert torch.allclose(out[0, :4], expected0)
    assert torch.equal(out[0, 4], p[0, 4])  # padding left as it was
    assert torch.allclose(out[1, 1], torch.tensor([1 / 3, 2 / 3])) and torch.allclose(out[1, 4], torch.tensor([0.0, 1.0]))
    assert torch.allclose(out.sum(-1), torch.ones(2, 5))
    assert torch.equal(smooth_over_frames(p, lengths, 1), p)


def test_lid_frame_smoothing_routes_the_encoder_by_the_smoothed_posteriors():
    model = build(lid_weight=0.5, lid_level="frame").eval()
    x, lens = batch()["speech"], batch()["speech_lengths"]
    adapter = model.encoder.encoders[0].adapter
    with torch.no_grad():
        model.set_lang_routing("soft", frame_smoothing=5)
        with model.language_context(None, 3):
            model.encode(x, lens)
            lid = model.lid_router.last
            raw = lid.frame_logits.softmax(-1)
            w = adapter.routing_weights(3)
    assert torch.allclose(w, smooth_over_frames(raw, lid.lengths, 5))
    assert not torch.allclose(w, raw)  # the window changed the routing
    model.set_lang_routing("soft")
    assert model.lid_router.frame_smoothing == 1  # the default undoes the window
    with pytest.raises(ValueError, match="lid_frame_smoothing must be an odd number of frames >= 1 .* got 4"):
        model.set_lang_routing("soft", frame_smoothing=4)
    with pytest.raises(ValueError, match="lid_frame_smoothing 3 smooths the posteriors of a frame-level LID head.*"
                                         "an utterance-level one"):
        build().set_lang_routing("soft", frame_smoothing=3)
    with pytest.raises(ValueError, match="this model has none"):
        MultilingualASRModel(**parts(), languages=LANGS).set_lang_routing(None, frame_smoothing=3)


def test_lid_temperature_flattens_soft_routing_only():
    """Soft routing mixes the adapters by softmax(logits / T); the arg-max of hard routing, the posterior written
    beside the hypotheses, and training are unchanged."""
    model = build(lid_weight=0.5).eval()
    x, lens = batch()["speech"], batch()["speech_lengths"]
    encoder_adapter = model.encoder.encoders[0].adapter
    decoder_adapter = next(m for m in model.decoder.modules() if m is not model.decoder and hasattr(m, "routing_weights"))
    weights = {}
    with torch.no_grad():
        for routing, t in (("soft", 1.0), ("soft", 3.0), ("hard", 3.0)):
            model.set_lang_routing(routing, temperature=t)
            with model.language_context(None, 3):
                model.encode(x, lens)
                logits = model.lid_router.last.utterance_logits
                weights[routing, t] = (encoder_adapter.routing_weights(3), decoder_adapter.routing_weights(3))
                assert torch.allclose(model.lid_router.last.posteriors("utterance"), logits.softmax(-1))
    for w in weights["soft", 3.0]:
        assert torch.allclose(w.reshape(3, -1), (logits / 3.0).softmax(-1), atol=1e-6)  # the tempered posteriors
        assert torch.allclose(w.sum(-1), torch.ones_like(w.sum(-1)))
    assert not torch.allclose(weights["soft", 3.0][0], weights["soft", 1.0][0])
    one_hot = torch.nn.functional.one_hot(logits.argmax(-1), len(LANGS)).to(logits.dtype)
    assert torch.allclose(weights["hard", 3.0][0].reshape(3, -1), one_hot)  # hard: the same arg-max at any T
    model.set_lang_routing("soft")
    assert model.lid_router.temperature == 1.0  # the default undoes an earlier temperature
    for bad in (0, -1.0, float("inf"), True):
        with pytest.raises(ValueError, match="lid_temperature must be a finite number > 0"):
            model.set_lang_routing("soft", temperature=bad)
    with pytest.raises(ValueError, match="lid_temperature 2.0 scales a LID head's logits.*this model has none"):
        MultilingualASRModel(**parts(), languages=LANGS).set_lang_routing(None, temperature=2.0)


def test_validation_is_routed_by_the_frame_targets_as_training_is():
    """A code-switched dev utterance must not go through the adapter of its tag, which training never routes a
    frame to: validation (eval mode, with text) routes by the frame targets too."""
    model = build(lid_weight=0.5, lid_level="frame", lid_train_routing="frame_targets").eval()
    with torch.no_grad():
        _, stats, _ = model(**batch())
    lid = model.lid_router.last
    assert lid.routing == "frame_targets" and lid.frame_targets is not None
    assert model.lid_router.train_targets is None  # cleared after the forward: decoding is not affected
    tagged = build(lid_weight=0.5, lid_level="frame").eval()
    with torch.no_grad():
        tagged(**batch())
    assert tagged.lid_router.last.routing == "oracle"


def test_soft_training_routing_mixes_the_adapters_by_the_posteriors_despite_the_tag():
    """lid_train_routing soft: training (and validation) route the real pass as soft decoding does, by the head's
    posteriors, while the tag still feeds the LID loss; the decoding routing set before is left as it was."""
    model = build(lid_weight=0.5, lid_level="frame", lid_train_routing="soft").train()
    seen = []
    adapter = model.encoder.encoders[0].adapter
    adapter.register_forward_hook(
        lambda m, i, o: seen.append(m.routing_weights(3).detach().clone()) if m.lang_weights is not None else None)
    model.set_lang_routing("hard")
    loss, stats, _ = model(**batch())
    lid = model.lid_router.last
    (w,) = seen
    assert lid.routing == "soft" and model.lid_router.routing == "hard"
    assert torch.allclose(w, lid.frame_logits.softmax(-1).detach())  # not the one-hot of the tags [0, 2, 1]
    assert float(stats["lid_loss"]) > 0
    loss.backward()
    assert model.lid_head.linear.weight.grad.abs().sum() > 0
    grad = [a.up.weight.grad.abs().sum() for a in adapter.lang_adapters.values()]
    assert all(g > 0 for g in grad)  # every language adapter gets its share of every frame
    with pytest.raises(ValueError, match="lid_train_routing 'soft' routes training by the LID head's posteriors"):
        MultilingualASRModel(**parts(), languages=LANGS, lid_train_routing="soft")


def test_a_logit_bias_moves_hard_and_soft_routing_and_the_written_posterior():
    """--lid_calibration: the head's logits plus a per-language bias route the adapters; None undoes it."""
    model = build(lid_weight=0.5).eval()
    x, lens = batch()["speech"], batch()["speech_lengths"]
    encoder_adapter = model.encoder.encoders[0].adapter
    with torch.no_grad():
        model.set_lang_routing("soft")
        with model.language_context(None, 3):
            model.encode(x, lens)
        plain = model.lid_router.last.utterance_logits.clone()
        bias = torch.tensor([0.0, 0.0, 50.0])  # pushes every utterance to zh
        for routing in ("soft", "hard"):
            model.set_lang_routing(routing, logit_bias=bias)
            with model.language_context(None, 3):
                model.encode(x, lens)
                weights = encoder_adapter.routing_weights(3).reshape(3, -1)
            lid = model.lid_router.last
            assert torch.allclose(lid.utterance_logits, plain + bias, atol=1e-5)
            expected = (plain + bias).softmax(-1) if routing == "soft" else torch.eye(3)[[2, 2, 2]]
            assert torch.allclose(weights, expected, atol=1e-6)
            assert torch.equal(lid.posteriors("utterance").argmax(-1), torch.tensor([2, 2, 2]))
        model.set_lang_routing("soft")  # no bias: the head's own logits again
        with model.language_context(None, 3):
            model.encode(x, lens)
        assert torch.allclose(model.lid_router.last.utterance_logits, plain, atol=1e-6)
    with pytest.raises(ValueError, match=r"the LID logit bias must hold 3 finite numbers \(one per language\), "
                                         r"got shape \(2,\)"):
        model.set_lang_routing("soft", logit_bias=torch.zeros(2))
    with pytest.raises(ValueError, match="lid_calibration biases a LID head's logits; this model has none"):
        MultilingualASRModel(**parts(), languages=LANGS).set_lang_routing(None, logit_bias=torch.zeros(3))
