"""How well do the training transcripts cover the output tokens each test language needs?

A test token whose type never occurs in the training transcripts can never be produced as a trained output
(its logit only ever gets pushed down), so the share of such tokens is a floor on the test error rate
before any model is trained; types seen fewer than K times are barely learnt (the long tail).  Per language:

* training (that language's training utterances): number of output types, occurrences per type
  (min / median / mean), number of types with fewer than K occurrences;
* test: share of test tokens whose type never occurs in training (OOV), share whose type occurs fewer than K
  times (unseen included).  Both count against *all* training data pooled, since the recipes train one
  model with a shared vocabulary on every training dir; ``oov_own_pct`` counts against the language's own
  training utterances only (what a monolingual model would face).

Tokens: ``char`` = characters without whitespace, ``word`` = whitespace-separated words, ``bpe`` = the pieces
of a SentencePiece model.  ``by_script`` splits a code-switching language's tokens by script with the rule of
:mod:`espnet_ext.utils.code_switching_stats`: a token holding a CJK ideograph is ``zh``, else one holding a
Latin letter is ``en`` (rows ``cs:zh`` and ``cs:en``); digits, punctuation and a bare ``▁`` are in neither.
"""

import json
import statistics
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from espnet_ext.fileio.kaldi_map import DataDirError, read_kaldi_map
from espnet_ext.utils.code_switching_stats import tag_tokens

ALL = "all"


def make_tokenizer(token_type: str, bpemodel: Optional[Path] = None) -> Callable[[str], List[str]]:
    if token_type == "char":
        return lambda text: [c for c in text if not c.isspace()]
    if token_type == "word":
        return str.split
    if token_type == "bpe":
        if bpemodel is None or not Path(bpemodel).is_file():
            raise ValueError(f"--token_type bpe needs a SentencePiece model, '{bpemodel}' is not a file")
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=str(bpemodel))
        return lambda text: sp.encode(text, out_type=str)
    raise ValueError(f"token_type '{token_type}' is not supported (char, bpe, word)")


def script_of(token: str) -> Optional[str]:
    """``zh`` if the token holds a CJK ideograph, else ``en`` if it holds a Latin letter, else None."""
    tags = {lang for _, lang in tag_tokens(token)}
    return "zh" if "zh" in tags else "en" if "en" in tags else None


def read_language_texts(data_dirs: Sequence[Path]) -> Dict[str, List[str]]:
    """language -> transcripts of the data dirs, by their ``utt2lang``; every utterance needs a language."""
    out: Dict[str, List[str]] = {}
    for d in map(Path, data_dirs):
        if not d.is_dir():
            raise DataDirError(f"{d}: data directory not found")
        texts = read_kaldi_map(d / "text", allow_empty_value=True)
        langs = read_kaldi_map(d / "utt2lang")
        for utt, text in texts.items():
            if utt not in langs:
                raise DataDirError(f"{d / 'utt2lang'}: no language for utterance '{utt}' (present in {d / 'text'})")
            out.setdefault(langs[utt], []).append(text)
    return out


def count_tokens(texts: Dict[str, List[str]], tokenize: Callable[[str], List[str]],
                 by_script: Sequence[str] = ()) -> Dict[str, Counter]:
    """Row -> token counts; rows are the languages plus ``lang:zh`` / ``lang:en`` for ``by_script`` languages."""
    counts: Dict[str, Counter] = {}
    for lang, lines in texts.items():
        c = counts.setdefault(lang, Counter())
        for text in lines:
            c.update(tokenize(text))
        if lang in by_script:
            for script in ("zh", "en"):
                counts[f"{lang}:{script}"] = Counter({t: n for t, n in c.items() if script_of(t) == script})
    return counts


@dataclass
class CoverageRow:
    language: str
    train_utterances: Optional[int]
    train_tokens: int
    train_types: int
    count_min: Optional[int]
    count_median: Optional[float]
    count_mean: Optional[float]
    rare_types: int
    test_utterances: Optional[int]
    test_tokens: int
    oov_pct: Optional[float]
    rare_pct: Optional[float]
    oov_own_pct: Optional[float]


def _pct(part: int, whole: int) -> Optional[float]:
    return round(100.0 * part / whole, 4) if whole else None


def coverage_row(language: str, train: Counter, pooled: Counter, test: Counter, min_count: int,
                 train_utts: Optional[int] = None, test_utts: Optional[int] = None) -> CoverageRow:
    """One row: ``train`` = the row's own training counts, ``pooled`` = all training counts."""
    occ = sorted(train.values())
    n_test = sum(test.values())
    return CoverageRow(
        language, train_utts, sum(occ), len(occ), occ[0] if occ else None,
        float(statistics.median(occ)) if occ else None, round(sum(occ) / len(occ), 4) if occ else None,
        sum(n < min_count for n in occ), test_utts, n_test,
        _pct(sum(n for t, n in test.items() if pooled[t] == 0), n_test),
        _pct(sum(n for t, n in test.items() if pooled[t] < min_count), n_test),
        _pct(sum(n for t, n in test.items() if train[t] == 0), n_test))


def coverage_table(train_texts: Dict[str, List[str]], test_texts: Dict[str, List[str]],
                   tokenize: Callable[[str], List[str]], min_count: int = 5,
                   by_script: Sequence[str] = ()) -> List[CoverageRow]:
    """Rows per language (with its script rows after it) and a last row ``all`` for everything pooled."""
    missing = [lang for lang in by_script if lang not in train_texts and lang not in test_texts]
    if missing:
        raise ValueError(f"by_script: no utterances of language '{missing[0]}' in the training or test dirs")
    train = count_tokens(train_texts, tokenize, by_script)
    test = count_tokens(test_texts, tokenize, by_script)
    pooled: Counter = sum((train[lang] for lang in train_texts), Counter())
    rows = []
    for lang in sorted(set(train_texts) | set(test_texts)):
        n_train, n_test = len(train_texts.get(lang, [])), len(test_texts.get(lang, []))
        for key in [lang] + [f"{lang}:{s}" for s in ("zh", "en") if lang in by_script]:
            utts = (n_train, n_test) if key == lang else (None, None)
            rows.append(coverage_row(key, train.get(key, Counter()), pooled, test.get(key, Counter()),
                                     min_count, *utts))
    all_test: Counter = sum((test[lang] for lang in test_texts), Counter())
    rows.append(coverage_row(ALL, pooled, pooled, all_test, min_count,
                             sum(map(len, train_texts.values())), sum(map(len, test_texts.values()))))
    return rows


def _fmt(x, digits: int = 1) -> str:
    if x is None:
        return "–"
    return f"{x:,}" if isinstance(x, int) else f"{x:,.{digits}f}"


def markdown_table(rows: Sequence[CoverageRow], min_count: int, title: str = "Token coverage") -> str:
    k = min_count
    head = ["language", "train utts", "train tokens", "types", "min", "median", "mean", f"types < {k}",
            "test utts", "test tokens", "OOV %", f"< {k} %", "OOV % (own lang)"]
    lines = [f"## {title}", "", "| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for r in rows:
        cells = [r.language, _fmt(r.train_utterances), _fmt(r.train_tokens), _fmt(r.train_types),
                 _fmt(r.count_min), _fmt(r.count_median), _fmt(r.count_mean), _fmt(r.rare_types),
                 _fmt(r.test_utterances), _fmt(r.test_tokens), _fmt(r.oov_pct, 2), _fmt(r.rare_pct, 2),
                 _fmt(r.oov_own_pct, 2)]
        lines.append("| " + " | ".join(cells) + " |")
    notes = (f"OOV %: test tokens whose type never occurs in the training dirs (a floor on the error rate); "
             f"< {k} %: whose type occurs fewer than {k} times there (unseen included); own lang: against that "
             f"language's training utterances only.")
    return "\n".join(lines + ["", notes]) + "\n"


def plot_coverage(rows: Sequence[CoverageRow], png: Path, min_count: int, title: str = "Test token coverage") -> None:
    """Per row with test tokens: a bar for the OOV share and one for the share with < K training occurrences."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r.test_tokens]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(rows) + 2), 4.0))
    x = range(len(rows))
    width = 0.38
    bars = [(-width / 2, [r.oov_pct for r in rows], "never in training (OOV)", "#c0392b"),
            (width / 2, [r.rare_pct for r in rows], f"< {min_count} training occurrences (incl. OOV)", "#e69f00")]
    top = max([v for _, vals, _, _ in bars for v in vals] + [1.0])
    for offset, values, label, color in bars:
        rects = ax.bar([i + offset for i in x], values, width, label=label, color=color)
        texts = [f"{v:.1f}" if v >= 1 or v == 0 else f"{v:.2f}" for v in values]  # keep 0.03 % visible
        ax.bar_label(rects, labels=texts, fontsize=8, padding=2)
    ax.set_xticks(list(x), [r.language for r in rows], rotation=30 if len(rows) > 6 else 0)
    ax.set_ylabel("% of test tokens")
    ax.set_ylim(0, top * 1.25)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def write_report(rows: Sequence[CoverageRow], out: Path, min_count: int, meta: dict) -> Tuple[Path, Path, Path]:
    """``<out>.md``, ``<out>.json`` and ``<out>.png``; ``meta`` (token type, dirs) goes into the JSON."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    md, js, png = (out.with_name(out.name + ext) for ext in (".md", ".json", ".png"))
    title = f"Token coverage ({meta.get('token_type', '')}, K = {min_count})"
    md.write_text(markdown_table(rows, min_count, title), encoding="utf-8")
    report = {**meta, "min_count": min_count, "rows": [asdict(r) for r in rows]}
    js.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    plot_coverage(rows, png, min_count, f"Test token coverage ({meta.get('token_type', '')})")
    return md, js, png
