"""Bring your own data: Kaldi data dirs with ``utt2lang`` -> the recipe's ``DATADIR/{train,dev,test}`` in one step
(egs/own_data/asr1, docs/your_own_data.md).

``prepare_own_data(train_dir, test_dir, out_dir, dev_dir=None, ...)`` reads each input dir (``wav.scp``, ``text``,
``utt2spk``, ``utt2lang``; ``segments`` when present; ``spk2utt`` is ignored and written anew), normalises every
transcript with :class:`espnet_ext.text.normalizer.TranscriptNormalizer` and writes ``out_dir/{train,dev,test}``
plus ``out_dir/own_data_report.json``.

* **Checks first.** A user's dirs were made by other tools, so everything a later stage would trip over is an error
  here, naming the file and the utterance: a missing dir or file (``utt2lang`` with a hint what it holds), an
  utterance without text, speaker or language, an entry for an utterance that has no audio, a piped ``wav.scp``
  command, a missing audio file, a test (or dev) language that the training data does not have, a dir with no
  utterances.
* **Empty transcripts are dropped, never silently**: an utterance whose text is empty after normalisation (a
  transcript of punctuation only, or an empty line) is left out, logged and counted per language in the report.
* **Utterance ids.** Kaldi's sort order needs every utterance id to start with its speaker id; an id that does not
  is written as ``<speaker>-<id>`` (counted as ``renamed_utterances``), so dirs made without that rule work as they
  are.
* **Segments.** With a ``segments`` file (``utt recording start end``, end ``-1``: to the end of the recording) the
  ``wav.scp`` keys are recordings; each segment is cut into ``out_dir/wav/<set>/<utt>.wav`` (16 kHz mono,
  :func:`espnet_ext.dataprep.segmented_audio.cut_segment`), because our data dirs hold one file per utterance.
* **Dev hold-out** (no ``dev_dir``): per language, ``target = min(dev_max, max(dev_min, round(dev_share * n)))`` of
  its ``n`` training utterances go to dev, chosen by ``random.Random(f"{seed}-{lang}")`` from the sorted ids, so
  the same seed always gives the same split whatever the input order.  A language with at least
  :data:`SPEAKER_HOLDOUT_MIN` speakers gives whole speakers (the dev set then measures unseen speakers, as the
  test set usually does): speakers are taken in seeded order while the dev part is below the target, skipping one
  that would take it above ``min(dev_max, n // 2)`` or take more than half the speakers; when no such speakers
  reach ``dev_min`` it falls back to utterances (reported).  A language whose target exceeds ``n // 2`` (train
  would keep fewer than dev) keeps all its utterances in train and is listed in ``no_dev_languages``; when no
  language can give a dev part, that is an error (give ``dev_dir``).
* **Atomic and idempotent.** ``out_dir`` is written aside and renamed into place when complete, with a ``.done``
  recording the digests of the input files, the options and this code (:mod:`espnet_ext.utils.atomic_dir`); a
  re-run with the same inputs skips, any change redoes it.
"""

import json
import logging
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from espnet_ext.dataprep.datadir import validate_data_dir
from espnet_ext.fileio.kaldi_map import DataDirError, read_kaldi_map, write_kaldi_map
from espnet_ext.text.normalizer import Spec, TranscriptNormalizer
from espnet_ext.utils.atomic_dir import atomic_output_dir
from espnet_ext.utils.stage_marker import fingerprint

logger = logging.getLogger(__name__)

#: A language with at least this many training speakers gives whole speakers to the dev hold-out.
SPEAKER_HOLDOUT_MIN = 4
INPUT_FILES = ("wav.scp", "text", "utt2spk", "utt2lang", "segments")
REQUIRED_FILES = ("wav.scp", "text", "utt2spk", "utt2lang")
SPLITS = ("train", "dev", "test")
REPORT = "own_data_report.json"
#: The modules whose code makes the output (in the completion marker: an edit redoes it).
CODE = ("espnet_ext.dataprep.own_data", "espnet_ext.text.normalizer", "espnet_ext.text.cv_normalize")
_EXAMPLES = 10  # dropped utterance ids listed in the report per input dir


@dataclass(frozen=True)
class Utterance:
    """One utterance of an input dir, its transcript already normalised."""

    utt: str  # the output id (prefixed by the speaker when the input id was not)
    input_id: str  # the id in the input dir
    spk: str
    lang: str
    audio: str  # the audio file (of the recording, with ``segment``)
    text: str
    source: Path  # the input dir, for error messages
    segment: Optional[Tuple[float, float]] = None  # (start, end) seconds; end < 0: to the end of the recording


def _hint_utt2lang(path: Path) -> str:
    return (f"{path}: required file missing: give every utterance its language, one 'utterance-id language-code' "
            f"line each (e.g. 'spk1-utt1 en'; docs/data_dir.md)")


def _read_segments(path: Path) -> Dict[str, Tuple[str, float, float]]:
    segments = {}
    for utt, value in read_kaldi_map(path).items():
        fields = value.split()
        try:
            if len(fields) != 3:
                raise ValueError
            rec, start, end = fields[0], float(fields[1]), float(fields[2])
        except ValueError:
            raise DataDirError(f"{path}: utterance '{utt}': expected 'recording start end' (seconds), "
                               f"got '{value}'") from None
        if start < 0 or (end >= 0 and end <= start):
            raise DataDirError(f"{path}: utterance '{utt}': segment {start:g}-{end:g} s is empty or negative "
                               f"(end -1 means: to the end of the recording)")
        segments[utt] = (rec, start, end)
    return segments


def _audio_path(scp: Path, key: str, value: str, what: str = "utterance") -> str:
    """The audio file of a ``wav.scp`` entry (relative paths are read from the current directory, as in Kaldi)."""
    if value.endswith("|"):
        raise DataDirError(f"{scp}: {what} '{key}': piped commands are not supported ('{value}'); convert the "
                           f"audio to files (e.g. wav or flac) and list their paths")
    path = Path(value)
    if not path.is_absolute():
        path = Path.cwd() / path
    if not path.is_file():
        raise DataDirError(f"{scp}: {what} '{key}': audio file '{value}' not found"
                           + ("" if Path(value).is_absolute() else f" (relative paths are read from {Path.cwd()}; "
                              f"write absolute ones)"))
    return str(path.resolve())


def read_own_data_dir(data_dir: Path, normalizer: TranscriptNormalizer
                      ) -> Tuple[List[Utterance], Dict[str, List[str]]]:
    """The utterances of one input dir with normalised transcripts, and the ids dropped because their transcript
    is empty after normalisation (per language).

    Raises:
        DataDirError: naming the file and the utterance of the first problem (module docstring).
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataDirError(f"{data_dir}: data directory not found")
    for name in REQUIRED_FILES:
        if not (data_dir / name).is_file():
            raise DataDirError(_hint_utt2lang(data_dir / name) if name == "utt2lang"
                               else f"{data_dir / name}: required file missing")
    wav = read_kaldi_map(data_dir / "wav.scp")
    if not wav:
        raise DataDirError(f"{data_dir / 'wav.scp'}: no utterances (an empty data dir)")
    segments = _read_segments(data_dir / "segments") if (data_dir / "segments").is_file() else None
    if segments is not None:
        if not segments:
            raise DataDirError(f"{data_dir / 'segments'}: no utterances (an empty data dir)")
        for utt, (rec, _, _) in segments.items():
            if rec not in wav:
                raise DataDirError(f"{data_dir / 'segments'}: recording '{rec}' of utterance '{utt}' is not in "
                                   f"{data_dir / 'wav.scp'}")
        utts, keys_of = sorted(segments), "segments"
    else:
        utts, keys_of = sorted(wav), "wav.scp"
    text = read_kaldi_map(data_dir / "text", allow_empty_value=True)
    utt2spk = read_kaldi_map(data_dir / "utt2spk")
    utt2lang = read_kaldi_map(data_dir / "utt2lang", allow_empty_value=True)
    wanted = set(utts)
    for name, mapping in (("text", text), ("utt2spk", utt2spk), ("utt2lang", utt2lang)):
        missing = [u for u in utts if u not in mapping]
        if missing:
            what = "language" if name == "utt2lang" else "speaker" if name == "utt2spk" else "transcript"
            raise DataDirError(f"{data_dir / name}: no {what} for utterance '{missing[0]}' ({len(missing)} of "
                               f"{len(utts)} utterances of {keys_of} have none)")
        extra = sorted(set(mapping) - wanted)
        if extra:
            raise DataDirError(f"{data_dir / name}: utterance '{extra[0]}' is not in {data_dir / keys_of} "
                               f"({len(extra)} such)")
    for utt in utts:
        tags = utt2lang[utt].split()
        if len(tags) != 1:
            raise DataDirError(f"{data_dir / 'utt2lang'}: utterance '{utt}' has "
                               + ("an empty language tag" if not tags else f"more than one language tag "
                                  f"'{utt2lang[utt]}'"))

    audio: Dict[str, str] = {}
    kept: List[Utterance] = []
    dropped: Dict[str, List[str]] = {}
    out_ids: Dict[str, str] = {}
    for utt in utts:
        lang, spk = utt2lang[utt].strip(), utt2spk[utt]
        normalized = normalizer(text[utt], lang)
        if not normalized:
            dropped.setdefault(lang, []).append(utt)
            continue
        if segments is not None:
            rec, start, end = segments[utt]
            if rec not in audio:
                audio[rec] = _audio_path(data_dir / "wav.scp", rec, wav[rec], what="recording")
            path, segment = audio[rec], (start, end)
        else:
            path, segment = _audio_path(data_dir / "wav.scp", utt, wav[utt]), None
        out_id = utt if utt.startswith(spk) else f"{spk}-{utt}"
        if out_id in out_ids:
            raise DataDirError(f"{data_dir / 'utt2spk'}: utterance '{utt}' of speaker '{spk}' would be renamed "
                               f"'{out_id}' (ids must start with their speaker id), which is the id of "
                               f"'{out_ids[out_id]}'")
        out_ids[out_id] = utt
        kept.append(Utterance(out_id, utt, spk, lang, path, normalized, data_dir, segment))
    for lang, ids in sorted(dropped.items()):
        logger.warning("%s: %d '%s' utterance(s) have an empty transcript after normalisation (%s) and are "
                       "dropped (first: '%s')", data_dir, len(ids), lang, normalizer.spec, ids[0])
    renamed = [u for u in kept if u.utt != u.input_id]
    if renamed:
        logger.info("%s: %d utterance id(s) do not start with their speaker id and are written as '<speaker>-<id>' "
                    "(first: '%s' -> '%s')", data_dir, len(renamed), renamed[0].input_id, renamed[0].utt)
    if not kept:
        raise DataDirError(f"{data_dir / 'text'}: every transcript is empty after normalisation "
                           f"('{normalizer.spec}'); nothing is left")
    return kept, dropped


def _dev_target(n: int, share: float, dev_min: int, dev_max: int) -> int:
    return min(dev_max, max(dev_min, math.floor(share * n + 0.5)))


def check_holdout_options(dev_share: float, dev_min: int, dev_max: int) -> None:
    """The hold-out options are usable (a dev part never takes more than half a language: ``dev_share <= 0.5``)."""
    if not 0 < dev_share <= 0.5:
        raise ValueError(f"dev_share must be in (0, 0.5], got {dev_share}")
    if dev_min < 1:
        raise ValueError(f"dev_min must be at least 1, got {dev_min}")
    if dev_max < dev_min:
        raise ValueError(f"dev_max ({dev_max}) must be at least dev_min ({dev_min})")


def hold_out_dev(train: Sequence[Utterance], dev_share: float = 0.1, dev_min: int = 2, dev_max: int = 100,
                 seed: int = 1) -> Tuple[List[Utterance], List[Utterance], Dict[str, dict]]:
    """Split ``train`` into (train, dev) per language (module docstring, "Dev hold-out").

    Returns:
        the remaining training utterances, the dev utterances, and per language ``{"dev_holdout": "speakers" |
        "utterances" | "none", "reason": ...}`` (a reason when it is not by speakers).
    """
    check_holdout_options(dev_share, dev_min, dev_max)
    by_lang: Dict[str, List[Utterance]] = {}
    for u in train:
        by_lang.setdefault(u.lang, []).append(u)
    keep, dev, info = [], [], {}
    for lang in sorted(by_lang):
        utts = sorted(by_lang[lang], key=lambda u: u.utt)
        n, rng = len(utts), random.Random(f"{seed}-{lang}")
        target, cap = _dev_target(n, dev_share, dev_min, dev_max), min(dev_max, n // 2)
        if target > cap:
            info[lang] = {"dev_holdout": "none", "reason": f"{n} training utterance(s): a dev part of {target} "
                                                            f"would leave train fewer than dev"}
            keep.extend(utts)
            continue
        held: set = set()
        of_speaker: Dict[str, List[str]] = {}
        for u in utts:
            of_speaker.setdefault(u.spk, []).append(u.utt)
        speakers = sorted(of_speaker)
        reason = None
        if len(speakers) >= SPEAKER_HOLDOUT_MIN:
            rng.shuffle(speakers)
            picked: List[str] = []
            for s in speakers:
                if len(held) >= target:
                    break
                if len(held) + len(of_speaker[s]) <= cap and len(picked) < len(speakers) // 2:
                    picked.append(s)
                    held.update(of_speaker[s])
            if len(held) >= dev_min:
                info[lang] = {"dev_holdout": "speakers", "dev_speakers": sorted(picked)}
            else:
                reason = (f"no set of at most {len(speakers) // 2} whole speakers holds {dev_min}-{cap} utterances; "
                          f"held out utterances instead")
                held = set()
        else:
            reason = f"{len(speakers)} speaker(s), fewer than {SPEAKER_HOLDOUT_MIN}: held out utterances"
        if not held:
            order = [u.utt for u in utts]
            rng.shuffle(order)
            held = set(order[:target])
            info[lang] = {"dev_holdout": "utterances", "reason": reason}
        keep.extend(u for u in utts if u.utt not in held)
        dev.extend(u for u in utts if u.utt in held)
    return keep, dev, info


def _count(utts: Sequence[Utterance]) -> Dict[str, Dict[str, int]]:
    out: Dict[str, Dict[str, int]] = {}
    speakers: Dict[str, set] = {}
    for u in utts:
        out.setdefault(u.lang, {"utterances": 0, "speakers": 0})["utterances"] += 1
        speakers.setdefault(u.lang, set()).add(u.spk)
    for lang, spks in speakers.items():
        out[lang]["speakers"] = len(spks)
    return out


def _write_split(tmp: Path, out_dir: Path, split: str, utts: Sequence[Utterance]) -> None:
    """One data dir; segments are cut into ``<tmp>/wav/<split>/`` and listed under their final ``out_dir`` path."""
    import soundfile

    from espnet_ext.dataprep.segmented_audio import cut_segment

    d = tmp / split
    d.mkdir(parents=True)
    wav: Dict[str, str] = {}
    infos: Dict[str, object] = {}
    for u in utts:
        if u.segment is None:
            wav[u.utt] = u.audio
            continue
        start, end = u.segment
        try:
            info = infos.get(u.audio) or soundfile.info(u.audio)
            infos[u.audio] = info
            if end < 0:
                end = info.frames / info.samplerate
            cut_segment(Path(u.audio), start, end, tmp / "wav" / split / f"{u.utt}.wav", info=info)
        except (ValueError, RuntimeError) as e:  # soundfile's errors are RuntimeErrors
            raise DataDirError(f"{u.source / 'segments'}: utterance '{u.utt}': {e}") from e
        wav[u.utt] = str(out_dir / "wav" / split / f"{u.utt}.wav")
    write_kaldi_map(d / "wav.scp", wav)
    write_kaldi_map(d / "text", {u.utt: u.text for u in utts})
    write_kaldi_map(d / "utt2spk", {u.utt: u.spk for u in utts})
    write_kaldi_map(d / "utt2lang", {u.utt: u.lang for u in utts})
    spk2utt: Dict[str, List[str]] = {}
    for u in sorted(utts, key=lambda u: u.utt):
        spk2utt.setdefault(u.spk, []).append(u.utt)
    write_kaldi_map(d / "spk2utt", {s: " ".join(ids) for s, ids in spk2utt.items()})
    validate_data_dir(d, check_audio=False)  # stage 1 of the recipe opens the audio headers


def prepare_own_data(train_dir: Path, test_dir: Path, out_dir: Path, dev_dir: Optional[Path] = None,
                     normalizer: Spec = "default", dev_share: float = 0.1, dev_min: int = 2, dev_max: int = 100,
                     seed: int = 1) -> dict:
    """Write ``out_dir/{train,dev,test}`` and ``out_dir/own_data_report.json`` (module docstring); return the report.

    Args:
        train_dir: Kaldi data dir of the training data (``wav.scp text utt2spk utt2lang`` [``segments``]).
        test_dir: the same for the test data; every language must also be in ``train_dir``.
        out_dir: the output dir (written aside and renamed into place; skipped when its ``.done`` matches).
        dev_dir: a dev set of your own; ``None`` holds one out of ``train_dir`` (``dev_*``, ``seed``).
        normalizer: the transcript normaliser spec (:mod:`espnet_ext.text.normalizer`): ``default``, ``cv``,
            ``none``, a step list such as ``"nfkc,lower,punct,space"``, or a dict.
        dev_share: share of each language's training utterances held out as dev.
        dev_min: fewest dev utterances per language (a language with fewer than ``2 * dev_min`` gets none).
        dev_max: most dev utterances per language.
        seed: the seed of the hold-out.
    """
    norm = TranscriptNormalizer.from_spec(normalizer)
    inputs = {"train": Path(train_dir), "test": Path(test_dir)}
    if dev_dir is not None:
        inputs["dev"] = Path(dev_dir)
    else:
        check_holdout_options(dev_share, dev_min, dev_max)  # option errors before any work
    out_dir = Path(out_dir)
    settings = {f"{role}_dir": str(path.resolve()) for role, path in inputs.items()}
    settings.update(normalizer=norm.spec, dev_share=dev_share, dev_min=dev_min, dev_max=dev_max, seed=seed,
                    cwd=os.getcwd())
    if dev_dir is not None:  # the hold-out options do not matter then
        for name in ("dev_share", "dev_min", "dev_max", "seed"):
            settings.pop(name)
    fp = fingerprint(files={f"{role}/{name}": path / name for role, path in inputs.items() for name in INPUT_FILES},
                     options=settings, code=CODE)
    out = atomic_output_dir(out_dir, {"builder": "own_data", **fp}, log=logger,
                            skip_log="{dir} is complete with the same inputs and options; skipping")
    if out.complete:
        return json.loads((out_dir / REPORT).read_text(encoding="utf-8"))

    read = {role: read_own_data_dir(path, norm) for role, path in inputs.items()}
    splits = {role: utts for role, (utts, _) in read.items()}
    train_langs = {u.lang for u in splits["train"]}
    for role in ("dev", "test"):
        for u in splits.get(role, []):
            if u.lang not in train_langs:
                raise DataDirError(f"{inputs[role] / 'utt2lang'}: language '{u.lang}' of utterance '{u.input_id}' has "
                                   f"no training utterance in {inputs['train']} (training languages: "
                                   f"{' '.join(sorted(train_langs))}); the model cannot learn it")
    holdout: Dict[str, dict] = {lang: {"dev_holdout": "given"} for lang in train_langs} if dev_dir else {}
    if dev_dir is None:
        splits["train"], splits["dev"], holdout = hold_out_dev(splits["train"], dev_share, dev_min, dev_max, seed)
        if not splits["dev"]:
            why = "; ".join(f"{lang}: {h['reason']}" for lang, h in sorted(holdout.items()))
            raise DataDirError(f"{inputs['train']}: no language can give a dev part ({why}); give a dev dir "
                               f"(--dev_dir) or lower --dev_min ({dev_min})")
    shared = {u.spk for u in splits["train"]} & {u.spk for u in splits["test"]}
    if shared:
        logger.warning("%d speaker id(s) are in both the training and the test data (first: '%s'): the test "
                       "set does not measure unseen speakers", len(shared), sorted(shared)[0])

    counts = {split: _count(splits[split]) for split in SPLITS}
    report: dict = {"settings": settings, "normalizer": norm.describe(), "languages": {}}
    for lang in sorted(train_langs):
        entry: dict = {}
        for split in SPLITS:
            entry[split] = dict(counts[split].get(lang, {"utterances": 0, "speakers": 0}))
            # Dropped utterances are counted where they were read (held-out dev ones under train).
            entry[split]["dropped_empty"] = len(read[split][1].get(lang, [])) if split in read else 0
        entry.update(holdout.get(lang, {}))
        report["languages"][lang] = entry
    report["no_dev_languages"] = sorted(lang for lang, h in holdout.items() if h["dev_holdout"] == "none")
    report["dropped_empty"] = {role: sum(len(v) for v in dropped.values()) for role, (_, dropped) in read.items()}
    report["dropped_examples"] = {role: sorted(u for v in dropped.values() for u in v)[:_EXAMPLES]
                                  for role, (_, dropped) in read.items() if dropped}
    report["renamed_utterances"] = sum(u.utt != u.input_id for utts, _ in read.values() for u in utts)
    report["speakers_in_train_and_test"] = len(shared)
    for lang in report["no_dev_languages"]:
        logger.warning("%s: %s; all its utterances stay in train (no dev utterances for it)", lang,
                       holdout[lang]["reason"])

    final = out_dir.resolve()
    with out as tmp:  # written aside, renamed into place when complete (espnet_ext.utils.atomic_dir)
        for split in SPLITS:
            _write_split(tmp, final, split, splits[split])
        (tmp / REPORT).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return report

