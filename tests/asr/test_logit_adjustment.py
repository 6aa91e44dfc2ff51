"""Adjust-Train model (eqs. 8-10, Menon variant) and Adjust-Inference scorer (eq. 11) on tiny models."""

import itertools
import math

import numpy as np
import pytest
import torch

import espnet_ext  # noqa: F401
from espnet.nets.batch_beam_search import BatchBeamSearch
from espnet.nets.pytorch_backend.transformer.add_sos_eos import add_sos_eos
from espnet.nets.scorers.ctc import CTCPrefixScorer
from espnet2.asr.ctc import CTC
from espnet2.asr.decoder.transformer_decoder import TransformerDecoder
from espnet2.asr.encoder.transformer_encoder import TransformerEncoder
from espnet_ext.asr.logit_adjusted_model import LogitAdjustedASRModel
from espnet_ext.asr.multilingual_model import MultilingualASRModel
from espnet_ext.asr.scorers.logit_adjusted_scorer import LogitAdjustedScorer
from espnet_ext.asr.token_prior import TokenPrior

TOKENS = ["<blank>", "<unk>", "a", "b", "c", "<sos/eos>"]
V, EOS, LANGS = len(TOKENS), len(TOKENS) - 1, ["en", "fr", "zh"]


def prior_file(tmp_path, tokens=TOKENS):
    texts = {"u1": "aaab", "u2": "aab", "u3": "a"}
    prior = TokenPrior.from_transcripts(texts, tokens, TokenPrior.tokenizer("char"),
                                        {"u1": "en", "u2": "fr", "u3": "zh"})
    path = tmp_path / "prior.txt"
    prior.write(path)
    return path, prior


def build(model_class=LogitAdjustedASRModel, seed=0, **conf):
    torch.manual_seed(seed)
    enc = TransformerEncoder(8, output_size=16, attention_heads=2, linear_units=16, num_blocks=1, input_layer="linear")
    dec = TransformerDecoder(V, 16, attention_heads=2, linear_units=16, num_blocks=1)
    return model_class(vocab_size=V, token_list=TOKENS, frontend=None, specaug=None, normalize=None, preencoder=None,
                       encoder=enc, postencoder=None, decoder=dec, ctc=CTC(V, 16), joint_network=None,
                       ctc_weight=0.3, lsm_weight=0.1, languages=LANGS, **conf)


def batch(seed=1):
    g = torch.Generator().manual_seed(seed)
    return dict(speech=torch.randn(3, 12, 8, generator=g), speech_lengths=torch.tensor([12, 10, 9]),
                text=torch.tensor([[2, 3, -1], [2, 2, 3], [3, -1, -1]]), text_lengths=torch.tensor([2, 3, 1]),
                lang=torch.tensor([[0], [1], [2]]))


def att_logits(model, b):
    enc, enc_lens = model.encode(b["speech"], b["speech_lengths"])
    ys_in, ys_out = add_sos_eos(b["text"], model.sos, model.eos, model.ignore_id)
    logits, _ = model.decoder(enc, enc_lens, ys_in, b["text_lengths"] + 1)
    return logits, ys_out


# ---------------- Adjust-Train model ----------------

@pytest.mark.parametrize("mode,sign", [("adjust_train", -1.0), ("menon", 1.0), ("none", 0.0)])
def test_attention_loss_follows_the_equations(tmp_path, mode, sign):
    path, prior = prior_file(tmp_path)
    model = build(logit_adjustment=mode, tau=0.5, token_prior=str(path)).eval()
    b = batch()
    with torch.no_grad():
        _, stats, _ = model(**b)
        logits, ys_out = att_logits(model, b)
    log_prior = torch.tensor(np.log(prior.priors), dtype=torch.float32)
    expected = model.criterion_att(logits + sign * 0.5 * log_prior, ys_out)  # eq. 8 (-) / Menon (+)
    assert stats["loss_att"].item() == pytest.approx(expected.item(), rel=1e-5)
    # accuracy on the distribution decoding uses: adjusted for adjust_train, raw for menon
    infer = logits - 0.5 * log_prior if mode == "adjust_train" else logits
    mask = ys_out != -1
    acc = (infer.argmax(-1)[mask] == ys_out[mask]).float().mean().item()
    assert stats["acc"].item() == pytest.approx(acc)


def test_adjust_train_and_menon_differ_by_twice_the_offset(tmp_path):
    path, prior = prior_file(tmp_path)
    b = batch()
    losses = {}
    for mode in ("adjust_train", "menon"):
        with torch.no_grad():
            losses[mode] = build(logit_adjustment=mode, tau=0.3, token_prior=str(path)).eval()(**b)[1]["loss_att"]
    assert losses["adjust_train"].item() != pytest.approx(losses["menon"].item(), rel=1e-3)


def test_per_language_prior_uses_each_utterance_language(tmp_path):
    path, prior = prior_file(tmp_path)
    model = build(tau=0.3, token_prior=str(path), per_language_prior=True).eval()
    assert model.token_prior.shape == (3, V)
    b = batch()
    with torch.no_grad():
        loss = model(**b)[1]["loss_att"]
        logits, ys_out = att_logits(model, b)
    log_prior = torch.tensor(np.log(prior.matrix(LANGS)), dtype=torch.float32)  # (L, V)
    expected = model.criterion_att(logits - 0.3 * log_prior[[0, 1, 2]].unsqueeze(1), ys_out)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(RuntimeError, match="per_language_prior needs the 'lang' data key"):
        model(**{k: v for k, v in b.items() if k != "lang"})


def test_prior_mismatch_and_missing_prior_errors(tmp_path):
    path, _ = prior_file(tmp_path, tokens=TOKENS[:3] + ["b", "c", "d", "<sos/eos>"])
    with pytest.raises(ValueError, match=r"token prior .*prior.txt has 7 tokens but the model's token list "
                                         r"\(--token_list, 6 entries\) has 6; first difference at index 5"):
        build(token_prior=str(path))
    model = build(token_prior=None)  # what ESPnet's dry run and build_model_from_file do
    assert not model.has_prior() and model.inference_adjustment() == (0.3, None)
    with pytest.raises(RuntimeError, match="model_conf.token_prior is null .*compute_token_priors"):
        model(**batch())
    with pytest.raises(RuntimeError, match="token_prior /no/such.txt does not exist"):
        build(token_prior="/no/such.txt")(**batch())
    with pytest.raises(ValueError, match="logit_adjustment must be one of"):
        build(logit_adjustment="post_hoc")


def test_prior_travels_in_the_state_dict(tmp_path):
    path, prior = prior_file(tmp_path)
    trained = build(token_prior=str(path))
    fresh = build(token_prior=None, seed=3)
    fresh.load_state_dict(trained.state_dict())
    assert fresh.has_prior()
    np.testing.assert_allclose(fresh.stored_prior().numpy(), prior.priors, rtol=1e-6)


def test_schedule_is_linear_and_resumes_from_buffer(tmp_path):
    path, _ = prior_file(tmp_path)
    model = build(token_prior=str(path), ss_prob_start=0.1, ss_prob_end=0.5, ss_start_step=10, ss_ramp_steps=20)
    probs = [model.sampling_probability(s) for s in (0, 9, 10, 20, 30, 100)]
    assert probs == pytest.approx([0.0, 0.0, 0.1, 0.3, 0.5, 0.5])
    model.ss_step.fill_(20)
    assert model.sampling_probability() == pytest.approx(0.3)
    assert "ss_step" in model.state_dict()


def test_sampled_inputs_replace_reference_tokens_with_adjusted_argmax(tmp_path):
    path, prior = prior_file(tmp_path)
    model = build(token_prior=str(path), tau=0.3).eval()
    b = batch()
    enc, enc_lens = model.encode(b["speech"], b["speech_lengths"])
    ys_in, _ = add_sos_eos(b["text"], model.sos, model.eos, model.ignore_id)
    lens = b["text_lengths"]
    offset = -0.3 * torch.tensor(np.log(prior.priors), dtype=torch.float32)
    with torch.no_grad():
        logits, _ = model.decoder(enc, enc_lens, ys_in, lens + 1)
        mixed = model._sampled_inputs(enc, enc_lens, ys_in, lens + 1, lens, 1.0, offset)
        kept = model._sampled_inputs(enc, enc_lens, ys_in, lens + 1, lens, 0.0, offset)
    pred = (logits + offset).argmax(-1)  # eq. 10
    assert torch.equal(kept, ys_in)
    for i, n in enumerate(lens.tolist()):
        assert mixed[i, 0] == model.sos
        assert mixed[i, 1:n + 1].tolist() == pred[i, :n].tolist()
        assert mixed[i, n + 1:].tolist() == ys_in[i, n + 1:].tolist()  # padding untouched


def test_scheduled_sampling_path_trains(tmp_path):
    path, _ = prior_file(tmp_path)
    model = build(token_prior=str(path), tau=0.3, ss_prob_start=1.0, ss_prob_end=1.0).train()
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    b = batch()
    losses = []
    for _ in range(15):
        loss = model(**b)[0]
        opt.zero_grad()
        loss.backward()
        if not losses:
            assert model.decoder.embed[0].weight.grad.abs().sum() > 0  # gradient reaches the decoder input
            assert model.encoder.embed[0].weight.grad.abs().sum() > 0
        opt.step()
        losses.append(loss.item())
    assert int(model.ss_step) == 15
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3]), losses


# ---------------- Adjust-Inference scorer ----------------

def beam_search(model, decoder_scorer, beam=30, ctc_weight=0.5):
    bs = BatchBeamSearch(scorers={"decoder": decoder_scorer, "ctc": CTCPrefixScorer(model.ctc, EOS)},
                         weights={"decoder": 1 - ctc_weight, "ctc": ctc_weight}, beam_size=beam, vocab_size=V,
                         sos=EOS, eos=EOS, token_list=TOKENS, pre_beam_score_key="full")
    return bs.eval()


def encoded(model, seed=5, frames=4):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        enc, _ = model.encode(torch.randn(1, frames, 8, generator=g), torch.tensor([frames]))
    return enc[0]


def test_tau_zero_gives_identical_hypotheses(tmp_path):
    path, prior = prior_file(tmp_path)
    model = build(model_class=MultilingualASRModel).eval()
    x = encoded(model, frames=6)
    with torch.no_grad():
        plain = beam_search(model, model.decoder, beam=3)(x, maxlenratio=-4)
        wrapped = beam_search(model, LogitAdjustedScorer(model.decoder, torch.tensor(prior.priors), 0.0),
                              beam=3)(x, maxlenratio=-4)
    assert [h.yseq.tolist() for h in plain] == [h.yseq.tolist() for h in wrapped]
    assert [float(h.score) for h in plain] == pytest.approx([float(h.score) for h in wrapped], abs=1e-5)
    bs = beam_search(model, model.decoder)
    assert LogitAdjustedScorer.attach(bs, model, tau=0.0, token_prior=str(path)) is None
    assert bs.full_scorers["decoder"] is model.decoder


def yseq(hyp):
    """ESPnet appends a second, unscored <eos> to a hypothesis that ends on the last allowed step."""
    seq = tuple(hyp.yseq.tolist())
    return seq[:-1] if len(seq) > 2 and seq[-2:] == (EOS, EOS) else seq


def brute_force(model, x, log_prior, tau, ctc_weight, maxlen):
    """Every label sequence over {<unk>, a, b, c} scored as ESPnet's beam search adds it up (eq. 11)."""
    with torch.no_grad():
        ctc_logp = model.ctc.log_softmax(x.unsqueeze(0))[0].double()  # (T, V)
    T = ctc_logp.shape[0]
    paths = np.array(list(itertools.product(range(V), repeat=T)))  # all CTC paths (V^T, T)
    path_logp = ctc_logp.numpy()[np.arange(T), paths].sum(axis=1)
    full, prefix = {}, {}  # log P(collapse == y), log P(collapse starts with y)
    for path, lp in zip(paths.tolist(), path_logp):
        labels = tuple(c for t, c in enumerate(path) if c != 0 and (t == 0 or c != path[t - 1]))
        full[labels] = np.logaddexp(full.get(labels, -np.inf), lp)
        for k in range(len(labels) + 1):
            prefix[labels[:k]] = np.logaddexp(prefix.get(labels[:k], -np.inf), lp)
    results = {}
    for n in range(maxlen + 1):
        seqs = list(itertools.product(range(1, EOS), repeat=n))
        ys_in = torch.tensor([[EOS, *y] for y in seqs])  # teacher forcing, one batch per length
        with torch.no_grad():
            logits, _ = model.decoder(x.expand(len(seqs), *x.shape), torch.full((len(seqs),), x.shape[0]), ys_in,
                                      torch.full((len(seqs),), n + 1))
        logp = torch.log_softmax(logits.double() - tau * log_prior, dim=-1)  # p_adj, (K, n+1, V)
        for y, lp in zip(seqs, logp):
            if n < maxlen:  # ended by <eos>: full CTC probability
                dec = sum(lp[t, c].item() for t, c in enumerate((*y, EOS)))
                ctc = full.get(y, -np.inf)
            else:  # ESPnet appends <eos> unscored at the length limit: CTC prefix probability
                dec = sum(lp[t, c].item() for t, c in enumerate(y))
                ctc = prefix.get(y, -np.inf)
            results[(EOS, *y, EOS)] = (1 - ctc_weight) * dec + ctc_weight * ctc
    return sorted(results.items(), key=lambda kv: -kv[1])


@pytest.mark.parametrize("tau", [0.0, 0.3, 1.0])
def test_adjusted_beam_search_matches_brute_force(tmp_path, tau):
    _, prior = prior_file(tmp_path)
    model = build(model_class=MultilingualASRModel, seed=7).eval()
    x = encoded(model, frames=4)
    log_prior = torch.tensor(np.log(prior.priors))
    scorer = LogitAdjustedScorer(model.decoder, torch.tensor(prior.priors), tau)
    # Beam 5 keeps every finite first-step candidate (<unk> a b c <eos>; <blank> gets CTC's log-zero) and the
    # top 5 of the last step, so with at most 2 tokens the 5-best list is exact.
    with torch.no_grad():
        hyps = beam_search(model, scorer, beam=5)(x, maxlenratio=-2)
    reference = brute_force(model, x, log_prior, tau, 0.5, maxlen=2)
    got = [(yseq(h), float(h.score)) for h in hyps[:5]]
    assert [g[0] for g in got] == [r[0] for r in reference[:5]]
    assert [g[1] for g in got] == pytest.approx([r[1] for r in reference[:5]], abs=1e-4)
    # Length 3: pruning may drop sequences, but every returned hypothesis carries its exact joint score,
    # and here the best one is the brute-force optimum.
    with torch.no_grad():
        hyps = beam_search(model, scorer, beam=5)(x, maxlenratio=-3)
    reference = dict(brute_force(model, x, log_prior, tau, 0.5, maxlen=3))
    for h in hyps:
        assert float(h.score) == pytest.approx(reference[yseq(h)], abs=1e-4)
    assert yseq(hyps[0]) == max(reference, key=reference.get)


def test_adjustment_changes_the_best_hypothesis_towards_rare_tokens(tmp_path):
    # 'a' is the head token, 'b' the tail: a strong tau must shift mass from a to b.
    _, prior = prior_file(tmp_path)
    model = build(model_class=MultilingualASRModel, seed=7).eval()
    x = encoded(model, frames=4)
    scorer = LogitAdjustedScorer(model.decoder, torch.tensor(prior.priors), 1.0)
    ys = torch.tensor([[EOS]])
    state = [model.decoder.batch_init_state(x)]
    with torch.no_grad():
        raw, _ = model.decoder.batch_score(ys, state, x.unsqueeze(0))
        adj, _ = scorer.batch_score(ys, state, x.unsqueeze(0))
    expected = torch.log_softmax(raw - torch.tensor(np.log(prior.priors), dtype=torch.float32), dim=-1)
    torch.testing.assert_close(adj, expected)
    assert (adj[0, 3] - adj[0, 2]) - (raw[0, 3] - raw[0, 2]) == pytest.approx(math.log(prior.priors[2] / prior.priors[3]),
                                                                              rel=1e-4)


def test_per_language_scorer_picks_the_utterance_row(tmp_path):
    _, prior = prior_file(tmp_path)
    model = build(model_class=MultilingualASRModel).eval()
    x = encoded(model)
    matrix = torch.tensor(prior.matrix(LANGS), dtype=torch.float32)
    per_lang = LogitAdjustedScorer(model.decoder, matrix, 0.4)
    fr_only = LogitAdjustedScorer(model.decoder, matrix[1], 0.4)
    ys = torch.tensor([[EOS, 2], [EOS, 3]])
    states = [None, None]
    bs = beam_search(model, per_lang)
    with torch.no_grad(), LogitAdjustedScorer.language(bs, torch.tensor([1])):
        a, _ = per_lang.batch_score(ys, states, x.expand(2, *x.shape))
    b, _ = fr_only.batch_score(ys, states, x.expand(2, *x.shape))
    torch.testing.assert_close(a, b)
    with pytest.raises(RuntimeError, match="routes on the utterance's language but none was given"):
        per_lang.batch_score(ys, states, x.expand(2, *x.shape))


def test_attach_defaults_and_reentry(tmp_path):
    path, prior = prior_file(tmp_path)
    adjust_train = build(token_prior=str(path), tau=0.3).eval()
    bs = beam_search(adjust_train, adjust_train.decoder)
    wrapper = LogitAdjustedScorer.attach(bs, adjust_train)  # Adjust-Train decodes from p_adj by default
    assert bs.full_scorers["decoder"] is wrapper and wrapper.tau == 0.3 and wrapper.decoder is adjust_train.decoder
    again = LogitAdjustedScorer.attach(bs, adjust_train, tau=0.7)  # re-entrant: wraps the raw decoder
    assert again.decoder is adjust_train.decoder and bs.nn_dict["decoder"] is again
    assert LogitAdjustedScorer.attach(bs, adjust_train, tau=0.0) is None
    assert bs.full_scorers["decoder"] is adjust_train.decoder
    menon = build(token_prior=str(path), logit_adjustment="menon").eval()
    assert LogitAdjustedScorer.attach(beam_search(menon, menon.decoder), menon) is None  # raw logits
    plain = build(model_class=MultilingualASRModel).eval()
    with pytest.raises(ValueError, match="the model carries none, give --token_prior"):
        LogitAdjustedScorer.attach(beam_search(plain, plain.decoder), plain, tau=0.3)
    w = LogitAdjustedScorer.attach(beam_search(plain, plain.decoder), plain, tau=0.3, token_prior=str(path),
                                   per_language=True)
    assert w.offset.shape == (3, V)
    bad, _ = prior_file(tmp_path, tokens=["<blank>", "<unk>", "x", "y", "z", "<sos/eos>"])
    with pytest.raises(ValueError, match="first difference at index 2: 'x' vs 'a'"):
        LogitAdjustedScorer.attach(beam_search(plain, plain.decoder), plain, tau=0.3, token_prior=str(bad))
