"""Choose the length bonus of decoding on a dev set: decode it for every value of a grid and keep the one with
the lowest average CER over languages (ties: the smaller bonus).

Why: an under-trained attention decoder ends its hypotheses early (on the demo, at bonus 0 the 1-best held 68 %
of the reference characters; on users' own data 55-80 %), and ESPnet's ``penalty`` (a score added per output
token; beam search's ``length_bonus`` weight) counters it. The A2 paper names no bonus, so the paper's rows decode
with 0; the runner's model_rows hook calls this with ``--length_bonus_grid`` and decodes the test sets with the
chosen value (egs/own_data, docs/your_own_data.md).

Usage:
    python -m espnet_ext.bin.length_bonus_sweep --config conf/decode_asr.yaml --grid 0,0.5,1,2,3 \\
        --asr_train_config exp/asr_X/config.yaml --asr_model_file exp/asr_X/valid.acc.ave.pth \\
        --data_path_and_name_and_type dump/fbank/dev/feats.scp,speech,kaldi_ark \\
        --utt2lang dump/fbank/dev/utt2lang --ref dump/fbank/dev/text --output_dir exp/asr_X/length_bonus_dev \\
        [--sweep_nj 2] [any espnet_ext.bin.asr_inference option]

The model is loaded once per job; every value decodes with the same beam search, only the bonus weight changes.
Writes, under --output_dir: ``bonus_<v>/{1best_recog/,results.json}``, ``length_bonus_sweep.{md,json,png}``
(``best_value`` in the JSON) and prints the table.
"""

import json
import logging
import sys
from pathlib import Path
from typing import Dict, List, Sequence

from espnet_ext.fileio.kaldi_map import read_kaldi_map
from espnet_ext.utils.cli import cli_main, set_log_level
from espnet_ext.utils.decoding_grid import decode_grid, parse_grid
from espnet_ext.utils.error_rate import LanguageScores, score_decoding


def value_dir(out_dir: Path, value: float) -> Path:
    return Path(out_dir) / f"bonus_{value:g}"


def decode_values(args: Dict, values: Sequence[float], threads: int = 0) -> None:
    """Load the model once and decode the data with every length bonus of ``values`` (in-process)."""
    import torch

    from espnet_ext.asr.speech2text_builder import build_speech2text, decode

    if threads:
        torch.set_num_threads(threads)
    # ESPnet's beam search leaves out a scorer whose weight is 0 when it is built, so build it with a non-zero
    # bonus and set the weight per value (weight 0 then adds nothing: the same as decoding without the scorer).
    speech2text = build_speech2text(dict(args, penalty=1.0))
    for value in values:
        speech2text.beam_search.weights["length_bonus"] = value
        decode(speech2text, dict(args, output_dir=str(value_dir(args["output_dir"], value))))


def length_ratio(decoded: Path, refs: Dict[str, str]) -> float:
    """Characters of the 1-best hypotheses over characters of their references (spaces not counted)."""
    text = decoded / "1best_recog" / "text"
    hyps = read_kaldi_map(text, allow_empty_value=True) if text.is_file() else {}
    keys = read_kaldi_map(decoded / "1best_recog" / "token", allow_empty_value=True)
    ref_chars = sum(len(refs[k].replace(" ", "")) for k in keys)
    return round(sum(len(hyps.get(k, "").replace(" ", "")) for k in keys) / max(1, ref_chars), 3)


def summarize(values: Sequence[float], scores: Dict[float, LanguageScores], ratios: Dict[float, float]) -> dict:
    languages = sorted({lang for s in scores.values() for lang in s.cer})
    average = [round(scores[v].average_cer, 2) for v in values]
    best = values[min(range(len(values)), key=lambda i: (average[i], values[i]))]
    return {"grid": list(values), "cer": {lang: [round(scores[v].cer[lang].rate, 2) for v in values]
                                         for lang in languages},
            "average_cer": average, "length_ratio": [ratios[v] for v in values],
            "best_value": best, "best_average_cer": average[list(values).index(best)]}


def markdown(summary: dict, title: str) -> str:
    langs = list(summary["cer"])
    lines = [f"### {title}", "", "| length bonus | " + " | ".join(langs) + " | avg | hyp/ref length |",
             "|---:|" + "---:|" * (len(langs) + 2)]
    for i, value in enumerate(summary["grid"]):
        avg = f"{summary['average_cer'][i]:.1f}"
        if value == summary["best_value"]:
            avg = f"**{avg}**"
        lines.append(f"| {value:g} | " + " | ".join(f"{summary['cer'][lang][i]:.1f}" for lang in langs)
                     + f" | {avg} | {summary['length_ratio'][i]:.2f} |")
    lines += ["", f"chosen length bonus (lowest average CER): **{summary['best_value']:g}** "
              f"(average CER {summary['best_average_cer']:.1f} %)"]
    return "\n".join(lines) + "\n"


def plot(summary: dict, png: Path, title: str) -> None:
    """Average CER and the hypothesis/reference length ratio against the bonus."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = summary["grid"]
    fig, ax = plt.subplots(figsize=(5.0, 3.2))
    for lang, values in summary["cer"].items():
        ax.plot(grid, values, color="#bbbbbb", linewidth=0.8)
    ax.plot(grid, summary["average_cer"], marker="o", color="#4477aa", label="average CER (grey: languages)")
    ax.plot([summary["best_value"]], [summary["best_average_cer"]], marker="*", markersize=12, color="black")
    ax.set_xlabel("length bonus (ESPnet penalty)")
    ax.set_ylabel("CER (%)")
    ax2 = ax.twinx()
    ax2.plot(grid, summary["length_ratio"], marker="s", linestyle="--", color="#cc6677", label="hyp/ref length")
    ax2.set_ylabel("hypothesis / reference characters")
    fig.legend(loc="upper center", fontsize=8, ncol=2)
    ax.set_title(title, fontsize=9, pad=22)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def run(args: Dict, values: Sequence[float], sweep_nj: int = 1, title: str = "CER vs length bonus") -> dict:
    if not args.get("utt2lang"):
        raise ValueError("--utt2lang is required: the sweep chooses on the average CER over languages")
    out = Path(args["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    decode_grid(decode_values, args, values, sweep_nj)
    refs, utt2lang = read_kaldi_map(args["ref"]), read_kaldi_map(args["utt2lang"])
    scores, ratios = {}, {}
    for value in values:
        scores[value] = score_decoding(value_dir(out, value), refs, utt2lang)
        ratios[value] = length_ratio(value_dir(out, value), refs)
        (value_dir(out, value) / "results.json").write_text(json.dumps(scores[value].to_dict(), indent=2) + "\n")
    summary = summarize(values, scores, ratios)
    (out / "length_bonus_sweep.md").write_text(markdown(summary, title), encoding="utf-8")
    plot(summary, out / "length_bonus_sweep.png", title)
    # the JSON last: its presence says the sweep is complete (the runner reads best_value from it)
    (out / "length_bonus_sweep.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def get_parser():
    from espnet_ext.asr.speech2text_builder import get_parser as inference_parser

    parser = inference_parser()
    parser.description = "Decode a dev set over a grid of length bonuses and choose the one with the lowest average CER"
    parser.add_argument("--grid", type=str, default="0,0.5,1,2,3", help="comma-separated length bonus values")
    parser.add_argument("--ref", type=str, required=True, help="reference Kaldi text of the decoded set")
    parser.add_argument("--sweep_nj", type=int, default=1, help="values decoded in parallel processes")
    parser.add_argument("--sweep_title", type=str, default="CER vs length bonus (dev)")
    return parser


@cli_main()
def main(cmd=None) -> int:
    args = vars(get_parser().parse_args(cmd))
    args.pop("config", None)
    set_log_level(args["log_level"])
    if args.get("penalty"):  # from the decoding config or the command line: the grid replaces it
        logging.warning("penalty %s (decoding config or --penalty) is replaced by each value of --grid", args["penalty"])
    values, sweep_nj, title = parse_grid(args.pop("grid"), "--grid"), args.pop("sweep_nj"), args.pop("sweep_title")
    summary = run(args, values, sweep_nj, title)
    print(markdown(summary, title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
