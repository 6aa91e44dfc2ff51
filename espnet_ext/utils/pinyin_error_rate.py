"""Toned-pinyin error rate for Mandarin and code-switched text, beside CER.

The offline Mandarin speech is espeak-ng reading TONE3 pinyin
(:func:`espnet_ext.dataprep.synth_corpus.spoken_text`), so characters of one toned syllable (是/事, both
``shi4``) sound identical and no acoustic model can tell them apart; only context (the decoder as language
model) can.  CER counts such homophone confusions as errors; this rate does not.  Read together: CER high but
pinyin error low means the model hears right and writes the wrong homophones; both high means it mishears.

Units: every CJK character becomes its toned syllable, by the same pypinyin call as ``spoken_text``
(``lazy_pinyin(..., style=TONE3, neutral_tone_with_five=True)``), made on each maximal run of CJK characters
at once so polyphones are resolved in context (银行 -> yin2 hang2, 行走 -> xing2 zou3); a CJK character
pypinyin has no reading for stays itself.  Every other character (English letters, apostrophes) is one unit
as it is, and spaces are dropped — so the units align one to one with CER's characters (spaces not
counted, as in :func:`espnet_ext.utils.error_rate.cer_ignoring_spaces`) and the two rates share their
denominator.
Context for a reference run is the transcript's run, whereas synthesis saw the sentence with punctuation;
a polyphone next to dropped punctuation can therefore rarely get another reading than was spoken.
"""

import re
from typing import Dict, List

from espnet_ext.utils.error_rate import ErrorCount, set_error_rate

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_SYLLABLE = re.compile(r"[a-z]+[1-5]")  # TONE3 with neutral tone 5: letters then one tone digit (ü is 'v')


def _syllables(run: str) -> List[str]:
    from pypinyin import Style, lazy_pinyin

    out = lazy_pinyin(run, style=Style.TONE3, neutral_tone_with_five=True)
    if len(out) != len(run):  # never seen; keep one unit per character whatever pypinyin groups
        out = [lazy_pinyin(c, style=Style.TONE3, neutral_tone_with_five=True)[0] for c in run]
    # no reading: pypinyin returns the character itself plus the neutral-tone '5'; keep the character
    return [s if _SYLLABLE.fullmatch(s) else c for s, c in zip(out, run)]


def pinyin_units(text: str) -> List[str]:
    """``'我 like 银行'`` -> ``['wo3', 'l', 'i', 'k', 'e', 'yin2', 'hang2']``; spaces dropped."""
    units: List[str] = []
    pos = 0
    for m in _CJK_RUN.finditer(text):
        units += [c for c in text[pos:m.start()] if not c.isspace()]
        units += _syllables(m.group())
        pos = m.end()
    units += [c for c in text[pos:] if not c.isspace()]
    return units


def pinyin_error_rate(refs: Dict[str, str], hyps: Dict[str, str]) -> ErrorCount:
    """Edit distance over :func:`pinyin_units` / reference units; a missing hypothesis counts as empty."""
    return set_error_rate(refs, hyps, pinyin_units)
