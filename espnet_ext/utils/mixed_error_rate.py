"""Mixed error rate (MER) for English–Mandarin code-switched ASR, beside plain CER.

Units: each CJK character is one unit, each whitespace/CJK-delimited run of other characters (an English
word) is one unit; spaces are separators, not units.  MER = edit distance over these units / reference units.
This is the usual SEAME metric; the meta-transfer paper (Winata et al., arXiv:2004.14228, Tables 2–3) reports CER.
"""

import re
from typing import Dict, List

from espnet_ext.utils.error_rate import ErrorCount, set_error_rate

_UNIT = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\s\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def mixed_units(text: str) -> List[str]:
    """``'我 like 吃apple'`` -> ``['我', 'like', '吃', 'apple']``."""
    return _UNIT.findall(text)


def mixed_error_rate(refs: Dict[str, str], hyps: Dict[str, str]) -> ErrorCount:
    """MER over a set; a missing hypothesis counts as empty (all deletions)."""
    return set_error_rate(refs, hyps, mixed_units)
