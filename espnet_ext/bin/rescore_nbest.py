"""Rescore ESPnet n-best lists with an LM and a word-count term (eq. 5, Winata et al., arXiv:2004.14228, §4.2).

Usage:
    python -m espnet_ext.bin.rescore_nbest --decode_dir exp/asr/decode_nbest5/test \\
        --lm_train_config exp/lm_meta/config.yaml --lm_file exp/lm_meta/valid.loss.best.pth \\
        --config conf/rescore_lm.yaml --output_dir exp/asr/decode_nbest5/test/rescored

``--decode_dir`` holds ``<n>best_recog/{score,text}`` written by ``espnet_ext.bin.asr_inference --nbest N``
(or, as egs/TEMPLATE/asr1/asr.sh leaves it, ``logdir/output.*/<n>best_recog`` per decoding job).
Writes ``<output_dir>/text`` (the rescored 1-best, Kaldi format, scorable like ``1best_recog/text``) and
``<output_dir>/details.tsv`` (utt, chosen rank, asr, lm, wc, total) and ``<output_dir>/summary.json``
(weights, utterances, how many changed from the beam's 1-best, and ``seconds``: the time of reading and
rescoring the lists, LM loading left out, for decoding-time comparisons).
"""

import argparse
import json
import logging
import re
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

from espnet2.utils.config_argparse import ArgumentParser
from espnet2.utils.types import str_or_none

from espnet_ext.asr.nbest_rescorer import NbestRescorer, espnet_lm_scorer
from espnet_ext.fileio.kaldi_map import read_kaldi_map, write_kaldi_map
from espnet_ext.utils.cli import cli_main

_NBEST_DIR = re.compile(r"^(\d+)best_recog$")


def _ranks(d: Path) -> List[int]:
    return sorted(int(m.group(1)) for p in d.glob("*best_recog") if (m := _NBEST_DIR.match(p.name)))


def read_nbest(decode_dir: Path, nbest: Optional[int] = None) -> Dict[str, List[Dict[str, str]]]:
    """``{utt: [{'text', 'score'}, ...]}`` in rank order from ``<decode_dir>/<n>best_recog``; when only the
    1-best was merged there (egs/TEMPLATE asr.sh merges 1 by default), from the per-job
    ``<decode_dir>/logdir/output.*/<n>best_recog`` shards instead."""
    decode_dir = Path(decode_dir)
    shards = [decode_dir]
    if len(_ranks(decode_dir)) <= 1:
        split = sorted(decode_dir.glob("logdir/output.*"), key=lambda p: p.name)
        if split and max(len(_ranks(p)) for p in split) > 1:
            shards = split
    out: Dict[str, List[Dict[str, str]]] = {}
    for shard in shards:
        ranks = _ranks(shard)
        if not ranks:
            raise FileNotFoundError(f"{shard}: no <n>best_recog directories (decode with --nbest N)")
        if nbest is not None:
            if nbest > ranks[-1]:
                raise ValueError(f"--nbest {nbest} but {shard} holds only {ranks[-1]}best_recog")
            ranks = [r for r in ranks if r <= nbest]
        for r in ranks:
            d = shard / f"{r}best_recog"
            scores = read_kaldi_map(d / "score")
            texts = read_kaldi_map(d / "text", allow_empty_value=True) if (d / "text").is_file() else {}
            for utt, score in scores.items():
                out.setdefault(utt, []).append({"text": texts.get(utt, ""), "score": score})
    return out


def get_parser() -> argparse.ArgumentParser:
    # ESPnet's ArgumentParser adds --config: a YAML with alpha/beta/gamma (conf/rescore_lm.yaml).
    parser = ArgumentParser(description="N-best rescoring with eq. 5: α log P(Y|X) + β log p_lm(Y) + γ √wc(Y)")
    parser.add_argument("--decode_dir", type=Path, required=True, help="dir with <n>best_recog/{score,text}")
    parser.add_argument("--output_dir", type=Path, required=True)
    parser.add_argument("--lm_train_config", type=str_or_none, default=None)
    parser.add_argument("--lm_file", type=str_or_none, default=None)
    parser.add_argument("--nbest", type=int, default=None, help="use the first N hypotheses (default: all)")
    parser.add_argument("--alpha", type=float, default=1.0, help="α: weight of log P(Y|X)")
    parser.add_argument("--beta", type=float, default=0.1, help="β: weight of log p_lm(Y)")
    parser.add_argument("--gamma", type=float, default=0.1, help="γ: weight of √wc(Y)")
    parser.add_argument("--device", type=str, default="cpu")
    return parser


@cli_main()
def main(cmd: Optional[List[str]] = None) -> None:
    args = get_parser().parse_args(cmd)
    lm = None
    if args.beta != 0:
        if not (args.lm_train_config and args.lm_file):
            raise ValueError("--beta != 0 needs --lm_train_config and --lm_file")
        lm = espnet_lm_scorer(args.lm_train_config, args.lm_file, args.device)
    rescorer = NbestRescorer(lm, alpha=args.alpha, beta=args.beta, gamma=args.gamma)
    start = time.perf_counter()  # LM loading (and the import it triggers) left out, as in decoding-time logs
    best = rescorer.rescore_all(read_nbest(args.decode_dir, args.nbest))
    seconds = time.perf_counter() - start
    args.output_dir.mkdir(parents=True, exist_ok=True)
    write_kaldi_map(args.output_dir / "text", {u: h.text for u, h in best.items()})
    with (args.output_dir / "details.tsv").open("w", encoding="utf-8") as f:
        f.write("utt\trank\tasr\tlm\twc\ttotal\n")
        for u, h in best.items():
            f.write(f"{u}\t{h.rank}\t{h.asr:.4f}\t{h.lm:.4f}\t{h.wc}\t{h.total:.4f}\n")
    changed = sum(h.rank != 1 for h in best.values())
    summary = {"alpha": args.alpha, "beta": args.beta, "gamma": args.gamma, "utterances": len(best),
               "changed": changed, "seconds": round(seconds, 3)}
    (args.output_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    logging.info("rescored %d utterances (%d changed from the beam's 1-best) in %.2f s -> %s", len(best), changed,
                 seconds, args.output_dir / "text")


if __name__ == "__main__":
    sys.exit(main())
