"""Stage c: one shared multilingual SentencePiece model + ESPnet token list from training transcripts.

Usage:
    python -m espnet_ext.bin.train_sentencepiece --text dump/fbank/train/text \
        --out_dir data/token_list/bpe_unigram300 --vocab_size 300 [--model_type unigram]

Writes ``bpe.model`` and ``tokens.txt`` (<blank>=0, <unk>=1, pieces, <sos/eos> last).
"""

import argparse
import logging
import sys
from pathlib import Path

from espnet_ext.text.sentencepiece_vocab import train_sentencepiece
from espnet_ext.utils.cli import cli_main


@cli_main(extra_user_errors=(RuntimeError,))  # SentencePiece raises RuntimeError for a bad input
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", type=Path, action="append", required=True, help="Kaldi text file (repeatable)")
    p.add_argument("--out_dir", type=Path, required=True)
    p.add_argument("--vocab_size", type=int, required=True)
    p.add_argument("--model_type", default="unigram", choices=["unigram", "bpe", "char"])
    p.add_argument("--character_coverage", type=float, default=1.0)
    args = p.parse_args(argv)
    model = train_sentencepiece(args.text, args.out_dir, args.vocab_size, args.model_type, args.character_coverage)
    n = sum(1 for _ in open(args.out_dir / "tokens.txt", encoding="utf-8"))
    logging.info("%s: %d tokens in %s", model, n, args.out_dir / "tokens.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
