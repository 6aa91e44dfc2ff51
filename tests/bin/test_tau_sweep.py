"""The τ sweep and Adjust-Inference decoding options on a tiny (untrained) logit-adjusted experiment."""

import json
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch
import yaml

from espnet_ext.bin import asr_inference, compute_token_priors, tau_sweep
from espnet_ext.fileio.kaldi_map import read_kaldi_map
from tests.conftest import write_map

TOKENS = ["<blank>", "<unk>", "a", "b", "c", "<space>", "<sos/eos>"]
TEXTS = {"u1": "ab c", "u2": "a", "u3": "aab", "u4": "cab", "u5": "b", "u6": "ca"}
LANG = {"u1": "en", "u2": "en", "u3": "en", "u4": "fr", "u5": "fr", "u6": "fr"}
CONF = {
    "model": "logit_adjusted",
    "model_conf": {"ctc_weight": 0.3, "lsm_weight": 0.1, "languages": ["en", "fr"], "logit_adjustment": "adjust_train",
                   "tau": 0.3},
    "frontend": None, "normalize": None,
    "encoder": "transformer", "encoder_conf": {"output_size": 16, "attention_heads": 2, "linear_units": 16,
                                               "num_blocks": 1, "input_layer": "linear"},
    "decoder": "transformer", "decoder_conf": {"attention_heads": 2, "linear_units": 16, "num_blocks": 1},
}
DECODE = ["--beam_size", "2", "--ctc_weight", "0.5", "--maxlenratio", "-3", "--ngpu", "0"]


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    from espnet_ext.tasks.asr import MultilingualASRTask

    d = tmp_path_factory.mktemp("tau")
    (d / "tokens.txt").write_text("\n".join(TOKENS) + "\n")
    write_map(d / "text", TEXTS)
    write_map(d / "utt2lang", LANG)
    assert compute_token_priors.main(["--text", str(d / "text"), "--token_list", str(d / "tokens.txt"), "--token_type",
                                      "char", "--utt2lang", str(d / "utt2lang"), "--out", str(d / "prior.txt")]) == 0
    conf = dict(CONF, model_conf=dict(CONF["model_conf"], token_prior=str(d / "prior.txt")))
    (d / "train.yaml").write_text(yaml.safe_dump(conf))
    MultilingualASRTask.main(cmd=["--dry_run", "true", "--iterator_type", "none", "--config", str(d / "train.yaml"),
                                  "--output_dir", str(d / "exp"), "--token_list", str(d / "tokens.txt"),
                                  "--token_type", "char", "--input_size", "8"])
    model, _ = MultilingualASRTask.build_model_from_file(d / "exp" / "config.yaml", None, "cpu")
    assert model.has_prior()
    torch.save(model.state_dict(), d / "exp" / "model.pth")
    rng = np.random.default_rng(0)
    with kaldiio.WriteHelper(f"ark,scp:{d / 'feats.ark'},{d / 'feats.scp'}") as w:
        for utt in sorted(TEXTS):
            w(utt, rng.standard_normal((10, 8)).astype(np.float32))
    (d / "prior.txt").rename(d / "prior_moved.txt")  # the trained model must decode without the prior file
    return d


def common(d: Path):
    return ["--asr_train_config", str(d / "exp" / "config.yaml"), "--asr_model_file", str(d / "exp" / "model.pth"),
            "--data_path_and_name_and_type", f"{d / 'feats.scp'},speech,kaldi_ark", "--utt2lang", str(d / "utt2lang"),
            *DECODE]


def decoded(out: Path):
    return read_kaldi_map(out / "1best_recog" / "token_int", allow_empty_value=True)


def test_tau_sweep_writes_table_plot_and_best_tau(experiment):
    d = experiment
    out = d / "sweep"
    assert tau_sweep.main(common(d) + ["--ref", str(d / "text"), "--taus", "0.3,0", "--output_dir", str(out)]) == 0
    summary = json.loads((out / "tau_sweep.json").read_text())
    assert summary["taus"] == [0.0, 0.3] and set(summary["cer"]) == {"en", "fr"}
    assert all(len(v) == 2 for v in summary["cer"].values())
    assert summary["best_tau"] in summary["taus"]
    i = summary["taus"].index(summary["best_tau"])
    assert summary["average_cer"][i] == min(summary["average_cer"])
    for k, tau in enumerate(summary["taus"]):  # the table agrees with scoring each decoding on its own
        per_tau = json.loads((out / f"tau_{tau:g}" / "results.json").read_text())
        assert per_tau["average_cer"] == summary["average_cer"][k]
    table = (out / "tau_sweep.md").read_text()
    assert "| τ | en | fr | avg | pooled |" in table and f"best τ (lowest average CER): **{summary['best_tau']:g}**" in table
    assert (out / "tau_sweep.png").stat().st_size > 1000
    # The sweep's τ = 0 is ESPnet's unadjusted decoding; the Adjust-Train model's default is its own τ = 0.3.
    asr_inference.main(common(d) + ["--logit_adjust_tau", "0", "--output_dir", str(d / "raw")])
    asr_inference.main(common(d) + ["--output_dir", str(d / "default")])
    assert decoded(d / "raw") == decoded(out / "tau_0")
    assert decoded(d / "default") == decoded(out / "tau_0.3")


def test_tau_grid_and_option_errors(experiment):
    assert tau_sweep.parse_taus("0.3, 0,0.1") == [0.0, 0.1, 0.3]
    for bad in ("", "0,0", "-1", "x"):
        with pytest.raises(ValueError, match="--taus"):
            tau_sweep.parse_taus(bad)
    args = vars(tau_sweep.get_parser().parse_args(common(experiment) + ["--ref", "r", "--output_dir", "o",
                                                                        "--logit_adjust_tau", "0.2"]))
    with pytest.raises(ValueError, match="set by the sweep"):
        tau_sweep.run(args, [0.0])
