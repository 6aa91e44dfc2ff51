"""Command line for HKUST Mandarin data prep (espnet_ext.dataprep.hkust; docs/meta_transfer.md, "Data").

    python -m espnet_ext.bin.hkust_prep --audio_dir /data/LDC2005S15 --trans_dir /data/LDC2005T32 \\
        --out_dir data/hkust [--dev_calls 20 --seed 0]
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

from espnet_ext.dataprep.hkust import prepare_hkust
from espnet_ext.utils.cli import cli_main


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="HKUST (LDC2005S15 + LDC2005T32) -> zh_{train,dev,test}, 16 kHz")
    p.add_argument("--audio_dir", type=Path, required=True, help="LDC2005S15 root (audio/{train,dev}/*.sph)")
    p.add_argument("--trans_dir", type=Path, required=True, help="LDC2005T32 root (trans/{train,dev}/*.txt)")
    p.add_argument("--out_dir", type=Path, required=True)
    p.add_argument("--dev_calls", type=int, default=20, help="training calls held out as zh_dev")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max_duration", type=float, default=30.0, help="drop longer segments (s)")
    return p


@cli_main()
def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    counts = prepare_hkust(args.audio_dir, args.trans_dir, args.out_dir, args.dev_calls, args.seed,
                           max_duration=args.max_duration)
    logging.info("HKUST prepared in %s: %s", args.out_dir, counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
