"""Decoding time with vs without LM shallow fusion of eq. 5 (Winata et al., arXiv:2004.14228, §4.2): not a test.

Usage:
    python -m benchmarks.bench_lm_decoding [--utts 8] [--frames 60] [--repeats 3] [--beam_size 5] \\
        [--asr_unit 32 --lm_unit 256]

Builds a tiny random transformer ASR model and a 2-layer LSTM LM (espnet_ext.tasks.multitask_lm) over the
same char token list (EN letters + CJK characters), then decodes the same random feature sequences with
ESPnet's beam search twice per repeat — plain (decoder only) and fused (+ β·LM + γ·√wc, β = γ = 0.1) —
alternating which goes first, after one untimed warm-up of each.  Prints JSON with per-repeat seconds, the
median ratio fused / plain and the mean hypothesis lengths (the ratio is per utterance; with untrained models
both run to the maximum length, so it measures the per-step cost of the LM and word-count scorers).
"""

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import torch
import yaml

from espnet_ext.checkpoint_io import save_atomic
from espnet_ext.utils.cli import cli_main

TOKENS = (["<blank>", "<unk>", "<space>", "'"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
          + [chr(0x4E00 + i) for i in range(200)] + ["<sos/eos>"])


def write_model(root: Path, name: str, task, argv: List[str]) -> Tuple[str, str]:
    """Build a random model of ``task`` from command-line ``argv``; write ``<name>.yaml`` and ``<name>.pth``
    under ``root`` (the files ``Speech2Text`` loads) and return their paths."""
    args = task.get_parser().parse_args(["--output_dir", str(root)] + list(argv))
    torch.manual_seed(0)
    model = task.build_model(args)
    (root / f"{name}.yaml").write_text(yaml.safe_dump(vars(args), allow_unicode=True), encoding="utf-8")
    save_atomic(model.state_dict(), root / f"{name}.pth")
    return str(root / f"{name}.yaml"), str(root / f"{name}.pth")


def write_lm(root: Path, token_list: Path, lm_unit: int, name: str = "lm") -> Tuple[str, str]:
    """A random 2-layer LSTM LM of ``espnet_ext.tasks.multitask_lm`` over the char ``token_list``."""
    from espnet_ext.tasks.multitask_lm import MultitaskLMTask

    return write_model(root, name, MultitaskLMTask, [
        "--token_list", str(token_list), "--token_type", "char", "--lm", "seq_rnn",
        "--lm_conf", f"{{rnn_type: lstm, nlayers: 2, unit: {lm_unit}}}"])


def write_tokens(path: Path) -> Path:
    path.write_text("\n".join(TOKENS) + "\n", encoding="utf-8")
    return path


def _write_models(root: Path, asr_unit: int, lm_unit: int):
    from espnet2.tasks.asr import ASRTask

    tokens = write_tokens(root / "tokens.txt")
    asr = write_model(root, "asr", ASRTask, [
        "--token_list", str(tokens), "--token_type", "char", "--input_size", "8",
        "--normalize", "none", "--encoder", "transformer", "--decoder", "transformer",
        "--encoder_conf", f"{{output_size: {asr_unit}, attention_heads: 4, linear_units: {4 * asr_unit}, "
                          "num_blocks: 2, input_layer: linear}",
        "--decoder_conf", f"{{attention_heads: 4, linear_units: {4 * asr_unit}, num_blocks: 4}}",
        "--model_conf", "{ctc_weight: 0.0}"])
    return {"asr": asr, "lm": write_lm(root, tokens, lm_unit)}


@cli_main()
def main(cmd: Optional[List[str]] = None) -> int:
    from espnet2.bin.asr_inference import Speech2Text

    from espnet_ext.asr.scorers.word_count_bonus import WordCountBonus
    from benchmarks.bench_adjust_inference import time_decoding

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utts", type=int, default=8)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--beam_size", type=int, default=5)
    parser.add_argument("--asr_unit", type=int, default=32)
    parser.add_argument("--lm_unit", type=int, default=256)
    parser.add_argument("--lm_weight", type=float, default=0.1)
    parser.add_argument("--word_count_weight", type=float, default=0.1)
    args = parser.parse_args(cmd)
    rng = np.random.default_rng(0)
    feats = [rng.normal(size=(args.frames, 8)).astype(np.float32) for _ in range(args.utts)]
    with tempfile.TemporaryDirectory() as tmp:
        files = _write_models(Path(tmp), args.asr_unit, args.lm_unit)
        common = dict(asr_train_config=files["asr"][0], asr_model_file=files["asr"][1], beam_size=args.beam_size,
                      ctc_weight=0.0, maxlenratio=0.0, minlenratio=0.0, nbest=1, device="cpu")
        plain = Speech2Text(**common, lm_weight=0.0)
        fused = Speech2Text(**common, lm_train_config=files["lm"][0], lm_file=files["lm"][1], lm_weight=args.lm_weight)
        WordCountBonus.attach(fused.beam_search, fused.asr_model.token_list, "char", args.word_count_weight)
        systems = {"plain": plain, "fused": fused}

        def decode_all(s2t):
            timing = time_decoding(s2t, list(enumerate(feats)))
            return timing["wall_s"], timing["mean_len"]

        for s2t in systems.values():  # warm-up
            decode_all(s2t)
        runs = []
        for r in range(args.repeats):
            order = ("plain", "fused") if r % 2 == 0 else ("fused", "plain")
            runs.append({name: decode_all(systems[name]) for name in order})
    ratios = [run["fused"][0] / run["plain"][0] for run in runs]
    print(json.dumps({
        "utterances": args.utts, "frames": args.frames, "beam_size": args.beam_size, "repeats": args.repeats,
        "lm": f"2-layer LSTM, unit {args.lm_unit}", "asr": f"transformer 2 enc / 4 dec, d {args.asr_unit}",
        "vocab": len(TOKENS), "lm_weight": args.lm_weight, "word_count_weight": args.word_count_weight,
        "torch_threads": torch.get_num_threads(),
        "plain_s": [round(run["plain"][0], 4) for run in runs], "fused_s": [round(run["fused"][0], 4) for run in runs],
        "mean_hyp_len_plain": runs[0]["plain"][1], "mean_hyp_len_fused": runs[0]["fused"][1],
        "ratio_median": round(statistics.median(ratios), 4), "ratios": [round(x, 4) for x in ratios]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
