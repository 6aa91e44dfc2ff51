import json

import pytest

from espnet_ext.utils.error_rate import edit_distance, markdown_table, score, write_results


@pytest.mark.parametrize("ref,hyp,dist", [
    ("abc", "abc", 0), ("abc", "abd", 1), ("abc", "ab", 1), ("abc", "abcd", 1), ("", "xy", 2),
    ("kitten", "sitting", 3), ("abc", "", 3),
])
def test_edit_distance_hand_cases(ref, hyp, dist):
    assert edit_distance(list(ref), list(hyp)) == dist


def test_per_language_cer_wer_and_average():
    refs = {"u1": "ab cd", "u2": "xyz", "u3": "你好世界"}
    hyps = {"u1": "ab ce", "u2": "xy", "u3": "你好"}
    s = score(refs, hyps, {"u1": "en", "u2": "en", "u3": "zh"})
    # en: 'ab cd' vs 'ab ce' -> 1 sub of 5 chars (space counts); 'xyz' vs 'xy' -> 1 del of 3: 2/8 = 25 %
    assert s.cer["en"].errors == 2 and s.cer["en"].ref_len == 8
    assert s.cer["en"].rate == pytest.approx(25.0)
    assert s.cer["zh"].rate == pytest.approx(50.0)          # 2 deletions of 4
    assert s.average_cer == pytest.approx(37.5)              # mean over languages
    assert s.pooled_cer.rate == pytest.approx(100 * 4 / 12)  # pooled over characters
    assert s.wer["en"].rate == pytest.approx(100 * 2 / 3)   # 'cd'->'ce', 'xyz'->'xy'
    assert "zh" not in s.wer                                 # no spaces between Chinese words


def test_ignore_space_and_missing_hypothesis():
    s = score({"u1": "a b"}, {}, {"u1": "en"}, ignore_space=True)
    assert s.cer["en"].errors == 2 and s.cer["en"].ref_len == 2


def test_missing_language_tag_is_an_error():
    with pytest.raises(ValueError, match="utterance 'u2' has no language tag"):
        score({"u1": "a", "u2": "b"}, {}, {"u1": "en"})


def test_results_files(tmp_path):
    s = score({"u1": "ab", "u2": "cd"}, {"u1": "ab", "u2": "cx"}, {"u1": "en", "u2": "fr"})
    write_results(s, tmp_path, "t")
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["languages"]["fr"]["cer"] == 50.0 and data["average_cer"] == 25.0
    assert (tmp_path / "cer_per_language.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| fr | 1 | 2 | 50.0 | 100.0 |" in markdown_table(s)
