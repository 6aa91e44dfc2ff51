"""The "LID" baseline of A2 Table 1: a one-hot language vector fed into the encoder (Li et al., 2018).

Li et al. ("Multi-dialect speech recognition with a single sequence-to-sequence model", ICASSP 2018) feed
a one-hot dialect vector into the layers of the model and find the encoder the place where it helps; A2
(Adapt-and-Adjust, ICLR 2021 submission) uses it as a baseline, "conditioning with one-hot language vectors".

Where it enters (``lid_position``):
    * ``input``: the one-hot vector is concatenated to every feature frame, after ESPnet's feature
      normalisation (``normalize``) and before the encoder's input layer.  Concatenating here keeps the
      vector at the same scale (0/1) as the normalised features, and the input layer (conv2d subsampling
      or linear) learns its own weights for it.
    * ``all_layers`` (default, Li et al.'s "all layers"): as ``input``, and also into the input of every
      encoder layer.  Concatenating a one-hot vector to a layer's input and applying a linear map equals
      adding one learned vector per language, so each layer gets a (L, d) table E_l and its input becomes
      ``h + E_l[lang]``.  The tables start at zero (also after ESPnet's ``--init``).
The decoder is left unconditioned: the acoustic side is where Li et al. found the vector useful, and the
A2 comparison (adapters vs. language vector) is about acoustic adaptation.
"""

from typing import List, Optional

import torch
from espnet.nets.pytorch_backend.transformer.encoder_layer import EncoderLayer
from espnet2.asr.encoder.transformer_encoder import TransformerEncoder
from typeguard import typechecked

from espnet_ext.asr.language_conditioning import LanguageConditioned, require_languages
from espnet_ext.asr.layer_wrapping import WrappedEncoderLayer, wrap_layers

LID_POSITIONS = ("input", "all_layers")


class _LanguageOneHot(LanguageConditioned):
    """(B,) language ids of the current batch -> (B, L) one-hot rows."""

    def __init__(self, num_languages: int):
        super().__init__()
        self.num_languages = num_languages

    def forward(self, batch_size: int, dtype: torch.dtype) -> torch.Tensor:
        ids = self.lang_ids_for(batch_size)
        return torch.nn.functional.one_hot(ids, self.num_languages).to(dtype)


class _LanguageBias(LanguageConditioned):
    """Adds the learned vector E[lang] of each utterance to its frames (a one-hot through a linear map)."""

    def __init__(self, num_languages: int, size: int):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(num_languages, size))

    def espnet_initialization_fn(self) -> None:
        torch.nn.init.zeros_(self.weight)  # start without language offsets, also after ESPnet's --init

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight[self.lang_ids_for(x.shape[0])].unsqueeze(1)  # (B, T, D) + (B, 1, D)


class _LanguageBiasedEncoderLayer(WrappedEncoderLayer):
    """ESPnet ``EncoderLayer`` (taking over the sub-modules of ``layer``) whose input gets E[lang] added."""

    def __init__(self, layer: EncoderLayer, num_languages: int):
        super().__init__(layer)
        self.language_bias = _LanguageBias(num_languages, layer.size)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor], cache: Optional[torch.Tensor] = None):
        return super().forward(self.language_bias(x), mask, cache)


class LIDTransformerEncoder(TransformerEncoder):
    """Transformer encoder conditioned on a one-hot language vector (registered as ``lid_transformer``).

    Args:
        input_size: input feature dimension (the one-hot vector is appended to it).
        output_size: attention dimension d.
        attention_heads: number of attention heads.
        linear_units: feed-forward inner dimension.
        num_blocks: number of encoder layers.
        dropout_rate: dropout after each sub-layer.
        positional_dropout_rate: dropout after the positional encoding.
        attention_dropout_rate: dropout on attention weights.
        input_layer: ESPnet input layer (conv2d, conv2d6, conv2d8, linear, ...).
        normalize_before: pre-LayerNorm sub-layers.
        concat_after: ESPnet's concat-after attention variant.
        positionwise_layer_type: ``linear``, ``conv1d`` or ``conv1d-linear`` feed-forward.
        positionwise_conv_kernel_size: kernel size of a conv1d feed-forward.
        layer_drop_rate: ESPnet layer drop probability.
        qk_norm: normalise queries and keys in attention.
        use_flash_attn: use flash attention where available.
        languages: the language inventory; copied from ``model_conf.languages`` by
            ``espnet_ext.tasks.asr.MultilingualASRTask`` when not given.
        lid_position: ``input`` or ``all_layers`` (see the module docstring).
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
        normalize_before: bool = True,
        concat_after: bool = False,
        positionwise_layer_type: str = "linear",
        positionwise_conv_kernel_size: int = 1,
        layer_drop_rate: float = 0.0,
        qk_norm: bool = False,
        use_flash_attn: bool = True,
        languages: Optional[List[str]] = None,
        lid_position: str = "all_layers",
    ):
        languages = require_languages("encoder_conf", languages)
        if lid_position not in LID_POSITIONS:
            raise ValueError(f"encoder_conf.lid_position must be one of {LID_POSITIONS}, got '{lid_position}'")
        if input_layer in ("embed", "wav2vec"):
            raise ValueError(f"encoder_conf.input_layer '{input_layer}' takes no feature frames to append "
                             "the language vector to")
        super().__init__(
            input_size + len(languages), output_size=output_size, attention_heads=attention_heads,
            linear_units=linear_units, num_blocks=num_blocks, dropout_rate=dropout_rate,
            positional_dropout_rate=positional_dropout_rate, attention_dropout_rate=attention_dropout_rate,
            input_layer=input_layer, normalize_before=normalize_before, concat_after=concat_after,
            positionwise_layer_type=positionwise_layer_type,
            positionwise_conv_kernel_size=positionwise_conv_kernel_size, layer_drop_rate=layer_drop_rate,
            qk_norm=qk_norm, use_flash_attn=use_flash_attn,
        )
        self.languages = list(languages)
        self.lid_position = lid_position
        self.language_vector = _LanguageOneHot(len(languages))
        if lid_position == "all_layers":
            wrap_layers(self.encoders, lambda layer: _LanguageBiasedEncoderLayer(layer, len(languages)))

    def forward(self, xs_pad: torch.Tensor, ilens: torch.Tensor, prev_states: Optional[torch.Tensor] = None,
                masks: Optional[torch.Tensor] = None, ctc=None, return_all_hs: bool = False):
        """xs_pad (B, T, input_size) -> ESPnet's (encoded, lengths, None) with the one-hot appended per frame."""
        onehot = self.language_vector(xs_pad.shape[0], xs_pad.dtype)  # (B, L)
        xs_pad = torch.cat([xs_pad, onehot.unsqueeze(1).expand(-1, xs_pad.shape[1], -1)], dim=-1)
        return super().forward(xs_pad, ilens, prev_states, masks, ctc, return_all_hs)
