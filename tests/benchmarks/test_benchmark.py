"""The fast pieces of the benchmark (benchmarks.benchmark): statistics, report writer, machine description,
synthetic inputs, presets.  No timing is asserted."""

import json

import pytest

from benchmarks import bench_report, bench_stats, benchmark, machine_info
from benchmarks.bench_fixtures import make_wav_data_dir, random_features, write_token_prior


# ------------------------------------------------------------------------------------------ statistics
def test_rotation_puts_every_name_first_once_per_cycle():
    names = ["a", "b", "c"]
    orders = [bench_stats.rotation(names, r) for r in range(4)]
    assert orders == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]
    assert bench_stats.rotation([], 3) == []


def test_quartiles_interpolate_between_order_statistics():
    assert bench_stats.quartiles([4, 1, 3, 2]) == pytest.approx((1.75, 2.5, 3.25))
    assert bench_stats.quartiles([5.0]) == (5.0, 5.0, 5.0)
    with pytest.raises(ValueError):
        bench_stats.quartiles([])


def test_paired_ratios_pair_by_repeat_and_reject_bad_input():
    assert bench_stats.paired_ratios([1.0, 2.0, 4.0], [1.5, 2.0, 2.0]) == [1.5, 1.0, 0.5]
    with pytest.raises(ValueError, match="differ in length"):
        bench_stats.paired_ratios([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="positive"):
        bench_stats.paired_ratios([0.0], [1.0])


def test_compare_gives_median_of_paired_ratios_not_ratio_of_medians():
    # repeats: the variant is 10 % slower each time, while the load doubles from repeat to repeat
    base, var = [1.0, 2.0, 4.0, 8.0, 16.0], [1.1, 2.2, 4.4, 8.8, 17.6]
    row = bench_stats.compare("training", "step time (wall)", "stock", "x", base, var, "s")
    assert row["ratio"] == pytest.approx(1.1)
    assert (row["ratio_q1"], row["ratio_q3"]) == pytest.approx((1.1, 1.1))
    assert row["baseline_value"] == 4.0 and row["variant_value"] == pytest.approx(4.4)
    assert row["n"] == 5
    assert row["baseline_spread"] == pytest.approx((8.0 - 2.0) / 4.0)


def test_compare_single_sample_has_no_spread():
    row = bench_stats.compare("training", "peak memory", "stock", "x", [100.0], [150.0], "MiB")
    assert (row["ratio"], row["ratio_q1"], row["ratio_q3"], row["n"]) == (1.5, 1.5, 1.5, 1)
    assert row["baseline_spread"] == 0.0


def test_compare_noisy_ratios_iqr():
    row = bench_stats.compare("decoding", "rtf", "stock", "x", [1.0] * 4, [0.9, 1.0, 1.2, 1.3], "RTF")
    assert row["ratio"] == pytest.approx(1.1)
    assert (row["ratio_q1"], row["ratio_q3"]) == pytest.approx((0.975, 1.225))


def test_measure_returns_wall_cpu_and_value():
    calls = []
    wall, cpu, out = bench_stats.measure(lambda: sum(range(1000)), sync=lambda: calls.append(1))
    assert out == sum(range(1000)) and wall >= 0 and cpu >= 0 and len(calls) == 2


# ------------------------------------------------------------------------------------------ report
def _result():
    rows = [bench_stats.compare("training", "step time (wall)", "stock", "dual_adapters", [1.0, 2.0], [1.2, 2.2], "s"),
            bench_stats.compare("training", "peak memory", "stock", "dual_adapters", [100.0], [110.0], "MiB"),
            bench_stats.compare("training", "parameters", "stock", "dual_adapters", [2_000_000], [2_500_000], "params"),
            bench_stats.compare("decoding", "real-time factor (wall)", "stock", "lm_fusion", [0.1, 0.2], [0.15, 0.2],
                                "RTF", note="mean 1-best length 40.0"),
            bench_stats.compare("feature extraction", "throughput (wall)", "nj 1", "nj 2", [500.0], [900.0],
                                "s audio/s", higher_is_better=True)]
    return {"command": "python -m benchmarks.benchmark --quick", "quick": True,
            "machine": {"cpu_model": "Test CPU 9000", "logical_cores": 2, "load_average_1_5_15min": [1.0, 0.5, 0.25]},
            "settings": {"training": {"frames": 300, "vocab": 300}}, "rows": rows, "details": {}, "total_wall_s": 12.3}


def test_result_rows_one_line_per_row_with_absolute_figures():
    lines = bench_report.result_rows(_result())
    assert len(lines) == 2 + 5
    assert lines[0].startswith("| section | metric | baseline | variant |")
    step = lines[2]
    assert "| training | step time (wall) | stock | dual_adapters |" in step
    assert "| 1.5 s | 1.7 s |" in step  # medians of the samples
    assert "**1.150**" in step and "1.125–1.175" in step and step.endswith("| 2 |")
    memory = lines[3]
    assert "100.0 MiB" in memory and "110.0 MiB" in memory and "**1.100**" in memory and "| — |" in memory
    assert "2.000 M" in lines[4] and "2.500 M" in lines[4] and "**1.250**" in lines[4]
    assert "0.1500" in lines[5]  # RTF: median of 0.1 and 0.2
    assert "500 s audio/s" in lines[6] and "**1.800**" in lines[6]


def test_render_markdown_has_sections_machine_notes_and_noise():
    md = bench_report.render_markdown(_result())
    for heading in ("# Benchmarks", "## Machine", "## Results", "## Settings", "## How noise was estimated"):
        assert heading in md
    assert "bash tools/benchmark.sh" in md and "--quick" in md
    assert "| cpu model | Test CPU 9000 |" in md
    assert "| load average 1 5 15min | 1.0, 0.5, 0.25 |" in md
    assert "smoke-test run" in md  # the quick banner
    assert "* decoding / lm_fusion: mean 1-best length 40.0" in md
    assert "`frames`=300" in md
    assert bench_report.AA_VARIANT in md
    assert "python -m benchmarks.benchmark --quick" in md
    assert "smoke-test run" not in bench_report.render_markdown(dict(_result(), quick=False))


def test_write_report_writes_markdown_and_json(tmp_path):
    md, js = bench_report.write_report(_result(), tmp_path / "out")
    assert md.read_text(encoding="utf-8") == bench_report.render_markdown(_result())
    data = json.loads(js.read_text(encoding="utf-8"))
    assert data["rows"][0]["ratio"] == pytest.approx(1.15)
    assert data["machine"]["cpu_model"] == "Test CPU 9000"


# ------------------------------------------------------------------------------------------ machine
def test_machine_description_has_the_fields():
    m = machine_info.machine_description()
    for key in ("cpu_model", "logical_cores", "usable_cores", "ram_gib", "load_average_1_5_15min", "os", "python",
                "torch", "torchaudio", "espnet", "espnet_ext", "date"):
        assert key in m, key
    assert m["logical_cores"] >= 1 and m["usable_cores"] >= 1
    assert m["torch"] != machine_info.UNKNOWN and m["espnet"] != machine_info.UNKNOWN
    assert m["date"][:2] == "20" and "T" in m["date"]


def test_cpu_model_and_ram_parse_proc_files(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: X\nmodel name\t: Fancy CPU @ 3.00GHz\n\nprocessor\t: 1\n"
                       "model name\t: Fancy CPU @ 3.00GHz\n")
    assert machine_info.cpu_model(cpuinfo) == "Fancy CPU @ 3.00GHz"
    arm = tmp_path / "cpuinfo_arm"
    arm.write_text("processor\t: 0\nBogoMIPS\t: 50.00\n\nModel\t: Raspberry Pi 4 Model B\n")
    assert machine_info.cpu_model(arm) == "Raspberry Pi 4 Model B"
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16318412 kB\nMemFree:         1000 kB\n")
    assert machine_info.total_ram_gib(meminfo) == pytest.approx(15.6)
    assert machine_info.total_ram_gib(tmp_path / "missing") is None


# ------------------------------------------------------------------------------------------ inputs, presets
def test_wav_data_dir_is_valid_and_shares_files(tmp_path):
    from espnet_ext.dataprep.datadir import validate_data_dir

    d = make_wav_data_dir(tmp_path / "data", utts=7, seconds=0.2, distinct=3)
    data = validate_data_dir(d, check_audio=True)
    assert len(data.utts) == 7 and len(set(data.wav.values())) == 3
    assert len(list((d / "wav").glob("*.wav"))) == 3


def test_token_prior_file_reads_back(tmp_path):
    from espnet_ext.asr.token_prior import TokenPrior

    tokens = ["<blank>", "<unk>", "a", "b", "c", "<sos/eos>"]
    prior = TokenPrior.read(write_token_prior(tmp_path / "prior.txt", tokens))
    assert prior.tokens == tokens
    assert prior.counts[0] == 0 and prior.priors.sum() == pytest.approx(1.0) and (prior.priors > 0).all()


def test_random_features_shapes():
    feats = random_features([3, 5], 40)
    assert [f.shape for f in feats] == [(3, 40), (5, 40)] and feats[0].dtype.name == "float32"


def test_presets_cover_the_same_options_and_fill_unset_ones():
    assert set(benchmark.PRESETS["full"]) == set(benchmark.PRESETS["quick"])
    opts = benchmark.parse_options(["--quick", "--decode_repeats", "3"])
    assert opts.quick and opts.decode_repeats == 3
    assert opts.train_steps == benchmark.PRESETS["quick"]["train_steps"]
    assert opts.sections == list(benchmark.SECTIONS)
    full = benchmark.parse_options(["--sections", "fbank"])
    assert not full.quick and full.sections == ["fbank"]
    assert all(getattr(full, k) == v for k, v in benchmark.PRESETS["full"].items())
    for config in benchmark.CONFIGS.values():
        assert (benchmark.REPO / config).is_file(), config
