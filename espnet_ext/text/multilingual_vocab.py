"""Per-language SentencePiece unigram models merged into one shared vocabulary (A2 paper Sec. 3.1 and
Appendix F, Table 10: one unigram model per language, >= 150 pieces each, a shared list of 5,237 tokens
plus <unk>, <sos>, <eos> and the CTC blank).

How text becomes pieces (our choice; docs/commonvoice_a2.md, "Vocabulary"): the per-language unigram
models are *merged into one unigram SentencePiece model* — the union of their pieces, each with the
highest log-probability it has in any language model, behind SentencePiece's <unk>/<s>/</s>.  That merged
``bpe.model`` is an ordinary SentencePiece model, so ESPnet's own preprocessor (training) and tokenizer
(decoding, detokenisation) use it unchanged: no plugin, no per-utterance language lookup in the data
loader.  Languages with their own script (zh, ru, tt, ky) are segmented exactly by their own pieces;
Latin-script languages share pieces, and the Viterbi segmentation of the merged model may differ from the
language's own model: ``vocab_report.json`` gives, per language, the fraction of training transcripts
whose merged segmentation equals the per-language one.  The ESPnet token list follows
:func:`espnet_ext.text.sentencepiece_vocab.write_token_list` (<blank> 0, <unk> 1, ..., <sos/eos> last).
"""

import json
import logging
from pathlib import Path
from typing import Dict, List, Optional

from espnet_ext.fileio.kaldi_map import DataDirError, read_kaldi_map, write_kaldi_map
from espnet_ext.text.sentencepiece_vocab import train_sentencepiece, write_token_list

logger = logging.getLogger(__name__)

MIN_PIECES_PER_LANGUAGE = 150  # A2 Table 10: every language has at least ~150 pieces


def split_text_by_language(text: Path, utt2lang: Path, out_dir: Path) -> Dict[str, Path]:
    """Write ``out_dir/<lang>/text`` for every language of ``utt2lang``; return ``{lang: path}``."""
    texts = read_kaldi_map(Path(text))
    langs = read_kaldi_map(Path(utt2lang))
    missing = sorted(set(texts) - set(langs))
    if missing:
        raise DataDirError(f"{utt2lang}: no language for utterance '{missing[0]}' ({len(missing)} such)")
    by_lang: Dict[str, Dict[str, str]] = {}
    for utt, t in texts.items():
        by_lang.setdefault(langs[utt], {})[utt] = t
    out: Dict[str, Path] = {}
    for lang, mapping in sorted(by_lang.items()):
        (Path(out_dir) / lang).mkdir(parents=True, exist_ok=True)
        write_kaldi_map(Path(out_dir) / lang / "text", mapping)
        out[lang] = Path(out_dir) / lang / "text"
    return out


def merge_unigram_models(models: Dict[str, Path], out_model: Path) -> List[str]:
    """Merge unigram models (module docstring); return the merged NORMAL pieces in id order."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    protos = {}
    for lang, path in models.items():
        m = pb.ModelProto()
        m.ParseFromString(Path(path).read_bytes())
        if m.trainer_spec.model_type != pb.TrainerSpec.UNIGRAM:
            raise ValueError(f"{path}: model of language '{lang}' is not a unigram model")
        protos[lang] = m
    best: Dict[str, float] = {}
    for m in protos.values():
        for p in m.pieces:
            if p.type == pb.ModelProto.SentencePiece.NORMAL:
                best[p.piece] = max(best.get(p.piece, float("-inf")), p.score)
    template = next(iter(protos.values()))
    merged = pb.ModelProto()
    merged.CopyFrom(template)
    del merged.pieces[:]
    for p in template.pieces:  # <unk>, <s>, </s> keep their ids 0..2
        if p.type != pb.ModelProto.SentencePiece.NORMAL:
            merged.pieces.add(piece=p.piece, score=p.score, type=p.type)
    order = sorted(best, key=lambda k: (-best[k], k))  # deterministic id order
    for piece in order:
        merged.pieces.add(piece=piece, score=best[piece], type=pb.ModelProto.SentencePiece.NORMAL)
    merged.trainer_spec.vocab_size = len(merged.pieces)
    Path(out_model).write_bytes(merged.SerializeToString())
    return order


def train_multilingual_vocab(text: Path, utt2lang: Path, out_dir: Path,
                             vocab_size: int = MIN_PIECES_PER_LANGUAGE,
                             vocab_sizes: Optional[Dict[str, int]] = None) -> dict:
    """Train one unigram model per language, merge them into ``out_dir/bpe.model`` + ``tokens.txt``.

    Args:
        text: Kaldi ``text`` of the training set.
        utt2lang: its ``utt2lang``.
        out_dir: the token dir (``<lang>/bpe.model`` per language, merged ``bpe.model``, ``tokens.txt``,
            ``vocab_report.json``).
        vocab_size: pieces per language (SentencePiece's count; raised to fit a language's characters).
        vocab_sizes: per-language overrides.

    Returns:
        The report written to ``vocab_report.json``.
    """
    import sentencepiece as spm

    out_dir = Path(out_dir)
    vocab_sizes = dict(vocab_sizes or {})
    per_lang_text = split_text_by_language(text, utt2lang, out_dir / "per_language")
    unknown = sorted(set(vocab_sizes) - set(per_lang_text))
    if unknown:
        raise ValueError(f"vocab_sizes: language '{unknown[0]}' has no training text in {text}")
    models: Dict[str, Path] = {}
    for lang, path in per_lang_text.items():
        models[lang] = train_sentencepiece([path], out_dir / "per_language" / lang,
                                           vocab_sizes.get(lang, vocab_size), "unigram")
    pieces = merge_unigram_models(models, out_dir / "bpe.model")
    tokens = write_token_list(out_dir / "bpe.model", out_dir / "tokens.txt")

    merged = spm.SentencePieceProcessor(model_file=str(out_dir / "bpe.model"))
    report: dict = {"shared_pieces": len(pieces), "token_list_size": len(tokens), "languages": {}}
    for lang, path in per_lang_text.items():
        own = spm.SentencePieceProcessor(model_file=str(models[lang]))
        sentences = list(read_kaldi_map(path).values())
        same = sum(own.encode(s, out_type=str) == merged.encode(s, out_type=str) for s in sentences)
        n_own = sum(1 for i in range(own.get_piece_size()) if not (own.is_control(i) or own.is_unknown(i)))
        report["languages"][lang] = {"pieces": n_own, "utterances": len(sentences),
                                     "same_segmentation": round(same / max(len(sentences), 1), 4)}
    (out_dir / "vocab_report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    logger.info("shared vocabulary: %d pieces from %s", len(pieces),
                {k: v["pieces"] for k, v in report["languages"].items()})
    return report
