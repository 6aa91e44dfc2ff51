"""A user's Kaldi data dirs for the own-data tests (tests/dataprep/test_own_data.py, tests/egs/test_own_data_recipe.py):
the files a user brings (no spk2utt), short tone wavs."""

import random
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from tests.conftest import write_tone

Row = Tuple[str, str, str, str]  # utt, speaker, language, transcript


def make_kaldi_dir(root: Path, rows: Sequence[Row], shuffle: Optional[int] = None,
                   skip: Sequence[str] = ()) -> Path:
    """A user's Kaldi dir (no spk2utt) with a 0.1 s tone per utterance; ``shuffle`` writes the lines in a
    seeded random order (Kaldi dirs need not be sorted here), ``skip`` leaves files out."""
    root.mkdir(parents=True)
    (root / "wav").mkdir()
    files: Dict[str, List[str]] = {"wav.scp": [], "text": [], "utt2spk": [], "utt2lang": []}
    for i, (utt, spk, lang, text) in enumerate(rows):
        wav = root / "wav" / f"{utt}.wav"
        write_tone(wav, 0.1, 200 + 10 * i, seed=i)
        files["wav.scp"].append(f"{utt} {wav}")
        files["text"].append(f"{utt} {text}".rstrip())
        files["utt2spk"].append(f"{utt} {spk}")
        files["utt2lang"].append(f"{utt} {lang}")
    for name, lines in files.items():
        if name in skip:
            continue
        if shuffle is not None:
            random.Random(shuffle).shuffle(lines)
        (root / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return root
