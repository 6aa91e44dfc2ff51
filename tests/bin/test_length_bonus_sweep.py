"""The length bonus sweep on the tiny experiment of test_tau_sweep: each value decodes as asr_inference does with
that --penalty, the chosen value has the lowest average CER, and a larger bonus never shortens the hypotheses."""

import json

import pytest

from espnet_ext.bin import asr_inference, length_bonus_sweep
from espnet_ext.utils.decoding_grid import parse_grid
from tests.bin.test_tau_sweep import common, decoded, experiment  # noqa: F401 (the module fixture)


def test_sweep_matches_decoding_with_each_penalty(experiment):  # noqa: F811
    d = experiment
    out = d / "bonus"
    assert length_bonus_sweep.main(common(d) + ["--ref", str(d / "text"), "--grid", "3,0", "--output_dir",
                                                str(out)]) == 0
    summary = json.loads((out / "length_bonus_sweep.json").read_text())
    assert summary["grid"] == [0.0, 3.0] and set(summary["cer"]) == {"en", "fr"}
    i = summary["grid"].index(summary["best_value"])
    assert summary["average_cer"][i] == min(summary["average_cer"])
    assert summary["length_ratio"][1] >= summary["length_ratio"][0]
    for value in (0, 3):  # the sweep's weight change decodes exactly as a fresh Speech2Text with --penalty
        asr_inference.main(common(d) + ["--penalty", str(value), "--output_dir", str(d / f"pen{value}")])
        assert decoded(d / f"pen{value}") == decoded(out / f"bonus_{value:g}")
    table = (out / "length_bonus_sweep.md").read_text()
    assert "| length bonus | en | fr | avg | hyp/ref length |" in table
    assert f"chosen length bonus (lowest average CER): **{summary['best_value']:g}**" in table
    assert (out / "length_bonus_sweep.png").stat().st_size > 1000


def test_grid_errors():
    assert parse_grid("2, 0,-0.5", "--grid") == [-0.5, 0.0, 2.0]  # a negative bonus (shorter hypotheses) is allowed
    for bad in ("", "1,1", "x", "nan"):
        with pytest.raises(ValueError, match="--grid must be"):
            parse_grid(bad, "--grid")
    with pytest.raises(ValueError, match="--taus must be distinct finite values >= 0, got '-1'"):
        parse_grid("-1", "--taus", minimum=0.0)
