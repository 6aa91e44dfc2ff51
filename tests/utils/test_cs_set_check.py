"""CS set check: monolingual utterances in a CS set and characters outside the token list are counted and
named, not dropped."""

import json

from espnet_ext.bin import check_cs_set as cli
from espnet_ext.utils.cs_set_check import check_cs_set

TEXT = {"u1": "我们 market 很大", "u2": "我们很好", "u3": "big market", "u4": "新的 job 龘"}


def test_counts_and_names_utterances():
    r = check_cs_set(TEXT, tokens=set("我们很大好新的") | set("marketjobig")).to_dict()
    assert r["utterances"] == 4
    assert (r["no_zh"], r["no_en"], r["outside_token_list"]) == (1, 1, 1)
    assert r["examples"] == {"no_zh": ["u3"], "no_en": ["u2"], "outside_token_list": ["u4"]}
    assert r["outside_characters"] == ["龘"]
    assert check_cs_set(TEXT).to_dict()["outside_token_list"] == 0  # no token list: not checked


def test_cli_reports_and_strict_fails(tmp_path, caplog):
    d = tmp_path / "cs_test"
    d.mkdir()
    (d / "text").write_text("".join(f"{u} {t}\n" for u, t in sorted(TEXT.items())), encoding="utf-8")
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("\n".join(["<blank>", "<unk>", "<space>", *"我们很大好新的marketjobig", "<sos/eos>"]) + "\n",
                      encoding="utf-8")
    out = tmp_path / "report.json"
    assert cli.main(["--token_list", str(tokens), "--out_json", str(out), str(d)]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["cs_test"]["no_en"] == 1
    assert "cs_test: 1 utterances without Chinese, e.g. u3" in caplog.text
    assert "with characters outside the token list ['龘'], e.g. u4" in caplog.text
    assert cli.main(["--token_list", str(tokens), "--strict", str(d)]) == 1
    assert cli.main([str(tmp_path / "missing")]) == 1
