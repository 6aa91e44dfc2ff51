"""The language-identification (LID) head on the shared encoder output (issue 20, docs/lid_routing.md).

The default head is one linear map from the encoder dimension to the L languages of ``model_conf.languages``:

    frame logits      z_t = W h_t + b                                 (B, T, L)
    utterance logits  z   = W mean_t(h_t) + b = mean_t(z_t)           (B, L)

Mean pooling and the linear map commute, so the utterance-level head (mean-pooled encoder output -> linear)
and the frame-level head (code-switching, per-frame routing) are the same parameters, ``lid_head.linear.*``,
read at two levels; padded frames never enter the mean.

Two options (``model_conf.lid_head_pooling`` / ``lid_head_hidden``; our choice, the A2 paper has no LID head)
make the utterance-level classifier stronger, as language-recognition x-vector systems pool ("Spoken
Language Recognition using X-vectors", Snyder et al., Odyssey 2018):

    stats pooling     s = [mean_t(h_t); std_t(h_t)]                    (B, 2D)   utterance level only
    hidden layer      z = W2 relu(W1 s + b1) + b2                      (keys lid_head.hidden.*, lid_head.linear.*)

A frame has no standard deviation, so ``stats`` serves the utterance level alone (it returns no frame logits);
the hidden layer applies to frames too (z_t = W2 relu(W1 h_t + b1) + b2).

``model_conf.lid_crop_range: [lo, hi]`` (training only; our choice): the utterance-level pooling of a training
forward reads one random contiguous window of each utterance's valid frames, ceil(r * length) of them with
r ~ U(lo, hi), at a uniform start, as language-recognition systems train on random-length chunks. Why: on the
long-tail benchmark the head misroutes short utterances most (on dev, 11 % of those of 1-2 s against 2.5 % of the
longer ones; docs/lid_routing.md), and a head trained on whole utterances only never has to decide from a short
stretch. Decoding and validation (``eval()``) always pool every frame. Measured there with [0.5, 1.0]: no help
(short utterances misrouted as often, the ASR worse; docs/lid_routing.md), so it is off by default.
"""

from typing import Optional, Sequence, Tuple

import torch

LEVELS = ("utterance", "frame")
POOLINGS = ("mean", "stats")


class LanguageIdHead(torch.nn.Module):
    """LID classifier over the encoder output, read per utterance (pooled) or per frame.

    Args:
        size: encoder output dimension.
        num_languages: size L of the language inventory.
        pooling: ``mean`` (the mean of the valid frames) or ``stats`` (their mean and standard deviation).
        hidden: units of a ReLU hidden layer before the output layer; 0 (default): a linear head.
        crop_range: ``(lo, hi)`` with 0 < lo <= hi <= 1: in training, pool a random window of a share U(lo, hi)
            of each utterance's frames (module docstring); None (default): every frame, always.
    """

    def __init__(self, size: int, num_languages: int, pooling: str = "mean", hidden: int = 0,
                 crop_range: Optional[Sequence[float]] = None):
        super().__init__()
        if num_languages < 2:
            raise ValueError(f"a LID head needs at least 2 languages in model_conf.languages, got {num_languages}")
        if pooling not in POOLINGS:
            raise ValueError(f"model_conf.lid_head_pooling must be one of {POOLINGS}, got '{pooling}'")
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 0:
            raise ValueError(f"model_conf.lid_head_hidden must be a number of units >= 0 (0: linear head), got {hidden!r}")
        if crop_range is not None:
            ok = (isinstance(crop_range, (list, tuple)) and len(crop_range) == 2
                  and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in crop_range))
            if not ok or not 0 < crop_range[0] <= crop_range[1] <= 1:
                raise ValueError(f"model_conf.lid_crop_range must be [lo, hi] with 0 < lo <= hi <= 1 (shares of an "
                                 f"utterance's frames), got {crop_range!r}")
        self.crop_range = None if crop_range is None else (float(crop_range[0]), float(crop_range[1]))
        self.pooling = pooling
        features = 2 * size if pooling == "stats" else size
        self.hidden = torch.nn.Linear(features, hidden) if hidden > 0 else None
        self.linear = torch.nn.Linear(hidden if hidden > 0 else features, num_languages)

    @staticmethod
    def valid_frames(h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T) bool: frame t of utterance b is inside its length."""
        return torch.arange(h.shape[1], device=h.device).unsqueeze(0) < lengths.to(h.device).unsqueeze(1)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """(..., features) -> (..., L) logits."""
        if self.hidden is not None:
            x = torch.relu(self.hidden(x))
        return self.linear(x)

    def crop_frames(self, h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T) bool: a random window of ceil(r * length) >= 1 valid frames per utterance, r ~ U(crop_range)."""
        lo, hi = self.crop_range
        lengths = lengths.to(h.device)
        share = torch.empty(lengths.shape, device=h.device).uniform_(lo, hi)
        size = torch.ceil(share * lengths).clamp(min=1).long()
        size = torch.minimum(size, lengths.clamp(min=1))
        start = torch.floor(torch.rand(lengths.shape, device=h.device) * (lengths - size + 1)).long()
        t = torch.arange(h.shape[1], device=h.device).unsqueeze(0)
        return (t >= start.unsqueeze(1)) & (t < (start + size).unsqueeze(1))

    def pool(self, h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """h (B, T, D) -> (B, D) mean, or (B, 2D) [mean; std], over each utterance's valid frames (in training
        with ``crop_range``: over a random window of them)."""
        frames = self.crop_frames(h, lengths) if self.training and self.crop_range else self.valid_frames(h, lengths)
        mask = frames.unsqueeze(-1).to(h.dtype)  # (B, T, 1)
        count = mask.sum(1).clamp(min=1.0)
        mean = (h * mask).sum(1) / count
        if self.pooling == "mean":
            return mean
        var = (((h - mean.unsqueeze(1)) ** 2) * mask).sum(1) / count
        return torch.cat([mean, var.clamp(min=1e-8).sqrt()], dim=-1)  # the floor keeps sqrt's gradient finite

    def forward(self, h: torch.Tensor, lengths: torch.Tensor,
                frames: bool = True) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """h (B, T, D), lengths (B,) -> (utterance logits (B, L), frame logits (B, T, L)); the frame logits are None
        with ``frames`` False (an utterance-level router reads none, so training and decoding skip them) or with
        stats pooling."""
        frame_logits = self.classify(h) if frames and self.pooling == "mean" else None
        return self.classify(self.pool(h, lengths)), frame_logits
