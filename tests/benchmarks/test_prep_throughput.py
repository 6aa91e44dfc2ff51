"""benchmarks.prep_throughput: stage-2 throughput table, JSON and plot (figures are not timed here)."""

import json

import pytest

from benchmarks.bench_fixtures import make_wav_data_dir
from benchmarks.prep_throughput import main
from tests.conftest import REPO


@pytest.mark.slow
def test_throughput_rows_audio_hours_and_plot(tmp_path):
    data = make_wav_data_dir(tmp_path / "data", utts=4, seconds=1.0, distinct=2)
    out = tmp_path / "out"
    assert main(["--data_dir", str(data), "--conf", str(REPO / "conf" / "fbank.yaml"), "--nj", "1", "2",
                 "--out_dir", str(out)]) == 0
    result = json.loads((out / "prep_throughput.json").read_text())
    # 1.0 s at 25/10 ms windows: 98 frames (Kaldi's snip-edges framing) of 10 ms per utterance
    assert abs(result["audio_hours"] - 4 * 0.98 / 3600) < 1e-9 and result["utterances"] == 4
    assert [r["nj"] for r in result["rows"]] == [1, 2]
    one, two = result["rows"]
    assert one["speedup"] == 1.0 and abs(two["speedup"] - one["wall_s"] / two["wall_s"]) < 1e-12
    assert abs(one["hours_per_minute"] - result["audio_hours"] * 60 / one["wall_s"]) < 1e-12
    assert "| 2 |" in (out / "prep_throughput.md").read_text()
    assert (out / "prep_throughput.png").read_bytes()[:4] == b"\x89PNG"


def test_missing_wav_scp_is_an_error(tmp_path, capsys):
    assert main(["--data_dir", str(tmp_path), "--conf", str(REPO / "conf" / "fbank.yaml"),
                 "--out_dir", str(tmp_path / "o")]) == 1
    assert f"{tmp_path}/wav.scp not found" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
