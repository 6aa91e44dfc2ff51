"""A configurable transcript normaliser for a user's own data: the same rules for the training targets and the
references the scores are computed against (docs/your_own_data.md, "The normaliser").

CER and WER count every difference between hypothesis and reference, so "Hello," and "hello" are an error unless
both sides are normalised alike; a model also wastes output units on casing and punctuation a listener cannot
hear.  Which rules are right depends on the corpus, so they are steps a recipe option names, applied in this
order (the order of the list is irrelevant):

* ``nfkc``: Unicode NFKC: full-width Latin letters and digits become ASCII, ligatures are split, the ideographic
  space becomes a space (text from different keyboards and OCR compares equal).
* ``punct``: every punctuation character (Unicode category P*: ``, . ! ? " - ( ) « » ， 。 、 「 」``, and also
  ``% # & * @ / _``, which Unicode counts as punctuation) becomes a space.  An apostrophe (``'`` or a typographic
  variant ``’ ‘ ʼ ´ ` ``, written as ``'``) is kept when it stands between two letters (English "don't", French
  "l'homme", Italian "dell'anno") and removed elsewhere (quotes: "'tis" -> "tis").
* ``drop_apostrophes`` (with ``punct``): an apostrophe between letters becomes a space too ("l'homme" -> "l homme").
* ``symbols``: every symbol character (category S*: ``$ € + = < > ~ ^ | ° ©`` and emoji) becomes a space too (by
  default symbols are kept: "5 $" and "5 €" are different sentences).
* ``lower``: lower case (``str.lower``: Cyrillic, Greek with its final sigma, Armenian, ...; scripts without case,
  e.g. Chinese, are unchanged); ``upper`` instead upper-cases (the CommonVoice A2 convention).
* ``lang``: the per-language rules of :mod:`espnet_ext.text.cv_normalize`, for the utterance's language: Turkic
  casing of the dotted/dotless i (``tr az tt ky``: İ <-> i, I <-> ı) and, for the languages written without word
  spaces (``zh ja`` and the CommonVoice Chinese locales), no space next to a wide (CJK) character, so the spaces
  that punctuation left inside a Chinese sentence disappear while "iphone x" inside it keeps its space.
* ``space``: whitespace (and control characters) collapsed to single spaces, none at either end.

Digits are kept as written (verbalising numbers needs per-language grammars).  A text that is empty afterwards is
the caller's to handle (the data preparation drops the utterance and counts it).

A spec names the steps: a string of comma-separated names (``"nfkc,lower,punct,space"``) or a preset --
``default`` (= ``nfkc,lower,punct,space``), ``cv`` (= ``nfkc,upper,punct,symbols,lang,space``: the A2 CommonVoice
convention of :func:`espnet_ext.text.cv_normalize.normalize`, which it reproduces except that format characters
such as a zero-width space are kept and a non-Latin word inside a Chinese sentence keeps its spaces) or ``none``
(the text as given) -- or a dict of the
:class:`TranscriptNormalizer` arguments (``{"case": "lower", "punctuation": true}``).  An unknown name is an
error listing the valid ones.
"""

import re
import unicodedata
from typing import Dict, List, Mapping, Optional, Union

from espnet_ext.text.cv_normalize import APOSTROPHES, NO_SPACE_LANGUAGES, TURKIC_DOTTED_I, upper

#: The step names of a spec string, in the order they are applied (module docstring).
STEPS = ("nfkc", "punct", "drop_apostrophes", "symbols", "lower", "upper", "lang", "space")
#: Named specs.
PRESETS = {"default": "nfkc,lower,punct,space", "cv": "nfkc,upper,punct,symbols,lang,space", "none": ""}
Spec = Union[None, str, Mapping[str, object], "TranscriptNormalizer"]

_SPACES = re.compile(r"\s+")
_TURKIC_LOWER = str.maketrans({"I": "\u0131", "\u0130": "i"})  # I -> ı, İ -> i (the inverse of cv_normalize's upper)
_APOSTROPHE_VARIANTS = str.maketrans({a: "'" for a in APOSTROPHES})


def _is_wide(char: str) -> bool:
    """A CJK character (or full-width form): Chinese and Japanese text needs no space next to it."""
    return unicodedata.east_asian_width(char) in ("W", "F")


class TranscriptNormalizer:
    """Normalise transcripts with the steps of the module docstring; ``normalizer(text, lang)``.

    Args:
        nfkc: apply Unicode NFKC first.
        case: ``"lower"``, ``"upper"`` or ``None`` (case kept).
        punctuation: replace punctuation (P*) by spaces, keeping apostrophes between letters (``keep_apostrophes``).
        keep_apostrophes: with ``punctuation``, keep an apostrophe that stands between two letters.
        symbols: replace symbols (S*) by spaces too.
        language_rules: apply the per-language rules (``lang`` step) for the language given with each text.
        collapse_whitespace: collapse whitespace to single spaces and strip both ends.
    """

    def __init__(self, nfkc: bool = True, case: Optional[str] = "lower", punctuation: bool = True,
                 keep_apostrophes: bool = True, symbols: bool = False, language_rules: bool = False,
                 collapse_whitespace: bool = True):
        if case not in ("lower", "upper", None):
            raise ValueError(f"normalizer: case must be 'lower', 'upper' or None, got {case!r}")
        for name, value in (("nfkc", nfkc), ("punctuation", punctuation), ("keep_apostrophes", keep_apostrophes),
                            ("symbols", symbols), ("language_rules", language_rules),
                            ("collapse_whitespace", collapse_whitespace)):
            if not isinstance(value, bool):
                raise ValueError(f"normalizer: {name} must be true or false, got {value!r}")
        self.nfkc = nfkc
        self.case = case
        self.punctuation = punctuation
        self.keep_apostrophes = keep_apostrophes
        self.symbols = symbols
        self.language_rules = language_rules
        self.collapse_whitespace = collapse_whitespace

    @classmethod
    def from_spec(cls, spec: Spec) -> "TranscriptNormalizer":
        """A normaliser from a spec (module docstring): a step list or preset name, a dict of the constructor's
        arguments, an existing normaliser (returned as it is), or ``None`` (the ``default`` preset)."""
        if isinstance(spec, TranscriptNormalizer):
            return spec
        if spec is None:
            spec = "default"
        if isinstance(spec, Mapping):
            return cls._from_dict(spec)
        if not isinstance(spec, str):
            raise ValueError(f"normalizer spec must be a string or a mapping, got {type(spec).__name__}")
        return cls._from_string(spec)

    @classmethod
    def _from_dict(cls, spec: Mapping[str, object]) -> "TranscriptNormalizer":
        valid = ("nfkc", "case", "punctuation", "keep_apostrophes", "symbols", "language_rules",
                 "collapse_whitespace")
        unknown = sorted(set(spec) - set(valid))
        if unknown:
            raise ValueError(f"normalizer spec {dict(spec)}: unknown key(s) {', '.join(unknown)}; "
                             f"valid keys: {', '.join(valid)}")
        return cls(**spec)

    @classmethod
    def _from_string(cls, spec: str) -> "TranscriptNormalizer":
        names = [n.strip() for n in spec.split(",") if n.strip()]
        if not names:
            raise ValueError(f"normalizer spec '{spec}' names no step; give 'none' for the text as given "
                             f"({describe_valid_names()})")
        if len(names) == 1 and names[0] in PRESETS:
            names = [n for n in PRESETS[names[0]].split(",") if n]
        else:
            for name in names:
                if name in PRESETS:
                    raise ValueError(f"normalizer spec '{spec}': the preset '{name}' cannot be combined with "
                                     f"other steps; write its steps ({name} = {PRESETS[name] or 'no step'})")
                if name not in STEPS:
                    raise ValueError(f"normalizer spec '{spec}': unknown step '{name}' ({describe_valid_names()})")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"normalizer spec '{spec}': step(s) {', '.join(duplicates)} given twice")
        if "lower" in names and "upper" in names:
            raise ValueError(f"normalizer spec '{spec}': 'lower' and 'upper' exclude each other")
        if "drop_apostrophes" in names and "punct" not in names:
            raise ValueError(f"normalizer spec '{spec}': 'drop_apostrophes' needs 'punct' (without it no "
                             f"punctuation is removed)")
        case = "lower" if "lower" in names else "upper" if "upper" in names else None
        return cls(nfkc="nfkc" in names, case=case, punctuation="punct" in names,
                   keep_apostrophes="drop_apostrophes" not in names, symbols="symbols" in names,
                   language_rules="lang" in names, collapse_whitespace="space" in names)

    @property
    def steps(self) -> List[str]:
        """The step names this normaliser applies, in the order of :data:`STEPS`."""
        on = {"nfkc": self.nfkc, "punct": self.punctuation,
              "drop_apostrophes": self.punctuation and not self.keep_apostrophes,
              "symbols": self.symbols, "lower": self.case == "lower", "upper": self.case == "upper",
              "lang": self.language_rules, "space": self.collapse_whitespace}
        return [name for name in STEPS if on[name]]

    @property
    def spec(self) -> str:
        """The canonical spec string (``none`` when no step applies): recorded in reports and completion markers,
        so two spellings of the same rules are the same output."""
        return ",".join(self.steps) or "none"

    def __repr__(self) -> str:
        return f"TranscriptNormalizer('{self.spec}')"

    def __call__(self, text: str, lang: Optional[str] = None) -> str:
        """The normalised ``text`` of an utterance in language ``lang`` (needed only by the ``lang`` step)."""
        if self.nfkc:
            text = unicodedata.normalize("NFKC", text)
        if self.punctuation or self.symbols:
            text = self._strip(text)
        rules = self.language_rules and lang is not None
        if self.case == "lower":
            text = (text.translate(_TURKIC_LOWER) if rules and lang in TURKIC_DOTTED_I else text).lower()
        elif self.case == "upper":
            text = upper(text, lang if rules else "")
        if rules and lang in NO_SPACE_LANGUAGES:
            text = self._join_wide(text)
        if self.collapse_whitespace:
            text = _SPACES.sub(" ", "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)).strip()
        return text

    def _strip(self, text: str) -> str:
        """The ``punct``/``symbols`` steps: one pass over the characters, apostrophes judged by their neighbours."""
        if self.punctuation:
            text = text.translate(_APOSTROPHE_VARIANTS)
        out = []
        for k, char in enumerate(text):
            category = unicodedata.category(char)
            if char == "'" and self.punctuation:
                between_letters = 0 < k < len(text) - 1 and text[k - 1].isalpha() and text[k + 1].isalpha()
                out.append("'" if between_letters and self.keep_apostrophes else " ")
            elif (self.punctuation and category[0] == "P") or (self.symbols and category[0] == "S"):
                out.append(" ")
            else:
                out.append(char)
        return "".join(out)

    @staticmethod
    def _join_wide(text: str) -> str:
        """The ``lang`` rule of languages written without spaces: drop a whitespace run next to a wide character."""
        parts = re.split(r"(\s+)", text)
        for i in range(1, len(parts) - 1, 2):
            before, after = parts[i - 1][-1:], parts[i + 1][:1]
            if (before and _is_wide(before)) or (after and _is_wide(after)):
                parts[i] = ""
        return "".join(parts)

    def describe(self) -> Dict[str, object]:
        """The rules as a JSON-able dict, for data-prep reports."""
        return {"spec": self.spec, "nfkc": self.nfkc, "case": self.case, "punctuation": self.punctuation,
                "keep_apostrophes": self.keep_apostrophes, "symbols": self.symbols,
                "language_rules": self.language_rules, "collapse_whitespace": self.collapse_whitespace}


def describe_valid_names() -> str:
    """The valid spec names, for error messages and ``--help``."""
    presets = ", ".join(f"{name} = {steps or 'no step'}" for name, steps in PRESETS.items())
    return f"valid steps: {', '.join(STEPS)}; presets: {presets}"
