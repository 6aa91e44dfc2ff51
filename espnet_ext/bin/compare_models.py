"""Compare models' CER per language with a reference model: the head and tail group means, each model's
difference from the reference, who wins and who loses (stage 7 of the runner's model_rows hook; the demo's
SMT-vs-A2 table).

Usage:
    python -m espnet_ext.bin.compare_models --ref smt=exp/demo/asr_smt.../decode_.../test/results.json \\
        --model a2=exp/demo/asr_a2.../decode_.../test/results.json --train_utt2lang dump/demo/fbank/train/utt2lang \\
        --out_dir exp/demo/compare/test [--head en,es,it] [--title "demo test"]

A model given as NAME=a.json,b.json,c.json is the per-language mean of those runs (e.g. three seeds).

Writes compare.md, compare.json and compare.png under --out_dir (espnet_ext.utils.model_comparison) and prints
the table. Nothing is written when an input is wrong.
"""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import List, Optional, Tuple

from espnet_ext.utils.cli import cli_main
from espnet_ext.utils.model_comparison import compare, markdown, plot


def named_path(text: str) -> Tuple[str, List[Path]]:
    """NAME=results.json, or NAME=a.json,b.json,... for the mean of several runs (e.g. seeds)."""
    name, sep, paths = text.partition("=")
    parts = paths.split(",")
    if not sep or not name or not all(parts):
        raise argparse.ArgumentTypeError(f"expected NAME=results.json[,results.json...], got '{text}'")
    return name, [Path(p) for p in parts]


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", type=named_path, required=True,
                   help="NAME=results.json of the reference model (NAME=a.json,b.json,...: the mean of several runs)")
    p.add_argument("--model", type=named_path, action="append", required=True,
                   help="NAME=results.json of a model compared with the reference (repeatable; comma-separated "
                        "files: the mean of several runs, e.g. seeds)")
    p.add_argument("--train_utt2lang", type=Path, required=True,
                   help="utt2lang of the training set: orders the languages and makes the head/tail groups")
    p.add_argument("--head", type=str, default="",
                   help="comma-separated head languages (default: the top half by training utterances)")
    p.add_argument("--out_dir", type=Path, required=True)
    p.add_argument("--title", type=str, default="")
    return p


def _write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")  # the suffix tells matplotlib the format
    write(tmp)
    os.replace(tmp, path)


@cli_main()
def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    head = [h.strip() for h in args.head.split(",") if h.strip()] or None
    result = compare(args.ref, args.model, args.train_utt2lang, head)
    table = markdown(result, args.title)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    _write(args.out_dir / "compare.json", lambda p: p.write_text(
        json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"))
    _write(args.out_dir / "compare.md", lambda p: p.write_text(table, encoding="utf-8"))
    _write(args.out_dir / "compare.png", lambda p: plot(result, p, args.title))
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
