"""wc(Y) of eq. 5 (Winata et al., arXiv:2004.14228): English words + Chinese characters, whole-text and incremental."""

import pytest

from espnet_ext.utils.word_count import extend, token_surface, vocabulary_counts, word_count


@pytest.mark.parametrize("text,expected", [
    ("", 0),
    ("   ", 0),
    ("hello world", 2),
    ("我喜欢", 3),
    ("我 like 吃apple", 4),
    ("我们 go shopping 吧", 5),
    ("don't 走", 2),
    ("abc中def", 3),
    ("  trailing 空格  ", 3),
])
def test_word_count_mixed_script(text, expected):
    assert word_count(text) == expected


@pytest.mark.parametrize("token_type,tokens", [
    ("char", ["我", "<space>", "l", "i", "k", "e", "<space>", "吃", "a", "p", "p", "<space>", "好", "<sos/eos>"]),
    ("char", ["h", "i", "中", "x", "<space>", "<space>", "y"]),
    ("bpe", ["\u2581i", "\u2581like", "s", "\u2581", "吃", "饭", "\u2581o", "k"]),
    ("word", ["我", "like", "吃", "apple", "<unk>"]),
])
def test_incremental_count_matches_whole_text(token_type, tokens):
    counts = dict(zip(tokens, vocabulary_counts(tokens, token_type)))
    count, in_word = 0, False
    text = ""
    for t in tokens:
        count, in_word = extend(count, in_word, counts[t])
        text += token_surface(t, token_type)
        assert count == word_count(text), (tokens, text)


def test_unknown_token_type_is_rejected():
    with pytest.raises(ValueError, match="token_type"):
        token_surface("a", "phn")
