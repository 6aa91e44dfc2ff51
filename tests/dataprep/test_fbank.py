import logging

import kaldiio
import numpy as np
import pytest

from espnet_ext.dataprep.fbank import DONE_MARKER, FbankConfig, extract_data_dir
from espnet_ext.fileio.kaldi_map import DataDirError, read_kaldi_map
from tests.conftest import make_data_dir


def reference_fbank(wave: np.ndarray, rate: int = 16000, num_bins: int = 80) -> np.ndarray:
    """Kaldi's log-mel filterbank written out directly in numpy (snip_edges, DC removal,
    pre-emphasis 0.97, Povey window, 512-point power spectrum, mel = 1127 ln(1 + f/700), 20 Hz..Nyquist)."""
    win, shift, nfft = int(0.025 * rate), int(0.010 * rate), 512
    n_frames = 1 + (len(wave) - win) // shift
    frames = np.stack([wave[i * shift:i * shift + win] for i in range(n_frames)]).astype(np.float64)
    frames -= frames.mean(axis=1, keepdims=True)
    frames[:, 1:] -= 0.97 * frames[:, :-1].copy()
    frames[:, 0] -= 0.97 * frames[:, 0]
    n = np.arange(win)
    frames *= (0.5 - 0.5 * np.cos(2 * np.pi * n / (win - 1))) ** 0.85
    power = np.abs(np.fft.rfft(frames, nfft)) ** 2  # (T, 257)

    def mel(f):
        return 1127.0 * np.log(1.0 + f / 700.0)

    lo, hi = mel(20.0), mel(rate / 2)
    edges = lo + (hi - lo) * np.arange(num_bins + 2) / (num_bins + 1)
    bin_mel = mel(np.arange(nfft // 2) * rate / nfft)
    banks = np.zeros((num_bins, nfft // 2 + 1))
    for b in range(num_bins):
        left, center, right = edges[b:b + 3]
        up = (bin_mel - left) / (center - left)
        down = (right - bin_mel) / (right - center)
        banks[b, :nfft // 2] = np.maximum(0.0, np.minimum(up, down))
    energies = power @ banks.T
    return np.log(np.maximum(energies, np.finfo(np.float32).eps))


@pytest.mark.slow
@pytest.mark.parametrize("nj", [1, 2])
def test_features_match_direct_computation(data_dir, tmp_path, nj):
    import soundfile

    out = extract_data_dir(data_dir, tmp_path / f"dump{nj}", FbankConfig(), nj=nj)
    assert (out / DONE_MARKER).is_file() and not (tmp_path / f".dump{nj}.partial").exists()
    wav = read_kaldi_map(data_dir / "wav.scp")
    feats = dict(kaldiio.load_scp(str(out / "feats.scp")).items())
    assert sorted(feats) == sorted(wav)
    all_frames = []
    for utt, path in wav.items():
        x, rate = soundfile.read(path, dtype="float32")
        ref = reference_fbank(x * 32768.0, rate)
        assert feats[utt].shape == ref.shape == (ref.shape[0], 80)
        np.testing.assert_allclose(feats[utt], ref, atol=2e-3, rtol=1e-4)
        all_frames.append(feats[utt].astype(np.float64))
    num_frames = read_kaldi_map(out / "utt2num_frames")
    assert {u: int(n) for u, n in num_frames.items()} == {u: f.shape[0] for u, f in feats.items()}
    stats = np.load(out / "cmvn.npz")
    stacked = np.concatenate(all_frames)
    assert stats["count"] == stacked.shape[0]
    np.testing.assert_allclose(stats["sum"], stacked.sum(0), rtol=1e-6)
    np.testing.assert_allclose(stats["sum_square"], (stacked ** 2).sum(0), rtol=1e-6)
    assert (out / "utt2lang").read_text() == (data_dir / "utt2lang").read_text()


def test_spectrogram_option_dimension(data_dir, tmp_path):
    conf = FbankConfig(feature_type="spectrogram", frame_length_ms=20.0, frame_shift_ms=10.0)
    out = extract_data_dir(data_dir, tmp_path / "spec", conf, nj=1)
    feats = dict(kaldiio.load_scp(str(out / "feats.scp")).items())
    assert conf.dim == 257 and all(f.shape[1] == 257 for f in feats.values())
    assert (out / "feats_dim").read_text().strip() == "257"


def test_8khz_input_is_resampled_with_warning(tmp_path, caplog):
    d = make_data_dir(tmp_path / "d", {
        "s1-en-1": dict(spk="s1", lang="en", text="a", seconds=1.0, freq=300, rate=8000),
        "s1-en-2": dict(spk="s1", lang="en", text="b", seconds=1.0, freq=300, rate=16000)})
    with caplog.at_level(logging.WARNING):
        out = extract_data_dir(d, tmp_path / "dump", FbankConfig(), nj=1)
    assert "resampled 1 utterance(s) to 16000 Hz (first: utterance 's1-en-1' from 8000 Hz)" in caplog.text
    feats = dict(kaldiio.load_scp(str(out / "feats.scp")).items())
    assert feats["s1-en-1"].shape == feats["s1-en-2"].shape == (98, 80)


@pytest.mark.slow
def test_unreadable_audio_leaves_nothing_behind(data_dir, tmp_path):
    (data_dir / "wav" / "spkB-en-0003.wav").write_bytes(b"garbage")
    out = tmp_path / "dump"
    with pytest.raises(DataDirError, match=r"utterance 'spkB-en-0003': cannot read audio"):
        extract_data_dir(data_dir, out, FbankConfig(), nj=2)
    assert not out.exists() and not (tmp_path / ".dump.partial").exists()


def test_rerun_with_marker_is_a_noop(data_dir, tmp_path):
    out = extract_data_dir(data_dir, tmp_path / "dump", FbankConfig(), nj=1)
    before = (out / "feats.scp").stat().st_mtime_ns
    extract_data_dir(data_dir, out, FbankConfig(), nj=1)
    assert (out / "feats.scp").stat().st_mtime_ns == before


def test_bad_config_values():
    with pytest.raises(ValueError, match="feature_type"):
        FbankConfig(feature_type="mfcc")
    with pytest.raises(ValueError, match="num_mel_bins must be positive"):
        FbankConfig(num_mel_bins=0)


# ---- issue 17: stage 2 redoes a dir whose inputs changed; copies are normalised; workers die with the parent ----

def test_stage2_redoes_when_its_inputs_changed(data_dir, tmp_path, caplog):
    out = extract_data_dir(data_dir, tmp_path / "dump", FbankConfig(), nj=1)
    text = data_dir / "text"
    text.write_text(text.read_text(encoding="utf-8").replace("bonjour", "bonsoir"), encoding="utf-8")
    with caplog.at_level(logging.INFO):
        extract_data_dir(data_dir, out, FbankConfig(), nj=1)
    assert f"{out} is out of date: text changed since it was made; redoing it" in caplog.text
    assert read_kaldi_map(out / "text")["spkA-fr-0002"] == "bonsoir"
    caplog.clear()
    with caplog.at_level(logging.INFO):
        extract_data_dir(data_dir, out, FbankConfig(num_mel_bins=40), nj=1)  # another option: redone too
    assert "options changed since it was made" in caplog.text
    assert (out / "feats_dim").read_text().strip() == "40"


def test_stage2_redoes_a_dir_from_before_fingerprints(data_dir, tmp_path, caplog):
    """The issue's case: an old dump (empty marker) holds an unsorted copy; after the user sorted the data,
    stage 2 must not keep it."""
    out = extract_data_dir(data_dir, tmp_path / "dump", FbankConfig(), nj=1)
    (out / DONE_MARKER).write_text("")  # the marker older versions wrote
    lines = (out / "text").read_text(encoding="utf-8").splitlines()
    (out / "text").write_text("".join(line + "\n" for line in reversed(lines)), encoding="utf-8")  # stale, unsorted
    with caplog.at_level(logging.INFO):
        extract_data_dir(data_dir, out, FbankConfig(), nj=1)
    assert "records no input fingerprint (made by an older espnet_ext); redoing it" in caplog.text
    assert (out / "text").read_text(encoding="utf-8") == (data_dir / "text").read_text(encoding="utf-8")


def test_stage2_copies_are_normalised_without_bom_or_tabs(data_dir, tmp_path):
    text = data_dir / "text"
    lines = text.read_text(encoding="utf-8").splitlines()
    text.write_bytes(b"\xef\xbb\xbf" + "".join(line.replace(" ", "\t", 1) + "\n" for line in lines).encode())
    out = extract_data_dir(data_dir, tmp_path / "dump", FbankConfig(), nj=1)
    assert (out / "text").read_text(encoding="utf-8") == "".join(line + "\n" for line in lines)


def _children(pid: int):
    """Pids of the live processes whose parent is ``pid`` (Linux /proc)."""
    from pathlib import Path

    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    from pathlib import Path

    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_compute_fbank_workers_die_with_a_killed_parent(tmp_path):
    """kill -9 of compute_fbank --nj 2 leaves no worker behind. Each job's shard holds an utterance whose
    audio is a FIFO nobody writes: without the fix a worker blocks there forever."""
    import os
    import signal
    import subprocess
    import sys
    import time

    d = make_data_dir(tmp_path / "d", {f"s1-en-{i}": dict(spk="s1", lang="en", text="a", seconds=0.3, freq=300)
                                       for i in range(1, 5)})
    wav = d / "wav.scp"
    lines = wav.read_text().splitlines()
    for i in (2, 3):  # utterances 3 and 4: one per job (shards are utts[j::2])
        fifo = tmp_path / f"fifo{i}.wav"
        os.mkfifo(fifo)
        lines[i] = lines[i].split()[0] + f" {fifo}"
    wav.write_text("".join(line + "\n" for line in lines))
    out = tmp_path / "dump"
    parent = subprocess.Popen([sys.executable, "-m", "espnet_ext.bin.compute_fbank", "--data_dir", str(d),
                               "--out_dir", str(out), "--nj", "2"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    workers = []
    try:
        deadline = time.time() + 120
        tmp = tmp_path / ".dump.partial"
        while time.time() < deadline:  # both jobs inside their shard (each has opened its ark)
            if (tmp / "feats.1.ark").exists() and (tmp / "feats.2.ark").exists():
                break
            assert parent.poll() is None, "compute_fbank ended early"
            time.sleep(0.2)
        else:
            pytest.fail("the jobs never started")
        workers = [p for p in _children(parent.pid)
                   if b"spawn_main" in open(f"/proc/{p}/cmdline", "rb").read()]
        assert len(workers) == 2
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.time() + 5
        while time.time() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.1)
        assert [p for p in workers if _alive(p)] == []
    finally:
        if parent.poll() is None:
            parent.kill()
        for p in workers:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
