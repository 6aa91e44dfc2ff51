"""Token priors of the training targets, smoothed by eq. 6 of the A2 paper (for logit adjustment).

Usage:
    python -m espnet_ext.bin.compute_token_priors --text dump/fbank/train/text \
        --token_list data/token_list/bpe_unigram300/tokens.txt --bpemodel data/token_list/bpe_unigram300/bpe.model \
        [--token_type bpe] [--utt2lang dump/fbank/train/utt2lang] --out exp/token_prior_bpe_unigram300/token_prior.txt

Writes the prior file (format: espnet_ext/asr/token_prior.py; per-language columns with --utt2lang), a PNG of
the token-frequency distribution next to it (same name, .png) and prints a JSON summary.  Fast: no ESPnet import.
"""

import argparse
import json
import sys
from pathlib import Path

from espnet_ext.asr.token_prior import TokenPrior
from espnet_ext.fileio.kaldi_map import read_kaldi_map
from espnet_ext.text.sentencepiece_vocab import read_token_list
from espnet_ext.utils.cli import cli_main


@cli_main()
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", type=Path, required=True, help="Kaldi text of the training set")
    p.add_argument("--token_list", type=Path, required=True, help="ESPnet token list used for training")
    p.add_argument("--bpemodel", type=Path, default=None, help="SentencePiece model (token_type bpe)")
    p.add_argument("--token_type", choices=("bpe", "char"), default="bpe")
    p.add_argument("--utt2lang", type=Path, default=None, help="also write one prior per language")
    p.add_argument("--out", type=Path, required=True, help="prior file to write (PNG goes next to it)")
    args = p.parse_args(argv)
    tokens = read_token_list(args.token_list)
    tokenize = TokenPrior.tokenizer(args.token_type, args.bpemodel)
    utt2lang = read_kaldi_map(args.utt2lang) if args.utt2lang else None
    prior = TokenPrior.from_transcripts(read_kaldi_map(args.text), tokens, tokenize, utt2lang, source=str(args.text))
    prior.write(args.out)
    prior.plot(args.out.with_suffix(".png"), title=f"Token frequency: {args.text}")
    print(json.dumps(dict(prior.summary(), out=str(args.out), png=str(args.out.with_suffix(".png"))),
                     ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
