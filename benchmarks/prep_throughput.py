"""Data-prep throughput of stage 2 (audio -> fbank) and its scaling with --nj: hours of audio per minute.

Usage (the CommonVoice recipe: wav.scp of 48 kHz MP3 clips, decoded and resampled to 16 kHz by stage 2):
    python -m benchmarks.prep_throughput --data_dir data/full/train --conf conf/fbank.yaml \
        --nj 1 2 4 --out_dir results/full/prep_throughput [--repeats 2]

Each --nj value runs ``espnet_ext.bin.compute_fbank`` in a fresh process on the same data dir (output to a
scratch dir that is removed), ``--repeats`` times; the fastest wall time counts (least disturbed by other
load). Audio hours come from the extracted frames (``utt2num_frames`` x frame shift). Writes
``prep_throughput.md`` (with the machine and its load average), ``.json`` and ``.png`` (hours per minute
and speed-up vs --nj). Not a test: run it on a quiet machine. Committed figures go in the recipe's
``results/<corpus>/prep_throughput/`` (docs/results_layout.md).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import yaml

from benchmarks.machine_info import machine_description
from espnet_ext.utils.cli import cli_main


def audio_seconds(feats_dir: Path, frame_shift_ms: float) -> float:
    path = feats_dir / "utt2num_frames"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not written by compute_fbank")
    frames = sum(int(line.split()[1]) for line in path.read_text().splitlines() if line.strip())
    return frames * frame_shift_ms / 1000.0


def run_once(data_dir: Path, conf: Path, nj: int, scratch: Path) -> float:
    out = scratch / f"nj{nj}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "espnet_ext.bin.compute_fbank", "--data_dir", str(data_dir),
           "--out_dir", str(out), "--conf", str(conf), "--nj", str(nj)]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")  # one core per job, as the recipes run
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return wall


def render_md(result: Dict) -> str:
    m = result["machine"]
    lines = [f"# Stage 2 throughput: {result['data_dir']} ({result['utterances']} utterances, "
             f"{result['audio_hours']:.3f} h of audio)", "",
             f"Machine: {m['cpu_model']}, {m['usable_cores']} cores; load average before the runs "
             f"{m['load_average_1_5_15min']}. Conf: {result['conf']}. Fastest of {result['repeats']} run(s) per --nj.",
             "", "| --nj | wall (s) | audio hours per minute | speed-up vs --nj 1 |", "|---:|---:|---:|---:|"]
    for row in result["rows"]:
        lines.append(f"| {row['nj']} | {row['wall_s']:.1f} | {row['hours_per_minute']:.3f} | "
                     f"{row['speedup']:.2f} |")
    return "\n".join(lines) + "\n"


def plot(result: Dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nj = [r["nj"] for r in result["rows"]]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    a.plot(nj, [r["hours_per_minute"] for r in result["rows"]], "o-")
    a.set_xlabel("--nj"), a.set_ylabel("audio hours per minute"), a.set_title("stage 2 throughput")
    b.plot(nj, [r["speedup"] for r in result["rows"]], "o-", label="measured")
    b.plot(nj, nj, "--", color="grey", label="linear")
    b.set_xlabel("--nj"), b.set_ylabel("speed-up vs --nj 1"), b.legend()
    for ax in (a, b):
        ax.set_xticks(nj), ax.grid(alpha=0.3)
    fig.suptitle(f"{result['audio_hours']:.2f} h, {result['machine']['usable_cores']} cores", fontsize=9)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)


@cli_main()
def main(argv: List[str] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", type=Path, required=True, help="Kaldi data dir (wav.scp: wav/flac/mp3 paths)")
    p.add_argument("--conf", type=Path, required=True, help="feature conf (FbankConfig YAML)")
    p.add_argument("--nj", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--out_dir", type=Path, required=True)
    args = p.parse_args(argv)
    if not (args.data_dir / "wav.scp").is_file():
        raise FileNotFoundError(f"{args.data_dir}/wav.scp not found")
    if any(n < 1 for n in args.nj) or args.repeats < 1:
        raise ValueError(f"--nj values and --repeats must be positive (got --nj {args.nj}, --repeats {args.repeats})")
    shift_ms = float((yaml.safe_load(args.conf.read_text()) or {}).get("frame_shift_ms", 10.0))
    info = machine_description()
    rows = []
    with tempfile.TemporaryDirectory(prefix="prep_throughput_") as tmp:
        seconds = None
        for nj in args.nj:
            walls = []
            for r in range(args.repeats):
                walls.append(run_once(args.data_dir, args.conf, nj, Path(tmp)))
                print(f"--nj {nj} run {r + 1}/{args.repeats}: {walls[-1]:.1f} s", file=sys.stderr)
            if seconds is None:
                seconds = audio_seconds(Path(tmp) / f"nj{nj}", shift_ms)
            rows.append({"nj": nj, "wall_s": min(walls), "walls_s": walls})
    hours = seconds / 3600.0
    base = next((r["wall_s"] for r in rows if r["nj"] == 1), rows[0]["wall_s"])
    for r in rows:
        r["hours_per_minute"] = hours / (r["wall_s"] / 60.0)
        r["speedup"] = base / r["wall_s"]
    n_utts = sum(1 for line in (args.data_dir / "wav.scp").read_text().splitlines() if line.strip())
    result = {"data_dir": str(args.data_dir), "conf": str(args.conf), "utterances": n_utts,
              "audio_hours": hours, "repeats": args.repeats, "machine": info, "rows": rows}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "prep_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out_dir / "prep_throughput.md").write_text(render_md(result))
    plot(result, args.out_dir / "prep_throughput.png")
    print(render_md(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
