"""Vocabulary mapping (A2 Sec. 2.3) and the Table 10 coverage report on hand-made vocabularies."""

import json

import pytest
import torch

from tests.pretrained_lm_fixtures import ASR_TOKENS, make_bert_dir, make_xlmr_dir


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    from espnet_ext.text.vocab_mapping import load_pretrained_tokenizer

    root = tmp_path_factory.mktemp("vm")
    return {"wordpiece": load_pretrained_tokenizer(str(make_bert_dir(root / "bert"))),
            "metaspace": load_pretrained_tokenizer(str(make_xlmr_dir(root / "xlmr"))),
            "dirs": root}


def kinds_and_sources(mapping):
    return {t: (k, p) for t, k, p in zip(mapping.tokens, mapping.kinds, mapping.pretrained_tokens)}


def test_wordpiece_mapping_rules(tokenizers):
    from espnet_ext.text.vocab_mapping import map_vocabulary

    m = map_vocabulary(ASR_TOKENS, tokenizers["wordpiece"])
    assert m.convention == "wordpiece"
    got = kinds_and_sources(m)
    assert got["▁hello"] == ("exact", ["hello"])        # SentencePiece word start -> bare WordPiece
    assert got["s"] == ("exact", ["##s"])               # continuation -> '##'
    assert got["jour"] == ("exact", ["##jour"])
    assert got["▁中"] == ("exact", ["中"])
    assert got["国"] == ("exact", ["##国"])
    assert got["▁HELLO"] == ("relaxed", ["hello"])      # case folded
    assert got["▁cats"] == ("composed", ["cat", "##s"])  # mean of the sub-tokens
    assert got["▁"] == ("fresh", [])                    # WordPiece has no word-boundary token
    assert got["▁zzq"] == ("fresh", [])                 # only [UNK] sub-tokens
    assert got["<unk>"] == ("special", ["[UNK]"]) and got["<sos/eos>"] == ("special", ["[CLS]"])
    assert got["<blank>"] == ("fresh", [])
    cov = m.coverage()
    assert cov == {"matched": 9, "vocab": 13, "coverage": pytest.approx(100 * 9 / 13), "composed": 1, "fresh": 3}
    assert m.coverage(["▁hello", "▁zzq", "<unk>"])["coverage"] == pytest.approx(50.0)


def test_metaspace_mapping_and_relaxed_positions(tokenizers):
    from espnet_ext.text.vocab_mapping import map_vocabulary

    m = map_vocabulary(ASR_TOKENS + ["中", "▁jour"], tokenizers["metaspace"])
    assert m.convention == "metaspace"
    got = kinds_and_sources(m)
    assert got["▁hello"] == ("exact", ["▁hello"]) and got["s"] == ("exact", ["s"]) and got["▁"] == ("exact", ["▁"])
    assert got["中"] == ("relaxed", ["▁中"])           # the other word position
    assert got["▁jour"] == ("relaxed", ["jour"])
    assert got["▁cats"] == ("composed", ["▁cat", "s"])
    assert got["<sos/eos>"] == ("special", ["<s>"])
    strict = kinds_and_sources(map_vocabulary(["▁HELLO"], tokenizers["metaspace"], fold_case=False,
                                              compose=False))
    assert strict["▁HELLO"] == ("fresh", [])


def test_embedding_rows_average_sources():
    from espnet_ext.text.vocab_mapping import VocabMapping

    m = VocabMapping(tokens=["a", "b", "c"], kinds=["exact", "composed", "fresh"], sources=[[1], [0, 2], []],
                     pretrained_tokens=[["x"], ["w", "y"], []], convention="wordpiece")
    source = torch.tensor([[0.0, 2.0], [1.0, 1.0], [4.0, 0.0]])
    rows = m.embedding_rows(source, fresh_std=0.02, generator=torch.Generator().manual_seed(0))
    assert torch.equal(rows[0], source[1]) and torch.equal(rows[1], torch.tensor([2.0, 1.0]))
    assert rows[2].abs().max() < 0.2
    assert m.vector_entries(torch.tensor([1.0, 2.0, 3.0])).tolist() == [2.0, 2.0, 0.0]


def test_missing_tokenizer_dir_names_the_path(tmp_path):
    from espnet_ext.text.vocab_mapping import load_pretrained_tokenizer

    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_pretrained_tokenizer(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty"):
        load_pretrained_tokenizer(str(tmp_path / "empty"))


def test_vocab_coverage_cli_table10_layout(tokenizers, tmp_path):
    from espnet_ext.bin import vocab_coverage
    from espnet_ext.text.sentencepiece_vocab import train_sentencepiece

    text = {"en1": "hello world", "en2": "hello cats", "en3": "the cat sings", "fr1": "bonjour bon",
            "fr2": "bon bonjour", "zh1": "中国 中文"}
    lang = {u: u[:2] for u in text}
    (tmp_path / "text").write_text("".join(f"{u} {t}\n" for u, t in text.items()), encoding="utf-8")
    (tmp_path / "utt2lang").write_text("".join(f"{u} {l}\n" for u, l in lang.items()), encoding="utf-8")
    model = train_sentencepiece([tmp_path / "text"], tmp_path / "spm", vocab_size=30)
    out = tmp_path / "cov"
    rc = vocab_coverage.main(["--token_list", str(tmp_path / "spm" / "tokens.txt"), "--bpemodel", str(model),
                              "--text", str(tmp_path / "text"), "--utt2lang", str(tmp_path / "utt2lang"),
                              "--pretrained_path", str(tokenizers["dirs"] / "bert"), "--out_dir", str(out)])
    assert rc == 0
    report = json.loads((out / "coverage.json").read_text())
    assert report["languages"] == ["en", "fr", "zh"]  # by number of utterances
    tokens = (tmp_path / "spm" / "tokens.txt").read_text().split()
    rows = (out / "mapping.tsv").read_text().splitlines()
    assert len(rows) == len(tokens) + 1
    multi = report["coverage"]["multi"]
    assert multi["vocab"] == len(tokens) - 3  # <blank>, <unk>, <sos/eos> are not pieces
    for row in report["coverage"].values():
        assert row["coverage"] == pytest.approx(100.0 * row["matched"] / row["vocab"])
        assert row["matched"] + row["composed"] + row["fresh"] == row["vocab"]
    md = (out / "coverage.md").read_text()
    assert "| | en | fr | zh | multi |" in md and "| # Match |" in md and "| Coverage (%) |" in md
    bad = vocab_coverage.main(["--token_list", str(tmp_path / "spm" / "tokens.txt"), "--bpemodel", str(model),
                               "--text", str(tmp_path / "text"), "--utt2lang", str(tmp_path / "utt2lang"),
                               "--pretrained_path", str(tmp_path / "absent"), "--out_dir", str(out)])
    assert bad == 1
