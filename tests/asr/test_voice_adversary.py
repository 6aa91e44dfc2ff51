"""The voice adversary on the LID features (issue 20): gradient reversal, voices from utterance ids, the loss
the model adds, the encoder's reversed gradient, state_dict keys and config errors."""

import pytest
import torch

from espnet_ext.asr.lid.voice_adversary import VoiceAdversary, reverse_gradient
from espnet_ext.asr.multilingual_model import MultilingualASRModel
from tests.asr.test_lid_routing import LANGS, batch, build, parts

VOICES = ["f1", "m1"]
REGEX = r"^[^-]+-([^-]+)-"
IDS = ["en-f1-00001", "zh-m1-00002", "fr-f1-00003"]  # the three utterances of test_lid_routing.batch()
ADV = dict(voice_adversary_weight=0.5, voice_adversary_voices=VOICES, voice_adversary_regex=REGEX,
           voice_adversary_hidden=8)
ONE_PASS = dict(lid_train_routing="soft", lid_layers=1, enc_kw=dict(adapter_common_layers=1))


def test_reverse_gradient_is_the_identity_forward_and_scales_the_gradient_by_minus_lambda():
    x = torch.randn(3, 4, requires_grad=True)
    y = reverse_gradient(x, 0.25)
    assert torch.equal(y, x)
    (y * torch.arange(4.0)).sum().backward()
    assert torch.allclose(x.grad, -0.25 * torch.arange(4.0).expand(3, 4))


def test_voice_ids_from_utterance_ids_strict_in_training_and_lenient_in_validation():
    adv = VoiceAdversary(16, VOICES, REGEX)
    assert adv.voice_ids(IDS, 3, strict=True).tolist() == [0, 1, 0]
    assert adv.voice_ids(["en-f5-00001", "odd", "en-m1-7"], 3, strict=False).tolist() == [-1, -1, 1]
    with pytest.raises(ValueError, match=r"training utterance 'en-f5-00001': its voice 'f5' is not in "
                                         r"model_conf.voice_adversary_voices \['f1', 'm1'\]"):
        adv.voice_ids(["en-f5-00001"], 1, strict=True)
    with pytest.raises(ValueError, match=r"training utterance 'odd': model_conf.voice_adversary_regex .* does not "
                                         "match it"):
        adv.voice_ids(["odd"], 1, strict=True)
    with pytest.raises(ValueError, match="came without 'utt_id'"):
        adv.voice_ids(None, 2, strict=True)


def test_the_loss_is_the_cross_entropy_of_the_mean_pooled_features_over_known_voices():
    torch.manual_seed(0)
    adv = VoiceAdversary(4, VOICES, REGEX, hidden=0)
    h, lengths = torch.randn(3, 5, 4), torch.tensor([5, 2, 3])
    adv.eval()
    loss, acc = adv(h, lengths, ["en-f1-1", "en-f9-2", "en-m1-3"])  # f9: a dev voice, left out
    pooled = torch.stack([h[0].mean(0), h[2, :3].mean(0)])
    logits = adv.linear(pooled)
    assert torch.allclose(loss, torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1])), atol=1e-6)
    assert float(acc) == float((logits.argmax(-1) == torch.tensor([0, 1])).float().mean())
    loss, acc = adv(h, lengths, ["en-f9-1", "en-m9-2", "x"])  # no known voice: zero, no accuracy
    assert float(loss.detach()) == 0 and acc is None


def test_the_model_adds_the_weighted_voice_loss_and_the_encoder_gets_the_reversed_gradient():
    model = build(lid_weight=0.5, **ADV, **ONE_PASS).train()
    torch.manual_seed(3)
    loss, stats, _ = model(**batch(), utt_id=IDS)
    asr = 0.3 * stats["loss_ctc"] + 0.7 * stats["loss_att"]
    assert torch.allclose(loss, asr + 0.5 * stats["lid_loss"] + 0.5 * stats["voice_loss"], atol=1e-5)
    assert float(stats["voice_loss"]) > 0 and 0 <= float(stats["voice_acc"]) <= 1

    # the voice loss alone: the classifier descends on it, the layer below the LID features ascends
    lid = model.lid_router.last
    first = model.encoder.encoders[0].feed_forward.w_1.weight
    model.zero_grad()
    voice_loss, _ = model.voice_adversary(lid.features, lid.lengths, IDS)
    voice_loss.backward(retain_graph=True)
    reversed_grad = first.grad.clone()
    assert model.voice_adversary.linear.weight.grad.abs().sum() > 0
    model.zero_grad()
    plain = torch.nn.functional.cross_entropy(
        model.voice_adversary.linear(torch.relu(model.voice_adversary.hidden(
            torch.stack([lid.features[b, :n].mean(0) for b, n in enumerate(lid.lengths.tolist())])))),
        torch.tensor([0, 1, 0]))
    assert torch.allclose(plain, voice_loss, atol=1e-6)
    plain.backward()  # the same loss without the reversal
    assert reversed_grad.abs().sum() > 0
    assert torch.allclose(reversed_grad, -first.grad, atol=1e-6)  # lambda = 1: exactly the opposite gradient


def test_validation_leaves_unseen_voices_out_and_decoding_never_runs_the_adversary():
    model = build(lid_weight=0.5, **ADV, **ONE_PASS).eval()
    with torch.no_grad():
        _, stats, _ = model(**batch(), utt_id=["en-f5-1", "zh-m6-2", "fr-f3-3"])
    assert stats["voice_loss"] is None and stats["voice_acc"] is None
    model.set_lang_routing("soft")
    calls = []
    model.voice_adversary.register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        model.encode(torch.randn(2, 12, 8), torch.tensor([12, 9]))
    assert calls == []


def test_state_dict_keys_and_reload(tmp_path):
    plain = build(lid_weight=0.5, **ONE_PASS)
    model = build(lid_weight=0.5, **ADV, **ONE_PASS)
    assert list(model.state_dict()) == list(plain.state_dict()) + [
        "voice_adversary.hidden.weight", "voice_adversary.hidden.bias",
        "voice_adversary.linear.weight", "voice_adversary.linear.bias"]
    assert model.voice_adversary.linear.weight.shape == (2, 8)
    torch.save(model.state_dict(), tmp_path / "m.pth")
    reloaded = build(lid_weight=0.5, seed=5, **ADV, **ONE_PASS)
    reloaded.load_state_dict(torch.load(tmp_path / "m.pth"))  # strict
    assert torch.equal(reloaded.voice_adversary.linear.weight, model.voice_adversary.linear.weight)


@pytest.mark.parametrize("kw, message", [
    (dict(voice_adversary_weight=0.5, lid_weight=0.0), "lid_weight 0 builds no head: set lid_weight > 0"),
    (dict(voice_adversary_weight=-1), "model_conf.voice_adversary_weight must be a number >= 0, got -1"),
    (dict(voice_adversary_voices=VOICES), "voice_adversary_weight 0 builds none"),
    (dict(voice_adversary_weight=0.5, voice_adversary_voices=["f1"]), "must list at least 2 distinct voice names"),
    (dict(voice_adversary_weight=0.5, voice_adversary_voices=["f1", "f1"]), "must list at least 2 distinct"),
    (dict(voice_adversary_weight=0.5, voice_adversary_voices=VOICES), "voice_adversary_regex must be a pattern"),
    (dict(voice_adversary_weight=0.5, voice_adversary_voices=VOICES, voice_adversary_regex="[a-"),
     "is not a regular expression"),
    (dict(voice_adversary_weight=0.5, voice_adversary_voices=VOICES, voice_adversary_regex="^en"), "has no group"),
    (dict(voice_adversary_weight=0.5, voice_adversary_voices=VOICES, voice_adversary_regex=REGEX,
          voice_adversary_reversal=0), "voice_adversary_reversal must be a number > 0"),
    (dict(voice_adversary_weight=0.5, voice_adversary_voices=VOICES, voice_adversary_regex=REGEX,
          voice_adversary_hidden=-2), "voice_adversary_hidden must be a number of units >= 0"),
])
def test_bad_voice_adversary_options_are_config_errors(kw, message):
    kw = {"lid_weight": 0.5, **kw}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        MultilingualASRModel(**parts(), languages=LANGS, **kw)
