"""Long-tail token statistics of a training set (A2 Figs. 1, 7, 8 and Table 7; espnet_ext.utils.token_frequency).

Usage:
    python -m espnet_ext.bin.token_frequency --text dump/fbank/train/text --utt2lang dump/fbank/train/utt2lang \
        --bpemodel data/token_list/bpe_unigram150/bpe.model [--token_list data/token_list/.../tokens.txt] \
        --out_dir exp/token_frequency [--edges 100000,50000,10000,1000] [--scale 1.0] [--min_count 0]

Writes token_frequency.json (per-language, total and balanced counts; Table 7 buckets), table7.md,
long_tail.png (original) and long_tail_balanced.png (expected counts under balanced sampling).
"""

import argparse
import json
import sys
from pathlib import Path

from espnet_ext.text.sentencepiece_vocab import read_token_list
from espnet_ext.utils.cli import cli_main
from espnet_ext.utils.token_frequency import (PAPER_EDGES, balanced_counts, bucket_counts, count_tokens,
                                              markdown_table7, plot_long_tail, total_counts)


@cli_main()
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", type=Path, required=True)
    p.add_argument("--utt2lang", type=Path, required=True)
    p.add_argument("--bpemodel", type=Path, required=True)
    p.add_argument("--token_list", type=Path, default=None, help="count never-seen tokens in the lowest bucket")
    p.add_argument("--out_dir", type=Path, required=True)
    p.add_argument("--edges", default=",".join(str(e) for e in PAPER_EDGES),
                   help="descending bucket edges (Table 7: 100000,50000,10000,1000)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply the edges (small corpora)")
    p.add_argument("--min_count", type=float, default=0.0, help="plot only tokens this frequent (Figs. 7-8: 20000)")
    args = p.parse_args(argv)
    edges = [float(x) for x in args.edges.split(",") if x.strip()]
    counts, utts = count_tokens(args.text, args.utt2lang, args.bpemodel)
    vocab = read_token_list(args.token_list) if args.token_list else None
    original, balanced = total_counts(counts), balanced_counts(counts, utts)
    table = {"original": bucket_counts(original, edges, args.scale, vocab),
             "balanced": bucket_counts(balanced, edges, args.scale, vocab)}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    result = {"utterances": utts, "table7": table, "edges": [e * args.scale for e in edges],
              "total": original, "balanced": balanced,
              "per_language": {lang: dict(c) for lang, c in counts.items()}}
    (args.out_dir / "token_frequency.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n",
                                                      encoding="utf-8")
    md = markdown_table7(table["original"], table["balanced"])
    (args.out_dir / "table7.md").write_text(md, encoding="utf-8")
    plot_long_tail(original, counts, args.out_dir / "long_tail.png", "Class frequency", args.min_count)
    plot_long_tail(balanced, counts, args.out_dir / "long_tail_balanced.png",
                   "Class frequency with balanced sampling (expected)", args.min_count)
    print(md, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
