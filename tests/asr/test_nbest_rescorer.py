"""Eq. 5 (Winata et al., arXiv:2004.14228): N-best rescoring on a hand-computed list, the CLI on ESPnet's n-best
layout, the LM score against a direct computation, and the word-count fusion scorer's increments."""

import json
import math
import shutil

import pytest
import torch
from espnet.nets.scorer_interface import BatchScorerInterface

from espnet_ext.asr.nbest_rescorer import NbestRescorer
from espnet_ext.asr.scorers.word_count_bonus import WordCountBonus
from espnet_ext.utils.word_count import word_count
from tests.conftest import REPO

# Hand-computed: totals = α·asr + β·lm + γ·√wc with α = 1, β = 0.1, γ = 0.1.
#  1: "我 like 它"   asr -2.0, lm -30, wc 3 -> -2.0 - 3.0 + 0.1·1.7320508 = -4.8267949
#  2: "我 like 它们" asr -2.5, lm -20, wc 4 -> -2.5 - 2.0 + 0.2           = -4.3
#  3: "我"           asr -1.0, lm -40, wc 1 -> -1.0 - 4.0 + 0.1           = -4.9
HYPS = ["我 like 它", "我 like 它们", "我"]
ASR = [-2.0, -2.5, -1.0]
LM = {"我 like 它": -30.0, "我 like 它们": -20.0, "我": -40.0}
EXPECTED = [-4.8267949, -4.3, -4.9]


def _fixed_lm(texts):
    return [LM[t] for t in texts]


def test_eq5_on_hand_computed_nbest():
    rescorer = NbestRescorer(_fixed_lm, alpha=1.0, beta=0.1, gamma=0.1)
    scored = rescorer.score(HYPS, ASR)
    assert [h.wc for h in scored] == [3, 4, 1]
    assert [h.total for h in scored] == pytest.approx(EXPECTED, abs=1e-6)
    best = rescorer.best(HYPS, ASR)
    assert (best.rank, best.text) == (2, "我 like 它们")
    # Without LM and word count the best ASR score wins, whatever α > 0.
    assert NbestRescorer(None, alpha=2.0, beta=0.0, gamma=0.0).best(HYPS, ASR).rank == 3
    # A large γ prefers the longest hypothesis even against the LM.
    assert NbestRescorer(_fixed_lm, beta=0.1, gamma=10.0).best(HYPS, ASR).rank == 2


def test_beta_without_lm_is_rejected():
    with pytest.raises(ValueError, match="beta"):
        NbestRescorer(None, beta=0.1)


def test_cli_reads_espnet_nbest_layout(tmp_path, monkeypatch):
    from espnet_ext.bin import rescore_nbest

    dec = tmp_path / "decode"
    for rank, (text, score) in enumerate(zip(HYPS, ASR), 1):
        d = dec / f"{rank}best_recog"
        d.mkdir(parents=True)
        (d / "score").write_text(f"utt1 {score}\nutt2 {score + (rank == 3) * 10}\n")
        (d / "text").write_text(f"utt1 {text}\nutt2 {text}\n")
    assert list(rescore_nbest.read_nbest(dec)["utt1"][1].values()) == ["我 like 它们", "-2.5"]
    monkeypatch.setattr(rescore_nbest, "espnet_lm_scorer", lambda *a, **k: _fixed_lm)
    (tmp_path / "lm.yaml").write_text("x: 1\n")
    rescore_nbest.main(["--decode_dir", str(dec), "--output_dir", str(tmp_path / "out"),
                        "--lm_train_config", str(tmp_path / "lm.yaml"), "--lm_file", str(tmp_path / "lm.pth"),
                        "--nbest", "3", "--config", str(REPO / "conf" / "rescore_lm.yaml")])
    assert (tmp_path / "out" / "text").read_text() == "utt1 我 like 它们\nutt2 我\n"
    rows = (tmp_path / "out" / "details.tsv").read_text().splitlines()
    assert rows[1].split("\t")[:2] == ["utt1", "2"] and float(rows[1].split("\t")[-1]) == pytest.approx(-4.3)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["utterances"] == 2 and summary["changed"] == 2 and summary["seconds"] >= 0
    assert (summary["alpha"], summary["beta"], summary["gamma"]) == (1.0, 0.1, 0.1)
    with pytest.raises(ValueError, match="only 3best"):
        rescore_nbest.read_nbest(dec, nbest=5)
    # asr.sh's layout: only the 1-best merged at the top, the n-best lists in the per-job shards.
    top = tmp_path / "merged"
    shutil.copytree(dec / "1best_recog", top / "1best_recog")
    shutil.copytree(dec, top / "logdir" / "output.1")
    assert rescore_nbest.read_nbest(top) == rescore_nbest.read_nbest(dec)


TOKENS = ["<blank>", "<unk>", "<space>", "我", "它", "们", "l", "i", "k", "e", "<sos/eos>"]


@pytest.mark.parametrize("seq", [
    ["我", "<space>", "l", "i", "k", "e", "<space>", "它", "们", "<sos/eos>"],
    ["l", "i", "我", "k", "<space>", "<space>", "e", "e", "<sos/eos>"],
])
def test_fusion_increments_sum_to_gamma_sqrt_wc(seq):
    gamma = 0.1
    scorer = WordCountBonus(TOKENS, "char")
    ids = [TOKENS.index(t) for t in seq]
    x = torch.zeros(3, 4)
    y = torch.tensor([len(TOKENS) - 1])  # <sos>
    state, total = scorer.init_state(x), 0.0
    batch_state = None
    for t in ids:
        scores, state = scorer.score(y, state, x)
        bscores, bstates = scorer.batch_score(y.unsqueeze(0).repeat(2, 1), [batch_state, batch_state], x.unsqueeze(0))
        assert torch.allclose(bscores[0], scores) and bscores.shape == (2, len(TOKENS))
        batch_state = bstates[0]
        total += gamma * float(scores[t])
        y = torch.cat([y, torch.tensor([t])])
    text = "".join(" " if t == "<space>" else ("" if t == "<sos/eos>" else t) for t in seq)
    assert total == pytest.approx(gamma * math.sqrt(word_count(text)), abs=1e-5)


def test_lm_scorer_matches_direct_computation(tmp_path):
    from tests.lm.tiny_lm import direct_logprob, write_lm

    config, pth, model, tokens = write_lm(tmp_path)
    from espnet_ext.asr.nbest_rescorer import espnet_lm_scorer

    texts = ["ab ca", "", "b"]
    got = espnet_lm_scorer(str(config), str(pth))(texts)
    ids = [[tokens.index("<space>" if c == " " else c) for c in t] for t in texts]
    assert got == pytest.approx([direct_logprob(model, x) for x in ids], abs=1e-4)


class _RandomDecoder(BatchScorerInterface):
    """A full scorer with fixed pseudo-random next-token log-probs (depends on the prefix length only)."""

    def __init__(self, n_vocab, eos):
        g = torch.Generator().manual_seed(0)
        self.table = torch.randn(12, n_vocab, generator=g).log_softmax(-1)
        self.table[:3, eos] = -1e4  # no empty hypotheses

    def init_state(self, x):
        return None

    def batch_init_state(self, x):
        return None

    def select_state(self, state, i, new_id=None):
        return None

    def final_score(self, state):
        return 0.0

    def batch_score(self, ys, states, xs):
        return self.table[min(ys.shape[1] - 1, 11)].expand(ys.shape[0], -1), [None] * ys.shape[0]


def test_fusion_in_espnet_beam_search_scores_gamma_sqrt_wc():
    from espnet.nets.batch_beam_search import BatchBeamSearch

    eos = len(TOKENS) - 1
    search = BatchBeamSearch(scorers={"decoder": _RandomDecoder(len(TOKENS), eos)}, weights={"decoder": 1.0},
                             beam_size=3, vocab_size=len(TOKENS), sos=eos, eos=eos, token_list=TOKENS,
                             pre_beam_score_key="full")
    assert WordCountBonus.attach(search, TOKENS, "char", 0.1) is not None
    hyps = search(torch.zeros(10, 4), maxlenratio=0.0, minlenratio=0.0)
    assert hyps
    for h in hyps:
        text = "".join({"<space>": " "}.get(TOKENS[t], TOKENS[t]) for t in h.yseq[1:-1].tolist())
        assert float(h.scores["word_count"]) == pytest.approx(math.sqrt(word_count(text)), abs=1e-5)
        assert float(h.score) == pytest.approx(float(h.scores["decoder"]) + 0.1 * float(h.scores["word_count"]),
                                               abs=1e-4)
    with pytest.raises(ValueError, match="token list"):
        WordCountBonus.attach(search, TOKENS[:-1], "char", 0.1)
