"""compare_models: per-language differences, head/tail group means and the errors of bad inputs, on hand-made
results.json files whose numbers are checked by hand."""

import json

import pytest

from espnet_ext.bin import compare_models
from espnet_ext.utils.model_comparison import compare, language_groups
from tests.conftest import write_map


def results(path, cer):
    path.write_text(json.dumps({"languages": {lang: {"cer": v, "utterances": 2} for lang, v in cer.items()}}))
    return path


@pytest.fixture
def inputs(tmp_path):
    # training utterances: en 4, fr 3, nl 2, tr 1 -> head en, fr; tail nl, tr
    utt2lang = {f"u{i}": lang for i, lang in enumerate(["en"] * 4 + ["fr"] * 3 + ["nl"] * 2 + ["tr"])}
    write_map(tmp_path / "utt2lang", utt2lang)
    smt = results(tmp_path / "smt.json", {"en": 20.0, "fr": 30.0, "nl": 60.0, "tr": 80.0})
    a2 = results(tmp_path / "a2.json", {"en": 22.0, "fr": 29.0, "nl": 50.0, "tr": 70.0})
    return tmp_path, smt, a2


def test_differences_groups_and_table(inputs, capsys):
    d, smt, a2 = inputs
    r = compare(("smt", smt), [("a2", a2)], d / "utt2lang")
    assert r["languages"] == ["en", "fr", "nl", "tr"]
    assert r["group"] == {"en": "head", "fr": "head", "nl": "tail", "tr": "tail"}
    assert r["group_mean"]["smt"] == {"head": 25.0, "tail": 70.0, "avg": 47.5}
    assert r["group_mean"]["a2"] == {"head": 25.5, "tail": 60.0, "avg": 42.75}
    assert r["difference"]["a2"] == {"en": 2.0, "fr": -1.0, "nl": -10.0, "tr": -10.0, "head": 0.5, "tail": -10.0,
                                     "avg": -4.75}
    assert r["relative_difference_percent"]["a2"]["en"] == 10.0
    assert r["wins"]["a2"] == ["fr", "nl", "tr"] and r["losses"]["a2"] == ["en"]
    assert compare_models.main(["--ref", f"smt={smt}", "--model", f"a2={a2}", "--train_utt2lang", str(d / "utt2lang"),
                                "--out_dir", str(d / "out"), "--title", "t"]) == 0
    table = (d / "out" / "compare.md").read_text()
    assert "| en | 4 | head | 20.0 | 22.0 | +2.0 |" in table
    assert "| tail mean |  |  | 70.0 | 60.0 | -10.0 |" in table
    assert "- a2: better than smt on 3 of 4 languages (fr, nl, tr); worse on en." in table
    assert json.loads((d / "out" / "compare.json").read_text()) == json.loads(json.dumps(r))
    assert (d / "out" / "compare.png").stat().st_size > 5000
    assert not list((d / "out").glob(".*"))  # no temporary file left
    assert table == capsys.readouterr().out


def test_head_override_and_default_split():
    order, group = language_groups({"a": 5, "b": 5, "c": 1}, ["c", "b", "a"])
    assert order == ["a", "b", "c"] and group == {"a": "head", "b": "tail", "c": "tail"}  # top half, rounded down
    _, group = language_groups({"a": 5, "b": 5, "c": 1}, ["a", "b", "c"], head=["c"])
    assert group == {"a": "tail", "b": "tail", "c": "head"}
    with pytest.raises(ValueError, match="no model was scored on: xx"):
        language_groups({"a": 1}, ["a", "b"], head=["xx"])
    with pytest.raises(ValueError, match="every language is in the head group"):
        language_groups({"a": 1}, ["a", "b"], head=["a", "b"])


def test_bad_inputs_name_the_file(inputs):
    d, smt, a2 = inputs
    other = results(d / "other.json", {"en": 1.0, "fr": 1.0})
    with pytest.raises(ValueError, match="other was scored on languages \\['en', 'fr'\\]"):
        compare(("smt", smt), [("other", other)], d / "utt2lang")
    with pytest.raises(FileNotFoundError, match="missing.json: no such results file"):
        compare(("smt", smt), [("a2", d / "missing.json")], d / "utt2lang")
    (d / "bad.json").write_text('{"langs": {}}')
    with pytest.raises(ValueError, match="bad.json: not a results.json"):
        compare(("smt", smt), [("a2", d / "bad.json")], d / "utt2lang")
    with pytest.raises(ValueError, match="distinct"):
        compare(("smt", smt), [("smt", a2)], d / "utt2lang")
    with pytest.raises(SystemExit):
        compare_models.get_parser().parse_args(["--ref", "smt", "--model", "a=b", "--train_utt2lang", "x",
                                                "--out_dir", "o"])
    assert compare_models.main(["--ref", f"smt={smt}", "--model", f"o={other}", "--train_utt2lang",
                                str(d / "utt2lang"), "--out_dir", str(d / "out2")]) == 1
    assert not (d / "out2").exists()  # nothing written for a bad input


def test_several_runs_of_a_model_are_averaged_per_language(inputs):
    d, smt, a2 = inputs
    a2_seed2 = results(d / "a2_seed2.json", {"en": 18.0, "fr": 31.0, "nl": 54.0, "tr": 66.0})
    r = compare(("smt", smt), [("a2", [a2, a2_seed2])], d / "utt2lang")
    # per language the mean of (22, 18), (29, 31), (50, 54), (70, 66)
    assert r["cer"]["a2"] == {"en": 20.0, "fr": 30.0, "nl": 52.0, "tr": 68.0}
    assert r["runs"] == {"smt": 1, "a2": 2}
    assert r["difference"]["a2"]["tail"] == -10.0 and r["losses"]["a2"] == []
    assert compare_models.main(["--ref", f"smt={smt}", "--model", f"a2={a2},{a2_seed2}", "--train_utt2lang",
                                str(d / "utt2lang"), "--out_dir", str(d / "out")]) == 0
    table = (d / "out" / "compare.md").read_text()
    assert "| nl | 2 | tail | 60.0 | 52.0 | -8.0 |" in table and "Means over runs: a2 (2)." in table
    fewer = results(d / "fewer.json", {"en": 1.0, "fr": 1.0, "nl": 1.0})
    with pytest.raises(ValueError, match="fewer.json: scored on languages \\['en', 'fr', 'nl'\\]"):
        compare(("smt", smt), [("a2", [a2, fewer])], d / "utt2lang")
    with pytest.raises(SystemExit):
        compare_models.get_parser().parse_args(["--ref", f"smt={smt},", "--model", f"a2={a2}",
                                                "--train_utt2lang", "x", "--out_dir", "y"])
