"""The stage-2 features computed inside the model, so a model trained on dumps can take raw audio.

Training reads stage-2 dumps (``input_size`` set, no frontend): extraction is paid once, in stage 2.  For
decoding a user's own files that is a detour (data dir, dump, feats.scp), so espnet_ext.bin.raw_audio_config
writes a config whose ``frontend`` is this class with the stage-2 conf values and no ``input_size``:
ESPnet's ``ASRTask.build_model`` then builds the frontend, and ``normalize`` (global_mvn with the same
stats file, or utterance_mvn) follows it exactly as it followed the dumped features.  The frontend has no
parameters, so the trained weights load unchanged.

Exactness: the features come from :func:`espnet_ext.dataprep.fbank.kaldi_features`, the function the
dump writer uses, on the waveform scaled as :func:`espnet_ext.dataprep.fbank.load_audio` scales it
(float in [-1, 1] times 32768), after the same torchaudio resampling.  ESPnet's ``Speech2Text`` hands the
model a bare array with no sample rate: set :attr:`Stage2FbankFrontend.input_rate` (espnet_ext.bin.transcribe
does, per file) when the audio is not at the model's rate; each new rate is logged once.
"""

import logging
from typing import Set, Tuple

import torch
from espnet2.asr.frontend.abs_frontend import AbsFrontend

from espnet_ext.dataprep.fbank import FbankConfig, kaldi_features

logger = logging.getLogger(__name__)


class Stage2FbankFrontend(AbsFrontend):
    """Waveform batch (B, T) -> stage-2 features (B, frames, dim), registered as frontend ``stage2_fbank``.

    Args: the fields of :class:`~espnet_ext.dataprep.fbank.FbankConfig` (conf/fbank.yaml), plus
        input_scale: factor from the input's scale to Kaldi's int16 scale (32768 for float audio in [-1, 1],
            as soundfile and ESPnet's ``sound`` reader give it; 1 for int16 sample values).
        input_rate: sample rate of the waveforms given (default: ``sample_rate``); other rates are resampled.
    """

    def __init__(self, feature_type: str = "fbank", sample_rate: int = 16000, num_mel_bins: int = 80,
                 frame_length_ms: float = 25.0, frame_shift_ms: float = 10.0, dither: float = 0.0,
                 input_scale: float = 32768.0, input_rate: int = None):
        super().__init__()
        self.conf = FbankConfig(feature_type=feature_type, sample_rate=sample_rate, num_mel_bins=num_mel_bins,
                                frame_length_ms=frame_length_ms, frame_shift_ms=frame_shift_ms, dither=dither)
        self.input_scale = float(input_scale)
        self.input_rate = int(input_rate or sample_rate)
        self._logged_rates: Set[int] = set()

    def output_size(self) -> int:
        return self.conf.dim

    def _resample(self, wave: torch.Tensor) -> torch.Tensor:
        rate = self.input_rate
        if rate == self.conf.sample_rate:
            return wave
        if rate <= 0:
            raise ValueError(f"input_rate must be positive, got {rate}")
        if rate not in self._logged_rates:
            self._logged_rates.add(rate)
            logger.info("stage2_fbank frontend: resampling input from %d Hz to the model's %d Hz",
                        rate, self.conf.sample_rate)
        import torchaudio.functional

        return torchaudio.functional.resample(wave, rate, self.conf.sample_rate)

    def forward(self, input: torch.Tensor, input_lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if input.dim() != 2:
            raise ValueError(f"stage2_fbank frontend takes a waveform batch (B, T), got shape {tuple(input.shape)}"
                             " (features? decode a features config, not the raw-audio one)")
        feats, lengths = [], []
        for wave, n in zip(input, input_lengths.tolist()):
            # Resample before scaling, as load_audio does (float32 throughout, as in stage 2).
            wave = self._resample(wave[: int(n)].detach().to(torch.float32).cpu())
            f = kaldi_features((wave * self.input_scale).unsqueeze(0), self.conf)
            feats.append(f)
            lengths.append(f.shape[0])
        out = input.new_zeros((len(feats), max(lengths, default=0), self.conf.dim), dtype=torch.float32)
        for i, f in enumerate(feats):
            out[i, : f.shape[0]] = f.to(out.device)
        return out, torch.tensor(lengths, dtype=torch.long, device=input.device)
