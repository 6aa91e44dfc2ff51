"""lid_probe (issue 20): pooling against numpy, a probe that separates separable data, deterministic fits, the
CLI on a tiny LID model (its head's accuracy as asr_inference's routing gives it), and its errors."""

import json
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch

from espnet_ext.bin import lid_probe
from espnet_ext.utils.lid_probe import accuracy, fit_linear_probe, pool
from tests.conftest import save_untrained_model, write_map

TOKENS = ["<blank>", "<unk>", "a", "b", "<sos/eos>"]
CONF = {
    "model": "multilingual", "model_conf": {"ctc_weight": 0.3, "languages": ["en", "fr"], "lid_weight": 0.1},
    "frontend": None, "normalize": None,
    "encoder": "adapter_transformer", "encoder_conf": {"output_size": 16, "attention_heads": 2, "linear_units": 16,
                                                       "num_blocks": 1, "input_layer": "conv2d",
                                                       "adapter_mode": "dual", "adapter_bottleneck": 4},
    "decoder": "transformer", "decoder_conf": {"attention_heads": 2, "linear_units": 16, "num_blocks": 1},
}


def test_pooling_is_the_mean_and_deviation_of_the_valid_frames():
    h = torch.randn(2, 6, 3, dtype=torch.float64)
    out = pool(h, torch.tensor([6, 4]), "mean_std")
    for b, n in enumerate([6, 4]):
        frames = h[b, :n].numpy()
        np.testing.assert_allclose(out[b].numpy(), np.concatenate([frames.mean(0), frames.std(0)]), atol=1e-12)
    assert torch.equal(pool(h, torch.tensor([6, 4]), "mean"), out[:, :3])
    with pytest.raises(ValueError, match="pooling must be one of"):
        pool(h, torch.tensor([6, 4]), "max")


def test_probe_separates_separable_languages_and_is_deterministic():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat_interleave(torch.tensor([40, 10, 5]))  # long-tailed
    centres = torch.tensor([[3.0, 0, 0, 0], [0, 3.0, 0, 0], [0, 0, 3.0, 0]])
    x = centres[labels] + 0.5 * torch.randn(len(labels), 4, generator=g)
    predict = fit_linear_probe(x, labels, 3, epochs=200)
    assert accuracy(predict(x), labels) == 100.0
    again = fit_linear_probe(x, labels, 3, epochs=200)
    probe = torch.randn(20, 4, generator=g) * 3
    assert torch.equal(predict(probe), again(probe))
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        fit_linear_probe(x, labels, 3, epochs=0)


def experiment(d: Path, conf: dict) -> Path:
    save_untrained_model(d, conf, TOKENS)
    rng = np.random.default_rng(0)
    for name, n in (("train", 12), ("dev", 6)):
        s = d / name
        s.mkdir()
        langs = {f"{name}{i:02d}": ("en", "fr")[i % 2] for i in range(n)}
        with kaldiio.WriteHelper(f"ark,scp:{s / 'feats.ark'},{s / 'feats.scp'}") as w:
            for i, utt in enumerate(sorted(langs)):  # fr utterances louder: a difference a probe can find
                w(utt, (rng.standard_normal((20 + i, 8)) + 2.0 * (langs[utt] == "fr")).astype(np.float32))
        write_map(s / "utt2lang", langs)
    return d


def args(d: Path, out: Path, *extra):
    return ["--asr_train_config", str(d / "exp" / "config.yaml"), "--asr_model_file", str(d / "exp" / "model.pth"),
            "--train_dir", str(d / "train"), "--out_dir", str(out), f"dev={d / 'dev'}", "--epochs", "100", *extra]


@pytest.fixture(scope="module")
def lid_experiment(tmp_path_factory):
    return experiment(tmp_path_factory.mktemp("probe"), CONF)


def test_cli_reports_the_head_and_every_probe(lid_experiment, capsys):
    from espnet_ext.tasks.asr import MultilingualASRTask

    d = lid_experiment
    out = d / "probe"
    # batch size 1: each utterance encoded alone, as below (ESPnet's conv2d front end sees a batch's padding)
    assert lid_probe.main(args(d, out, "--train_warps", "0.9", "1.1", "--batch_size", "1")) == 0
    record = json.loads((out / "lid_probe.json").read_text())
    assert record["sets"] == ["train", "dev"]
    assert [(p["pooling"], p["train_warps"]) for p in record["probes"]] == [
        ("mean", [1.0]), ("mean", [1.0, 0.9, 1.1]), ("mean_std", [1.0]), ("mean_std", [1.0, 0.9, 1.1])]
    assert all(p["acc"]["train"] == 100.0 for p in record["probes"])  # 12 utterances, separable by loudness
    # the head's accuracy is that of the model's own posterior, utterance by utterance
    model, _ = MultilingualASRTask.build_model_from_file(d / "exp" / "config.yaml", d / "exp" / "model.pth", "cpu")
    model.eval()
    model.lid_router.set_routing("soft")
    right = 0
    langs = dict(line.split() for line in (d / "dev" / "utt2lang").read_text().splitlines())
    for utt, feats in kaldiio.load_scp_sequential(str(d / "dev" / "feats.scp")):
        with torch.no_grad():
            model.encode(torch.from_numpy(feats)[None], torch.tensor([feats.shape[0]]))
        right += model.languages[int(model.lid_router.last.utterance_logits.argmax())] == langs[utt]
    assert record["head"]["dev"] == round(100.0 * right / 6, 2)
    md = (out / "lid_probe.md").read_text()
    assert "| linear probe | mean_std | 1, 0.9, 1.1 |" in md and md in capsys.readouterr().out
    # the same options again: the finished dir is kept
    stamp = (out / "lid_probe.json").stat().st_mtime_ns
    assert lid_probe.main(args(d, out, "--train_warps", "0.9", "1.1", "--batch_size", "1")) == 0
    assert (out / "lid_probe.json").stat().st_mtime_ns == stamp


def test_bad_input_is_a_clear_error_and_writes_nothing(lid_experiment, tmp_path, capsys):
    d = lid_experiment
    write_map(tmp_path / "utt2lang", {"dev00": "en"})  # dev01.. have no language
    (tmp_path / "feats.scp").write_text((d / "dev" / "feats.scp").read_text())
    out = tmp_path / "probe"
    assert lid_probe.main(args(d, out)[:-3] + [f"dev={tmp_path}", "--epochs", "10"]) != 0
    assert f"{tmp_path / 'feats.scp'}: utterance 'dev01' has no language in {tmp_path / 'utt2lang'}" \
        in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(SystemExit):
        lid_probe.main(args(d, out, "--train_warps", "1.0"))
    assert "--train_warps must be positive factors other than 1" in capsys.readouterr().err


def test_a_model_without_a_lid_head_is_refused(tmp_path, capsys):
    conf = dict(CONF, model_conf={"ctc_weight": 0.3, "languages": ["en", "fr"]})
    d = experiment(tmp_path, conf)
    assert lid_probe.main(args(d, d / "probe")) != 0
    assert "the model has no LID head (model_conf.lid_weight is 0)" in capsys.readouterr().err
    assert not (d / "probe").exists()
