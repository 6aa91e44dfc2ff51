"""espnet_ext.dataprep.own_data and its CLI on hand-made Kaldi dirs: the seeded per-language dev hold-out (by speaker
or by utterance), normalisation with empty transcripts dropped and counted, segments, renamed ids, the report,
idempotence and every error message."""

import json
import logging
from typing import List

import pytest
import soundfile

from espnet_ext.bin.prepare_own_data import main as cli
from espnet_ext.dataprep.datadir import validate_data_dir
from espnet_ext.dataprep.own_data import hold_out_dev, prepare_own_data, read_own_data_dir
from espnet_ext.fileio.kaldi_map import DataDirError, read_kaldi_map
from espnet_ext.text.normalizer import TranscriptNormalizer
from tests.conftest import write_tone
from tests.own_data_helpers import Row, make_kaldi_dir


def corpus_rows() -> List[Row]:
    """en: 5 speakers x 4 utterances (speaker hold-out); fr: 2 speakers x 5 (utterance hold-out); sv: 3 utterances
    (too few for a dev part)."""
    rows = [(f"en{s}-{k}", f"en{s}", "en", f"Hello, speaker {s}! Take {k}.") for s in range(5) for k in range(4)]
    rows += [(f"fr{s}-{k}", f"fr{s}", "fr", f"L’homme n° {s}{k} : « bonjour »") for s in range(2) for k in range(5)]
    rows += [(f"sv0-{k}", "sv0", "sv", f"HEJ {k}") for k in range(3)]
    return rows


TEST_ROWS = [("ent-1", "ent", "en", "Good night."), ("frt-1", "frt", "fr", "Bonne nuit !"),
             ("svt-1", "svt", "sv", "Hej då")]


@pytest.fixture
def dirs(tmp_path):
    return make_kaldi_dir(tmp_path / "in_train", corpus_rows()), make_kaldi_dir(tmp_path / "in_test", TEST_ROWS)


def test_prepare_writes_valid_dirs_and_the_report(dirs, tmp_path):
    train, test = dirs
    report = prepare_own_data(train, test, tmp_path / "out")
    # Valid data dirs (spk2utt written anew and agreeing with utt2spk), audio headers included.
    out = {s: validate_data_dir(tmp_path / "out" / s, check_audio=True) for s in ("train", "dev", "test")}
    assert out["test"].text == {"ent-1": "good night", "frt-1": "bonne nuit", "svt-1": "hej då"}
    assert out["train"].text["fr0-1"] == "l'homme n° 01 bonjour"  # default normaliser; ° is a symbol, kept
    assert report == json.loads((tmp_path / "out" / "own_data_report.json").read_text())
    langs = report["languages"]
    assert {lang: [langs[lang][s]["utterances"] for s in ("train", "dev", "test")] for lang in langs} == {
        "en": [16, 4, 1], "fr": [8, 2, 1], "sv": [3, 0, 1]}
    assert [langs["en"][s]["speakers"] for s in ("train", "dev", "test")] == [4, 1, 1]
    assert (langs["en"]["dev_holdout"], langs["fr"]["dev_holdout"], langs["sv"]["dev_holdout"]) == (
        "speakers", "utterances", "none")
    assert langs["fr"]["reason"] == "2 speaker(s), fewer than 4: held out utterances"
    assert langs["sv"]["reason"] == "3 training utterance(s): a dev part of 2 would leave train fewer than dev"
    assert report["no_dev_languages"] == ["sv"]
    assert report["normalizer"]["spec"] == "nfkc,punct,lower,space"
    assert report["dropped_empty"] == {"train": 0, "test": 0} and report["renamed_utterances"] == 0
    # The dev hold-out moves utterances: train + dev is the input, nothing in both.
    assert not set(out["train"].wav) & set(out["dev"].wav)
    assert set(out["train"].wav) | set(out["dev"].wav) == {r[0] for r in corpus_rows()}
    assert out["train"].wav["en0-0"] == str((train / "wav" / "en0-0.wav").resolve())


def test_seeded_split_is_reproducible_disjoint_and_order_free(tmp_path):
    rows = corpus_rows()
    test = make_kaldi_dir(tmp_path / "test", TEST_ROWS)
    a = make_kaldi_dir(tmp_path / "a", rows)
    b = make_kaldi_dir(tmp_path / "b", rows, shuffle=3)  # the same data, lines in another order
    dev = {}
    for name, src, seed in (("a1", a, 1), ("a1again", a, 1), ("b1", b, 1), ("a2", a, 2), ("a5", a, 5)):
        prepare_own_data(src, test, tmp_path / name, seed=seed)
        dev[name] = set(read_kaldi_map(tmp_path / name / "dev" / "text"))
        assert not dev[name] & set(read_kaldi_map(tmp_path / name / "train" / "text"))
    assert dev["a1"] == dev["a1again"] == dev["b1"]
    assert len({frozenset(dev[n]) for n in ("a1", "a2", "a5")}) > 1  # the seed matters


def test_speaker_level_hold_out(tmp_path):
    norm = TranscriptNormalizer.from_spec("default")
    rows = [(f"s{s}-{k}", f"s{s}", "en", "word") for s in range(8) for k in range(3 + s)]  # 52 utts, 3..10 each
    utts, _ = read_own_data_dir(make_kaldi_dir(tmp_path / "d", rows), norm)
    train, dev, info = hold_out_dev(utts, dev_share=0.2, dev_min=2, dev_max=100, seed=1)
    assert info["en"]["dev_holdout"] == "speakers"
    dev_spk, train_spk = {u.spk for u in dev}, {u.spk for u in train}
    assert dev_spk and not dev_spk & train_spk and sorted(dev_spk) == info["en"]["dev_speakers"]
    assert 10 <= len(dev) <= 26  # reaches the target (10 = 0.2 x 52) with whole speakers, never over half
    assert len(dev_spk) <= 4
    # dev_max caps the dev part: speakers that do not fit are skipped.
    _, dev, info = hold_out_dev(utts, dev_share=0.5, dev_min=2, dev_max=7, seed=1)
    assert len(dev) <= 7 and info["en"]["dev_holdout"] == "speakers"
    # No set of whole speakers fits between dev_min and dev_max: utterances instead, with the reason.
    big = [(f"s{s}-{k}", f"s{s}", "en", "word") for s in range(4) for k in range(20)]
    utts, _ = read_own_data_dir(make_kaldi_dir(tmp_path / "big", big), norm)
    _, dev, info = hold_out_dev(utts, dev_share=0.1, dev_min=2, dev_max=5, seed=1)
    assert len(dev) == 5 and info["en"]["dev_holdout"] == "utterances"
    assert info["en"]["reason"].startswith("no set of at most 2 whole speakers holds 2-5 utterances")


@pytest.mark.parametrize("kwargs, message", [
    (dict(dev_share=0.0), "dev_share must be in (0, 0.5], got 0.0"),
    (dict(dev_share=0.6), "dev_share must be in (0, 0.5], got 0.6"),
    (dict(dev_min=0), "dev_min must be at least 1, got 0"),
    (dict(dev_min=5, dev_max=3), "dev_max (3) must be at least dev_min (5)"),
])
def test_bad_hold_out_options(dirs, tmp_path, kwargs, message):
    with pytest.raises(ValueError) as e:
        prepare_own_data(*dirs, tmp_path / "out", **kwargs)
    assert message in str(e.value)
    assert not (tmp_path / "out").exists()


def test_empty_after_normalisation_is_dropped_and_counted(tmp_path, caplog):
    rows = corpus_rows() + [("en0-9", "en0", "en", "?!"), ("fr1-9", "fr1", "fr", "« … »"), ("en1-9", "en1", "en", "")]
    test = make_kaldi_dir(tmp_path / "test", TEST_ROWS + [("ent-2", "ent", "en", "...")])
    report = prepare_own_data(make_kaldi_dir(tmp_path / "train", rows), test, tmp_path / "out")
    assert report["dropped_empty"] == {"train": 3, "test": 1}
    assert report["dropped_examples"] == {"train": ["en0-9", "en1-9", "fr1-9"], "test": ["ent-2"]}
    langs = report["languages"]
    assert (langs["en"]["train"]["dropped_empty"], langs["fr"]["train"]["dropped_empty"],
            langs["en"]["test"]["dropped_empty"], langs["en"]["dev"]["dropped_empty"]) == (2, 1, 1, 0)
    kept = set().union(*(read_kaldi_map(tmp_path / "out" / s / "text") for s in ("train", "dev", "test")))
    assert not {"en0-9", "en1-9", "fr1-9", "ent-2"} & kept
    assert "2 'en' utterance(s) have an empty transcript after normalisation (nfkc,punct,lower,space) and are " \
           "dropped (first: 'en0-9')" in caplog.text
    # With no normalisation only the empty line is empty.
    report = prepare_own_data(tmp_path / "train", test, tmp_path / "raw", normalizer="none")
    assert report["dropped_empty"] == {"train": 1, "test": 0}
    assert read_kaldi_map(tmp_path / "raw" / "test" / "text")["ent-1"] == "Good night."


def test_given_dev_dir_and_renamed_ids(dirs, tmp_path):
    train, test = dirs
    dev = make_kaldi_dir(tmp_path / "in_dev", [("d1", "spkd", "en", "Dev one"), ("d2", "spkd", "fr", "Dév deux")])
    report = prepare_own_data(train, test, tmp_path / "out", dev_dir=dev, dev_share=0.5)
    assert read_kaldi_map(tmp_path / "out" / "dev" / "text") == {"spkd-d1": "dev one", "spkd-d2": "dév deux"}
    assert read_kaldi_map(tmp_path / "out" / "dev" / "spk2utt") == {"spkd": "spkd-d1 spkd-d2"}
    assert report["renamed_utterances"] == 2 and report["languages"]["en"]["dev_holdout"] == "given"
    assert report["languages"]["en"]["train"]["utterances"] == 20  # nothing held out
    assert "dev_share" not in report["settings"]


def test_segments_are_cut_into_files(tmp_path):
    d = tmp_path / "seg"
    d.mkdir()
    write_tone(d / "rec1.wav", 1.0, 300)
    (d / "wav.scp").write_text(f"rec1 {d / 'rec1.wav'}\n")
    (d / "segments").write_text("a-1 rec1 0.0 0.25\na-2 rec1 0.5 -1\n")
    (d / "text").write_text("a-1 Yes.\na-2 No!\n")
    (d / "utt2spk").write_text("a-1 a\na-2 a\n")
    (d / "utt2lang").write_text("a-1 en\na-2 en\n")
    train = make_kaldi_dir(tmp_path / "train", corpus_rows())
    prepare_own_data(train, d, tmp_path / "out")
    test = validate_data_dir(tmp_path / "out" / "test", check_audio=True)
    assert test.text == {"a-1": "yes", "a-2": "no"}
    assert test.wav["a-1"] == str((tmp_path / "out" / "wav" / "test" / "a-1.wav").resolve())
    assert [soundfile.info(test.wav[u]).frames for u in ("a-1", "a-2")] == [4000, 8000]  # 0.25 s, 0.5 s at 16 kHz


def test_rerun_skips_and_a_changed_input_redoes(dirs, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    train, test = dirs
    prepare_own_data(train, test, tmp_path / "out")
    caplog.clear()
    prepare_own_data(train, test, tmp_path / "out")
    assert "is complete with the same inputs and options; skipping" in caplog.text
    (test / "text").write_text((test / "text").read_text().replace("Good night.", "Good evening."))
    prepare_own_data(train, test, tmp_path / "out")
    assert "test/text changed since it was made" in caplog.text
    assert read_kaldi_map(tmp_path / "out" / "test" / "text")["ent-1"] == "good evening"
    prepare_own_data(train, test, tmp_path / "out", normalizer="nfkc,punct,space")
    assert "option normalizer changed ('nfkc,punct,lower,space' -> 'nfkc,punct,space')" in caplog.text
    assert not list(tmp_path.glob(".out.*"))  # no partial dir left


def test_a_failure_leaves_no_output(dirs, tmp_path):
    train, test = dirs
    (test / "utt2lang").write_text("ent-1 en\nfrt-1 fr\nsvt-1 xx\n")
    with pytest.raises(DataDirError):
        prepare_own_data(train, test, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))


def _error(tmp_path, train_rows=None, test_rows=None, edit=None, **kwargs) -> str:
    train = make_kaldi_dir(tmp_path / "train", train_rows or corpus_rows())
    test = make_kaldi_dir(tmp_path / "test", test_rows or TEST_ROWS)
    if edit:
        edit(train, test)
    with pytest.raises((DataDirError, ValueError)) as e:
        prepare_own_data(train, test, tmp_path / "out", **kwargs)
    return str(e.value).replace(str(tmp_path) + "/", "")


def test_error_missing_utt2lang(tmp_path):
    msg = _error(tmp_path, edit=lambda train, test: (test / "utt2lang").unlink())
    assert msg.startswith("test/utt2lang: required file missing: give every utterance its language, one "
                          "'utterance-id language-code' line each")


def test_error_missing_language_of_an_utterance(tmp_path):
    def edit(train, test):
        (train / "utt2lang").write_text("".join(l for l in (train / "utt2lang").read_text().splitlines(True)
                                                if not l.startswith("fr1-3 ")))
    assert _error(tmp_path, edit=edit) == "train/utt2lang: no language for utterance 'fr1-3' (1 of 33 utterances " \
                                          "of wav.scp have none)"


def test_error_empty_language_tag(tmp_path):
    def edit(train, test):
        (test / "utt2lang").write_text("ent-1 en\nfrt-1\nsvt-1 sv\n")
    assert _error(tmp_path, edit=edit) == "test/utt2lang: utterance 'frt-1' has an empty language tag"


def test_error_test_language_absent_from_train(tmp_path):
    msg = _error(tmp_path, test_rows=TEST_ROWS + [("jat-1", "jat", "ja", "こんにちは")])
    assert msg == ("test/utt2lang: language 'ja' of utterance 'jat-1' has no training utterance in train "
                   "(training languages: en fr sv); the model cannot learn it")


@pytest.mark.parametrize("name, message", [
    ("wav.scp", "test/wav.scp: no utterances (an empty data dir)"),
    ("text", "test/text: no transcript for utterance 'ent-1' (3 of 3 utterances of wav.scp have none)"),
])
def test_error_empty_files(tmp_path, name, message):
    assert _error(tmp_path, edit=lambda train, test: (test / name).write_text("")) == message


def test_error_empty_and_missing_dirs(tmp_path):
    assert _error(tmp_path, edit=lambda train, test: [(test / n).unlink() for n in ("wav.scp",)]) == \
        "test/wav.scp: required file missing"
    with pytest.raises(DataDirError) as e:
        prepare_own_data(tmp_path / "nowhere", tmp_path / "test", tmp_path / "out2")
    assert str(e.value) == f"{tmp_path / 'nowhere'}: data directory not found"


def test_error_everything_empty_after_normalisation(tmp_path):
    msg = _error(tmp_path, test_rows=[("t-1", "t", "en", "?"), ("t-2", "t", "en", "!")])
    assert msg == "test/text: every transcript is empty after normalisation ('nfkc,punct,lower,space'); nothing is left"


def test_error_extra_entry_piped_audio_missing_audio(tmp_path):
    def extra(train, test):
        with open(test / "text", "a") as f:
            f.write("zzz-1 stray line\n")
    assert _error(tmp_path, edit=extra) == "test/text: utterance 'zzz-1' is not in test/wav.scp (1 such)"

    def piped(train, test):
        (test / "wav.scp").write_text("ent-1 sox a.wav -t wav - |\nfrt-1 /x.wav\nsvt-1 /y.wav\n")
    assert _error(tmp_path / "b", edit=piped).startswith("test/wav.scp: utterance 'ent-1': piped commands are not "
                                                         "supported")

    def missing(train, test):
        (test / "wav" / "frt-1.wav").unlink()
    assert _error(tmp_path / "c", edit=missing) == "test/wav.scp: utterance 'frt-1': audio file " \
                                                   "'test/wav/frt-1.wav' not found"  # (tmp_path left out)


def test_error_no_language_can_give_a_dev_part(tmp_path):
    rows = [("a-1", "a", "en", "one"), ("a-2", "a", "en", "two"), ("a-3", "a", "en", "three")]
    msg = _error(tmp_path, train_rows=rows, test_rows=[("t-1", "t", "en", "x")])
    assert msg == ("train: no language can give a dev part (en: 3 training utterance(s): a dev part of 2 would "
                   "leave train fewer than dev); give a dev dir (--dev_dir) or lower --dev_min (2)")


def test_error_bad_segments(tmp_path):
    def edit(train, test):
        (test / "segments").write_text("ent-1 rec 0.5 0.2\n")
    assert _error(tmp_path, edit=edit) == ("test/segments: utterance 'ent-1': segment 0.5-0.2 s is empty or "
                                           "negative (end -1 means: to the end of the recording)")

    def unknown_recording(train, test):
        (test / "segments").write_text("ent-1 nosuchrec 0 1\n")
    assert _error(tmp_path / "b", edit=unknown_recording) == (
        "test/segments: recording 'nosuchrec' of utterance 'ent-1' is not in test/wav.scp")


def test_cli(dirs, tmp_path, capsys):
    train, test = dirs
    out = tmp_path / "out"
    assert cli(["--train_dir", str(train), "--test_dir", str(test), "--out_dir", str(out), "--seed", "3",
                "--normalizer", "nfkc,lower,punct,lang,space"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t") == ["lang", "train utts/spk", "dev utts/spk", "test utts/spk", "dropped (empty text)",
                                    "dev hold-out"]
    assert lines[1].split("\t") == ["en", "16/4", "4/1", "1/1", "0", "speakers"]
    assert lines[3].split("\t") == ["sv", "3/1", "0/0", "1/1", "0", "none"]
    assert json.loads((out / "own_data_report.json").read_text())["settings"]["seed"] == 3
    assert cli(["--train_dir", str(train), "--test_dir", str(test), "--out_dir", str(tmp_path / "o2"),
                "--normalizer", "lower,punkt"]) == 1
    err = capsys.readouterr().err
    assert "ERROR: normalizer spec 'lower,punkt': unknown step 'punkt' (valid steps: nfkc, punct," in err
