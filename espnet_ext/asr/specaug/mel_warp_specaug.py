"""Mel-axis warping: a voice perturbation of log-mel features, on the fly (docs/lid_routing.md, "Unseen voices").

The synthetic corpora speak each language with a handful of espeak-ng voices, and the dev and test voices are
not the training ones: what a model learns about a voice's formants does not carry over, and an LID head
(issue 20) learns the training voices as much as the languages.  Vocal tract length perturbation ("Vocal Tract
Length Perturbation (VTLP) improves speech recognition", Jaitly and Hinton, ICML 2013 workshop) scales the
frequency axis by a random factor per utterance, which moves formants as a longer or shorter vocal tract would.
VTLP warps linear frequency before the mel filterbank; stage-2 features are already mel filterbank outputs, so
here the warp is on the mel-bin axis:

    out[t, i] = x[t, i / a],   a ~ U(warp_range) per utterance,

read by linear interpolation between the two nearest bins; bins that map past the last input bin take the last
bin.  A warp of the mel axis is not VTLP's warp of the linear axis (a mel-bin shift is larger in Hz at high
frequencies): it is the features-only approximation, chosen because it needs no audio.  a = 1 leaves the
features unchanged.  ESPnet calls a SpecAug module in training only, before the feature normalization, so
decoding and validation never see it.

Optionally additive noise follows the warp (``noise_prob`` > 0: a random noise floor per utterance,
:mod:`espnet_ext.asr.specaug.feature_noise`), and ESPnet's own SpecAug (time warp, frequency and time masks)
runs last: ``specaug_conf`` takes its constructor's options.
"""

from typing import Dict, Optional, Sequence, Tuple

import torch
from espnet2.asr.specaug.abs_specaug import AbsSpecAug
from espnet2.asr.specaug.specaug import SpecAug

from espnet_ext.asr.specaug.feature_noise import add_noise_to_log_mel, draw_noise


def warp_mel_axis(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """x (B, T, F) and one warp factor per utterance (B,) -> (B, T, F), out[b, t, i] = x[b, t, i / a_b]."""
    num_bins = x.shape[-1]
    source = torch.arange(num_bins, device=x.device, dtype=x.dtype).unsqueeze(0) / factors.to(x).unsqueeze(1)
    source = source.clamp(max=num_bins - 1)  # (B, F) fractional input bin of each output bin
    low = source.floor().long()
    high = (low + 1).clamp(max=num_bins - 1)
    frac = (source - low.to(x.dtype)).unsqueeze(1)  # (B, 1, F)
    index = lambda i: i.unsqueeze(1).expand(-1, x.shape[1], -1)  # noqa: E731  (B, T, F)
    return torch.gather(x, 2, index(low)) * (1 - frac) + torch.gather(x, 2, index(high)) * frac


def _range(name: str, value, example: str, positive: bool = False) -> Tuple[float, float]:
    values = list(value) if isinstance(value, (list, tuple)) else None
    if (values is None or len(values) != 2 or not all(isinstance(v, (int, float)) for v in values)
            or not values[0] <= values[1] or (positive and not values[0] > 0)):
        low = "0 < low <= high" if positive else "low <= high"
        raise ValueError(f"specaug_conf.{name} must be [low, high] with {low} ({example}), got {value!r}")
    return float(values[0]), float(values[1])


class MelWarpSpecAug(AbsSpecAug):
    """Random mel-axis warp per utterance, then (optionally) additive noise and ESPnet's SpecAug.

    Args:
        warp_range: (low, high) of the uniform warp factor, 0 < low <= high; (1, 1) turns the warp off.
        noise_prob: share of the training utterances that get additive noise (0: none, the default).
        noise_snr_range: (low, high) of the uniform signal-to-noise ratio in dB of those utterances.
        noise_tilt_range: (low, high) of the uniform spectral tilt of the noise in dB, last bin against first.
        specaug_conf: options of ``espnet2.asr.specaug.specaug.SpecAug`` to run last; None: none.
    """

    def __init__(self, warp_range: Sequence[float] = (0.88, 1.12), noise_prob: float = 0.0,
                 noise_snr_range: Sequence[float] = (30.0, 60.0), noise_tilt_range: Sequence[float] = (0.0, 0.0),
                 specaug_conf: Optional[Dict] = None):
        super().__init__()
        self.warp_range = _range("warp_range", warp_range, "warp factors of the mel axis, e.g. [0.88, 1.12]",
                                 positive=True)
        if isinstance(noise_prob, bool) or not isinstance(noise_prob, (int, float)) or not 0 <= noise_prob <= 1:
            raise ValueError(f"specaug_conf.noise_prob must be a number in [0, 1] (the share of utterances that get "
                             f"noise), got {noise_prob!r}")
        self.noise_prob = float(noise_prob)
        self.noise_snr_range = _range("noise_snr_range", noise_snr_range, "SNR in dB, e.g. [30, 60]")
        self.noise_tilt_range = _range("noise_tilt_range", noise_tilt_range,
                                       "dB from the first mel bin to the last, e.g. [0, 12]")
        self.specaug = SpecAug(**specaug_conf) if specaug_conf else None

    def forward(self, x: torch.Tensor,
                x_lengths: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        if self.warp_range != (1.0, 1.0):
            factors = torch.empty(x.shape[0], device=x.device).uniform_(*self.warp_range)
            x = warp_mel_axis(x, factors)
        if self.noise_prob > 0:
            snr, tilt = draw_noise(x.shape[0], self.noise_prob, self.noise_snr_range, self.noise_tilt_range, x.device)
            x = add_noise_to_log_mel(x, x_lengths, snr, tilt)
        if self.specaug is not None:
            x, x_lengths = self.specaug(x, x_lengths)
        return x, x_lengths

    def extra_repr(self) -> str:
        noise = (f", noise_prob={self.noise_prob}, noise_snr_range={self.noise_snr_range}, "
                 f"noise_tilt_range={self.noise_tilt_range}") if self.noise_prob > 0 else ""
        return f"warp_range={self.warp_range}{noise}"
