r"""Where each speaker's log-mel floor lies, per data set: pick mel_warp's noise_snr_range from it (issue 20;
docs/lid_routing.md "Unseen voices"; the computation is :mod:`espnet_ext.utils.feature_floor`).

Usage (from egs/<recipe>/asr1, after stage 2):
    python -m espnet_ext.bin.feature_floor --out_dir exp/<corpus>/feature_floor \
        train=dump/<corpus>/fbank/train dev=dump/<corpus>/fbank/dev [--reference train] [--percentile 30] \
        [--speaker_regex '(\w+)$']

Each ``NAME=DATA_DIR`` is a stage-2 dir with feats.scp and utt2spk. Per utterance, the ``--percentile``-th
percentile of its log-mel bins in dB under its mean power (the unit of ``specaug_conf.noise_snr_range``); per
speaker (utt2spk's, or the first group of ``--speaker_regex`` in it: ``(\w+)$`` pools the synthetic corpora's
``en-f3``, ``fr-f3``... into the voice ``f3``), the median and quartiles over its utterances. The speakers of the other sets whose median lies outside
the ``--reference`` set's (default: the first set's) range of speaker medians are named; for those with a noisier
floor than every reference speaker, the report gives the ``noise_snr_range`` start that reaches them.

Writes feature_floor.json (``speakers`` [{set, speaker, num_utts, median_db, q25_db, q75_db}],
``reference_range_db``, ``outside``, ``snr_start_reaching_db``), feature_floor.md and feature_floor.png into
--out_dir, which appears whole or not at all, and prints the markdown. Every error names the file and line or
the utterance, and nothing is written then.
"""

import argparse
import logging
import re
import sys
from pathlib import Path

from espnet_ext.utils.atomic_dir import atomic_output_dir, options_fingerprint
from espnet_ext.utils.cli import cli_main, named_paths
from espnet_ext.utils.feature_floor import load_floor_summary, markdown, write_floor_report

logger = logging.getLogger("feature_floor")


@cli_main()
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out_dir", type=Path, required=True)
    p.add_argument("data_dirs", nargs="+", metavar="NAME=DATA_DIR", help="stage-2 dirs (feats.scp, utt2spk)")
    p.add_argument("--reference", default=None, help="the set whose speakers span the reference range "
                                                       "(default: the first NAME)")
    p.add_argument("--percentile", type=float, default=30.0,
                   help="percentile of an utterance's log-mel bins taken as its floor (0 < p < 100)")
    p.add_argument("--speaker_regex", default=None,
                   help="group speakers by the first group of this pattern in utt2spk's speaker id")
    args = p.parse_args(argv)
    dirs = named_paths(args.data_dirs, p, "NAME=DATA_DIR", "set")
    if args.reference is not None and args.reference not in dirs:
        p.error(f"--reference '{args.reference}' is not one of the sets {list(dirs)}")
    if args.speaker_regex is not None:
        try:
            if re.compile(args.speaker_regex).groups < 1:
                p.error(f"--speaker_regex '{args.speaker_regex}' has no group (the speaker is its first group)")
        except re.error as exc:
            p.error(f"--speaker_regex '{args.speaker_regex}' is not a regular expression: {exc}")
    if not 0.0 < args.percentile < 100.0:
        p.error(f"--percentile must lie strictly between 0 and 100, got {args.percentile:g}")
    for name, path in dirs.items():
        if not (path / "feats.scp").is_file():
            p.error(f"set '{name}': {path / 'feats.scp'} not found (a stage-2 data dir is needed)")

    from tqdm import tqdm

    options = {"data_dirs": {k: str(v) for k, v in dirs.items()}, "reference": args.reference,
               "percentile": args.percentile, "speaker_regex": args.speaker_regex}
    out = atomic_output_dir(args.out_dir, options_fingerprint("feature_floor", options), log=logger)
    if out.complete:
        return 0
    summary = load_floor_summary(dirs, args.reference, args.percentile,
                                 progress=lambda name: (lambda it: tqdm(it, desc=name, leave=False)),
                                 speaker_regex=args.speaker_regex)
    with out as tmp:
        write_floor_report(summary, tmp)
    print(markdown(summary), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
