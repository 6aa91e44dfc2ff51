import pytest
import torch

import espnet_ext  # noqa: F401
from espnet_ext.asr.language_conditioning import LanguageConditioned
from espnet_ext.asr.multilingual_model import MultilingualASRModel
from espnet2.asr.ctc import CTC
from espnet2.asr.decoder.transformer_decoder import TransformerDecoder
from espnet2.asr.encoder.transformer_encoder import TransformerEncoder
from espnet2.asr.espnet_model import ESPnetASRModel

TOKENS = ["<blank>", "<unk>", "a", "b", "c", "<sos/eos>"]


class _Recorder(LanguageConditioned):
    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(self.lang_ids_for(x.shape[0]).tolist())
        return x


def build(languages=("en", "fr", "zh"), model_class=MultilingualASRModel, **extra):
    torch.manual_seed(0)
    enc = TransformerEncoder(8, output_size=16, attention_heads=2, linear_units=16, num_blocks=1, input_layer="linear")
    dec = TransformerDecoder(len(TOKENS), 16, attention_heads=2, linear_units=16, num_blocks=1)
    kw = dict(vocab_size=len(TOKENS), token_list=TOKENS, frontend=None, specaug=None, normalize=None,
              preencoder=None, encoder=enc, postencoder=None, decoder=dec, ctc=CTC(len(TOKENS), 16),
              joint_network=None, ctc_weight=0.3, lsm_weight=0.1)
    if languages is not None:
        kw["languages"] = list(languages)
    kw.update(extra)
    return model_class(**kw)


def batch():
    torch.manual_seed(1)
    return dict(speech=torch.randn(3, 20, 8), speech_lengths=torch.tensor([20, 18, 15]),
                text=torch.tensor([[2, 3, -1], [4, 4, 2], [3, -1, -1]]), text_lengths=torch.tensor([2, 3, 1]))


def test_without_conditioned_modules_equals_stock_model():
    ml, stock = build(), build(languages=None, model_class=ESPnetASRModel)
    stock.load_state_dict(ml.state_dict())
    ml.eval(), stock.eval()
    loss_ml = ml(**batch(), lang=torch.tensor([[0], [1], [2]]))[0]
    loss_stock = stock(**batch())[0]
    assert torch.allclose(loss_ml, loss_stock)


def test_language_ids_reach_conditioned_modules_and_are_cleared():
    model = build()
    rec = _Recorder()
    model.encoder.embed.add_module("recorder", rec)  # runs inside encode()
    model(**batch(), lang=torch.tensor([[2], [0], [1]]))
    assert rec.seen == [[2, 0, 1]] and rec.lang_ids is None


def test_out_of_range_language_names_utterance():
    model = build()
    with pytest.raises(ValueError, match=r"utterance 'u2': language id 7 is outside the inventory"):
        model(**batch(), lang=torch.tensor([[0], [7], [1]]), utt_id=["u1", "u2", "u3"])


def test_language_code_and_broadcast_in_beam_search():
    model = build()
    rec = _Recorder()
    model.decoder.add_module("recorder", rec)
    with model.language_context("zh", batch_size=1):
        rec(torch.zeros(5, 1))  # beam search scores 5 hypotheses of one utterance as a batch
    assert rec.seen == [[2] * 5] and rec.lang_ids is None
    with pytest.raises(ValueError, match="unknown language 'de'"):
        model.language_ids("de", 1)


def test_inventory_is_required_and_unique():
    with pytest.raises(ValueError, match="must list the model's languages"):
        build(languages=[])
    with pytest.raises(ValueError, match="duplicates"):
        build(languages=["en", "en"])
