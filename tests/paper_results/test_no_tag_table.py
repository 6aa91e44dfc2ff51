"""paper_results.no_tag_table (issue 20): rows oracle / hard / soft, columns the languages of the results, avg and
lid_acc, from hand-made score_cer results.json and lid_report lid.json; errors naming the file."""

import json

import pytest

from paper_results import no_tag_table

# results.json as score_cer writes them (languages sorted by score_cer); lid.json as lid_report writes them.
CER = {"oracle": {"en": 20.0, "fr": 17.5, "ky": 26.25}, "hard": {"en": 21.0, "fr": 19.0, "ky": 30.5},
       "soft": {"en": 20.5, "fr": 18.0, "ky": 27.0}}
LID = {"oracle": 100.0, "hard": 96.43, "soft": 96.43}


def _decode_dir(root, cer, lid_acc=None):
    root.mkdir(parents=True)
    languages = {lang: {"cer": v, "wer": v + 10, "utterances": 3, "ref_chars": 40} for lang, v in cer.items()}
    (root / "results.json").write_text(json.dumps({"languages": languages, "average_cer": 0.0, "pooled_cer": 0.0}),
                                       encoding="utf-8")
    if lid_acc is not None:
        (root / "lid.json").write_text(json.dumps({"lid_acc": lid_acc, "num_utts": 28, "languages": list(cer)}),
                                       encoding="utf-8")
    return root


@pytest.fixture
def dirs(tmp_path):
    return {row: _decode_dir(tmp_path / row, CER[row], LID[row]) for row in ("oracle", "hard", "soft")}


def test_rows_columns_and_values(dirs, tmp_path, capsys):
    out = tmp_path / "results" / "no_tag.json"
    # given in another order: the rows still come out oracle, hard, soft
    assert no_tag_table.main([f"soft={dirs['soft']}", f"oracle={dirs['oracle']}", f"hard={dirs['hard']}",
                              "--out", str(out)]) == 0
    table = json.loads(out.read_text(encoding="utf-8"))
    assert list(table) == ["oracle", "hard", "soft"]
    for row in table.values():
        assert list(row) == ["en", "fr", "ky", "avg", "lid_acc"]
    assert table["oracle"] == {"en": 20.0, "fr": 17.5, "ky": 26.25, "avg": 21.25, "lid_acc": 100.0}
    assert table["hard"] == {"en": 21.0, "fr": 19.0, "ky": 30.5, "avg": 23.5, "lid_acc": 96.43}
    assert table["soft"]["avg"] == pytest.approx((20.5 + 18.0 + 27.0) / 3, abs=0.005) == 21.83
    md = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "| routing | en | fr | ky | avg | lid_acc |" in md
    assert "| oracle | 20.00 | 17.50 | 26.25 | 21.25 | 100.00 |" in md
    assert ("soft − oracle on avg: +0.58 points (goal ≤ +1.00: met); soft LID accuracy 96.43 % "
            "(goal ≥ 95 %: met)") in md
    assert md in capsys.readouterr().out
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_goal_not_met_is_said(tmp_path):
    dirs = {"oracle": _decode_dir(tmp_path / "o", {"en": 10.0}, 100.0),
            "hard": _decode_dir(tmp_path / "h", {"en": 14.0}, 90.0),
            "soft": _decode_dir(tmp_path / "s", {"en": 11.5}, 90.0)}
    md = no_tag_table.markdown(no_tag_table.no_tag_table(dirs))
    assert "+1.50 points (goal ≤ +1.00: not met); soft LID accuracy 90.00 % (goal ≥ 95 %: not met)" in md


def test_the_table_is_a_seed_summary_input(dirs, tmp_path):
    from paper_results import seed_summary

    out = tmp_path / "no_tag.json"
    assert no_tag_table.main([f"{row}={d}" for row, d in dirs.items()] + ["--out", str(out)]) == 0
    assert seed_summary.load_table(out, "") == json.loads(out.read_text(encoding="utf-8"))


def test_missing_lid_json_names_the_file(dirs, tmp_path, capsys):
    (dirs["soft"] / "lid.json").unlink()
    assert no_tag_table.main([f"{row}={d}" for row, d in dirs.items()] + ["--out", str(tmp_path / "t.json")]) == 1
    err = capsys.readouterr().err
    assert f"ERROR: {dirs['soft'] / 'lid.json'}: no LID report" in err
    assert not (tmp_path / "t.json").exists()


def test_bad_inputs_name_the_file(dirs, tmp_path):
    (dirs["hard"] / "lid.json").write_text('{"num_utts": 3}', encoding="utf-8")
    with pytest.raises(ValueError, match=f"{dirs['hard'] / 'lid.json'}: not a lid.json"):
        no_tag_table.no_tag_table(dirs)
    (dirs["hard"] / "results.json").write_text("not json", encoding="utf-8")
    with pytest.raises(ValueError, match=f"{dirs['hard'] / 'results.json'}: not a results.json"):
        no_tag_table.no_tag_table(dirs)
    other = _decode_dir(tmp_path / "other", {"en": 1.0, "fr": 2.0, "tt": 3.0}, 99.0)
    with pytest.raises(ValueError, match="scored on languages en fr tt, but the oracle decoding on en fr ky"):
        no_tag_table.no_tag_table(dict(dirs, hard=other))


def test_exactly_the_three_routings(dirs, tmp_path, capsys):
    with pytest.raises(ValueError, match="need exactly the decode dirs oracle=DIR, hard=DIR, soft=DIR; "
                                         "got oracle, soft"):
        no_tag_table.no_tag_table({"oracle": dirs["oracle"], "soft": dirs["soft"]})
    out = str(tmp_path / "t.json")
    with pytest.raises(SystemExit):
        no_tag_table.main([f"oracle={dirs['oracle']}", f"oracle={dirs['hard']}", f"soft={dirs['soft']}", "--out", out])
    assert "routing 'oracle' given twice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        no_tag_table.main([f"oracle={dirs['oracle']}", f"hard={dirs['hard']}", f"soft={dirs['soft']}",
                           "--out", str(tmp_path / "t.md")])
    assert "give the .json path" in capsys.readouterr().err


def _write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def test_the_gap_is_split_by_the_misrouted_utterances(dirs, tmp_path, capsys):
    """Two languages, two utterances each: soft misroutes u3 (fr read as en) and garbles it; u1 is decoded
    worse by soft although routed right.  Per-language CER (spaces count): en 4 + 3 chars, fr 4 + 4 chars."""
    refs = {"u1": "abcd", "u2": "xyz", "u3": "pqrs", "u4": "lmno"}
    _write(tmp_path / "text", [f"{u} {t}" for u, t in refs.items()])
    _write(tmp_path / "utt2lang", ["u1 en", "u2 en", "u3 fr", "u4 fr"])
    _write(dirs["oracle"] / "1best_recog" / "text", ["u1 abcd", "u2 xyz", "u3 pqrs", "u4 lmno"])
    _write(dirs["soft"] / "1best_recog" / "text", ["u1 abxd", "u2 xyz", "u3 the long one", "u4 lmno"])
    _write(dirs["soft"] / "lang", ["u1 en 0.9", "u2 en 0.8", "u3 en 0.6", "u4 fr 0.99"])
    split = no_tag_table.misrouting_split(dirs, tmp_path / "text", tmp_path / "utt2lang")
    # oracle 0 everywhere; soft: en 1/7, fr edit("pqrs", "the long one") = 12 over 8 chars
    en, fr = 100 / 7, 100 * 12 / 8
    assert split == {"utterances": 4, "misrouted": 1, "gap": round((en + fr) / 2, 2),
                     "gap_routed_right": round(en / 2, 2), "gap_misrouted": round(fr / 2, 2)}
    out = tmp_path / "t" / "no_tag.json"
    assert no_tag_table.main([f"{r}={d}" for r, d in dirs.items()] + [
        "--out", str(out), "--text", str(tmp_path / "text"), "--utt2lang", str(tmp_path / "utt2lang")]) == 0
    assert (f"+{fr / 2:.2f} comes from the 1 of 4 utterances soft routed to another language and "
            f"+{en / 2:.2f} from the rest") in out.with_suffix(".md").read_text(encoding="utf-8")
    assert list(json.loads(out.read_text(encoding="utf-8"))) == ["oracle", "hard", "soft"]  # the json as before
    _write(dirs["soft"] / "lang", ["u1 en 0.9", "u2 en 0.8"])
    with pytest.raises(ValueError, match=f"{dirs['soft'] / 'lang'}: no language chosen for utterance 'u3'"):
        no_tag_table.misrouting_split(dirs, tmp_path / "text", tmp_path / "utt2lang")
    with pytest.raises(SystemExit):
        no_tag_table.main([f"{r}={d}" for r, d in dirs.items()] + ["--out", str(out), "--text", "x"])
    assert "--text and --utt2lang go together" in capsys.readouterr().err
