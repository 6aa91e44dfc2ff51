"""The language-identification (LID) head on the shared encoder output (issue 20, docs/lid_routing.md).

One linear map from the encoder dimension to the L languages of ``model_conf.languages``:

    frame logits      z_t = W h_t + b                                 (B, T, L)
    utterance logits  z   = W mean_t(h_t) + b = mean_t(z_t)           (B, L)

Mean pooling and the linear map commute, so the utterance-level head (mean-pooled encoder output -> linear)
and the frame-level head (code-switching, per-frame routing) are the same parameters, ``lid_head.linear.*``,
read at two levels; padded frames never enter the mean.
"""

from typing import Tuple

import torch

LEVELS = ("utterance", "frame")


class LanguageIdHead(torch.nn.Module):
    """Linear LID classifier over the encoder output, read per utterance (mean-pooled) or per frame.

    Args:
        size: encoder output dimension.
        num_languages: size L of the language inventory.
    """

    def __init__(self, size: int, num_languages: int):
        super().__init__()
        if num_languages < 2:
            raise ValueError(f"a LID head needs at least 2 languages in model_conf.languages, got {num_languages}")
        self.linear = torch.nn.Linear(size, num_languages)

    @staticmethod
    def valid_frames(h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T) bool: frame t of utterance b is inside its length."""
        return torch.arange(h.shape[1], device=h.device).unsqueeze(0) < lengths.to(h.device).unsqueeze(1)

    def forward(self, h: torch.Tensor, lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """h (B, T, D), lengths (B,) -> (utterance logits (B, L), frame logits (B, T, L))."""
        frame_logits = self.linear(h)
        mask = self.valid_frames(h, lengths).unsqueeze(-1).to(h.dtype)  # (B, T, 1)
        pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # mean over the valid frames
        return self.linear(pooled), frame_logits
