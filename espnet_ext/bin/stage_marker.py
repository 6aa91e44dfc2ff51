"""Decide whether a recipe stage's output is current, from the fingerprint its completion marker records.

    python -m espnet_ext.bin.stage_marker check --dir exp/asr_x --file config=conf/train.yaml \
        --option asr_args="--max_epoch 1" --code espnet_ext.bin.asr_train [--partial .started]

prints one word on stdout for the calling script, and logs why on stderr:

* ``skip``   the dir's ``.done`` records exactly this fingerprint;
* ``run``    no output yet;
* ``resume`` (with ``--partial M``) the stage was started from exactly these inputs (marker ``M``) and not
  finished: continue it (ESPnet's ``--resume``);
* ``redo``   the output (finished or not) was made from other inputs: the log line names what changed,
  and the caller deletes the dir and runs the stage again.

Unless the answer is ``skip``, the fingerprint it computed is written to ``--pending`` (default
``.<dir name>.fingerprint`` beside the dir, since stages recreate their dir); after the stage succeeds the
caller renames it to ``<dir>/.done`` (``commit``), so a killed stage never leaves a marker. ``start``
copies it to the ``--partial`` marker.
See espnet_ext/utils/stage_marker.py and docs/reliability.md.
"""

import argparse
import logging
import os
import shutil
import sys
from pathlib import Path

from espnet_ext.utils.cli import cli_main
from espnet_ext.utils.stage_marker import DONE_MARKER, fingerprint, stale_reason, write_marker

logger = logging.getLogger("stage_marker")


def _pair(text: str):
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got '{text}'")
    return name, value


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["check", "commit", "start"])
    parser.add_argument("--dir", required=True, type=Path, help="the stage's output dir")
    parser.add_argument("--file", type=_pair, action="append", default=[], metavar="NAME=PATH",
                        help="an input file (its sha256 is recorded; a missing file records 'missing')")
    parser.add_argument("--option", type=_pair, action="append", default=[], metavar="NAME=VALUE",
                        help="an option that changes the output")
    parser.add_argument("--code", nargs="*", default=[], metavar="MODULE",
                        help="the Python modules that do the stage's work")
    parser.add_argument("--partial", default=None, metavar="NAME",
                        help="marker (in --dir) of a started, resumable stage: 'resume' when it matches")
    parser.add_argument("--pending", type=Path, default=None,
                        help="where check writes the fingerprint (default: .<dir name>.fingerprint beside it)")
    return parser


@cli_main()
def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    pending = args.pending or args.dir.with_name(f".{args.dir.name}.fingerprint")
    if args.action == "commit":  # after the stage succeeded: the pending fingerprint becomes the marker
        if not pending.is_file():
            raise FileNotFoundError(f"{pending} not found: run 'check' before the stage, 'commit' after it")
        args.dir.mkdir(parents=True, exist_ok=True)
        os.replace(pending, args.dir / DONE_MARKER)
        return 0
    if args.action == "start":  # the stage begins: remember what it started from, to resume only that
        if not args.partial or not pending.is_file():
            raise ValueError(f"'start' needs --partial and the fingerprint 'check' wrote ({pending})")
        args.dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pending, args.dir / f"{args.partial}.tmp")
        os.replace(args.dir / f"{args.partial}.tmp", args.dir / args.partial)
        return 0

    current = fingerprint(dict(args.file), dict(args.option), args.code)
    reason = stale_reason(args.dir / DONE_MARKER, current)
    if reason is None:
        logger.info("%s is complete; skipping (delete %s to redo)", args.dir, args.dir / DONE_MARKER)
        print("skip")
        return 0
    write_marker(pending, current)
    if not args.dir.exists():
        print("run")
    elif (args.dir / DONE_MARKER).is_file():
        logger.info("%s is out of date: %s; redoing it", args.dir, reason.replace("it has", "it had"))
        print("redo")
    elif args.partial and stale_reason(args.dir / args.partial, current) is None:
        logger.info("%s was started from the same inputs and not finished; resuming it", args.dir)
        print("resume")
    else:
        partial = stale_reason(args.dir / args.partial, current) if args.partial else "it has no completion marker"
        logger.info("%s is incomplete and cannot be resumed (%s); redoing it", args.dir, partial)
        print("redo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
