"""Probe a LID model: is its test-set LID accuracy limited by the head or by the encoder's features?
(issue 20; docs/lid_routing.md "Unseen voices"; the computation is :mod:`espnet_ext.utils.lid_probe`)

Usage (from egs/<recipe>/asr1):
    python -m espnet_ext.bin.lid_probe --asr_train_config exp/<corpus>/asr_X/config.yaml \
        --asr_model_file exp/<corpus>/asr_X/valid.acc.ave.pth --train_dir dump/<corpus>/fbank/train \
        --out_dir exp/<corpus>/asr_X/lid_probe dev=dump/<corpus>/fbank/dev test=dump/<corpus>/fbank/test \
        [--train_warps 0.94 1.06] [--poolings mean mean_std] [--epochs 400] [--batch_size 16] [--seed 0]

Reads the features the model's LID head reads (the language-agnostic first encoder pass) for the training set and
every ``NAME=DATA_DIR`` (a stage-2 dir with feats.scp and utt2lang), and reports, in %, on each set: the accuracy
of the model's own head, and that of a linear classifier fit to convergence on the frozen training features, per
pooling (``mean``: the head's own; ``mean_std``), without and (``--train_warps``) with mel-warped copies of the
training utterances added to its training data.  Reading it: probe >> head on the test set: the head is
undertrained (train longer, raise lid_weight); probe ≈ head: the features limit it; the warped copies help: the
test set's voices are not the training set's (train with specaug mel_warp).

Writes lid_probe.json (``sets``, ``head`` {set: acc}, ``probes`` [{pooling, train_warps, acc {set: acc}}]) and
lid_probe.md into --out_dir, which appears whole or not at all.
"""

import argparse
import json
import logging
import sys
from pathlib import Path

from espnet_ext.utils.atomic_dir import atomic_output_dir, options_fingerprint
from espnet_ext.utils.cli import cli_main, named_paths
from espnet_ext.utils.lid_probe import POOLINGS, accuracy

logger = logging.getLogger("lid_probe")


def markdown(record: dict) -> str:
    sets = record["sets"]
    lines = [f"### LID probe of {record['model']}", "",
             "LID accuracy (%) of the model's head and of linear probes fit to convergence on its frozen LID "
             "features (the first, language-agnostic encoder pass) of the training set.", "",
             "| classifier | pooling | training copies (mel warp) | " + " | ".join(sets) + " |",
             "|---|---|---|" + "---:|" * len(sets)]
    head = " | ".join(f"{record['head'][s]:.1f}" for s in sets)
    lines.append(f"| the model's head | mean | as trained | {head} |")
    for probe in record["probes"]:
        warps = ", ".join(f"{w:g}" for w in probe["train_warps"])
        lines.append(f"| linear probe | {probe['pooling']} | {warps} | "
                     + " | ".join(f"{probe['acc'][s]:.1f}" for s in sets) + " |")
    return "\n".join(lines) + "\n"


@cli_main()
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--asr_train_config", type=Path, required=True)
    p.add_argument("--asr_model_file", type=Path, required=True)
    p.add_argument("--train_dir", type=Path, required=True,
                   help="stage-2 dir the probes are fit on (feats.scp, utt2lang)")
    p.add_argument("--out_dir", type=Path, required=True)
    p.add_argument("eval_dirs", nargs="+", metavar="NAME=DATA_DIR", help="stage-2 dirs the probes are read on")
    p.add_argument("--train_warps", type=float, nargs="*", default=[],
                   help="mel-axis warp factors of extra training copies (e.g. 0.94 1.06); each probe is also fit "
                        "without them")
    p.add_argument("--poolings", nargs="+", choices=POOLINGS, default=list(POOLINGS))
    p.add_argument("--epochs", type=int, default=400, help="full-batch Adam steps of each probe")
    p.add_argument("--batch_size", type=int, default=16, help="utterances per encoder batch")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    evals = named_paths(args.eval_dirs, p, "NAME=DATA_DIR", "set")
    if "train" in evals:
        p.error("'train' names the --train_dir set; give the other sets other names")
    if any(w <= 0 for w in args.train_warps) or 1.0 in args.train_warps:
        p.error(f"--train_warps must be positive factors other than 1 (the unwarped set is always used), "
                f"got {args.train_warps}")
    if args.epochs < 1 or args.batch_size < 1:
        p.error("--epochs and --batch_size must be >= 1")
    for path in (args.asr_train_config, args.asr_model_file):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found")

    import torch
    from tqdm import tqdm

    from espnet_ext.tasks.asr import MultilingualASRTask
    from espnet_ext.utils.lid_probe import extract, fit_linear_probe

    options = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "out_dir"}
    out = atomic_output_dir(args.out_dir, options_fingerprint("lid_probe", options), log=logger)
    if out.complete:
        return 0
    model, _ = MultilingualASRTask.build_model_from_file(args.asr_train_config, args.asr_model_file, "cpu")
    num_languages = len(model.languages)

    def run(name, data_dir, warps=(1.0,)):
        logger.info("LID features of %s (%s, mel warps %s)", name, data_dir, ", ".join(f"{w:g}" for w in warps))
        return extract(model, data_dir, warps, args.batch_size, progress=lambda it: tqdm(it, desc=name, leave=False))

    train = run("train", args.train_dir, [1.0] + list(args.train_warps))
    sets = {"train": train[1.0], **{name: run(name, d)[1.0] for name, d in evals.items()}}
    record = {"model": str(args.asr_model_file), "sets": list(sets),
              "head": {name: accuracy(s.head_predictions, s.labels) for name, s in sets.items()}, "probes": []}
    warp_sets = [[1.0]] + ([[1.0] + list(args.train_warps)] if args.train_warps else [])
    for pooling in args.poolings:
        for warps in warp_sets:
            features = torch.cat([train[w].pooled[pooling] for w in warps])
            labels = torch.cat([train[w].labels for w in warps])
            predict = fit_linear_probe(features, labels, num_languages, epochs=args.epochs, seed=args.seed)
            record["probes"].append({"pooling": pooling, "train_warps": warps, "acc": {
                name: accuracy(predict(s.pooled[pooling]), s.labels) for name, s in sets.items()}})
    with out as tmp:
        (tmp / "lid_probe.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        (tmp / "lid_probe.md").write_text(markdown(record), encoding="utf-8")
    print(markdown(record), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
