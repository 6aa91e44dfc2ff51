import json

import numpy as np
import pytest

from espnet_ext.asr.token_prior import TokenPrior
from espnet_ext.bin import compute_token_priors

TOKENS = ["<blank>", "<unk>", "a", "b", "<space>", "c", "<sos/eos>"]


def test_eq6_hand_computed():
    # N = 5, counts (0, 6, 3, 1, 0): C = 10, n0 = 2, N - n0 = 3.
    prior = TokenPrior.smooth(np.array([0, 6, 3, 1, 0]))
    expected = [1 / 20, 6 / 10 - 1 / 30, 3 / 10 - 1 / 30, 1 / 10 - 1 / 30, 1 / 20]
    np.testing.assert_allclose(prior, expected, rtol=0, atol=1e-15)
    assert prior.sum() == pytest.approx(1.0, abs=1e-15)
    assert (prior > 0).all()


def test_eq6_without_zero_counts_is_relative_frequency():
    np.testing.assert_allclose(TokenPrior.smooth(np.array([2, 3, 5])), [0.2, 0.3, 0.5])


def test_eq6_non_positive_prior_is_an_error():
    # one seen token counted once: c/C - 1/((N-n0)C) = 1 - 1 = 0
    with pytest.raises(ValueError, match="non-positive prior .* seen token index 1 .*count 1, C=1"):
        TokenPrior.smooth(np.array([0, 1, 0]), "tiny")
    with pytest.raises(ValueError, match="every count is zero"):
        TokenPrior.smooth(np.zeros(3))


def test_counts_targets_with_one_sos_eos_per_utterance_and_per_language(tmp_path):
    texts = {"u1": "ab a", "u2": "cz", "u3": "b"}
    utt2lang = {"u1": "en", "u2": "fr", "u3": "en"}
    prior = TokenPrior.from_transcripts(texts, TOKENS, TokenPrior.tokenizer("char"), utt2lang)
    #                       blank unk a  b  sp  c  eos   ('z' is not in the list -> <unk>)
    assert prior.counts.tolist() == [0, 1, 2, 2, 1, 1, 3]
    assert prior.language_counts["en"].tolist() == [0, 0, 2, 2, 1, 0, 2]
    assert prior.language_counts["fr"].tolist() == [0, 1, 0, 0, 0, 1, 1]
    c, n0 = 10, 1
    assert prior.priors[0] == pytest.approx(1 / (n0 * c))
    assert prior.priors[2] == pytest.approx(2 / c - 1 / ((7 - n0) * c))
    # per language: fr has C = 3, n0 = 4 (blank, a, b, space)
    assert prior.language_priors["fr"][0] == pytest.approx(1 / (4 * 3))
    assert prior.language_priors["fr"][6] == pytest.approx(1 / 3 - 1 / (3 * 3))
    for p in [prior.priors, *prior.language_priors.values()]:
        assert p.sum() == pytest.approx(1.0) and (p > 0).all()
    assert prior.matrix(["fr", "en"]).shape == (2, 7)
    with pytest.raises(ValueError, match=r"no per-language prior for \['zh'\]"):
        prior.matrix(["en", "zh"])

    path = tmp_path / "prior.txt"
    prior.write(path)
    back = TokenPrior.read(path)
    assert back.tokens == TOKENS and back.languages == ["en", "fr"]
    np.testing.assert_array_equal(back.priors, prior.priors)  # full precision round trip
    np.testing.assert_array_equal(back.language_priors["fr"], prior.language_priors["fr"])
    assert path.read_text().split("\n")[0].split("\t") == ["token", "count", "prior", "count:en", "prior:en",
                                                           "count:fr", "prior:fr"]


def test_token_list_mismatch_names_both(tmp_path):
    prior = TokenPrior.from_transcripts({"u": "ab"}, TOKENS, TokenPrior.tokenizer("char"))
    with pytest.raises(ValueError, match=r"has 7 tokens but my.list has 6; first difference at index 5: 'c' vs "
                                         r"'<sos/eos>'"):
        prior.check_tokens(TOKENS[:5] + ["<sos/eos>"], "my.list")


def test_bad_file_and_utterance_without_language(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("token\tcount\tprior\na\t1\t0.7\nb\t1\t0.7\n")
    with pytest.raises(ValueError, match="bad.txt: global prior sums to 1.4"):
        TokenPrior.read(bad)
    with pytest.raises(ValueError, match="utterance 'u2' has no language"):
        TokenPrior.from_transcripts({"u1": "a", "u2": "b"}, TOKENS, TokenPrior.tokenizer("char"), {"u1": "en"})


def test_cli_with_sentencepiece(tmp_path, capsys):
    from espnet_ext.text.sentencepiece_vocab import train_sentencepiece

    text = tmp_path / "text"
    lines = [f"u{i:03d} {s}" for i, s in enumerate(["hello world", "hello there", "bonjour le monde", "world peace"] * 5)]
    text.write_text("\n".join(lines) + "\n")
    (tmp_path / "utt2lang").write_text("".join(f"u{i:03d} {'fr' if i % 4 == 2 else 'en'}\n" for i in range(20)))
    model = train_sentencepiece([text], tmp_path / "spm", vocab_size=30)
    out = tmp_path / "exp" / "token_prior.txt"
    rc = compute_token_priors.main(["--text", str(text), "--token_list", str(tmp_path / "spm" / "tokens.txt"),
                                    "--bpemodel", str(model), "--utt2lang", str(tmp_path / "utt2lang"),
                                    "--out", str(out)])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    prior = TokenPrior.read(out)
    assert summary["total_count"] == int(prior.counts.sum()) and prior.counts[-1] == 20  # one <sos/eos> each
    assert prior.counts[0] == 0 and summary["zero_count_tokens"] >= 1
    assert prior.languages == ["en", "fr"] and prior.language_counts["fr"][-1] == 5
    assert out.with_suffix(".png").stat().st_size > 1000
    assert compute_token_priors.main(["--text", str(text), "--token_list", str(tmp_path / "spm" / "tokens.txt"),
                                      "--bpemodel", str(tmp_path / "nope.model"), "--out", str(out)]) == 1
    assert "nope.model' is not a file" in capsys.readouterr().err
