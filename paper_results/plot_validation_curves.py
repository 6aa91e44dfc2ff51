"""Validation curves per iteration of several training runs in one PNG: the loss on CS, EN and ZH for every
training mode (Winata et al., Fig. 2), or any validation statistic ESPnet records (``--stats cer_ctc acc``).

Reads ESPnet's own record of each run. ``<exp_dir>/checkpoint.pth`` holds the reporter state, i.e. for every
epoch the train ``total_count`` (iterations so far) and the validation stats. A run that kept only its
TensorBoard record (``<exp_dir>/tensorboard/valid``, e.g. one brought back from another machine without its
checkpoint) is read from there; ESPnet logs each validation stat under its own name at the same iteration count.
``MetaTransferTrainer`` reports each validation set as ``<set>_loss``; the x axis is the iteration count at the
end of each epoch, so a run with ``--num_iters_per_epoch N`` gives a point every N iterations.

Usage: python -m paper_results.plot_validation_curves --out fig2.png --sets cs en zh \\
           only_cs=exp/asr_only_cs joint=exp/asr_joint meta=exp/asr_meta
       python -m paper_results.plot_validation_curves --out dev.png --stats cer_ctc acc smt=exp/asr_smt a2=exp/asr_a2
       (``--table sweep.md [--at 400]`` also writes each run's values at iteration 400 / its last epoch)
"""

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from espnet_ext.utils.cli import cli_main

Curve = List[Tuple[int, float]]


def read_valid_stats(exp_dir: Path, names: List[str]) -> Dict[str, Curve]:
    """{stat: [(iteration, value), ...]} of the validation stats ``names`` of an ESPnet exp dir."""
    exp_dir = Path(exp_dir)
    ckpt, board = exp_dir / "checkpoint.pth", exp_dir / "tensorboard" / "valid"
    curves: Dict[str, Curve] = {n: [] for n in names}
    if ckpt.is_file():
        import torch

        stats = torch.load(ckpt, map_location="cpu", weights_only=False)["reporter"]["stats"]
        for epoch in sorted(stats):
            iteration = stats[epoch].get("train", {}).get("total_count")
            valid = stats[epoch].get("valid", {})
            for n in names:
                if iteration is not None and n in valid:
                    curves[n].append((int(iteration), float(valid[n])))
    elif board.is_dir():
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        events = EventAccumulator(str(board), size_guidance={"scalars": 0})  # 0: keep every point
        events.Reload()
        recorded = set(events.Tags()["scalars"])
        for n in names:
            if n in recorded:
                curves[n] = [(int(e.step), float(e.value)) for e in events.Scalars(n)]
    else:
        raise FileNotFoundError(f"neither '{ckpt}' nor '{board}' exists: is '{exp_dir}' an ESPnet training dir?")
    return curves


def read_curves(exp_dir: Path, sets: List[str]) -> Dict[str, Curve]:
    """{set: [(iteration, valid loss), ...]} from an ESPnet exp dir (``<set>_loss`` of MetaTransferTrainer)."""
    stats = read_valid_stats(exp_dir, [f"{s}_loss" for s in sets])
    return {s: stats[f"{s}_loss"] for s in sets}


def plot(runs: Dict[str, Dict[str, Curve]], panels: Dict[str, Tuple[str, str]], out: Path) -> None:
    """One panel per key of ``panels`` (its value: the panel's title and y label), one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (key, (title, ylabel)) in zip(axes[0], panels.items()):
        for mode, curves in runs.items():
            pts = curves.get(key, [])
            if pts:
                ax.plot([x for x, _ in pts], [y for _, y in pts], marker=".", label=mode)
        ax.set_title(title)
        ax.set_xlabel("iteration")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def table(runs: Dict[str, Dict[str, Curve]], keys: List[str], at: Optional[int] = None) -> Dict[str, Dict[str, float]]:
    """{run: {key: value}}: each curve's value at iteration ``at`` (default: its last point)."""
    out: Dict[str, Dict[str, float]] = {}
    for mode, curves in runs.items():
        row = {}
        for key in keys:
            pts = dict(curves.get(key, []))
            if not pts:
                continue
            x = max(pts) if at is None else at
            if x not in pts:
                raise ValueError(f"run '{mode}' has no '{key}' at iteration {at} (it has {sorted(pts)})")
            row[key] = pts[x]
        out[mode] = row
    return out


def write_table(values: Dict[str, Dict[str, float]], keys: List[str], at: Optional[int], out_md: Path) -> None:
    """``values`` as a markdown table (``out_md``) and JSON beside it (``.json``)."""
    import json

    head = f"at iteration {at}" if at is not None else "at the last epoch"
    rows = [f"| run ({head}) | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for mode, row in values.items():
        rows.append(f"| {mode} | " + " | ".join(f"{row[k]:.4g}" if k in row else "–" for k in keys) + " |")
    Path(out_md).parent.mkdir(parents=True, exist_ok=True)
    Path(out_md).write_text("\n".join(rows) + "\n", encoding="utf-8")
    Path(out_md).with_suffix(".json").write_text(json.dumps(values, indent=1) + "\n", encoding="utf-8")


@cli_main()
def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Validation curves per iteration of several training runs")
    parser.add_argument("runs", nargs="+", help="MODE=EXP_DIR")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--sets", nargs="+", default=["cs", "en", "zh"],
                       help="validation sets whose <set>_loss to plot (Fig. 2; the default)")
    group.add_argument("--stats", nargs="+", default=None,
                       help="validation stats to plot instead, by ESPnet's names (loss, acc, cer_ctc, ...)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--table", type=Path, default=None,
                        help="also write each run's values at --at (default: its last epoch) as OUT.md + OUT.json")
    parser.add_argument("--at", type=int, default=None, help="iteration of the --table values")
    args = parser.parse_args(argv)
    runs = {}
    for spec in args.runs:
        if "=" not in spec:
            raise ValueError(f"expected MODE=EXP_DIR, got '{spec}'")
        mode, exp = spec.split("=", 1)
        if args.stats:
            runs[mode] = read_valid_stats(Path(exp), args.stats)
        else:
            runs[mode] = read_curves(Path(exp), args.sets)
    if args.stats:
        empty = [n for n in args.stats if not any(curves[n] for curves in runs.values())]
        if empty:
            raise ValueError(f"no run records the validation stat(s) {empty}")
        panels = {n: (f"validation {n}", n) for n in args.stats}
    else:
        panels = {s: (f"validation loss: {s.upper()}", "loss") for s in args.sets}
    plot(runs, panels, args.out)
    if args.table is not None:
        write_table(table(runs, list(panels), args.at), list(panels), args.at, args.table)


if __name__ == "__main__":
    sys.exit(main())
