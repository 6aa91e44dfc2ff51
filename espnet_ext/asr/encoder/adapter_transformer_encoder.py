"""ESPnet's transformer encoder with A2 Dual-Adapters after self-attention (A2 Appendix B, eqs. 12-13).

A2 (Adapt-and-Adjust, ICLR 2021 submission), encoder layer l with input h^{l-1}:

    o     = SelfAttn(LayerNorm(h^{l-1})) + h^{l-1}                                       (eq. 12)
    h^l   = FeedForward(Adapter(LayerNorm(o)) + o)                                       (eq. 13)

``FeedForward(z)`` is ESPnet's feed-forward sub-layer with its own pre-LayerNorm and residual.  The
LayerNorm before the adapter in eq. 13 is the one inside the adapter itself (eq. 4 normalises its input),
and the residual "+ o" is counted once, so with ``DualAdapter`` the layer computes

    o' = o + Δ_lang(o) + Δ_com(o),   h^l = o' + FF(LayerNorm(o'))

and a fresh encoder equals ESPnet's ``TransformerEncoder`` with the same shared weights.  Everything but
the layers comes from ``TransformerEncoder`` (input layer, positional encoding, final LayerNorm); the layers
are ESPnet ``EncoderLayer`` objects whose forward inserts the adapter, so the shared parameters keep
ESPnet's names and a stock transformer checkpoint loads into this encoder.

A LID head's language-agnostic first pass (espnet_ext/asr/lid/lid_router.py) runs between the input layer and
the layers (``before_layers``): the input layer has no language conditioning, so both passes share its output
and it runs once per forward (on the CPU confs it is about half of the encoder's compute).  So do the first
``adapter_common_layers`` layers, which hold the common adapter only (no language-specific adapter; our option,
not the paper's, which adapts every layer): the router runs them once, lets the head read them, and the real
pass goes on from there (docs/lid_routing.md, "One pass").
"""

from typing import Callable, Dict, List, Optional, Tuple

import torch
from espnet.nets.pytorch_backend.nets_utils import make_pad_mask
from espnet.nets.pytorch_backend.transformer.encoder_layer import EncoderLayer
from espnet.nets.pytorch_backend.transformer.subsampling import (Conv1dSubsampling2, Conv2dSubsampling,
                                                                 Conv2dSubsampling1, Conv2dSubsampling2,
                                                                 Conv2dSubsampling6, Conv2dSubsampling8,
                                                                 TooShortUttError, check_short_utt)
from espnet2.asr.encoder.transformer_encoder import TransformerEncoder
from typeguard import typechecked

from espnet_ext.asr.adapters.adapter_options import AdapterOptions
from espnet_ext.asr.adapters.dual_adapter import DualAdapter
from espnet_ext.asr.layer_wrapping import WrappedEncoderLayer, wrap_layers


# the input layers ESPnet's forward gives the mask and checks for too few frames (the others take the features only)
_SUBSAMPLING = (Conv2dSubsampling, Conv1dSubsampling2, Conv2dSubsampling1, Conv2dSubsampling2, Conv2dSubsampling6,
                Conv2dSubsampling8)
# (frames cut, stride) of each stage of ESPnet's subsampling mask: x_mask[:, :, :-cut:stride], stage after stage
_MASK_STAGES = {Conv2dSubsampling: ((2, 2), (2, 2)), Conv1dSubsampling2: ((2, 1), (2, 2)),
                Conv2dSubsampling1: ((4, 1),), Conv2dSubsampling2: ((2, 2), (2, 1)),
                Conv2dSubsampling6: ((2, 2), (4, 3)), Conv2dSubsampling8: ((2, 2), (2, 2), (2, 2))}


class _AdapterEncoderLayer(WrappedEncoderLayer):
    """An ESPnet ``EncoderLayer`` (taking over the sub-modules of ``layer``) with a DualAdapter (eq. 13)."""

    def __init__(self, layer: EncoderLayer, adapter: DualAdapter):
        super().__init__(layer)
        self.adapter = adapter

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor], cache: Optional[torch.Tensor] = None):
        """(B, T, D), mask (B, 1, T) -> (B, T, D), mask; with ``cache`` (B, T-1, D) only the last frame is new."""
        coeff = 1.0
        if self.training and self.stochastic_depth_rate > 0:
            if torch.rand(1).item() < self.stochastic_depth_rate:  # stochastic depth: skip the whole layer
                return (x if cache is None else torch.cat([cache, x], dim=1)), mask
            coeff = 1.0 / (1 - self.stochastic_depth_rate)

        # eq. 12: o = SelfAttn(LayerNorm(h)) + h
        residual = x
        xn = self.norm1(x) if self.normalize_before else x
        q = xn
        if cache is not None:
            q, residual = xn[:, -1:, :], residual[:, -1:, :]
            mask = None if mask is None else mask[:, -1:, :]
        att = self.self_attn(q, xn, xn, mask)
        if self.concat_after:
            o = residual + coeff * self.concat_linear(torch.cat((q, att), dim=-1))
        else:
            o = residual + coeff * self.dropout(att)
        if not self.normalize_before:
            o = self.norm1(o)

        # eq. 13: h = FeedForward(Adapter(LayerNorm(o)) + o)
        o = self.adapter(o)
        y = self.norm2(o) if self.normalize_before else o
        x = o + coeff * self.dropout(self.feed_forward(y))
        if not self.normalize_before:
            x = self.norm2(x)

        if cache is not None:
            x = torch.cat([cache, x], dim=1)
        return x, mask


class AdapterTransformerEncoder(TransformerEncoder):
    """Transformer encoder with language-routed adapters in every layer (registered as ``adapter_transformer``).

    The utterances' languages reach the adapters through
    :class:`~espnet_ext.asr.multilingual_model.MultilingualASRModel` (data key ``lang``).

    Args:
        input_size: input feature dimension.
        output_size: attention dimension d.
        attention_heads: number of attention heads.
        linear_units: feed-forward inner dimension.
        num_blocks: number of encoder layers.
        dropout_rate: dropout after each sub-layer.
        positional_dropout_rate: dropout after the positional encoding.
        attention_dropout_rate: dropout on attention weights.
        input_layer: ESPnet input layer (conv2d, conv2d6, conv2d8, linear, ...).
        pos_enc_layer_type: ``abs_pos`` or ``conv`` positional encoding.
        normalize_before: pre-LayerNorm sub-layers (as A2's eqs. 12-13).
        concat_after: ESPnet's concat-after attention variant.
        positionwise_layer_type: ``linear``, ``conv1d`` or ``conv1d-linear`` feed-forward.
        positionwise_conv_kernel_size: kernel size of a conv1d feed-forward.
        layer_drop_rate: ESPnet layer drop probability.
        qk_norm: normalise queries and keys in attention.
        use_flash_attn: use flash attention where available.
        languages: the language inventory; copied from ``model_conf.languages`` by
            ``espnet_ext.tasks.asr.MultilingualASRTask`` when not given.
        adapter_mode, adapter_bottleneck, adapter_groups, adapter_bottleneck_per_language, adapter_residual:
            the Dual-Adapter of every layer (eq. 13): ``adapter_<x>`` is ``DualAdapter``'s argument ``x``.
        adapter_common_layers: the first k layers hold the common adapter only (``adapter_mode`` dual):
            language-agnostic layers a LID head's pass shares with the real pass.  0 (default): A2's
            Dual-Adapter in every layer.
    """

    @typechecked
    def __init__(
        self,
        input_size: int,
        output_size: int = 256,
        attention_heads: int = 4,
        linear_units: int = 2048,
        num_blocks: int = 6,
        dropout_rate: float = 0.1,
        positional_dropout_rate: float = 0.1,
        attention_dropout_rate: float = 0.0,
        input_layer: Optional[str] = "conv2d",
        pos_enc_layer_type: str = "abs_pos",
        normalize_before: bool = True,
        concat_after: bool = False,
        positionwise_layer_type: str = "linear",
        positionwise_conv_kernel_size: int = 1,
        layer_drop_rate: float = 0.0,
        qk_norm: bool = False,
        use_flash_attn: bool = True,
        languages: Optional[List[str]] = None,
        adapter_mode: str = "dual",
        adapter_bottleneck: int = 64,
        adapter_groups: Optional[Dict[str, str]] = None,
        adapter_bottleneck_per_language: Optional[Dict[str, int]] = None,
        adapter_residual: str = "single",
        adapter_common_layers: int = 0,
    ):
        adapters = AdapterOptions.from_conf("encoder_conf", languages, adapter_mode, adapter_bottleneck,
                                            adapter_groups, adapter_bottleneck_per_language, adapter_residual)
        if not 0 <= adapter_common_layers <= num_blocks:
            raise ValueError(f"encoder_conf.adapter_common_layers must be between 0 and num_blocks "
                             f"({num_blocks}), got {adapter_common_layers}")
        if adapter_common_layers and adapter_mode != "dual":
            raise ValueError("encoder_conf.adapter_common_layers keeps the common adapter of a Dual-Adapter in the "
                             f"first layers and needs adapter_mode dual, got '{adapter_mode}'")
        super().__init__(
            input_size, output_size=output_size, attention_heads=attention_heads, linear_units=linear_units,
            num_blocks=num_blocks, dropout_rate=dropout_rate, positional_dropout_rate=positional_dropout_rate,
            attention_dropout_rate=attention_dropout_rate, input_layer=input_layer,
            pos_enc_layer_type=pos_enc_layer_type, normalize_before=normalize_before, concat_after=concat_after,
            positionwise_layer_type=positionwise_layer_type,
            positionwise_conv_kernel_size=positionwise_conv_kernel_size, layer_drop_rate=layer_drop_rate,
            qk_norm=qk_norm, use_flash_attn=use_flash_attn,
        )
        # eq. 13 in every layer; the adapter is built before its layer is wrapped, as a fixed seed expects
        per_layer = iter([adapters.common_only()] * adapter_common_layers
                         + [adapters] * (num_blocks - adapter_common_layers))  # wrap_layers goes first to last
        wrap_layers(self.encoders, lambda layer: _AdapterEncoderLayer(layer, next(per_layer).new_adapter(output_size)))
        # Set by a LID router: called with the input layer's output (xs (B, T', D), masks (B, 1, T')) and the input
        # lengths (B,) before the layers run, to run the LID pass on it and route the layers' adapters; it returns
        # None, or (xs, n) when it has run the first n layers of the real pass already (their output xs).
        # None: ESPnet's forward as is.
        self.before_layers: Optional[Callable[[torch.Tensor, torch.Tensor, torch.Tensor],
                                              Optional[Tuple[torch.Tensor, int]]]] = None

    def embed_input(self, xs_pad: torch.Tensor, ilens: torch.Tensor,
                    masks: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """The input layer (subsampling + positional encoding) as ESPnet's forward applies it -> (xs, masks)."""
        masks = (~make_pad_mask(ilens)[:, None, :]).to(xs_pad.device) if masks is None else ~masks[:, None, :]
        if self.embed is None:
            return xs_pad, masks
        if not isinstance(self.embed, _SUBSAMPLING):
            return self.embed(xs_pad), masks
        too_short, limit = check_short_utt(self.embed, xs_pad.size(1))
        if too_short:
            raise TooShortUttError(f"has {xs_pad.size(1)} frames and is too short for subsampling (it needs more "
                                   f"than {limit} frames), return empty results", xs_pad.size(1), limit)
        return self.embed(xs_pad, masks)

    def own_lengths(self, ilens: torch.Tensor) -> torch.Tensor:
        """(B,) frames of each utterance's input-layer output when it is encoded alone (batch 1, as decoding runs).
        In a padded batch ESPnet's subsampling mask counts more for every shorter utterance (conv2d: up to two
        frames, whose convolutions reach into the padding), so its lengths depend on the batch; these do not."""
        stages = next((v for k, v in _MASK_STAGES.items() if type(self.embed) is k), None)
        if stages is None:
            if self.embed is not None and isinstance(self.embed, _SUBSAMPLING):
                raise ValueError(f"own_lengths: no mask stages known for {type(self.embed).__name__}")
            return ilens  # no subsampling: one output frame per input frame
        lengths = ilens
        for cut, stride in stages:  # len(range(0, n - cut, stride))
            lengths = torch.clamp(torch.div(lengths - cut + stride - 1, stride, rounding_mode="floor"), min=0)
        return lengths

    def run_layers(self, xs: torch.Tensor, masks: torch.Tensor, start: int = 0,
                   stop: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Layers ``start`` .. ``stop - 1`` in turn, each skipped in training with probability ``layer_drop_rate``
        as ESPnet's ``MultiSequential`` does (iterating the layers one by one would bypass it)."""
        layers = list(self.encoders)[start:stop]
        rate = getattr(self.encoders, "layer_drop_rate", 0.0)
        keep = (torch.empty(len(layers)).uniform_() >= rate).tolist() if self.training and rate > 0 \
            else [True] * len(layers)
        for layer, kept in zip(layers, keep):
            if kept:
                xs, masks = layer(xs, masks)
        return xs, masks

    def forward(self, xs_pad: torch.Tensor, ilens: torch.Tensor, prev_states: Optional[torch.Tensor] = None,
                masks: Optional[torch.Tensor] = None, ctc=None, return_all_hs: bool = False):
        if self.before_layers is None or return_all_hs or len(self.interctc_layer_idx) > 0:
            return super().forward(xs_pad, ilens, prev_states, masks, ctc, return_all_hs)
        xs, masks = self.embed_input(xs_pad, ilens, masks)
        done = self.before_layers(xs, masks, ilens)  # the LID pass on the shared input-layer output, then the routing
        start = 0
        if done is not None:  # the router ran the shared language-agnostic layers already
            xs, start = done
        xs, masks = self.run_layers(xs, masks, start)
        if self.normalize_before:
            xs = self.after_norm(xs)
        return xs, masks.squeeze(1).sum(1), None
