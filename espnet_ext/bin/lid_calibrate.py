"""Fit a per-language bias on a LID head's logits on a labelled dev set, for decoding with --lid_calibration
(issue 20; docs/lid_routing.md "Calibrating the head"; the computation is
:mod:`espnet_ext.asr.lid.lid_calibration`).

Usage (from egs/<recipe>/asr1):
    python -m espnet_ext.bin.lid_calibrate --asr_train_config exp/<corpus>/asr_X/config.yaml \
        --asr_model_file exp/<corpus>/asr_X/valid.acc.ave.pth --data_dir dump/<corpus>/fbank/dev \
        --out exp/<corpus>/asr_X/lid_calibration.json [--l2_grid 0 0.001 ... 1] [--folds 5] [--seed 0]
    ./run.sh ... --stage 6 --inference_args "--lid_calibration exp/<corpus>/asr_X/lid_calibration.json"

Runs the head over every utterance of --data_dir (a stage-2 dir with feats.scp and utt2lang; never the test set),
one at a time as decoding does, chooses the L2 weight of the bias by k-fold cross-validation (held-out NLL), fits
the bias on every utterance and writes it to --out (JSON) with the dev set's LID accuracy and NLL before and after,
and a summary beside it (.md).  Both files appear whole or not at all.
"""

import argparse
import logging
import sys
from pathlib import Path

from espnet_ext.asr.lid.lid_calibration import DEFAULT_L2_GRID, LidCalibration, LidCalibrationError
from espnet_ext.utils.cli import cli_main

logger = logging.getLogger("lid_calibrate")


def markdown(calibration: LidCalibration) -> str:
    dev = calibration.dev
    lines = [f"### LID calibration of {calibration.source.get('model', '?')}", "",
             f"Fit on {calibration.source.get('data_dir', '?')} ({dev['utterances']} utterances): a bias per language "
             f"on the head's logits, L2 weight {calibration.l2:g} chosen by {calibration.folds}-fold cross-validation.",
             "", f"LID accuracy {dev['acc_before']:.1f} % -> {dev['acc_after']:.1f} %, "
             f"NLL {dev['nll_before']:.3f} -> {dev['nll_after']:.3f} (on the set it was fit on).", "",
             "| " + " | ".join(calibration.languages) + " |", "|" + "---:|" * len(calibration.languages),
             "| " + " | ".join(f"{b:+.3f}" for b in calibration.bias) + " |", "",
             "| L2 weight | held-out NLL (summed) |", "|---:|---:|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in calibration.cv_nll.items()]
    return "\n".join(lines) + "\n"


@cli_main(extra_user_errors=(LidCalibrationError,))
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--asr_train_config", type=Path, required=True)
    p.add_argument("--asr_model_file", type=Path, required=True)
    p.add_argument("--data_dir", type=Path, required=True, help="labelled stage-2 dir (feats.scp, utt2lang): dev")
    p.add_argument("--out", type=Path, required=True, help="calibration JSON to write (a .md summary beside it)")
    p.add_argument("--l2_grid", type=float, nargs="+", default=list(DEFAULT_L2_GRID),
                   help="L2 weights on the bias tried by cross-validation")
    p.add_argument("--folds", type=int, default=5, help="folds of the cross-validation over the utterances")
    p.add_argument("--seed", type=int, default=0, help="seed of the folds' random split")
    args = p.parse_args(argv)
    if args.folds < 2:
        p.error(f"--folds must be >= 2, got {args.folds}")
    if any(not x >= 0 for x in args.l2_grid):
        p.error(f"--l2_grid must hold numbers >= 0, got {args.l2_grid}")
    for path in (args.asr_train_config, args.asr_model_file):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found")
    if not args.out.parent.is_dir():
        raise FileNotFoundError(f"{args.out.parent}: no such directory for --out")

    from tqdm import tqdm

    from espnet_ext.tasks.asr import MultilingualASRTask
    from espnet_ext.utils.lid_probe import utterance_logits

    model, _ = MultilingualASRTask.build_model_from_file(args.asr_train_config, args.asr_model_file, "cpu")
    _, logits, labels = utterance_logits(model, args.data_dir,
                                         progress=lambda it: tqdm(it, desc="LID logits", leave=False))
    logger.info("fitting the bias on %d utterances (%d-fold cross-validation over %d L2 weights)", len(labels),
                args.folds, len(args.l2_grid))
    calibration = LidCalibration.fit(logits, labels, model.languages, args.l2_grid, args.folds, args.seed,
                                     source={"model": str(args.asr_model_file), "data_dir": str(args.data_dir)})
    summary = markdown(calibration)
    calibration.save(args.out)  # each file is written beside itself and renamed: whole or absent
    md = args.out.with_suffix(".md")
    tmp = md.with_name(md.name + ".tmp")
    tmp.write_text(summary, encoding="utf-8")
    tmp.replace(md)
    print(summary, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
