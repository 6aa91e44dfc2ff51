import logging

import pytest

from espnet_ext.dataprep.datadir import DataDirError, read_kaldi_map, validate_data_dir
from espnet_ext.dataprep.language_inventory import read_lang_list, utt2lang_to_utt2lid
from tests.conftest import make_data_dir, write_tone


def _drop_line(path, utt):
    lines = [line for line in path.read_text().splitlines() if not line.startswith(utt + " ")]
    path.write_text("".join(line + "\n" for line in lines))


def test_valid_dir_parses(data_dir):
    d = validate_data_dir(data_dir, languages=["en", "fr", "zh"])
    assert d.utts == sorted(d.wav)
    assert d.utts_per_language() == {"en": 2, "fr": 1, "zh": 1}
    assert d.text["spkB-zh-0004"] == "你好"


def test_missing_utt2lang_entry_names_utterance(data_dir):
    _drop_line(data_dir / "utt2lang", "spkA-fr-0002")
    with pytest.raises(DataDirError, match=r"utt2lang: no entry for utterance 'spkA-fr-0002'"):
        validate_data_dir(data_dir)


def test_missing_utt2lang_file(data_dir):
    (data_dir / "utt2lang").unlink()
    with pytest.raises(DataDirError, match=r"utt2lang: required file missing"):
        validate_data_dir(data_dir)


def test_unknown_language_names_utterance(data_dir):
    with pytest.raises(DataDirError, match=r"utterance 'spkB-zh-0004' has unknown language 'zh'"):
        validate_data_dir(data_dir, languages=["en", "fr"])


def test_empty_transcript_names_utterance(data_dir):
    text = (data_dir / "text").read_text().replace("spkA-fr-0002 bonjour", "spkA-fr-0002 ")
    (data_dir / "text").write_text(text)
    with pytest.raises(DataDirError, match=r"utterance 'spkA-fr-0002' has an empty transcript"):
        validate_data_dir(data_dir)


def test_unreadable_wav_names_utterance(data_dir):
    (data_dir / "wav" / "spkB-en-0003.wav").write_bytes(b"not a wav file at all")
    with pytest.raises(DataDirError, match=r"utterance 'spkB-en-0003': cannot read audio"):
        validate_data_dir(data_dir)


def test_wrong_rate_is_a_warning_naming_utterance(tmp_path, caplog):
    d = make_data_dir(tmp_path / "d", {"s1-en-1": dict(spk="s1", lang="en", text="a b", seconds=0.5, freq=300,
                                                      rate=8000)})
    with caplog.at_level(logging.WARNING):
        validate_data_dir(d)
    assert "1 utterance(s) are not 16000 Hz (first: 's1-en-1' at 8000 Hz)" in caplog.text


def test_speaker_prefix_and_spk2utt_consistency(data_dir):
    (data_dir / "spk2utt").write_text("spkA spkA-en-0001\nspkB spkA-fr-0002 spkB-en-0003 spkB-zh-0004\n")
    with pytest.raises(DataDirError, match=r"'spkA-fr-0002' of speaker 'spkA' disagrees"):
        validate_data_dir(data_dir)


def test_duplicate_key_names_line(tmp_path):
    f = tmp_path / "text"
    f.write_text("u1 a\nu2 b\nu1 c\n")
    with pytest.raises(DataDirError, match=r"text:3: duplicate key 'u1'"):
        read_kaldi_map(f)


def test_utt2lid_maps_and_rejects_unknown(data_dir, tmp_path):
    assert utt2lang_to_utt2lid(data_dir / "utt2lang", ["en", "fr", "zh"]) == {
        "spkA-en-0001": "0", "spkA-fr-0002": "1", "spkB-en-0003": "0", "spkB-zh-0004": "2"}
    with pytest.raises(DataDirError, match=r"'spkB-zh-0004' has language 'zh' not in the inventory"):
        utt2lang_to_utt2lid(data_dir / "utt2lang", ["en", "fr"])
    bad = tmp_path / "langs"
    bad.write_text("en\nen\n")
    with pytest.raises(DataDirError, match="duplicate language code"):
        read_lang_list(bad)


def test_write_tone_helper_rate(tmp_path):
    import soundfile

    write_tone(tmp_path / "x.wav", 0.25, 440, rate=8000)
    info = soundfile.info(tmp_path / "x.wav")
    assert (info.samplerate, info.frames) == (8000, 2000)
