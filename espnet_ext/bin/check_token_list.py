"""Check that an ESPnet token list follows the conventions and was made from the given SentencePiece model.

Usage: python -m espnet_ext.bin.check_token_list --bpemodel data/token_list/.../bpe.model --token_list .../tokens.txt
"""

import argparse
import sys
from pathlib import Path

from espnet_ext.text.sentencepiece_vocab import check_token_list_matches
from espnet_ext.utils.cli import cli_main


@cli_main(extra_user_errors=(RuntimeError,))  # SentencePiece raises RuntimeError for a bad model
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bpemodel", type=Path, required=True)
    p.add_argument("--token_list", type=Path, required=True)
    args = p.parse_args(argv)
    for path in (args.bpemodel, args.token_list):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: file not found")
    check_token_list_matches(args.bpemodel, args.token_list)
    return 0


if __name__ == "__main__":
    sys.exit(main())
