"""Validation loss per iteration on CS, EN and ZH for every training mode in one PNG (Winata et al., Fig. 2).

Reads ESPnet's own record of each run: ``<exp_dir>/checkpoint.pth`` holds the reporter state, i.e. for every
epoch the train ``total_count`` (iterations so far) and the validation stats.  ``MetaTransferTrainer``
reports each validation set as ``<set>_loss``; the x axis is the iteration count at the end of each epoch, so
a run with ``--num_iters_per_epoch N`` gives a point every N iterations.

Usage: python -m espnet_ext.utils.plot_validation_curves --out fig2.png --sets cs en zh \\
           only_cs=exp/asr_only_cs joint=exp/asr_joint meta=exp/asr_meta
"""

import argparse
from pathlib import Path
from typing import Dict, List, Optional, Tuple

Curve = List[Tuple[int, float]]


def read_curves(exp_dir: Path, sets: List[str]) -> Dict[str, Curve]:
    """{set: [(iteration, valid loss), ...]} from an ESPnet exp dir."""
    import torch

    ckpt = Path(exp_dir) / "checkpoint.pth"
    if not ckpt.is_file():
        raise FileNotFoundError(f"'{ckpt}' does not exist: is '{exp_dir}' an ESPnet training dir?")
    stats = torch.load(ckpt, map_location="cpu", weights_only=False)["reporter"]["stats"]
    curves: Dict[str, Curve] = {s: [] for s in sets}
    for epoch in sorted(stats):
        iteration = stats[epoch].get("train", {}).get("total_count")
        valid = stats[epoch].get("valid", {})
        for s in sets:
            if iteration is not None and f"{s}_loss" in valid:
                curves[s].append((int(iteration), float(valid[f"{s}_loss"])))
    return curves


def plot(runs: Dict[str, Dict[str, Curve]], sets: List[str], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sets), figsize=(4.2 * len(sets), 3.4), squeeze=False)
    for ax, s in zip(axes[0], sets):
        for mode, curves in runs.items():
            pts = curves.get(s, [])
            if pts:
                ax.plot([x for x, _ in pts], [y for _, y in pts], marker=".", label=mode)
        ax.set_title(f"validation loss: {s.upper()}")
        ax.set_xlabel("iteration")
        ax.set_ylabel("loss")
        ax.legend(fontsize=8)
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Fig. 2: validation loss per iteration for every training mode")
    parser.add_argument("runs", nargs="+", help="MODE=EXP_DIR")
    parser.add_argument("--sets", nargs="+", default=["cs", "en", "zh"])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    runs = {}
    for spec in args.runs:
        if "=" not in spec:
            raise ValueError(f"expected MODE=EXP_DIR, got '{spec}'")
        mode, exp = spec.split("=", 1)
        runs[mode] = read_curves(Path(exp), args.sets)
    plot(runs, args.sets, args.out)


if __name__ == "__main__":
    main()
