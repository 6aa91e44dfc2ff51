"""Models trained before the shared adapter options / layer wrapping (issue 18) still load and compute the same.

The four language-conditioned classes are built with adapters (the LID encoder with its per-layer language
vectors) from a fixed seed.  Their state_dict keys, in order, must equal the lists below, and their forward
outputs the reference in ``tests/fixtures/adapter_layers_reference.json``: both were captured from the code
before the change (main at a03fcda) with ``python tests/asr/test_adapter_layers_compat.py --capture OUT``.
The pretrained-LM decoder's checkpoint-derived tensors are overwritten with seeded values first, so the
reference does not depend on how ``transformers`` initialises the tiny checkpoint.
"""

import json
import sys
from pathlib import Path

import pytest
import torch

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "adapter_layers_reference.json"
LANGS = ["en", "fr", "zh"]
TOKENS = ["<blank>", "<unk>"] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["<sos/eos>"]
SMALL = dict(attention_heads=2, linear_units=24, num_blocks=2, concat_after=True)

# Per-layer keys of the ESPnet transformer layers, shared by the three ESPnet-based cases below.
_ENC_LAYER = ("self_attn.linear_q.weight self_attn.linear_q.bias self_attn.linear_k.weight self_attn.linear_k.bias "
              "self_attn.linear_v.weight self_attn.linear_v.bias self_attn.linear_out.weight "
              "self_attn.linear_out.bias feed_forward.w_1.weight feed_forward.w_1.bias feed_forward.w_2.weight "
              "feed_forward.w_2.bias norm1.weight norm1.bias norm2.weight norm2.bias concat_linear.weight "
              "concat_linear.bias").split()
_ADAPTER = ("norm.weight", "norm.bias", "down.weight", "down.bias", "up.weight", "up.bias")  # one eq. 4 adapter


def _layer_keys(prefix: str, layer: list, extra: list) -> list:
    return [f"{prefix}.{i}.{k}" for i in range(2) for k in layer + extra]


# state_dict keys captured on main (a03fcda); written out per layer so a renamed parameter shows at once.
EXPECTED_KEYS = {
    "adapter_encoder": ["embed.0.weight", "embed.0.bias", "embed.1.weight", "embed.1.bias"] + _layer_keys(
        "encoders", _ENC_LAYER,
        [f"adapter.lang_adapters.{s}.{p}" for s in ("latin", "han") for p in _ADAPTER]
        + [f"adapter.common.{p}" for p in _ADAPTER]) + ["after_norm.weight", "after_norm.bias"],
    "lid_encoder": ["embed.0.weight", "embed.0.bias", "embed.1.weight", "embed.1.bias"] + _layer_keys(
        "encoders", _ENC_LAYER, ["language_bias.weight"]) + ["after_norm.weight", "after_norm.bias"],
    "adapter_decoder": ["embed.0.weight", "after_norm.weight", "after_norm.bias", "output_layer.weight",
                        "output_layer.bias"] + _layer_keys(
        "decoders",
        ("self_attn.linear_q.weight self_attn.linear_q.bias self_attn.linear_k.weight self_attn.linear_k.bias "
         "self_attn.linear_v.weight self_attn.linear_v.bias self_attn.linear_out.weight self_attn.linear_out.bias "
         "src_attn.linear_q.weight src_attn.linear_q.bias src_attn.linear_k.weight src_attn.linear_k.bias "
         "src_attn.linear_v.weight src_attn.linear_v.bias src_attn.linear_out.weight src_attn.linear_out.bias "
         "feed_forward.w_1.weight feed_forward.w_1.bias feed_forward.w_2.weight feed_forward.w_2.bias "
         "norm1.weight norm1.bias norm2.weight norm2.bias norm3.weight norm3.bias concat_linear1.weight "
         "concat_linear1.bias concat_linear2.weight concat_linear2.bias").split(),
        [f"adapter.lang_adapters.{s}.{p}" for s in LANGS for p in _ADAPTER]),
    "pretrained_lm_decoder": [
        "token_type", "output_bias", "word_embed.weight", "position_embed.weight", "embed_ln.weight", "embed_ln.bias",
        "memory_proj.weight", "memory_proj.bias"] + _layer_keys(
        "layers",
        ("self_attn.q.weight self_attn.q.bias self_attn.k.weight self_attn.k.bias self_attn.v.weight "
         "self_attn.v.bias self_attn.out.weight self_attn.out.bias self_ln.weight self_ln.bias cross_ln.weight "
         "cross_ln.bias cross_attn.q.weight cross_attn.q.bias cross_attn.k.weight cross_attn.k.bias "
         "cross_attn.v.weight cross_attn.v.bias cross_attn.out.weight cross_attn.out.bias").split()
        + [f"adapter.{a}.{p}" for a in ("lang_adapters.en", "lang_adapters.fr", "lang_adapters.zh", "common")
           for p in _ADAPTER],
        "ffn_in.weight ffn_in.bias ffn_out.weight ffn_out.bias ffn_ln.weight ffn_ln.bias".split())
    + ["head_dense.weight", "head_dense.bias", "head_ln.weight", "head_ln.bias"],
}


def _set_language(module: torch.nn.Module, ids) -> None:
    from espnet_ext.asr.language_conditioning import LanguageConditioned

    for m in module.modules():
        if isinstance(m, LanguageConditioned):
            m.set_language(torch.tensor(ids))


def _overwrite(module: torch.nn.Module, names, seed: int) -> None:
    """Seeded values for the named parameters (fresh adapters are the identity; checkpoint tensors vary)."""
    g = torch.Generator().manual_seed(seed)
    params = dict(module.named_parameters())
    with torch.no_grad():
        for name in names:
            params[name].copy_(torch.randn(params[name].shape, generator=g) * 0.3)


def _conditioning(module: torch.nn.Module) -> list:
    return [n for n, _ in module.named_parameters() if ".adapter." in n or ".language_bias." in n]


def _from_checkpoint(module: torch.nn.Module) -> list:
    return list(getattr(module, "pretrained_parameter_names", list)())


def build_case(name: str, lm_dir: Path) -> torch.nn.Module:
    """One class with adapters (or language vectors) as built from seed 0."""
    torch.manual_seed(0)
    if name == "adapter_encoder":  # groups, a per-group bottleneck (grouped routing), concat_after
        from espnet_ext.asr.encoder.adapter_transformer_encoder import AdapterTransformerEncoder

        groups = {"en": "latin", "fr": "latin", "zh": "han"}
        return AdapterTransformerEncoder(8, output_size=16, input_layer="linear", languages=LANGS,
                                         adapter_bottleneck=4, adapter_groups=groups,
                                         adapter_bottleneck_per_language={"han": 6}, **SMALL)
    if name == "lid_encoder":
        from espnet_ext.asr.encoder.lid_transformer_encoder import LIDTransformerEncoder

        return LIDTransformerEncoder(8, output_size=16, input_layer="linear", languages=LANGS, **SMALL)
    if name == "adapter_decoder":  # language-specific adapters only (gathered routing), literal residual
        from espnet_ext.asr.decoder.adapter_transformer_decoder import AdapterTransformerDecoder

        return AdapterTransformerDecoder(len(TOKENS), 16, languages=LANGS, adapter_mode="lang",
                                         adapter_bottleneck=4, adapter_residual="per_adapter", **SMALL)
    from espnet_ext.asr.decoder.pretrained_lm_decoder import PretrainedLMDecoder
    from tests.pretrained_lm_fixtures import ASR_TOKENS

    return PretrainedLMDecoder(len(ASR_TOKENS), 24, pretrained_path=str(lm_dir), token_list=ASR_TOKENS,
                               languages=LANGS, adapter_mode="dual", adapter_bottleneck=4,
                               adapter_residual="per_adapter")


def init_digest(m: torch.nn.Module) -> dict:
    """Position-weighted sum of every seeded initial parameter (not those copied from the LM checkpoint).

    Fresh adapters are the identity whatever their down-projection, so the forward output alone would not
    show adapters initialised from another point of the RNG stream; this does.
    """
    skip = set(_from_checkpoint(m))
    return {n: float((p.detach().double().flatten() * torch.arange(1, p.numel() + 1, dtype=torch.double)).sum())
            for n, p in m.named_parameters() if n not in skip}


def run_case(name: str, m: torch.nn.Module) -> torch.Tensor:
    """Forward output on seeded inputs, after seeded values for the adapters and the checkpoint tensors."""
    _overwrite(m, _from_checkpoint(m), seed=2)
    _overwrite(m, _conditioning(m), seed=1)
    m.eval()
    g = torch.Generator().manual_seed(3)
    _set_language(m, [2, 0])  # a mixed-language batch
    with torch.no_grad():
        if name.endswith("encoder"):
            return m(torch.randn(2, 7, 8, generator=g), torch.tensor([7, 5]))[0]
        vocab, width = (len(TOKENS), 16) if name == "adapter_decoder" else (16, 24)
        ys = torch.randint(2, vocab - 1, (2, 4), generator=g)
        return m(torch.randn(2, 6, width, generator=g), torch.tensor([6, 4]), ys, torch.tensor([4, 3]))[0]


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory):
    from tests.pretrained_lm_fixtures import make_bert_dir

    return make_bert_dir(tmp_path_factory.mktemp("plm") / "bert")


@pytest.fixture(scope="module")
def reference():
    return json.loads(REFERENCE.read_text())


@pytest.mark.parametrize("name", list(EXPECTED_KEYS))
def test_state_dict_keys_are_those_of_trained_models(name, lm_dir):
    assert list(build_case(name, lm_dir).state_dict()) == EXPECTED_KEYS[name]


@pytest.mark.parametrize("name", list(EXPECTED_KEYS))
def test_seeded_initialisation_equals_the_reference_captured_before(name, lm_dir, reference):
    digest, expected = init_digest(build_case(name, lm_dir)), reference[name]["init"]
    assert list(digest) == list(expected)
    for param, value in expected.items():
        assert digest[param] == pytest.approx(value, rel=1e-9, abs=1e-9), param


@pytest.mark.parametrize("name", list(EXPECTED_KEYS))
def test_forward_output_equals_the_reference_captured_before(name, lm_dir, reference):
    out = run_case(name, build_case(name, lm_dir))
    expected = torch.tensor(reference[name]["output"])
    assert out.shape == expected.shape
    assert torch.allclose(out, expected, atol=1e-5, rtol=1e-5)


CONF_KEYS = {"adapter_encoder": "encoder_conf", "adapter_decoder": "decoder_conf",
             "pretrained_lm_decoder": "decoder_conf"}


def _classes():
    from espnet_ext.asr.decoder.adapter_transformer_decoder import AdapterTransformerDecoder
    from espnet_ext.asr.decoder.pretrained_lm_decoder import PretrainedLMDecoder
    from espnet_ext.asr.encoder.adapter_transformer_encoder import AdapterTransformerEncoder

    return {"adapter_encoder": AdapterTransformerEncoder, "adapter_decoder": AdapterTransformerDecoder,
            "pretrained_lm_decoder": PretrainedLMDecoder}


@pytest.mark.parametrize("name", list(CONF_KEYS))
def test_every_adapter_option_is_a_constructor_argument_with_the_options_default(name):
    """The flat conf keys (``languages``, ``adapter_<field>``) stay in each signature, defaults as AdapterOptions'."""
    import dataclasses
    import inspect

    from espnet_ext.asr.adapters.adapter_options import AdapterOptions

    params = inspect.signature(_classes()[name].__init__).parameters
    assert params["languages"].default is None
    for field in dataclasses.fields(AdapterOptions)[1:]:
        default = params[f"adapter_{field.name}"].default
        # the pretrained-LM decoder has no adapters unless asked (adapter_mode None)
        assert default == (None if (name, field.name) == ("pretrained_lm_decoder", "mode") else field.default)


@pytest.mark.parametrize("name", [*CONF_KEYS, "lid_encoder"])
def test_no_language_inventory_names_the_conf_to_fix(name):
    from espnet_ext.asr.encoder.lid_transformer_encoder import LIDTransformerEncoder

    cls = {**_classes(), "lid_encoder": LIDTransformerEncoder}[name]
    args = (len(TOKENS), 16) if name.endswith("decoder") else (8,)
    conf = CONF_KEYS.get(name, "encoder_conf")
    with pytest.raises(ValueError, match=rf"{conf}\.languages is empty: set model_conf\.languages"):
        cls(*args, **({} if name == "lid_encoder" else {"adapter_mode": "dual"}))


if __name__ == "__main__":  # --capture OUT.json: run against the code to be kept (PYTHONPATH=<that checkout>)
    import tempfile

    from tests.pretrained_lm_fixtures import make_bert_dir

    assert sys.argv[1] == "--capture"
    captured, keys = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        bert = make_bert_dir(Path(tmp) / "bert")
        for case in EXPECTED_KEYS:
            model = build_case(case, bert)
            keys[case] = list(model.state_dict())
            captured[case] = {"init": init_digest(model), "output": run_case(case, model).tolist()}
    Path(sys.argv[2]).write_text(json.dumps(captured, indent=1))
    Path(sys.argv[2]).with_suffix(".keys.json").write_text(json.dumps(keys, indent=0))
