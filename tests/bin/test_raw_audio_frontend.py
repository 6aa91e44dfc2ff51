"""Item 2 of issue 19: the stage2_fbank frontend computes exactly the stage-2 dump, and a model trained on
dumps, given its raw-audio config, decodes a wav through ESPnet's own Speech2Text as it decodes the dump."""

import logging

import kaldiio
import numpy as np
import pytest
import soundfile
import torch
import yaml

import espnet_ext  # noqa: F401
from espnet_ext.asr.frontend.stage2_fbank_frontend import Stage2FbankFrontend
from espnet_ext.asr import raw_audio_config
from espnet_ext.dataprep.fbank import FbankConfig, compute_features, load_audio
from tests.bin.raw_audio_fixtures import DECODE, FBANK, UTTS, make_experiment
from tests.conftest import write_tone


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    return make_experiment(tmp_path_factory.mktemp("raw_audio"))


def test_registered_as_an_espnet_frontend():
    from espnet2.tasks.asr import frontend_choices

    assert frontend_choices.get_class("stage2_fbank") is Stage2FbankFrontend


@pytest.mark.parametrize("conf", [FBANK, dict(FBANK, num_mel_bins=80), dict(FBANK, feature_type="spectrogram")])
def test_frontend_equals_compute_features_on_tone_wavs_batched(tmp_path, conf):
    paths = []
    for i, (seconds, freq) in enumerate([(0.5, 300), (0.31, 800), (0.77, 1500)]):
        write_tone(tmp_path / f"{i}.wav", seconds, freq, seed=i)
        paths.append(tmp_path / f"{i}.wav")
    expected = [compute_features(load_audio(str(p), "u", 16000)[0], FbankConfig(**conf)) for p in paths]
    waves = [soundfile.read(p, dtype="float32")[0] for p in paths]
    batch = torch.zeros(len(waves), max(map(len, waves)))
    for i, w in enumerate(waves):
        batch[i, : len(w)] = torch.from_numpy(w)
    frontend = Stage2FbankFrontend(**conf)
    feats, lengths = frontend(batch, torch.tensor([len(w) for w in waves]))
    assert frontend.output_size() == FbankConfig(**conf).dim == feats.shape[2]
    for i, e in enumerate(expected):
        assert lengths[i] == e.shape[0]
        assert np.allclose(feats[i, : e.shape[0]].numpy(), e, atol=1e-5)
        assert not feats[i, e.shape[0]:].any()


def test_frontend_equals_the_dump_and_resamples_8khz_as_stage2(experiment, tmp_path, caplog):
    d = experiment
    dumped = dict(kaldiio.load_scp(str(d / "dump" / "feats.scp")))
    frontend = Stage2FbankFrontend(**FBANK)
    for utt in UTTS:
        wave, _ = soundfile.read(d / "data" / "wav" / f"{utt}.wav", dtype="float32")
        feats, n = frontend(torch.from_numpy(wave)[None], torch.tensor([len(wave)]))
        assert np.allclose(feats[0].numpy(), dumped[utt], atol=1e-5), utt
    write_tone(tmp_path / "8k.wav", 0.5, 300, rate=8000)
    expected = compute_features(load_audio(str(tmp_path / "8k.wav"), "u", 16000)[0], FbankConfig(**FBANK))
    wave, rate = soundfile.read(tmp_path / "8k.wav", dtype="float32")
    frontend.input_rate = rate
    with caplog.at_level(logging.INFO):
        for _ in range(2):
            feats, _ = frontend(torch.from_numpy(wave)[None], torch.tensor([len(wave)]))
            assert np.allclose(feats[0].numpy(), expected, atol=1e-5)
    assert caplog.text.count("resampling input from 8000 Hz to the model's 16000 Hz") == 1


def test_converted_config_decodes_a_wav_as_the_original_decodes_its_dump(experiment):
    from espnet2.bin.asr_inference import Speech2Text

    d = experiment
    out = raw_audio_config.write_raw_audio_config(d / "exp" / "config.yaml", d / "fbank_40.yaml")
    conf = yaml.safe_load(out.read_text())
    assert conf["frontend"] == "stage2_fbank" and conf["input_size"] is None
    assert conf["frontend_conf"] == FBANK and conf["normalize"] == "global_mvn"
    assert conf["normalize_conf"]["stats_file"] == str(d / "dump" / "cmvn.npz")
    opts = {k: v for k, v in DECODE.items()}
    by_feats = Speech2Text(asr_train_config=str(d / "exp" / "config.yaml"),
                           asr_model_file=str(d / "exp" / "valid.acc.ave.pth"), **opts)
    by_wave = Speech2Text(asr_train_config=str(out), asr_model_file=str(d / "exp" / "valid.acc.ave.pth"), **opts)
    dumped = dict(kaldiio.load_scp(str(d / "dump" / "feats.scp")))
    hyps = set()
    for utt in UTTS:
        wave, _ = soundfile.read(d / "data" / "wav" / f"{utt}.wav", dtype="float32")
        a, b = by_feats(dumped[utt])[0], by_wave(wave)[0]
        assert a[0] == b[0] and a[2] == b[2], utt
        assert float(a[3].score) == pytest.approx(float(b[3].score), abs=1e-3)
        hyps.add(a[0])
    assert all(hyps)


def test_conversion_refuses_a_conf_of_another_dimension(experiment):
    d = experiment
    with pytest.raises(ValueError, match="input_size 40 differs from the 80-dim features"):
        raw_audio_config.raw_audio_config(yaml.safe_load((d / "exp" / "config.yaml").read_text()),
                                          FbankConfig(**dict(FBANK, num_mel_bins=80)))
