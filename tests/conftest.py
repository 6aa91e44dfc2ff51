"""Shared fixtures: tiny Kaldi-style data dirs with tone audio (no synthesis needed)."""

import os

# Tiny models gain nothing from intra-op threads, and several torch processes (DDP workers, recipe
# subprocesses) spinning OpenMP threads on a 2-core machine slow each other down by an order of magnitude.
# Set before torch is imported; subprocesses inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

from pathlib import Path
from typing import Dict, Optional

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def write_tone(path: Path, seconds: float, freq: float, rate: int = 16000, seed: int = 0) -> None:
    import soundfile

    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(seed).normal(0, 0.01, t.shape)
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * freq * t) + noise).astype(np.float32), rate, subtype="PCM_16")


def write_map(path: Path, mapping) -> Path:
    """A Kaldi-style ``key value`` file, sorted by key."""
    path.write_text("".join(f"{k} {v}\n" for k, v in sorted(mapping.items())), encoding="utf-8")
    return path


def make_data_dir(root: Path, utts: Optional[Dict[str, dict]] = None) -> Path:
    """A valid data dir; ``utts`` maps utt id -> {spk, lang, text, seconds, freq, rate}."""
    if utts is None:
        utts = {
            "spkA-en-0001": dict(spk="spkA", lang="en", text="hello world", seconds=0.5, freq=300),
            "spkA-fr-0002": dict(spk="spkA", lang="fr", text="bonjour", seconds=0.4, freq=500),
            "spkB-en-0003": dict(spk="spkB", lang="en", text="good night", seconds=0.6, freq=700),
            "spkB-zh-0004": dict(spk="spkB", lang="zh", text="你好", seconds=0.3, freq=900),
        }
    root.mkdir(parents=True, exist_ok=True)
    wav_dir = root / "wav"
    wav_dir.mkdir(exist_ok=True)
    spk2utt: Dict[str, list] = {}
    lines = {"wav.scp": [], "text": [], "utt2spk": [], "utt2lang": []}
    for i, (utt, u) in enumerate(sorted(utts.items())):
        wav = wav_dir / f"{utt}.wav"
        write_tone(wav, u["seconds"], u["freq"], u.get("rate", 16000), seed=i)
        lines["wav.scp"].append(f"{utt} {wav}")
        lines["text"].append(f"{utt} {u['text']}")
        lines["utt2spk"].append(f"{utt} {u['spk']}")
        lines["utt2lang"].append(f"{utt} {u['lang']}")
        spk2utt.setdefault(u["spk"], []).append(utt)
    for name, rows in lines.items():
        (root / name).write_text("".join(r + "\n" for r in rows), encoding="utf-8")
    (root / "spk2utt").write_text("".join(f"{s} {' '.join(us)}\n" for s, us in sorted(spk2utt.items())),
                                  encoding="utf-8")
    return root


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return make_data_dir(tmp_path / "data")


@pytest.fixture(scope="session")
def text_cache(tmp_path_factory) -> Path:
    """One download/harvest cache of the corpus text sources for the whole test session."""
    return tmp_path_factory.mktemp("text_cache")


def save_untrained_model(d: Path, conf: dict, tokens, input_size: int = 8) -> Path:
    """An untrained model of ``conf`` saved as a training run leaves it: d/exp/config.yaml (ESPnet's dry run
    completes the conf) and d/exp/model.pth; returns d/exp."""
    import torch
    import yaml

    from espnet_ext.tasks.asr import MultilingualASRTask

    (d / "tokens.txt").write_text("\n".join(tokens) + "\n")
    (d / "train.yaml").write_text(yaml.safe_dump(conf))
    MultilingualASRTask.main(cmd=["--dry_run", "true", "--iterator_type", "none", "--config", str(d / "train.yaml"),
                                  "--output_dir", str(d / "exp"), "--token_list", str(d / "tokens.txt"),
                                  "--token_type", "char", "--input_size", str(input_size)])
    model, _ = MultilingualASRTask.build_model_from_file(d / "exp" / "config.yaml", None, "cpu")
    torch.save(model.state_dict(), d / "exp" / "model.pth")
    return d / "exp"
