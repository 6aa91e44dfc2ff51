"""The LID head's pooling, hidden-layer and crop options (issue 20, model_conf.lid_head_pooling / lid_head_hidden /
lid_crop_range): numbers against a hand computation, state_dict keys, training and tag-free routing through them,
config errors."""

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


def test_crop_pools_one_random_window_of_the_share_drawn_in_training_only():
    head = LanguageIdHead(4, 3, crop_range=(0.5, 0.5))
    torch.manual_seed(0)
    h = torch.randn(3, 10, 4)
    lengths = torch.tensor([10, 7, 1])
    head.train()
    windows = set()
    for _ in range(40):
        frames = head.crop_frames(h, lengths)
        for b, n in enumerate(lengths.tolist()):
            idx = frames[b].nonzero().flatten()
            assert len(idx) == max(1, -(-n // 2))  # ceil(0.5 * n) frames ...
            assert idx.max() < n and torch.equal(idx, torch.arange(idx[0], idx[0] + len(idx)))  # ... in one window
        windows.add(int(frames[0].nonzero()[0]))
    assert windows == set(range(6))  # every start of a 5-frame window in 10 frames is drawn
    torch.manual_seed(1)
    utt, _ = head(h, lengths)
    torch.manual_seed(1)
    mask = head.crop_frames(h, lengths)
    for b in range(3):
        assert torch.allclose(utt[b], head.linear(h[b][mask[b]].mean(0)), atol=1e-5)
    head.eval()  # decoding and validation: every valid frame
    utt, _ = head(h, lengths)
    assert torch.allclose(utt[1], head.linear(h[1, :7].mean(0)), atol=1e-5)
    shares = torch.stack([LanguageIdHead(4, 3, crop_range=(0.25, 1.0)).train().crop_frames(h, lengths)[0].sum()
                          for _ in range(400)]).float()
    assert shares.min() >= 3 and shares.max() == 10 and abs(shares.mean() - 6.6) < 0.4  # ceil(10 U(0.25, 1))


def test_a_model_with_lid_crop_range_trains_and_keeps_its_state_dict_keys():
    model = build(lid_weight=0.5, lid_crop_range=[0.5, 1.0], lid_train_routing="soft", lid_layers=1,
                  enc_kw=dict(adapter_common_layers=1))
    plain = build(lid_weight=0.5, lid_train_routing="soft", lid_layers=1, enc_kw=dict(adapter_common_layers=1))
    assert list(model.state_dict()) == list(plain.state_dict())  # a training-time option: no new parameters
    assert model.lid_head.crop_range == (0.5, 1.0)
    model.train()
    loss, stats, _ = model(**batch())
    loss.backward()
    assert float(stats["lid_loss"]) > 0 and model.lid_head.linear.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("kw, message", [
    (dict(lid_crop_range=[0.0, 1.0]), "model_conf.lid_crop_range must be [lo, hi] with 0 < lo <= hi <= 1"),
    (dict(lid_crop_range=[0.8, 0.5]), "model_conf.lid_crop_range must be [lo, hi] with 0 < lo <= hi <= 1"),
    (dict(lid_crop_range=[0.5]), "model_conf.lid_crop_range must be [lo, hi] with 0 < lo <= hi <= 1"),
    (dict(lid_crop_range=[0.5, 1.5]), "model_conf.lid_crop_range must be [lo, hi] with 0 < lo <= hi <= 1"),
    (dict(lid_crop_range=[0.5, 1.0], lid_level="frame"), "it needs lid_weight > 0 and lid_level utterance"),
    (dict(lid_crop_range=[0.5, 1.0], lid_weight=0.0), "it needs lid_weight > 0 and lid_level utterance"),
    (dict(lid_head_pooling="max"), "model_conf.lid_head_pooling must be one of ('mean', 'stats'), got 'max'"),
    (dict(lid_head_hidden=-1), "model_conf.lid_head_hidden must be a number of units >= 0 (0: linear head), got -1"),
    (dict(lid_head_hidden=2.5), "model_conf.lid_head_hidden must be a number of units >= 0 (0: linear head), got 2.5"),
    (dict(lid_head_pooling="stats", lid_level="frame"), "lid_level 'frame' classifies each frame: use lid_head_pooling mean"),
    (dict(lid_weight=0.0, lid_head_hidden=8), "lid_weight 0 builds none: set lid_weight > 0 or drop them"),
])
def test_bad_lid_head_options_are_config_errors(kw, message):
    kw = {"lid_weight": 0.5, **kw}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        MultilingualASRModel(**parts(), languages=LANGS, **kw)
