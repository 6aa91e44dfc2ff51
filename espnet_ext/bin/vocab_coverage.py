"""Vocabulary coverage of a pretrained LM per language (A2 Table 10 layout).

Usage:
    python -m espnet_ext.bin.vocab_coverage --token_list data/token_list/bpe_unigram300/tokens.txt \
        --bpemodel data/token_list/bpe_unigram300/bpe.model --text dump/fbank/train/text \
        --utt2lang dump/fbank/train/utt2lang --pretrained_path downloads/e5_small_hf \
        --out_dir exp/vocab_coverage_e5_small [--languages en,fr,zh] [--title "..."]

Maps every piece of the token list onto the pretrained vocabulary (espnet_ext.text.vocab_mapping, the
mapping the pretrained_lm decoder uses) and writes coverage.md, coverage.json and mapping.tsv to --out_dir.
"""

import argparse
import sys
from pathlib import Path

from espnet_ext.fileio.kaldi_map import read_kaldi_map
from espnet_ext.utils.cli import cli_main


@cli_main(extra_user_errors=(ImportError,))  # sentencepiece or transformers not installed
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--token_list", type=Path, required=True, help="ESPnet token list (one token per line)")
    p.add_argument("--bpemodel", type=Path, required=True, help="SentencePiece model of the token list")
    p.add_argument("--text", type=Path, required=True, help="training transcripts (utt text)")
    p.add_argument("--utt2lang", type=Path, required=True, help="utterance -> language")
    p.add_argument("--pretrained_path", type=Path, required=True, help="local HuggingFace checkpoint directory")
    p.add_argument("--out_dir", type=Path, required=True)
    p.add_argument("--languages", default=None, help="comma-separated column order (default: by #utterances)")
    p.add_argument("--no_fold_case", action="store_true", help="do not try lower-/title-cased pieces")
    p.add_argument("--title", default=None)
    args = p.parse_args(argv)
    import sentencepiece as spm

    from espnet_ext.text.vocab_coverage import CoverageTable, pieces_per_language, write_coverage
    from espnet_ext.text.vocab_mapping import load_pretrained_tokenizer, map_vocabulary

    if not args.bpemodel.is_file():
        raise FileNotFoundError(f"{args.bpemodel}: SentencePiece model not found")
    if not args.token_list.is_file():
        raise FileNotFoundError(f"{args.token_list}: token list not found")
    tokens = [t for t in args.token_list.read_text(encoding="utf-8").splitlines() if t.strip()]
    sp = spm.SentencePieceProcessor(model_file=str(args.bpemodel))
    texts, utt2lang = read_kaldi_map(args.text), read_kaldi_map(args.utt2lang)
    per_lang = pieces_per_language(texts, utt2lang, lambda s: sp.encode(s, out_type=str))
    unknown = sorted({piece for ps in per_lang.values() for piece in ps} - set(tokens))
    if unknown:
        raise ValueError(f"{args.bpemodel} produces pieces missing from {args.token_list}, e.g. {unknown[:5]}")
    mapping = map_vocabulary(tokens, load_pretrained_tokenizer(str(args.pretrained_path)),
                             fold_case=not args.no_fold_case)
    counts = {}
    for utt, lang in utt2lang.items():
        if utt in texts:
            counts[lang] = counts.get(lang, 0) + 1
    languages = [l.strip() for l in args.languages.split(",") if l.strip()] if args.languages else None
    table = CoverageTable(mapping, per_lang, languages, counts)
    title = args.title or f"Vocabulary coverage of {args.pretrained_path.name} ({len(tokens)} tokens)"
    write_coverage(table, mapping, args.out_dir, title)
    print(table.markdown(title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
