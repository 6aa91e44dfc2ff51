import json
from collections import Counter

import pytest

from espnet_ext.bin.token_coverage import main
from espnet_ext.dataprep.datadir import DataDirError
from espnet_ext.utils.token_coverage import (coverage_table, count_tokens, make_tokenizer, read_language_texts,
                                             script_of)


def make_dir(root, name, utts):
    """A data dir with only ``text`` and ``utt2lang``; ``utts`` maps utt -> (lang, text)."""
    d = root / name
    d.mkdir(parents=True)
    (d / "text").write_text("".join(f"{u} {t}\n" for u, (_, t) in utts.items()), encoding="utf-8")
    (d / "utt2lang").write_text("".join(f"{u} {lang}\n" for u, (lang, _) in utts.items()), encoding="utf-8")
    return d


@pytest.fixture
def dirs(tmp_path):
    en_train = make_dir(tmp_path, "en_train", {"e1": ("en", "aaaaa bbbbb"), "e2": ("en", "ccccc dd")})
    cs_train = make_dir(tmp_path, "cs_train", {"c1": ("cs", "我 like 你")})
    test = make_dir(tmp_path, "test", {"t1": ("en", "aabbc cdd xy"), "t2": ("cs", "我爱 you")})
    return en_train, cs_train, test


def by_lang(rows):
    return {r.language: r for r in rows}


def test_exact_numbers(dirs):
    en_train, cs_train, test = dirs
    rows = by_lang(coverage_table(read_language_texts([en_train, cs_train]), read_language_texts([test]),
                                  make_tokenizer("char"), min_count=5, by_script=["cs"]))
    en = rows["en"]
    # training en: a5 b5 c5 d2 -> 4 types, min 2, median 5, mean 4.25, one type < 5
    assert (en.train_utterances, en.train_tokens, en.train_types) == (2, 17, 4)
    assert (en.count_min, en.count_median, en.count_mean, en.rare_types) == (2, 5.0, 4.25, 1)
    # test en: a a b b c c d d x y -> 2 of 10 unseen = 20 %; d d x y have < 5 training occurrences = 40 %
    assert (en.test_tokens, en.oov_pct, en.rare_pct, en.oov_own_pct) == (10, 20.0, 40.0, 20.0)
    # cs test 我 爱 y o u: 爱 y o u unseen anywhere; by script: zh 1 of 2, en 3 of 3
    assert rows["cs"].test_tokens == 5 and rows["cs"].oov_pct == 80.0
    assert rows["cs:zh"].oov_pct == 50.0 and rows["cs:en"].oov_pct == 100.0
    assert (rows["cs:zh"].train_types, rows["cs:en"].train_types, rows["cs:en"].train_tokens) == (2, 4, 4)
    assert rows["cs:zh"].train_utterances is None
    # all: 23 training tokens; test 15 tokens, 2 + 4 unseen
    assert (rows["all"].train_tokens, rows["all"].test_tokens, rows["all"].oov_pct) == (23, 15, 40.0)
    assert list(rows) == ["cs", "cs:zh", "cs:en", "en", "all"]


def test_own_language_oov_differs_from_pooled(tmp_path):
    train = make_dir(tmp_path, "train", {"a": ("zh", "你好"), "b": ("cs", "好 ok")})
    test = make_dir(tmp_path, "test", {"t": ("cs", "你好")})
    rows = by_lang(coverage_table(read_language_texts([train]), read_language_texts([test]),
                                  make_tokenizer("char"), min_count=2))
    assert rows["cs"].oov_pct == 0.0 and rows["cs"].oov_own_pct == 50.0
    assert rows["zh"].test_tokens == 0 and rows["zh"].oov_pct is None


def test_by_script_split():
    counts = count_tokens({"cs": ["我想买 apple 2"]}, make_tokenizer("char"), by_script=["cs"])
    assert counts["cs:zh"] == Counter("我想买")
    assert counts["cs:en"] == Counter("apple")
    assert sum(counts["cs"].values()) == 9  # the digit is in neither script row
    words = count_tokens({"cs": ["我想买 apple"]}, make_tokenizer("word"), by_script=["cs"])
    assert words["cs:zh"] == Counter(["我想买"]) and words["cs:en"] == Counter(["apple"])
    assert script_of("▁hello") == "en" and script_of("▁") is None and script_of("的phone") == "zh"


def test_cli_writes_md_json_png(dirs, tmp_path, capsys):
    en_train, cs_train, test = dirs
    out = tmp_path / "exp" / "coverage" / "coverage"
    assert main(["--train", str(en_train), str(cs_train), "--test", str(test), "--token_type", "char",
                 "--out", str(out), "--by_script"]) == 0
    printed = capsys.readouterr().out
    assert "| en | 2 | 17 | 4 | 2 | 5.0 | 4.2 | 1 | 1 | 10 | 20.00 | 40.00 | 20.00 |" in printed
    md, js, png = (out.with_name("coverage" + ext) for ext in (".md", ".json", ".png"))
    assert md.read_text(encoding="utf-8") == printed and "| cs:zh |" in printed
    assert png.stat().st_size > 5000
    report = json.loads(js.read_text(encoding="utf-8"))
    assert report["token_type"] == "char" and report["min_count"] == 5 and report["by_script"] == ["cs"]
    rows = {r["language"]: r for r in report["rows"]}
    assert rows["en"]["oov_pct"] == 20.0 and rows["en"]["rare_pct"] == 40.0 and rows["cs:en"]["oov_pct"] == 100.0
    assert rows["all"]["test_utterances"] == 2


def test_bpe_tokens(dirs, tmp_path):
    from espnet_ext.text.sentencepiece_vocab import train_sentencepiece

    en_train, _, test = dirs
    model = train_sentencepiece([en_train / "text"], tmp_path / "spm", vocab_size=10)
    rows = by_lang(coverage_table(read_language_texts([en_train]), read_language_texts([test]),
                                  make_tokenizer("bpe", model), min_count=1))
    assert rows["en"].train_tokens > 0 and rows["en"].oov_pct is not None
    with pytest.raises(ValueError, match="needs a SentencePiece model"):
        make_tokenizer("bpe", tmp_path / "missing.model")


def test_missing_utt2lang_entry(tmp_path, capsys):
    d = make_dir(tmp_path, "train", {"u1": ("en", "ab"), "u2": ("en", "cd")})
    (d / "utt2lang").write_text("u1 en\n")
    with pytest.raises(DataDirError, match=r"train/utt2lang: no language for utterance 'u2'"):
        read_language_texts([d])
    assert main(["--train", str(d), "--test", str(d), "--token_type", "char", "--out", str(tmp_path / "o")]) == 1
    assert "no language for utterance 'u2'" in capsys.readouterr().err
    assert not (tmp_path / "o.md").exists()
