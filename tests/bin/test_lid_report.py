"""lid_report (issue 20): LID accuracy and confusion matrix of a hand-made decoding, errors naming file, line and
utterance, nothing written on bad input; split_merge merges the decoding jobs' ``lang`` files."""

import json

import pytest

from espnet_ext.bin import lid_report, split_merge
from espnet_ext.fileio.kaldi_map import DataDirError, read_kaldi_map
from espnet_ext.utils.lid_confusion import lid_summary, load_lid_summary, write_lid_report

# 7 utterances: en 3 (one predicted fr), fr 2 (one predicted en), zh 2 (both right) -> 5/7 right.
REF = {"u1": "en", "u2": "en", "u3": "en", "u4": "fr", "u5": "fr", "u6": "zh", "u7": "zh"}
HYP = {"u1": "en 0.9000", "u2": "en 0.8000", "u3": "fr 0.5000", "u4": "fr 0.7000", "u5": "en 0.6000",
       "u6": "zh 0.9900", "u7": "zh 0.9500"}


def _write(path, mapping):
    path.write_text("".join(f"{k} {v}\n" for k, v in mapping.items()), encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path):
    return _write(tmp_path / "lang", HYP), _write(tmp_path / "utt2lang", REF)


def test_accuracy_and_confusion_of_a_hand_made_case(files, tmp_path, capsys):
    hyp, ref = files
    out = tmp_path / "decode"
    assert lid_report.main(["--lang_hyp", str(hyp), "--utt2lang", str(ref), "--out_dir", str(out),
                            "--title", "test set"]) == 0
    data = json.loads((out / "lid.json").read_text(encoding="utf-8"))
    assert data["lid_acc"] == pytest.approx(100 * 5 / 7, abs=0.005) == 71.43
    assert (data["num_utts"], data["num_correct"], data["languages"]) == (7, 5, ["en", "fr", "zh"])
    assert data["confusion"] == {"en": {"en": 2, "fr": 1, "zh": 0}, "fr": {"en": 1, "fr": 1, "zh": 0},
                                 "zh": {"en": 0, "fr": 0, "zh": 2}}
    assert data["per_language"] == {"en": {"utts": 3, "correct": 2, "acc": 66.67, "no_output": 0},
                                    "fr": {"utts": 2, "correct": 1, "acc": 50.0, "no_output": 0},
                                    "zh": {"utts": 2, "correct": 2, "acc": 100.0, "no_output": 0}}
    assert data["num_no_output"] == 0 and "no LID output" not in (out / "lid.md").read_text(encoding="utf-8")
    assert data["macro_lid_acc"] == pytest.approx((66.67 + 50.0 + 100.0) / 3, abs=0.005)
    assert data["mean_posterior"] == pytest.approx((0.9 + 0.8 + 0.5 + 0.7 + 0.6 + 0.99 + 0.95) / 7, abs=1e-4)
    assert data["title"] == "test set"
    md = (out / "lid.md").read_text(encoding="utf-8")
    assert "LID accuracy: **71.4 %** (5/7 utterances" in md
    assert "| en | 3 | 2 | 66.7 |" in md and "| fr | 2 | 1 | 50.0 |" in md
    assert "| ref \\ hyp | en | fr | zh |" in md and "| en | 2 | 1 | 0 |" in md and "| zh | 0 | 0 | 2 |" in md
    assert md in capsys.readouterr().out
    assert (out / "lid_confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in out.iterdir()) == ["lid.json", "lid.md", "lid_confusion.png"]  # no temp files


def test_languages_option_orders_the_matrix_and_keeps_languages_without_utterances(files):
    hyp, ref = files
    data = load_lid_summary(hyp, ref, ["zh", "fr", "en", "ky"])
    assert data["languages"] == ["zh", "fr", "en", "ky"]
    assert list(data["confusion"]) == ["zh", "fr", "en", "ky"] and list(data["confusion"]["en"]) == data["languages"]
    assert data["confusion"]["ky"] == {"zh": 0, "fr": 0, "en": 0, "ky": 0}
    assert data["per_language"]["ky"] == {"utts": 0, "correct": 0, "acc": None, "no_output": 0}
    assert data["macro_lid_acc"] == pytest.approx(72.22, abs=0.005)  # over the 3 languages with utterances
    assert data["lid_acc"] == 71.43


def test_a_predicted_language_absent_from_the_reference_gets_a_column():
    data = lid_summary({"a": "en", "b": "en"}, {"a": "en", "b": "de"})
    assert data["languages"] == ["de", "en"]
    assert data["confusion"] == {"de": {"de": 0, "en": 0}, "en": {"de": 1, "en": 1}}
    assert data["lid_acc"] == 50.0 and data["per_language"]["de"]["acc"] is None
    with pytest.raises(ValueError, match="languages de are not among the languages given"):
        lid_summary({"a": "en", "b": "en"}, {"a": "en", "b": "de"}, ["en"])


def test_an_utterance_without_lid_output_counts_as_wrong(files, tmp_path):
    """Too short for the encoder: asr_inference writes an empty hypothesis and no language; the report counts it
    as a LID error (as the CER counts the empty hypothesis) instead of failing the stage."""
    hyp, ref = files
    _write(hyp, {k: v for k, v in HYP.items() if k not in ("u2", "u5")})
    data = load_lid_summary(hyp, ref)
    assert (data["num_utts"], data["num_correct"], data["num_no_output"]) == (7, 4, 2)
    assert data["lid_acc"] == pytest.approx(100 * 4 / 7, abs=0.005)
    assert data["per_language"]["en"] == {"utts": 3, "correct": 1, "acc": 33.33, "no_output": 1}
    assert data["per_language"]["fr"] == {"utts": 2, "correct": 1, "acc": 50.0, "no_output": 1}
    assert data["confusion"]["en"] == {"en": 1, "fr": 1, "zh": 0}
    write_lid_report(data, tmp_path / "out")
    assert "2 utterance(s) have no LID output" in (tmp_path / "out" / "lid.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("hyp_lines, ref_lines, message", [
    ({**HYP, "u8": "en 0.9"}, REF, "lang:8: utterance 'u8' has no reference language in {ref}"),
    ({}, REF, "utt2lang:1: utterance 'u1' (7 such utterances) has no LID output in {hyp}, nor has any utterance"),
    ({**HYP, "u3": "fr"}, REF, "lang:3: utterance 'u3': expected 'utt language posterior', got 'u3 fr'"),
    ({**HYP, "u3": "fr 0.5 extra"}, REF, "lang:3: utterance 'u3': expected 'utt language posterior'"),
    ({**HYP, "u4": "fr high"}, REF, "lang:4: utterance 'u4': posterior 'high' is not a number in [0, 1]"),
    ({**HYP, "u4": "fr 1.5"}, REF, "lang:4: utterance 'u4': posterior '1.5' is not a number in [0, 1]"),
    ({**HYP, "u4": "fr nan"}, REF, "posterior 'nan' is not a number in [0, 1]"),
    (HYP, {**REF, "u6": "zh cmn"}, "utt2lang:6: utterance 'u6': expected 'utt language', got 'u6 zh cmn'"),
])
def test_bad_input_is_one_error_line_naming_file_line_and_utterance(tmp_path, capsys, hyp_lines, ref_lines, message):
    hyp, ref = _write(tmp_path / "lang", hyp_lines), _write(tmp_path / "utt2lang", ref_lines)
    out = tmp_path / "decode"
    assert lid_report.main(["--lang_hyp", str(hyp), "--utt2lang", str(ref), "--out_dir", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ERROR: ") and len(err.strip().splitlines()) == 1
    assert message.format(hyp=hyp, ref=ref) in err
    assert not out.exists()  # nothing written


def test_unknown_language_names_the_file_and_line(files, tmp_path):
    hyp, ref = files
    with pytest.raises(DataDirError, match=r"lang:3: utterance 'u3' has language 'fr', not one of --languages "
                                           r"\(en zh\)"):
        load_lid_summary(hyp, ref, ["en", "zh"])
    only_hyp_ok = _write(tmp_path / "lang_ok", {u: "en 0.5" for u in REF})
    with pytest.raises(DataDirError, match=r"utt2lang:4: utterance 'u4' has language 'fr', not one of --languages"):
        load_lid_summary(only_hyp_ok, ref, ["en", "zh"])
    with pytest.raises(ValueError, match="names a language twice"):
        load_lid_summary(hyp, ref, ["en", "fr", "en"])


def test_blank_and_duplicate_lines_are_refused_by_the_kaldi_reader(files, tmp_path):
    hyp, ref = files
    hyp.write_text(hyp.read_text() + "u1 en 0.9\n", encoding="utf-8")
    with pytest.raises(DataDirError, match=r"lang:8: duplicate key 'u1'"):
        load_lid_summary(hyp, ref)


def test_a_failing_write_leaves_the_previous_report(files, tmp_path, monkeypatch):
    hyp, ref = files
    out = tmp_path / "decode"
    good = load_lid_summary(hyp, ref)
    write_lid_report(good, out, "first")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken_plot(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("espnet_ext.utils.lid_confusion.plot_confusion", broken_plot)
    changed = dict(good, lid_acc=0.0)
    with pytest.raises(OSError, match="disk full"):
        write_lid_report(changed, out, "second")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # old report whole, no temp files left


# ------------------------------------------------------------------------------------------ split_merge
def _job(logdir, j, texts, langs=None):
    d = logdir / f"output.{j}" / "1best_recog"
    d.mkdir(parents=True)
    for name in ("text", "token", "token_int", "score"):
        _write(d / name, texts)
    if langs is not None:
        _write(logdir / f"output.{j}" / "lang", langs)


def test_merge_joins_the_jobs_lang_files(tmp_path):
    logdir, out = tmp_path / "logdir", tmp_path / "decode"
    _job(logdir, 1, {"u1": "a", "u2": "b"}, {"u1": "en 0.9000", "u2": "fr 0.6000"})
    _job(logdir, 2, {"u3": "c"}, {"u3": "zh 0.9900"})
    assert split_merge.main(["merge", "--nj", "2", "--logdir", str(logdir), "--out_dir", str(out)]) == 0
    assert read_kaldi_map(out / "lang") == {"u1": "en 0.9000", "u2": "fr 0.6000", "u3": "zh 0.9900"}
    assert read_kaldi_map(out / "text") == {"u1": "a", "u2": "b", "u3": "c"}


def test_merge_without_lang_files_writes_none_and_drops_a_stale_one(tmp_path):
    logdir, out = tmp_path / "logdir", tmp_path / "decode"
    _job(logdir, 1, {"u1": "a"})
    out.mkdir()
    _write(out / "lang", {"u9": "en 0.5"})  # an earlier decoding's
    assert split_merge.main(["merge", "--nj", "1", "--logdir", str(logdir), "--out_dir", str(out)]) == 0
    assert not (out / "lang").exists() and read_kaldi_map(out / "text") == {"u1": "a"}


def test_utt2spk_adds_the_accuracy_per_speaker_worst_first(files, tmp_path):
    hyp, ref = files
    # a: u1 u3 u5 (en right, en->fr wrong, fr->en wrong) = 1/3; b: u2 u4 (both right); c: u6 u7 (both right)
    spk = _write(tmp_path / "utt2spk", {"u1": "a", "u2": "b", "u3": "a", "u4": "b", "u5": "a", "u6": "c", "u7": "c"})
    out = tmp_path / "decode"
    assert lid_report.main(["--lang_hyp", str(hyp), "--utt2lang", str(ref), "--out_dir", str(out),
                            "--utt2spk", str(spk)]) == 0
    data = json.loads((out / "lid.json").read_text(encoding="utf-8"))
    assert data["per_speaker"] == {"a": {"utts": 3, "correct": 1, "acc": 33.33},
                                   "b": {"utts": 2, "correct": 2, "acc": 100.0},
                                   "c": {"utts": 2, "correct": 2, "acc": 100.0}}
    assert list(data["per_speaker"]) == ["a", "b", "c"]  # worst first, ties by name
    md = (out / "lid.md").read_text(encoding="utf-8")
    assert "LID accuracy per speaker (worst first):" in md and "| a | 3 | 1 | 33.3 |" in md
    assert "per_speaker" not in load_lid_summary(hyp, ref)  # without utt2spk: as before


def test_an_utterance_without_a_speaker_is_an_error_naming_it(files, tmp_path, capsys):
    hyp, ref = files
    spk = _write(tmp_path / "utt2spk", {"u1": "a", "u2": "b", "u3": "a", "u4": "b", "u5": "a", "u6": "c"})
    out = tmp_path / "decode"
    assert lid_report.main(["--lang_hyp", str(hyp), "--utt2lang", str(ref), "--out_dir", str(out),
                            "--utt2spk", str(spk)]) != 0
    assert f"{ref}: utterance 'u7' has no speaker in {spk}" in capsys.readouterr().err
    assert not out.exists()
