"""feature_floor (issue 20): the floor statistic against a numpy reference and against mel_warp's noise level, the
speaker summary, the CLI's report files, and its errors (each naming the file, line or utterance; nothing written)."""

import json
import math

import kaldiio
import numpy as np
import pytest
import torch

from espnet_ext.asr.specaug.feature_noise import add_noise_to_log_mel
from espnet_ext.bin import feature_floor
from espnet_ext.utils.feature_floor import floor_summary, speaker_rows, utterance_floor_db
from tests.conftest import write_map


def test_floor_is_the_percentile_of_bin_power_in_db_under_the_mean_power():
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 3.0, (50, 8))
    power = np.exp(x)
    reference = -np.percentile(10 * np.log10(power / power.mean()), 30)
    assert utterance_floor_db(x, 30) == pytest.approx(reference, abs=1e-9)
    assert utterance_floor_db(x + 700.0, 30) == pytest.approx(reference, abs=1e-9)  # no overflow, level-free
    assert utterance_floor_db(x, 10) > utterance_floor_db(x, 30)  # lower percentile: further under the mean


def test_a_noise_floor_at_snr_s_reads_back_as_about_s():
    """The tool's unit is noise_snr_range's: mel_warp's noise at SNR s over digital silence reads back as
    s dB, give or take the Gamma(4, 1/4) fluctuation's median (-0.37 dB)."""
    torch.manual_seed(0)
    frames, bins = 2000, 40
    x = torch.full((1, frames, bins), -60.0, dtype=torch.float64)  # 60 % digital silence
    x[0, :800] = torch.randn(800, bins, dtype=torch.float64) + 5.0   # 40 % speech
    for snr in (20.0, 35.0):
        noisy = add_noise_to_log_mel(x, None, torch.tensor([snr]), torch.tensor([0.0]))
        assert utterance_floor_db(noisy[0].numpy(), 30) == pytest.approx(snr + 0.37, abs=0.3)


def test_speaker_rows_and_the_reference_range():
    train = {"a1": ("s1", 30.0), "a2": ("s1", 34.0), "a3": ("s1", 32.0), "b1": ("s2", 36.0)}
    dev = {"c1": ("s3", 25.0), "c2": ("s3", 27.0), "d1": ("s4", 33.0), "e1": ("s5", 40.0)}
    rows = speaker_rows("train", train)
    assert rows[0] == {"set": "train", "speaker": "s1", "num_utts": 3, "median_db": 32.0, "q25_db": 31.0,
                       "q75_db": 33.0}
    summary = floor_summary({"train": train, "dev": dev}, "train", 30.0)
    assert summary["reference_range_db"] == [32.0, 36.0]
    assert [(o["speaker"], o["side"]) for o in summary["outside"]] == [("s3", "noisier"), ("s5", "quieter")]
    assert summary["snr_start_reaching_db"] == 26.0
    assert floor_summary({"train": train}, "train", 30.0)["snr_start_reaching_db"] is None
    with pytest.raises(ValueError, match="reference set 'test' is not one of the sets"):
        floor_summary({"train": train}, "test", 30.0)


def _data_dir(root, name, utts):
    """A stage-2 dir: utts maps utt -> (speaker, log-power features)."""
    d = root / name
    d.mkdir(parents=True)
    with kaldiio.WriteHelper(f"ark,scp:{d / 'feats.ark'},{d / 'feats.scp'}") as w:
        for utt in sorted(utts):
            w(utt, utts[utt][1].astype(np.float32))
    write_map(d / "utt2spk", {utt: spk for utt, (spk, _) in utts.items()})
    return d


def _utt(rng, floor_db, frames=40):
    """Features whose 30th-percentile bin lies near floor_db under the mean: 60 % silence at that level."""
    x = rng.normal(0.0, 0.05, (frames, 8))
    x[int(0.6 * frames):] += math.log(1 / 0.4)  # speech on 40 % of the frames: the mean power is about 1
    x[: int(0.6 * frames)] -= floor_db / (10 / math.log(10))
    return x


def test_cli_writes_the_report_and_pools_speakers_by_regex(tmp_path, capsys):
    rng = np.random.default_rng(1)
    train = _data_dir(tmp_path, "train", {f"en-m1-{i}": ("en-m1", _utt(rng, 30)) for i in range(3)}
                      | {f"fr-m1-{i}": ("fr-m1", _utt(rng, 32)) for i in range(3)}
                      | {f"en-f1-{i}": ("en-f1", _utt(rng, 36)) for i in range(3)})
    dev = _data_dir(tmp_path, "dev", {f"en-f5-{i}": ("en-f5", _utt(rng, 24)) for i in range(3)})
    out = tmp_path / "floor"
    assert feature_floor.main(["--out_dir", str(out), f"train={train}", f"dev={dev}",
                               "--speaker_regex", r"(\w+)$"]) == 0
    report = json.loads((out / "feature_floor.json").read_text())
    assert [(r["set"], r["speaker"], r["num_utts"]) for r in report["speakers"]] == [
        ("train", "f1", 3), ("train", "m1", 6), ("dev", "f5", 3)]
    low, high = report["reference_range_db"]
    assert 30.0 < low < 32.0 and 35.0 < high < 37.0  # m1 pools 30 and 32 dB utterances
    assert report["outside"][0]["speaker"] == "f5" and report["outside"][0]["side"] == "noisier"
    assert report["snr_start_reaching_db"] == pytest.approx(24.0, abs=1.0)
    assert (out / "feature_floor.png").stat().st_size > 1000
    assert "noise_snr_range` starts at or below" in (out / "feature_floor.md").read_text()
    assert "| dev | f5 | 3 |" in capsys.readouterr().out


def test_cli_errors_name_the_line_or_utterance_and_write_nothing(tmp_path, capsys):
    rng = np.random.default_rng(2)
    train = _data_dir(tmp_path, "train", {"u1": ("s1", _utt(rng, 30)), "u2": ("s1", _utt(rng, 30))})
    out = tmp_path / "floor"

    def error(*args):
        code = feature_floor.main(["--out_dir", str(out), *args])
        assert code != 0 and not out.exists()
        return capsys.readouterr().err

    bad = _data_dir(tmp_path, "bad", {"u1": ("s1", _utt(rng, 30)), "u2": ("s1", np.full((5, 8), np.nan))})
    assert "bad/feats.scp:2: utterance 'u2': features hold inf or NaN" in error(f"train={train}", f"bad={bad}")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "feats.scp").write_text("")
    (empty / "utt2spk").write_text("")
    assert "empty/feats.scp: no utterances" in error(f"train={train}", f"empty={empty}")
    (train / "utt2spk").write_text("u1 s1\n")
    assert "feats.scp:2: utterance 'u2' has no line in" in error(f"train={train}")
    (train / "utt2spk").write_text("u1 s1\nu2 s1\n")
    assert "does not match --speaker_regex 'x(\\d)'" in error(f"train={train}", "--speaker_regex", r"x(\d)")
    with pytest.raises(SystemExit):
        feature_floor.main(["--out_dir", str(out), f"train={train}", "--speaker_regex", r"\w+"])
    assert "has no group" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        feature_floor.main(["--out_dir", str(out), f"train={train}", "--percentile", "100"])
    assert "--percentile must lie strictly between 0 and 100" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        feature_floor.main(["--out_dir", str(out), f"train={train}", "--reference", "dev"])
    assert "--reference 'dev' is not one of the sets ['train']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        feature_floor.main(["--out_dir", str(out), f"train={tmp_path / 'none'}"])
    assert "none/feats.scp not found" in capsys.readouterr().err
    assert not out.exists()
