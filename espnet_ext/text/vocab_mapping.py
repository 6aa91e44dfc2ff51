"""Vocabulary mapping of A2 (Adapt-and-Adjust, ICLR 2021 submission), Sec. 2.3 and Table 10.

The ASR vocabulary stays the recipe's SentencePiece token list (shared by CTC and the decoder); every piece
is matched against the pretrained LM's vocabulary to initialise its embedding (and, with tied output
weights, its output row).  Rules, in order (docs/pretrained_decoder.md):

1. special  — ``<unk>`` -> the LM's unk token, ``<sos/eos>`` -> its sequence-start token ([CLS] / <s>).
2. exact    — the piece in the LM's own word-boundary convention: SentencePiece marks a word start with
   '▁' and leaves continuations bare; WordPiece (BERT, DistilBERT) leaves word starts bare and marks
   continuations with '##'; XLM-R's SentencePiece uses '▁' like ours.  '▁abc' -> 'abc' / '▁abc',
   'abc' -> '##abc' / 'abc'.
3. relaxed  — the same text in the other word position ('▁中' <-> '中' <-> '##中': BERT splits CJK characters
   into words of their own) or, with ``fold_case``, lower-/title-cased.  Counted as matched (Table 10).
4. composed — the mean of the embeddings of the LM tokenizer's tokenization of the piece text (unknown
   tokens and bare '▁' dropped).
5. fresh    — nothing usable: N(0, initializer_range) (the bare '▁' piece under WordPiece, <blank>, ...).
"""

import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import torch

WORD_START = "\u2581"  # SentencePiece's '▁'
MATCHED_KINDS = ("exact", "relaxed")
KINDS = ("special", "exact", "relaxed", "composed", "fresh")
# ASR special token -> which of the LM tokenizer's special tokens initialises it.
DEFAULT_SPECIALS = {"<unk>": "unk", "<sos/eos>": "bos"}


def load_pretrained_tokenizer(path: str):
    """The tokenizer saved in a local checkpoint dir; never downloads (offline, local files only)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not os.path.isdir(path):
        raise FileNotFoundError(f"pretrained LM directory '{path}' does not exist (no tokenizer to map the "
                                "ASR vocabulary onto)")
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception as e:
        raise ValueError(f"cannot load the tokenizer of pretrained LM directory '{path}' (tokenizer.json, "
                         f"vocab.txt or sentencepiece.bpe.model expected): {e}") from e


def is_special_token(token: str) -> bool:
    return len(token) > 2 and token.startswith("<") and token.endswith(">")


@dataclass
class VocabMapping:
    """Where each ASR token's initial embedding comes from.

    Attributes:
        tokens: the ASR token list.
        kinds: per token one of ``KINDS``.
        sources: per token the pretrained token ids whose embeddings are averaged (empty: fresh init).
        pretrained_tokens: per token the pretrained token strings of ``sources`` (for reports).
        convention: ``wordpiece`` ('##' continuations) or ``metaspace`` ('▁' word starts).
    """

    tokens: List[str]
    kinds: List[str]
    sources: List[List[int]]
    pretrained_tokens: List[List[str]]
    convention: str
    extra: Dict[str, object] = field(default_factory=dict)

    def is_matched(self, index: int) -> bool:
        return self.kinds[index] in MATCHED_KINDS

    def counts(self, tokens: Optional[Sequence[str]] = None) -> Dict[str, int]:
        """Number of tokens per kind, over ``tokens`` (default: all)."""
        index = {t: i for i, t in enumerate(self.tokens)}
        chosen = range(len(self.tokens)) if tokens is None else [index[t] for t in tokens if t in index]
        out = {k: 0 for k in KINDS}
        for i in chosen:
            out[self.kinds[i]] += 1
        return out

    def coverage(self, tokens: Optional[Sequence[str]] = None) -> Dict[str, float]:
        """Table 10: # matched, # vocab (specials excluded), coverage %."""
        pieces = [t for t in (self.tokens if tokens is None else tokens) if not is_special_token(t)]
        counts = self.counts(pieces)
        vocab = sum(counts.values())
        matched = sum(counts[k] for k in MATCHED_KINDS)
        return {"matched": matched, "vocab": vocab, "coverage": 100.0 * matched / vocab if vocab else 0.0,
                "composed": counts["composed"], "fresh": counts["fresh"]}

    def embedding_rows(self, source: torch.Tensor, fresh_std: float,
                       generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """(len(tokens), D) rows: the mean of the mapped pretrained rows of ``source`` (V_pre, D), else fresh."""
        rows = torch.empty(len(self.tokens), source.shape[1], dtype=source.dtype)
        rows.normal_(0.0, fresh_std, generator=generator)
        for i, ids in enumerate(self.sources):
            if ids:
                rows[i] = source[ids].mean(dim=0)
        return rows

    def vector_entries(self, source: torch.Tensor, default: float = 0.0) -> torch.Tensor:
        """(len(tokens),) entries of a per-token vector (e.g. the masked-LM output bias), mapped alike."""
        out = torch.full((len(self.tokens),), default, dtype=source.dtype)
        for i, ids in enumerate(self.sources):
            if ids:
                out[i] = source[ids].mean()
        return out

    def report_rows(self) -> List[Dict[str, object]]:
        return [{"id": i, "token": t, "kind": k, "pretrained": " ".join(p)}
                for i, (t, k, p) in enumerate(zip(self.tokens, self.kinds, self.pretrained_tokens))]


def _convention(vocab: Dict[str, int]) -> str:
    continuation = sum(1 for t in vocab if t.startswith("##") and len(t) > 2)
    metaspace = sum(1 for t in vocab if t.startswith(WORD_START))
    return "wordpiece" if continuation >= metaspace else "metaspace"


def _forms(body: str, word_start: bool, convention: str) -> List[str]:
    """The piece in the LM's convention, first in its own word position, then in the other."""
    if convention == "wordpiece":
        own, other = (body, "##" + body) if word_start else ("##" + body, body)
    else:
        own, other = (WORD_START + body, body) if word_start else (body, WORD_START + body)
    return [own, other]


def _special_target(tokenizer, which: str) -> Optional[str]:
    if which == "bos":
        return getattr(tokenizer, "cls_token", None) or getattr(tokenizer, "bos_token", None)
    return getattr(tokenizer, f"{which}_token", None)


def map_vocabulary(tokens: Sequence[str], tokenizer, fold_case: bool = True, compose: bool = True,
                   specials: Optional[Dict[str, str]] = None,
                   max_pretrained_id: Optional[int] = None) -> VocabMapping:
    """Map every ASR token onto the pretrained vocabulary of ``tokenizer`` (rules in the module docstring).

    Args:
        tokens: the ASR token list (SentencePiece pieces plus ESPnet's special tokens).
        tokenizer: a HuggingFace tokenizer (``load_pretrained_tokenizer``).
        fold_case: also try the lower-cased and title-cased piece (counted as ``relaxed``).
        compose: initialise unmatched pieces from the mean of their sub-token embeddings.
        specials: ASR special token -> ``unk`` / ``bos`` / ``eos`` / ``pad`` (default ``DEFAULT_SPECIALS``).
        max_pretrained_id: ids at or above it (rows missing from the embedding matrix) are not used.
    """
    vocab: Dict[str, int] = dict(tokenizer.get_vocab())
    convention = _convention(vocab)
    specials = DEFAULT_SPECIALS if specials is None else specials
    unk_id = getattr(tokenizer, "unk_token_id", None)
    limit = max_pretrained_id if max_pretrained_id is not None else max(vocab.values()) + 1
    usable = lambda i: i is not None and 0 <= i < limit  # noqa: E731
    kinds, sources, names = [], [], []

    def add(kind: str, found: List[str]) -> None:
        kinds.append(kind)
        names.append(found)
        sources.append([vocab[t] for t in found])

    for token in tokens:
        if token in specials:
            target = _special_target(tokenizer, specials[token])
            if target is not None and usable(vocab.get(target)):
                add("special", [target])
            else:
                add("fresh", [])
            continue
        if is_special_token(token):
            add("fresh", [])
            continue
        word_start = token.startswith(WORD_START)
        body = token[1:] if word_start else token
        if not body:  # the bare word-boundary piece
            if convention == "metaspace" and usable(vocab.get(WORD_START)):
                add("exact", [WORD_START])
            else:
                add("fresh", [])
            continue
        bodies = [body]
        if fold_case:
            bodies += [b for b in (body.lower(), body[:1].upper() + body[1:].lower()) if b not in bodies]
        candidates = [(f, 0 if (bi == 0 and fi == 0) else 1)
                      for bi, b in enumerate(bodies) for fi, f in enumerate(_forms(b, word_start, convention))]
        hit = next(((f, rank) for f, rank in candidates if usable(vocab.get(f))), None)
        if hit is not None:
            add("exact" if hit[1] == 0 else "relaxed", [hit[0]])
            continue
        parts = tokenizer.tokenize(body) if compose else []
        parts = [p for p in parts if usable(vocab.get(p)) and vocab.get(p) != unk_id]
        parts = [p for p in parts if p != WORD_START]  # a bare word boundary carries nothing of the piece
        add("composed" if parts else "fresh", parts)
    return VocabMapping(tokens=list(tokens), kinds=kinds, sources=sources, pretrained_tokens=names,
                        convention=convention)
