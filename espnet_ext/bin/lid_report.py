"""LID accuracy and confusion matrix of a decoding by a model with a LID head (stage 7; docs/lid_routing.md).

Usage:
    python -m espnet_ext.bin.lid_report --lang_hyp exp/asr/decode/test/lang --utt2lang dump/fbank/test/utt2lang \
        --out_dir exp/asr/decode/test [--languages en fr zh] [--title test] [--utt2spk dump/fbank/test/utt2spk]

``--lang_hyp`` is the ``lang`` file of ``espnet_ext.bin.asr_inference`` (``utt language posterior``).  Writes
lid.md, lid.json (``lid_acc`` in %, ``num_utts``, ``languages``, ``per_language``, ``confusion`` as
reference -> predicted -> count) and lid_confusion.png in --out_dir and prints the markdown.  ``--languages``
fixes the matrix's rows and columns (and their order); a language of either file outside it is an error.
``--utt2spk`` adds the accuracy per speaker (``per_speaker``), worst first: errors that gather on a few
speakers point at voices the head has not learnt to see past (docs/lid_routing.md, "Unseen voices").
The two files must hold the same utterances; every error names the file, the line and the utterance, and
nothing is written then.  The computation is :mod:`espnet_ext.utils.lid_confusion`.
"""

import argparse
import sys
from pathlib import Path

from espnet_ext.utils.cli import cli_main
from espnet_ext.utils.lid_confusion import load_lid_summary, markdown, write_lid_report


@cli_main()
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lang_hyp", type=Path, required=True, help="asr_inference's <output_dir>/lang")
    p.add_argument("--utt2lang", type=Path, required=True, help="reference 'utt language' of the decoded set")
    p.add_argument("--out_dir", type=Path, required=True)
    p.add_argument("--languages", nargs="+", default=None,
                   help="the inventory, in the matrix's order (default: the languages of both files, sorted)")
    p.add_argument("--title", default="LID")
    p.add_argument("--utt2spk", type=Path, default=None,
                   help="the set's utt2spk: adds the LID accuracy per speaker (every decoded utterance needs one)")
    args = p.parse_args(argv)
    summary = load_lid_summary(args.lang_hyp, args.utt2lang, args.languages, args.utt2spk)
    write_lid_report(summary, args.out_dir, args.title)
    print(markdown(summary, args.title), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
