"""One shared multilingual SentencePiece (unigram) model and its ESPnet token list (stage c).

ESPnet's token-list convention: ``<blank>`` at id 0 (CTC blank), ``<unk>`` at 1, the pieces, and
``<sos/eos>`` last; padding is -1 and never in the list.  SentencePiece's own ``<unk>``/``<s>``/``</s>``
control pieces are not ASR outputs and are left out.
"""

import logging
from pathlib import Path
from typing import Dict, List

from espnet_ext.fileio.kaldi_map import read_kaldi_map

logger = logging.getLogger(__name__)

BLANK, UNK, SOS_EOS = "<blank>", "<unk>", "<sos/eos>"


def train_sentencepiece(text_files: List[Path], out_dir: Path, vocab_size: int, model_type: str = "unigram",
                        character_coverage: float = 1.0, input_sentence_size: int = 1_000_000,
                        seed_sentencepiece_size: int = 1_000_000) -> Path:
    """Train ``out_dir/bpe.model`` on the transcripts of Kaldi ``text`` files and write ``tokens.txt``.

    ``vocab_size`` counts SentencePiece pieces (incl. its 3 control pieces); when the text holds more
    distinct characters than that (CJK), the size is raised to fit and a warning says so.
    """
    import sentencepiece as spm

    if model_type not in ("unigram", "bpe", "char"):
        raise ValueError(f"model_type must be unigram, bpe or char, got '{model_type}'")
    if vocab_size < 4:
        raise ValueError(f"vocab_size must be >= 4, got {vocab_size}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sentences: List[str] = []
    for path in text_files:
        sentences.extend(v for v in read_kaldi_map(Path(path)).values())
    corpus = out_dir / "train_text.txt"
    corpus.write_text("".join(s + "\n" for s in sentences), encoding="utf-8")

    chars = {c for s in sentences for c in s if not c.isspace()}
    # Unigram needs room for every required character plus the control pieces and the word-boundary piece.
    min_size = len(chars) + 4
    if model_type != "char" and vocab_size < min_size:
        logger.warning("vocab_size %d < %d distinct characters + specials; using %d", vocab_size, len(chars), min_size)
        vocab_size = min_size
    prefix = out_dir / "bpe"
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(prefix), vocab_size=vocab_size, model_type=model_type,
        character_coverage=character_coverage, input_sentence_size=input_sentence_size,
        seed_sentencepiece_size=seed_sentencepiece_size, shuffle_input_sentence=True,
        hard_vocab_limit=model_type != "unigram", minloglevel=2, num_threads=1,
    )
    write_token_list(prefix.with_suffix(".model"), out_dir / "tokens.txt")
    return prefix.with_suffix(".model")


def write_token_list(model_path: Path, tokens_path: Path) -> List[str]:
    """Write the ESPnet token list of a SentencePiece model (see module docstring)."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(model_path))
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())
              if not (sp.is_control(i) or sp.is_unknown(i))]
    tokens = [BLANK, UNK] + pieces + [SOS_EOS]
    if len(set(tokens)) != len(tokens):
        raise ValueError(f"{model_path}: duplicate piece in the token list")
    Path(tokens_path).write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return tokens


def read_token_list(path: Path) -> List[str]:
    """Read and check an ESPnet token list."""
    tokens = Path(path).read_text(encoding="utf-8").split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    problems = []
    if len(tokens) < 3:
        problems.append("fewer than 3 tokens")
    else:
        if tokens[0] != BLANK:
            problems.append(f"token 0 is '{tokens[0]}', expected {BLANK}")
        if tokens[1] != UNK:
            problems.append(f"token 1 is '{tokens[1]}', expected {UNK}")
        if tokens[-1] != SOS_EOS:
            problems.append(f"last token is '{tokens[-1]}', expected {SOS_EOS}")
    seen: Dict[str, int] = {}
    for i, t in enumerate(tokens):
        if t in seen:
            problems.append(f"'{t}' at lines {seen[t] + 1} and {i + 1}")
        seen[t] = i
    if problems:
        raise ValueError(f"{path}: bad token list: {'; '.join(problems)}")
    return tokens


def check_token_list_matches(model_path: Path, tokens_path: Path) -> None:
    """Raise when ``tokens_path`` was not made from ``model_path`` (e.g. a stale or swapped list)."""
    import sentencepiece as spm

    tokens = read_token_list(tokens_path)
    sp = spm.SentencePieceProcessor(model_file=str(model_path))
    token_set = set(tokens)
    missing = [sp.id_to_piece(i) for i in range(sp.get_piece_size())
               if not (sp.is_control(i) or sp.is_unknown(i)) and sp.id_to_piece(i) not in token_set]
    # The list holds <blank>, <unk>, <sos/eos> in place of SentencePiece's <unk>, <s>, </s>: same size.
    if missing or len(tokens) != sp.get_piece_size():
        raise ValueError(
            f"{tokens_path} does not match {model_path}: {len(tokens)} tokens for {sp.get_piece_size()} pieces"
            + (f"; pieces missing from the list, e.g. '{missing[0]}'" if missing else "")
        )
