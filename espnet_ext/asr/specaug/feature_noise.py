"""Additive noise on log-mel features, on the fly: a noise-floor perturbation for unseen voices.

Why: the benchmark's voices differ in how much energy they leave between and under the speech, not only in their
formants. espeak-ng's echo and breath settings fill the pauses (the 10th percentile of a test utterance's log-mel
bins lies 60-75 dB under its mean power for the voices with echo, 150 dB for the others, which leave digital
silence), and the held-out voices f5 and f3 leave more there than any training voice (the median over a voice's
utterances of their 30th-percentile bin: test f5 29.1, f3 30.1, dev f5 26.0 dB under the mean, against 30.2-37.4 dB
for the eight training voices; espnet_ext.bin.feature_floor, docs/lid_routing.md "Unseen voices"). A model that
has only met eight floors learns them with the languages. Adding noise at a random level moves the floor of every
training utterance, as additive-noise augmentation does with recorded noise ("A study on data augmentation of
reverberant speech for robust speech recognition", Ko et al., ICASSP 2017); the features here are stage-2 log-mel
outputs, so the noise is added in the power domain of each mel bin:

    x'[t, f] = log(exp(x[t, f]) + n[t, f]),   n[t, f] = N * g_f * gamma[t, f],

with N = (mean power of the utterance's valid frames) * 10^(-snr / 10), snr ~ U(snr_range) dB per utterance,
g_f = 10^(tilt * (f / (F - 1) - 1/2) / 10) / mean_f(...) a spectral tilt of tilt ~ U(tilt_range) dB from the
first to the last bin (0: the same power in every mel bin), and gamma[t, f] ~ Gamma(4, 1/4) (mean 1) the
frame-to-frame fluctuation of noise power summed over a mel filter's few FFT bins (a sum of k exponential
powers is Gamma(k); we take k = 4, the low filters' width at 40 bins). Features are natural-log powers, as Kaldi's
and torchaudio's fbank write them.
"""

from typing import Optional, Tuple

import torch

#: Shape of the per-(frame, bin) Gamma fluctuation of the noise power (mean 1); see the module docstring.
NOISE_GAMMA_SHAPE = 4.0


def noise_power_shape(num_bins: int, tilt_db: torch.Tensor) -> torch.Tensor:
    """(B,) tilts in dB -> (B, F) relative noise power per mel bin, mean 1 over the bins."""
    position = torch.linspace(-0.5, 0.5, num_bins, dtype=tilt_db.dtype, device=tilt_db.device)
    shape = 10.0 ** (tilt_db.unsqueeze(1) * position / 10.0)
    return shape / shape.mean(dim=1, keepdim=True)


def add_noise_to_log_mel(x: torch.Tensor, lengths: Optional[torch.Tensor], snr_db: torch.Tensor,
                         tilt_db: torch.Tensor) -> torch.Tensor:
    """Add noise at ``snr_db`` (B,) with spectral tilt ``tilt_db`` (B,) to log-mel features x (B, T, F).

    The signal power is the mean of exp(x) over each utterance's first ``lengths[b]`` frames (all T when None),
    so padding does not change the noise level. An utterance with snr_db = +inf is returned unchanged.
    """
    batch, frames, num_bins = x.shape
    work = x.to(torch.float64)  # exp of log-mel powers of ~20 overflows nothing in float64, nor loses the floor
    valid = torch.ones(batch, frames, dtype=torch.bool, device=x.device)
    if lengths is not None:
        valid = torch.arange(frames, device=x.device).unsqueeze(0) < lengths.to(x.device).unsqueeze(1)
    power = work.exp() * valid.unsqueeze(-1)
    signal = power.sum(dim=(1, 2)) / (valid.sum(dim=1).clamp(min=1) * num_bins)  # (B,) mean power per bin
    level = signal * 10.0 ** (-snr_db.to(work) / 10.0)  # (B,)
    shape = noise_power_shape(num_bins, tilt_db.to(work))  # (B, F)
    concentration = torch.full((batch, frames, num_bins), NOISE_GAMMA_SHAPE, dtype=work.dtype, device=x.device)
    fluctuation = torch.distributions.Gamma(concentration, concentration).sample()  # mean 1, variance 1/k
    noise = level.view(batch, 1, 1) * shape.unsqueeze(1) * fluctuation
    keep = torch.isinf(snr_db).to(x.device).view(batch, 1, 1)
    noisy = torch.logaddexp(work, noise.clamp(min=torch.finfo(work.dtype).tiny).log())
    return torch.where(keep, x, noisy.to(x.dtype))


def draw_noise(batch: int, prob: float, snr_range: Tuple[float, float], tilt_range: Tuple[float, float],
               device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per utterance: with probability ``prob`` an SNR ~ U(snr_range) dB, else +inf (no noise); a tilt ~ U(tilt_range)."""
    snr = torch.empty(batch, device=device).uniform_(*snr_range)
    snr = torch.where(torch.rand(batch, device=device) < prob, snr, torch.full_like(snr, float("inf")))
    tilt = torch.empty(batch, device=device).uniform_(*tilt_range)
    return snr, tilt
