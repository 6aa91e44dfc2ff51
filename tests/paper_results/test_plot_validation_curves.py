import torch

from paper_results.plot_validation_curves import main, read_curves


def _fake_exp(d, losses):
    d.mkdir()
    stats = {e: {"train": {"total_count": 10 * e}, "valid": {"cs_loss": l, "en_loss": l + 1}}
             for e, l in enumerate(losses, 1)}
    torch.save({"reporter": {"stats": stats, "epoch": len(losses)}}, d / "checkpoint.pth")
    return d


def test_curves_and_png(tmp_path):
    meta = _fake_exp(tmp_path / "meta", [3.0, 2.0])
    joint = _fake_exp(tmp_path / "joint", [3.5, 2.5])
    assert read_curves(meta, ["cs", "en", "zh"]) == {"cs": [(10, 3.0), (20, 2.0)], "en": [(10, 4.0), (20, 3.0)], "zh": []}
    out = tmp_path / "fig2.png"
    main([f"meta={meta}", f"joint={joint}", "--out", str(out)])
    assert out.stat().st_size > 1000


def _fake_board(d, cer):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(d / "tensorboard" / "valid"))
    for e, value in enumerate(cer, 1):  # ESPnet's layout: one scalar per stat, step = iterations so far
        writer.add_scalar("cer_ctc", value, 122 * e)
        writer.add_scalar("acc", 1 - value, 122 * e)
    writer.close()
    return d


def test_tensorboard_record_when_no_checkpoint(tmp_path, capsys):
    import pytest

    from paper_results.plot_validation_curves import read_valid_stats

    smt = _fake_board(tmp_path / "smt", [0.5, 0.25])
    got = read_valid_stats(smt, ["cer_ctc", "acc", "cs_loss"])
    assert got["cer_ctc"] == [(122, 0.5), (244, 0.25)] and got["acc"] == [(122, 0.5), (244, 0.75)]
    assert got["cs_loss"] == []
    # checkpoint.pth wins where both exist: it is the reporter ESPnet resumes from
    both = _fake_board(_fake_exp(tmp_path / "both", [3.0]), [0.9])
    assert read_curves(both, ["cs"]) == {"cs": [(10, 3.0)]}
    out = tmp_path / "dev.png"
    main([f"smt={smt}", f"both={both}", "--stats", "cer_ctc", "acc", "--out", str(out)])
    assert out.stat().st_size > 1000
    assert main([f"smt={smt}", "--stats", "wer", "--out", str(tmp_path / "x.png")]) == 1
    assert "ERROR: no run records the validation stat(s) ['wer']" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="is '.*nothing' an ESPnet training dir"):
        read_valid_stats(tmp_path / "nothing", ["acc"])


def test_table_of_values_at_an_iteration(tmp_path, capsys):
    import json

    meta = _fake_exp(tmp_path / "meta", [3.0, 2.0, 2.5])
    joint = _fake_exp(tmp_path / "joint", [3.5, 2.5])
    out = tmp_path / "fig.png"
    main([f"meta={meta}", f"joint={joint}", "--out", str(out), "--stats", "cs_loss", "--table",
          str(tmp_path / "sweep.md"), "--at", "20"])
    assert json.loads((tmp_path / "sweep.json").read_text()) == {"meta": {"cs_loss": 2.0}, "joint": {"cs_loss": 2.5}}
    assert "| meta | 2 |" in (tmp_path / "sweep.md").read_text()
    main([f"meta={meta}", "--out", str(out), "--stats", "cs_loss", "--table", str(tmp_path / "last.md")])
    assert json.loads((tmp_path / "last.json").read_text()) == {"meta": {"cs_loss": 2.5}}  # last epoch
    assert main([f"joint={joint}", "--out", str(out), "--stats", "cs_loss", "--table", str(tmp_path / "x.md"),
                 "--at", "30"]) == 1
    assert "ERROR: run 'joint' has no 'cs_loss' at iteration 30" in capsys.readouterr().err
