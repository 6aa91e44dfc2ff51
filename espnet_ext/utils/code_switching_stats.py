"""Code-switching statistics of a transcript set: CMI and SPF (Winata et al., arXiv:2004.14228, Table 1).

Language per token (English–Mandarin): every CJK ideograph is one ``zh`` token; every maximal run of Latin
letters and apostrophes is one ``en`` token; anything else (digits, punctuation, tags) is language-independent.

Code-mixing index (Gambäck & Das, 2014), per utterance, as a fraction (the paper's 0.18 = 18 on their scale):
    CMI = 1 − max_l(w_l) / (n − u)   if n > u,  else 0
with w_l the tokens of language l, n all tokens, u the language-independent ones.
Switch-point fraction (Pratapa et al., 2018), per utterance:
    SPF = (#adjacent language-tagged token pairs whose languages differ) / (#language-tagged tokens − 1)
(0 for fewer than two tagged tokens).  A set's CMI and SPF are the means over its utterances — monolingual
utterances included, as in a corpus-level table; ``cs_only`` means over code-switched utterances are given too.
"""

import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[A-Za-z']+|\S")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z']*[A-Za-z][A-Za-z']*")


def tag_tokens(text: str) -> List[Tuple[str, Optional[str]]]:
    """``[(token, 'zh' | 'en' | None), ...]`` for one transcript."""
    out = []
    for tok in _TOKEN.findall(text):
        if _CJK.fullmatch(tok):
            out.append((tok, "zh"))
        elif _LATIN.fullmatch(tok):
            out.append((tok, "en"))
        else:
            out.append((tok, None))
    return out


def cmi(text: str) -> float:
    tags = [lang for _, lang in tag_tokens(text)]
    tagged = [t for t in tags if t is not None]
    if not tagged:
        return 0.0
    dominant = max(tagged.count(lang) for lang in set(tagged))
    return 1.0 - dominant / len(tagged)


def spf(text: str) -> float:
    tagged = [lang for _, lang in tag_tokens(text) if lang is not None]
    if len(tagged) < 2:
        return 0.0
    switches = sum(a != b for a, b in zip(tagged, tagged[1:]))
    return switches / (len(tagged) - 1)


@dataclass
class SetStats:
    utterances: int
    cs_utterances: int
    cmi: float
    spf: float
    cmi_cs_only: float
    spf_cs_only: float

    def to_dict(self) -> Dict[str, float]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def set_stats(texts: Iterable[str]) -> SetStats:
    """CMI and SPF means over a set of transcripts (Table 1)."""
    cmis, spfs, cs = [], [], []
    for text in texts:
        c, s = cmi(text), spf(text)
        cmis.append(c)
        spfs.append(s)
        if s > 0:
            cs.append((c, s))
    if not cmis:
        raise ValueError("no transcripts given")
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
    return SetStats(len(cmis), len(cs), mean(cmis), mean(spfs), mean([c for c, _ in cs]), mean([s for _, s in cs]))


def read_text_file(path: str) -> Dict[str, str]:
    """A Kaldi ``text`` file as {utt: transcript}."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split(maxsplit=1)
            out[parts[0]] = parts[1] if len(parts) > 1 else ""
    return out


def main(argv: Optional[List[str]] = None) -> None:
    """Usage: python -m espnet_ext.utils.code_switching_stats data/cs_train/text [data/cs_dev/text ...]"""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("text_files", nargs="+")
    args = parser.parse_args(argv)
    for path in args.text_files:
        print(json.dumps({"set": path, **set_stats(read_text_file(path).values()).to_dict()}, ensure_ascii=False))


if __name__ == "__main__":
    main()
