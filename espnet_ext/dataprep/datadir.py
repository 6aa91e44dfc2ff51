"""Kaldi-style data directories with a per-utterance language tag (``utt2lang``).

A data dir holds ``wav.scp``, ``text``, ``utt2spk``, ``spk2utt`` and ``utt2lang`` (docs/data_dir.md).
Every later stage trusts what :func:`validate_data_dir` accepted, so it checks everything a stage would
otherwise trip over much later, and names the file, line and utterance of the first problem.  The files are
read with :mod:`espnet_ext.fileio.kaldi_map`, whose ``DataDirError`` this module raises too.
"""

import logging
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from espnet_ext.fileio import kaldi_map
from espnet_ext.fileio.kaldi_map import DataDirError

REQUIRED_FILES = ("wav.scp", "text", "utt2spk", "spk2utt", "utt2lang")

logger = logging.getLogger(__name__)


def _check_same_keys(name_a: str, keys_a: Iterable[str], path_b: Path, keys_b: Iterable[str]) -> None:
    a, b = set(keys_a), set(keys_b)
    if a - b:
        utt = sorted(a - b)[0]
        raise DataDirError(f"{path_b}: no entry for utterance '{utt}' (present in {name_a}; {len(a - b)} missing)")
    if b - a:
        utt = sorted(b - a)[0]
        raise DataDirError(f"{path_b}: utterance '{utt}' is not in {name_a} ({len(b - a)} extra)")


class DataDir:
    """The parsed, validated content of one data directory."""

    def __init__(self, path: Path, wav: Dict[str, str], text: Dict[str, str], utt2spk: Dict[str, str],
                 utt2lang: Dict[str, str], spk2utt: Optional[Dict[str, str]] = None,
                 utt2dur: Optional[Dict[str, str]] = None):
        self.path = Path(path)
        self.wav = wav
        self.text = text
        self.utt2spk = utt2spk
        self.utt2lang = utt2lang
        self.spk2utt = spk2utt
        self.utt2dur = utt2dur

    def normalized_files(self) -> Dict[str, Dict[str, str]]:
        """The parsed ``text utt2spk spk2utt utt2lang`` as written back by
        :func:`espnet_ext.fileio.kaldi_map.write_kaldi_map`: sorted, one space after the key, no byte-order mark
        (what stage 2 copies next to the features)."""
        spk2utt = self.spk2utt
        if spk2utt is None:
            spk2utt = {}
            for utt in sorted(self.utt2spk):
                spk2utt.setdefault(self.utt2spk[utt], []).append(utt)
            spk2utt = {spk: " ".join(utts) for spk, utts in spk2utt.items()}
        return {"text": self.text, "utt2spk": self.utt2spk,
                "spk2utt": {spk: " ".join(utts.split()) for spk, utts in spk2utt.items()}, "utt2lang": self.utt2lang}

    @property
    def utts(self) -> List[str]:
        return sorted(self.wav)

    @property
    def languages(self) -> List[str]:
        return sorted(set(self.utt2lang.values()))

    def utts_per_language(self) -> Dict[str, int]:
        counts: Dict[str, int] = {}
        for lang in self.utt2lang.values():
            counts[lang] = counts.get(lang, 0) + 1
        return dict(sorted(counts.items()))


def validate_data_dir(data_dir: Path, languages: Optional[List[str]] = None, check_audio: bool = True,
                      sample_rate: int = 16000, duration_tolerance: Optional[float] = None) -> DataDir:
    """Validate a data dir and return its content.

    Args:
        data_dir: the directory.
        languages: the allowed language tags; ``None`` accepts any non-empty tag.
        check_audio: open every ``wav.scp`` entry's header (readable, mono, sample rate).
        sample_rate: the expected rate; another rate is accepted with a warning, because stage b
            resamples (docs/data_dir.md), but an unreadable file is an error.
        duration_tolerance: if given (seconds), compare every audio file's actual length (its sample count
            over its rate) with ``utt2dur`` (required then): a difference above the tolerance is an error
            (e.g. a file cut short with its header intact). ``None`` (default): no duration check.

    Raises:
        DataDirError: naming the file, line or utterance of the first problem found.
    """
    data_dir = Path(data_dir)
    if duration_tolerance is not None and not duration_tolerance >= 0:
        raise ValueError(f"duration_tolerance must be >= 0 seconds, got {duration_tolerance}")
    if not data_dir.is_dir():
        raise DataDirError(f"{data_dir}: data directory not found")
    for name in REQUIRED_FILES:
        if not (data_dir / name).is_file():
            raise DataDirError(f"{data_dir / name}: required file missing")

    # Every file sorted by key (Kaldi's rule; ESPnet's readers and later stages rely on it): an unsorted file
    # is an error naming its first out-of-order line, not something stage 2 silently fixes.
    wav = kaldi_map.read_kaldi_map(data_dir / "wav.scp", require_sorted=True)
    text = kaldi_map.read_kaldi_map(data_dir / "text", allow_empty_value=True, require_sorted=True)
    utt2spk = kaldi_map.read_kaldi_map(data_dir / "utt2spk", require_sorted=True)
    spk2utt = kaldi_map.read_kaldi_map(data_dir / "spk2utt", require_sorted=True)
    utt2lang = kaldi_map.read_kaldi_map(data_dir / "utt2lang", allow_empty_value=True, require_sorted=True)
    utt2dur = None
    if (data_dir / "utt2dur").is_file():
        utt2dur = kaldi_map.read_kaldi_map(data_dir / "utt2dur", require_sorted=True)
    elif duration_tolerance is not None:
        raise DataDirError(f"{data_dir / 'utt2dur'}: required by the duration check, but missing")
    if not wav:
        raise DataDirError(f"{data_dir / 'wav.scp'}: no utterances")

    for name, mapping in (("text", text), ("utt2spk", utt2spk), ("utt2lang", utt2lang), ("utt2dur", utt2dur)):
        if mapping is not None:
            _check_same_keys("wav.scp", wav, data_dir / name, mapping)
    durations = {}
    for utt, value in (utt2dur or {}).items():
        try:
            durations[utt] = float(value)
        except ValueError:
            durations[utt] = -1.0
        if not durations[utt] > 0:  # also rejects nan
            raise DataDirError(f"{data_dir / 'utt2dur'}: utterance '{utt}' has duration '{value}', expected a "
                               f"positive number of seconds")
    for utt, value in text.items():
        if not value.strip():
            raise DataDirError(f"{data_dir / 'text'}: utterance '{utt}' has an empty transcript")
    for utt, lang in utt2lang.items():
        if not lang:
            raise DataDirError(f"{data_dir / 'utt2lang'}: utterance '{utt}' has no language tag")
        if len(lang.split()) > 1:
            raise DataDirError(f"{data_dir / 'utt2lang'}: utterance '{utt}' has more than one language tag '{lang}'")
        if languages is not None and lang not in languages:
            raise DataDirError(
                f"{data_dir / 'utt2lang'}: utterance '{utt}' has unknown language '{lang}' "
                f"(known: {' '.join(languages)})"
            )

    from_spk = {}
    for spk, utts in spk2utt.items():
        for utt in utts.split():
            from_spk[utt] = spk
    for utt, spk in utt2spk.items():
        if from_spk.get(utt) != spk:
            raise DataDirError(f"{data_dir / 'spk2utt'}: utterance '{utt}' of speaker '{spk}' disagrees with utt2spk")
    _check_same_keys("utt2spk", utt2spk, data_dir / "spk2utt", from_spk)

    # Kaldi requires utterances of one speaker to be contiguous when sorted: spk must prefix utt.
    for utt, spk in utt2spk.items():
        if not utt.startswith(spk):
            raise DataDirError(f"{data_dir / 'utt2spk'}: utterance id '{utt}' does not start with its speaker id '{spk}'")

    if check_audio:
        # One warning per data dir, not per utterance: a 48 kHz corpus has millions of them.
        other_rate = []
        for utt in sorted(wav):
            rate, frames = check_wav_entry(data_dir / "wav.scp", utt, wav[utt], with_frames=True)
            if rate != sample_rate:
                other_rate.append((utt, rate))
            if duration_tolerance is not None and abs(frames / rate - durations[utt]) > duration_tolerance:
                short = frames / rate < durations[utt]
                raise DataDirError(
                    f"{data_dir / 'wav.scp'}: utterance '{utt}': audio '{wav[utt]}' lasts {frames / rate:.3f} s "
                    f"({frames} samples at {rate} Hz) but utt2dur says {durations[utt]:.3f} s (tolerance "
                    f"{duration_tolerance:g} s): " + ("the file may be cut short (a truncated copy with its header "
                                                      "intact); re-create it" if short else "fix utt2dur"))
        if other_rate:
            utt, rate = other_rate[0]
            logger.warning("%s: %d utterance(s) are not %d Hz (first: '%s' at %d Hz); feature extraction "
                           "will resample them", data_dir / "wav.scp", len(other_rate), sample_rate, utt, rate)
    elif duration_tolerance is not None:
        raise DataDirError("the duration check opens every audio file: it cannot be combined with skipping "
                           "the audio check")
    return DataDir(data_dir, wav, text, utt2spk, utt2lang, spk2utt=spk2utt, utt2dur=utt2dur)


def check_wav_entry(scp: Path, utt: str, path: str, with_frames: bool = False):
    """Open one ``wav.scp`` entry's header and return its sample rate (and, ``with_frames``, its sample count:
    libsndfile counts the samples actually in the file, not the length a stale header claims)."""
    import soundfile

    if path.endswith("|"):
        raise DataDirError(f"{scp}: utterance '{utt}': piped commands are not supported, give a file path")
    try:
        info = soundfile.info(path)
    except Exception as e:  # soundfile raises RuntimeError/LibsndfileError/FileNotFoundError
        raise DataDirError(f"{scp}: utterance '{utt}': cannot read audio '{path}': {e}") from e
    if info.frames == 0:
        raise DataDirError(f"{scp}: utterance '{utt}': audio '{path}' is empty")
    if info.channels != 1:
        raise DataDirError(f"{scp}: utterance '{utt}': audio '{path}' has {info.channels} channels, expected mono")
    return (info.samplerate, info.frames) if with_frames else info.samplerate
