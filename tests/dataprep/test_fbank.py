import logging

import kaldiio
import numpy as np
import pytest

from espnet_ext.dataprep.datadir import DataDirError, read_kaldi_map
from espnet_ext.dataprep.fbank import DONE_MARKER, FbankConfig, extract_data_dir
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


@pytest.mark.parametrize("nj", [1, 2])
def test_features_match_direct_computation(data_dir, tmp_path, nj):
    import soundfile

    out = extract_data_dir(data_dir, tmp_path / f"dump{nj}", FbankConfig(), nj=nj)
    assert (out / DONE_MARKER).is_file() and not (tmp_path / f"dump{nj}.tmp").exists()
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


def test_unreadable_audio_leaves_nothing_behind(data_dir, tmp_path):
    (data_dir / "wav" / "spkB-en-0003.wav").write_bytes(b"garbage")
    out = tmp_path / "dump"
    with pytest.raises(DataDirError, match=r"utterance 'spkB-en-0003': cannot read audio"):
        extract_data_dir(data_dir, out, FbankConfig(), nj=2)
    assert not out.exists() and not (tmp_path / "dump.tmp").exists()


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
