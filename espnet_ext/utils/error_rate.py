"""Character and word error rates, per language and averaged over languages (stage g).

CER counts every character of the reference, spaces included (as ESPnet's ``<space>`` does), unless
``ignore_space``; WER is reported only for languages whose words are space-delimited.  The average over
languages is the unweighted mean of per-language CERs — the A2 paper's "average" (Table 1) — and the
pooled CER over all characters is given beside it.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from espnet_ext.fileio.kaldi_map import read_kaldi_map

# Languages written without spaces between words: WER is meaningless there.
NO_WORD_SPACE_LANGUAGES = frozenset({"zh", "ja", "th", "cmn", "yue"})


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Levenshtein distance (substitutions, insertions, deletions all cost 1)."""
    if len(ref) < len(hyp):
        ref, hyp = hyp, ref
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def char_units(text: str, ignore_space: bool = False) -> List[str]:
    text = " ".join(text.split())
    return [c for c in text if not (ignore_space and c == " ")]


@dataclass
class ErrorCount:
    errors: int = 0
    ref_len: int = 0
    utts: int = 0

    def add(self, errors: int, ref_len: int) -> None:
        self.errors += errors
        self.ref_len += ref_len
        self.utts += 1

    @property
    def rate(self) -> float:
        return 100.0 * self.errors / max(self.ref_len, 1)


def set_error_rate(refs: Dict[str, str], hyps: Dict[str, str], units: Callable[[str], List[str]]) -> ErrorCount:
    """Edit distance over ``units`` of each utterance of ``refs``, summed over the set; a missing hypothesis
    counts as empty (all deletions). CER, MER and the pinyin error rate differ only in ``units``."""
    count = ErrorCount()
    for utt in sorted(refs):
        r, h = units(refs[utt]), units(hyps.get(utt, ""))
        count.add(edit_distance(r, h), len(r))
    return count


def cer_ignoring_spaces(refs: Dict[str, str], hyps: Dict[str, str]) -> ErrorCount:
    """CER with spaces not counted (CS spacing at language boundaries is a convention): the CER of the
    code-switching results (paper_results.cs_results_table) and of the synth_cs LM decodings."""
    return set_error_rate(refs, hyps, lambda text: char_units(text, ignore_space=True))


@dataclass
class LanguageScores:
    cer: Dict[str, ErrorCount] = field(default_factory=dict)
    wer: Dict[str, ErrorCount] = field(default_factory=dict)
    pooled_cer: ErrorCount = field(default_factory=ErrorCount)

    @property
    def average_cer(self) -> float:
        return sum(c.rate for c in self.cer.values()) / max(len(self.cer), 1)

    def to_dict(self) -> dict:
        return {
            "languages": {
                lang: {"cer": round(c.rate, 2), "wer": round(self.wer[lang].rate, 2) if lang in self.wer else None,
                       "utterances": c.utts, "ref_chars": c.ref_len}
                for lang, c in self.cer.items()
            },
            "average_cer": round(self.average_cer, 2),
            "pooled_cer": round(self.pooled_cer.rate, 2),
        }


def score(refs: Dict[str, str], hyps: Dict[str, str], utt2lang: Dict[str, str],
          ignore_space: bool = False) -> LanguageScores:
    """Score hypotheses against references; a missing hypothesis counts as empty (all deletions)."""
    missing = sorted(set(utt2lang) - set(refs))
    if missing:
        raise ValueError(f"utterance '{missing[0]}' has a language tag but no reference ({len(missing)} such)")
    scores = LanguageScores()
    for utt in sorted(refs):
        if utt not in utt2lang:
            raise ValueError(f"utterance '{utt}' has no language tag")
        lang = utt2lang[utt]
        ref, hyp = refs[utt], hyps.get(utt, "")
        r, h = char_units(ref, ignore_space), char_units(hyp, ignore_space)
        e = edit_distance(r, h)
        scores.cer.setdefault(lang, ErrorCount()).add(e, len(r))
        scores.pooled_cer.add(e, len(r))
        if lang not in NO_WORD_SPACE_LANGUAGES:
            scores.wer.setdefault(lang, ErrorCount()).add(edit_distance(ref.split(), hyp.split()), len(ref.split()))
    scores.cer = dict(sorted(scores.cer.items()))
    return scores


def score_decoding(decoded: Path, refs: Dict[str, str], utt2lang: Dict[str, str]) -> LanguageScores:
    """Scores of an ``asr_inference`` output dir (``1best_recog/{token,text}``) against ``refs``; an utterance
    decoded to nothing counts as an empty hypothesis, one without a reference is an error."""
    decoded_keys = read_kaldi_map(decoded / "1best_recog" / "token", allow_empty_value=True)
    text = decoded / "1best_recog" / "text"
    hyps = read_kaldi_map(text, allow_empty_value=True) if text.is_file() else {}
    missing = sorted(set(decoded_keys) - set(refs))
    if missing:
        raise ValueError(f"utterance '{missing[0]}' was decoded but has no reference")
    return score({k: refs[k] for k in decoded_keys}, hyps, {k: utt2lang[k] for k in decoded_keys})


def markdown_table(scores: LanguageScores, title: Optional[str] = None) -> str:
    lines = [f"### {title}", ""] if title else []
    lines += ["| language | #utts | #chars | CER (%) | WER (%) |", "|---|---:|---:|---:|---:|"]
    for lang, c in scores.cer.items():
        wer = f"{scores.wer[lang].rate:.1f}" if lang in scores.wer else "-"
        lines.append(f"| {lang} | {c.utts} | {c.ref_len} | {c.rate:.1f} | {wer} |")
    lines.append(f"| **average over languages** | {scores.pooled_cer.utts} | {scores.pooled_cer.ref_len} "
                 f"| **{scores.average_cer:.1f}** | |")
    lines.append(f"| pooled over characters | | | {scores.pooled_cer.rate:.1f} | |")
    return "\n".join(lines) + "\n"


def plot_cer(scores: LanguageScores, png: Path, title: str = "CER per language") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    langs = list(scores.cer)
    values = [scores.cer[lang].rate for lang in langs]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(langs) + 2), 3.5))
    bars = ax.bar(langs, values, color="#4477aa")
    ax.axhline(scores.average_cer, color="#cc6677", linestyle="--", label=f"average {scores.average_cer:.1f}%")
    for bar, v in zip(bars, values):
        ax.text(bar.get_x() + bar.get_width() / 2, v, f"{v:.1f}", ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, 1.25 * max(values + [scores.average_cer, 1.0]))  # headroom: labels and legend above the bars
    ax.set_ylabel("CER (%)")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def write_results(scores: LanguageScores, out_dir: Path, title: str) -> None:
    """``results.md``, ``results.json`` and ``cer_per_language.png`` in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.md").write_text(markdown_table(scores, title), encoding="utf-8")
    (out_dir / "results.json").write_text(json.dumps(scores.to_dict(), indent=2, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
    plot_cer(scores, out_dir / "cer_per_language.png", title)
