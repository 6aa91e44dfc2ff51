"""paper_results.lm_decoding_table: eq. 5 weights from a decoding config, and the CER/MER/time table of the
cs_lm hook's stage 11 on hand-made decodings."""

import json

import pytest

from paper_results import lm_decoding_table


def _decode_dir(path, hyps, job_logs):
    path.mkdir(parents=True)
    (path / "text").write_text("".join(f"{u} {h}\n" for u, h in hyps.items()), encoding="utf-8")
    (path / "logdir").mkdir()
    for i, lines in enumerate(job_logs, 1):
        (path / "logdir" / f"decode.{i}.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _log(start, end):
    return ["2026-12-05 10:00:00,000 (asr_inference:1) INFO: loading",
            f"2026-12-05 10:00:{start:02d},000 (asr_inference:2) INFO: Decoding device=cpu",
            f"2026-12-05 10:00:{end:02d},500 (asr_inference:3) INFO: done"]


def test_weights_read_beta_and_gamma(tmp_path, capsys):
    conf = tmp_path / "decode.yaml"
    conf.write_text("beam_size: 10\nlm_weight: 0.3\nword_count_weight: 0.1\n")
    assert lm_decoding_table.main(["weights", str(conf)]) == 0
    assert capsys.readouterr().out.split() == ["0.3", "0.1"]
    conf.write_text("beam_size: 10\n")
    assert lm_decoding_table.eq5_weights(conf) == [0.0, 0.0]


def test_table_scores_each_decoding_and_times_the_search(tmp_path):
    ref = tmp_path / "cs_test" / "text"
    ref.parent.mkdir()
    ref.write_text("u1 我 like 你\nu2 hello 世界\n", encoding="utf-8")
    plain = _decode_dir(tmp_path / "plain", {"u1": "我 like 你", "u2": "hello 世"}, [_log(2, 6), _log(1, 3)])
    nbest = _decode_dir(tmp_path / "nbest", {"u1": "我 like", "u2": "hello 世"}, [_log(0, 8)])
    rescored = tmp_path / "nbest" / "rescored_lm"
    rescored.mkdir()
    (rescored / "text").write_text("u1 我 like 你\nu2 hello 世界\n", encoding="utf-8")
    (rescored / "summary.json").write_text(json.dumps({"seconds": 1.5, "changed": 2}))
    out = tmp_path / "results" / "lm_decoding_x.md"
    assert lm_decoding_table.main(["table", "--out", str(out), "--ref", str(ref),
                                   "--row", "plain", str(plain), "", "--row", "(a) rescored", str(nbest), str(rescored)]) == 0
    rows = json.loads(out.with_suffix(".json").read_text())
    # plain: 1 deletion in 13 reference characters (spaces not counted); the jobs' searches: 4.5 s + 2.5 s
    assert rows[0]["cer"] == pytest.approx(7.69) and rows[0]["time_s"] == pytest.approx(7.0)
    # (a): the rescored hypotheses are exact; time = 8.5 s search + 1.5 s rescoring, 10/7 of plain
    assert rows[1]["cer"] == 0 and rows[1]["time_s"] == pytest.approx(10.0) and rows[1]["changed"] == 2
    assert rows[1]["time_ratio"] == pytest.approx(1.43)
    md = out.read_text()
    assert "| decoding (cs_test) |" in md and "| (a) rescored | 0.00 | 0.00 | 8.50 + 1.50 | 1.43 |" in md


def test_a_decoding_without_the_device_line_is_an_error(tmp_path):
    dec = _decode_dir(tmp_path / "d", {"u1": "a"}, [["2026-12-05 10:00:00,000 (x:1) INFO: no device line"]])
    with pytest.raises(ValueError, match=r"decode.1.log: no 'Decoding device=' line"):
        lm_decoding_table.search_seconds(dec)
    with pytest.raises(FileNotFoundError, match="no .*logdir/decode"):
        lm_decoding_table.search_seconds(tmp_path)
