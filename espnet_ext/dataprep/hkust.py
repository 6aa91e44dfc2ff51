"""HKUST Mandarin telephone speech (LDC2005S15 audio + LDC2005T32 transcripts) data prep: the monolingual
ZH corpus of the meta-transfer paper (Winata et al., arXiv:2004.14228, §5.1), up-sampled from 8 to 16 kHz.

LDC layout (the two releases may sit under one ``corpus_dir`` or be given apart)::

    LDC2005S15/hkust_mcts_p1/data/audio/{train,dev}/<call>.sph     two channels (A, B), 8 kHz
    LDC2005T32/hkust_mcts_p1tr/data/trans/{train,dev}/<call>.txt  ``<start_s> <end_s> A: <text>`` lines

Audio is read with soundfile (libsndfile reads NIST SPHERE with PCM or µ-law samples; shorten-compressed
SPHERE is not supported by libsndfile: such files must first be converted with ``sph2pipe -f wav``, and the
error says so).  Channel ``A`` is channel 1, ``B`` channel 2.  Each segment is cut and up-sampled to a 16 kHz WAV
(:mod:`segmented_audio`).  Splits: LDC ``dev`` → ``zh_test`` (as in ESPnet/Kaldi HKUST recipes), and
``dev_calls`` training calls held out as ``zh_dev``; the rest is ``zh_train``. ``utt2lang`` tag ``zh``.
"""

import logging
import random
import re
from pathlib import Path
from typing import Dict, List, Optional

from espnet_ext.dataprep import synth_corpus
from espnet_ext.dataprep.segmented_audio import cut_segment, normalize_transcript, prepared_output

logger = logging.getLogger(__name__)

_LINE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s+(\d+(?:\.\d+)?)\s+([AB]):\s*(.*)$")
SETS = ("zh_train", "zh_dev", "zh_test")


def read_transcript(path: Path) -> List[dict]:
    """Segments ``{start, end, channel, text}`` of one call; comment (``#``) and blank lines skipped."""
    out = []
    with open(path, encoding="utf-8", errors="strict") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            m = _LINE.match(line)
            if not m:
                raise ValueError(f"{path}:{lineno}: expected '<start> <end> A|B: <text>', got {line.strip()!r}")
            start, end = float(m.group(1)), float(m.group(2))
            if end <= start:
                raise ValueError(f"{path}:{lineno}: end {end} is not after start {start}")
            out.append({"start": start, "end": end, "channel": m.group(3), "text": m.group(4)})
    return out


def _open_info(sph: Path):
    import soundfile
    try:
        return soundfile.info(str(sph))
    except Exception as e:  # libsndfile: shorten-compressed SPHERE or a broken header
        raise RuntimeError(f"{sph}: soundfile cannot read this SPHERE file ({e}); if it is shorten-compressed, "
                           "convert it first: sph2pipe -f wav IN.sph OUT.wav (keeping the name, .wav beside "
                           ".sph is also accepted)") from e


def prepare_hkust(audio_dir: Path, trans_dir: Path, out_dir: Path, dev_calls: int = 20, seed: int = 0,
                  min_duration: float = 0.2, max_duration: Optional[float] = 30.0) -> Dict[str, int]:
    """Write ``zh_train zh_dev zh_test`` data dirs (16 kHz WAVs in ``out_dir/wav``); return counts.

    Idempotent and never half-done (:mod:`espnet_ext.utils.atomic_dir`): ``out_dir`` is built aside in
    ``.<name>.partial`` and renamed into place with a ``.done`` recording the arguments; a rerun with the same
    arguments returns the recorded counts, with others it rebuilds and replaces ``out_dir``. ``out_dir`` is
    replaced as a whole: give each preparer a dir of its own."""
    audio_dir, trans_dir, out_dir = (Path(p).absolute() for p in (audio_dir, trans_dir, out_dir))
    for p in (audio_dir, trans_dir):
        if not p.is_dir():
            raise FileNotFoundError(f"HKUST directory not found: {p}")
    args = {"audio": str(audio_dir), "trans": str(trans_dir), "dev_calls": dev_calls, "seed": seed,
            "min": min_duration, "max": max_duration}
    out = prepared_output(out_dir, "hkust_prep", args, logger)
    if out.complete:
        return out.record["counts"]
    audio = {}
    for p in list(audio_dir.rglob("*.sph")) + list(audio_dir.rglob("*.wav")):
        if p.parent.name.lower() in ("train", "dev"):
            audio.setdefault(p.stem, p)
    with out as tmp:  # written aside, renamed into place when complete (espnet_ext.utils.atomic_dir)
        by_part: Dict[str, List[dict]] = {"train": [], "dev": []}
        for txt in sorted(trans_dir.rglob("*.txt")):
            part = txt.parent.name.lower()
            if part not in by_part:
                continue
            if txt.stem not in audio:
                raise FileNotFoundError(f"{txt}: no audio {txt.stem}.sph under {audio_dir}")
            info = _open_info(audio[txt.stem])
            for seg in read_transcript(txt):
                text = normalize_transcript(seg["text"])
                dur = seg["end"] - seg["start"]
                if not text or dur < min_duration or (max_duration is not None and dur > max_duration):
                    continue
                spk = f"{txt.stem}-{seg['channel']}"
                utt = f"{spk}-{int(round(seg['start'] * 1000)):08d}"
                wav = Path("wav") / txt.stem / f"{utt}.wav"
                duration = cut_segment(audio[txt.stem], seg["start"], seg["end"], tmp / wav,
                                       "AB".index(seg["channel"]), info)
                by_part[part].append({"utt": utt, "spk": spk, "call": txt.stem, "lang": "zh", "transcript": text,
                                      "final_path": str(out_dir / wav), "duration": duration})
        calls = sorted({u["call"] for u in by_part["train"]})
        if len(calls) <= dev_calls:
            raise ValueError(f"{trans_dir}: {len(calls)} training calls, dev_calls={dev_calls} leaves none to train on")
        random.Random(f"{seed}:hkust").shuffle(calls)
        dev = set(calls[:dev_calls])
        sets = {"zh_train": [u for u in by_part["train"] if u["call"] not in dev],
                "zh_dev": [u for u in by_part["train"] if u["call"] in dev], "zh_test": by_part["dev"]}
        for name, items in sets.items():
            if not items:
                raise ValueError(f"HKUST set {name} would be empty (LDC 'dev' transcripts found: "
                                 f"{bool(by_part['dev'])})")
            synth_corpus.write_data_dir(tmp / name, items)
        counts = {name: len(items) for name, items in sets.items()}
        out.record.update(args=args, counts=counts)
    return counts
