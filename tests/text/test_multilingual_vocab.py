"""Per-language unigram models merged into one shared vocabulary (A2 Sec. 3.1, Table 10)."""

import json

import pytest
import sentencepiece as spm

from espnet_ext.bin.train_multilingual_vocab import main as vocab_main
from espnet_ext.text.multilingual_vocab import train_multilingual_vocab
from espnet_ext.text.sentencepiece_vocab import check_token_list_matches, read_token_list

LINES = {
    "en": ["the cat sat on the mat", "the dog ate the bone", "a cat and a dog", "the mat is on the floor"],
    "ru": ["кошка сидит на коврике", "собака ест кость", "кошка и собака", "коврик на полу"],
    "zh": ["困難與挑戰", "是激發我們的原動力", "我們的挑戰", "原動力與困難"],
}


@pytest.fixture
def corpus(tmp_path):
    text, utt2lang = [], []
    for lang, lines in LINES.items():
        for k, line in enumerate(lines * 5):
            utt = f"{lang}-{k:03d}"
            text.append(f"{utt} {line}")
            utt2lang.append(f"{utt} {lang}")
    (tmp_path / "text").write_text("\n".join(text) + "\n", encoding="utf-8")
    (tmp_path / "utt2lang").write_text("\n".join(utt2lang) + "\n", encoding="utf-8")
    return tmp_path


def test_merged_vocabulary(corpus):
    out = corpus / "tok"
    report = train_multilingual_vocab(corpus / "text", corpus / "utt2lang", out, vocab_size=25,
                                      vocab_sizes={"zh": 30})
    tokens = read_token_list(out / "tokens.txt")
    assert tokens[0] == "<blank>" and tokens[1] == "<unk>" and tokens[-1] == "<sos/eos>"
    check_token_list_matches(out / "bpe.model", out / "tokens.txt")
    merged = set(tokens)
    union = set()
    for lang in LINES:
        sp = spm.SentencePieceProcessor(model_file=str(out / "per_language" / lang / "bpe.model"))
        pieces = {sp.id_to_piece(i) for i in range(sp.get_piece_size()) if not (sp.is_control(i) or sp.is_unknown(i))}
        assert pieces <= merged
        union |= pieces
        assert report["languages"][lang]["pieces"] == len(pieces)
    assert report["shared_pieces"] == len(union) == len(tokens) - 3
    # Scripts shared with no other language are segmented by their own pieces only.
    assert report["languages"]["zh"]["same_segmentation"] == 1.0
    sp = spm.SentencePieceProcessor(model_file=str(out / "bpe.model"))
    assert sp.decode(sp.encode("кошка и собака")) == "кошка и собака"
    assert sp.unk_id() not in sp.encode("the cat 困難")
    assert json.loads((out / "vocab_report.json").read_text()) == report


def test_errors(corpus):
    with pytest.raises(ValueError, match="language 'fr' has no training text"):
        train_multilingual_vocab(corpus / "text", corpus / "utt2lang", corpus / "tok", vocab_sizes={"fr": 10})
    (corpus / "utt2lang").write_text("en-000 en\n", encoding="utf-8")
    assert vocab_main(["--text", str(corpus / "text"), "--utt2lang", str(corpus / "utt2lang"),
                       "--out_dir", str(corpus / "tok")]) == 1
