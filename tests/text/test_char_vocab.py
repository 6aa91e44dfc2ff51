from espnet_ext.text.char_vocab import char_token_list, main


def test_token_list_follows_espnet_char_convention():
    tokens = char_token_list(["我 like 吃", "Don't 吃!", "42"])
    assert tokens[0] == "<blank>" and tokens[1] == "<unk>" and tokens[-1] == "<sos/eos>"
    body = tokens[2:-1]
    assert body[:2] == ["<space>", "吃"]  # most frequent first: 3 spaces, 2 × 吃
    assert set(body) == {"<space>", "吃", "我", "l", "i", "k", "e", "d", "o", "n", "'", "t"}
    assert " " not in body and "!" not in body and "4" not in body


def test_espnet_char_tokenizer_round_trip(tmp_path):
    from espnet2.text.char_tokenizer import CharTokenizer

    text = tmp_path / "text"
    text.write_text("u1 我 like 吃\nu2 don't\n", encoding="utf-8")
    main([str(text), "--out", str(tmp_path / "tokens.txt")])
    vocab = set((tmp_path / "tokens.txt").read_text(encoding="utf-8").split("\n"))
    assert set(CharTokenizer().text2tokens("我 like 吃 don't")) <= vocab
