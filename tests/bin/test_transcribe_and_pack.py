"""Items 3 and 4 of issue 19: ``transcribe`` on files, a directory, a wav.scp, 8 kHz audio and an unreadable
file; ``pack_model`` round trip from an archive alone in an empty dir.  The reference is the recipe's
decoding (espnet_ext.bin.asr_inference) of the stage-2 dump of the same wavs."""

import json
import shutil
import zipfile

import pytest
import soundfile
import yaml

from espnet_ext.asr.packed_model import load_packed
from espnet_ext.bin import asr_inference, pack_model, transcribe
from espnet_ext.fileio.kaldi_map import read_kaldi_map
from tests.bin.raw_audio_fixtures import DECODE, UTTS, make_experiment
from tests.conftest import write_tone


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    d = make_experiment(tmp_path_factory.mktemp("transcribe"))
    asr_inference.main(["--asr_train_config", str(d / "exp" / "config.yaml"),
                        "--asr_model_file", str(d / "exp" / "valid.acc.ave.pth"), "--config", str(d / "decode.yaml"),
                        "--data_path_and_name_and_type", f"{d / 'dump' / 'feats.scp'},speech,kaldi_ark",
                        "--output_dir", str(d / "decode"), "--ngpu", "0"])
    return d


def reference(d):
    return read_kaldi_map(d / "decode" / "1best_recog" / "text", allow_empty_value=True)


def run(capsys, argv):
    code = transcribe.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def lines(out):
    return dict(line.split(" ", 1) for line in out.splitlines())


def test_files_and_an_unreadable_one(experiment, tmp_path, capsys):
    d = experiment
    ref = reference(d)
    assert all(ref.values()) and len(set(ref.values())) > 1, ref
    utts = sorted(UTTS)[:2]
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really a wav")
    wavs = [str(d / "data" / "wav" / f"{u}.wav") for u in utts]
    code, out, err = run(capsys, ["--model", str(d / "exp"), "--fbank_conf", str(d / "fbank_40.yaml"),
                                  "--decode_config", str(d / "decode.yaml"), wavs[0], str(bad), wavs[1]])
    assert code == 1
    assert lines(out) == {u: ref[u] for u in utts}
    assert f"transcribe: error: {bad}: cannot read audio" in err
    assert "1 of 3 input(s) failed" in err


def test_json_8khz_mp3_and_wav_scp(experiment, tmp_path, capsys):
    d = experiment
    ref = reference(d)
    utt = sorted(UTTS)[0]
    wave, rate = soundfile.read(d / "data" / "wav" / f"{utt}.wav", dtype="float32")
    write_tone(tmp_path / "tone8k.wav", 0.5, 300, rate=8000)
    scp = tmp_path / "wav.scp"
    scp.write_text(f"{utt} {d / 'data' / 'wav' / f'{utt}.wav'}\nlow {tmp_path / 'tone8k.wav'}\n")
    code, out, err = run(capsys, ["--model", str(d / "exp"), "--fbank_conf", str(d / "fbank_40.yaml"),
                                  "--decode_config", str(d / "decode.yaml"), "--wav_scp", str(scp),
                                  "--format", "json", "--lang", "en"])
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in records] == [utt, "low"]
    assert records[0]["text"] == ref[utt] and all(r["lang"] == "en" for r in records)
    assert records[1]["text"]  # the 8 kHz file decodes (resampled by the frontend)


@pytest.mark.slow
def test_directory_input_with_two_jobs(experiment, tmp_path, capsys):
    d = experiment
    ref = reference(d)
    (tmp_path / "audio" / "sub").mkdir(parents=True)
    utts = sorted(UTTS)
    shutil.copy(d / "data" / "wav" / f"{utts[0]}.wav", tmp_path / "audio" / f"{utts[0]}.wav")
    for u in utts[1:]:
        data, rate = soundfile.read(d / "data" / "wav" / f"{u}.wav", dtype="float32")
        soundfile.write(tmp_path / "audio" / "sub" / f"{u}.flac", data, rate, subtype="PCM_16")
    (tmp_path / "audio" / "notes.txt").write_text("not audio")
    code, out, err = run(capsys, ["--model", str(d / "exp"), "--fbank_conf", str(d / "fbank_40.yaml"),
                                  "--decode_config", str(d / "decode.yaml"), "--nj", "2", str(tmp_path / "audio")])
    assert code == 0, err
    assert lines(out) == {utts[0]: ref[utts[0]], **{f"sub/{u}": ref[u] for u in utts[1:]}}


def test_pack_round_trip_from_the_archive_alone(experiment, tmp_path_factory, capsys):
    from espnet2.bin.asr_inference import Speech2Text

    d = experiment
    exp = tmp_path_factory.mktemp("copy") / "exp"
    shutil.copytree(d / "exp", exp)
    ref = reference(d)
    archive = tmp_path_factory.mktemp("packed") / "model.zip"
    assert pack_model.main(["--exp_dir", str(exp), "--model_file", "valid.acc.ave.pth",
                            "--fbank_conf", str(d / "fbank_40.yaml"), "--out", str(archive)]) == 0
    assert capsys.readouterr().out.strip() == str(archive)
    names = set(zipfile.ZipFile(archive).namelist())
    assert names == {"config.yaml", "config_features.yaml", "model.pth", "tokens.txt", "bpe.model",
                     "feats_stats.npz", "token_prior.txt", "meta.yaml"}
    packed_conf = yaml.safe_load(zipfile.ZipFile(archive).read("config.yaml"))
    assert packed_conf["token_list"] == "tokens.txt" and packed_conf["bpemodel"] == "bpe.model"
    assert packed_conf["normalize_conf"]["stats_file"] == "feats_stats.npz"
    assert packed_conf["model_conf"]["token_prior"] == "token_prior.txt"
    assert packed_conf["frontend"] == "stage2_fbank" and packed_conf["input_size"] is None

    alone = tmp_path_factory.mktemp("empty")
    shutil.copy(archive, alone / "model.zip")
    shutil.rmtree(exp)
    cache = alone / "cache"
    config, weights = load_packed(alone / "model.zip", cache_dir=cache)
    conf = yaml.safe_load(open(config))
    assert conf["normalize_conf"]["stats_file"].startswith(str(cache.resolve()))
    assert load_packed(alone / "model.zip", cache_dir=cache) == (config, weights)  # reused

    wavs = {u: alone / f"{u}.wav" for u in UTTS}
    for u, path in wavs.items():
        shutil.copy(d / "data" / "wav" / f"{u}.wav", path)
    code, out, err = run(capsys, ["--model", str(alone / "model.zip"), "--cache_dir", str(cache),
                                  "--decode_config", str(d / "decode.yaml"), *map(str, wavs.values())])
    assert code == 0, err
    assert lines(out) == ref
    # ESPnet's own Speech2Text takes the unpacked model (plain ESPnet decoding: compare it with itself on
    # the unpacked features config and the dump).
    import kaldiio

    opts = dict(DECODE)
    s2t = Speech2Text(asr_train_config=config, asr_model_file=weights, **opts)
    feat_config, _ = load_packed(alone / "model.zip", cache_dir=cache, features=True)
    s2t_feats = Speech2Text(asr_train_config=feat_config, asr_model_file=weights, **opts)
    dumped = dict(kaldiio.load_scp(str(d / "dump" / "feats.scp")))
    for u, path in wavs.items():
        assert s2t(soundfile.read(path, dtype="float32")[0])[0][0] == s2t_feats(dumped[u])[0][0]


def test_pack_needs_the_feature_conf_of_a_features_model(experiment, capsys):
    d = experiment
    assert pack_model.main(["--exp_dir", str(d / "exp"), "--out", str(d / "x.zip")]) == 1
    assert "ERROR: --fbank_conf is needed" in capsys.readouterr().err


def test_setup_errors_are_one_error_line_and_exit_status_1(tmp_path, capsys):
    """Before any decoding (espnet_ext.utils.cli): a bad --model or no input is ``ERROR: ...``, exit status 1."""
    assert transcribe.main(["--model", str(tmp_path / "nowhere"), str(tmp_path / "a.wav")]) == 1
    assert capsys.readouterr().err == (f"ERROR: --model {tmp_path / 'nowhere'}: neither a model archive (.zip of "
                                       "espnet_ext.bin.pack_model) nor an experiment dir\n")
    assert transcribe.main(["--model", str(tmp_path)]) == 1
    assert capsys.readouterr().err == "ERROR: no inputs: give audio files, directories or --wav_scp\n"
