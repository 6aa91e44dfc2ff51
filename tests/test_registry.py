import multiprocessing

import pytest
import torch

import espnet_ext  # noqa: F401
from espnet2.asr.encoder.abs_encoder import AbsEncoder
from espnet_ext import registry


class _DummyEncoder(AbsEncoder):
    def output_size(self) -> int:
        return 4

    def forward(self, xs_pad, ilens, prev_states=None):
        return xs_pad, ilens, None


class _OtherEncoder(_DummyEncoder):
    pass


@pytest.fixture
def cleanup():
    names = []
    yield names
    for kind, name in names:
        registry.choices_for(kind).classes.pop(name, None)


def test_plugins_are_registered_in_espnet_choices():
    from espnet2.tasks.asr import model_choices

    from espnet_ext.asr.multilingual_model import MultilingualASRModel

    assert model_choices.get_class("multilingual") is MultilingualASRModel
    for kind, name, path in registry.PLUGINS:
        assert registry.registered(kind)[name].__name__ == path.split(":")[1]


def test_register_and_idempotent_reregister(cleanup):
    cleanup.append(("asr.encoder", "dummy_enc"))
    registry.register("asr.encoder", "dummy_enc", _DummyEncoder)
    registry.register("asr.encoder", "dummy_enc", _DummyEncoder)  # same class: no error (re-import)
    from espnet2.tasks.asr import encoder_choices

    assert encoder_choices.get_class("dummy_enc") is _DummyEncoder


def test_duplicate_name_is_rejected(cleanup):
    cleanup.append(("asr.encoder", "dummy_enc2"))
    registry.register("asr.encoder", "dummy_enc2", _DummyEncoder)
    with pytest.raises(ValueError, match="Duplicate asr.encoder name 'dummy_enc2'"):
        registry.register("asr.encoder", "dummy_enc2", _OtherEncoder)
    with pytest.raises(ValueError, match="Duplicate asr.encoder name 'transformer'"):
        registry.register("asr.encoder", "transformer", _DummyEncoder)


def test_wrong_base_class_is_rejected():
    with pytest.raises(TypeError, match="must subclass espnet2.asr.decoder.abs_decoder.AbsDecoder"):
        registry.register("asr.decoder", "not_a_decoder", _DummyEncoder)
    with pytest.raises(TypeError, match="must subclass"):
        registry.register("asr.model", "plain_module", torch.nn.Module)


def test_unknown_kind():
    with pytest.raises(ValueError, match="Unknown plugin kind 'asr.vocoder'"):
        registry.register("asr.vocoder", "x", _DummyEncoder)


def _child_sees_plugins(queue):
    # A spawned DDP worker starts from a fresh interpreter: espnet_ext first, ESPnet afterwards.
    import espnet_ext  # noqa: F401
    from espnet2.tasks.asr import ASRTask, model_choices

    parser = ASRTask.get_parser()
    args = parser.parse_args(["--model", "multilingual", "--output_dir", "x"])
    queue.put((sorted(model_choices.classes), args.model))


@pytest.mark.slow
def test_registration_visible_in_spawned_process():
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    p = ctx.Process(target=_child_sees_plugins, args=(queue,))
    p.start()
    names, chosen = queue.get(timeout=240)
    p.join(60)
    assert p.exitcode == 0
    assert "multilingual" in names and chosen == "multilingual"


# ---- issue 17: ESPnet's "--X must be one of" error gets espnet_ext's hint in espnet_ext's entry points ----

def _dry_run_train(tmp_path, capsys, conf: dict) -> str:
    """The error ``python -m espnet_ext.bin.asr_train`` prints (espnet_ext.utils.cli: ``ERROR: <message>``, exit 1)."""
    import yaml

    from espnet_ext.bin import asr_train

    (tmp_path / "tokens.txt").write_text("<blank>\n<unk>\na\n<sos/eos>\n")
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(conf))
    capsys.readouterr()
    assert asr_train.main(cmd=["--dry_run", "true", "--iterator_type", "none", "--config",
                               str(tmp_path / "train.yaml"), "--output_dir", str(tmp_path / "exp"), "--token_list",
                               str(tmp_path / "tokens.txt"), "--token_type", "char", "--input_size", "8"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("ERROR: ") == 1, err
    return err[err.index("ERROR: ") + len("ERROR: "):].rstrip("\n")


TINY = {"frontend": None, "normalize": None, "encoder": "transformer",
        "encoder_conf": {"output_size": 8, "attention_heads": 2, "linear_units": 8, "num_blocks": 1,
                         "input_layer": "linear"},
        "decoder": "transformer", "decoder_conf": {"attention_heads": 2, "linear_units": 8, "num_blocks": 1}}


def test_unregistered_espnet_ext_class_in_config_gets_import_hint(tmp_path, capsys):
    """As if ESPnet had been reached without ``import espnet_ext``: the config's model is not registered."""
    from espnet2.tasks.asr import model_choices

    saved = model_choices.classes.pop("multilingual")
    try:
        message = _dry_run_train(tmp_path, capsys, dict(TINY, model="multilingual", model_conf={"languages": ["en"]}))
    finally:
        model_choices.classes["multilingual"] = saved
    assert message.startswith("--model must be one of")
    assert ("\nHint: 'multilingual' is espnet_ext's model class espnet_ext.asr.multilingual_model:"
            "MultilingualASRModel, but espnet_ext's plugins are not registered in this process. Run espnet_ext's "
            "entry points (python -m espnet_ext.bin.asr_train, python -m espnet_ext.bin.asr_inference)") in message


def test_espnet_ext_class_under_the_wrong_option_gets_a_hint(tmp_path, capsys):
    assert _dry_run_train(tmp_path, capsys, dict(TINY, encoder="pretrained_lm")).endswith(
        "\nHint: 'pretrained_lm' is an espnet_ext decoder class (espnet_ext.asr.decoder.pretrained_lm_decoder:"
        "PretrainedLMDecoder), not a choice for --encoder: give it as 'decoder: pretrained_lm' in the config")


def test_plugin_hint_lists_espnet_ext_classes_for_a_typo():
    assert registry.plugin_hint("--encoder must be one of ('transformer',): --encoder adapter_transfomer") == (
        "espnet_ext adds these encoder classes: adapter_transformer, lid_transformer, vgg_transformer")
    assert registry.plugin_hint("some other error") is None
