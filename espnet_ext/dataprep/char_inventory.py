"""A learnable Chinese side for the offline corpora: a frequent-character inventory and test coverage.

Why: People's Daily text has ~4,500 character types, most of them rare. A corpus of a few hundred Chinese
utterances then holds ~1,500 types seen ~8 times each in training, and a test set full of characters the
model never saw often enough to learn — the code-switching results of the first rounds were at 90–120 %
Chinese CER for that reason, not for lack of training. espeak-ng also reads tone-numbered pinyin, so
characters of one toned syllable sound the same; only context tells them apart.

The builders therefore (configurable, docs/corpus_synthetic.md "A learnable Chinese side"):

1. restrict Chinese text to an **inventory**: the ``size`` most frequent characters of the text source,
   optionally at most ``max_homophones`` characters per toned pinyin syllable (the most frequent ones);
2. guarantee **coverage**: every Chinese character of a dev/test utterance occurs at least
   ``min_train_count`` times in the corpus's training text (:func:`repair_coverage` swaps an uncovered
   evaluation sentence for the next unused one that is covered; training text never changes).
"""

from collections import Counter
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, TypeVar

from espnet_ext.dataprep import text_sources

T = TypeVar("T")


def cjk_chars(text: str) -> List[str]:
    """The Chinese characters of ``text``, in order (English words, spaces, digits left out)."""
    return [c for c in text if text_sources._is_cjk(c)]


def toned_syllable(char: str) -> str:
    """Tone-numbered pinyin of one character as espeak-ng is given it (pypinyin TONE3, neutral tone 5)."""
    from pypinyin import Style, lazy_pinyin

    return lazy_pinyin(char, style=Style.TONE3, neutral_tone_with_five=True)[0]


def frequent_characters(texts: Iterable[str], size: int, max_homophones: int = 0) -> List[str]:
    """The ``size`` most frequent Chinese characters of ``texts`` (ties by code point, so deterministic).

    With ``max_homophones > 0`` a character is skipped when ``max_homophones`` more frequent characters
    already share its toned syllable: fewer characters that sound alike, at the price of rarer ones."""
    if size < 1:
        raise ValueError(f"inventory size must be >= 1, got {size}")
    counts = Counter(c for t in texts for c in cjk_chars(t))
    ranked = sorted(counts, key=lambda c: (-counts[c], c))
    out: List[str] = []
    per_syllable: Counter = Counter()
    for char in ranked:
        if max_homophones > 0:
            syl = toned_syllable(char)
            if per_syllable[syl] >= max_homophones:
                continue
            per_syllable[syl] += 1
        out.append(char)
        if len(out) == size:
            break
    return out


def within(text: str, inventory: Optional[Set[str]]) -> bool:
    """True if every Chinese character of ``text`` is in ``inventory`` (``None``: no restriction)."""
    return inventory is None or all(c in inventory for c in cjk_chars(text))


def train_counts(texts: Iterable[str]) -> Counter:
    """Occurrences of each Chinese character in the training transcripts."""
    return Counter(c for t in texts for c in cjk_chars(t))


def uncovered(text: str, counts: Counter, min_count: int) -> List[str]:
    """The Chinese characters of ``text`` seen fewer than ``min_count`` times in training."""
    return sorted({c for c in cjk_chars(text) if counts[c] < min_count})


def repair_coverage(evaluation: List[T], text_of: Callable[[T], str], counts: Counter, min_count: int,
                    spare: Iterator[T], what: str, replace: Callable[[T, T], T] = lambda old, new: new
                    ) -> Dict[str, int]:
    """Replace, in place, each evaluation item whose Chinese characters are not all covered by
    ``replace(item, c)`` for the next covered item ``c`` of ``spare`` (the source's unused sentences, in
    their fixed shuffled order; ``replace`` keeps e.g. the utterance id and voice of the old item).

    Training text is untouched, so one pass suffices.  Returns ``{"replaced": n, "examined_spares": m}``;
    raises ``ValueError`` naming ``what`` when the spares run out."""
    replaced = examined = 0
    for i, item in enumerate(evaluation):
        if not uncovered(text_of(item), counts, min_count):
            continue
        for candidate in spare:
            examined += 1
            if not uncovered(text_of(candidate), counts, min_count):
                evaluation[i] = replace(item, candidate)
                replaced += 1
                break
        else:
            raise ValueError(f"{what}: not enough unused sentences whose Chinese characters all occur >= "
                             f"{min_count} times in training; raise the train counts, lower min_train_count "
                             "or shrink the inventory")
    return {"replaced": replaced, "examined_spares": examined}


def coverage_summary(evaluation: Sequence[str], counts: Counter, min_count: int) -> Dict[str, float]:
    """Types in training, and the evaluation tokens below ``min_count`` (0 after :func:`repair_coverage`)."""
    tokens = [c for t in evaluation for c in cjk_chars(t)]
    low = sum(counts[c] < min_count for c in tokens)
    return {"train_types": len(counts), "eval_tokens": len(tokens), "eval_tokens_below_min": low,
            "min_train_count_of_eval_chars": min((counts[c] for c in tokens), default=0)}
