import json

import pytest
import torch

from espnet_ext.bin.ctc_feasibility import main
from espnet_ext.dataprep.datadir import DataDirError
from espnet_ext.utils.ctc_feasibility import (SUBSAMPLING, check_files, input_layer_from_config, make_encoder,
                                              raw_to_frames, read_frames, required_frames, subsampled_length)


def write(path, lines):
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
def token_list(tmp_path):
    return write(tmp_path / "tokens.txt", ["<blank>", "<unk>", "<space>", *"abcdefghijklmnopqrstuvwxyz", "<sos/eos>"])


def test_repeat_rule():
    assert required_frames(list("aab")) == 4
    assert required_frames(list("abab")) == 4
    assert required_frames(list("aaa")) == 5
    assert required_frames([]) == 0
    # ESPnet's char tokens: "aa b" -> a a <space> b (one repeat)
    assert required_frames(make_encoder("char")("aa b")) == 5


def test_unknown_tokens_repeat_as_unk(token_list):
    # Two different characters missing from the token list both become <unk>: a repeat after id mapping.
    encode = make_encoder("char", token_list=token_list)
    assert encode("xé") == [26, 1] and required_frames(encode("éü")) == 3


LIMITS = {"conv2d": 7, "conv2d1": 5, "conv2d2": 7, "conv2d6": 11, "conv2d8": 15, "conv1d2": 5}


@pytest.mark.parametrize("layer", sorted(LIMITS))
def test_formula_matches_espnet_module(layer):
    from espnet.nets.pytorch_backend.transformer import subsampling as s

    cls = {"conv2d": s.Conv2dSubsampling, "conv2d1": s.Conv2dSubsampling1, "conv2d2": s.Conv2dSubsampling2,
           "conv2d6": s.Conv2dSubsampling6, "conv2d8": s.Conv2dSubsampling8, "conv1d2": s.Conv1dSubsampling2}[layer]
    torch.manual_seed(0)
    module = cls(20, 4, 0.0).eval()
    with torch.no_grad():
        for t in range(LIMITS[layer], 401):
            out, mask = module(torch.zeros(1, t, 20), torch.ones(1, 1, t, dtype=torch.bool))
            assert out.size(1) == mask.sum().item() == subsampled_length(layer, t), (layer, t)


def test_formula_matches_encoders():
    from espnet2.asr.encoder.transformer_encoder import TransformerEncoder

    from espnet_ext.asr.encoder.vgg_transformer_encoder import VGGTransformerEncoder

    torch.manual_seed(0)
    vgg = VGGTransformerEncoder(8, output_size=8, attention_heads=2, linear_units=8, num_blocks=1).eval()
    enc = TransformerEncoder(20, output_size=8, attention_heads=2, linear_units=8, num_blocks=1,
                             input_layer="conv2d8").eval()
    with torch.no_grad():
        for t in range(7, 401):
            _, olens, _ = vgg(torch.zeros(1, t, 8), torch.tensor([t]))
            assert olens.item() == subsampled_length("vgg2l", t), t
        for t in range(15, 401, 7):
            _, olens, _ = enc(torch.zeros(1, t, 20), torch.tensor([t]))
            assert olens.item() == subsampled_length("conv2d8", t), t
        # In a padded batch, a shorter utterance gets at least the formula's length (a lower bound).
        for t in range(15, 120, 5):
            _, olens, _ = enc(torch.zeros(2, 130, 20), torch.tensor([130, t]))
            assert olens[0].item() == subsampled_length("conv2d8", 130)
            assert olens[1].item() >= subsampled_length("conv2d8", t)
    assert subsampled_length("linear", 9) == subsampled_length(None, 9) == 9
    assert subsampled_length("conv2d8", 3) == 0
    assert set(SUBSAMPLING) >= {"conv2d", "conv2d1", "conv2d2", "conv2d6", "conv2d8", "linear", "embed", "vgg2l"}


def test_input_layer_from_config():
    assert input_layer_from_config({"encoder": "vgg_transformer", "encoder_conf": {"output_size": 8}}) == "vgg2l"
    assert input_layer_from_config({"encoder": "transformer", "encoder_conf": {"input_layer": "conv2d8"}}) == "conv2d8"
    assert input_layer_from_config({"encoder": "conformer"}) == "conv2d"
    assert input_layer_from_config({"encoder": "transformer", "encoder_conf": {"input_layer": None}}) == "none"
    with pytest.raises(ValueError, match="conv9"):
        input_layer_from_config({"encoder": "transformer", "encoder_conf": {"input_layer": "conv9"}})


def test_raw_audio_shapes(tmp_path):
    shape = write(tmp_path / "speech_shape", ["u1 16000"])
    frames, shift = read_frames(shape, {"frontend_conf": {"hop_length": 160, "n_fft": 400}})
    assert frames == {"u1": 16000 // 160 + 1} and shift == 10.0
    assert read_frames(shape)[0] == {"u1": raw_to_frames(16000, {})} == {"u1": 126}
    # utt2num_frames has one column but counts frames
    assert read_frames(write(tmp_path / "utt2num_frames", ["u1 50"]))[0] == {"u1": 50}


def make_set(tmp_path, name, frames_texts):
    d = tmp_path / name
    d.mkdir()
    shape = write(d / "speech_shape", [f"{u} {t},80" for u, (t, _) in frames_texts.items()])
    text = write(d / "text", [f"{u} {x}" for u, (_, x) in frames_texts.items()])
    return f"{name}={shape},{text}"


def test_failing_set_stops(tmp_path, token_list, capsys):
    # conv2d8: T=100 -> T'=11 < 14 chars; T=400 -> T'=49 >= 2.
    bad = make_set(tmp_path, "cs_train", {"utt1": (100, "abcdefghijklmn"), "utt2": (400, "ab")})
    good = make_set(tmp_path, "en_train", {"e1": (400, "hello world"), "e2": (200, "abc")})
    config = write(tmp_path / "train.yaml", ["encoder: transformer", "encoder_conf:", "    input_layer: conv2d8"])
    out = tmp_path / "report.json"
    argv = ["--config", str(config), "--token_type", "char", "--token_list", str(token_list),
            "--set", bad, "--set", good, "--out_json", str(out)]
    assert main(argv) == 1
    captured = capsys.readouterr()
    err = captured.err
    assert "ERROR: cs_train: 50.0 % of utterances (1/2) are too long for CTC with input_layer conv2d8" in err
    assert "(12.5 frames per second after subsampling at 10 ms shift)" in err
    assert "utt1 (T'=11 < 14 needed)" in err and "input_layer conv2d6" in err and "en_train" not in err
    assert "en_train: 2 utterances, 0 infeasible" in captured.out
    report = json.loads(out.read_text())
    assert report["sets"]["cs_train"]["infeasible"] == 1
    assert report["sets"]["cs_train"]["examples"][0] == {"utt": "utt1", "frames": 100, "sub_frames": 11,
                                                         "needed": 14, "ratio": round(14 / 11, 4)}
    assert report["sets"]["en_train"]["infeasible_share"] == 0.0
    # --threshold 1 never stops; --subsampling overrides the config.
    assert main(argv + ["--threshold", "1"]) == 0
    assert main(argv + ["--subsampling", "conv2d"]) == 0
    assert json.loads(out.read_text())["input_layer"] == "conv2d"


def test_passing_set_and_data_dir(tmp_path, capsys):
    d = tmp_path / "cs_test"
    d.mkdir()
    write(d / "utt2num_frames", ["a1 60", "a2 600"])
    write(d / "text", ["a1 aab", "a2 你好 world"])
    assert main(["--subsampling", "vgg2l", "--token_type", "char", "--set", f"cs_test={d}"]) == 0
    assert "cs_test: 2 utterances, 0 infeasible for CTC (0.0 %) with input_layer vgg2l" in capsys.readouterr().out


def test_mismatched_utterances_name_file_and_utt(tmp_path, capsys):
    shape = write(tmp_path / "speech_shape", ["u1 100,80", "u2 100,80"])
    text = write(tmp_path / "text", ["u1 ab", "u3 cd"])
    encode = make_encoder("char")
    with pytest.raises(DataDirError, match=r"text: no transcript for utterance 'u2'"):
        check_files("x", shape, text, "conv2d", encode)
    write(tmp_path / "text", ["u1 ab", "u2 cd", "u3 ef"])
    with pytest.raises(DataDirError, match=r"speech_shape: no shape for utterance 'u3'"):
        check_files("x", shape, text, "conv2d", encode)
    assert main(["--subsampling", "conv2d", "--token_type", "char", "--set", f"x={shape},{text}"]) == 1
    assert "no shape for utterance 'u3'" in capsys.readouterr().err
    assert main(["--subsampling", "conv2d", "--token_type", "char", "--set", f"x={shape},{text}",
                 "--set", f"x={shape},{text}"]) == 1
    assert "set name 'x' given twice" in capsys.readouterr().err
    write(tmp_path / "speech_shape", ["u1 1x,80"])
    with pytest.raises(DataDirError, match=r"speech_shape: utterance 'u1': '1x' is not an integer"):
        read_frames(shape)


def test_bpe_tokens(tmp_path):
    import sentencepiece as spm

    from espnet_ext.text.sentencepiece_vocab import train_sentencepiece

    text = write(tmp_path / "text", [f"u{i} {s}" for i, s in
                                     enumerate(["hello world", "hello there", "world peace", "peace out"] * 5)])
    model = train_sentencepiece([text], tmp_path / "spm", vocab_size=30)
    pieces = spm.SentencePieceProcessor(model_file=str(model)).encode("hello world", out_type=str)
    encode = make_encoder("bpe", model, tmp_path / "spm" / "tokens.txt")
    assert required_frames(encode("hello world")) == required_frames(pieces)
    shape = write(tmp_path / "speech_shape", [f"u{i} 400,80" for i in range(20)])
    report, _ = check_files("bpe_set", shape, text, "conv2d8", encode)
    assert len(report.checks) == 20 and report.share == 0.0
    with pytest.raises(ValueError, match="needs --bpemodel"):
        make_encoder("bpe")
