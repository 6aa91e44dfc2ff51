"""A pretrained multilingual LM (mBERT, distil-mBERT, XLM-R) as the ASR decoder: A2 Sec. 2.3, Fig. 3.

A2 (Adapt-and-Adjust, ICLR 2021 submission) makes distil-mBERT autoregressive and adds a cross-attention
over the encoder output to every layer; the embeddings and self-attention parameters are copied from the
pretrained model (Fig. 3, Algorithm 1 line 2).  This decoder (registered as ``pretrained_lm``):

* reads a LOCAL HuggingFace checkpoint directory (``PretrainedLMCheckpoint``; never downloads) and
  copies word/position/token-type embeddings, the embedding LayerNorm, and every layer's self-attention,
  feed-forward and LayerNorm weights into its own torch layers (``PretrainedLMDecoderLayer``);
* masks self-attention causally; the new cross-attention (eq. 15) and the optional Dual-Adapter after it
  (eq. 16) are described in ``pretrained_lm_layer``; when the encoder width differs from the LM width a
  linear projection maps the encoder output to the LM width once, before all layers;
* outputs over the ASR vocabulary (the SentencePiece token list shared with CTC), whose rows are
  initialised by vocabulary mapping (``espnet_ext.text.vocab_mapping``); by default the output layer is
  tied to the input embeddings through the LM's masked-LM head transform, as BERT's pretraining head;
* numbers positions 0, 1, ... from <sos> (RoBERTa-style models: from padding_idx + 1, as they were
  pretrained); every position uses token type 0 (a single segment);
* scores incrementally for beam search with per-layer self-attention key/value caches
  (``batch_score`` / ``score``, ESPnet's BatchScorerInterface); the logits of ``forward`` are what
  logit adjustment (Adjust-Train / Adjust-Inference) shifts.

``reload_pretrained_parameters`` restores every tensor derived from the checkpoint after ESPnet's
``--init`` re-initialisation (ESPnet's ``initialize`` calls it).
"""

import logging
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from espnet.nets.scorer_interface import BatchScorerInterface
from espnet2.asr.decoder.abs_decoder import AbsDecoder
from typeguard import typechecked

from espnet_ext.asr.adapters.adapter_options import AdapterOptions
from espnet_ext.asr.decoder.pretrained_lm_checkpoint import PretrainedLMCheckpoint
from espnet_ext.asr.decoder.pretrained_lm_layer import PretrainedLMDecoderLayer, activation_fn
from espnet_ext.text.vocab_mapping import VocabMapping, load_pretrained_tokenizer, map_vocabulary

logger = logging.getLogger(__name__)

# canonical checkpoint name (pretrained_lm_checkpoint) -> parameter of a decoder layer
_LAYER_PARAMS = {"q": "self_attn.q", "k": "self_attn.k", "v": "self_attn.v", "ao": "self_attn.out",
                 "aln": "self_ln", "fi": "ffn_in", "fo": "ffn_out", "oln": "ffn_ln"}


def _read_token_list(token_list: Union[str, List[str], None]) -> List[str]:
    if token_list is None:
        raise ValueError("decoder_conf.token_list is required by the pretrained_lm decoder (vocabulary mapping): "
                         "pass the recipe's token list, e.g. --decoder_conf token_list=<token_dir>/tokens.txt")
    if isinstance(token_list, str):
        try:
            with open(token_list, encoding="utf-8") as f:
                return [line.rstrip("\n").rstrip("\r") for line in f if line.strip()]
        except OSError as e:
            raise FileNotFoundError(f"decoder_conf.token_list: cannot read '{token_list}': {e}") from e
    return list(token_list)


class PretrainedLMDecoder(AbsDecoder, BatchScorerInterface):
    """Autoregressive BERT-family decoder with cross-attention, initialised from a local checkpoint.

    Args:
        vocab_size: ASR vocabulary size (ESPnet passes ``len(token_list)``).
        encoder_output_size: encoder width; projected to the LM width when they differ.
        pretrained_path: local HuggingFace checkpoint directory (config.json, weights, tokenizer).
        token_list: the ASR token list (file path or list) used for vocabulary mapping.
        num_blocks: use the first ``num_blocks`` pretrained layers (None: all).
        dropout_rate: dropout after sub-layers and embeddings (None: the pretrained config's).
        attention_dropout_rate: dropout on attention weights (None: the pretrained config's).
        cross_attention_heads: heads of the new cross-attention (None: the LM's heads).
        zero_init_cross_attention: start each cross-attention output projection at zero, so the decoder
            initially computes the pretrained LM.
        tie_output: output layer = the (mapped) input embedding matrix plus a bias; else a separate linear
            layer initialised from the same mapped rows.
        lm_head_transform: apply the masked-LM head transform (dense + activation + LayerNorm; copied when the
            checkpoint holds it, fresh otherwise) before the output layer.
        use_token_type: add the token-type-0 embedding (BERT, XLM-R; DistilBERT has none).
        vocab_fold_case: vocabulary mapping also tries lower-/title-cased pieces.
        vocab_compose: initialise unmatched pieces from the mean of their sub-token embeddings.
        languages: the language inventory (copied from model_conf.languages); needed with adapters.
        adapter_mode, adapter_bottleneck, adapter_groups, adapter_bottleneck_per_language, adapter_residual:
            the Dual-Adapter after the cross-attention of every layer (eq. 16): ``adapter_<x>`` is
            ``DualAdapter``'s argument ``x``; ``adapter_mode`` None (the default): no adapters.
    """

    @typechecked
    def __init__(
        self,
        vocab_size: int,
        encoder_output_size: int,
        pretrained_path: Optional[str] = None,
        token_list: Union[str, List[str], None] = None,
        num_blocks: Optional[int] = None,
        dropout_rate: Optional[float] = None,
        attention_dropout_rate: Optional[float] = None,
        cross_attention_heads: Optional[int] = None,
        zero_init_cross_attention: bool = True,
        tie_output: bool = True,
        lm_head_transform: bool = True,
        use_token_type: bool = True,
        vocab_fold_case: bool = True,
        vocab_compose: bool = True,
        languages: Optional[List[str]] = None,
        adapter_mode: Optional[str] = None,
        adapter_bottleneck: int = 64,
        adapter_groups: Optional[Dict[str, str]] = None,
        adapter_bottleneck_per_language: Optional[Dict[str, int]] = None,
        adapter_residual: str = "single",
    ):
        super().__init__()
        adapters = AdapterOptions.from_conf("decoder_conf", languages, adapter_mode, adapter_bottleneck,
                                            adapter_groups, adapter_bottleneck_per_language, adapter_residual)
        if not pretrained_path:
            raise ValueError("decoder_conf.pretrained_path is required: a local HuggingFace checkpoint directory "
                             "of a BERT / DistilBERT / XLM-R model (see docs/pretrained_decoder.md)")
        ckpt = PretrainedLMCheckpoint(pretrained_path)
        tokens = _read_token_list(token_list)
        if len(tokens) != vocab_size:
            raise ValueError(f"decoder_conf.token_list has {len(tokens)} tokens but the model's vocabulary has "
                             f"{vocab_size}: use the token list given to --token_list")
        n_layers = ckpt.num_layers if num_blocks is None else num_blocks
        if not 1 <= n_layers <= ckpt.num_layers:
            raise ValueError(f"decoder_conf.num_blocks={num_blocks}: the pretrained LM at '{ckpt.path}' has "
                             f"{ckpt.num_layers} layers")
        d = ckpt.hidden_size
        dropout = ckpt.hidden_dropout if dropout_rate is None else dropout_rate
        att_dropout = ckpt.attention_dropout if attention_dropout_rate is None else attention_dropout_rate
        self.vocab_size, self.hidden_size = vocab_size, d
        self.position_offset = ckpt.position_offset
        self.pretrained_path = str(ckpt.path)
        self.tie_output = tie_output

        # ---- embeddings: word (mapped ASR vocabulary) + position + token type 0, LayerNorm, dropout ----
        self.word_embed = torch.nn.Embedding(vocab_size, d)
        self.position_embed = torch.nn.Embedding(ckpt.tensors["emb.pos.weight"].shape[0], d)
        has_type = use_token_type and "emb.type.weight" in ckpt.tensors
        self.token_type = torch.nn.Parameter(torch.zeros(d)) if has_type else None
        self.embed_ln = torch.nn.LayerNorm(d, eps=ckpt.layer_norm_eps)
        self.embed_drop = torch.nn.Dropout(dropout)
        self.memory_proj = torch.nn.Linear(encoder_output_size, d) if encoder_output_size != d else None

        # The layers are built here, not by ESPnet, so the adapter goes in through the constructor (eq. 16)
        # rather than by wrapping; each layer's adapter is built just before the layer, as a fixed seed expects.
        self.layers = torch.nn.ModuleList([
            PretrainedLMDecoderLayer(d, ckpt.num_heads, ckpt.intermediate_size, ckpt.activation, ckpt.layer_norm_eps,
                                     dropout, att_dropout, cross_attention_heads or ckpt.num_heads,
                                     zero_init_cross_attention, None if adapters is None else adapters.new_adapter(d))
            for _ in range(n_layers)])

        # ---- output: [masked-LM head transform] -> tied embedding matrix + bias, or a linear layer ----
        self.head_act = activation_fn(ckpt.activation)
        self.head_dense = torch.nn.Linear(d, d) if lm_head_transform else None
        self.head_ln = torch.nn.LayerNorm(d, eps=ckpt.layer_norm_eps) if lm_head_transform else None
        self.output_bias = torch.nn.Parameter(torch.zeros(vocab_size)) if tie_output else None
        self.output_layer = None if tie_output else torch.nn.Linear(d, vocab_size)

        self._max_position = self.position_embed.num_embeddings - 1
        self._warned_positions = False
        self._kv_memo: Optional[tuple] = None
        self._pretrained_init: Dict[str, torch.Tensor] = {}
        self.vocab_mapping = self._copy_pretrained(ckpt, tokens, vocab_fold_case, vocab_compose)
        logger.info("pretrained_lm decoder: %s; %d of its layers; vocabulary mapping %s", ckpt.describe(),
                    n_layers, self.vocab_mapping.coverage())

    # ------------------------------------------------------------------ initialisation
    def _assign(self, name: str, value: torch.Tensor) -> None:
        param = dict(self.named_parameters())[name]
        if param.shape != value.shape:
            raise ValueError(f"pretrained LM '{self.pretrained_path}': tensor for {name} has shape "
                             f"{tuple(value.shape)}, the decoder expects {tuple(param.shape)}")
        with torch.no_grad():
            param.copy_(value)
        self._pretrained_init[name] = value.detach().clone()

    def _copy_pretrained(self, ckpt: PretrainedLMCheckpoint, tokens: List[str], fold_case: bool,
                         compose: bool) -> VocabMapping:
        t = ckpt.tensors
        tokenizer = load_pretrained_tokenizer(str(ckpt.path))
        mapping = map_vocabulary(tokens, tokenizer, fold_case=fold_case, compose=compose,
                                 max_pretrained_id=ckpt.vocab_size)
        # Deterministic fresh rows: the same decoder initialisation for the same checkpoint and token list.
        gen = torch.Generator().manual_seed(0)
        rows = mapping.embedding_rows(t["emb.word.weight"], ckpt.initializer_range, generator=gen)
        self._assign("word_embed.weight", rows)
        self._assign("position_embed.weight", t["emb.pos.weight"])
        if self.token_type is not None:
            self._assign("token_type", t["emb.type.weight"][0])
        self._assign("embed_ln.weight", t["emb.ln.weight"])
        self._assign("embed_ln.bias", t["emb.ln.bias"])
        for i in range(len(self.layers)):
            for src, dst in _LAYER_PARAMS.items():
                for p in ("weight", "bias"):
                    self._assign(f"layers.{i}.{dst}.{p}", t[f"l{i}.{src}.{p}"])
        if self.head_dense is not None and "head.dense.weight" in t:
            for p in ("weight", "bias"):
                self._assign(f"head_dense.{p}", t[f"head.dense.{p}"])
                self._assign(f"head_ln.{p}", t[f"head.ln.{p}"])
        bias = mapping.vector_entries(t["head.bias"]) if "head.bias" in t else torch.zeros(self.vocab_size)
        if self.tie_output:
            self._assign("output_bias", bias)
        else:
            self._assign("output_layer.weight", rows)
            self._assign("output_layer.bias", bias)
        return mapping

    def reload_pretrained_parameters(self) -> None:
        """Restore the checkpoint-derived tensors (ESPnet's ``initialize`` calls this after ``--init``)."""
        params = dict(self.named_parameters())
        with torch.no_grad():
            for name, value in self._pretrained_init.items():
                params[name].copy_(value)
        logger.info("pretrained_lm decoder: restored %d tensors from %s", len(self._pretrained_init),
                    self.pretrained_path)

    def pretrained_parameter_names(self) -> List[str]:
        """Names of the parameters initialised from the checkpoint (all others are new)."""
        return list(self._pretrained_init)

    # ------------------------------------------------------------------ building blocks
    def _embed(self, ys: torch.Tensor, start: int) -> torch.Tensor:
        """ys (B, L) token ids at positions start .. start+L-1 -> (B, L, D)."""
        pos = torch.arange(start, start + ys.shape[1], device=ys.device) + self.position_offset
        if int(pos[-1]) > self._max_position:
            # Longer than the pretrained position table: reuse its last row (documented; warn once).
            if not self._warned_positions:
                logger.warning("pretrained_lm decoder: sequence of %d tokens exceeds the %d pretrained positions; "
                               "later positions reuse the last one", start + ys.shape[1],
                               self._max_position + 1 - self.position_offset)
                self._warned_positions = True
            pos = pos.clamp(max=self._max_position)
        x = self.word_embed(ys) + self.position_embed(pos)[None]
        if self.token_type is not None:
            x = x + self.token_type
        return self.embed_drop(self.embed_ln(x))

    def _memory(self, memory: torch.Tensor) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """Per-layer cross-attention keys/values of the encoder output (B, T, D_enc)."""
        # Beam search scores every hypothesis against the same encoder output expanded over the batch
        # (stride 0): project it once and expand the keys/values.
        expanded = memory.shape[0] > 1 and memory.stride(0) == 0
        src = memory[:1] if expanded else memory
        if self.memory_proj is not None:
            src = self.memory_proj(src)
        kv = [layer.memory_kv(src) for layer in self.layers]
        if expanded:
            b = memory.shape[0]
            kv = [(k.expand(b, *k.shape[1:]), v.expand(b, *v.shape[1:])) for k, v in kv]
        return kv

    def _memory_cached(self, memory: torch.Tensor) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """``_memory`` memoised over the beam-search steps of one utterance (no-grad decoding only)."""
        if torch.is_grad_enabled():
            return self._memory(memory)
        base = memory._base if memory._base is not None else memory
        weights = [p._version for layer in self.layers for p in (layer.cross_attn.k.weight, layer.cross_attn.v.weight)]
        if self.memory_proj is not None:
            weights.append(self.memory_proj.weight._version)
        key = (tuple(memory.shape), memory.stride(), memory.storage_offset(), base._version, tuple(weights))
        memo = self._kv_memo
        if memo is not None and memo[0] is base and memo[1] == key:
            return memo[2]
        kv = self._memory(memory)
        self._kv_memo = (base, key, kv)  # holds ``base``: its identity cannot be reused while memoised
        return kv

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        if self.head_dense is not None:
            h = self.head_ln(self.head_act(self.head_dense(h)))
        if self.tie_output:
            return F.linear(h, self.word_embed.weight, self.output_bias)
        return self.output_layer(h)

    # ------------------------------------------------------------------ AbsDecoder
    def forward(self, hs_pad: torch.Tensor, hlens: torch.Tensor, ys_in_pad: torch.Tensor,
                ys_in_lens: torch.Tensor, return_hs: bool = False):
        """Teacher-forced decoding.

        Args:
            hs_pad: encoder output (B, T, D_enc); hlens: (B,) valid lengths.
            ys_in_pad: <sos>-prefixed token ids (B, L); ys_in_lens: (B,).
            return_hs: also return the last hidden states (B, L, D).
        Returns:
            logits (B, L, V) (or (logits, hidden)), and ys_in_lens.
        """
        # Causal masking alone suffices: a valid position never sees the padding after it.
        mask = (torch.arange(hs_pad.shape[1], device=hs_pad.device)[None] < hlens[:, None])[:, None, None]  # (B,1,1,T)
        kv = self._memory(hs_pad)
        x = self._embed(ys_in_pad, 0)
        for layer, layer_kv in zip(self.layers, kv):
            x, _ = layer(x, layer_kv, mask)
        logits = self._logits(x)
        return ((logits, x) if return_hs else logits), ys_in_lens

    def forward_one_step(self, tgt: torch.Tensor, tgt_mask: Optional[torch.Tensor], memory: torch.Tensor,
                         memory_mask: Optional[torch.Tensor] = None, *, cache: Optional[List[torch.Tensor]] = None,
                         return_hs: bool = False):
        """Log-probabilities of the next token after the prefixes ``tgt`` (B, L).

        ``cache`` holds per layer the self-attention keys/values (B, 2, H, t, dh) of the first t positions;
        only positions t .. L-1 are computed.  ``tgt_mask`` is accepted for ESPnet's signature; causality is
        built in.  ``memory_mask`` (B, 1, T) masks padded encoder frames (None in beam search).
        """
        start = 0 if cache is None else cache[0].shape[3]
        if start >= tgt.shape[1]:
            raise ValueError(f"forward_one_step: the cache covers {start} positions but the prefix has {tgt.shape[1]}")
        mask = None if memory_mask is None else memory_mask.bool()[:, None]  # (B, 1, 1, T)
        kv = self._memory_cached(memory)
        x = self._embed(tgt[:, start:], start)
        new_cache = []
        for i, layer in enumerate(self.layers):
            x, c = layer(x, kv[i], mask, None if cache is None else cache[i])
            new_cache.append(c)
        h = x[:, -1]
        logp = torch.log_softmax(self._logits(h), dim=-1)
        return ((logp, h) if return_hs else logp), new_cache

    # ------------------------------------------------------------------ scorer interface
    def init_state(self, x: torch.Tensor) -> Any:
        self._kv_memo = None  # a new utterance
        return None

    def batch_init_state(self, x: torch.Tensor) -> Any:
        self._kv_memo = None
        return None

    def score(self, ys: torch.Tensor, state: Any, x: torch.Tensor, return_hs: bool = False):
        """One hypothesis: ys (L,), state = per-layer caches (2, H, L-1, dh) or None, x (T, D_enc)."""
        cache = None if state is None else [c.unsqueeze(0) for c in state]
        out, new = self.forward_one_step(ys.unsqueeze(0), None, x.unsqueeze(0), cache=cache, return_hs=return_hs)
        new_state = [c.squeeze(0) for c in new]
        if return_hs:
            return out[0].squeeze(0), out[1].squeeze(0), new_state
        return out.squeeze(0), new_state

    def batch_score(self, ys: torch.Tensor, states: List[Any], xs: torch.Tensor, return_hs: bool = False):
        """ys (n, L) prefixes, states: per hypothesis a list of per-layer caches (or None), xs (n, T, D_enc).

        Returns (n, V) log-probabilities (with ``return_hs``: (log-probabilities, (n, D) hidden states)) and the
        new per-hypothesis states.
        """
        n_layers = len(self.layers)
        cache = None if states[0] is None else [torch.stack([s[i] for s in states]) for i in range(n_layers)]
        out, new = self.forward_one_step(ys, None, xs, cache=cache, return_hs=return_hs)
        state_list = [[new[i][b] for i in range(n_layers)] for b in range(len(ys))]
        return out, state_list
