"""Mean ± standard deviation of result tables over training seeds (issue: key comparisons over 3 seeds).

    python -m paper_results.seed_summary --field ours --out results/cs_demo/modes/seeds_modes.md \\
        1=exp/cs_demo/results_seed1/results.json 2=exp/cs_demo/results_seed2/results.json ...

(``results/<corpus>/<study>/`` is the committed layout of a recipe's results, docs/results_layout.md: the
per-seed inputs go in ``seed<N>/`` and the summary in the study dir.)

Each input is a JSON file of one seed; ``--field`` is the dot path to a table ``{row: {column: number}}``
inside it (``ours`` for :mod:`paper_results.cs_results_table`).  Every seed must hold the same rows and
columns: a row or column missing from one seed is an error naming the file, since a mean over a different
number of seeds would look like the others.  The standard deviation is the sample one (ddof = 1), the usual
"± std over seeds"; with one seed it is undefined and the tool refuses.  Writes the markdown table, a JSON
beside it (per-seed values, mean, std) and a PNG (one bar group per column, error bars = std).
"""

import argparse
import json
import statistics
import sys
import textwrap
from pathlib import Path
from typing import Dict, List, Optional

from espnet_ext.utils.cli import cli_main, named_paths

Table = Dict[str, Dict[str, float]]


def load_table(path: Path, field: str) -> Table:
    """The ``{row: {column: number}}`` table at dot path ``field`` of the JSON file ``path``."""
    try:
        node = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read JSON ({e})") from e
    for key in [k for k in field.split(".") if k]:
        if not isinstance(node, dict) or key not in node:
            raise ValueError(f"{path}: no field '{field}' (missing '{key}')")
        node = node[key]
    if not isinstance(node, dict) or not all(isinstance(v, dict) for v in node.values()):
        raise ValueError(f"{path}: field '{field}' is not a table {{row: {{column: number}}}}")
    return {row: {col: float(v) for col, v in cols.items() if isinstance(v, (int, float))}
            for row, cols in node.items()}


def summarize(tables: Dict[str, Table], sources: Optional[Dict[str, Path]] = None) -> Dict[str, Dict[str, dict]]:
    """{row: {column: {"values": {seed: x}, "mean": m, "std": s}}} over the seeds of ``tables``."""
    if len(tables) < 2:
        raise ValueError(f"need at least 2 seeds for a standard deviation, got {len(tables)}")
    sources = sources or {}
    seeds = list(tables)
    ref_seed = seeds[0]
    out: Dict[str, Dict[str, dict]] = {}
    for row, cols in tables[ref_seed].items():
        out[row] = {}
        for col in cols:
            values = {}
            for seed in seeds:
                where = sources.get(seed, f"seed {seed}")
                if row not in tables[seed] or col not in tables[seed][row]:
                    raise ValueError(f"{where}: row '{row}' column '{col}' missing (present in seed {ref_seed})")
                values[seed] = tables[seed][row][col]
            out[row][col] = {"values": values, "mean": statistics.mean(values.values()),
                             "std": statistics.stdev(values.values())}  # sample std (ddof 1)
    for seed in seeds[1:]:
        extra = set(tables[seed]) - set(tables[ref_seed])
        if extra:
            raise ValueError(f"{sources.get(seed, f'seed {seed}')}: rows {sorted(extra)} not in seed {ref_seed}")
    return out


def _columns(summary: Dict[str, Dict[str, dict]]) -> List[str]:
    """Every column of any row, in first-seen order (rows may hold different columns)."""
    cols: List[str] = []
    for row in summary.values():
        cols += [c for c in row if c not in cols]
    return cols


def markdown(summary: Dict[str, Dict[str, dict]], digits: int = 2) -> str:
    cols = _columns(summary)
    seeds = list(next(iter(next(iter(summary.values())).values()))["values"])
    lines = ["| row | " + " | ".join(cols) + " |", "|---" + "|---:" * len(cols) + "|"]
    for name, row in summary.items():
        cells = [f"{row[c]['mean']:.{digits}f} ± {row[c]['std']:.{digits}f}" if c in row else "–" for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"Mean ± sample std (ddof 1) over seeds {', '.join(seeds)}. Per seed:", "",
              "| row | column | " + " | ".join(f"seed {s}" for s in seeds) + " |", "|---|---" + "|---:" * len(seeds) + "|"]
    for name, row in summary.items():
        for c, cell in row.items():
            lines.append(f"| {name} | {c} | " + " | ".join(f"{cell['values'][s]:.{digits}f}" for s in seeds) + " |")
    return "\n".join(lines) + "\n"


def plot(summary: Dict[str, Dict[str, dict]], out_png: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(summary)
    cols = _columns(summary)
    width = 0.8 / max(1, len(rows))
    fig, ax = plt.subplots(figsize=(max(5.5, 1.2 + 0.55 * len(cols) * len(rows)), 3.8))
    for i, name in enumerate(rows):
        xs = [j + (i - (len(rows) - 1) / 2) * width for j in range(len(cols))]
        means = [summary[name][c]["mean"] if c in summary[name] else float("nan") for c in cols]
        stds = [summary[name][c]["std"] if c in summary[name] else 0.0 for c in cols]
        ax.bar(xs, means, width, yerr=stds, capsize=3, label=name, color=plt.get_cmap("tab10")(i % 10))
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels(cols)
    ax.set_title(textwrap.fill(title, 70), fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    plt.close(fig)


@cli_main()
def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="SEED=RESULTS_JSON, one per seed")
    p.add_argument("--field", default="ours", help="dot path of the {row: {column: number}} table in each JSON")
    p.add_argument("--rows", nargs="*", default=None, help="keep only these rows (default: all)")
    p.add_argument("--columns", nargs="*", default=None, help="keep only these columns (default: all)")
    p.add_argument("--title", default="mean ± std over seeds")
    p.add_argument("--out", type=Path, required=True, help="markdown file (.json and .png beside it)")
    args = p.parse_args(argv)
    runs = list(named_paths(args.runs, p, "SEED=RESULTS_JSON", "seed").items())
    tables = {seed: load_table(path, args.field) for seed, path in runs}
    if args.rows is not None:
        for seed, path in runs:
            missing = [r for r in args.rows if r not in tables[seed]]
            if missing:
                raise ValueError(f"{path}: rows {missing} not found")
        tables = {s: {r: t[r] for r in args.rows} for s, t in tables.items()}
    if args.columns is not None:
        tables = {s: {r: {c: v for c, v in cols.items() if c in args.columns} for r, cols in t.items()}
                  for s, t in tables.items()}
    summary = summarize(tables, dict(runs))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = markdown(summary)
    args.out.write_text(text, encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(summary, indent=1, ensure_ascii=False), encoding="utf-8")
    plot(summary, args.out.with_suffix(".png"), args.title)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
