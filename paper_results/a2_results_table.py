"""Our CERs in the layout of the A2 paper's Table 1, with the paper's numbers beside them.

Usage:
    python -m paper_results.a2_results_table \
        --exp "SMT=exp/full/asr_train_smt_transformer/decode_decode_asr_valid.acc.ave/test/results.json" \
        --exp "A2 (Adjust-Inference)=exp/full/asr_.../results.json" [--paper_row "SMT=SMT"] [--format md|tsv|json] \
        [--png table1.png]

Each cell reads ``ours / paper`` (CER %, ``-`` where missing).  An experiment is compared with the paper row
of the same name unless ``--paper_row NAME=ROW`` names another (rows: Tables 1, 2 and 5, and Table 13 with
the prefix "5h "). Columns follow Table 1: per-language CER grouped high-resource (en fr es), intermediate
(it ru zh tt) and low-resource (nl tr ky sv) as we read the paper's grouping (Table 1/6 headers; Fig. 9
picks fr, it and ky as one language per group; ``--groups`` changes it), the mean of each group, and the
unweighted average over languages (the paper's "avg"; recomputed from the shown languages).
results.json files are written by espnet_ext.bin.score_cer (stage 7).

#params: a column when any row has a count, from ``--params NAME=COUNT`` or else from the experiment's model
file next to the results (``exp/<row>/valid.acc.ave.pth``, else ``valid.loss.ave.pth``, for
``exp/<row>/<decode tag>/<set>/results.json``): the floating-point tensors of its state dict, i.e. the
parameters plus float buffers such as feature-normalisation statistics and token priors (a few thousand values).
"""

import argparse
import functools
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from espnet_ext.utils.cli import cli_main

LANGUAGES = ("en", "fr", "es", "it", "ru", "zh", "tt", "nl", "tr", "ky", "sv")
GROUPS = {"high": ("en", "fr", "es"), "intermediate": ("it", "ru", "zh", "tt"), "low": ("nl", "tr", "ky", "sv")}

# A2 paper, Table 1 (test CER %, CommonVoice, Table 6 training hours), in LANGUAGES order; last = avg.
PAPER_TABLE1: Dict[str, Tuple[float, ...]] = {
    "Monolingual (full)": (13.3, 11.5, 11.1, 20.7, 10.3, 28.2, 13.6, 23.0, 28.0, 30.0, 56.1, 22.3),
    "Monolingual": (22.6, 20.1, 17.3, 20.7, 23.9, 37.6, 20.7, 38.1, 30.3, 31.6, 57.7, 29.1),
    "SMT": (20.1, 17.4, 13.0, 12.5, 13.7, 34.1, 12.2, 18.7, 13.9, 14.4, 26.4, 17.9),
    "BS": (25.2, 20.3, 14.5, 12.7, 13.2, 32.6, 11.5, 18.0, 12.9, 13.4, 22.8, 17.9),
    "LAN-Specific Adapters": (24.2, 19.4, 13.9, 12.3, 11.8, 32.0, 10.7, 16.9, 11.8, 12.7, 21.7, 17.0),
    "LID": (25.7, 19.2, 13.7, 12.0, 12.0, 31.6, 10.8, 16.4, 12.0, 12.5, 21.8, 17.1),
    "LID + Adjust-Train": (24.7, 18.5, 13.0, 11.3, 11.6, 31.2, 10.4, 16.4, 11.6, 12.4, 22.0, 16.6),
    "A2 (Adjust-Inference)": (22.6, 17.9, 12.7, 11.2, 11.2, 30.1, 10.2, 15.8, 11.4, 12.2, 21.1, 16.0),
    "A2 (Adjust-Train)": (22.0, 17.7, 12.5, 11.3, 11.1, 30.4, 10.0, 15.9, 11.3, 12.1, 21.3, 16.0),
}
# A2 paper, Table 13 (five hours per language, Appendix I).
PAPER_TABLE13: Dict[str, Tuple[float, ...]] = {
    "5h Monolingual ST": (69.6, 61.1, 56.5, 49.8, 49.6, 96.4, 32.8, 57.5, 49.6, 43.7, 56.1, 56.5),
    "5h Monolingual ST + mBERT": (67.3, 56.1, 51.0, 45.4, 42.8, 73.2, 29.6, 52.9, 46.1, 39.6, 55.1, 50.8),
    "5h SMT": (41.4, 33.5, 25.2, 22.3, 21.9, 43.0, 15.5, 24.9, 18.7, 18.9, 28.9, 26.7),
    "5h SMT + mBERT": (40.9, 32.6, 24.3, 21.0, 19.9, 42.1, 14.5, 23.8, 17.3, 17.4, 26.7, 25.5),
    "5h SMT + mBERT + Adapters": (36.7, 28.6, 21.3, 18.3, 17.2, 38.2, 12.9, 20.9, 15.1, 15.1, 23.9, 22.6),
    "5h A2 (Adjust-Inference)": (36.5, 28.4, 21.0, 18.0, 16.9, 38.0, 12.7, 20.6, 14.8, 15.0, 23.7, 22.3),
}
# A2 paper, Table 2 (mBERT ablation) rows not already in Table 1 (its SMT and BS rows equal Table 1's).
PAPER_TABLE2: Dict[str, Tuple[float, ...]] = {
    "SMT + mBERT": (20.4, 17.9, 13.4, 13.0, 14.0, 34.8, 12.4, 18.9, 14.0, 14.3, 26.2, 18.1),
    "BS + mBERT": (25.0, 20.0, 15.4, 12.6, 13.2, 32.9, 11.1, 17.3, 12.6, 12.8, 22.8, 17.8),
    "BS + Dual-Adapters": (23.5, 18.9, 13.5, 12.1, 12.3, 31.0, 10.9, 16.5, 12.0, 12.9, 21.6, 16.8),
    "BS + Dual-Adapters + mBERT": (23.4, 18.6, 13.4, 11.8, 11.7, 30.8, 10.8, 16.2, 11.6, 12.4, 21.5, 16.5),
    "SMT + Adjust-Train": (20.2, 16.9, 12.5, 11.9, 13.1, 32.9, 11.3, 18.5, 13.5, 13.9, 25.3, 17.3),
    "SMT + Adjust-Train + mBERT": (19.4, 16.5, 12.1, 11.7, 12.2, 31.1, 11.0, 17.5, 12.7, 13.2, 24.6, 16.5),
    "A2 with mBERT": (22.0, 17.7, 12.5, 11.3, 11.1, 30.4, 10.0, 15.8, 11.3, 12.1, 21.3, 16.0),
    "A2 with XLM-R": (22.1, 17.6, 12.5, 11.4, 11.4, 29.6, 10.3, 15.9, 11.5, 12.1, 21.4, 16.0),
}
# A2 paper, Table 5 (logit adjustments; every row there has the mBERT decoder) rows not in Tables 1-2.
PAPER_TABLE5: Dict[str, Tuple[float, ...]] = {
    "SMT + mBERT + Adjust-Inference": (20.1, 17.2, 13.4, 12.2, 13.2, 34.0, 11.5, 18.3, 13.4, 13.2, 26.1, 17.6),
    "BS + mBERT + Adjust-Inference": (24.1, 19.3, 13.5, 12.0, 12.1, 32.3, 10.6, 16.7, 12.2, 12.6, 22.2, 17.0),
    "BS + mBERT + Adjust-Train": (23.8, 19.1, 13.4, 11.9, 11.8, 32.4, 10.5, 16.7, 12.1, 12.6, 21.5, 16.9),
}
PAPER_ROWS = {**PAPER_TABLE1, **PAPER_TABLE2, **PAPER_TABLE5, **PAPER_TABLE13}


def paper_cers(row: str) -> Dict[str, float]:
    if row not in PAPER_ROWS:
        raise ValueError(f"unknown paper row '{row}' (known: {', '.join(PAPER_ROWS)})")
    values = PAPER_ROWS[row]
    return dict(zip(LANGUAGES + ("avg",), values))


def read_results(path: Path) -> Dict[str, float]:
    """Per-language CER of a score_cer results.json."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return {lang: float(v["cer"]) for lang, v in data["languages"].items()}
    except FileNotFoundError:
        raise ValueError(f"{path}: results file not found (run stage 7)") from None
    except (KeyError, TypeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a score_cer results.json ({e})") from None


MODEL_FILES = ("valid.acc.ave.pth", "valid.loss.ave.pth")


def model_params(results_path: Path) -> Optional[int]:
    """Floating-point values in the model file of the experiment that ``results_path`` was decoded from."""
    parents = Path(results_path).resolve().parents
    return _exp_params(parents[2]) if len(parents) >= 3 else None


@functools.lru_cache(maxsize=None)
def _exp_params(exp_dir: Path) -> Optional[int]:
    # Cached: an experiment's decodings (plain, Adjust-Inference) share one model file.
    for name in MODEL_FILES:
        if (exp_dir / name).is_file():
            import torch

            state = torch.load(exp_dir / name, map_location="cpu")
            return sum(t.numel() for t in state.values() if torch.is_tensor(t) and t.is_floating_point())
    return None


def _mean(values: List[Optional[float]]) -> Optional[float]:
    return None if not values or any(v is None for v in values) else sum(values) / len(values)


def column_values(cers: Dict[str, float], groups: Dict[str, Tuple[str, ...]]) -> Dict[str, Optional[float]]:
    """The table's columns for one row of CERs: the languages in group order, each group's mean ("<group> avg")
    and the unweighted average over the languages ("avg"); None where a language (or a mean over it) is missing."""
    langs = [lang for g in groups.values() for lang in g]
    columns: Dict[str, Optional[float]] = {lang: cers.get(lang) for lang in langs}
    for g, members in groups.items():
        columns[f"{g} avg"] = _mean([cers.get(lang) for lang in members])
    columns["avg"] = _mean([cers.get(lang) for lang in langs])
    return columns


def table_rows(ours: Dict[str, float], paper: Optional[Dict[str, float]], groups: Dict[str, Tuple[str, ...]]
               ) -> List[str]:
    """Cells (``ours / paper``) for the languages in group order, the group means and the average."""

    def cell(a: Optional[float], b: Optional[float]) -> str:
        return f"{'-' if a is None else f'{a:.1f}'} / {'-' if b is None else f'{b:.1f}'}"

    mine, theirs = column_values(ours, groups), column_values(paper or {}, groups)
    return [cell(mine[c], theirs[c]) for c in mine]


def table_values(experiments: Dict[str, Dict[str, float]], groups: Dict[str, Tuple[str, ...]]
                 ) -> Dict[str, Dict[str, float]]:
    """Our numbers only, keyed like the table's header, for tools that read ``{row: {column: number}}`` such as
    paper_results.seed_summary. A cell the table shows as "-" is left out."""
    return {name: {c: round(v, 4) for c, v in column_values(ours, groups).items() if v is not None}
            for name, ours in experiments.items()}


def render(experiments: Dict[str, Dict[str, float]], paper_rows: Dict[str, Optional[str]],
           groups: Dict[str, Tuple[str, ...]], fmt: str = "md", params: Optional[Dict[str, int]] = None) -> str:
    langs = [lang for g in groups.values() for lang in g]
    params = {k: v for k, v in (params or {}).items() if v is not None}
    extra = ["#params"] if params else []
    header = ["model"] + extra + langs + [f"{g} avg" for g in groups] + ["avg"]
    span = ["", *[""] * len(extra), *[g if i == 0 else "" for g, ls in groups.items() for i, _ in enumerate(ls)],
            *[""] * (len(groups) + 1)]
    body = []
    for name, ours in experiments.items():
        row = paper_rows.get(name)
        count = [f"{params[name] / 1e6:.2f}M" if name in params else "-"] if params else []
        body.append([f"{name}" + (f" (paper: {row})" if row else "")] + count
                    + table_rows(ours, paper_cers(row) if row else None, groups))
    if fmt == "json":
        return json.dumps(table_values(experiments, groups), indent=2) + "\n"
    if fmt == "tsv":
        return "\n".join("\t".join(r) for r in [span, header] + body) + "\n"
    grouping = "; ".join(f"{g}: {' '.join(ls)}" for g, ls in groups.items())
    lines = ["CER (%) as ours / paper (A2 paper Tables 1, 2 and 5; Table 13 for 5h rows)", f"Groups: {grouping}", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines) + "\n"


def plot(experiments: Dict[str, Dict[str, float]], paper_rows: Dict[str, Optional[str]],
         groups: Dict[str, Tuple[str, ...]], png: Path) -> List[str]:
    """Grouped bars: CER per language (group order) and the average, one bar per experiment; the paper's value
    of an experiment's row as a tick on its bar. Returns the languages drawn (those any experiment has)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    langs = [lang for g in groups.values() for lang in g if any(lang in e for e in experiments.values())]
    columns = langs + ["avg"]
    width = 0.8 / max(1, len(experiments))
    paper_drawn = False
    fig, ax = plt.subplots(figsize=(min(14.0, max(6.0, 0.35 * len(columns) * (1 + len(experiments)) / 2)), 4.5))
    # More rows than tab10's colours (Tables 1, 2 and 5 together): tab20, so no two bars share a colour.
    colours = plt.get_cmap("tab10" if len(experiments) <= 10 else "tab20").colors
    for k, (name, ours) in enumerate(experiments.items()):
        values = [ours.get(lang) for lang in langs]
        values.append(_mean([ours.get(lang) for lang in langs]))
        xs = [i + (k - (len(experiments) - 1) / 2) * width for i in range(len(columns))]
        ax.bar(xs, [v or 0.0 for v in values], width, label=name, color=colours[k % len(colours)])
        row = paper_rows.get(name)
        if row:
            ref = paper_cers(row)
            marks = [ref.get(lang) for lang in langs] + [_mean([ref.get(lang) for lang in langs])]
            ax.scatter(xs, marks, marker="_", s=120, color="black", zorder=3,
                       label=None if paper_drawn else "paper (A2 Tables 1, 2, 5, 13)")
            paper_drawn = True
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels(columns)
    ax.set_ylabel("CER (%)")
    ax.set_title("CER per language (test)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    Path(png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return langs


def parse_groups(value: str) -> Dict[str, Tuple[str, ...]]:
    """``high=en,fr,es;intermediate=it,ru,zh,tt;low=nl,tr,ky,sv``."""
    groups = {}
    for part in filter(None, value.split(";")):
        name, sep, langs = part.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"--groups: '{part}' is not NAME=lang,lang")
        groups[name.strip()] = tuple(x.strip() for x in langs.split(",") if x.strip())
    return groups


@cli_main()
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp", action="append", required=True, help="NAME=path/to/results.json (repeatable)")
    p.add_argument("--paper_row", action="append", default=[], help="NAME=paper row (default: same name)")
    p.add_argument("--groups", type=parse_groups, default=GROUPS)
    p.add_argument("--format", default="md", choices=["md", "tsv", "json"],
                   help="json: our CERs only, {row: {column: CER}} (input of paper_results.seed_summary)")
    p.add_argument("--png", type=Path, default=None, help="also draw the table as grouped bars into this PNG")
    p.add_argument("--params", action="append", default=[],
                   help="NAME=COUNT: the row's number of parameters (default: counted from its model file)")
    args = p.parse_args(argv)
    experiments: Dict[str, Dict[str, float]] = {}
    params: Dict[str, Optional[int]] = {}
    for item in args.exp:
        name, sep, path = item.partition("=")
        if not sep:
            raise ValueError(f"--exp '{item}' is not NAME=path")
        experiments[name] = read_results(Path(path))
        if args.format != "json":  # the JSON holds CERs only: no model file to load
            params[name] = model_params(Path(path))
    for item in args.params:
        name, sep, count = item.partition("=")
        if not sep or name not in experiments or not count.isdigit():
            raise ValueError(f"--params '{item}': expected NAME=COUNT with NAME one of --exp and COUNT an integer")
        params[name] = int(count)
    rows: Dict[str, Optional[str]] = {n: (n if n in PAPER_ROWS else None) for n in experiments}
    for item in args.paper_row:
        name, sep, row = item.partition("=")
        if not sep or name not in experiments:
            raise ValueError(f"--paper_row '{item}': expected NAME=ROW with NAME one of --exp")
        paper_cers(row)
        rows[name] = row
    print(render(experiments, rows, args.groups, args.format, params), end="")
    if args.png is not None:
        plot(experiments, rows, args.groups, args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
