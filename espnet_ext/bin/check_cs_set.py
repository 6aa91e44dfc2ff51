"""Report, per code-switched data dir, utterances with no Chinese or no English and utterances with
characters outside the token list (espnet_ext.utils.cs_set_check); run by egs/synth_cs stage 3.

Usage:
    python -m espnet_ext.bin.check_cs_set --token_list data/token_list/char/tokens.txt \\
        [--out_json exp/cs_set_check.json] [--strict] data/cs_train data/cs_dev data/cs_test

Prints one line per set, and a WARNING naming example utterances for each non-zero count.  Exits 0 (the
counts are reported, nothing is dropped) unless ``--strict`` is given and a character lies outside the
token list.
"""

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import List, Optional

from espnet_ext.fileio.kaldi_map import read_kaldi_map
from espnet_ext.utils.cli import cli_main
from espnet_ext.utils.cs_set_check import check_cs_set, read_token_list

logger = logging.getLogger("espnet_ext.check_cs_set")


@cli_main()
def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dirs", nargs="+", type=Path, help="Kaldi data dirs of code-switched sets")
    parser.add_argument("--token_list", type=Path, default=None, help="ESPnet char token list")
    parser.add_argument("--out_json", type=Path, default=None)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a character is outside the token list")
    args = parser.parse_args(argv)
    tokens = read_token_list(str(args.token_list)) if args.token_list else None
    reports = {}
    for d in args.data_dirs:
        text = d / "text"
        if not text.is_file():
            raise FileNotFoundError(f"{text}: no such file (is {d} a Kaldi data dir?)")
        reports[d.name] = check_cs_set(read_kaldi_map(str(text)), tokens).to_dict()
    outside = 0
    for name, r in reports.items():
        logger.info("%s: %d utterances, %d without Chinese, %d without English, %d with characters outside the "
                    "token list", name, r["utterances"], r["no_zh"], r["no_en"], r["outside_token_list"])
        for key, what in (("no_zh", "without Chinese"), ("no_en", "without English"),
                          ("outside_token_list", f"with characters outside the token list {r['outside_characters']}")):
            if r[key]:
                logger.warning("%s: %d utterances %s, e.g. %s", name, r[key], what, " ".join(r["examples"][key]))
        outside += r["outside_token_list"]
    if args.out_json:
        args.out_json.parent.mkdir(parents=True, exist_ok=True)
        args.out_json.write_text(json.dumps(reports, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.strict and outside:
        print(f"ERROR: {outside} utterances have characters outside {args.token_list} (see the warnings above)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
