"""Per-language vocabulary coverage of the pretrained LM, in the layout of A2's Table 10.

A2 (Adapt-and-Adjust, ICLR 2021 submission), Appendix F, Table 10: for each language, # Vocab is the number
of SentencePiece pieces the language uses, # Match how many of them match the pretrained vocabulary
(``espnet_ext.text.vocab_mapping``: exact or relaxed), coverage = # Match / # Vocab; "multi" is the whole
shared token list.  The paper trained one SentencePiece model per language; with the shared model of a
multilingual recipe a language's vocabulary is the set of pieces its training transcripts are encoded with.
"""

import json
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from espnet_ext.text.vocab_mapping import VocabMapping, is_special_token


class CoverageTable:
    """Table 10 rows (# matched, # vocab, coverage %) per language plus ``multi``.

    Args:
        mapping: the vocabulary mapping of the shared token list.
        pieces_per_language: language -> the pieces its training text uses.
        languages: column order (default: by descending number of utterances, then name).
        utterances: language -> number of training utterances (for ordering and the report).
    """

    MULTI = "multi"

    def __init__(self, mapping: VocabMapping, pieces_per_language: Dict[str, Sequence[str]],
                 languages: Optional[List[str]] = None, utterances: Optional[Dict[str, int]] = None):
        self.utterances = dict(utterances or {})
        if languages is None:
            languages = sorted(pieces_per_language, key=lambda l: (-self.utterances.get(l, 0), l))
        unknown = [l for l in languages if l not in pieces_per_language]
        if unknown:
            raise ValueError(f"languages {unknown} have no training text (utt2lang)")
        self.languages = list(languages)
        self.rows = {lang: mapping.coverage(sorted(pieces_per_language[lang])) for lang in self.languages}
        self.rows[self.MULTI] = mapping.coverage()
        self.convention = mapping.convention

    def markdown(self, title: str = "Vocabulary coverage") -> str:
        cols = self.languages + [self.MULTI]
        lines = [f"## {title}", "", "| | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
        lines.append("| Coverage (%) | " + " | ".join(f"{self.rows[c]['coverage']:.1f}" for c in cols) + " |")
        lines.append("| # Match | " + " | ".join(f"{self.rows[c]['matched']:,}" for c in cols) + " |")
        lines.append("| # Vocab | " + " | ".join(f"{self.rows[c]['vocab']:,}" for c in cols) + " |")
        lines.append("| # Composed | " + " | ".join(f"{self.rows[c]['composed']:,}" for c in cols) + " |")
        lines.append("| # Fresh | " + " | ".join(f"{self.rows[c]['fresh']:,}" for c in cols) + " |")
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict:
        return {"languages": self.languages, "convention": self.convention, "utterances": self.utterances,
                "coverage": self.rows}


def pieces_per_language(texts: Dict[str, str], utt2lang: Dict[str, str], encode) -> Dict[str, List[str]]:
    """language -> sorted distinct pieces of its transcripts; ``encode(text) -> list of pieces``."""
    out: Dict[str, set] = {}
    for utt, text in texts.items():
        if utt not in utt2lang:
            raise ValueError(f"utterance '{utt}' has a transcript but no language in utt2lang")
        out.setdefault(utt2lang[utt], set()).update(p for p in encode(text) if not is_special_token(p))
    return {lang: sorted(p) for lang, p in out.items()}


def write_coverage(table: CoverageTable, mapping: VocabMapping, out_dir: Path, title: str) -> None:
    """coverage.md, coverage.json (Table 10) and mapping.tsv (one row per ASR token)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "coverage.md").write_text(table.markdown(title), encoding="utf-8")
    report = table.to_json()
    report["kinds"] = dict(Counter(mapping.kinds))
    (out_dir / "coverage.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    with open(out_dir / "mapping.tsv", "w", encoding="utf-8") as f:
        f.write("id\ttoken\tkind\tpretrained\n")
        for row in mapping.report_rows():
            f.write(f"{row['id']}\t{row['token']}\t{row['kind']}\t{row['pretrained']}\n")
