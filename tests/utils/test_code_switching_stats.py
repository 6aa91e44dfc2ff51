import pytest

from espnet_ext.utils.code_switching_stats import cmi, set_stats, spf, tag_tokens
from espnet_ext.utils.mixed_error_rate import mixed_error_rate, mixed_units


def test_tags():
    assert tag_tokens("我 don't 吃 2") == [("我", "zh"), ("don't", "en"), ("吃", "zh"), ("2", None)]


def test_cmi_spf_hand_computed():
    # 我 想 买 apple phone 了: zh zh zh en en zh -> n=6, u=0, max=4: CMI = 1 - 4/6; switches 2 of 5 pairs.
    text = "我想买 apple phone 了"
    assert cmi(text) == pytest.approx(1 - 4 / 6)
    assert spf(text) == pytest.approx(2 / 5)
    # language-independent tokens are skipped: "ok , 好" -> tagged en zh: CMI 1 - 1/2, SPF 1/1
    assert cmi("ok , 好") == pytest.approx(0.5)
    assert spf("ok , 好") == pytest.approx(1.0)
    assert cmi("hello world") == 0.0 and spf("你好") == 0.0 and cmi("123") == 0.0


def test_set_stats_means():
    s = set_stats(["我想买 apple phone 了", "hello world", "ok , 好"])
    assert s.utterances == 3 and s.cs_utterances == 2
    assert s.cmi == pytest.approx(((1 - 4 / 6) + 0 + 0.5) / 3)
    assert s.spf == pytest.approx((0.4 + 0 + 1.0) / 3)
    assert s.spf_cs_only == pytest.approx(0.7)


def test_mixed_error_rate_hand_computed():
    assert mixed_units("我 like 吃apple") == ["我", "like", "吃", "apple"]
    # ref units: 我 想 买 apple phone (5); hyp: 我 像 买 apple (4): 1 substitution + 1 deletion = 2 errors.
    mer = mixed_error_rate({"u1": "我想买 apple phone"}, {"u1": "我像买 apple"})
    assert (mer.errors, mer.ref_len) == (2, 5)
    assert mer.rate == pytest.approx(40.0)
    # A missing hypothesis is all deletions.
    assert mixed_error_rate({"u": "hi 你"}, {}).errors == 2
