"""Adapter transformer encoder/decoder (A2 eqs. 12-16), LID encoder, task wiring, reload and decoding."""

import numpy as np
import pytest
import torch
import yaml

import espnet_ext  # noqa: F401
from espnet_ext.asr.adapters import adapter_io
from espnet_ext.asr.decoder.adapter_transformer_decoder import AdapterTransformerDecoder
from espnet_ext.asr.encoder.adapter_transformer_encoder import AdapterTransformerEncoder
from espnet_ext.asr.encoder.lid_transformer_encoder import LIDTransformerEncoder
from espnet_ext.asr.language_conditioning import LanguageConditioned
from espnet_ext.asr.multilingual_model import MultilingualASRModel
from espnet2.asr.ctc import CTC
from espnet2.asr.decoder.transformer_decoder import TransformerDecoder
from espnet2.asr.encoder.transformer_encoder import TransformerEncoder
from espnet.nets.pytorch_backend.transformer.mask import subsequent_mask
from tests.conftest import REPO

LANGS = ["en", "fr", "zh"]
TOKENS = ["<blank>", "<unk>"] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["<sos/eos>"]
ENC = dict(output_size=16, attention_heads=2, linear_units=24, num_blocks=2, input_layer="linear")
DEC = dict(attention_heads=2, linear_units=24, num_blocks=2)


def set_lang(module: torch.nn.Module, ids) -> None:
    ids = None if ids is None else torch.as_tensor(ids)
    for m in module.modules():
        if isinstance(m, LanguageConditioned):
            m.set_language(ids)


def randomize_adapters(module: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in adapter_io.named_adapter_parameters(module):
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)


def speech(batch: int = 3, frames: int = 12, dim: int = 8):
    torch.manual_seed(5)
    return torch.randn(batch, frames, dim), torch.tensor([frames, frames - 3, frames - 5][:batch])


@pytest.mark.parametrize("normalize_before,concat_after", [(True, False), (False, False), (True, True)])
def test_fresh_adapter_encoder_equals_espnet_transformer_encoder(normalize_before, concat_after):
    kw = dict(ENC, normalize_before=normalize_before, concat_after=concat_after)
    ours, stock = AdapterTransformerEncoder(8, languages=LANGS, adapter_bottleneck=4, **kw), TransformerEncoder(8, **kw)
    result = stock.load_state_dict(ours.state_dict(), strict=False)
    assert not result.missing_keys and all(".adapter." in k for k in result.unexpected_keys)
    ours.eval(), stock.eval()
    x, lens = speech()
    set_lang(ours, [0, 2, 1])
    assert torch.equal(ours(x, lens)[0], stock(x, lens)[0])


@pytest.mark.parametrize("normalize_before", [True, False])
def test_fresh_adapter_decoder_equals_espnet_transformer_decoder(normalize_before):
    kw = dict(DEC, normalize_before=normalize_before)
    ours = AdapterTransformerDecoder(len(TOKENS), 16, languages=LANGS, adapter_bottleneck=4, **kw)
    stock = TransformerDecoder(len(TOKENS), 16, **kw)
    stock.load_state_dict(ours.state_dict(), strict=False)
    ours.eval(), stock.eval()
    memory, mlens = speech(dim=16)
    ys, ylens = torch.randint(2, 20, (3, 5)), torch.tensor([5, 4, 2])
    set_lang(ours, [1, 1, 0])
    assert torch.equal(ours(memory, mlens, ys, ylens)[0], stock(memory, mlens, ys, ylens)[0])


def test_encoder_gradient_reaches_only_each_utterances_language_adapters():
    enc = AdapterTransformerEncoder(8, languages=LANGS, adapter_bottleneck=4, **ENC)
    randomize_adapters(enc)
    x, lens = speech()
    set_lang(enc, [0, 1, 0])
    out = enc(x, lens)[0]
    out[1, :lens[1]].pow(2).sum().backward()  # the fr utterance's loss
    for layer in enc.encoders:
        grad = {n: sum(float(p.grad.abs().sum()) if p.grad is not None else 0.0
                       for _, p in layer.adapter.named_adapter_parameters(n)) for n in layer.adapter.adapter_names()}
        assert grad["fr"] > 0 and grad["common"] > 0 and grad["en"] == 0 and grad["zh"] == 0


def test_cached_incremental_decoding_equals_full_sequence_decoding():
    torch.manual_seed(0)
    dec = AdapterTransformerDecoder(len(TOKENS), 16, languages=LANGS, adapter_bottleneck=4, **DEC).eval()
    randomize_adapters(dec)
    memory, _ = speech(dim=16)
    ys = torch.randint(2, 20, (3, 6))
    set_lang(dec, [2, 0, 1])  # a mixed-language batch
    full = torch.log_softmax(dec(memory, torch.tensor([12] * 3), ys, torch.tensor([6] * 3))[0], dim=-1)
    cache = None
    for t in range(1, 7):
        step, cache = dec.forward_one_step(ys[:, :t], subsequent_mask(t).unsqueeze(0), memory, cache=cache)
        assert torch.allclose(step, full[:, t - 1], atol=1e-5), t

    # Beam search: one utterance's language broadcast over its hypotheses, states carried per hypothesis.
    set_lang(dec, [1])
    hyps = ys[:, :4]
    expected = torch.log_softmax(dec(memory[:1].expand(3, -1, -1), torch.tensor([12] * 3), hyps,
                                     torch.tensor([4] * 3))[0], dim=-1)
    states = [None] * 3
    for t in range(1, 5):
        logp, states = dec.batch_score(hyps[:, :t], states, memory[:1].expand(3, -1, -1))
        assert torch.allclose(logp, expected[:, t - 1], atol=1e-5), t


def build_model(languages, seed=0):
    torch.manual_seed(seed)
    enc = AdapterTransformerEncoder(8, languages=languages, adapter_bottleneck=4, **ENC)
    dec = AdapterTransformerDecoder(len(TOKENS), 16, languages=languages, adapter_bottleneck=4, **DEC)
    return MultilingualASRModel(
        vocab_size=len(TOKENS), token_list=TOKENS, frontend=None, specaug=None, normalize=None, preencoder=None,
        encoder=enc, postencoder=None, decoder=dec, ctc=CTC(len(TOKENS), 16), joint_network=None,
        languages=languages).eval()


def test_new_language_adapters_start_as_identity_and_leave_the_model_unchanged():
    old = build_model(["en", "fr"])
    randomize_adapters(old)  # a "trained" model
    grown = build_model(["en", "fr", "sv"], seed=1)
    result = grown.load_state_dict(old.state_dict(), strict=False)
    assert not result.unexpected_keys
    assert result.missing_keys and all(".lang_adapters.sv." in k for k in result.missing_keys)
    x, lens = speech()
    for model in (old, grown):
        with model.language_context(torch.tensor([0, 1, 0]), 3):
            model.out = model.encode(x, lens)[0]
    # equal up to float rounding: all adapters of a layer run as one matmul, whose length grows with sv's
    assert torch.allclose(old.out, grown.out, rtol=1e-5, atol=1e-5)
    h = torch.randn(2, 16)
    for module in adapter_io.dual_adapters(grown).values():
        assert torch.equal(module.adapter("sv")(h), h)


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    """config.yaml of two shipped rows (dry run through the task) and a saved random model of each."""
    from espnet_ext.tasks.asr import MultilingualASRTask

    root = tmp_path_factory.mktemp("exp")
    (root / "tokens.txt").write_text("\n".join(TOKENS) + "\n")
    out = {}
    for row in ("bs_dual_adapters", "lid", "bs_dual_adapters_lid", "bs_dual_adapters_lid_melwarp_soft_common2"):
        exp = root / row
        MultilingualASRTask.main(cmd=[
            "--dry_run", "true", "--iterator_type", "none", "--output_dir", str(exp),
            "--config", str(REPO / "conf" / "tuning" / f"train_a2_{row}_cpu.yaml"),
            "--token_list", str(root / "tokens.txt"), "--token_type", "char", "--input_size", "80",
            "--model_conf", f"languages=[{','.join(LANGS)}]"])
        model, _ = MultilingualASRTask.build_model_from_file(exp / "config.yaml", None, "cpu")
        g = torch.Generator().manual_seed(3)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
        torch.save(model.state_dict(), exp / "model.pth")
        out[row] = exp
    return out


@pytest.mark.parametrize("row", ["bs_dual_adapters", "lid", "bs_dual_adapters_lid",
                                 "bs_dual_adapters_lid_melwarp_soft_common2"])
def test_saved_model_reloads_through_stock_espnet_with_the_same_state_dict(trained_dir, row):
    from espnet2.tasks.asr import ASRTask

    exp = trained_dir[row]
    config = yaml.safe_load((exp / "config.yaml").read_text())
    assert config["encoder_conf"]["languages"] == LANGS  # written once in model_conf, saved where needed
    saved = torch.load(exp / "model.pth")
    model, _ = ASRTask.build_model_from_file(exp / "config.yaml", exp / "model.pth", "cpu")
    state = model.state_dict()
    assert list(state) == list(saved)
    assert all(torch.equal(state[k], saved[k]) for k in saved)


def test_decoding_with_adapters_runs_batch_beam_search_with_the_language(trained_dir):
    from espnet_ext.asr.speech2text_builder import MultilingualSpeech2Text
    from espnet.nets.batch_beam_search import BatchBeamSearch

    exp = trained_dir["bs_dual_adapters"]
    s2t = MultilingualSpeech2Text(asr_train_config=exp / "config.yaml", asr_model_file=exp / "model.pth",
                                  beam_size=3, ctc_weight=0.3, maxlenratio=0.2, nbest=2)
    assert isinstance(s2t.beam_search, BatchBeamSearch)
    feats = np.random.default_rng(0).standard_normal((60, 80)).astype(np.float32)
    results = s2t(feats, lang="fr")
    assert len(results) == 2 and all(isinstance(tokens, list) for _, tokens, _, _ in results)
    with pytest.raises(RuntimeError, match="routes on the utterance's language but none was given"):
        s2t.asr_model.encode(torch.from_numpy(feats)[None], torch.tensor([60]))


@pytest.mark.parametrize("row", ["bs_dual_adapters_lid", "bs_dual_adapters_lid_melwarp_soft_common2"])
def test_lid_model_decodes_without_a_language_and_writes_it(trained_dir, tmp_path, row):
    from espnet2.bin.asr_inference import Speech2Text
    from espnet_ext.asr.speech2text_builder import build_speech2text, decode, get_parser

    exp = trained_dir[row]
    assert list(torch.load(exp / "model.pth"))[-2:] == ["lid_head.linear.weight", "lid_head.linear.bias"]
    feats = np.random.default_rng(0).standard_normal((60, 80)).astype(np.float32)
    stock = Speech2Text(asr_train_config=exp / "config.yaml", asr_model_file=exp / "model.pth", beam_size=2,
                        ctc_weight=0.3, maxlenratio=0.2)
    assert stock(feats) and stock.asr_model.lid_router.last.routing == "soft"  # ESPnet's own, no language

    np.save(tmp_path / "u1.npy", feats)
    (tmp_path / "feats.scp").write_text(f"u1 {tmp_path / 'u1.npy'}\n")
    common = ["--asr_train_config", str(exp / "config.yaml"), "--asr_model_file", str(exp / "model.pth"),
              "--data_path_and_name_and_type", f"{tmp_path / 'feats.scp'},speech,npy", "--beam_size", "2",
              "--maxlenratio", "0.2"]
    args = vars(get_parser().parse_args(common + ["--output_dir", str(tmp_path / "out"), "--lang_routing", "hard"]))
    s2t = build_speech2text(args)
    decode(s2t, args)
    code, posterior = (tmp_path / "out" / "lang").read_text().split()[1:]
    lid = s2t.asr_model.lid_router.last
    assert lid.routing == "hard" and code == LANGS[int(lid.utterance_logits.argmax())]
    assert float(posterior) == pytest.approx(float(lid.utterance_logits.softmax(-1).max()), abs=1e-4)
    plain = trained_dir["bs_dual_adapters"]
    args = vars(get_parser().parse_args([a.replace(str(exp), str(plain)) for a in common] +
                                        ["--output_dir", str(tmp_path / "plain"), "--lang_routing", "soft"]))
    with pytest.raises(ValueError, match="lang_routing 'soft' routes by the LID head, but this model has none"):
        build_speech2text(args)


def test_encoder_languages_must_agree_with_model_conf(trained_dir):
    from espnet_ext.tasks.asr import MultilingualASRTask

    args = yaml.safe_load((trained_dir["bs_dual_adapters"] / "config.yaml").read_text())
    args["encoder_conf"]["languages"] = ["en", "fr"]
    import argparse

    with pytest.raises(ValueError, match=r"encoder_conf.languages \['en', 'fr'\] differs from model_conf.languages"):
        MultilingualASRTask.build_model(argparse.Namespace(**args))


def test_train_adapters_only_option_freezes_everything_else(trained_dir):
    import argparse

    from espnet_ext.tasks.asr import MultilingualASRTask

    args = yaml.safe_load((trained_dir["bs_dual_adapters"] / "config.yaml").read_text())
    args["train_adapters_only"] = ["zh", "common"]
    model = MultilingualASRTask.build_model(argparse.Namespace(**args))
    trainable = [k for k, p in model.named_parameters() if p.requires_grad]
    assert trainable and all((".lang_adapters.zh." in k) or (".adapter.common." in k) for k in trainable)
    n_layers = 4 + 2  # CPU row: 4 encoder + 2 decoder layers
    assert len(trainable) == n_layers * 2 * 6


def test_lid_encoder_conditions_every_layer_on_the_language():
    torch.manual_seed(0)
    enc = LIDTransformerEncoder(8, languages=LANGS, **ENC).eval()
    assert enc.embed[0].in_features == 8 + 3  # one-hot appended to the features
    x, lens = speech()
    set_lang(enc, [0, 0, 0])
    a = enc(x, lens)[0]
    set_lang(enc, [2, 2, 2])
    assert not torch.allclose(a, enc(x, lens)[0])  # the input one-hot already changes the output

    # Fresh per-layer language vectors are zero: "all_layers" starts equal to "input" with the same weights.
    only_input = LIDTransformerEncoder(8, languages=LANGS, lid_position="input", **ENC).eval()
    only_input.load_state_dict(enc.state_dict(), strict=False)
    set_lang(enc, [0, 1, 2]), set_lang(only_input, [0, 1, 2])
    assert torch.equal(enc(x, lens)[0], only_input(x, lens)[0])

    enc.train()
    out = enc(x, lens)[0]
    out[1, :lens[1]].sum().backward()  # fr utterance
    for layer in enc.encoders:
        g = layer.language_bias.weight.grad
        assert g[1].abs().sum() > 0 and g[0].abs().sum() == 0 and g[2].abs().sum() == 0
    with pytest.raises(ValueError, match="lid_position must be one of"):
        LIDTransformerEncoder(8, languages=LANGS, lid_position="decoder", **ENC)


def test_adapter_tool_exports_and_imports_adapters_alone(trained_dir, tmp_path, capsys):
    from espnet_ext.bin import adapter_tool

    exp = trained_dir["bs_dual_adapters"]
    common = ["--asr_train_config", str(exp / "config.yaml"), "--asr_model_file", str(exp / "model.pth")]
    adapter_tool.main(["export", *common, "--adapters", "fr", "--out", str(tmp_path / "fr.pth")])
    saved = torch.load(tmp_path / "fr.pth")["state_dict"]
    assert saved and all(".lang_adapters.fr." in k for k in saved)
    # Import into a copy whose fr adapters were reset: the merged model has the trained fr adapters back.
    state = torch.load(exp / "model.pth")
    reset = {k: (torch.zeros_like(v) if k in saved else v) for k, v in state.items()}
    torch.save(reset, tmp_path / "reset.pth")
    adapter_tool.main(["import", "--asr_train_config", str(exp / "config.yaml"), "--asr_model_file",
                       str(tmp_path / "reset.pth"), "--adapters_file", str(tmp_path / "fr.pth"),
                       "--out", str(tmp_path / "merged.pth")])
    merged = torch.load(tmp_path / "merged.pth")
    assert all(torch.equal(merged[k], state[k]) for k in state)
    assert "wrote" in capsys.readouterr().out
