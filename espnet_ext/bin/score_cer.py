"""Stage g: CER per language and averaged over languages (WER where words are space-delimited).

Usage:
    python -m espnet_ext.bin.score_cer --ref dump/fbank/test/text --hyp exp/asr/decode/test/text \
        --utt2lang dump/fbank/test/utt2lang --out_dir exp/asr/decode/test [--title test]

Writes results.md, results.json and cer_per_language.png in --out_dir and prints the table.
"""

import argparse
import sys
from pathlib import Path

from espnet_ext.dataprep.datadir import DataDirError, read_kaldi_map
from espnet_ext.utils.error_rate import markdown_table, score, write_results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", type=Path, required=True)
    p.add_argument("--hyp", type=Path, required=True)
    p.add_argument("--utt2lang", type=Path, required=True)
    p.add_argument("--out_dir", type=Path, required=True)
    p.add_argument("--title", default="CER per language")
    p.add_argument("--ignore_space", action="store_true", help="leave spaces out of CER")
    args = p.parse_args(argv)
    try:
        refs = read_kaldi_map(args.ref)
        hyps = read_kaldi_map(args.hyp, allow_empty_value=True)
        extra = sorted(set(hyps) - set(refs))
        if extra:
            raise ValueError(f"{args.hyp}: utterance '{extra[0]}' has no reference in {args.ref}")
        scores = score(refs, hyps, read_kaldi_map(args.utt2lang), ignore_space=args.ignore_space)
    except (DataDirError, ValueError) as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    write_results(scores, args.out_dir, args.title)
    print(markdown_table(scores, args.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
