"""Miniature CommonVoice releases for the CommonVoice tests (tests.fixtures.cv_fixture).

Utterances reuse a few tone files, so the fixture builder encodes each tone to MP3 once and copies it:
a release of hundreds of clips costs a few encodes.
"""

from pathlib import Path
from typing import Dict, Sequence

from tests.conftest import write_tone
from tests.fixtures.cv_fixture import build_cv_release

SENTENCES = {
    "en": ["hello world", "good night", "the cat sat on the mat", "don't stop now"],
    "fr": ["bonjour le monde", "l'homme est là", "peut-être demain"],
    "es": ["hola mundo", "buenas noches"],
    "it": ["ciao mondo", "buona notte"],
    "ru": ["привет мир", "доброй ночи"],
    "zh": ["困難與挑戰", "是激發我們的原動力"],
    "tt": ["сәлам дөнья", "хәерле төн"],
    "nl": ["hallo wereld", "goede nacht"],
    "tr": ["iki ılık şişe", "istanbul güzel"],
    "ky": ["салам дүйнө", "жакшы түн"],
    "sv": ["hej världen", "god natt"],
}


def make_release(root: Path, counts: Dict[str, Dict[str, int]], durations: Sequence[float] = (0.3, 0.4, 0.5)
                 ) -> Path:
    """``counts[lang][split]`` utterances per language and split; returns the release root.

    Utterance k uses tone ``k % len(durations)``; speakers alternate between two per language.
    """
    tones = []
    for i, sec in enumerate(durations):
        tones.append(root / "tones" / f"tone{i}.wav")
        tones[-1].parent.mkdir(parents=True, exist_ok=True)
        write_tone(tones[-1], sec, 300 + 100 * i, seed=i)
    split_dirs = {}
    for split in ("train", "dev", "test"):
        d = root / "src" / split
        d.mkdir(parents=True, exist_ok=True)
        files: Dict[str, list] = {"wav.scp": [], "text": [], "utt2spk": [], "utt2lang": []}
        for lang, per_split in counts.items():
            for k in range(per_split.get(split, 0)):
                spk = f"{lang}s{k % 2}"
                utt = f"{spk}-{split}-{k:04d}"
                files["wav.scp"].append(f"{utt} {tones[k % len(tones)]}")
                files["text"].append(f"{utt} {SENTENCES[lang][k % len(SENTENCES[lang])]}")
                files["utt2spk"].append(f"{utt} {spk}")
                files["utt2lang"].append(f"{utt} {lang}")
        for name, rows in files.items():
            (d / name).write_text("".join(r + "\n" for r in sorted(rows)), encoding="utf-8")
        split_dirs[split] = d
    build_cv_release(split_dirs, root / "cv")
    return root / "cv"
