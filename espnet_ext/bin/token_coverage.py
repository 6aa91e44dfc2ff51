r"""Per-language coverage of the test tokens by the training transcripts (espnet_ext.utils.token_coverage).

Usage:
    python -m espnet_ext.bin.token_coverage --train data/cs_train data/en_train --test data/cs_test \
        --token_type char --out exp/coverage/coverage [--min_count 5] [--by_script [cs ...]] [--bpemodel M]

Data dirs need ``text`` and ``utt2lang``.  Writes <out>.md (one row per language), <out>.json and <out>.png
(test OOV share and share with < K training occurrences per language) and prints the table.
--by_script adds rows cs:zh and cs:en (CJK / Latin tokens) for the code-switching language(s) named
(default: cs).
"""

import argparse
import sys
from pathlib import Path

from espnet_ext.utils.cli import cli_main
from espnet_ext.utils.token_coverage import (coverage_table, make_tokenizer, markdown_table, read_language_texts,
                                             write_report)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", type=Path, nargs="+", required=True, help="training data dirs (text, utt2lang)")
    p.add_argument("--test", type=Path, nargs="+", required=True, help="test data dirs (text, utt2lang)")
    p.add_argument("--token_type", choices=("char", "bpe", "word"), required=True,
                   help="char: characters without spaces; bpe: SentencePiece pieces; word: space-separated words")
    p.add_argument("--bpemodel", type=Path, help="SentencePiece model (--token_type bpe)")
    p.add_argument("--out", type=Path, required=True, help="output prefix: writes <out>.md, <out>.json, <out>.png")
    p.add_argument("--min_count", type=int, default=5, help="K: a type with fewer training occurrences is rare")
    p.add_argument("--by_script", nargs="*", metavar="LANG",
                   help="split these code-switching languages' tokens into LANG:zh and LANG:en (default: cs)")
    return p


@cli_main()
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    by_script = [] if args.by_script is None else (args.by_script or ["cs"])
    if args.min_count < 1:
        raise ValueError(f"--min_count must be >= 1, got {args.min_count}")
    tokenize = make_tokenizer(args.token_type, args.bpemodel)
    rows = coverage_table(read_language_texts(args.train), read_language_texts(args.test), tokenize,
                          args.min_count, by_script)
    meta = {"token_type": args.token_type, "train": [str(d) for d in args.train],
            "test": [str(d) for d in args.test], "by_script": by_script}
    write_report(rows, args.out, args.min_count, meta)
    print(markdown_table(rows, args.min_count, f"Token coverage ({args.token_type}, K = {args.min_count})"), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
