"""Per language, how many hypotheses are written in another script than their reference (a model that takes a
rare language for a frequent one; espnet_ext.utils.script_confusion).

Usage:
    python -m espnet_ext.bin.script_confusion --ref dump/benchmark/fbank/test/text \\
        --hyp exp/benchmark/asr_x/decode_y/test/text --utt2lang dump/benchmark/fbank/test/utt2lang \\
        --out exp/benchmark/asr_x/decode_y/test/script_confusion [--title "SMT, test"]

Writes <out>.md and <out>.json and prints the table.
"""

import argparse
import json
import sys
from pathlib import Path

from espnet_ext.fileio.kaldi_map import read_kaldi_map
from espnet_ext.utils.cli import cli_main
from espnet_ext.utils.script_confusion import markdown, script_confusion, to_json


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", type=Path, required=True, help="Kaldi text of the references")
    p.add_argument("--hyp", type=Path, required=True, help="Kaldi text of the hypotheses (stage 6's text)")
    p.add_argument("--utt2lang", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="output prefix: <out>.md and <out>.json")
    p.add_argument("--title", default="Hypotheses in another script than their reference")
    return p


@cli_main()
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    refs = read_kaldi_map(args.ref)
    hyps = read_kaldi_map(args.hyp, allow_empty_value=True)
    rows = script_confusion(refs, hyps, read_kaldi_map(args.utt2lang))
    md = markdown(rows, args.title)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_name(args.out.name + ".json").write_text(json.dumps(to_json(rows), indent=1) + "\n",
                                                           encoding="utf-8")
    args.out.with_name(args.out.name + ".md").write_text(md, encoding="utf-8")
    print(md, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
