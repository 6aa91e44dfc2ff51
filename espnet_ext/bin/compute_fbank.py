"""Stage b: fbank (or spectrogram) features of a data dir with kaldiio, parallel over --nj, + global CMVN.

Usage:
    python -m espnet_ext.bin.compute_fbank --data_dir data/train --out_dir dump/fbank/train \
        [--conf conf/fbank.yaml] [--nj 2] [--lang_list data/lang_list.txt]

With --lang_list the output also gets ``utt2lid`` (the model's ``lang`` data key).
"""

import argparse
import sys
from pathlib import Path

import yaml

from espnet_ext.dataprep.fbank import FbankConfig, extract_data_dir
from espnet_ext.dataprep.language_inventory import read_lang_list, write_utt2lid
from espnet_ext.utils.cli import cli_main


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", type=Path, required=True)
    p.add_argument("--out_dir", type=Path, required=True)
    p.add_argument("--conf", type=Path, default=None, help="YAML with FbankConfig fields")
    p.add_argument("--nj", type=int, default=1)
    p.add_argument("--lang_list", type=Path, default=None)
    return p


@cli_main()
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    conf_dict = yaml.safe_load(args.conf.read_text()) if args.conf else {}
    unknown = set(conf_dict or {}) - set(FbankConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"{args.conf}: unknown option(s) {sorted(unknown)}")
    conf = FbankConfig(**(conf_dict or {}))
    languages = read_lang_list(args.lang_list) if args.lang_list else None
    out = extract_data_dir(args.data_dir, args.out_dir, conf, nj=args.nj, languages=languages)
    if languages is not None:
        write_utt2lid(out / "utt2lang", languages, out / "utt2lid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
