"""lid_calibrate / lid_calibration (issue 20): the fitted bias against a known shift, the L2 penalty and the
cross-validation against a hand computation, the JSON file and its errors, the CLI on a tiny LID model, and
decoding routed by the calibrated logits."""

import json

import pytest
import torch
import torch.nn.functional as F

from espnet_ext.asr.lid.lid_calibration import LidCalibration, LidCalibrationError, choose_l2, fit_logit_bias
from espnet_ext.bin import lid_calibrate
from tests.bin.test_lid_probe import CONF, experiment


def shifted_logits(n=2000, shift=(1.5, 0.0, -0.5, 0.0), seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(len(shift)).repeat(n // len(shift))
    clean = 2.0 * F.one_hot(labels, len(shift)).float() + torch.randn(len(labels), len(shift), generator=g)
    return clean + torch.tensor(shift), labels


def test_the_fitted_bias_undoes_a_shift_of_the_logits():
    logits, labels = shifted_logits()
    bias = fit_logit_bias(logits, labels)
    shift = torch.tensor([1.5, 0.0, -0.5, 0.0])
    assert torch.allclose(bias, -(shift - shift.mean()), atol=0.15), bias
    assert abs(float(bias.sum())) < 1e-5  # centred
    before = float((logits.argmax(-1) == labels).float().mean())
    after = float(((logits + bias).argmax(-1) == labels).float().mean())
    assert after > before + 0.03, (before, after)
    # it minimises the NLL: any small move of it raises the NLL
    nll = float(F.cross_entropy(logits + bias, labels))
    for k in range(4):
        nudged = bias.clone()
        nudged[k] += 0.05
        assert float(F.cross_entropy(logits + nudged, labels)) > nll


def test_the_l2_penalty_shrinks_the_bias():
    logits, labels = shifted_logits(n=200)
    norms = [float(fit_logit_bias(logits, labels, l2).norm()) for l2 in (0.0, 0.1, 1.0, 100.0)]
    assert norms[0] > norms[1] > norms[2] > norms[3] and norms[3] < 0.02, norms


def test_cross_validation_scores_are_the_held_out_nll_of_each_fold():
    logits, labels = shifted_logits(n=60, seed=1)
    scores = choose_l2(logits, labels, grid=(0.0, 0.5), folds=3, seed=7)
    order = torch.randperm(60, generator=torch.Generator().manual_seed(7))
    for l2 in (0.0, 0.5):
        expected = 0.0
        for held in torch.tensor_split(order, 3):
            keep = torch.ones(60, dtype=torch.bool)
            keep[held] = False
            b = fit_logit_bias(logits[keep], labels[keep], l2)
            expected += float(F.cross_entropy(logits[held] + b, labels[held], reduction="sum"))
        assert scores[l2] == pytest.approx(expected, rel=1e-6)
    cal = LidCalibration.fit(logits, labels, ["a", "b", "c", "d"], grid=(0.0, 0.5), folds=3, seed=7)
    assert cal.l2 == min(scores, key=scores.get)
    assert cal.bias == pytest.approx(fit_logit_bias(logits, labels, cal.l2).tolist(), abs=1e-5)
    assert cal.dev["utterances"] == 60 and cal.dev["nll_after"] <= cal.dev["nll_before"]
    with pytest.raises(LidCalibrationError, match=r"2 <= folds <= utterances \(60\), got 61"):
        choose_l2(logits, labels, folds=61)


def test_fit_refuses_a_language_without_utterances_and_bad_grids():
    logits, labels = shifted_logits(n=40)
    keep = labels != 2
    with pytest.raises(LidCalibrationError, match="the calibration set has no utterance of c"):
        LidCalibration.fit(logits[keep], labels[keep], ["a", "b", "c", "d"])
    with pytest.raises(LidCalibrationError, match="do not match 40 labels and 3 languages"):
        LidCalibration.fit(logits, labels, ["a", "b", "c"])
    with pytest.raises(LidCalibrationError, match="the l2 grid must hold finite numbers >= 0"):
        LidCalibration.fit(logits, labels, ["a", "b", "c", "d"], grid=(-1.0,))


def test_the_file_round_trips_and_its_errors_name_it(tmp_path):
    logits, labels = shifted_logits(n=40)
    cal = LidCalibration.fit(logits, labels, ["a", "b", "c", "d"], grid=(0.0, 0.1), folds=2)
    path = tmp_path / "cal.json"
    cal.save(path)
    again = LidCalibration.load(path)
    assert again == cal and torch.equal(again.bias_for(["a", "b", "c", "d"]), torch.tensor(cal.bias))
    with pytest.raises(LidCalibrationError, match=rf"{path}: fit for the languages \['a', 'b', 'c', 'd'\], but the "
                                                  r"model's are \['a', 'b', 'd', 'c'\]"):
        again.bias_for(["a", "b", "d", "c"], path)
    with pytest.raises(LidCalibrationError, match=f"{tmp_path / 'none.json'}: no such LID calibration file"):
        LidCalibration.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(LidCalibrationError, match=f"{tmp_path / 'bad.json'}: not a LID calibration file"):
        LidCalibration.load(tmp_path / "bad.json")
    record = json.loads(path.read_text())
    record["bias"] = record["bias"][:3]
    (tmp_path / "short.json").write_text(json.dumps(record))
    with pytest.raises(LidCalibrationError, match="'bias' must hold one finite number per language"):
        LidCalibration.load(tmp_path / "short.json")


@pytest.fixture(scope="module")
def lid_experiment(tmp_path_factory):
    return experiment(tmp_path_factory.mktemp("calibrate"), CONF)


def cli_args(d, out, data="dev", *extra):
    return ["--asr_train_config", str(d / "exp" / "config.yaml"), "--asr_model_file", str(d / "exp" / "model.pth"),
            "--data_dir", str(d / data), "--out", str(out), "--folds", "2", "--l2_grid", "0", "0.1", *extra]


def test_cli_fits_the_head_logits_of_every_utterance_and_decoding_uses_them(lid_experiment, capsys):
    import kaldiio

    from espnet_ext.tasks.asr import MultilingualASRTask

    d = lid_experiment
    out = d / "cal.json"
    assert lid_calibrate.main(cli_args(d, out, "train")) == 0
    cal = LidCalibration.load(out)
    assert cal.languages == ["en", "fr"] and cal.folds == 2 and cal.dev["utterances"] == 12
    assert (d / "cal.md").read_text() in capsys.readouterr().out
    # the same fit from the head's logits, utterance by utterance (as decoding runs them)
    model, _ = MultilingualASRTask.build_model_from_file(d / "exp" / "config.yaml", d / "exp" / "model.pth", "cpu")
    model.eval()
    model.lid_router.set_routing("soft")
    langs = dict(line.split() for line in (d / "train" / "utt2lang").read_text().splitlines())
    logits, labels = [], []
    for utt, feats in kaldiio.load_scp_sequential(str(d / "train" / "feats.scp")):
        with torch.no_grad():
            model.encode(torch.from_numpy(feats)[None], torch.tensor([feats.shape[0]]))
        logits.append(model.lid_router.last.utterance_logits[0])
        labels.append(model.languages.index(langs[utt]))
    expected = LidCalibration.fit(torch.stack(logits), torch.tensor(labels), ["en", "fr"], grid=(0.0, 0.1), folds=2)
    assert cal.bias == pytest.approx(expected.bias, abs=1e-5) and cal.l2 == expected.l2
    # decoding with it: the head's logits move by the bias, and so does the routing
    bias = cal.bias_for(model.languages, out)
    feats = next(iter(kaldiio.load_scp_sequential(str(d / "dev" / "feats.scp"))))[1]
    x, n = torch.from_numpy(feats)[None], torch.tensor([feats.shape[0]])
    with torch.no_grad():
        model.set_lang_routing("soft")
        model.encode(x, n)
        plain = model.lid_router.last.utterance_logits.clone()
        model.set_lang_routing("soft", logit_bias=bias)
        model.encode(x, n)
        assert torch.allclose(model.lid_router.last.utterance_logits, plain + bias, atol=1e-6)


def test_cli_errors_name_the_problem_and_write_nothing(lid_experiment, tmp_path, capsys):
    d = lid_experiment
    out = tmp_path / "cal.json"
    assert lid_calibrate.main(cli_args(d, out, "dev", "--folds", "7")) != 0  # dev holds 6 utterances
    assert "cross-validation needs 2 <= folds <= utterances (6), got 7" in capsys.readouterr().err
    assert not out.exists() and not out.with_suffix(".md").exists()
    assert lid_calibrate.main(cli_args(d, tmp_path / "no" / "cal.json")) != 0
    assert f"{tmp_path / 'no'}: no such directory for --out" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        lid_calibrate.main(cli_args(d, out, "dev", "--l2_grid", "-1"))
    assert "--l2_grid must hold numbers >= 0" in capsys.readouterr().err


def test_a_model_without_a_lid_head_is_refused(tmp_path, capsys):
    conf = dict(CONF, model_conf={"ctc_weight": 0.3, "languages": ["en", "fr"]})
    d = experiment(tmp_path, conf)
    assert lid_calibrate.main(cli_args(d, tmp_path / "cal.json")) != 0
    assert "the model has no LID head (model_conf.lid_weight is 0): nothing to calibrate" in capsys.readouterr().err
    assert not (tmp_path / "cal.json").exists()


def test_asr_inference_routes_by_the_calibrated_logits_and_refuses_a_wrong_file(lid_experiment, tmp_path, capsys):
    from espnet_ext.bin import asr_inference
    from espnet_ext.fileio.kaldi_map import read_kaldi_map

    d = lid_experiment
    common = ["--asr_train_config", str(d / "exp" / "config.yaml"), "--asr_model_file", str(d / "exp" / "model.pth"),
              "--data_path_and_name_and_type", f"{d / 'dev' / 'feats.scp'},speech,kaldi_ark", "--beam_size", "2",
              "--maxlenratio", "0.5", "--ngpu", "0", "--lang_routing", "hard"]
    cal = LidCalibration(["en", "fr"], [-30.0, 30.0], 0.0, 2)  # every utterance to fr, with certainty
    cal.save(tmp_path / "fr.json")
    out = tmp_path / "decode"
    assert asr_inference.main(common + ["--output_dir", str(out), "--lid_calibration", str(tmp_path / "fr.json")]) \
        in (0, None)
    lang = read_kaldi_map(out / "lang")
    assert len(lang) == 6 and {v.split()[0] for v in lang.values()} == {"fr"}
    assert all(float(v.split()[1]) > 0.999 for v in lang.values())
    LidCalibration(["en", "de"], [0.0, 0.0], 0.0, 2).save(tmp_path / "de.json")
    assert asr_inference.main(common + ["--output_dir", str(tmp_path / "d2"),
                                        "--lid_calibration", str(tmp_path / "de.json")]) not in (0, None)
    assert f"{tmp_path / 'de.json'}: fit for the languages ['en', 'de'], but the model's are ['en', 'fr']" \
        in capsys.readouterr().err
    assert not (tmp_path / "d2" / "lang").exists()


def test_an_utterance_too_short_for_the_subsampling_is_left_out_with_a_warning(lid_experiment, tmp_path, caplog):
    import kaldiio
    import numpy as np

    from tests.conftest import write_map

    d = lid_experiment
    dev = tmp_path / "dev"
    dev.mkdir()
    langs = dict(line.split() for line in (d / "dev" / "utt2lang").read_text().splitlines())
    with kaldiio.WriteHelper(f"ark,scp:{dev / 'feats.ark'},{dev / 'feats.scp'}") as w:
        for utt, feats in kaldiio.load_scp_sequential(str(d / "dev" / "feats.scp")):
            w(utt, feats)
        w("dev99", np.zeros((3, 8), dtype=np.float32))  # conv2d needs more than 6 frames
    write_map(dev / "utt2lang", dict(langs, dev99="en"))
    args = ["--asr_train_config", str(d / "exp" / "config.yaml"), "--asr_model_file", str(d / "exp" / "model.pth"),
            "--data_dir", str(dev), "--out", str(tmp_path / "cal.json"), "--folds", "2", "--l2_grid", "0"]
    with caplog.at_level("WARNING"):
        assert lid_calibrate.main(args) == 0
    assert LidCalibration.load(tmp_path / "cal.json").dev["utterances"] == 6
    assert "dev99: 3 frames, too short for the model's subsampling: left out" in caplog.text
