"""The sampling-temperature sweep of issue 21: CER per language group against alpha (p_l ∝ n_l^alpha).

Usage:
    python -m paper_results.alpha_sweep --out results/benchmark/alpha_sweep/alpha_sweep \\
        [--ref smt=exp/.../asr_train_smt_transformer_cpu_seed1/decode_.../dev/results.json] \\
        0=exp/.../asr_train_a2_..._seed1/decode_.../dev/results.json \\
        0.5=exp/.../asr_train_a2_..._lang_balanced_alpha0.5_seed1/decode_.../dev/results.json ...

Each positional argument is ALPHA=results.json (score_cer's, stage 7) of one model trained with
``--lang_balanced_alpha ALPHA`` (0: the BS sampler of A2, 1: the corpus proportions), decoded on the same set
(the sweep is read on dev, the choice made there, and test kept for the seeds). Columns: the languages, the
mean of each group (paper_results.a2_results_table.GROUPS: high en fr es, intermediate it ru zh tt, low nl tr ky
sv) and the unweighted average. ``--ref NAME=results.json`` adds a model drawn as dashed lines (e.g. SMT).

Writes <out>.md (one row per alpha, the reference last, the best alpha per column in bold), <out>.json
({"alpha": {column: CER}}, "ref": {...}, "best": {column: alpha}) and <out>.png (group means and the average
against alpha).
"""

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Dict, Optional, Tuple

from espnet_ext.utils.cli import cli_main, named_paths
from paper_results.a2_results_table import GROUPS, column_values, read_results

SUMMARY = [f"{g} avg" for g in GROUPS] + ["avg"]


def parse_alpha(text: str) -> float:
    try:
        alpha = float(text)
    except ValueError:
        raise ValueError(f"'{text}' is not an alpha: expected a number in [0, 1]") from None
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha {text} is outside [0, 1]")
    return alpha


def sweep_table(points: Dict[float, Dict[str, float]]) -> Dict[float, Dict[str, Optional[float]]]:
    """{alpha: per-language CERs} -> {alpha: columns} in increasing alpha."""
    return {a: column_values(points[a], GROUPS) for a in sorted(points)}


def best_alpha(table: Dict[float, Dict[str, Optional[float]]]) -> Dict[str, float]:
    """The alpha with the lowest CER per column (the smaller alpha on a tie)."""
    columns = next(iter(table.values())).keys()
    return {c: min((v[c], a) for a, v in table.items() if v[c] is not None)[1] for c in columns
            if any(v[c] is not None for v in table.values())}


def render(table: Dict[float, Dict[str, Optional[float]]], ref: Optional[Tuple[str, Dict[str, Optional[float]]]],
           best: Dict[str, float], title: str) -> str:
    columns = list(next(iter(table.values())))
    cell = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    lines = [f"# {title}", "", "| alpha | " + " | ".join(columns) + " |",
             "|---" + "|---:" * len(columns) + "|"]
    for a, values in table.items():
        cells = [f"**{cell(values[c])}**" if best.get(c) == a else cell(values[c]) for c in columns]
        lines.append(f"| {a:g} | " + " | ".join(cells) + " |")
    if ref is not None:
        lines.append(f"| {ref[0]} (reference) | " + " | ".join(cell(ref[1][c]) for c in columns) + " |")
    lines += ["", "CER %; alpha: language shares p_l ∝ n_l^alpha (0 = BS, 1 = the corpus proportions); bold: the "
              "best alpha of each column."]
    return "\n".join(lines) + "\n"


def plot(table: Dict[float, Dict[str, Optional[float]]], ref: Optional[Tuple[str, Dict[str, Optional[float]]]],
         title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    alphas = list(table)
    for i, column in enumerate(SUMMARY):
        color = f"C{i}"
        ax.plot(alphas, [table[a][column] for a in alphas], marker="o", color=color, label=column,
                linewidth=2.5 if column == "avg" else 1.5)
        if ref is not None and ref[1].get(column) is not None:
            ax.axhline(ref[1][column], color=color, linestyle="--", linewidth=1)
    if ref is not None:
        ax.plot([], [], color="grey", linestyle="--", label=f"{ref[0]} (dashed)")
    ax.set_xlabel("alpha (0 = balanced, 1 = corpus proportions)")
    ax.set_ylabel("CER %")
    ax.set_title("\n".join(textwrap.wrap(title, 60)), fontsize=10)  # a long title wraps instead of being cut
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("points", nargs="+", metavar="ALPHA=RESULTS_JSON", help="one model per alpha")
    p.add_argument("--ref", metavar="NAME=RESULTS_JSON", help="a reference model drawn as dashed lines")
    p.add_argument("--out", type=Path, required=True, help="output prefix: <out>.md, <out>.json, <out>.png")
    p.add_argument("--title", default="CER against the sampling temperature alpha")
    return p


@cli_main()
def main(argv=None) -> int:
    parser = get_parser()
    args = parser.parse_args(argv)
    named = named_paths(args.points, parser, "ALPHA=RESULTS_JSON", "alpha")
    points: Dict[float, Dict[str, float]] = {}
    for text, path in named.items():
        alpha = parse_alpha(text)
        if alpha in points:
            raise ValueError(f"alpha {text} given twice")
        points[alpha] = read_results(path)
    if len(points) < 2:
        raise ValueError("a sweep needs at least two alpha values")
    ref = None
    if args.ref is not None:
        (name, path), = named_paths([args.ref], parser, "NAME=RESULTS_JSON", "reference").items()
        ref = (name, column_values(read_results(path), GROUPS))
    table = sweep_table(points)
    best = best_alpha(table)
    md = render(table, ref, best, args.title)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    png = args.out.with_name(args.out.name + ".png")
    plot(table, ref, args.title, png)  # first: a failed plot leaves no table behind
    report = {"alpha": {f"{a:g}": v for a, v in table.items()}, "ref": None if ref is None else {ref[0]: ref[1]},
              "best": {c: a for c, a in best.items()}}
    args.out.with_name(args.out.name + ".json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    args.out.with_name(args.out.name + ".md").write_text(md, encoding="utf-8")
    print(md, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
