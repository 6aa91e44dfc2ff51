"""Your own Kaldi data dirs (with utt2lang) -> the recipe's data dirs in one step (espnet_ext.dataprep.own_data;
docs/your_own_data.md).

Usage:
    python -m espnet_ext.bin.prepare_own_data --train_dir /corpus/train --test_dir /corpus/test --out_dir data/own \
        [--dev_dir /corpus/dev] [--normalizer default|cv|none|nfkc,lower,punct,space,...] \
        [--dev_share 0.1] [--dev_min 2] [--dev_max 100] [--seed 1]

Each input dir holds wav.scp, text, utt2spk and utt2lang (segments if the audio is long recordings; spk2utt is
written anew). Writes out_dir/{train,dev,test} (wav.scp text utt2spk spk2utt utt2lang) and
out_dir/own_data_report.json; without --dev_dir a seeded per-language dev set is held out of the training data.
"""

import argparse
import sys
from pathlib import Path

from espnet_ext.dataprep.own_data import prepare_own_data
from espnet_ext.text.normalizer import describe_valid_names
from espnet_ext.utils.cli import cli_main


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train_dir", type=Path, required=True, help="Kaldi data dir of the training data")
    p.add_argument("--test_dir", type=Path, required=True, help="Kaldi data dir of the test data")
    p.add_argument("--dev_dir", type=Path, default=None,
                   help="Kaldi data dir of a dev set (default: hold one out of --train_dir)")
    p.add_argument("--out_dir", type=Path, required=True, help="output: OUT_DIR/{train,dev,test}")
    p.add_argument("--normalizer", default="default",
                   help=f"transcript normalisation: a preset or comma-separated steps ({describe_valid_names()})")
    p.add_argument("--dev_share", type=float, default=0.1, help="share of each language's training utterances "
                   "held out as dev (at most 0.5)")
    p.add_argument("--dev_min", type=int, default=2, help="fewest dev utterances per language (a language with "
                   "fewer than twice as many keeps all in train)")
    p.add_argument("--dev_max", type=int, default=100, help="most dev utterances per language")
    p.add_argument("--seed", type=int, default=1, help="seed of the dev hold-out")
    return p


@cli_main()
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    report = prepare_own_data(args.train_dir, args.test_dir, args.out_dir, dev_dir=args.dev_dir,
                              normalizer=args.normalizer, dev_share=args.dev_share, dev_min=args.dev_min,
                              dev_max=args.dev_max, seed=args.seed)
    print("lang\ttrain utts/spk\tdev utts/spk\ttest utts/spk\tdropped (empty text)\tdev hold-out")
    for lang, r in report["languages"].items():
        cells = [f"{r[s]['utterances']}/{r[s]['speakers']}" for s in ("train", "dev", "test")]
        dropped = sum(r[s]["dropped_empty"] for s in ("train", "dev", "test"))
        print("\t".join([lang, *cells, str(dropped), r.get("dev_holdout", "")]))
    print(f"report: {args.out_dir / 'own_data_report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
