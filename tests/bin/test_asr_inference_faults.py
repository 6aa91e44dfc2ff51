"""Decoding faults (issue 17) on a tiny untrained model with a conv2d front end (needs > 6 frames):
an utterance too short for it gets an empty hypothesis and the job goes on; scoring counts it as all
deletions; a raw waveform given to a model trained on stage-2 features is a clear error."""

import json
import logging
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from espnet_ext.bin import asr_inference, score_cer
from espnet_ext.fileio.kaldi_map import read_kaldi_map
from tests.conftest import save_untrained_model, write_map, write_tone

TOKENS = ["<blank>", "<unk>", "a", "b", "c", "<space>", "<sos/eos>"]
TEXTS = {"u1": "ab c", "u2": "a b", "u3": "cab"}
LANG = {"u1": "fr", "u2": "en", "u3": "en"}
FRAMES = {"u1": 3, "u2": 20, "u3": 24}  # u1: too short for conv2d subsampling (ESPnet's TooShortUttError)
CONF = {
    "model": "multilingual", "model_conf": {"ctc_weight": 0.3, "languages": ["en", "fr"]},
    "frontend": None, "normalize": None,
    "encoder": "transformer", "encoder_conf": {"output_size": 16, "attention_heads": 2, "linear_units": 16,
                                               "num_blocks": 1, "input_layer": "conv2d"},
    "decoder": "transformer", "decoder_conf": {"attention_heads": 2, "linear_units": 16, "num_blocks": 1},
}
DECODE = ["--beam_size", "2", "--ctc_weight", "0.5", "--maxlenratio", "0.5", "--ngpu", "0", "--nbest", "2"]


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    return build_experiment(tmp_path_factory.mktemp("short"), CONF, FRAMES)


def build_experiment(d: Path, conf: dict, frames: dict) -> Path:
    """An untrained model of ``conf`` saved under d/exp, with random features of ``frames`` frames per utterance."""
    write_map(d / "text", TEXTS)
    write_map(d / "utt2lang", LANG)
    save_untrained_model(d, conf, TOKENS)
    rng = np.random.default_rng(0)
    with kaldiio.WriteHelper(f"ark,scp:{d / 'feats.ark'},{d / 'feats.scp'}") as w:
        for utt in sorted(frames):
            w(utt, rng.standard_normal((frames[utt], 8)).astype(np.float32))
    return d


def common(d: Path, data: str):
    return ["--asr_train_config", str(d / "exp" / "config.yaml"), "--asr_model_file", str(d / "exp" / "model.pth"),
            "--data_path_and_name_and_type", data, "--utt2lang", str(d / "utt2lang"), *DECODE]


def test_too_short_utterance_gets_an_empty_hypothesis_and_decoding_goes_on(experiment, caplog):
    d = experiment
    out = d / "decode"
    with caplog.at_level(logging.WARNING):
        asr_inference.main(common(d, f"{d / 'feats.scp'},speech,kaldi_ark") + ["--output_dir", str(out)])
    assert ("utterance 'u1': 3 frames are too few for the encoder's subsampling (it needs at least 7); "
            "writing an empty hypothesis") in caplog.text
    for n in ("1best_recog", "2best_recog"):
        for name in ("text", "token", "token_int", "score"):
            assert set(read_kaldi_map(out / n / name, allow_empty_value=True)) >= {"u1"}, (n, name)
        assert [line for line in (out / n / "text").read_text().splitlines() if line.startswith("u1")] == ["u1 "]
        assert read_kaldi_map(out / n / "token", allow_empty_value=True)["u1"] == ""
        assert read_kaldi_map(out / n / "token_int", allow_empty_value=True)["u1"] == ""
        assert float(read_kaldi_map(out / n / "score")["u1"]) == 0.0
    assert set(read_kaldi_map(out / "1best_recog" / "text", allow_empty_value=True)) == set(TEXTS)  # u2, u3 decoded


def test_scoring_counts_an_empty_hypothesis_as_all_deletions(experiment, tmp_path):
    d = experiment
    hyp = tmp_path / "hyp"
    hyp.write_text("u1 \nu2 a b\nu3 cab\n", encoding="utf-8")  # u1 as decoding writes it
    assert score_cer.main(["--ref", str(d / "text"), "--hyp", str(hyp), "--utt2lang", str(d / "utt2lang"),
                           "--out_dir", str(tmp_path / "score")]) == 0
    results = json.loads((tmp_path / "score" / "results.json").read_text())
    assert results["languages"]["fr"] == dict(results["languages"]["fr"], cer=100.0, utterances=1, ref_chars=4)
    assert results["languages"]["en"]["cer"] == 0.0


def test_raw_waveform_given_to_a_feature_model_is_a_clear_error(experiment, tmp_path, capsys):
    d = experiment
    write_tone(tmp_path / "u1.wav", 0.5, 300)
    (tmp_path / "wav.scp").write_text(f"u1 {tmp_path / 'u1.wav'}\n")
    capsys.readouterr()
    assert asr_inference.main(common(d, f"{tmp_path / 'wav.scp'},speech,sound")
                              + ["--output_dir", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.endswith("\nERROR: utterance 'u1': the model expects 8-dim features from stage 2 (dump/fbank/<set>/"
                        "feats.scp, type kaldi_ark; input_size 8 in its config), got a 1-D signal of 8000 samples "
                        "(a raw waveform?): decode feats.scp, not wav.scp\n") and "Traceback" not in err


def test_too_short_utterance_gets_no_language_line_from_a_lid_model(tmp_path):
    """With a LID head, ``lang`` has a line per decoded utterance; one the encoder never saw gets none (not the
    language still held from the utterance before it), and lid_report counts it as a LID error."""
    from espnet_ext.bin import lid_report

    conf = dict(CONF, model_conf=dict(CONF["model_conf"], lid_weight=0.1), encoder="adapter_transformer",
                encoder_conf=dict(CONF["encoder_conf"], adapter_mode="dual", adapter_bottleneck=4))
    d = build_experiment(tmp_path, conf, {"u1": 20, "u2": 24, "u3": 3})  # u3, decoded last, is too short
    out = d / "decode"
    asr_inference.main(["--asr_train_config", str(d / "exp" / "config.yaml"), "--asr_model_file",
                        str(d / "exp" / "model.pth"), "--data_path_and_name_and_type", f"{d / 'feats.scp'},speech,kaldi_ark",
                        *DECODE, "--lang_routing", "hard", "--output_dir", str(out)])
    assert set(read_kaldi_map(out / "lang")) == {"u1", "u2"}
    assert read_kaldi_map(out / "1best_recog" / "text", allow_empty_value=True)["u3"] == ""
    assert lid_report.main(["--lang_hyp", str(out / "lang"), "--utt2lang", str(d / "utt2lang"),
                            "--out_dir", str(d / "lid")]) == 0
    report = json.loads((d / "lid" / "lid.json").read_text())
    assert (report["num_utts"], report["num_no_output"]) == (3, 1)
    assert report["per_language"]["en"]["no_output"] == 1  # u3 is English
