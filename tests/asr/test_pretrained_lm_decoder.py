"""PretrainedLMDecoder (A2 Sec. 2.3) on tiny locally built BERT / DistilBERT / XLM-R checkpoints."""

import json

import pytest
import torch
from safetensors.torch import load_file

from tests.pretrained_lm_fixtures import (ASR_TOKENS, make_bert_dir, make_distilbert_dir, make_xlmr_dir,
                                          write_token_list)

V = len(ASR_TOKENS)
LAYOUTS = {"bert": make_bert_dir, "distilbert": make_distilbert_dir, "xlmr": make_xlmr_dir}
# HF key of layer 1's query weight / FFN output LayerNorm / word embeddings, per layout
HF_KEYS = {
    "bert": ("bert.encoder.layer.1.attention.self.query.weight", "bert.encoder.layer.1.output.LayerNorm.bias",
             "bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight"),
    "distilbert": ("distilbert.transformer.layer.1.attention.q_lin.weight",
                   "distilbert.transformer.layer.1.output_layer_norm.bias",
                   "distilbert.embeddings.word_embeddings.weight", "distilbert.embeddings.position_embeddings.weight"),
    "xlmr": ("encoder.layer.1.attention.self.query.weight", "encoder.layer.1.output.LayerNorm.bias",
             "embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight"),
}


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("plm")
    return {name: make(root / name) for name, make in LAYOUTS.items()}


def build(path, enc=24, **kw):
    from espnet_ext.asr.decoder.pretrained_lm_decoder import PretrainedLMDecoder

    return PretrainedLMDecoder(V, enc, pretrained_path=str(path), token_list=ASR_TOKENS, **kw)


def hf_state(path):
    return {k.replace("roberta.", ""): v for k, v in load_file(str(path / "model.safetensors")).items()}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_copied_tensors_equal_source(dirs, layout):
    dec = build(dirs[layout])
    sd = hf_state(dirs[layout])
    q, ln, word, pos = HF_KEYS[layout]
    assert torch.equal(dec.layers[1].self_attn.q.weight, sd[q])
    assert torch.equal(dec.layers[1].ffn_ln.bias, sd[ln])
    assert torch.equal(dec.position_embed.weight, sd[pos])
    m = dec.vocab_mapping
    for asr_id, kind in enumerate(m.kinds):
        if kind in ("exact", "relaxed", "special", "composed"):
            expected = sd[word][m.sources[asr_id]].mean(0)
            assert torch.allclose(dec.word_embed.weight[asr_id], expected), ASR_TOKENS[asr_id]
    # a composed piece: '▁cats' = mean(cat, ##s) under WordPiece, mean(▁cat, s) under XLM-R
    cats = ASR_TOKENS.index("▁cats")
    assert m.kinds[cats] == "composed" and len(m.sources[cats]) == 2
    # the new cross-attention starts at zero: the decoder is the pretrained LM at initialisation
    assert dec.layers[0].cross_attn.out.weight.abs().sum() == 0
    assert dec.memory_proj is not None and dec.memory_proj.in_features == 24


@pytest.mark.parametrize("layout", ["bert", "xlmr"])
def test_initial_decoder_is_the_causal_pretrained_lm(dirs, layout):
    from transformers import AutoModel

    hf = AutoModel.from_pretrained(str(dirs[layout]), local_files_only=True, is_decoder=True).eval()
    dec = build(dirs[layout]).eval()
    asr = [ASR_TOKENS.index(t) for t in ["<sos/eos>", "▁hello", "▁world", "s", "ing"]]
    src = [dec.vocab_mapping.sources[i][0] for i in asr]
    with torch.no_grad():
        ref = hf(input_ids=torch.tensor([src])).last_hidden_state
        (_, hidden), _ = dec(torch.randn(1, 6, 24), torch.tensor([6]), torch.tensor([asr]), torch.tensor([5]),
                             return_hs=True)
    assert torch.allclose(hidden, ref, atol=1e-5)


def test_tied_output_reproduces_masked_lm_head(dirs):
    from transformers import AutoModelForMaskedLM

    hf = AutoModelForMaskedLM.from_pretrained(str(dirs["bert"]), local_files_only=True, is_decoder=True).eval()
    dec = build(dirs["bert"]).eval()
    asr = [ASR_TOKENS.index(t) for t in ["<sos/eos>", "▁hello", "s"]]
    src = [dec.vocab_mapping.sources[i][0] for i in asr]
    with torch.no_grad():
        ref = hf(input_ids=torch.tensor([src])).logits  # (1, 3, V_pre)
        logits, _ = dec(torch.randn(1, 4, 24), torch.tensor([4]), torch.tensor([asr]), torch.tensor([3]))
    exact = [i for i, k in enumerate(dec.vocab_mapping.kinds) if k in ("exact", "special")]
    cols = [dec.vocab_mapping.sources[i][0] for i in exact]
    assert torch.allclose(logits[0][:, exact], ref[0][:, cols], atol=1e-5)


def _randomise_new_parts(dec):
    # Non-zero cross-attention / adapters so that the encoder output and the language matter.
    torch.manual_seed(3)
    with torch.no_grad():
        for layer in dec.layers:
            layer.cross_attn.out.weight.normal_(0, 0.3)
            if layer.adapter is not None:
                for p in layer.adapter.parameters():
                    p.normal_(0, 0.3)


@pytest.mark.parametrize("layout,adapter", [("bert", None), ("distilbert", "dual"), ("xlmr", "lang")])
def test_incremental_decoding_equals_full_forward(dirs, layout, adapter):
    dec = build(dirs[layout], languages=["en", "fr"], adapter_mode=adapter, adapter_bottleneck=8).eval()
    _randomise_new_parts(dec)
    if adapter:
        dec.layers[0].adapter.set_language(torch.tensor([1]))  # one id broadcast over the hypotheses
        for layer in dec.layers[1:]:
            layer.adapter.set_language(torch.tensor([1]))
    x = torch.randn(9, 24)
    ys = torch.tensor([[V - 1, 2, 3, 4, 5, 6], [V - 1, 7, 8, 9, 13, 2], [V - 1, 11, 11, 4, 4, 5]])
    n, L = ys.shape
    with torch.no_grad():
        full, _ = dec(x.expand(n, *x.shape), torch.full((n,), 9), ys, torch.full((n,), L))
        full = torch.log_softmax(full, -1)
        states = [None] * n
        for t in range(L):
            logp, states = dec.batch_score(ys[:, : t + 1], states, x.expand(n, *x.shape))
            assert torch.allclose(logp, full[:, t], atol=1e-5), t
        state = None
        for t in range(L):
            logp, state = dec.score(ys[0, : t + 1], state, x)
            assert torch.allclose(logp, full[0, t], atol=1e-5), t
    assert states[0][0].shape == (2, dec.layers[0].self_attn.heads, L, dec.hidden_size // dec.layers[0].self_attn.heads)


def test_encoder_padding_is_masked(dirs):
    dec = build(dirs["bert"]).eval()
    _randomise_new_parts(dec)
    hs = torch.randn(2, 8, 24)
    hs[1] = hs[0]
    hs[1, 5:] = 100.0  # padding frames must not matter
    ys = torch.tensor([[V - 1, 2, 3]] * 2)
    with torch.no_grad():
        out, olens = dec(hs, torch.tensor([5, 5]), ys, torch.tensor([3, 3]))
    assert torch.allclose(out[0], out[1], atol=1e-5)
    assert olens.tolist() == [3, 3] and out.shape == (2, 3, V)


def test_pretrained_weights_survive_espnet_init(dirs):
    from espnet2.torch_utils.initialize import initialize

    class Wrapper(torch.nn.Module):  # initialize() looks for model.decoder
        def __init__(self, decoder):
            super().__init__()
            self.decoder = decoder

    dec = build(dirs["bert"], languages=["en", "fr"], adapter_mode="dual", adapter_bottleneck=4)
    before = {k: v.clone() for k, v in dec.state_dict().items()}
    initialize(Wrapper(dec), "xavier_uniform")
    sd = hf_state(dirs["bert"])
    assert torch.equal(dec.layers[1].self_attn.q.weight, sd["bert.encoder.layer.1.attention.self.query.weight"])
    assert torch.equal(dec.embed_ln.weight, sd["bert.embeddings.LayerNorm.weight"])
    names = dec.pretrained_parameter_names()
    assert "word_embed.weight" in names and "layers.0.ffn_in.weight" in names and "head_dense.weight" in names
    for name in names:
        assert torch.equal(dec.state_dict()[name], before[name]), name
    # new parts: re-initialised (cross-attention query), zero-started (cross output, adapters' W_u)
    assert not torch.equal(dec.layers[0].cross_attn.q.weight, before["layers.0.cross_attn.q.weight"])
    assert dec.layers[0].cross_attn.out.weight.abs().sum() == 0
    assert dec.layers[0].adapter.common.up.weight.abs().sum() == 0


def test_untied_output_and_no_head(dirs):
    dec = build(dirs["xlmr"], tie_output=False, lm_head_transform=False, num_blocks=1, enc=32)
    assert len(dec.layers) == 1 and dec.memory_proj is None and dec.head_dense is None
    assert torch.equal(dec.output_layer.weight, dec.word_embed.weight)
    assert dec.output_layer.weight.data_ptr() != dec.word_embed.weight.data_ptr()


def test_batch_beam_search_with_ctc(dirs):
    from espnet.nets.batch_beam_search import BatchBeamSearch
    from espnet.nets.scorers.ctc import CTCPrefixScorer
    from espnet2.asr.ctc import CTC

    from espnet_ext.asr.scorers.logit_adjusted_scorer import LogitAdjustedScorer

    torch.manual_seed(0)
    dec = build(dirs["distilbert"]).eval()
    _randomise_new_parts(dec)
    ctc = CTC(V, 24)
    for decoder in (dec, LogitAdjustedScorer(dec, torch.full((V,), 1.0 / V), tau=0.3)):
        bs = BatchBeamSearch(scorers={"decoder": decoder, "ctc": CTCPrefixScorer(ctc, V - 1)},
                             weights={"decoder": 0.5, "ctc": 0.5}, beam_size=3, vocab_size=V, sos=V - 1,
                             eos=V - 1, token_list=ASR_TOKENS, pre_beam_score_key="full")
        assert isinstance(bs, BatchBeamSearch)
        with torch.no_grad():
            hyps = bs(torch.randn(12, 24), maxlenratio=0.0, minlenratio=0.0)
        assert hyps and hyps[0].yseq[0] == V - 1 and hyps[0].yseq[-1] == V - 1
        assert all(0 <= int(t) < V for t in hyps[0].yseq)


def test_missing_or_malformed_directory_names_the_path(tmp_path, dirs):
    missing = tmp_path / "no_such_model"
    with pytest.raises(FileNotFoundError, match="no_such_model"):
        build(missing)
    broken = tmp_path / "broken"
    broken.mkdir()
    with pytest.raises(FileNotFoundError, match="broken.*config.json"):
        build(broken)
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="broken/config.json"):
        build(broken)
    (broken / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ValueError, match="model_type 'gpt2'"):
        build(broken)
    (broken / "config.json").write_text((dirs["bert"] / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match="broken.*has no weights"):
        build(broken)
    with pytest.raises(ValueError, match="pretrained_path is required"):
        build("")


def test_token_list_checks(dirs, tmp_path):
    from espnet_ext.asr.decoder.pretrained_lm_decoder import PretrainedLMDecoder

    path = write_token_list(tmp_path / "tokens.txt")
    dec = PretrainedLMDecoder(V, 32, pretrained_path=str(dirs["bert"]), token_list=str(path))
    assert dec.vocab_mapping.tokens == ASR_TOKENS
    with pytest.raises(ValueError, match="token_list has 16 tokens but the model's vocabulary has 17"):
        PretrainedLMDecoder(V + 1, 32, pretrained_path=str(dirs["bert"]), token_list=str(path))
    with pytest.raises(ValueError, match="token_list is required"):
        PretrainedLMDecoder(V, 32, pretrained_path=str(dirs["bert"]))
    with pytest.raises(ValueError, match="num_blocks=5"):
        build(dirs["bert"], num_blocks=5)
