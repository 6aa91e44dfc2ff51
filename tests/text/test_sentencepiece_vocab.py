import pytest

from espnet_ext.text.sentencepiece_vocab import (check_token_list_matches, read_token_list, train_sentencepiece,
                                                 write_token_list)

SENTENCES = ["hello world", "bonjour le monde", "hola mundo", "ciao mondo", "你好世界", "hello mundo",
             "le monde est grand", "el mundo es grande", "the world is big", "il mondo è grande"] * 5


@pytest.fixture(scope="module")
def spm_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("spm")
    text = d / "text"
    text.write_text("".join(f"u{i:03d} {s}\n" for i, s in enumerate(SENTENCES)), encoding="utf-8")
    train_sentencepiece([text], d / "tok", vocab_size=60)
    return d / "tok"


def test_token_list_conventions(spm_dir):
    import sentencepiece as spm

    tokens = read_token_list(spm_dir / "tokens.txt")
    assert tokens[0] == "<blank>" and tokens[1] == "<unk>" and tokens[-1] == "<sos/eos>"
    assert len(tokens) == len(set(tokens))
    assert not {"<s>", "</s>"} & set(tokens)
    sp = spm.SentencePieceProcessor(model_file=str(spm_dir / "bpe.model"))
    assert len(tokens) == sp.get_piece_size()
    for s in SENTENCES:
        pieces = sp.encode(s, out_type=str)
        assert all(p in tokens for p in pieces), s
    assert "你" in "".join(tokens)  # every character is covered (character_coverage 1.0)


def test_small_vocab_grows_to_fit_characters(tmp_path, caplog):
    text = tmp_path / "text"
    text.write_text("".join(f"u{i} {s}\n" for i, s in enumerate(SENTENCES)), encoding="utf-8")
    train_sentencepiece([text], tmp_path / "tok", vocab_size=10)
    n_chars = len({c for s in SENTENCES for c in s if not c.isspace()})
    assert len(read_token_list(tmp_path / "tok" / "tokens.txt")) >= n_chars + 3
    assert "distinct characters" in caplog.text


@pytest.mark.parametrize("content,message", [
    ("<unk>\n<blank>\na\n<sos/eos>\n", "token 0 is '<unk>'"),
    ("<blank>\n<unk>\na\n", "last token is 'a'"),
    ("<blank>\n<unk>\na\na\n<sos/eos>\n", "'a' at lines 3 and 4"),
])
def test_bad_token_lists_are_rejected(tmp_path, content, message):
    f = tmp_path / "tokens.txt"
    f.write_text(content)
    with pytest.raises(ValueError, match=message):
        read_token_list(f)


def test_mismatched_token_list_is_detected(spm_dir, tmp_path):
    check_token_list_matches(spm_dir / "bpe.model", spm_dir / "tokens.txt")
    tokens = read_token_list(spm_dir / "tokens.txt")
    stale = tmp_path / "tokens.txt"
    stale.write_text("\n".join(tokens[:5] + ["zzz"] + tokens[-1:]) + "\n")
    with pytest.raises(ValueError, match="does not match"):
        check_token_list_matches(spm_dir / "bpe.model", stale)
    assert write_token_list(spm_dir / "bpe.model", tmp_path / "again.txt") == tokens
