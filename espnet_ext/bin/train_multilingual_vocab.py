"""Per-language SentencePiece unigram models merged into one shared vocabulary (A2 Sec. 3.1, Table 10;
espnet_ext.text.multilingual_vocab).

Usage:
    python -m espnet_ext.bin.train_multilingual_vocab --text dump/fbank/train/text \
        --utt2lang dump/fbank/train/utt2lang --out_dir data/token_list/bpe_unigram150 \
        [--vocab_size 150] [--vocab_sizes zh=2265,fr=380]

Writes bpe.model (the merged unigram model: use it as --bpemodel), tokens.txt, per_language/<lang>/bpe.model
and vocab_report.json.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Dict

from espnet_ext.text.multilingual_vocab import MIN_PIECES_PER_LANGUAGE, train_multilingual_vocab
from espnet_ext.utils.cli import cli_main


def parse_sizes(value: str) -> Dict[str, int]:
    sizes: Dict[str, int] = {}
    for item in filter(None, value.split(",")):
        lang, sep, n = item.partition("=")
        if not sep or not n.strip().isdigit():
            raise argparse.ArgumentTypeError(f"--vocab_sizes: '{item}' is not LANG=SIZE")
        sizes[lang.strip()] = int(n)
    return sizes


@cli_main(extra_user_errors=(RuntimeError,))  # SentencePiece raises RuntimeError for a bad input
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", type=Path, required=True)
    p.add_argument("--utt2lang", type=Path, required=True)
    p.add_argument("--out_dir", type=Path, required=True)
    p.add_argument("--vocab_size", type=int, default=MIN_PIECES_PER_LANGUAGE, help="pieces per language")
    p.add_argument("--vocab_sizes", type=parse_sizes, default={}, help="per-language overrides, e.g. zh=2265")
    args = p.parse_args(argv)
    report = train_multilingual_vocab(args.text, args.utt2lang, args.out_dir, args.vocab_size, args.vocab_sizes)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
