"""Token priors for class-imbalance logit adjustment (A2 paper, Sec. 2.5, eq. 6).

The prior of every entry of the ESPnet token list is its relative frequency among the *decoder targets*
of the training transcripts, tokenized exactly as for training (SentencePiece ``EncodeAsPieces`` or
ESPnet's character split, pieces missing from the list mapped to ``<unk>``).  The attention decoder's
targets for one utterance are its tokens followed by one ``<sos/eos>`` (``add_sos_eos``); ``<sos>`` is
only ever an *input*, so each transcript adds exactly one count to ``<sos/eos>`` (sos and eos share one
id in ESPnet; counting both would double the end-of-sentence prior).

Eq. 6 moves mass to the n0 tokens never seen (``<blank>``, usually ``<unk>``, unused pieces):
π_i = c_i/C − 1/((N−n0)·C) if c_i > 0, else 1/(n0·C), with C the total count and N the vocabulary
size.  It sums to 1 exactly; with n0 = 0 nothing needs moving and π_i = c_i/C (eq. 6 read literally
would then sum to 1 − 1/C).  A seen token whose smoothed prior would not be positive (only possible with
a single seen token counted once) is an error, never clipped.

File format (UTF-8, tab-separated, one header row, then one row per token in token-list order)::

    token   count   prior   count:en   prior:en   count:fr   prior:fr ...

The ``count:<lang>``/``prior:<lang>`` columns exist when ``utt2lang`` was given: per-language priors,
each smoothed by eq. 6 over that language's transcripts only.  Priors are written with full precision.
"""

import math
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

SOS_EOS = "<sos/eos>"
UNK = "<unk>"
SPACE = "<space>"  # ESPnet's CharTokenizer space symbol
# Frequency buckets of the A2 paper's Table 7 (class counts per occurrence range).
FREQUENCY_BUCKETS = ((100_000, math.inf, ">100k"), (50_000, 100_000, "50k-100k"), (10_000, 50_000, "10k-50k"),
                     (1_000, 10_000, "1k-10k"), (0, 1_000, "<1k"))


class TokenPrior:
    """Token counts over the training targets and their eq.-6-smoothed priors, global and per language.

    Args:
        tokens: the ESPnet token list (``<blank>`` first, ``<sos/eos>`` last).
        counts: (N,) raw counts c_i, aligned with ``tokens``.
        language_counts: optional language code -> (N,) counts over that language's transcripts.
        priors: optional (N,) global prior read from a file; computed from ``counts`` by eq. 6 when None.
        language_priors: optional per-language priors read from a file; computed by eq. 6 when None.
        source: where the data came from (a path), named in error messages.
    """

    def __init__(self, tokens: Sequence[str], counts: np.ndarray,
                 language_counts: Optional[Mapping[str, np.ndarray]] = None,
                 priors: Optional[np.ndarray] = None, language_priors: Optional[Mapping[str, np.ndarray]] = None,
                 source: str = "token prior"):
        self.tokens = list(tokens)
        self.source = source
        self.counts = np.asarray(counts, dtype=np.int64)
        if self.counts.shape != (len(self.tokens),):
            raise ValueError(f"{source}: {self.counts.shape} counts for {len(self.tokens)} tokens")
        self.language_counts = {k: np.asarray(v, dtype=np.int64) for k, v in (language_counts or {}).items()}
        self.priors = self._checked(priors, "global") if priors is not None else self.smooth(self.counts, source)
        self.language_priors: Dict[str, np.ndarray] = {}
        for lang, c in self.language_counts.items():
            given = (language_priors or {}).get(lang)
            self.language_priors[lang] = (self._checked(given, lang) if given is not None
                                          else self.smooth(c, f"{source} (language '{lang}')"))

    # ---- eq. 6 ----
    @staticmethod
    def smooth(counts: np.ndarray, what: str = "token counts") -> np.ndarray:
        """Eq. 6: π_i = c_i/C − 1/((N−n0)·C) for c_i > 0, 1/(n0·C) otherwise (π = c/C when n0 = 0)."""
        c = np.asarray(counts, dtype=np.float64)
        if c.ndim != 1 or len(c) == 0:
            raise ValueError(f"{what}: counts must be a non-empty vector")
        if (c < 0).any():
            raise ValueError(f"{what}: negative count at index {int(np.argmax(c < 0))}")
        total, n = c.sum(), len(c)
        if total <= 0:
            raise ValueError(f"{what}: every count is zero; no transcript was counted")
        zero = c == 0
        n0 = int(zero.sum())
        if n0 == 0:
            return c / total
        prior = np.where(zero, 1.0 / (n0 * total), c / total - 1.0 / ((n - n0) * total))
        bad = np.nonzero(~zero & (prior <= 0))[0]
        if len(bad):
            raise ValueError(f"{what}: eq. 6 gives a non-positive prior ({prior[bad[0]]:.3g}) to seen token index "
                             f"{int(bad[0])} (count {int(c[bad[0]])}, C={int(total)}, N-n0={n - n0}); "
                             "the training text is too small to estimate a prior")
        return prior

    def _checked(self, prior: np.ndarray, what: str) -> np.ndarray:
        p = np.asarray(prior, dtype=np.float64)
        if p.shape != (len(self.tokens),):
            raise ValueError(f"{self.source}: {what} prior has {p.shape} entries for {len(self.tokens)} tokens")
        if not np.isfinite(p).all() or (p <= 0).any():
            raise ValueError(f"{self.source}: {what} prior must be finite and positive "
                             f"(token '{self.tokens[int(np.argmin(p))]}' has {p.min():.3g})")
        if abs(p.sum() - 1.0) > 1e-6:
            raise ValueError(f"{self.source}: {what} prior sums to {p.sum():.8f}, not 1")
        return p

    # ---- counting ----
    @staticmethod
    def tokenizer(token_type: str, bpemodel: Optional[Path] = None) -> Callable[[str], List[str]]:
        """The training-time text -> tokens function (ESPnet's preprocessor without a text cleaner)."""
        if token_type == "bpe":
            if bpemodel is None or not Path(bpemodel).is_file():
                raise ValueError(f"token_type bpe needs the SentencePiece model; '{bpemodel}' is not a file")
            import sentencepiece as spm

            sp = spm.SentencePieceProcessor(model_file=str(bpemodel))
            return sp.EncodeAsPieces
        if token_type == "char":
            return lambda line: [SPACE if ch == " " else ch for ch in line]
        raise ValueError(f"token_type must be 'bpe' or 'char', got '{token_type}'")

    @classmethod
    def from_transcripts(cls, texts: Mapping[str, str], tokens: Sequence[str], tokenize: Callable[[str], List[str]],
                         utt2lang: Optional[Mapping[str, str]] = None, source: str = "text") -> "TokenPrior":
        """Count decoder targets (tokens + one ``<sos/eos>``) of every transcript in ``texts``."""
        tokens = list(tokens)
        index = {t: i for i, t in enumerate(tokens)}
        for special in (UNK, SOS_EOS):
            if special not in index:
                raise ValueError(f"the token list has no '{special}' entry")
        unk, eos = index[UNK], index[SOS_EOS]
        if not texts:
            raise ValueError(f"{source}: no transcripts")
        counts = np.zeros(len(tokens), dtype=np.int64)
        per_lang: Dict[str, np.ndarray] = {}
        for utt, text in texts.items():
            ids = [index.get(t, unk) for t in tokenize(text)] + [eos]
            row = np.bincount(ids, minlength=len(tokens))
            counts += row
            if utt2lang is not None:
                if utt not in utt2lang:
                    raise ValueError(f"{source}: utterance '{utt}' has no language in utt2lang")
                per_lang.setdefault(utt2lang[utt], np.zeros(len(tokens), dtype=np.int64))
                per_lang[utt2lang[utt]] += row
        return cls(tokens, counts, dict(sorted(per_lang.items())) if utt2lang is not None else None, source=source)

    # ---- access ----
    @property
    def languages(self) -> List[str]:
        return list(self.language_priors)

    def check_tokens(self, token_list: Sequence[str], token_list_name: str = "the model's token list") -> None:
        """Raise unless the prior covers exactly ``token_list`` in the same order."""
        token_list = list(token_list)
        if token_list == self.tokens:
            return
        where = next((i for i, (a, b) in enumerate(zip(self.tokens, token_list)) if a != b), None)
        detail = (f"; first difference at index {where}: '{self.tokens[where]}' vs '{token_list[where]}'"
                  if where is not None else "")
        raise ValueError(f"token prior {self.source} has {len(self.tokens)} tokens but {token_list_name} has "
                         f"{len(token_list)}{detail}: recompute it with espnet_ext.bin.compute_token_priors "
                         "for this token list")

    def matrix(self, languages: Sequence[str]) -> np.ndarray:
        """(L, N) per-language priors in the order of ``languages`` (e.g. model_conf.languages)."""
        missing = [lang for lang in languages if lang not in self.language_priors]
        if missing:
            raise ValueError(f"token prior {self.source} has no per-language prior for {missing} (it has "
                             f"{self.languages or 'none'}): compute it with --utt2lang")
        return np.stack([self.language_priors[lang] for lang in languages])

    def frequency_buckets(self) -> Dict[str, int]:
        """Number of tokens per occurrence range (the A2 paper's Table 7)."""
        return {name: int(((self.counts >= lo) & (self.counts < hi)).sum()) for lo, hi, name in FREQUENCY_BUCKETS}

    def summary(self) -> dict:
        zero = self.counts == 0
        return {"vocab_size": len(self.tokens), "total_count": int(self.counts.sum()), "zero_count_tokens": int(zero.sum()),
                "zero_count_prior": float(self.priors[zero][0]) if zero.any() else None,
                "max_prior": float(self.priors.max()), "head_token": self.tokens[int(self.priors.argmax())],
                "languages": self.languages, "frequency_buckets": self.frequency_buckets()}

    # ---- files ----
    def write(self, path: Path) -> None:
        path = Path(path)
        for t in self.tokens:
            if not t or any(ch in t for ch in "\t\n\r"):
                raise ValueError(f"token {t!r} cannot be written to a tab-separated prior file")
        header = ["token", "count", "prior"]
        for lang in self.languages:
            header += [f"count:{lang}", f"prior:{lang}"]
        rows = ["\t".join(header)]
        for i, t in enumerate(self.tokens):
            cols = [t, str(int(self.counts[i])), repr(float(self.priors[i]))]
            for lang in self.languages:
                cols += [str(int(self.language_counts[lang][i])), repr(float(self.language_priors[lang][i]))]
            rows.append("\t".join(cols))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("\n".join(rows) + "\n", encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> "TokenPrior":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"token prior file {path} not found (write it with espnet_ext.bin.compute_token_priors)")
        lines = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
        header = lines[0].split("\t")
        if header[:3] != ["token", "count", "prior"] or len(header) % 2 == 0:
            raise ValueError(f"{path}: not a token prior file (header must be 'token count prior [count:L prior:L ...]', "
                             f"got {header[:5]})")
        langs = [h.split(":", 1)[1] for h in header[3::2]]
        tokens, data = [], []
        for lineno, line in enumerate(lines[1:], 2):
            cols = line.split("\t")
            if len(cols) != len(header):
                raise ValueError(f"{path}:{lineno}: {len(cols)} columns, expected {len(header)}")
            try:
                data.append([float(x) for x in cols[1:]])
            except ValueError as e:
                raise ValueError(f"{path}:{lineno}: {e}") from None
            tokens.append(cols[0])
        arr = np.asarray(data, dtype=np.float64).reshape(len(tokens), len(header) - 1)
        lang_counts = {lang: arr[:, 2 + 2 * k].astype(np.int64) for k, lang in enumerate(langs)}
        lang_priors = {lang: arr[:, 3 + 2 * k] for k, lang in enumerate(langs)}
        return cls(tokens, arr[:, 0].astype(np.int64), lang_counts or None, arr[:, 1], lang_priors or None,
                   source=str(path))

    def plot(self, png: Path, title: str = "Token frequency (training targets)") -> None:
        """Rank-frequency plot (log scale): the long tail of the token distribution, per language too."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (ax_c, ax_p) = plt.subplots(1, 2, figsize=(10, 3.8))
        ranks = np.arange(1, len(self.tokens) + 1)
        ax_c.plot(ranks, np.sort(self.counts)[::-1] + 0.5, color="black", lw=2, label="all")
        for lang in self.languages:
            ax_c.plot(ranks, np.sort(self.language_counts[lang])[::-1] + 0.5, lw=1, alpha=0.8, label=lang)
        ax_c.set_yscale("log")
        ax_c.set_xlabel("token rank")
        ax_c.set_ylabel("count + 0.5")
        ax_c.set_title(title, fontsize=9)
        ax_c.legend(fontsize=6, ncol=2)
        ax_p.plot(ranks, np.sort(self.priors)[::-1], color="#4477aa")
        ax_p.set_yscale("log")
        ax_p.set_xlabel("token rank")
        ax_p.set_ylabel("prior π (eq. 6)")
        ax_p.set_title(f"smoothed prior: N={len(self.tokens)}, n0={int((self.counts == 0).sum())}, "
                       f"C={int(self.counts.sum())}", fontsize=9)
        fig.tight_layout()
        Path(png).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(png, dpi=110)
        plt.close(fig)
