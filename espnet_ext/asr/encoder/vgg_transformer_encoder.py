"""Transformer encoder behind a VGG front end (registered as encoder ``vgg_transformer``).

Winata et al., "Meta-Transfer Learning for Code-Switched Speech Recognition", arXiv:2004.14228, §4.1: "The encoder
employs VGG to learn a language-agnostic audio representation and generate input embeddings."  ESPnet2's
``TransformerEncoder`` has no VGG input layer, so this encoder composes ESPnet's own pieces: the VGG2L
block of ``espnet.nets.pytorch_backend.transducer.vgg2l`` (4 conv layers, time subsampling ×6, frequency
×4) with a linear projection and absolute positional encoding, then ESPnet2's ``TransformerEncoder``
layers with no input layer of their own.
"""

from typing import Optional, Tuple

import torch
from espnet2.asr.encoder.abs_encoder import AbsEncoder
from espnet2.asr.encoder.transformer_encoder import TransformerEncoder
from espnet.nets.pytorch_backend.nets_utils import make_pad_mask
from espnet.nets.pytorch_backend.transducer.vgg2l import VGG2L
from espnet.nets.pytorch_backend.transformer.embedding import PositionalEncoding
from espnet.nets.pytorch_backend.transformer.subsampling import TooShortUttError


class VGGTransformerEncoder(AbsEncoder):
    """VGG2L front end + transformer blocks.

    Args:
        input_size: feature dimension (e.g. 257 for a 20 ms linear spectrogram, 80 for fbank).
        output_size: model dimension d (the paper: 512).
        attention_heads: heads; d / heads is d_k = d_v (the paper: 512 / 8 = 64).
        linear_units: feed-forward inner size.
        num_blocks: transformer layers (the paper: 2).
        dropout_rate: dropout inside the blocks.
        positional_dropout_rate: dropout after the positional encoding.
        attention_dropout_rate: dropout on attention weights.
        normalize_before: pre-LayerNorm blocks.
    """

    def __init__(self, input_size: int, output_size: int = 512, attention_heads: int = 8,
                 linear_units: int = 2048, num_blocks: int = 2, dropout_rate: float = 0.1,
                 positional_dropout_rate: float = 0.1, attention_dropout_rate: float = 0.0,
                 normalize_before: bool = True):
        super().__init__()
        if input_size < 4:
            raise ValueError(f"vgg_transformer: input_size must be >= 4 (VGG pools frequency by 4), got {input_size}")
        if output_size % attention_heads:
            raise ValueError(f"vgg_transformer: output_size {output_size} is not divisible by "
                             f"attention_heads {attention_heads}")
        self._output_size = output_size
        self.vgg = VGG2L(input_size, output_size, pos_enc=PositionalEncoding(output_size, positional_dropout_rate))
        self.transformer = TransformerEncoder(
            input_size=output_size, output_size=output_size, attention_heads=attention_heads,
            linear_units=linear_units, num_blocks=num_blocks, dropout_rate=dropout_rate,
            positional_dropout_rate=positional_dropout_rate, attention_dropout_rate=attention_dropout_rate,
            input_layer=None, normalize_before=normalize_before)

    def output_size(self) -> int:
        return self._output_size

    def forward(self, xs_pad: torch.Tensor, ilens: torch.Tensor,
                prev_states: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor, None]:
        if xs_pad.size(1) < 6:
            # ESPnet's exception for this case: decoding writes an empty hypothesis for the utterance and goes on.
            raise TooShortUttError(f"vgg_transformer: {xs_pad.size(1)} frames is too short for VGG's ×6 subsampling "
                                   f"(it needs at least 6 frames)", xs_pad.size(1), 6)
        masks = (~make_pad_mask(ilens, maxlen=xs_pad.size(1))).unsqueeze(1).to(xs_pad.device)  # (B, 1, T)
        xs, masks = self.vgg(xs_pad, masks)  # (B, T/6, d), (B, 1, T/6)
        olens = masks.squeeze(1).sum(1)
        return self.transformer(xs, olens)
