"""Long-tail statistics of the shared token vocabulary (A2 paper Fig. 1, Figs. 7-8 and Table 7).

* Class frequency: how often each token of the shared vocabulary occurs in the training transcripts
  (tokenised with the recipe's SentencePiece model), per language and in total.
* "After balanced sampling" (Table 7, Fig. 8): the *expected* counts when every language contributes the
  same number of utterances — computed analytically, not by simulating a sampler.  With ``N_l`` training
  utterances and token counts ``c_{l,t}`` in language ``l``, ``L`` languages and ``N = sum_l N_l``, balanced
  sampling that sees as many utterances as one pass over the data gives each language ``N / L`` utterances,
  so ``E[c_t] = sum_l c_{l,t} * (N / L) / N_l`` (our reading of the paper's "estimates on the balance
  sampling"; the total number of utterances is held fixed so the two rows of Table 7 are comparable).
* Table 7 buckets: counts > 100k, 50k-100k, 10k-50k, 1k-10k, < 1k.  ``scale`` multiplies the edges so that a
  small corpus can be bucketed in proportion (e.g. ``scale = our tokens / paper tokens``); tokens of the
  token list that never occur count in the lowest bucket.
"""

from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from espnet_ext.fileio.kaldi_map import DataDirError, read_kaldi_map

PAPER_EDGES = (100_000, 50_000, 10_000, 1_000)  # Table 7, descending
SPECIAL_TOKENS = frozenset({"<blank>", "<unk>", "<sos/eos>"})


def count_tokens(text: Path, utt2lang: Path, bpemodel: Path) -> Tuple[Dict[str, Counter], Dict[str, int]]:
    """Per-language token counts and utterance counts of a Kaldi ``text`` tokenised with ``bpemodel``."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(bpemodel))
    texts, langs = read_kaldi_map(Path(text)), read_kaldi_map(Path(utt2lang))
    counts: Dict[str, Counter] = {}
    utts: Dict[str, int] = {}
    for utt, t in texts.items():
        if utt not in langs:
            raise DataDirError(f"{utt2lang}: no language for utterance '{utt}'")
        lang = langs[utt]
        counts.setdefault(lang, Counter()).update(sp.encode(t, out_type=str))
        utts[lang] = utts.get(lang, 0) + 1
    return counts, utts


def total_counts(counts: Dict[str, Counter]) -> Dict[str, float]:
    """Class frequency over all languages (the "original data" row of Table 7)."""
    out: Counter = Counter()
    for c in counts.values():
        out.update(c)
    return {t: float(n) for t, n in out.items()}


def balanced_counts(counts: Dict[str, Counter], utts: Dict[str, int]) -> Dict[str, float]:
    """Expected class frequency under balanced sampling (module docstring, E[c_t])."""
    missing = sorted(set(counts) - set(utts))
    if missing:
        raise ValueError(f"no utterance count for language '{missing[0]}'")
    total_utts = sum(utts[lang] for lang in counts)
    share = total_utts / max(len(counts), 1)
    out: Dict[str, float] = {}
    for lang, c in counts.items():
        factor = share / utts[lang]
        for t, n in c.items():
            out[t] = out.get(t, 0.0) + n * factor
    return out


def bucket_labels(edges: Sequence[float]) -> List[str]:
    def fmt(x: float) -> str:
        return f"{x / 1000:g}k" if x >= 1000 else f"{x:g}"

    labels = [f">{fmt(edges[0])}"]
    labels += [f"{fmt(lo)}-{fmt(hi)}" for hi, lo in zip(edges[:-1], edges[1:])]
    return labels + [f"<{fmt(edges[-1])}"]


def bucket_counts(freq: Dict[str, float], edges: Sequence[float] = PAPER_EDGES, scale: float = 1.0,
                  vocabulary: Optional[Sequence[str]] = None) -> Dict[str, int]:
    """Number of tokens per frequency bucket (Table 7); ``vocabulary`` adds never-seen tokens at 0."""
    edges = [e * scale for e in edges]
    if any(a <= b for a, b in zip(edges[:-1], edges[1:])) or not edges:
        raise ValueError(f"edges must be strictly decreasing, got {edges}")
    values = dict(freq)
    for t in vocabulary or ():
        if t not in SPECIAL_TOKENS:
            values.setdefault(t, 0.0)
    labels = bucket_labels(edges)
    out = {label: 0 for label in labels}
    for n in values.values():
        # ">100k" is strict (n > e0); bucket i >= 1 holds e_i <= n (<= e_{i-1}); the last one n < e_last.
        k = 0 if n > edges[0] else next((i for i in range(1, len(edges)) if n >= edges[i]), len(edges))
        out[labels[k]] += 1
    return out


def dominant_language(token: str, counts: Dict[str, Counter]) -> str:
    """The language contributing most occurrences of ``token`` (ties: alphabetical)."""
    return max(sorted(counts), key=lambda lang: counts[lang].get(token, 0))


def plot_long_tail(freq: Dict[str, float], counts: Dict[str, Counter], png: Path, title: str,
                   min_count: float = 0.0) -> None:
    """Figs. 1/7/8: tokens sorted by frequency (log scale), each bar coloured by its dominant language."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = sorted(((n, t) for t, n in freq.items() if n >= min_count and n > 0), reverse=True)
    langs = sorted(counts)
    cmap = plt.get_cmap("tab20" if len(langs) > 10 else "tab10")
    colour = {lang: cmap(i % cmap.N) for i, lang in enumerate(langs)}
    fig, ax = plt.subplots(figsize=(10, 3.5))
    xs = range(len(items))
    ax.bar(xs, [n for n, _ in items], width=1.0, color=[colour[dominant_language(t, counts)] for _, t in items])
    ax.set_yscale("log")
    ax.set_xlabel("token rank (shared vocabulary)")
    ax.set_ylabel("count")
    ax.set_title(title)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour[lang]) for lang in langs]
    ax.legend(handles, langs, ncol=min(len(langs), 6), fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def markdown_table7(original: Dict[str, int], balanced: Dict[str, int]) -> str:
    labels = list(original)
    lines = ["| | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
    lines.append("| Original data | " + " | ".join(str(original[k]) for k in labels) + " |")
    lines.append("| Balanced sampling | " + " | ".join(str(balanced[k]) for k in labels) + " |")
    return "\n".join(lines) + "\n"
