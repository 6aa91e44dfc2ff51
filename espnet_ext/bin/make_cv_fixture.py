"""Write a miniature CommonVoice release (real folder/tsv layout, 48 kHz mp3) from Kaldi data dirs.

Usage:
    python -m espnet_ext.bin.make_cv_fixture --train data/micro/train --dev data/micro/dev \
        --test data/micro/test --out_root downloads/cv_mini

E.g. from the synthetic micro corpus: egs/synth_longtail/asr1/run.sh --corpus micro --stop_stage 1, then the
command above; then egs/commonvoice_a2/asr1/run.sh --cv_root downloads/cv_mini --languages en,es,ru.
"""

import argparse
import logging
import sys
from pathlib import Path

from espnet_ext.dataprep.cv_fixture import build_cv_release
from espnet_ext.dataprep.datadir import DataDirError


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", type=Path, required=True, help="data dir written as train.tsv")
    p.add_argument("--dev", type=Path, required=True, help="data dir written as dev.tsv")
    p.add_argument("--test", type=Path, required=True, help="data dir written as test.tsv")
    p.add_argument("--out_root", type=Path, required=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s) %(levelname)s: %(message)s")
    try:
        summary = build_cv_release({"train": args.train, "dev": args.dev, "test": args.test}, args.out_root)
    except (DataDirError, ValueError, RuntimeError) as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    for locale, counts in summary.items():
        print(f"{locale}\t" + "\t".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
