"""benchmarks.bench_lid_routing runs end to end with minimal settings and writes its report; the figures are not
timed here, only checked to be there: every headline ratio a positive finite number."""

import json
import math

import pytest

from benchmarks import bench_lid_routing

pytestmark = pytest.mark.slow  # builds eight models, decodes and trains: not in the fast subset


def test_tiny_run_writes_markdown_and_json_with_positive_ratios(tmp_path):
    out = tmp_path / "out"
    assert bench_lid_routing.main(["--out_dir", str(out), "--steps", "1", "--warmup", "0", "--frames", "40",
                                   "--text_len", "4", "--decode_utts", "1", "--decode_frames", "40",
                                   "--decode_repeats", "1", "--maxlen", "2", "--beam_size", "2"]) == 0
    result = json.loads((out / "bench_lid_routing.json").read_text(encoding="utf-8"))
    decode_keys = {f"decode_{model}{routing}_vs_oracle" for model in ("", "one_pass_")
                   for routing in ("hard", "soft", "hard_calibrated", "soft_calibrated")}
    assert set(result["ratio"]) == decode_keys | {"train_step_lid_vs_plain",
                                    "train_peak_memory_lid_vs_plain", "train_step_lid_layers1_vs_plain",
                                    "train_step_lid_nograd_vs_plain", "train_step_lid_layers1_nograd_vs_plain",
                                    "train_step_one_pass_vs_plain", "train_step_one_pass_vs_same_encoder",
                                    "train_step_one_pass_voice_adversary_vs_same_encoder"}
    assert all(isinstance(v, float) and math.isfinite(v) and v > 0 for v in result["ratio"].values())
    for key in ("command", "device", "machine", "settings", "rows", "details", "total_wall_s"):
        assert key in result, key
    assert {"cpu_model", "usable_cores", "torch_threads", "date"} <= set(result["machine"])
    routings = ["oracle", "hard", "soft", "hard, calibrated", "soft, calibrated"]
    assert list(result["details"]["decoding"]) == routings + ["one pass: " + r for r in routings]
    assert set(result["details"]["training"]) == {bench_lid_routing.PLAIN, *bench_lid_routing.LID_VARIANTS,
                                                  bench_lid_routing.PLAIN_COMMON, bench_lid_routing.ONE_PASS,
                                                  bench_lid_routing.ONE_PASS_VOICE}
    assert result["details"]["training"]["LID head, lid_layers 1"]["options"] == ["--model_conf", "lid_layers=1"]
    lid, plain = (result["details"]["training"][n] for n in (bench_lid_routing.WITH_LID, bench_lid_routing.PLAIN))
    # the head is one linear map from the encoder width (144) to the 11 languages
    assert lid["params"] - plain["params"] == 144 * 11 + 11
    # one pass: the head, and no language-specific adapters (11 x (LayerNorm 2 x 144, down 144 x 16 + 16, up
    # 16 x 144 + 144)) in the first two encoder layers
    one_pass = result["details"]["training"][bench_lid_routing.ONE_PASS]
    assert plain["params"] - one_pass["params"] == 2 * 11 * (2 * 144 + 144 * 16 + 16 + 16 * 144 + 144) - (144 * 11 + 11)
    # the voice adversary: a 144 -> 256 -> 8 ReLU classifier, nothing else
    voice = result["details"]["training"][bench_lid_routing.ONE_PASS_VOICE]
    assert voice["params"] - one_pass["params"] == 144 * 256 + 256 + 256 * 8 + 8
    for routing in result["details"]["decoding"]:  # the fixed output length: every routing ran the same beam steps
        assert result["details"]["decoding"][routing]["mean_hyp_len"] == result["details"]["decoding"]["oracle"][
            "mean_hyp_len"]
    md = (out / "bench_lid_routing.md").read_text(encoding="utf-8")
    assert "| decoding | decoding time (wall) | oracle | soft |" in md
    assert "| decoding | decoding time (wall) | oracle | soft, calibrated |" in md
    assert "| decoding | decoding time (wall) | one pass: oracle | one pass: hard, calibrated |" in md
    assert "| training | step time (wall) | no LID head | LID head |" in md
    assert "| training | step time (wall) | no LID head | LID head, lid_layers 1 + lid_encoder_grad false |" in md
    assert f"| training | step time (wall) | {bench_lid_routing.PLAIN_COMMON} | {bench_lid_routing.ONE_PASS} |" in md
    assert f"| training | step time (wall) | {bench_lid_routing.PLAIN_COMMON} | {bench_lid_routing.ONE_PASS_VOICE} |" in md
    assert "## Machine" in md and "goal <= 1.10" in md and "goal <= 1.05" in md


def test_counts_must_be_positive(tmp_path, capsys):
    assert bench_lid_routing.main(["--out_dir", str(tmp_path), "--decode_repeats", "0", "--warmup", "-1"]) == 1
    err = capsys.readouterr().err
    assert "--decode_repeats 0, --warmup -1: must be at least 1 (--warmup at least 0)" in err
    assert not list(tmp_path.iterdir())
