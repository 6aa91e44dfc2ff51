"""Perplexity of code-switching LMs on valid/test transcripts, in the layout of Table 4 of Winata et al.,
arXiv:2004.14228 (rows: models; columns: valid, test).

PPL = exp(Σ_utt −log p(y_1..y_n, <eos>) / Σ_utt (n + 1)): every token of the LM's own unit (char / bpe / word,
as the LM was trained) and the closing ``<sos/eos>`` count, as ESPnet's LM loss and
``espnet2.bin.lm_calc_perplexity`` do.  Perplexities of LMs with different units are not comparable.

Usage:
    python -m espnet_ext.bin.lm_perplexity --valid data/cs_dev/text --test data/cs_test/text \\
        --model only_cs=exp/lm_only_cs --model joint=exp/lm_joint --model joint+ft=exp/lm_joint_ft \\
        --model meta=exp/lm_meta --model meta+ft=exp/lm_meta_ft --out exp/lm_table4.md

``--model NAME=DIR`` reads ``DIR/config.yaml`` and ``DIR/valid.loss.best.pth`` (``NAME=CONFIG,PTH`` names
both files).  Writes the Markdown table to ``--out`` and the numbers as JSON beside it (``.json``).
"""

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from espnet_ext.fileio.kaldi_map import read_kaldi_map
from espnet_ext.utils.cli import cli_main
from espnet_ext.utils.lm_scoring import sentence_nll

DEFAULT_MODEL_FILE = "valid.loss.best.pth"


def corpus_nll(model, token_ids: List[np.ndarray], device: str = "cpu") -> Tuple[float, int]:
    """(total −log p in nats, number of predicted tokens incl. each <eos>) of an ESPnet LM."""
    return float(sum(sentence_nll(model, token_ids, device=device))), sum(len(x) + 1 for x in token_ids)


def text_perplexity(model, preprocess: Callable, texts: Dict[str, str], device: str = "cpu") -> float:
    """Perplexity of the transcripts ``{utt: text}``, tokenised by the LM's own preprocessor."""
    if not texts:
        raise ValueError("no transcripts to compute a perplexity on")
    ids = [np.asarray(preprocess(utt, {"text": t})["text"], dtype=np.int64) for utt, t in texts.items()]
    nll, n = corpus_nll(model, ids, device=device)
    return math.exp(nll / n)


def _model_files(spec: str) -> Tuple[str, str, str]:
    if "=" not in spec:
        raise ValueError(f"--model expects NAME=DIR or NAME=CONFIG,PTH, got '{spec}'")
    name, rest = spec.split("=", 1)
    if "," in rest:
        config, pth = rest.split(",", 1)
    else:
        config, pth = str(Path(rest) / "config.yaml"), str(Path(rest) / DEFAULT_MODEL_FILE)
    for p in (config, pth):
        if not Path(p).is_file():
            raise FileNotFoundError(f"--model {spec}: '{p}' does not exist")
    return name, config, pth


def table4(rows: Dict[str, Dict[str, float]], sets: List[str]) -> str:
    lines = ["| Model | " + " | ".join(sets) + " |", "|---|" + "---:|" * len(sets)]
    for name, ppl in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{ppl[s]:.2f}" for s in sets) + " |")
    return "\n".join(lines) + "\n"


@cli_main()
def main(cmd: Optional[List[str]] = None) -> None:
    from espnet2.tasks.lm import LMTask

    parser = argparse.ArgumentParser(description="LM perplexity table (Table 4 layout)")
    parser.add_argument("--model", action="append", required=True, help="NAME=DIR or NAME=CONFIG,PTH (repeat)")
    parser.add_argument("--valid", type=Path, required=True, help="Kaldi text of the validation set")
    parser.add_argument("--test", type=Path, required=True, help="Kaldi text of the test set")
    parser.add_argument("--out", type=Path, default=None, help="Markdown table to write (and .json beside it)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(cmd)
    sets = {"valid": read_kaldi_map(args.valid, allow_empty_value=True),
            "test": read_kaldi_map(args.test, allow_empty_value=True)}
    rows: Dict[str, Dict[str, float]] = {}
    for spec in args.model:
        name, config, pth = _model_files(spec)
        model, train_args = LMTask.build_model_from_file(config, pth, args.device)
        preprocess = LMTask.build_preprocess_fn(train_args, False)
        if preprocess is None:
            raise ValueError(f"{config}: trained with use_preprocessor false; text cannot be tokenised")
        rows[name] = {s: text_perplexity(model, preprocess, texts, args.device) for s, texts in sets.items()}
    table = table4(rows, list(sets))
    print(table, end="")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table, encoding="utf-8")
        args.out.with_suffix(".json").write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
