"""espnet_ext.utils.script_confusion and its CLI: the dominant script of a text, hypotheses in another script
than their language's references counted per language, and the errors."""

import json

import pytest

from espnet_ext.bin import script_confusion as cli
from espnet_ext.utils.script_confusion import dominant_script, script_confusion


@pytest.mark.parametrize("text, script", [
    ("这个工作", "han"), ("chie chighie", "latin"), ("эне кекугеле", "cyrillic"), ("中国 ok", "han"),
    ("ab 中国家", "han"), ("ab 中", "latin"), ("12 !", None), ("", None), ("a中", "latin"),  # tie: the first
])
def test_dominant_script(text, script):
    assert dominant_script(text) == script


def test_rows_count_other_scripts_and_empty_hypotheses():
    refs = {"z1": "这个工作", "z2": "有的地方", "z3": "一年多来", "z4": "不同国家", "e1": "hello", "e2": "world"}
    hyps = {"z1": "这个中", "z2": "chie chighie", "z3": "эне", "z4": "", "e1": "helo", "e2": "wörld"}
    lang = {"z1": "zh", "z2": "zh", "z3": "zh", "z4": "zh", "e1": "en", "e2": "en"}
    en, zh = script_confusion(refs, hyps, lang)
    assert (en.language, en.other_script, en.share, en.hypothesis_scripts) == ("en", 0, 0.0, {"latin": 2})
    assert (zh.reference_script, zh.utterances, zh.other_script, zh.empty) == ("han", 4, 2, 1)
    assert zh.share == 50.0 and zh.hypothesis_scripts == {"han": 1, "latin": 1, "cyrillic": 1, "none": 1}
    with pytest.raises(ValueError, match="1 reference utterances have no hypothesis, e.g. 'e2'"):
        script_confusion(refs, {k: v for k, v in hyps.items() if k != "e2"}, lang)
    with pytest.raises(ValueError, match="1 utterances have no language in utt2lang, e.g. 'z1'"):
        script_confusion(refs, hyps, {k: v for k, v in lang.items() if k != "z1"})


def test_cli_writes_md_and_json(tmp_path, capsys):
    (tmp_path / "ref").write_text("u1 这个工作\nu2 hello\n", encoding="utf-8")
    (tmp_path / "hyp").write_text("u1 chie\nu2 hallo\n", encoding="utf-8")
    (tmp_path / "u2l").write_text("u1 zh\nu2 en\n")
    out = tmp_path / "o" / "sc"
    assert cli.main(["--ref", str(tmp_path / "ref"), "--hyp", str(tmp_path / "hyp"), "--utt2lang",
                     str(tmp_path / "u2l"), "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["zh"]["other_script"] == 1 and report["zh"]["hypothesis_scripts"] == {"latin": 1}
    assert "| zh | 1 | han | 1 | 100.0 | 0 | latin 1 |" in out.with_suffix(".md").read_text()
    assert "| en | 1 | latin | 0 | 0.0 | 0 | latin 1 |" in capsys.readouterr().out
