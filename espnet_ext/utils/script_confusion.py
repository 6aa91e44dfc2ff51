"""Which script a model writes each language in: hypotheses in another script than their reference.

A multilingual model without language information can transcribe a rare language's speech in a frequent
language's script: the SMT baseline of the long-tail benchmark writes part of its Chinese test utterances
in Latin or Cyrillic letters.  Such an utterance costs ~100 % CER whatever the model knows of the rare language's
characters, so this count separates language confusion from character errors (docs/diagnostics.md).

The dominant script of a text is the script of most of its letters (espnet_ext.asr.lid.frame_lid_targets.
char_script: han, latin, cyrillic, ...; digits and punctuation have none); an empty hypothesis has none.
"""

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Mapping, Optional

from espnet_ext.asr.lid.frame_lid_targets import char_script


def dominant_script(text: str) -> Optional[str]:
    """The script of most letters of ``text`` (ties: the first in the text), None without letters."""
    counts = Counter(s for s in map(char_script, text) if s is not None)
    if not counts:
        return None
    best = max(counts.values())
    return next(s for s in map(char_script, text) if s is not None and counts[s] == best)


@dataclass
class ScriptRow:
    language: str
    utterances: int
    reference_script: Optional[str]  # the most common dominant script of the language's references
    other_script: int  # hypotheses whose dominant script is another one
    empty: int  # hypotheses without any letter
    share: float  # other_script / utterances, %
    hypothesis_scripts: Dict[str, int] = field(default_factory=dict)  # dominant script -> utterances ("none")


def script_confusion(refs: Mapping[str, str], hyps: Mapping[str, str],
                     utt2lang: Mapping[str, str]) -> List[ScriptRow]:
    """One row per language (sorted), over the utterances of ``refs``; every one needs a hypothesis and a language."""
    missing = [u for u in refs if u not in hyps]
    if missing:
        raise ValueError(f"{len(missing)} reference utterances have no hypothesis, e.g. '{missing[0]}'")
    unknown = [u for u in refs if u not in utt2lang]
    if unknown:
        raise ValueError(f"{len(unknown)} utterances have no language in utt2lang, e.g. '{unknown[0]}'")
    by_lang: Dict[str, List[str]] = {}
    for utt in refs:
        by_lang.setdefault(utt2lang[utt], []).append(utt)
    rows = []
    for lang in sorted(by_lang):
        utts = by_lang[lang]
        ref_script = Counter(dominant_script(refs[u]) for u in utts).most_common(1)[0][0]
        scripts = Counter(dominant_script(hyps[u]) or "none" for u in utts)
        other = sum(n for s, n in scripts.items() if s not in ("none", ref_script))
        rows.append(ScriptRow(lang, len(utts), ref_script, other, scripts.get("none", 0),
                              round(100.0 * other / len(utts), 2), dict(scripts.most_common())))
    return rows


def markdown(rows: List[ScriptRow], title: str) -> str:
    lines = [f"# {title}", "", "| language | utterances | reference script | other script | share % | empty | "
             "hypothesis scripts |", "|---|---:|---|---:|---:|---:|---|"]
    for r in rows:
        scripts = ", ".join(f"{s} {n}" for s, n in r.hypothesis_scripts.items())
        lines.append(f"| {r.language} | {r.utterances} | {r.reference_script} | {r.other_script} | {r.share:.1f} | "
                     f"{r.empty} | {scripts} |")
    return "\n".join(lines) + "\n"


def to_json(rows: List[ScriptRow]) -> Dict[str, dict]:
    return {r.language: asdict(r) for r in rows}
