import torch

from espnet_ext.utils.plot_validation_curves import main, read_curves


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
