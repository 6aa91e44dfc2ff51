"""Kaldi-compatible log-mel filterbank extraction for a data dir, parallel over jobs, written with kaldiio.

Output dir (docs/stages.md, stage b): ``feats.scp`` + ``feats.<job>.ark``, ``utt2num_frames``, the data
dir's ``text utt2spk spk2utt utt2lang``, and ``cmvn.npz`` — global mean/variance statistics in ESPnet's
``feats_stats.npz`` layout (``count``, ``sum``, ``sum_square``) so ``normalize: global_mvn`` can read it.
Everything is written under ``.<name>.partial`` beside ``out_dir`` and renamed into place at the end
(:mod:`espnet_ext.utils.atomic_dir`): a failed or interrupted run leaves nothing that a re-run would trust.

The completion marker ``.done`` records a fingerprint of what produced the dir (digests of the data dir's
files, the feature options, :data:`CODE_VERSION`); a re-run skips only when it matches, and otherwise says
which input changed and redoes the dir. Parallel jobs run in a pool whose workers die with this process,
even when it is killed with SIGKILL (:func:`_die_with_parent`).
"""

import hashlib
import json
import logging
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from espnet_ext.dataprep.datadir import validate_data_dir
from espnet_ext.fileio.kaldi_map import DataDirError, write_kaldi_map
from espnet_ext.utils.atomic_dir import atomic_output_dir
from espnet_ext.utils.cli import setup_logging
from espnet_ext.utils.stage_marker import DONE_MARKER  # noqa: F401 (callers import it from here)

logger = logging.getLogger(__name__)

COPIED_FILES = ("text", "utt2spk", "spk2utt", "utt2lang")
# Bump when a change of this module changes what a feature dir holds: old dirs are then redone.
CODE_VERSION = "2"


@dataclass
class FbankConfig:
    """Feature options (conf/fbank.yaml). ``feature_type`` 'fbank' is log-mel; 'spectrogram' is the
    log linear-frequency power spectrum (the meta-transfer paper's input)."""

    feature_type: str = "fbank"
    sample_rate: int = 16000
    num_mel_bins: int = 80
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    dither: float = 0.0  # 0 keeps extraction deterministic (re-runs give identical features)

    def __post_init__(self):
        if self.feature_type not in ("fbank", "spectrogram"):
            raise ValueError(f"feature_type must be 'fbank' or 'spectrogram', got '{self.feature_type}'")
        for name in ("sample_rate", "num_mel_bins", "frame_length_ms", "frame_shift_ms"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.frame_shift_ms > self.frame_length_ms:
            raise ValueError("frame_shift_ms must not exceed frame_length_ms")

    @property
    def dim(self) -> int:
        if self.feature_type == "fbank":
            return self.num_mel_bins
        # Kaldi pads the window to the next power of two; the spectrum has n/2 + 1 bins.
        n = int(self.sample_rate * self.frame_length_ms / 1000)
        return (1 << (n - 1).bit_length()) // 2 + 1


def load_audio(path: str, utt: str, sample_rate: int) -> Tuple[np.ndarray, int]:
    """Read a mono file as float32 in Kaldi's int16 scale, resampled to ``sample_rate`` if needed.

    Returns the waveform and the file's original rate (the caller reports resampling once per job)."""
    import soundfile

    try:
        wave, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except Exception as e:
        raise DataDirError(f"utterance '{utt}': cannot read audio '{path}': {e}") from e
    if wave.shape[1] != 1:
        raise DataDirError(f"utterance '{utt}': audio '{path}' has {wave.shape[1]} channels, expected mono")
    wave = wave[:, 0]
    if rate != sample_rate:
        import torch
        import torchaudio.functional

        wave = torchaudio.functional.resample(torch.from_numpy(wave), rate, sample_rate).numpy()
    return wave * 32768.0, rate


def kaldi_features(wave, conf: FbankConfig):
    """(1, num_samples) int16-scaled float32 torch waveform -> (num_frames, conf.dim) torch features.

    The one place the stage-2 features are computed: the dump writer (:func:`compute_features`) and the
    raw-audio frontend (espnet_ext.asr.frontend.stage2_fbank_frontend) both call it, so a model fed a wav
    sees exactly the features it was trained on."""
    import torchaudio.compliance.kaldi as kaldi

    common = dict(sample_frequency=conf.sample_rate, frame_length=conf.frame_length_ms,
                  frame_shift=conf.frame_shift_ms, dither=conf.dither, energy_floor=0.0)
    if conf.feature_type == "fbank":
        return kaldi.fbank(wave, num_mel_bins=conf.num_mel_bins, **common)
    return kaldi.spectrogram(wave, **common)


def compute_features(wave: np.ndarray, conf: FbankConfig) -> np.ndarray:
    """(num_samples,) int16-scaled waveform -> (num_frames, conf.dim) float32 features."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32)).unsqueeze(0)
    return kaldi_features(x, conf).numpy().astype(np.float32)


def _extract_shard(args: Tuple[int, List[Tuple[str, str]], str, dict]) -> Tuple[int, Dict[str, int], np.ndarray]:
    """One job: features of ``items`` into ``feats.<job>.{ark,scp}``; returns frame counts and CMVN sums."""
    job, items, tmp_dir, conf_dict = args
    import kaldiio
    import torch

    torch.set_num_threads(1)  # one process per job; threads would oversubscribe --nj cores
    conf = FbankConfig(**conf_dict)
    stats = np.zeros((3, conf.dim), dtype=np.float64)  # count (row 0 col 0), sum, sum_square
    num_frames: Dict[str, int] = {}
    ark, scp = Path(tmp_dir) / f"feats.{job}.ark", Path(tmp_dir) / f"feats.{job}.scp"
    resampled: List[Tuple[str, int]] = []
    with kaldiio.WriteHelper(f"ark,scp:{ark},{scp}") as writer:
        for utt, path in items:
            wave, rate = load_audio(path, utt, conf.sample_rate)
            if rate != conf.sample_rate:
                resampled.append((utt, rate))
            feats = compute_features(wave, conf)
            if feats.shape[0] == 0:
                raise DataDirError(f"utterance '{utt}': audio '{path}' is shorter than one frame")
            writer(utt, feats)
            num_frames[utt] = feats.shape[0]
            stats[0, 0] += feats.shape[0]
            stats[1] += feats.sum(0, dtype=np.float64)
            stats[2] += np.square(feats, dtype=np.float64).sum(0)
    if resampled:
        setup_logging(logging.INFO)  # spawned workers start without logging configured
        logger.warning("job %d: resampled %d utterance(s) to %d Hz (first: utterance '%s' from %d Hz)",
                       job, len(resampled), conf.sample_rate, resampled[0][0], resampled[0][1])
    return job, num_frames, stats


def input_fingerprint(data_dir: Path, conf: FbankConfig) -> Dict[str, str]:
    """What a feature dir depends on: sha256 of each data-dir file it reads, the options, the code version.

    The audio files themselves are not read (that would cost as much as extracting): a wav.scp entry
    pointing at a new path changes the fingerprint, an audio file rewritten in place does not."""
    fingerprint = {"code_version": CODE_VERSION, "options": json.dumps(asdict(conf), sort_keys=True)}
    for name in ("wav.scp",) + COPIED_FILES:
        path = Path(data_dir) / name
        fingerprint[name] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
    return fingerprint


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(1)


def _die_with_parent(parent_pid: int) -> None:
    """Pool initializer: end this worker as soon as the process that started it dies, however it dies.

    Linux: the kernel sends SIGKILL on the parent's death (``prctl(PR_SET_PDEATHSIG)``); elsewhere a
    daemon thread polls the parent pid. A parent that died before the signal was armed is caught by the
    pid check that follows."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        if libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    except (OSError, AttributeError):
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:
        os._exit(1)


def extract_data_dir(data_dir: Path, out_dir: Path, conf: FbankConfig, nj: int = 1,
                     languages: List[str] = None) -> Path:
    """Extract features of every utterance of ``data_dir`` into ``out_dir`` (see module docstring)."""
    from tqdm import tqdm

    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if nj < 1:
        raise ValueError(f"nj must be >= 1, got {nj}")
    out = atomic_output_dir(out_dir, input_fingerprint(data_dir, conf), foreign="replace", log=logger)
    if out.complete:
        return out_dir
    data = validate_data_dir(data_dir, languages=languages, check_audio=False)
    utts = data.utts
    nj = min(nj, len(utts))
    num_frames: Dict[str, int] = {}
    stats = np.zeros((3, conf.dim), dtype=np.float64)
    with out as tmp:
        shards = [(j + 1, [(u, data.wav[u]) for u in utts[j::nj]], str(tmp.resolve()), asdict(conf))
                  for j in range(nj)]
        try:
            if nj == 1:
                results = map(_extract_shard, shards)
            else:
                # Workers die with this process (even on SIGKILL): none keeps writing into a dir a re-run rebuilds.
                pool = multiprocessing.get_context("spawn").Pool(nj, initializer=_die_with_parent,
                                                                  initargs=(os.getpid(),))
                results = pool.imap_unordered(_extract_shard, shards)
            for _, frames, shard_stats in tqdm(results, total=nj, desc=f"fbank {data_dir.name}", unit="job"):
                num_frames.update(frames)
                stats += shard_stats
            if nj > 1:
                pool.close()
                pool.join()
        except BaseException:
            if nj > 1:
                pool.terminate()
            raise

        # Point the scp files at the final location, merge them in utterance order.
        final = str(out_dir.resolve())
        entries: Dict[str, str] = {}
        for job in range(1, nj + 1):
            with open(tmp / f"feats.{job}.scp", encoding="utf-8") as f:
                for line in f:
                    utt, loc = line.rstrip("\n").split(" ", 1)
                    entries[utt] = loc.replace(str(tmp.resolve()), final, 1)
            (tmp / f"feats.{job}.scp").unlink()
        write_kaldi_map(tmp / "feats.scp", entries)
        write_kaldi_map(tmp / "utt2num_frames", {u: str(n) for u, n in num_frames.items()})
        # Normalised copies (sorted, "key value", no byte-order mark): what ESPnet's readers expect.
        for name, mapping in data.normalized_files().items():
            write_kaldi_map(tmp / name, mapping)
        np.savez(tmp / "cmvn.npz", count=stats[0, 0], sum=stats[1], sum_square=stats[2])
        (tmp / "feats_dim").write_text(f"{conf.dim}\n")
    logger.info("%s: %d utterances, %d frames", out_dir, len(num_frames), int(stats[0, 0]))
    return out_dir


def read_fbank_conf(path) -> FbankConfig:
    """The FbankConfig of a stage-2 conf YAML (conf/fbank.yaml); an unknown key is an error naming the file."""
    import yaml

    conf_dict = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    unknown = set(conf_dict) - set(FbankConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"{path}: unknown feature option(s) {sorted(unknown)}; "
                         f"known: {sorted(FbankConfig.__dataclass_fields__)}")
    return FbankConfig(**conf_dict)
