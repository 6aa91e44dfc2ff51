"""The Tables 2/3 generator: CER without spaces, MER on CS, ΔCS and forgetting, the paper's numbers beside;
then pinyin error rates on CS / ZH and the share of looping (> 1.5 × reference) hypotheses."""

import json

from paper_results import cs_results_table as crt


def _write(path, mapping):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k} {v}\n" for k, v in mapping.items()), encoding="utf-8")


def test_table(tmp_path):
    feats = tmp_path / "dump"
    _write(feats / "cs_test" / "text", {"u1": "我们 like 吃饭", "u2": "好的"})
    _write(feats / "en_test" / "text", {"e1": "hello world"})
    _write(feats / "zh_test" / "text", {"z1": "你好吗"})
    hyps = {"only_cs": ({"u1": "我们 lake 吃饭", "u2": "好"}, {"e1": "hollo world"}, {"z1": "你号吗"}),
            "meta_en_zh_cs": ({"u1": "我们 like 吃饭", "u2": "好的"}, {"e1": "hello world"}, {"z1": "你好"}),
            "meta_en_zh_cs_ft": ({"u1": "我们 like 吃饭", "u2": "好的"}, {"e1": "hello"}, {"z1": ""}),
            # u2 loops (6 > 1.5 × 2 characters); 拟 / 你 are both ni3 (a homophone); u1 has no hypothesis
            "joint_en_zh_cs": ({"u2": "好的好的好的"}, {"e1": "hello world"}, {"z1": "拟好吗"})}
    runs = []
    for mode, (cs, en, zh) in hyps.items():
        for s, h in (("cs_test", cs), ("en_test", en), ("zh_test", zh)):
            _write(tmp_path / mode / "dec" / s / "text", h)
        runs.append(f"{mode}={tmp_path / mode}")
    out = tmp_path / "res" / "results.md"
    assert crt.main(["--feats_dir", str(feats), "--decode_tag", "dec", "--out", str(out), *runs]) == 0
    data = json.loads(out.with_suffix(".json").read_text())["ours"]
    # only_cs CS: refs 我们like吃饭 (8 chars) + 好的 (2) = 10; errors: i->a (1) + deletion (1) = 2 -> 20 %
    assert data["only_cs"]["cs"] == 20.0
    # MER units: 我 们 like 吃 饭 | 好 的 = 7; errors: like->lake (1) + 的 deleted (1)
    assert data["only_cs"]["cs_mer"] == round(200 / 7, 2)
    assert data["only_cs"]["en"] == 10.0 and data["meta_en_zh_cs"]["zh"] == round(100 / 3, 2)
    # pinyin units = CER's characters, CJK ones as toned syllables: only_cs 好->号 (hao3->hao4) is a tone error
    assert data["only_cs"]["zh"] == round(100 / 3, 2) and data["only_cs"]["zh_pinyin"] == round(100 / 3, 2)
    assert data["only_cs"]["cs_pinyin"] == 20.0 and data["only_cs"]["long_hyp"] == 0.0
    joint = data["joint_en_zh_cs"]
    # CS: u1 missing (8 deletions) + u2 4 insertions = 12 of 10; ZH: homophone 你->拟 is 1 CER error, 0 in pinyin
    assert joint["cs"] == 120.0 and joint["cs_pinyin"] == 120.0
    assert joint["zh"] == round(100 / 3, 2) and joint["zh_pinyin"] == 0.0
    assert joint["long_hyp"] == 25.0  # 1 of the 4 test utterances (cs 2 + en 1 + zh 1)
    assert data["meta_en_zh_cs_ft"]["zh_pinyin"] == 100.0 and data["meta_en_zh_cs_ft"]["long_hyp"] == 0.0
    assert list(joint) == ["cs", "cs_mer", "en", "zh", "cs_pinyin", "zh_pinyin", "long_hyp"]
    table = out.read_text()
    assert "| paper ZH | CS pinyin ER | ZH pinyin ER | long hyp |" in table
    row = next(ln for ln in table.splitlines() if ln.startswith("| Joint (EN + ZH + CS) |"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[1] == "120.00" and cells[5] == "33.33" and cells[12:] == ["120.00", "0.00", "25.00"]
    row = next(ln for ln in table.splitlines() if ln.startswith("| Meta-transfer (EN + ZH + CS) |"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[1] == "0.00" and cells[3] == "20.00" and cells[8] == "30.30" and cells[9] == "4.21"
    ft = next(ln for ln in table.splitlines() if "+ fine-tuning" in ln)
    cells = [c.strip() for c in ft.split("|")[1:-1]]
    assert cells[6] == "50.00" and cells[7] == f"{100 - 100 / 3:.2f}"  # forgetting EN / ZH
    assert cells[8] == "29.99"
    assert cells[12:] == ["0.00", "100.00", "0.00"]  # CS / ZH pinyin ER, long hyp
