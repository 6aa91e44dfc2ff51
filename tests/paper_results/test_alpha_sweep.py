"""paper_results.alpha_sweep: group means per alpha, the best alpha per column, the reference row, the files,
and the errors (an alpha outside [0, 1], one point only, a missing results file)."""

import json

import pytest

from paper_results import alpha_sweep

LANGS = ["en", "fr", "es", "it", "ru", "zh", "tt", "nl", "tr", "ky", "sv"]


def results(tmp_path, name, cers):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"languages": {lang: {"cer": c} for lang, c in zip(LANGS, cers)}}))
    return path


def test_sweep_table_best_alpha_and_files(tmp_path, capsys):
    bs = results(tmp_path, "bs", [36, 30, 18, 18, 32, 50, 16, 26, 12, 18, 30])    # head worse, tail better
    half = results(tmp_path, "half", [34, 28, 17, 19, 33, 56, 17, 27, 13, 19, 31])
    smt = results(tmp_path, "smt", [35, 29, 18, 22, 38, 78, 20, 30, 20, 24, 32])
    out = tmp_path / "sweep" / "alpha_sweep"
    assert alpha_sweep.main([f"0.5={half}", f"0={bs}", "--ref", f"smt={smt}", "--out", str(out)]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert list(report["alpha"]) == ["0", "0.5"]  # increasing alpha
    assert report["alpha"]["0"]["high avg"] == pytest.approx((36 + 30 + 18) / 3)
    assert report["alpha"]["0.5"]["low avg"] == pytest.approx((27 + 13 + 19 + 31) / 4)
    assert report["alpha"]["0"]["avg"] == pytest.approx(sum([36, 30, 18, 18, 32, 50, 16, 26, 12, 18, 30]) / 11)
    assert report["best"]["high avg"] == 0.5 and report["best"]["low avg"] == 0.0 and report["best"]["zh"] == 0.0
    assert report["ref"]["smt"]["zh"] == 78
    md = out.with_suffix(".md").read_text()
    assert "| 0.5 | **34.0** |" in md and "| smt (reference) | 35.0 |" in md
    assert out.with_suffix(".png").stat().st_size > 5000
    assert "| alpha | en |" in capsys.readouterr().out


@pytest.mark.parametrize("points, message", [
    (["1.5={a}", "0={a}"], "alpha 1.5 is outside [0, 1]"),
    (["x={a}", "0={a}"], "'x' is not an alpha: expected a number in [0, 1]"),
    (["0={a}", "0.0={a}"], "alpha 0.0 given twice"),
    (["0={a}"], "a sweep needs at least two alpha values"),
    (["0={a}", "1={missing}"], "results file not found"),
])
def test_bad_points_are_errors_and_write_nothing(tmp_path, capsys, points, message):
    a = results(tmp_path, "a", [30] * 11)
    args = [p.format(a=a, missing=tmp_path / "nope.json") for p in points]
    assert alpha_sweep.main(args + ["--out", str(tmp_path / "out" / "s")]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
