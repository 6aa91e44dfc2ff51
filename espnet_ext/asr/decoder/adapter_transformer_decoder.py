"""ESPnet's transformer decoder with A2 Dual-Adapters after cross-attention (A2 Appendix B, eqs. 14-16).

A2 (Adapt-and-Adjust, ICLR 2021 submission), decoder layer l with input h^{l-1}:

    o1    = SelfAttn(LayerNorm(h^{l-1})) + h^{l-1}                                       (eq. 14)
    o2    = CrossAttn(h_enc, LayerNorm(o1)) + o1                                         (eq. 15)
    h^l   = FeedForward(Adapter(LayerNorm(o2)) + o2)                                     (eq. 16)

As in the encoder (see ``adapter_transformer_encoder``), the LayerNorm of eq. 16 is the adapter's own
(eq. 4) and the residual is counted once: ``o2' = o2 + Δ_lang(o2) + Δ_com(o2)``, then ESPnet's
feed-forward sub-layer.  The adapter is position-wise, so cached incremental decoding (``forward_one_step``
/ ``batch_score`` inherited from ESPnet) applies it to the newest position only and caches its output with
the layer's; in beam search the utterance's single language id is broadcast over the hypotheses
(``LanguageConditioned.lang_ids_for``).
"""

from typing import Dict, List, Optional

import torch
from espnet.nets.pytorch_backend.transformer.decoder_layer import DecoderLayer
from espnet2.asr.decoder.transformer_decoder import TransformerDecoder
from typeguard import typechecked

from espnet_ext.asr.adapters.adapter_options import AdapterOptions
from espnet_ext.asr.adapters.dual_adapter import DualAdapter
from espnet_ext.asr.layer_wrapping import adopt_submodules, wrap_layers


class _AdapterDecoderLayer(DecoderLayer):
    """An ESPnet ``DecoderLayer`` (taking over the sub-modules of ``layer``) with a DualAdapter (eq. 16)."""

    def __init__(self, layer: DecoderLayer, adapter: DualAdapter):
        super().__init__(layer.size, layer.self_attn, layer.src_attn, layer.feed_forward, layer.dropout.p,
                         layer.normalize_before, layer.concat_after)
        adopt_submodules(self, layer)
        self.adapter = adapter

    def forward(self, tgt: torch.Tensor, tgt_mask: Optional[torch.Tensor], memory: torch.Tensor,
                memory_mask: Optional[torch.Tensor], cache: Optional[torch.Tensor] = None):
        """tgt (B, L, D), memory (B, T, D) -> (B, L, D) and the masks; with ``cache`` (B, L-1, D) only the
        last position is computed and appended to the cache."""
        nb = self.normalize_before
        # eq. 14: o1 = SelfAttn(LayerNorm(h)) + h
        residual = tgt
        t = self.norm1(tgt) if nb else tgt
        q, q_mask = t, tgt_mask
        if cache is not None:
            q, residual = t[:, -1:, :], residual[:, -1:, :]
            q_mask = None if tgt_mask is None else tgt_mask[:, -1:, :]
        att = self.self_attn(q, t, t, q_mask)
        x = residual + (self.concat_linear1(torch.cat((q, att), dim=-1)) if self.concat_after
                        else self.dropout(att))
        if not nb:
            x = self.norm1(x)

        # eq. 15: o2 = CrossAttn(h_enc, LayerNorm(o1)) + o1
        y = self.norm2(x) if nb else x
        att = self.src_attn(y, memory, memory, memory_mask)
        x = x + (self.concat_linear2(torch.cat((y, att), dim=-1)) if self.concat_after else self.dropout(att))
        if not nb:
            x = self.norm2(x)

        # eq. 16: h = FeedForward(Adapter(LayerNorm(o2)) + o2)
        x = self.adapter(x)
        y = self.norm3(x) if nb else x
        x = x + self.dropout(self.feed_forward(y))
        if not nb:
            x = self.norm3(x)

        if cache is not None:
            x = torch.cat([cache, x], dim=1)
        return x, tgt_mask, memory, memory_mask

    def forward_partially_AR(self, *args, **kwargs):
        raise NotImplementedError("partially autoregressive decoding (Mask-CTC) is not implemented for the "
                                  "adapter transformer decoder; use the standard (batch) beam search")


class AdapterTransformerDecoder(TransformerDecoder):
    """Transformer decoder with language-routed adapters in every layer (registered as ``adapter_transformer``).

    Scoring in beam search (``score``, ``batch_score``, ``forward_one_step``) is ESPnet's; the utterance's
    language is set on the adapters by ``MultilingualASRModel.language_context`` (``MultilingualSpeech2Text``).

    Args:
        vocab_size: output vocabulary size.
        encoder_output_size: attention dimension d (the encoder's output size).
        attention_heads: number of attention heads.
        linear_units: feed-forward inner dimension.
        num_blocks: number of decoder layers.
        dropout_rate: dropout after each sub-layer.
        positional_dropout_rate: dropout after the positional encoding.
        self_attention_dropout_rate: dropout on self-attention weights.
        src_attention_dropout_rate: dropout on cross-attention weights.
        input_layer: ``embed`` or ``linear``.
        use_output_layer: project to the vocabulary.
        normalize_before: pre-LayerNorm sub-layers (as A2's eqs. 14-16).
        concat_after: ESPnet's concat-after attention variant.
        layer_drop_rate: ESPnet layer drop probability.
        qk_norm: normalise queries and keys in attention.
        use_flash_attn: use flash attention where available.
        languages: the language inventory; copied from ``model_conf.languages`` by
            ``espnet_ext.tasks.asr.MultilingualASRTask`` when not given.
        adapter_mode, adapter_bottleneck, adapter_groups, adapter_bottleneck_per_language, adapter_residual:
            the Dual-Adapter of every layer (eq. 16): ``adapter_<x>`` is ``DualAdapter``'s argument ``x``.
    """

    @typechecked
    def __init__(
        self,
        vocab_size: int,
        encoder_output_size: int,
        attention_heads: int = 4,
        linear_units: int = 2048,
        num_blocks: int = 6,
        dropout_rate: float = 0.1,
        positional_dropout_rate: float = 0.1,
        self_attention_dropout_rate: float = 0.0,
        src_attention_dropout_rate: float = 0.0,
        input_layer: str = "embed",
        use_output_layer: bool = True,
        normalize_before: bool = True,
        concat_after: bool = False,
        layer_drop_rate: float = 0.0,
        qk_norm: bool = False,
        use_flash_attn: bool = True,
        languages: Optional[List[str]] = None,
        adapter_mode: str = "dual",
        adapter_bottleneck: int = 64,
        adapter_groups: Optional[Dict[str, str]] = None,
        adapter_bottleneck_per_language: Optional[Dict[str, int]] = None,
        adapter_residual: str = "single",
    ):
        adapters = AdapterOptions.from_conf("decoder_conf", languages, adapter_mode, adapter_bottleneck,
                                            adapter_groups, adapter_bottleneck_per_language, adapter_residual)
        super().__init__(
            vocab_size, encoder_output_size, attention_heads=attention_heads, linear_units=linear_units,
            num_blocks=num_blocks, dropout_rate=dropout_rate, positional_dropout_rate=positional_dropout_rate,
            self_attention_dropout_rate=self_attention_dropout_rate,
            src_attention_dropout_rate=src_attention_dropout_rate, input_layer=input_layer,
            use_output_layer=use_output_layer, normalize_before=normalize_before, concat_after=concat_after,
            layer_drop_rate=layer_drop_rate, qk_norm=qk_norm, use_flash_attn=use_flash_attn,
        )
        # eq. 16 in every layer; the adapter is built before its layer is wrapped, as a fixed seed expects
        wrap_layers(self.decoders,
                    lambda layer: _AdapterDecoderLayer(layer, adapters.new_adapter(encoder_output_size)))
