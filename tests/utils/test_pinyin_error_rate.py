"""Toned-pinyin error rate: homophones are not errors, tones are; CS text keeps English letters as units."""

import json

import pytest

from espnet_ext.bin import score_cer
from espnet_ext.utils.error_rate import cer_ignoring_spaces, char_units
from espnet_ext.utils.pinyin_error_rate import pinyin_error_rate, pinyin_units


def test_units_polyphones_resolved_in_context():
    assert pinyin_units("银行") == ["yin2", "hang2"]
    assert pinyin_units("行走") == ["xing2", "zou3"]
    assert pinyin_units("我们") == ["wo3", "men5"]  # neutral tone written 5, as spoken_text does


def test_units_code_switched_text():
    assert pinyin_units("我 like 苹果") == ["wo3", "l", "i", "k", "e", "ping2", "guo3"]
    assert pinyin_units("我likes苹果") == ["wo3", "l", "i", "k", "e", "s", "ping2", "guo3"]
    assert pinyin_units("don't 女") == ["d", "o", "n", "'", "t", "nv3"]
    assert pinyin_units("  ") == [] and pinyin_units("") == []


@pytest.mark.parametrize("text", ["我 like 苹果", "我们 like 吃饭", "你好吗", "hello world", "a  b\tc"])
def test_units_align_with_cer_characters(text):
    assert len(pinyin_units(text)) == len(char_units(text, ignore_space=True))


def test_cjk_character_without_reading_stays_itself():
    assert pinyin_units("\u9fff你") == ["\u9fff", "ni3"]


def test_homophone_is_a_cer_error_but_no_pinyin_error():
    refs, hyps = {"u1": "我是老师"}, {"u1": "我事老师"}  # 是 / 事: both shi4
    assert (cer_ignoring_spaces(refs, hyps).errors, cer_ignoring_spaces(refs, hyps).ref_len) == (1, 4)
    p = pinyin_error_rate(refs, hyps)
    assert (p.errors, p.ref_len, p.rate) == (0, 4, 0.0)


def test_tone_error_counts_one():
    p = pinyin_error_rate({"u1": "你好吗"}, {"u1": "你号吗"})  # hao3 -> hao4
    assert (p.errors, p.ref_len) == (1, 3)
    assert p.rate == pytest.approx(100 / 3)


def test_mixed_text_set_and_missing_hypothesis():
    refs = {"u1": "我 like 苹果", "u2": "好的"}
    hyps = {"u1": "我 lake 平果"}  # i->a: 1 error; 苹/平 both ping2: 0; u2 missing: 2 deletions
    p = pinyin_error_rate(refs, hyps)
    assert (p.errors, p.ref_len, p.utts) == (3, 9, 2)
    c = cer_ignoring_spaces(refs, hyps)
    assert (c.errors, c.ref_len) == (4, 9)  # CER also counts the homophone 苹 -> 平


def test_score_cer_pinyin_flag(tmp_path):
    (tmp_path / "ref").write_text("z1 我是老师\nz2 你好吗\ne1 hello\n", encoding="utf-8")
    (tmp_path / "hyp").write_text("z1 我事老师\nz2 你号吗\ne1 hallo\n", encoding="utf-8")
    (tmp_path / "u2l").write_text("z1 zh\nz2 zh\ne1 en\n", encoding="utf-8")
    args = ["--ref", str(tmp_path / "ref"), "--hyp", str(tmp_path / "hyp"), "--utt2lang", str(tmp_path / "u2l")]
    assert score_cer.main([*args, "--out_dir", str(tmp_path / "plain")]) == 0
    plain = json.loads((tmp_path / "plain" / "results.json").read_text())
    assert "pinyin_er" not in plain["languages"]["zh"]
    assert "pinyin" not in (tmp_path / "plain" / "results.md").read_text()
    assert score_cer.main([*args, "--out_dir", str(tmp_path / "py"), "--pinyin"]) == 0
    data = json.loads((tmp_path / "py" / "results.json").read_text())
    # zh: 7 characters, CER 2 errors (是->事, 好->号); pinyin 1 error (hao3->hao4)
    assert data["languages"]["zh"]["cer"] == round(200 / 7, 2)
    assert data["languages"]["zh"]["pinyin_er"] == round(100 / 7, 2)
    assert "pinyin_er" not in data["languages"]["en"]
    table = (tmp_path / "py" / "results.md").read_text()
    assert "| language | #utts | #chars | CER (%) | WER (%) | pinyin ER (%) |" in table
    assert f"| zh | 2 | 7 | {200 / 7:.1f} | - | {100 / 7:.1f} |" in table
    assert "| en | 1 | 5 | 20.0 | 100.0 | - |" in table
