"""SEAME Phase II (LDC2015S04) data prep for the code-switching recipe (Winata et al., arXiv:2004.14228, §5.1, Table 1).

LDC layout (``corpus_dir`` = the LDC2015S04 root, or any directory above ``data/``)::

    seame_d1/data/conversation/audio/01NC01FBX_0101.flac
    seame_d1/data/conversation/transcript/phaseII/01NC01FBX_0101.txt   (older releases: transcript/*.txt)
    seame_d2/data/interview/audio/NI01MAX_0101.flac
    seame_d2/data/interview/transcript/phaseII/NI01MAX_0101.txt

Transcript lines are tab-separated ``<recording_id> <start_ms> <end_ms> [<lang>] <text>`` (lang ``ZH``/``EN``/
``CS`` in Phase II; absent in older releases). Phase I transcripts are a subset of Phase II and are not read.
Each segment becomes one 16 kHz WAV; the speaker is the ``NNGA`` code of the recording id (``01NC01FBX`` →
``01FB``, ``NI01MAX`` → ``01MA``).  Splits are by speaker (the paper's split, Winata et al. 2019, is not
published as lists): ``test_speakers`` and ``dev_speakers`` speakers are held out (8 and 8 as in Table 1), and
the train speakers' *recordings* are divided into CS-a (source task) and CS-b (target task, a
``target_fraction`` of them), so the two share no utterance.  Output sets: ``cs_train cs_a_train cs_b_train
cs_dev cs_test``; every ``utt2lang`` tag is ``cs``.
"""

import logging
import random
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from espnet_ext.dataprep import synth_corpus
from espnet_ext.dataprep.segmented_audio import cut_segment, normalize_transcript, prepared_output

logger = logging.getLogger(__name__)

_SPEAKER = re.compile(r"^(?:\d\d)?N[CI](\d\d[MF][AB])", re.IGNORECASE)
SETS = ("cs_train", "cs_a_train", "cs_b_train", "cs_dev", "cs_test")


def speaker_of(recording_id: str) -> str:
    m = _SPEAKER.match(recording_id)
    return m.group(1).upper() if m else recording_id.split("_", 1)[0]


def parse_transcript_line(line: str, path: Path, lineno: int) -> Tuple[str, float, float, str]:
    """``(recording_id, start_s, end_s, text)`` of one transcript line; ``ValueError`` names file:line."""
    fields = line.rstrip("\n").split("\t")
    if len(fields) < 4:  # space-separated copies of the transcripts
        fields = line.split(None, 4)
        if len(fields) == 5 and fields[3].upper() not in ("ZH", "EN", "CS"):
            fields = line.split(None, 3)
    try:
        rec, start, end = fields[0], float(fields[1]) / 1000, float(fields[2]) / 1000
        text = fields[-1] if len(fields) >= 4 else ""
    except (IndexError, ValueError):
        raise ValueError(f"{path}:{lineno}: expected '<recording_id> <start_ms> <end_ms> [<lang>] <text>', "
                         f"got {line.strip()!r}") from None
    if end <= start:
        raise ValueError(f"{path}:{lineno}: end {end:.3f} s is not after start {start:.3f} s")
    return rec, start, end, text


def find_recordings(corpus_dir: Path) -> List[Tuple[Path, Path]]:
    """``(transcript, audio)`` pairs of Phase II; error naming the directory if none are found."""
    pairs = []
    for trans_dir in sorted(corpus_dir.rglob("transcript")):
        if not trans_dir.is_dir() or trans_dir.parent.name not in ("conversation", "interview"):
            continue
        phase = trans_dir / "phaseII"
        for txt in sorted((phase if phase.is_dir() else trans_dir).glob("*.txt")):
            audio = trans_dir.parent / "audio" / f"{txt.stem}.flac"
            if audio.is_file():
                pairs.append((txt, audio))
            else:
                logger.warning("%s: no audio %s; skipped", txt, audio)
    if not pairs:
        raise FileNotFoundError(f"{corpus_dir}: no SEAME transcripts with audio found (expected "
                                "data/{conversation,interview}/transcript[/phaseII]/*.txt beside audio/*.flac)")
    return pairs


def prepare_seame(corpus_dir: Path, out_dir: Path, test_speakers: int = 8, dev_speakers: int = 8,
                  target_fraction: float = 0.2, seed: int = 0, min_duration: float = 0.2,
                  max_duration: Optional[float] = 30.0) -> Dict[str, int]:
    """Write the :data:`SETS` data dirs and ``out_dir/wav/``; return utterances per set.

    Idempotent and never half-done (:mod:`espnet_ext.utils.atomic_dir`): ``out_dir`` is built aside in
    ``.<name>.partial`` and renamed into place with a ``.done`` recording the arguments; a rerun with the same
    arguments returns the recorded counts, with others it rebuilds and replaces ``out_dir``. ``out_dir`` is
    replaced as a whole: give each preparer a dir of its own."""
    corpus_dir, out_dir = Path(corpus_dir).absolute(), Path(out_dir).absolute()
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"SEAME corpus directory not found: {corpus_dir}")
    if not 0 < target_fraction < 1:
        raise ValueError(f"target_fraction must be in (0, 1), got {target_fraction}")
    args = {"corpus_dir": str(corpus_dir), "test": test_speakers, "dev": dev_speakers, "target": target_fraction,
            "seed": seed, "min": min_duration, "max": max_duration}
    out = prepared_output(out_dir, "seame_prep", args, logger)
    if out.complete:
        return out.record["counts"]
    recordings = find_recordings(corpus_dir)
    with out as tmp:  # written aside, renamed into place when complete (espnet_ext.utils.atomic_dir)
        utts: List[dict] = []
        for txt, audio in recordings:
            import soundfile
            info = soundfile.info(str(audio))
            with open(txt, encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    rec, start, end, raw = parse_transcript_line(line, txt, lineno)
                    text = normalize_transcript(raw)
                    dur = end - start
                    if not text or dur < min_duration or (max_duration is not None and dur > max_duration):
                        continue
                    if start * info.samplerate >= info.frames:
                        logger.warning("%s:%d: segment starts after the end of %s; skipped", txt, lineno, audio)
                        continue
                    spk = speaker_of(txt.stem)
                    utt = f"{spk}-{txt.stem}-{int(round(start * 1000)):08d}"
                    wav = Path("wav") / spk / f"{utt}.wav"
                    duration = cut_segment(audio, start, end, tmp / wav, 0, info)
                    utts.append({"utt": utt, "spk": spk, "rec": txt.stem, "lang": "cs", "transcript": text,
                                 "final_path": str(out_dir / wav), "duration": duration})
        speakers = sorted({u["spk"] for u in utts})
        if len(speakers) <= test_speakers + dev_speakers:
            raise ValueError(f"{corpus_dir}: {len(speakers)} speakers, but test_speakers={test_speakers} + "
                             f"dev_speakers={dev_speakers} must leave some for training")
        rng = random.Random(f"{seed}:seame")
        rng.shuffle(speakers)
        held = {s: "cs_test" for s in speakers[:test_speakers]}
        held.update({s: "cs_dev" for s in speakers[test_speakers:test_speakers + dev_speakers]})
        train_recs = sorted({u["rec"] for u in utts if u["spk"] not in held})
        rng.shuffle(train_recs)
        n_target = max(1, round(target_fraction * len(train_recs)))
        target = set(train_recs[:n_target])
        sets: Dict[str, List[dict]] = {name: [] for name in SETS}
        for u in utts:
            if u["spk"] in held:
                sets[held[u["spk"]]].append(u)
            else:
                sets["cs_train"].append(u)
                sets["cs_b_train" if u["rec"] in target else "cs_a_train"].append(u)
        for name, items in sets.items():
            if not items:
                raise ValueError(f"{corpus_dir}: set {name} would be empty; adjust the split options")
            synth_corpus.write_data_dir(tmp / name, items)
        counts = {name: len(items) for name, items in sets.items()}
        out.record.update(args=args, counts=counts)
    return counts
