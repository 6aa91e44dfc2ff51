"""Per-language transcript normalisation for the A2 CommonVoice recipe (A2 paper Sec. 3.1, Appendix E).

The A2 paper follows ESPnet's CommonVoice recipe, which upper-cases every sentence (its Table 9 shows
upper-case English references, e.g. "FOUND A LITTLE CROWD OF ABOUT TWENTY PEOPLE ...").  The paper says
nothing else about text processing, so the rest is our choice (docs/commonvoice_a2.md, "Text"):

1. Unicode NFKC: full-width Latin letters and digits become ASCII, compatibility ligatures are split,
   ideographic space becomes a space.
2. Apostrophe variants (’ ‘ ʼ ´ `) become ``'``; an apostrophe is kept only *between two letters*
   (English "DON'T", French "L'HOMME", Italian "DELL'ANNO"); elsewhere it is removed.
3. Every other punctuation or symbol character (Unicode categories P* and S*) becomes a space: this covers
   the Chinese full-width marks (，。！？、；：「」『』《》（）) and hyphens ("PEUT-ÊTRE" -> "PEUT ÊTRE").
4. Upper case with the language's own rules: Turkish and Tatar/Kyrgyz Latin text maps i -> İ and ı -> I
   (Python's str.upper() would turn the dotted i into a dotless I); other languages use str.upper().
5. Digits are kept as written (CommonVoice sentences rarely hold digits; verbalising numbers needs
   per-language grammars that the paper does not use).
6. Chinese (zh, zh-TW release): spaces are removed (CER counts characters; Chinese is written without
   word spaces), Latin letters inside Chinese sentences are upper-cased; Traditional characters are kept
   (no Traditional/Simplified conversion: zh-TW is the paper's "zh").
7. Whitespace is collapsed; an utterance whose text is empty after normalisation is dropped by the data
   preparation (and counted in its report).
"""

import re
import unicodedata
from typing import Callable, Dict

APOSTROPHES = "\u2019\u2018\u02bc\u00b4`"
# Languages whose Latin-script upper-casing follows the Turkish dotted/dotless i rule.
TURKIC_DOTTED_I = frozenset({"tr", "az", "tt", "ky"})
# Languages written without spaces between words.
NO_SPACE_LANGUAGES = frozenset({"zh", "zh-TW", "zh-CN", "zh-HK", "ja"})

_SPACES = re.compile(r"\s+")
_TURKISH_UPPER = str.maketrans({"i": "\u0130", "\u0131": "I"})


def _strip_punctuation(text: str) -> str:
    """Rules 2-3: keep letters, digits, marks, spaces and intra-word apostrophes."""
    chars = list(text)
    out = []
    for k, c in enumerate(chars):
        if c == "'":
            prev_ok = k > 0 and chars[k - 1].isalpha()
            next_ok = k + 1 < len(chars) and chars[k + 1].isalpha()
            out.append("'" if prev_ok and next_ok else " ")
            continue
        cat = unicodedata.category(c)
        if cat[0] in ("P", "S") or cat in ("Cc", "Cf"):
            out.append(" ")
        else:
            out.append(c)
    return "".join(out)


def upper(text: str, lang: str) -> str:
    """Rule 4: language-aware upper-casing."""
    if lang in TURKIC_DOTTED_I:
        text = text.translate(_TURKISH_UPPER)
    return text.upper()


def normalize(text: str, lang: str) -> str:
    """Normalise one CommonVoice sentence of language ``lang`` (module docstring, rules 1-7)."""
    text = unicodedata.normalize("NFKC", text)
    for a in APOSTROPHES:
        text = text.replace(a, "'")
    text = _strip_punctuation(text)
    text = upper(text, lang)
    if lang in NO_SPACE_LANGUAGES:
        # Keep one space only between two Latin/digit runs ("IPHONE X"), drop the rest.
        text = re.sub(r"(?<![A-Z0-9])\s+|\s+(?![A-Z0-9])", "", _SPACES.sub(" ", text.strip()))
    return _SPACES.sub(" ", text).strip()


def normalizer_for(lang: str) -> Callable[[str], str]:
    """A one-argument normaliser bound to ``lang``."""
    return lambda text: normalize(text, lang)


def describe() -> Dict[str, str]:
    """The rules, for the data-prep report."""
    return {
        "casing": "upper (Turkic dotted i: i->İ, ı->I for tr az tt ky)",
        "unicode": "NFKC",
        "punctuation": "P*/S* -> space; apostrophe kept between letters",
        "digits": "kept",
        "no_space_languages": " ".join(sorted(NO_SPACE_LANGUAGES)),
    }
