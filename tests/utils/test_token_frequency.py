"""Token-frequency statistics (A2 Table 7, Figs. 1/7/8) on a hand-made case."""

import json
from collections import Counter

import pytest

from espnet_ext.bin.token_frequency import main as token_frequency_main
from espnet_ext.text.sentencepiece_vocab import train_sentencepiece
from espnet_ext.utils.token_frequency import (PAPER_EDGES, balanced_counts, bucket_counts, bucket_labels,
                                              count_tokens, dominant_language, total_counts)

COUNTS = {"en": Counter(a=6, b=2), "sv": Counter(a=1, c=1)}
UTTS = {"en": 3, "sv": 1}


def test_total_and_balanced_counts():
    assert total_counts(COUNTS) == {"a": 7.0, "b": 2.0, "c": 1.0}
    # N = 4 utterances, L = 2: each language gets 2 utterances -> factors en 2/3, sv 2.
    bal = balanced_counts(COUNTS, UTTS)
    assert bal == pytest.approx({"a": 6 * 2 / 3 + 2, "b": 4 / 3, "c": 2.0})
    assert sum(bal.values()) == pytest.approx(4 * 2 / 3 * 2 + 2 * 2)
    with pytest.raises(ValueError, match="no utterance count for language 'sv'"):
        balanced_counts(COUNTS, {"en": 3})


def test_buckets_paper_labels_and_scaling():
    assert bucket_labels(PAPER_EDGES) == [">100k", "50k-100k", "10k-50k", "1k-10k", "<1k"]
    freq = {"t1": 150_000, "t2": 100_000, "t3": 50_000, "t4": 12_000, "t5": 999, "t6": 1_000}
    assert list(bucket_counts(freq).values()) == [1, 2, 1, 1, 1]
    # Scaled edges (x 1e-4): 10, 5, 1, 0.1; never-seen vocabulary tokens land in the lowest bucket.
    small = bucket_counts(total_counts(COUNTS), scale=1e-4, vocabulary=["<blank>", "<unk>", "a", "b", "c", "d",
                                                                         "<sos/eos>"])
    assert small == {">10": 0, "5-10": 1, "1-5": 2, "0.1-1": 0, "<0.1": 1}
    assert bucket_counts(balanced_counts(COUNTS, UTTS), edges=[5, 2, 1]) == {">5": 1, "2-5": 1, "1-2": 1, "<1": 0}
    with pytest.raises(ValueError, match="strictly decreasing"):
        bucket_counts({}, edges=[1, 5])


def test_count_tokens_and_cli(tmp_path):
    text = tmp_path / "text"
    text.write_text("u1 abc abc\nu2 abc\nu3 xyz\n", encoding="utf-8")
    utt2lang = tmp_path / "utt2lang"
    utt2lang.write_text("u1 en\nu2 en\nu3 sv\n", encoding="utf-8")
    model = train_sentencepiece([text], tmp_path / "spm", 12)
    counts, utts = count_tokens(text, utt2lang, model)
    assert utts == {"en": 2, "sv": 1}
    assert "".join(counts["en"].elements()).count("a") == 3 and sum(counts["sv"].values()) >= 2
    assert dominant_language("a", COUNTS) == "en" and dominant_language("c", COUNTS) == "sv"
    out = tmp_path / "out"
    assert token_frequency_main(["--text", str(text), "--utt2lang", str(utt2lang), "--bpemodel", str(model),
                                 "--token_list", str(tmp_path / "spm" / "tokens.txt"), "--out_dir", str(out),
                                 "--edges", "3,2,1"]) == 0
    result = json.loads((out / "token_frequency.json").read_text())
    vocab = len((tmp_path / "spm" / "tokens.txt").read_text().split()) - 3
    assert sum(result["table7"]["original"].values()) == vocab == sum(result["table7"]["balanced"].values())
    assert (out / "long_tail.png").stat().st_size > 1000 and (out / "long_tail_balanced.png").is_file()
    assert "Balanced sampling" in (out / "table7.md").read_text()
