r"""Stop before training when too many utterances are too long in tokens for CTC (espnet_ext.utils.ctc_feasibility).

ESPnet zeroes infinite CTC losses, so an utterance with fewer subsampled encoder frames than its tokens
(plus one blank per repeated pair) trains nothing in the CTC branch, silently.  Run this after stage 4
(collect_stats) and before training.

Usage:
    python -m espnet_ext.bin.ctc_feasibility --config conf/tuning/train_x.yaml \
        --token_type char --token_list data/token_list/char/tokens.txt \
        --set cs_train=exp/asr_stats/train/speech_shape,dump/fbank/cs_train/text \
        --set cs_test=dump/fbank/cs_test [--out_json exp/ctc_feasibility.json] [--threshold 0.01]

A set is NAME=SHAPE,TEXT (a collect_stats speech_shape or an utt2num_frames, and the Kaldi text of the same
utterances) or NAME=DIR (a stage-2 feature dir with utt2num_frames and text).  Prints one line per set and
exits 1 with an ERROR naming the set, share and example utterances when a set's infeasible share exceeds
--threshold (--threshold 1 never stops).
"""

import argparse
import json
import sys
from pathlib import Path
from typing import List, Tuple

import yaml

from espnet_ext.utils.cli import cli_main
from espnet_ext.utils.ctc_feasibility import (SUBSAMPLING, check_files, failure_message, input_layer_from_config,
                                              make_encoder, normalize_layer, summary_line)


def parse_set(spec: str) -> Tuple[str, Path, Path]:
    """``NAME=SHAPE,TEXT`` or ``NAME=DIR`` -> (name, shape path, text path)."""
    name, sep, paths = spec.partition("=")
    if not sep or not name or not paths:
        raise ValueError(f"--set '{spec}': expected NAME=SHAPE,TEXT or NAME=DIR")
    parts = paths.split(",")
    if len(parts) == 1 and Path(parts[0]).is_dir():
        return name, Path(parts[0]) / "utt2num_frames", Path(parts[0]) / "text"
    if len(parts) != 2:
        raise ValueError(f"--set '{spec}': expected NAME=SHAPE,TEXT or NAME=DIR (a directory)")
    return name, Path(parts[0]), Path(parts[1])


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, help="training config YAML (reads encoder, encoder_conf.input_layer, "
                   "frontend, frontend_conf)")
    p.add_argument("--subsampling", choices=sorted(SUBSAMPLING),
                   help="input layer to assume instead of the config's (vgg2l = vgg_transformer)")
    p.add_argument("--token_type", choices=("char", "bpe"), required=True)
    p.add_argument("--bpemodel", type=Path, help="SentencePiece model (--token_type bpe)")
    p.add_argument("--token_list", type=Path, help="map tokens to ids with <unk> as ESPnet does (recommended)")
    p.add_argument("--set", dest="sets", action="append", required=True, metavar="NAME=SHAPE,TEXT|NAME=DIR",
                   help="a data set to check; repeat for several")
    p.add_argument("--frame_shift_ms", type=float, default=10.0,
                   help="feature frame shift, for the message only (raw-audio shapes use the frontend's hop)")
    p.add_argument("--threshold", type=float, default=0.01,
                   help="largest tolerated infeasible share per set (0-1; 1 never stops)")
    p.add_argument("--out_json", type=Path, help="write the per-set report here")
    return p


@cli_main(extra_user_errors=(RuntimeError,))  # ESPnet's TokenIDConverter raises RuntimeError
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    config = {}
    if args.config is not None:
        if not args.config.is_file():
            raise ValueError(f"{args.config}: config not found")
        config = yaml.safe_load(args.config.read_text(encoding="utf-8")) or {}
    if args.subsampling is not None:
        layer = normalize_layer(args.subsampling)
    elif args.config is not None:
        layer = input_layer_from_config(config)
    else:
        raise ValueError("give --config or --subsampling")
    encode = make_encoder(args.token_type, args.bpemodel, args.token_list)
    sets = [parse_set(spec) for spec in args.sets]
    names = [name for name, _, _ in sets]
    if len(set(names)) < len(names):
        raise ValueError(f"--set: set name '{next(n for n in names if names.count(n) > 1)}' given twice")
    results: List[tuple] = []
    for name, shape, text in sets:
        report, raw_shift = check_files(name, shape, text, layer, encode, config)
        results.append((report, raw_shift or args.frame_shift_ms))

    failed = []
    for report, shift in results:
        print(summary_line(report))
        if report.share > args.threshold:
            failed.append(failure_message(report, args.threshold, shift))
    if args.out_json is not None:
        args.out_json.parent.mkdir(parents=True, exist_ok=True)
        out = {"input_layer": layer, "token_type": args.token_type, "threshold": args.threshold,
               "sets": {r.name: {**r.to_dict(), "frame_shift_ms": shift} for r, shift in results}}
        args.out_json.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    for message in failed:
        print(message, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
