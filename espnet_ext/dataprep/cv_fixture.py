"""A miniature CommonVoice release built from Kaldi data dirs (e.g. espnet_ext.dataprep.synth_corpus output),
for offline coverage of the real CommonVoice path of the A2 recipe (A2 paper Sec. 3.1).

Layout written (the one of a CommonVoice release, one directory per locale):

    <out_root>/<locale>/clips/common_voice_<locale>_<n>.mp3     48 kHz mono MP3 (libsndfile >= 1.1)
    <out_root>/<locale>/{train,dev,test,validated}.tsv          client_id path sentence up_votes down_votes
                                                                age gender accents locale segment
    <out_root>/<locale>/{invalidated,other}.tsv                 header only

``zh`` is written as ``zh-TW`` and ``sv`` as ``sv-SE`` (the release locales).  ``validated.tsv`` holds every
clip of every split, as a real release does (the data prep removes dev/test from it).  The client id is
the SHA-512 hex digest of the speaker id (CommonVoice client ids are 128 hex digits).  Sentences are
"de-normalised" (first letter upper-cased, a final full stop, or "。" for Chinese) so that the recipe's
normalisation is exercised.  Audio read from the same source file twice is encoded once and copied.
"""

import hashlib
import logging
import shutil
from math import gcd
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from espnet_ext.fileio.kaldi_map import read_kaldi_map

logger = logging.getLogger(__name__)

LOCALES = {"zh": "zh-TW", "sv": "sv-SE"}
COLUMNS = ("client_id", "path", "sentence", "up_votes", "down_votes", "age", "gender", "accents", "locale",
           "segment")
RELEASE_RATE = 48000


def locale_of(lang: str) -> str:
    return LOCALES.get(lang, lang)


def decorate_sentence(text: str, lang: str) -> str:
    """A plausible raw CommonVoice sentence for a normalised transcript."""
    if lang.startswith("zh"):
        return text.replace(" ", "") + "。"
    return text[:1].upper() + text[1:] + "."


def encode_mp3(src: str, dst: Path, rate: int = RELEASE_RATE) -> None:
    """Read ``src`` (any libsndfile format), resample to ``rate`` and write an MP3."""
    import soundfile
    from scipy.signal import resample_poly

    wave, sr = soundfile.read(src, dtype="float32", always_2d=True)
    wave = wave.mean(axis=1)
    if sr != rate:
        g = gcd(rate, sr)
        wave = resample_poly(wave, rate // g, sr // g).astype(np.float32)
    soundfile.write(str(dst), np.clip(wave, -1.0, 1.0), rate, format="MP3", subtype="MPEG_LAYER_III")


def build_cv_release(split_dirs: Dict[str, Path], out_root: Path) -> Dict[str, Dict[str, int]]:
    """Write the release (module docstring) from ``{split: data_dir}`` with splits among train/dev/test.

    Returns ``{locale: {split: utterances}}``.
    """
    unknown = set(split_dirs) - {"train", "dev", "test"}
    if unknown:
        raise ValueError(f"split_dirs: unknown split(s) {sorted(unknown)} (train, dev, test)")
    out_root = Path(out_root)
    rows: Dict[str, Dict[str, List[Tuple[str, ...]]]] = {}
    encoded: Dict[str, Path] = {}
    counter = 0
    for split, data_dir in split_dirs.items():
        data_dir = Path(data_dir)
        wav = read_kaldi_map(data_dir / "wav.scp")
        text = read_kaldi_map(data_dir / "text")
        utt2spk = read_kaldi_map(data_dir / "utt2spk")
        utt2lang = read_kaldi_map(data_dir / "utt2lang")
        for utt in sorted(wav):
            lang = utt2lang[utt]
            locale = locale_of(lang)
            clips = out_root / locale / "clips"
            clips.mkdir(parents=True, exist_ok=True)
            counter += 1
            name = f"common_voice_{locale}_{counter:08d}.mp3"
            if wav[utt] in encoded:
                shutil.copyfile(encoded[wav[utt]], clips / name)
            else:
                encode_mp3(wav[utt], clips / name)
                encoded[wav[utt]] = clips / name
            client = hashlib.sha512(utt2spk[utt].encode("utf-8")).hexdigest()
            row = (client, name, decorate_sentence(text[utt], lang), "2", "0", "", "", "", locale, "")
            rows.setdefault(locale, {}).setdefault(split, []).append(row)
    summary: Dict[str, Dict[str, int]] = {}
    for locale, by_split in rows.items():
        validated = [r for s in ("train", "dev", "test") for r in by_split.get(s, [])]
        for name, table in [(s, by_split.get(s, [])) for s in ("train", "dev", "test")] + [
                ("validated", validated), ("invalidated", []), ("other", [])]:
            # Written literally (CommonVoice tsvs are read with quoting off): no field holds a tab.
            lines = ["\t".join(COLUMNS)] + ["\t".join(r) for r in table]
            (out_root / locale / f"{name}.tsv").write_text("".join(x + "\n" for x in lines), encoding="utf-8")
        summary[locale] = {s: len(by_split.get(s, [])) for s in ("train", "dev", "test")}
        logger.info("%s: %s", out_root / locale, summary[locale])
    return summary
