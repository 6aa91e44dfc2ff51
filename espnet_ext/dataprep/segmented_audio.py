"""Shared pieces of the real-corpus preparers (SEAME, HKUST): transcript normalisation, segment cutting and the
atomic output dir whose marker records the preparer's arguments.

Long LDC recordings are cut into one 16 kHz mono WAV per transcribed segment because our data dirs
hold plain file paths (``validate_data_dir`` rejects piped ``wav.scp`` entries and Kaldi ``segments``).
HKUST is 8 kHz telephone speech: the paper up-samples it to 16 kHz (Winata et al., arXiv:2004.14228, §5.1); we do it
here with an exact 2:1 polyphase filter (``scipy.signal.resample_poly``), so stage 2 sees 16 kHz everywhere
and never has to resample with a warning.
"""

import logging
import math
import re
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from espnet_ext.utils.atomic_dir import AtomicOutputDir, atomic_output_dir, options_fingerprint

SAMPLE_RATE = 16000
#: Annotation markup of LDC transcripts: ``[noise]``, ``<unk>``, ``(ppl)``, ``{laugh}``, ``%hes``.
_MARKUP = re.compile(r"\[[^\]]*\]|<[^>]*>|\([^)]*\)|\{[^}]*\}|%\w+")
_UNIT = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[a-z]+(?:'[a-z]+)*")


def normalize_transcript(text: str) -> str:
    """Transcript convention of the CS recipes: markup removed, Latin lower-cased, Chinese characters
    unspaced, English words spaced, one space at each language boundary; digits/punctuation dropped."""
    units = _UNIT.findall(_MARKUP.sub(" ", text).lower())
    out = []
    for unit in units:
        if out and not unit[0].isascii() and not out[-1][-1].isascii():
            out[-1] += unit  # two Chinese runs split by removed markup/punctuation
        else:
            out.append(unit)
    return " ".join(out)


def cut_segment(audio: Path, start: float, end: float, out_path: Path, channel: int = 0,
                info: Optional[object] = None) -> float:
    """Write ``audio[start:end]`` (seconds; one channel) as 16-bit 16 kHz mono WAV; return its duration.

    Raises ``ValueError`` naming the file when the span is empty or outside the recording."""
    import soundfile
    info = info or soundfile.info(str(audio))
    if channel >= info.channels:
        raise ValueError(f"{audio}: channel {channel + 1} requested but the file has {info.channels}")
    first, last = int(round(start * info.samplerate)), min(int(round(end * info.samplerate)), info.frames)
    if not 0 <= first < last:
        raise ValueError(f"{audio}: segment {start:.3f}-{end:.3f} s is empty or outside the recording "
                         f"({info.frames / info.samplerate:.3f} s)")
    wave, rate = soundfile.read(str(audio), start=first, stop=last, dtype="float32", always_2d=True)
    wave = wave[:, channel]
    if rate != SAMPLE_RATE:
        from scipy.signal import resample_poly
        g = math.gcd(rate, SAMPLE_RATE)
        wave = resample_poly(wave, SAMPLE_RATE // g, rate // g).astype(np.float32)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(out_path), np.clip(wave, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16")
    return len(wave) / SAMPLE_RATE


def prepared_output(out_dir: Path, builder: str, args: Dict[str, Any], log: logging.Logger) -> AtomicOutputDir:
    """The output dir of preparer ``builder`` run with ``args`` (:mod:`espnet_ext.utils.atomic_dir`): complete when
    its ``.done`` records the same arguments (``<dir> already prepared``; the counts are ``.record["counts"]``),
    also in the ``{"args", "counts"}`` marker the preparers wrote in place before. Build it with ``with out as
    tmp:`` and record ``out.record.update(args=args, counts=counts)`` there."""
    def legacy(old):
        return options_fingerprint(builder, old["args"]) if set(old["args"]) == set(args) else None
    return atomic_output_dir(out_dir, options_fingerprint(builder, args), legacy=legacy,
                             skip_log="{dir} already prepared", log=log)
