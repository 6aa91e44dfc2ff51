"""benchmarks.bench_frontend on a tiny random model: dumped features and raw audio through the packed model's
frontend decode the same utterances to the same text; the report has both real-time factors and their ratio."""

import json
import statistics

import pytest

from benchmarks import bench_frontend
from espnet_ext.bin import pack_model
from tests.bin.raw_audio_fixtures import UTTS, make_experiment

pytestmark = pytest.mark.slow  # builds, packs and decodes a model twice: not in the fast subset


def test_raw_audio_and_dumped_features_give_the_same_text(tmp_path, capsys):
    d = make_experiment(tmp_path)
    archive = tmp_path / "model.zip"
    assert pack_model.main(["--exp_dir", str(d / "exp"), "--fbank_conf", str(d / "fbank_40.yaml"),
                            "--out", str(archive)]) == 0
    capsys.readouterr()
    assert bench_frontend.main(["--exp_dir", str(d / "exp"), "--packed", str(archive),
                                "--feats_scp", str(d / "dump" / "feats.scp"), "--wav_scp", str(d / "wav.scp"),
                                "--decode_config", str(d / "decode.yaml"), "--repeats", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["utterances"] == len(UTTS) and report["same_1best"] == f"{len(UTTS)}/{len(UTTS)}"
    assert len(report["repeats"]) == 2 and report["rtf_raw"] > 0 and report["rtf_dumped"] > 0
    ratios = [r["ratio"] for r in report["repeats"]]
    assert report["median_ratio_raw_over_dumped"] == statistics.median(ratios)
