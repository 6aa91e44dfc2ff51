"""HKUST prep on a tiny fixture in the LDC2005S15/LDC2005T32 layout: 2-channel 8 kHz NIST SPHERE audio,
``start end A: text`` transcripts; segments are cut per channel and up-sampled to 16 kHz."""

from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet_ext.dataprep import hkust

CALLS = {"train": ["20040503_222707_A000687_B000688", "20040504_101010_A000690_B000691",
                   "20040505_111111_A000692_B000693"], "dev": ["20040527_210939_A901153_B901154"]}


def make_hkust(root: Path):
    audio = root / "LDC2005S15" / "hkust_mcts_p1" / "data" / "audio"
    trans = root / "LDC2005T32" / "hkust_mcts_p1tr" / "data" / "trans"
    for part, calls in CALLS.items():
        (audio / part).mkdir(parents=True)
        (trans / part).mkdir(parents=True)
        for call in calls:
            t = np.arange(8000 * 5) / 8000
            stereo = np.stack([0.2 * np.sin(2 * np.pi * 300 * t), 0.2 * np.sin(2 * np.pi * 500 * t)], axis=1)
            soundfile.write(audio / part / f"{call}.sph", stereo, 8000, format="NIST", subtype="PCM_16")
            (trans / part / f"{call}.txt").write_text(
                "# header line\n\n0.50 2.00 A: 喂 ， 你好 [noise]\n2.10 3.60 B: 嗯 我 是 ((听不清))\n"
                "3.70 3.75 A: 短\n", encoding="utf-8")
    return audio, trans


def _map(path):
    return dict(ln.split(" ", 1) for ln in path.read_text(encoding="utf-8").splitlines())


def test_prepare_hkust(tmp_path):
    audio, trans = make_hkust(tmp_path)
    out = tmp_path / "data"
    counts = hkust.prepare_hkust(audio.parents[2], trans.parents[2], out, dev_calls=1)
    # 0.05 s segment dropped (min_duration 0.2); 2 utterances per call
    assert counts == {"zh_train": 4, "zh_dev": 2, "zh_test": 2}
    text, wav = _map(out / "zh_train" / "text"), _map(out / "zh_train" / "wav.scp")
    utt = next(u for u in text if u.endswith("-A-00000500"))
    assert text[utt] == "喂你好"
    assert text[utt.replace("-A-00000500", "-B-00002100")] == "嗯我是"
    x, rate = soundfile.read(wav[utt])
    assert rate == 16000 and x.ndim == 1 and len(x) == 2 * int(1.5 * 8000)
    # channel A is the 300 Hz tone: dominant frequency after up-sampling
    spec = np.abs(np.fft.rfft(x))
    assert abs(np.argmax(spec) * 16000 / len(x) - 300) < 5
    xb, _ = soundfile.read(wav[utt.replace("-A-00000500", "-B-00002100")])
    assert abs(np.argmax(np.abs(np.fft.rfft(xb))) * 16000 / len(xb) - 500) < 5
    assert set(_map(out / "zh_test" / "utt2lang").values()) == {"zh"}
    assert all(CALLS["dev"][0] in u for u in _map(out / "zh_test" / "text"))


def test_hkust_errors(tmp_path):
    with pytest.raises(ValueError, match=r"bad.txt:1: expected '<start> <end> A\|B: <text>'"):
        (tmp_path / "bad.txt").write_text("0.5 A: x\n", encoding="utf-8")
        hkust.read_transcript(tmp_path / "bad.txt")
    with pytest.raises(FileNotFoundError, match="HKUST directory not found"):
        hkust.prepare_hkust(tmp_path / "nope", tmp_path, tmp_path / "o")
    audio, trans = make_hkust(tmp_path / "c")
    (audio / "train" / f"{CALLS['train'][0]}.sph").write_bytes(b"NIST_1A\n   1024\nshorten garbage")
    with pytest.raises(RuntimeError, match="sph2pipe"):
        hkust.prepare_hkust(audio, trans, tmp_path / "o", dev_calls=1)


def test_interrupted_prep_leaves_no_half_written_dir(tmp_path, monkeypatch, caplog):
    """Issue 18: the prep wrote in place, so a failure midway left data dirs and WAVs that looked usable."""
    import json
    import logging

    audio, trans = make_hkust(tmp_path)
    out = tmp_path / "data"
    real_write = hkust.synth_corpus.write_data_dir

    def write_then_fail(path, items):  # the second set's files fail (a full disk, a kill)
        if path.name == "zh_dev":
            raise OSError("No space left on device")
        real_write(path, items)
    monkeypatch.setattr(hkust.synth_corpus, "write_data_dir", write_then_fail)
    with pytest.raises(OSError, match="No space"):
        hkust.prepare_hkust(audio, trans, out, dev_calls=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LDC2005S15", "LDC2005T32"]  # no data, no .data.partial
    monkeypatch.undo()
    counts = hkust.prepare_hkust(audio, trans, out, dev_calls=1)
    wavs = {p: p.read_bytes() for p in (out / "wav").rglob("*.wav")}
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    monkeypatch.setattr(hkust.synth_corpus, "write_data_dir", write_then_fail)
    with pytest.raises(OSError, match="No space"):  # a redo with other options that fails keeps the old output
        hkust.prepare_hkust(audio, trans, out, dev_calls=1, seed=1)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    monkeypatch.undo()
    with caplog.at_level(logging.INFO):
        assert hkust.prepare_hkust(audio, trans, out, dev_calls=1) == counts  # same options: skipped
    assert f"{out} already prepared" in caplog.text
    assert all(p.read_bytes() == b for p, b in wavs.items())
    # a dir finished by the in-place version of the prep (marker {"args", "counts"}) is not redone
    marker = json.loads((out / ".done").read_text())
    (out / ".done").write_text(json.dumps({"args": marker["args"], "counts": counts}, indent=1))
    assert hkust.prepare_hkust(audio, trans, out, dev_calls=1) == counts
