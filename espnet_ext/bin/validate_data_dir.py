"""Stage a: validate Kaldi-style data dirs (with utt2lang) and write the language inventory.

Usage:
    python -m espnet_ext.bin.validate_data_dir data/train data/dev [--languages en,fr] \
        [--write_lang_list data/lang_list.txt] [--sample_rate 16000] [--no_audio_check] \
        [--check_duration [--duration_tolerance 0.05]]

Exits non-zero with a message naming the file, line or utterance of the first problem.
"""

import argparse
import logging
import sys
from pathlib import Path

from espnet_ext.dataprep.datadir import validate_data_dir
from espnet_ext.dataprep.language_inventory import read_lang_list, write_lang_list
from espnet_ext.utils.cli import cli_main


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data_dirs", nargs="+", type=Path)
    p.add_argument("--languages", default=None, help="comma-separated allowed language codes")
    p.add_argument("--lang_list", type=Path, default=None, help="read the allowed codes from this file")
    p.add_argument("--write_lang_list", type=Path, default=None,
                   help="write the languages of the FIRST data dir (the training set) here, one per line")
    p.add_argument("--sample_rate", type=int, default=16000)
    p.add_argument("--no_audio_check", action="store_true", help="skip opening every audio file")
    p.add_argument("--check_duration", action="store_true",
                   help="compare every audio file's actual length with utt2dur (required then); off by default")
    p.add_argument("--duration_tolerance", type=float, default=0.05,
                   help="seconds by which audio length and utt2dur may differ with --check_duration")
    return p


@cli_main()
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    languages = args.languages.split(",") if args.languages else None
    if args.lang_list is not None:
        languages = read_lang_list(args.lang_list)
    for i, d in enumerate(args.data_dirs):
        data = validate_data_dir(d, languages=languages, check_audio=not args.no_audio_check,
                                 sample_rate=args.sample_rate,
                                 duration_tolerance=args.duration_tolerance if args.check_duration else None)
        logging.info("%s: %d utterances, per language %s", d, len(data.utts), data.utts_per_language())
        if i == 0 and args.write_lang_list is not None:
            write_lang_list(args.write_lang_list, languages or data.languages)
            languages = languages or data.languages
    return 0


if __name__ == "__main__":
    sys.exit(main())
