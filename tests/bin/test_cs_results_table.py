"""The Tables 2/3 generator: CER without spaces, MER on CS, ΔCS and forgetting, the paper's numbers beside."""

import json

from espnet_ext.bin import cs_results_table as crt


def _write(path, mapping):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k} {v}\n" for k, v in mapping.items()), encoding="utf-8")


def test_table(tmp_path):
    feats = tmp_path / "dump"
    _write(feats / "cs_test" / "text", {"u1": "我们 like 吃饭", "u2": "好的"})
    _write(feats / "en_test" / "text", {"e1": "hello world"})
    _write(feats / "zh_test" / "text", {"z1": "你好吗"})
    hyps = {"only_cs": ({"u1": "我们 lake 吃饭", "u2": "好"}, {"e1": "hollo world"}, {"z1": "你好吗"}),
            "meta_en_zh_cs": ({"u1": "我们 like 吃饭", "u2": "好的"}, {"e1": "hello world"}, {"z1": "你好"}),
            "meta_en_zh_cs_ft": ({"u1": "我们 like 吃饭", "u2": "好的"}, {"e1": "hello"}, {"z1": ""})}
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
    table = out.read_text()
    row = next(ln for ln in table.splitlines() if ln.startswith("| Meta-transfer (EN + ZH + CS) |"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[1] == "0.00" and cells[3] == "20.00" and cells[8] == "30.30" and cells[9] == "4.21"
    ft = next(ln for ln in table.splitlines() if "+ fine-tuning" in ln)
    cells = [c.strip() for c in ft.split("|")[1:-1]]
    assert cells[6] == "50.00" and cells[7] == f"{100 - 100 / 3:.2f}"  # forgetting EN / ZH
    assert cells[8] == "29.99"
