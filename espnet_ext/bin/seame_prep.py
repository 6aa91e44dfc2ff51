"""Command line for SEAME Phase II data prep (espnet_ext.dataprep.seame; docs/meta_transfer.md, "Data").

    python -m espnet_ext.bin.seame_prep --corpus_dir /data/LDC2015S04 --out_dir data/seame \\
        [--test_speakers 8 --dev_speakers 8 --target_fraction 0.2 --seed 0]
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

from espnet_ext.dataprep.seame import prepare_seame
from espnet_ext.utils.cli import cli_main


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="SEAME Phase II (LDC2015S04) -> cs_{train,a_train,b_train,dev,test}")
    p.add_argument("--corpus_dir", type=Path, required=True, help="LDC2015S04 root (above seame_d*/data/)")
    p.add_argument("--out_dir", type=Path, required=True, help="data dirs and 16 kHz segment WAVs go here")
    p.add_argument("--test_speakers", type=int, default=8, help="held-out test speakers (Table 1: 8)")
    p.add_argument("--dev_speakers", type=int, default=8, help="held-out dev speakers (Table 1: 8)")
    p.add_argument("--target_fraction", type=float, default=0.2,
                   help="share of training recordings that form CS-b (the meta-transfer target task)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max_duration", type=float, default=30.0, help="drop longer segments (s)")
    return p


@cli_main()
def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    counts = prepare_seame(args.corpus_dir, args.out_dir, args.test_speakers, args.dev_speakers,
                           args.target_fraction, args.seed, max_duration=args.max_duration)
    logging.info("SEAME prepared in %s: %s", args.out_dir, counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
