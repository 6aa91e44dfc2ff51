"""CommonVoice -> Kaldi data dirs for the A2 recipe (espnet_ext.dataprep.commonvoice).

Usage:
    python -m espnet_ext.bin.commonvoice_prep --cv_root /data/cv-corpus-5.1-2020-06-22 --out_dir data \
        [--languages en,fr,es,it,ru,zh,tt,nl,tr,ky,sv] [--cap_table table6|table1|none] [--few_shot] \
        [--caps sv=2,ky=3] [--cap_unit_seconds 3600] [--seed 0] [--train_source validated|train]

Writes out_dir/{train,dev,test} (wav.scp text utt2spk spk2utt utt2lang utt2dur) and out_dir/report.json.
"""

import argparse
import sys
from pathlib import Path
from typing import Dict

from espnet_ext.dataprep.commonvoice import A2_LANGUAGES, CAP_TABLES, prepare_commonvoice
from espnet_ext.utils.cli import cli_main


def parse_caps(value: str) -> Dict[str, float]:
    caps: Dict[str, float] = {}
    for item in filter(None, value.split(",")):
        lang, sep, hours = item.partition("=")
        try:
            if not sep:
                raise ValueError
            caps[lang.strip()] = float(hours)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--caps: '{item}' is not LANG=HOURS") from None
    return caps


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cv_root", type=Path, required=True, help="directory of per-language CommonVoice releases")
    p.add_argument("--out_dir", type=Path, required=True)
    p.add_argument("--languages", default=",".join(A2_LANGUAGES), help="comma-separated paper language codes")
    p.add_argument("--cap_table", default="table6", choices=sorted(CAP_TABLES) + ["none"])
    p.add_argument("--few_shot", action="store_true", help="5 hours per language (A2 Table 13)")
    p.add_argument("--caps", type=parse_caps, default={}, help="per-language overrides, e.g. sv=2,ky=3")
    p.add_argument("--cap_unit_seconds", type=float, default=3600.0,
                   help="seconds per cap unit (3600: hours; 1: read the caps as seconds, for tests)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train_source", default="validated", choices=["validated", "train"])
    return p


@cli_main()
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    languages = [x.strip() for x in args.languages.split(",") if x.strip()]
    report = prepare_commonvoice(args.cv_root, args.out_dir, languages, cap_table=args.cap_table,
                                 few_shot=args.few_shot, caps=args.caps, cap_unit_seconds=args.cap_unit_seconds,
                                 seed=args.seed, train_source=args.train_source)
    for lang, r in report["languages"].items():
        print(f"{lang}\ttrain {r['train']['utterances']} utts {r['train']['hours']:.3f} h\t"
              f"dev {r['dev']['utterances']}\ttest {r['test']['utterances']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
