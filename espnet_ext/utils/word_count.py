"""Word count wc(Y) of the LM-rescoring objective, eq. 5 of Winata et al., arXiv:2004.14228 (§4.2):

    P(Y) = α log P(Y|X) + β log p_lm(Y) + γ √wc(Y)

wc counts English words and Chinese characters: the units of the mixed error rate
(``espnet_ext.utils.mixed_error_rate.mixed_units``: every CJK character is a unit, every run of other
non-space characters is a word).  Beam search grows a hypothesis token by token, so this module also gives
the count incrementally: a token's surface text adds its own units, minus one when it continues the word the
prefix ends in (``'hel' + 'lo'`` is still one word).  Tokens map to surface text as ESPnet's tokenizers
write them back (``tokens2text``): char ``<space>`` is a space, SentencePiece ``▁`` starts a word, word tokens
are joined by spaces; ``<blank>`` and ``<sos/eos>`` have no text.
"""

import re
from typing import List, NamedTuple, Sequence, Tuple

from espnet_ext.utils.mixed_error_rate import mixed_units

TOKEN_TYPES = ("char", "bpe", "word")
NO_TEXT = frozenset({"<blank>", "<sos/eos>", "<sos>", "<eos>", "<pad>"})
_WORD_CHAR = re.compile(r"[^\s\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


class PieceCount(NamedTuple):
    """What one token's surface text does to the count: its units, and whether it starts/ends inside a word."""

    units: int
    starts_word: bool
    ends_word: bool
    empty: bool


def word_count(text: str) -> int:
    """wc(Y): English words + Chinese characters, e.g. ``word_count('我 like 吃apple') == 4``."""
    return len(mixed_units(text))


def token_surface(token: str, token_type: str) -> str:
    """The text a token contributes when ESPnet turns tokens back into a transcript."""
    if token_type not in TOKEN_TYPES:
        raise ValueError(f"token_type must be one of {TOKEN_TYPES}, got '{token_type}'")
    if token in NO_TEXT:
        return ""
    if token_type == "char":
        return " " if token == "<space>" else token
    if token_type == "bpe":
        return token.replace("\u2581", " ")
    return " " + token  # word tokens are joined by spaces


def piece_count(surface: str) -> PieceCount:
    if not surface:
        return PieceCount(0, False, False, True)
    return PieceCount(word_count(surface), bool(_WORD_CHAR.match(surface[0])),
                      bool(_WORD_CHAR.match(surface[-1])), False)


def extend(count: int, in_word: bool, piece: PieceCount) -> Tuple[int, bool]:
    """(wc, ends-inside-a-word) of prefix + piece from the prefix's."""
    if piece.empty:
        return count, in_word
    return count + piece.units - int(in_word and piece.starts_word), piece.ends_word


def vocabulary_counts(token_list: Sequence[str], token_type: str) -> List[PieceCount]:
    return [piece_count(token_surface(t, token_type)) for t in token_list]
