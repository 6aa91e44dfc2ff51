"""model_conf.lid_exact_lengths (issue 20): the LID head pools the frames each utterance has when encoded alone.
ESPnet's subsampling mask counts up to two frames more for every shorter utterance of a padded batch, so without
it the head's pooling depends on the batch; decoding encodes one utterance at a time."""

import pytest
import torch

import espnet_ext  # noqa: F401
from espnet_ext.asr.encoder.adapter_transformer_encoder import AdapterTransformerEncoder
from espnet_ext.asr.multilingual_model import MultilingualASRModel
from tests.asr.test_lid_routing import LANGS, parts


def encoder(input_layer, idim=8, **kw):
    torch.manual_seed(0)
    return AdapterTransformerEncoder(idim, languages=LANGS, adapter_bottleneck=4, output_size=16, attention_heads=2,
                                     linear_units=24, num_blocks=2, input_layer=input_layer, **kw)


@pytest.mark.parametrize("input_layer", ["conv2d", "conv2d2", "conv2d6", "conv2d8", "conv2d1", "linear"])
def test_own_lengths_are_the_mask_lengths_of_each_utterance_alone(input_layer):
    enc = encoder(input_layer, idim=40).eval()  # conv2d6/8 need 40 bins
    lengths = torch.tensor([40, 39, 38, 37, 33, 30, 25, 21, 17])
    x = torch.randn(len(lengths), 40, 40)
    with torch.no_grad():
        _, masks = enc.embed_input(x, lengths)
        alone = [int(enc.embed_input(x[i:i + 1, :n], lengths[i:i + 1])[1].sum()) for i, n in enumerate(lengths)]
    assert enc.own_lengths(lengths).tolist() == alone
    if input_layer == "conv2d":  # the batch's mask: ceil(n / 2) twice for the shorter ones, (n - 1) // 2 alone
        assert masks.squeeze(1).sum(1).tolist() == [9, 9, 9, 9, 9, 8, 7, 6, 5]
        assert alone == [9, 9, 8, 8, 7, 6, 5, 4, 3]


def build(exact, input_layer="conv2d", **kw):
    p = parts()
    p["encoder"] = encoder(input_layer, adapter_common_layers=1)
    return MultilingualASRModel(**p, languages=LANGS, lid_weight=0.5, lid_layers=1, lid_exact_lengths=exact, **kw)


def test_the_head_pools_each_utterance_as_if_it_were_alone():
    x, lengths = torch.randn(3, 40, 8), torch.tensor([40, 31, 22])
    for exact in (False, True):
        model = build(exact).eval()
        model.set_lang_routing("soft")
        with torch.no_grad():
            model.encode(x, lengths)
            batch = model.lid_router.last.lengths.tolist()
            alone = []
            for i, n in enumerate(lengths.tolist()):
                model.encode(x[i:i + 1, :n], lengths[i:i + 1])
                alone.append(int(model.lid_router.last.lengths[0]))
        if exact:
            assert batch == alone == [9, 7, 4]
        else:
            assert batch == [9, 8, 6] and alone == [9, 7, 4]  # the batch's mask: one or two frames more
    # the encoder's own output keeps ESPnet's mask: only the head's pooling changes
    with torch.no_grad():
        assert build(True).eval().encode(x, lengths)[1].tolist() == [9, 8, 6]
    # training: the LID loss reads the same lengths
    model = build(True).train()
    text = torch.tensor([[2, 3], [4, 2], [3, 3]])
    model(speech=x, speech_lengths=lengths, text=text, text_lengths=torch.tensor([2, 2, 2]),
          lang=torch.tensor([[0], [1], [2]]))
    assert model.lid_router.last.lengths.tolist() == [9, 7, 4]


def test_bad_lid_exact_lengths_are_config_errors():
    with pytest.raises(ValueError, match="model_conf.lid_exact_lengths must be true or false, got 'yes'"):
        build("yes")
    with pytest.raises(ValueError, match="lid_exact_lengths configure the LID head's pass, and lid_weight 0 builds"):
        MultilingualASRModel(**parts(), languages=LANGS, lid_exact_lengths=True)
    with pytest.raises(ValueError, match="model_conf.lid_exact_lengths reads each utterance's own length"):
        # no language-specific adapters in the encoder: no LID pass hook at its input layer
        p = parts()
        p["encoder"] = encoder("conv2d", adapter_common_layers=2)
        MultilingualASRModel(**p, languages=LANGS, lid_weight=0.5, lid_exact_lengths=True)
