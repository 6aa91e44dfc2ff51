"""Split a Kaldi-style file's keys into N job lists, or merge per-job decoding outputs (stage f).

Usage:
    python -m espnet_ext.bin.split_merge split --scp dump/fbank/test/feats.scp --nj 2 --out_dir DIR/logdir
        (writes DIR/logdir/keys.1 ... keys.N)
    python -m espnet_ext.bin.split_merge merge --nj 2 --logdir DIR/logdir --out_dir DIR [--nbest 1]
        (concatenates DIR/logdir/output.J/<n>best_recog/* into DIR/<n>best_recog/*, and DIR/text = 1-best;
        DIR/logdir/output.J/lang, written by a model with a LID head, into DIR/lang)
"""

import argparse
import shutil
import sys
from pathlib import Path

from espnet_ext.fileio.kaldi_map import read_kaldi_map, write_kaldi_map
from espnet_ext.utils.cli import cli_main


def split(scp: Path, nj: int, out_dir: Path) -> int:
    keys = sorted(read_kaldi_map(scp))
    nj = max(1, min(nj, len(keys)))
    out_dir.mkdir(parents=True, exist_ok=True)
    for j in range(nj):
        # Contiguous chunks keep each job's output sorted.
        chunk = keys[j * len(keys) // nj:(j + 1) * len(keys) // nj]
        (out_dir / f"keys.{j + 1}").write_text("".join(f"{k} {k}\n" for k in chunk), encoding="utf-8")
    print(nj)
    return nj


def merge(nj: int, logdir: Path, out_dir: Path, nbest: int) -> None:
    for n in range(1, nbest + 1):
        sub = f"{n}best_recog"
        names = sorted({f.name for j in range(1, nj + 1) for f in (logdir / f"output.{j}" / sub).glob("*")})
        if not names:
            raise FileNotFoundError(f"{logdir}/output.*/{sub}: no decoding output")
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
        for name in names:
            merged = {}
            for j in range(1, nj + 1):
                f = logdir / f"output.{j}" / sub / name
                if f.is_file():
                    merged.update(read_kaldi_map(f, allow_empty_value=True))
            write_kaldi_map(out_dir / sub / name, merged)
    shutil.copyfile(out_dir / "1best_recog" / "text", out_dir / "text")
    # The LID head's routed language per utterance (docs/lid_routing.md), scored by lid_report in stage 7.
    langs = [logdir / f"output.{j}" / "lang" for j in range(1, nj + 1)]
    if any(f.is_file() for f in langs):
        write_kaldi_map(out_dir / "lang", {k: v for f in langs if f.is_file() for k, v in read_kaldi_map(f).items()})
    elif (out_dir / "lang").is_file():
        (out_dir / "lang").unlink()  # an earlier decoding's: it would be scored as this one's


@cli_main()
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("split")
    s.add_argument("--scp", type=Path, required=True)
    s.add_argument("--nj", type=int, required=True)
    s.add_argument("--out_dir", type=Path, required=True)
    m = sub.add_parser("merge")
    m.add_argument("--nj", type=int, required=True)
    m.add_argument("--logdir", type=Path, required=True)
    m.add_argument("--out_dir", type=Path, required=True)
    m.add_argument("--nbest", type=int, default=1)
    args = p.parse_args(argv)
    if args.cmd == "split":
        split(args.scp, args.nj, args.out_dir)
    else:
        merge(args.nj, args.logdir, args.out_dir, args.nbest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
