"""τ sweep for Adjust-Inference (A2 paper, Appendix D, Fig. 9): decode a dev set for every τ of a grid and
report CER per language vs τ, and the best τ (lowest average CER over languages; ties: smaller τ).

Usage:
    python -m espnet_ext.bin.tau_sweep --config conf/decode_asr.yaml --taus 0,0.1,0.2,0.3,0.4,0.5,0.7,1.0 \
        --asr_train_config exp/asr_X/config.yaml --asr_model_file exp/asr_X/valid.acc.ave.pth \
        --data_path_and_name_and_type dump/fbank/dev/feats.scp,speech,kaldi_ark \
        --utt2lang dump/fbank/dev/utt2lang --ref dump/fbank/dev/text --output_dir exp/asr_X/tau_sweep/dev \
        [--token_prior exp/token_prior/token_prior.txt] [--sweep_nj 2] [any espnet_ext.bin.asr_inference option]

τ is the adjustment applied to the *raw* decoder output: τ = 0 decodes exactly as ESPnet does (for an
Adjust-Train model: from its raw logits, not its default adjusted ones).  The model is loaded once per job;
``--sweep_nj N`` decodes N τ values at a time in separate processes.  Writes, under --output_dir:
``tau_<τ>/{1best_recog/,results.json}``, ``tau_sweep.md``, ``tau_sweep.json`` and ``tau_sweep.png``.
"""

import json
import math
import sys
from pathlib import Path
from typing import Dict, List, Sequence

from espnet_ext.fileio.kaldi_map import read_kaldi_map
from espnet_ext.utils.cli import cli_main, set_log_level
from espnet_ext.utils.decoding_grid import decode_grid, parse_grid
from espnet_ext.utils.error_rate import LanguageScores, score_decoding


def parse_taus(text: str) -> List[float]:
    return parse_grid(text, "--taus", minimum=0.0)


def tau_dir(out_dir: Path, tau: float) -> Path:
    return Path(out_dir) / f"tau_{tau:g}"


def decode_taus(args: Dict, taus: Sequence[float], threads: int = 0) -> None:
    """Load the model once and decode the data for every τ of ``taus`` (in-process)."""
    import torch

    from espnet_ext.asr.scorers.logit_adjusted_scorer import LogitAdjustedScorer
    from espnet_ext.asr.speech2text_builder import build_speech2text, decode

    if threads:
        torch.set_num_threads(threads)
    speech2text = build_speech2text(dict(args, logit_adjust_tau=0.0))
    for tau in taus:
        LogitAdjustedScorer.attach(speech2text.beam_search, speech2text.asr_model, tau=tau,
                                   token_prior=args.get("token_prior"),
                                   per_language=bool(args.get("logit_adjust_per_language")))
        decode(speech2text, dict(args, output_dir=str(tau_dir(args["output_dir"], tau))))


def summarize(taus: Sequence[float], scores: Dict[float, LanguageScores]) -> dict:
    languages = sorted({lang for s in scores.values() for lang in s.cer})
    cer = {lang: [round(scores[t].cer[lang].rate, 2) for t in taus] for lang in languages}
    average = [round(scores[t].average_cer, 2) for t in taus]
    best = taus[min(range(len(taus)), key=lambda i: (average[i], taus[i]))]
    best_lang = {lang: taus[min(range(len(taus)), key=lambda i: (cer[lang][i], taus[i]))] for lang in languages}
    return {"taus": list(taus), "cer": cer, "average_cer": average,
            "pooled_cer": [round(scores[t].pooled_cer.rate, 2) for t in taus],
            "best_tau": best, "best_average_cer": average[list(taus).index(best)], "best_tau_per_language": best_lang}


def markdown(summary: dict, title: str) -> str:
    langs = list(summary["cer"])
    lines = [f"### {title}", "", "| τ | " + " | ".join(langs) + " | avg | pooled |",
             "|---:|" + "---:|" * (len(langs) + 2)]
    for i, tau in enumerate(summary["taus"]):
        cells = [f"{summary['cer'][lang][i]:.1f}" for lang in langs]
        avg = f"{summary['average_cer'][i]:.1f}"
        if tau == summary["best_tau"]:
            avg = f"**{avg}**"
        lines.append(f"| {tau:g} | " + " | ".join(cells) + f" | {avg} | {summary['pooled_cer'][i]:.1f} |")
    lines += ["", f"best τ (lowest average CER): **{summary['best_tau']:g}** "
              f"(average CER {summary['best_average_cer']:.1f}%); per language: "
              + ", ".join(f"{lang} {t:g}" for lang, t in summary["best_tau_per_language"].items())]
    return "\n".join(lines) + "\n"


def plot(summary: dict, png: Path, title: str) -> None:
    """Small multiples like Fig. 9: CER vs τ per language, plus the average."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = list(summary["cer"].items()) + [("average", summary["average_cer"])]
    cols = min(4, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.4 * rows), squeeze=False)
    taus = summary["taus"]
    for ax, (name, values) in zip(axes.flat, panels):
        ax.plot(taus, values, marker="o", color="#cc6677" if name == "average" else "#4477aa")
        i = min(range(len(taus)), key=lambda k: (values[k], taus[k]))
        ax.plot([taus[i]], [values[i]], marker="*", markersize=12, color="black")
        ax.set_title(f"{name} (best τ={taus[i]:g})", fontsize=9)
        ax.set_xlabel("τ", fontsize=8)
        ax.set_ylabel("CER (%)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def run(args: Dict, taus: Sequence[float], sweep_nj: int = 1, title: str = "CER vs τ (Adjust-Inference)") -> dict:
    if args.get("logit_adjust_tau") is not None:
        raise ValueError("--logit_adjust_tau is set by the sweep; give the grid with --taus")
    if not args.get("utt2lang"):
        raise ValueError("--utt2lang is required: the sweep reports CER per language")
    out = Path(args["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    decode_grid(decode_taus, args, taus, sweep_nj)
    refs, utt2lang = read_kaldi_map(args["ref"]), read_kaldi_map(args["utt2lang"])
    scores = {}
    for tau in taus:
        scores[tau] = score_decoding(tau_dir(out, tau), refs, utt2lang)
        (tau_dir(out, tau) / "results.json").write_text(json.dumps(scores[tau].to_dict(), indent=2) + "\n")
    summary = summarize(taus, scores)
    (out / "tau_sweep.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "tau_sweep.md").write_text(markdown(summary, title), encoding="utf-8")
    plot(summary, out / "tau_sweep.png", title)
    return summary


def get_parser():
    from espnet_ext.asr.speech2text_builder import get_parser as inference_parser

    parser = inference_parser()
    parser.description = "Decode a dev set over a grid of Adjust-Inference τ values and report CER per language"
    parser.add_argument("--taus", type=str, default="0,0.1,0.2,0.3,0.4,0.5,0.7,1.0", help="comma-separated τ grid")
    parser.add_argument("--ref", type=str, required=True, help="reference Kaldi text of the decoded set")
    parser.add_argument("--sweep_nj", type=int, default=1, help="τ values decoded in parallel processes")
    parser.add_argument("--sweep_title", type=str, default="CER vs τ (Adjust-Inference)")
    return parser


@cli_main()
def main(cmd=None) -> int:
    args = vars(get_parser().parse_args(cmd))
    args.pop("config", None)
    set_log_level(args["log_level"])
    taus, sweep_nj, title = parse_taus(args.pop("taus")), args.pop("sweep_nj"), args.pop("sweep_title")
    summary = run(args, taus, sweep_nj, title)
    print(markdown(summary, title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
