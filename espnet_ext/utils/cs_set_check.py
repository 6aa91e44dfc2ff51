"""What a code-switched set holds that a model cannot learn or a metric would hide: per set, the utterances
with no Chinese or no English (a "code-switching" utterance that does not switch), and the utterances with
characters outside the token list (ESPnet maps them to ``<unk>`` without a word).

Counted and reported by the recipes (``espnet_ext.bin.check_cs_set``, run by egs/synth_cs stage 3), never
silently dropped: monolingual utterances are legitimate in a CS corpus (SEAME has them), but a user should
see how many there are; characters outside the token list are a floor on the error rate.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set

from espnet_ext.utils.code_switching_stats import tag_tokens

#: Tokens of ESPnet's char token list that are not characters of the text.
SPECIAL_TOKENS = {"<blank>", "<unk>", "<space>", "<sos/eos>", "<sos>", "<eos>"}


@dataclass
class CsSetReport:
    utterances: int = 0
    no_zh: List[str] = field(default_factory=list)
    no_en: List[str] = field(default_factory=list)
    outside_tokens: Dict[str, List[str]] = field(default_factory=dict)  # utt -> characters not in the list

    def to_dict(self, examples: int = 5) -> dict:
        chars = sorted({c for cs in self.outside_tokens.values() for c in cs})
        return {"utterances": self.utterances, "no_zh": len(self.no_zh), "no_en": len(self.no_en),
                "outside_token_list": len(self.outside_tokens), "outside_characters": chars,
                "examples": {"no_zh": self.no_zh[:examples], "no_en": self.no_en[:examples],
                             "outside_token_list": sorted(self.outside_tokens)[:examples]}}


def check_cs_set(texts: Dict[str, str], tokens: Optional[Set[str]] = None) -> CsSetReport:
    """Count the utterances of ``texts`` ({utt: transcript}) without zh / en tokens, and, given the
    ``tokens`` of a char token list, those with characters (spaces aside) outside it."""
    report = CsSetReport()
    for utt in sorted(texts):
        text = texts[utt]
        report.utterances += 1
        langs = {lang for _, lang in tag_tokens(text)}
        if "zh" not in langs:
            report.no_zh.append(utt)
        if "en" not in langs:
            report.no_en.append(utt)
        if tokens is not None:
            missing = sorted({c for c in text if not c.isspace() and c not in tokens})
            if missing:
                report.outside_tokens[utt] = missing
    return report


def read_token_list(path: str) -> Set[str]:
    """The characters of an ESPnet char token list (one token per line; special tokens left out)."""
    with open(path, encoding="utf-8") as f:
        return {line.rstrip("\n") for line in f if line.strip()} - SPECIAL_TOKENS
