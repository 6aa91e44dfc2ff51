"""The LID head's pooling and hidden-layer options (issue 20, model_conf.lid_head_pooling / lid_head_hidden):
numbers against a hand computation, state_dict keys, training and tag-free routing through them, config errors."""

import pytest
import torch

from espnet_ext.asr.lid.language_id_head import LanguageIdHead
from espnet_ext.asr.multilingual_model import MultilingualASRModel
from tests.asr.test_lid_routing import HEAD_KEYS, LANGS, batch, build, parts


def padded():
    torch.manual_seed(3)
    lengths = torch.tensor([5, 3])
    h = torch.randn(2, 5, 4)
    h[1, 3:] = 100.0  # padding that must not enter the pooled statistics
    return h, lengths


def test_stats_pooling_with_a_hidden_layer_against_a_hand_computation():
    head = LanguageIdHead(4, 3, pooling="stats", hidden=6)
    h, lengths = padded()
    utt, frames = head(h, lengths)
    assert frames is None and utt.shape == (2, 3)
    for b, n in enumerate(lengths.tolist()):
        x = h[b, :n]
        s = torch.cat([x.mean(0), x.std(0, unbiased=False)])
        z = head.linear.weight @ torch.relu(head.hidden.weight @ s + head.hidden.bias) + head.linear.bias
        assert torch.allclose(utt[b], z, atol=1e-5)


def test_mean_pooling_with_a_hidden_layer_classifies_frames_and_the_mean():
    head = LanguageIdHead(4, 3, pooling="mean", hidden=5)
    h, lengths = padded()
    utt, frames = head(h, lengths)
    mlp = lambda x: head.linear(torch.relu(head.hidden(x)))  # noqa: E731
    assert torch.allclose(frames, mlp(h), atol=1e-6)
    assert torch.allclose(utt[1], mlp(h[1, :3].mean(0)), atol=1e-5)
    # no longer the mean of the frame logits, as the linear head's is
    assert not torch.allclose(utt[1], frames[1, :3].mean(0), atol=1e-3)


def test_the_default_head_is_linear_and_its_utterance_logits_are_the_mean_of_the_frame_logits():
    head = LanguageIdHead(4, 3)
    h, lengths = padded()
    utt, frames = head(h, lengths)
    assert head.hidden is None and [n for n, _ in head.named_parameters()] == ["linear.weight", "linear.bias"]
    assert torch.allclose(utt[1], frames[1, :3].mean(0), atol=1e-5)


def test_a_stats_head_keys_reload_train_and_route_without_a_tag(tmp_path):
    model = build(lid_weight=0.5, lid_head_pooling="stats", lid_head_hidden=8,
                  lid_train_routing="soft", lid_layers=1, enc_kw=dict(adapter_common_layers=1))
    keys = list(model.state_dict())
    assert keys[-4:] == ["lid_head.hidden.weight", "lid_head.hidden.bias"] + HEAD_KEYS
    assert model.lid_head.hidden.weight.shape == (8, 32)  # [mean; std] of the 16-dim encoder output
    torch.save(model.state_dict(), tmp_path / "m.pth")
    reloaded = build(lid_weight=0.5, seed=4, lid_head_pooling="stats", lid_head_hidden=8,
                     lid_train_routing="soft", lid_layers=1, enc_kw=dict(adapter_common_layers=1))
    reloaded.load_state_dict(torch.load(tmp_path / "m.pth"))  # strict
    assert list(reloaded.state_dict()) == keys

    model.train()
    loss, stats, _ = model(**batch())
    loss.backward()
    assert float(stats["lid_loss"]) > 0
    assert model.lid_head.hidden.weight.grad.abs().sum() > 0
    assert model.encoder.encoders[0].feed_forward.w_1.weight.grad.abs().sum() > 0  # the shared layer learns LID

    model.eval()
    x, lens = torch.randn(2, 12, 8), torch.tensor([12, 9])
    model.set_lang_routing("soft")
    with torch.no_grad():
        model.encode(x, lens)
    last = model.lid_router.last
    assert last.frame_logits is None
    expected = model.lid_head(last.features, last.lengths)[0].softmax(-1)
    assert torch.allclose(last.posteriors("utterance"), expected, atol=1e-6)
    adapter = model.encoder.encoders[1].adapter  # routed by the posteriors, one weight row per utterance
    assert torch.allclose(adapter.lang_weights.reshape(2, -1), expected, atol=1e-6)


@pytest.mark.parametrize("kw, message", [
    (dict(lid_head_pooling="max"), "model_conf.lid_head_pooling must be one of ('mean', 'stats'), got 'max'"),
    (dict(lid_head_hidden=-1), "model_conf.lid_head_hidden must be a number of units >= 0 (0: linear head), got -1"),
    (dict(lid_head_hidden=2.5), "model_conf.lid_head_hidden must be a number of units >= 0 (0: linear head), got 2.5"),
    (dict(lid_head_pooling="stats", lid_level="frame"), "lid_level 'frame' classifies each frame: use lid_head_pooling mean"),
    (dict(lid_weight=0.0, lid_head_hidden=8), "lid_weight 0 builds none: set lid_weight > 0 or drop them"),
])
def test_bad_lid_head_options_are_config_errors(kw, message):
    kw = {"lid_weight": 0.5, **kw}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        MultilingualASRModel(**parts(), languages=LANGS, **kw)
