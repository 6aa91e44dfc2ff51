"""A tiny (untrained) experiment trained-on-stage-2-dumps style: tone wavs, their 40-bin stage-2 dump with
global CMVN stats, a logit-adjusted model with a token prior, weights saved as valid.acc.ave.pth."""

from pathlib import Path

import yaml

from tests.conftest import make_data_dir, write_map

TOKENS = ["<blank>", "<unk>", "a", "b", "c", "d", "e", "<space>", "<sos/eos>"]
FBANK = {"feature_type": "fbank", "sample_rate": 16000, "num_mel_bins": 40, "frame_length_ms": 25.0,
         "frame_shift_ms": 10.0, "dither": 0.0}
UTTS = {
    "spkA-en-0001": dict(spk="spkA", lang="en", text="a b", seconds=0.5, freq=300),
    "spkA-fr-0002": dict(spk="spkA", lang="fr", text="cab", seconds=0.4, freq=500),
    "spkB-en-0003": dict(spk="spkB", lang="en", text="bad", seconds=0.6, freq=700),
}
CONF = {
    "model": "logit_adjusted",
    "model_conf": {"ctc_weight": 0.3, "languages": ["en", "fr"], "logit_adjustment": "adjust_train", "tau": 0.3},
    "frontend": None, "normalize": "global_mvn",
    "encoder": "transformer", "encoder_conf": {"output_size": 16, "attention_heads": 2, "linear_units": 16,
                                               "num_blocks": 1, "input_layer": "conv2d"},
    "decoder": "transformer", "decoder_conf": {"attention_heads": 2, "linear_units": 16, "num_blocks": 1},
}
# A fixed hypothesis length (negative maxlenratio) so the untrained model emits tokens to compare.
DECODE = {"beam_size": 2, "ctc_weight": 0.5, "maxlenratio": -3.0, "minlenratio": 0.0, "nbest": 1}


def make_experiment(d: Path) -> Path:
    import torch

    from espnet_ext.bin import compute_token_priors
    from espnet_ext.dataprep.fbank import FbankConfig, extract_data_dir
    from espnet_ext.tasks.asr import MultilingualASRTask

    data = make_data_dir(d / "data", UTTS)
    extract_data_dir(data, d / "dump", FbankConfig(**FBANK))
    (d / "tokens.txt").write_text("\n".join(TOKENS) + "\n")
    (d / "fbank_40.yaml").write_text(yaml.safe_dump(FBANK))
    # tau 0: the untrained model's Adjust-Train prior would otherwise push every hypothesis to <unk>.
    (d / "decode.yaml").write_text(yaml.safe_dump(dict(DECODE, logit_adjust_tau=0.0)))
    (d / "fake_bpe.model").write_bytes(b"not used by a char model; packed all the same")
    assert compute_token_priors.main(["--text", str(data / "text"), "--token_list", str(d / "tokens.txt"),
                                      "--token_type", "char", "--out", str(d / "prior.txt")]) == 0
    conf = dict(CONF, model_conf=dict(CONF["model_conf"], token_prior=str(d / "prior.txt")),
                normalize_conf={"stats_file": str(d / "dump" / "cmvn.npz")})
    (d / "train.yaml").write_text(yaml.safe_dump(conf))
    MultilingualASRTask.main(cmd=["--dry_run", "true", "--iterator_type", "none", "--config", str(d / "train.yaml"),
                                  "--output_dir", str(d / "exp"), "--token_list", str(d / "tokens.txt"),
                                  "--token_type", "char", "--bpemodel", str(d / "fake_bpe.model"),
                                  "--input_size", "40"])
    model, _ = MultilingualASRTask.build_model_from_file(d / "exp" / "config.yaml", None, "cpu")
    torch.manual_seed(0)
    for p in model.parameters():  # larger random weights: the untrained model's hypotheses differ by input
        torch.nn.init.normal_(p, std=0.5)
    torch.save(model.state_dict(), d / "exp" / "valid.acc.ave.pth")
    write_map(d / "wav.scp", {u: str(data / "wav" / f"{u}.wav") for u in UTTS})
    return d
