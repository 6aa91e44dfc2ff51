import logging

import pytest

from espnet_ext.dataprep.datadir import validate_data_dir
from espnet_ext.dataprep.language_inventory import read_lang_list, utt2lang_to_utt2lid
from espnet_ext.fileio.kaldi_map import DataDirError, read_kaldi_map
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


# ---- issue 17: the rules docs/data_dir.md states hold; what Kaldi accepts is accepted ----

def test_unsorted_file_is_rejected_naming_first_out_of_order_line(data_dir):
    lines = (data_dir / "text").read_text(encoding="utf-8").splitlines()
    lines[1], lines[2] = lines[2], lines[1]  # spkB-en-0003 now before spkA-fr-0002
    (data_dir / "text").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    with pytest.raises(DataDirError) as e:
        validate_data_dir(data_dir)
    assert str(e.value).startswith(
        f"{data_dir / 'text'}:3: not sorted: key 'spkA-fr-0002' comes after 'spkB-en-0003' (line 2); "
        f"sort the file by key in the C locale: LC_ALL=C sort -o {data_dir / 'text'} {data_dir / 'text'}")


def test_tab_separated_wav_scp_is_accepted(data_dir):
    for name in ("wav.scp", "text", "utt2spk"):
        path = data_dir / name
        lines = path.read_text(encoding="utf-8").splitlines()
        path.write_text("".join(line.replace(" ", "\t", 1) + "\n" for line in lines), encoding="utf-8")
    d = validate_data_dir(data_dir, languages=["en", "fr", "zh"])
    assert d.wav["spkA-en-0001"] == str(data_dir / "wav" / "spkA-en-0001.wav")
    assert d.text["spkA-en-0001"] == "hello world" and d.utt2spk["spkB-zh-0004"] == "spkB"


def test_utf8_bom_is_stripped_with_a_warning(data_dir, caplog):
    (data_dir / "utt2lang").write_bytes(b"\xef\xbb\xbf" + (data_dir / "utt2lang").read_bytes())
    with caplog.at_level(logging.WARNING):
        d = validate_data_dir(data_dir)
    assert d.utt2lang["spkA-en-0001"] == "en"
    assert f"{data_dir / 'utt2lang'}: starts with a UTF-8 byte-order mark; ignoring it" in caplog.text


def test_latin1_transcript_names_file_line_and_utterance(data_dir):
    text = data_dir / "text"
    text.write_bytes(text.read_bytes().replace("bonjour".encode(), "caf\xe9 bonjour".encode("latin-1")))
    with pytest.raises(DataDirError) as e:
        validate_data_dir(data_dir)
    # line 2 is "spkA-fr-0002 caf\xe9 bonjour": the byte 0xe9 is the 17th of the line
    assert str(e.value) == (f"{text} line 2 (spkA-fr-0002): not valid UTF-8 (byte 0xe9 at column 17); "
                            f"re-encode the file as UTF-8")


def test_latin1_transcript_cli_exit_code_and_message(data_dir, capsys):
    from espnet_ext.bin import validate_data_dir as cli

    text = data_dir / "text"
    text.write_bytes(text.read_bytes().replace("good night".encode(), "na\xefve".encode("latin-1")))
    assert cli.main([str(data_dir)]) == 1
    assert f"ERROR: {text} line 3 (spkB-en-0003): not valid UTF-8 (byte 0xef at column 16)" in capsys.readouterr().err


def _write_utt2dur(data_dir, durations):
    (data_dir / "utt2dur").write_text("".join(f"{u} {d:.3f}\n" for u, d in sorted(durations.items())))


def test_duration_check_catches_a_wav_cut_short_with_its_header_intact(data_dir, capsys):
    from espnet_ext.bin import validate_data_dir as cli

    _write_utt2dur(data_dir, {"spkA-en-0001": 0.5, "spkA-fr-0002": 0.4, "spkB-en-0003": 0.6, "spkB-zh-0004": 0.3})
    wav = data_dir / "wav" / "spkB-en-0003.wav"
    data = wav.read_bytes()
    wav.write_bytes(data[:44 + 2 * 4000])  # header (claims 0.6 s) + the first 0.25 s of samples
    assert cli.main([str(data_dir)]) == 0  # off by default
    assert cli.main([str(data_dir), "--check_duration"]) == 1
    err = capsys.readouterr().err
    assert (f"ERROR: {data_dir / 'wav.scp'}: utterance 'spkB-en-0003': audio '{wav}' lasts 0.250 s (4000 samples "
            f"at 16000 Hz) but utt2dur says 0.600 s (tolerance 0.05 s): the file may be cut short") in err
    assert cli.main([str(data_dir), "--check_duration", "--duration_tolerance", "0.4"]) == 0
    with pytest.raises(DataDirError, match=r"utt2dur: no entry for utterance 'spkB-zh-0004'"):
        _write_utt2dur(data_dir, {"spkA-en-0001": 0.5, "spkA-fr-0002": 0.4, "spkB-en-0003": 0.6})
        validate_data_dir(data_dir)
