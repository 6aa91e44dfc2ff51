"""SEAME Phase II prep on a tiny fixture in the LDC2015S04 layout (FLAC + tab-separated ms transcripts)."""

from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet_ext.dataprep import seame
from espnet_ext.dataprep.segmented_audio import normalize_transcript

RECS = {  # recording id -> (kind, disc); speakers 01FB 02FB 03MA 04MA
    "01NC01FBX_0101": ("conversation", "seame_d1"), "01NC02FBY_0101": ("conversation", "seame_d1"),
    "NI03MAX_0101": ("interview", "seame_d2"), "NI04MAX_0101": ("interview", "seame_d2"),
}


def make_seame(root: Path) -> Path:
    corpus = root / "LDC2015S04"
    for i, (rec, (kind, disc)) in enumerate(sorted(RECS.items())):
        base = corpus / disc / "data" / kind
        (base / "audio").mkdir(parents=True, exist_ok=True)
        (base / "transcript" / "phaseII").mkdir(parents=True, exist_ok=True)
        t = np.arange(16000 * 6) / 16000
        soundfile.write(base / "audio" / f"{rec}.flac", 0.1 * np.sin(2 * np.pi * (200 + 50 * i) * t), 16000)
        lines = [f"{rec}\t500\t2000\tCS\t我们 去 [noise] shopping 吧",
                 f"{rec}\t2500\t4250\tEN\tOkay lah (ppl) see you",
                 f"{rec}\t4500\t5900\tZH\t好 的"]
        (base / "transcript" / "phaseII" / f"{rec}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (base / "transcript" / f"{rec}.txt").write_text("ignored phase I copy\n", encoding="utf-8")
    return corpus


def _map(path):
    return dict(ln.split(" ", 1) for ln in path.read_text(encoding="utf-8").splitlines())


def test_prepare_seame_segments_and_splits(tmp_path):
    corpus = make_seame(tmp_path)
    out = tmp_path / "data"
    counts = seame.prepare_seame(corpus, out, test_speakers=1, dev_speakers=1, target_fraction=0.5, seed=3)
    assert counts["cs_train"] == 6 and counts["cs_dev"] == 3 and counts["cs_test"] == 3
    assert counts["cs_a_train"] == 3 and counts["cs_b_train"] == 3
    text = _map(out / "cs_train" / "text")
    utt = "01FB-01NC01FBX_0101-00000500"
    assert text[utt] == "我们去 shopping 吧"
    assert text["01FB-01NC01FBX_0101-00002500"] == "okay lah see you"
    info = soundfile.info(_map(out / "cs_train" / "wav.scp")[utt])
    assert info.samplerate == 16000 and info.frames == 24000  # 500-2000 ms
    a, b = _map(out / "cs_a_train" / "utt2spk"), _map(out / "cs_b_train" / "utt2spk")
    assert set(a).isdisjoint(b) and set(_map(out / "cs_dev" / "utt2lang").values()) == {"cs"}
    spk = {n: set(_map(out / n / "utt2spk").values()) for n in ("cs_train", "cs_dev", "cs_test")}
    assert not (spk["cs_train"] & spk["cs_dev"] or spk["cs_train"] & spk["cs_test"] or spk["cs_dev"] & spk["cs_test"])
    assert seame.prepare_seame(corpus, out, test_speakers=1, dev_speakers=1, target_fraction=0.5, seed=3) == counts


def test_speaker_ids_and_errors(tmp_path):
    assert seame.speaker_of("01NC01FBX_0101") == "01FB" and seame.speaker_of("NI03MAX_0101") == "03MA"
    with pytest.raises(ValueError, match=r"x.txt:4: expected"):
        seame.parse_transcript_line("rec\tabc\t1\ttext", Path("x.txt"), 4)
    assert seame.parse_transcript_line("rec 100 900 hello world", Path("x"), 1) == ("rec", 0.1, 0.9, "hello world")
    with pytest.raises(FileNotFoundError, match="no SEAME transcripts"):
        seame.prepare_seame(tmp_path, tmp_path / "out")
    corpus = make_seame(tmp_path / "c")
    with pytest.raises(ValueError, match="must leave some for training"):
        seame.prepare_seame(corpus, tmp_path / "o2", test_speakers=2, dev_speakers=2)


def test_normalize_transcript():
    assert normalize_transcript("<unk> 我 觉得 [laugh] it's OK 的, 啦!") == "我觉得 it's ok 的啦"


def test_interrupted_prep_leaves_no_half_written_dir(tmp_path, monkeypatch):
    """Issue 18: the prep wrote in place, so a failure midway left WAVs and data dirs that looked usable."""
    corpus = make_seame(tmp_path)
    out = tmp_path / "data"
    real_cut = seame.cut_segment
    calls = []

    def cut_then_fail(*args, **kwargs):  # the fourth segment fails (a broken FLAC, a full disk)
        calls.append(args)
        if len(calls) == 4:
            raise RuntimeError("cannot read audio")
        return real_cut(*args, **kwargs)
    monkeypatch.setattr(seame, "cut_segment", cut_then_fail)
    with pytest.raises(RuntimeError, match="cannot read audio"):
        seame.prepare_seame(corpus, out, test_speakers=1, dev_speakers=1, target_fraction=0.5, seed=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LDC2015S04"]  # no data, no .data.partial
    monkeypatch.undo()
    counts = seame.prepare_seame(corpus, out, test_speakers=1, dev_speakers=1, target_fraction=0.5, seed=3)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert all(str(out) in path for path in _map(out / "cs_train" / "wav.scp").values())  # the final dir, not .partial
    calls.clear()
    monkeypatch.setattr(seame, "cut_segment", cut_then_fail)
    with pytest.raises(RuntimeError, match="cannot read audio"):  # a redo with other options that fails
        seame.prepare_seame(corpus, out, test_speakers=1, dev_speakers=1, target_fraction=0.5, seed=4)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LDC2015S04", "data"]
    monkeypatch.undo()
    assert seame.prepare_seame(corpus, out, test_speakers=1, dev_speakers=1, target_fraction=0.5, seed=3) == counts


def test_another_preparers_dir_is_refused(tmp_path, capsys):
    """The seame_cs recipe once gave SEAME and HKUST one --out_dir; replacing it as a whole would delete the other."""
    corpus = make_seame(tmp_path)
    out = tmp_path / "data"
    out.mkdir()
    (out / ".done").write_text('{"args": {"audio": "/a", "trans": "/t", "dev_calls": 20, "seed": 0, "min": 0.2, '
                               '"max": 30.0}, "counts": {"zh_train": 4}}')  # HKUST's marker, old format
    with pytest.raises(RuntimeError, match="has a .done marker this builder did not write; remove it"):
        seame.prepare_seame(corpus, out, test_speakers=1, dev_speakers=1)
    assert (out / ".done").is_file()
    from espnet_ext.bin import seame_prep  # the command line: one ERROR line, exit status 1 (espnet_ext.utils.cli)

    capsys.readouterr()
    assert seame_prep.main(["--corpus_dir", str(corpus), "--out_dir", str(out), "--test_speakers", "1",
                            "--dev_speakers", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"ERROR: {out} has a .done marker this builder did not write; remove it") and \
        err.count("\n") == 1, err
    assert (out / ".done").is_file()
