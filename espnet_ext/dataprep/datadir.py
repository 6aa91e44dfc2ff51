"""Kaldi-style data directories with a per-utterance language tag (``utt2lang``).

A data dir holds ``wav.scp``, ``text``, ``utt2spk``, ``spk2utt`` and ``utt2lang`` (docs/data_dir.md).
Every later stage trusts what :func:`validate_data_dir` accepted, so it checks everything a stage would
otherwise trip over much later, and names the file, line and utterance of the first problem.
"""

import logging
from pathlib import Path
from typing import Dict, Iterable, List, Optional

REQUIRED_FILES = ("wav.scp", "text", "utt2spk", "spk2utt", "utt2lang")

logger = logging.getLogger(__name__)


class DataDirError(ValueError):
    """A data directory that the recipe cannot use; the message names file, line and utterance."""


def read_kaldi_map(path: Path, allow_empty_value: bool = False) -> Dict[str, str]:
    """Read ``key value...`` lines in order; reject duplicates and (unless allowed) empty values."""
    path = Path(path)
    if not path.is_file():
        raise DataDirError(f"{path}: file not found")
    out: Dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                raise DataDirError(f"{path}:{lineno}: blank line")
            key, _, value = line.partition(" ")
            value = value.strip()
            if key in out:
                raise DataDirError(f"{path}:{lineno}: duplicate key '{key}'")
            if not value and not allow_empty_value:
                raise DataDirError(f"{path}:{lineno}: utterance '{key}' has an empty value")
            out[key] = value
    return out


def write_kaldi_map(path: Path, mapping: Dict[str, str]) -> None:
    """Write ``key value`` lines sorted by key (Kaldi's C-locale order) atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for key in sorted(mapping):
            f.write(f"{key} {mapping[key]}\n")
    tmp.replace(path)


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
                 utt2lang: Dict[str, str]):
        self.path = Path(path)
        self.wav = wav
        self.text = text
        self.utt2spk = utt2spk
        self.utt2lang = utt2lang

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
                      sample_rate: int = 16000) -> DataDir:
    """Validate a data dir and return its content.

    Args:
        data_dir: the directory.
        languages: the allowed language tags; ``None`` accepts any non-empty tag.
        check_audio: open every ``wav.scp`` entry's header (readable, mono, sample rate).
        sample_rate: the expected rate; another rate is accepted with a warning, because stage b
            resamples (docs/data_dir.md), but an unreadable file is an error.

    Raises:
        DataDirError: naming the file, line or utterance of the first problem found.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataDirError(f"{data_dir}: data directory not found")
    for name in REQUIRED_FILES:
        if not (data_dir / name).is_file():
            raise DataDirError(f"{data_dir / name}: required file missing")

    wav = read_kaldi_map(data_dir / "wav.scp")
    text = read_kaldi_map(data_dir / "text", allow_empty_value=True)
    utt2spk = read_kaldi_map(data_dir / "utt2spk")
    spk2utt = read_kaldi_map(data_dir / "spk2utt")
    utt2lang = read_kaldi_map(data_dir / "utt2lang", allow_empty_value=True)
    if not wav:
        raise DataDirError(f"{data_dir / 'wav.scp'}: no utterances")

    for name, mapping in (("text", text), ("utt2spk", utt2spk), ("utt2lang", utt2lang)):
        _check_same_keys("wav.scp", wav, data_dir / name, mapping)
    for utt, value in text.items():
        if not value.strip():
            raise DataDirError(f"{data_dir / 'text'}: utterance '{utt}' has an empty transcript")
    for utt, lang in utt2lang.items():
        if not lang:
            raise DataDirError(f"{data_dir / 'utt2lang'}: utterance '{utt}' has no language tag")
        if " " in lang:
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
        other_rate = [(utt, rate) for utt in sorted(wav)
                      if (rate := check_wav_entry(data_dir / "wav.scp", utt, wav[utt])) != sample_rate]
        if other_rate:
            utt, rate = other_rate[0]
            logger.warning("%s: %d utterance(s) are not %d Hz (first: '%s' at %d Hz); feature extraction "
                           "will resample them", data_dir / "wav.scp", len(other_rate), sample_rate, utt, rate)
    return DataDir(data_dir, wav, text, utt2spk, utt2lang)


def check_wav_entry(scp: Path, utt: str, path: str) -> int:
    """Open one ``wav.scp`` entry's header and return its sample rate."""
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
    return info.samplerate
