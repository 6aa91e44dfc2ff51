"""paper_results.seed_summary: mean ± sample std over seeds, errors that name the file."""

import json
import math

import pytest

from paper_results import seed_summary


def _write(path, table, field="ours"):
    path.write_text(json.dumps({field: table, "paper": {"only_cs": {"cs": 34.51}}}), encoding="utf-8")
    return path


def test_mean_and_sample_std_match_a_direct_computation(tmp_path):
    cs = {"1": 30.0, "2": 33.0, "3": 36.0}
    files = [
        f"{s}=" + str(_write(tmp_path / f"s{s}.json", {"joint": {"cs": v, "en": 10.0}, "meta": {"cs": v - 1, "en": 12.0}}))
        for s, v in cs.items()
    ]
    out = tmp_path / "sum" / "seeds.md"
    assert seed_summary.main(files + ["--out", str(out)]) == 0
    summary = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert summary["joint"]["cs"]["mean"] == pytest.approx(33.0)
    # sample std of 30, 33, 36: sqrt(((-3)^2 + 0 + 3^2) / 2) = 3
    assert summary["joint"]["cs"]["std"] == pytest.approx(3.0)
    assert summary["meta"]["cs"]["mean"] == pytest.approx(32.0)
    assert summary["joint"]["en"]["std"] == pytest.approx(0.0)
    assert summary["meta"]["cs"]["values"] == {"1": 29.0, "2": 32.0, "3": 35.0}
    text = out.read_text(encoding="utf-8")
    assert "| joint | 33.00 ± 3.00 | 10.00 ± 0.00 |" in text
    assert out.with_suffix(".png").stat().st_size > 1000


def test_two_seeds_std_and_row_filter(tmp_path):
    a = _write(tmp_path / "a.json", {"x": {"c": 1.0}, "y": {"c": 4.0}})
    b = _write(tmp_path / "b.json", {"x": {"c": 2.0}, "y": {"c": 8.0}})
    out = tmp_path / "o.md"
    assert seed_summary.main([f"1={a}", f"2={b}", "--rows", "y", "--out", str(out)]) == 0
    summary = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert list(summary) == ["y"]
    assert summary["y"]["c"]["std"] == pytest.approx(math.sqrt(8.0))


def test_missing_cell_names_the_file(tmp_path, capsys):
    a = _write(tmp_path / "a.json", {"joint": {"cs": 1.0, "en": 2.0}})
    b = _write(tmp_path / "b.json", {"joint": {"cs": 1.5}})
    out = tmp_path / "o.md"
    assert seed_summary.main([f"1={a}", f"2={b}", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert str(b) in err and "column 'en' missing" in err
    assert not out.exists()


def test_one_seed_and_bad_field_are_refused(tmp_path, capsys):
    a = _write(tmp_path / "a.json", {"joint": {"cs": 1.0}})
    assert seed_summary.main([f"1={a}", "--out", str(tmp_path / "o.md")]) == 1
    assert "at least 2 seeds" in capsys.readouterr().err
    b = _write(tmp_path / "b.json", {"joint": {"cs": 1.0}})
    assert seed_summary.main([f"1={a}", f"2={b}", "--field", "theirs", "--out", str(tmp_path / "o.md")]) == 1
    assert f"ERROR: {a}: no field 'theirs'" in capsys.readouterr().err


def test_column_filter_keeps_the_columns_every_seed_has(tmp_path):
    # seed 1 decoded all test sets, the extra seeds only CS (run.sh --test_sets cs_test)
    a = _write(tmp_path / "a.json", {"joint": {"cs": 70.0, "en": 60.0}, "meta": {"cs": 90.0, "en": 80.0}})
    b = _write(tmp_path / "b.json", {"joint": {"cs": 72.0}, "meta": {"cs": 86.0}})
    out = tmp_path / "o.md"
    assert seed_summary.main([f"1={a}", f"2={b}", "--out", str(out)]) == 1
    assert seed_summary.main([f"1={a}", f"2={b}", "--columns", "cs", "--out", str(out)]) == 0
    summary = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert {r: list(c) for r, c in summary.items()} == {"joint": ["cs"], "meta": ["cs"]}
    assert summary["meta"]["cs"]["mean"] == pytest.approx(88.0)
    assert summary["meta"]["cs"]["std"] == pytest.approx(math.sqrt(8.0))
