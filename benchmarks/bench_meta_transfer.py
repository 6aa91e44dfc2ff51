"""Benchmark: meta-transfer step vs joint-training step on the same tasks and batch sizes.

Usage: python -m benchmarks.bench_meta_transfer [--config conf/tuning/train_mtl_cs_transformer_cpu.yaml]
           [--batch 4] [--frames 300] [--steps 5] [--sources en zh cs_a]

Both modes run ``MetaTransferTrainer.train_one_epoch`` on identical random batches (one per source task plus
one target batch; joint mode trains on all of them).  Peak memory: ``torch.cuda.max_memory_allocated`` on
GPU; on CPU each mode runs in a forked child and reports its peak RSS growth over the fork point.
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

import torch

from espnet_ext.utils.cli import cli_main


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def make_items(tasks: List[str], steps: int, batch: int, frames: int, dim: int, vocab: int):
    """``steps`` iterator items (ids, MultiTaskBatch) of random batches, one per task, seeded."""
    from espnet_ext.train.multitask_batch import MultiTaskBatch

    g = torch.Generator().manual_seed(0)
    items = []
    for s in range(steps):
        item = MultiTaskBatch()
        for t in tasks:
            ids = [f"{t}-{s}-{i}" for i in range(batch)]
            item[t] = (ids, {"speech": torch.randn(batch, frames, dim, generator=g),
                             "speech_lengths": torch.full((batch,), frames),
                             "text": torch.randint(3, vocab - 1, (batch, frames // 10), generator=g),
                             "text_lengths": torch.full((batch,), frames // 10)})
        items.append((ids, item))
    return items


class ModeRunner:
    """One model of ``args.config`` trained by ``MetaTransferTrainer`` in ``mode`` ('meta' or 'joint').

    ``epoch(items)`` runs ``train_one_epoch`` over ``items`` (:func:`make_items` of :attr:`tasks`)."""

    def __init__(self, mode: str, args, device: str, workdir: Path):
        from espnet2.train.reporter import Reporter

        from espnet_ext.tasks.multitask_asr import MultitaskASRTask
        from espnet_ext.train.meta_transfer_trainer import MetaTransferTrainer

        tokens = Path(workdir) / "tokens.txt"
        tokens.write_text("\n".join(["<blank>", "<unk>"] + [f"c{i}" for i in range(args.vocab - 3)] + ["<sos/eos>"]))
        ns = MultitaskASRTask.get_parser().parse_args([
            "--config", str(args.config), "--output_dir", str(workdir), "--token_list", str(tokens),
            "--input_size", str(args.dim), "--model_conf", "languages=[cs,en,zh]", "--multitask_mode", mode,
            "--source_tasks", *args.sources, "--target_task", args.target, "--ngpu", "1" if device == "cuda" else "0"])
        torch.manual_seed(0)
        self.model = MultitaskASRTask.build_model(ns).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-4)
        self.options = MetaTransferTrainer.build_options(ns)
        self.tasks = MetaTransferTrainer.training_tasks(self.options)
        self.reporter = Reporter()
        self.reporter.set_epoch(1)

    def epoch(self, items) -> None:
        from espnet2.train.distributed_utils import DistributedOption

        from espnet_ext.train.meta_transfer_trainer import MetaTransferTrainer

        with self.reporter.observe("train") as sub:
            MetaTransferTrainer.train_one_epoch(model=self.model, iterator=items, optimizers=[self.optimizer],
                                                schedulers=[None], scaler=None, reporter=sub, summary_writer=None,
                                                options=self.options, distributed_option=DistributedOption())


def _run(mode: str, args, device: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        runner = ModeRunner(mode, args, device, Path(tmp))
        items = make_items(runner.tasks, args.steps + 1, args.batch, args.frames, args.dim, args.vocab)
        runner.epoch(items[:1])  # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        base = _rss_kb()
        start, cpu_start = time.perf_counter(), time.process_time()
        runner.epoch(items[1:])
        if device == "cuda":
            torch.cuda.synchronize()
            peak_mb = torch.cuda.max_memory_allocated() / 2**20
        else:
            peak_mb = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
        return {"step_s": (time.perf_counter() - start) / args.steps,
                "step_cpu_s": (time.process_time() - cpu_start) / args.steps, "peak_mb": peak_mb}


def _in_child(mode: str, args, device: str) -> dict:
    if device == "cuda":
        return _run(mode, args, device)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child's peak RSS is this mode's alone
        os.close(r)
        os.write(w, json.dumps(_run(mode, args, device)).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        out = json.loads(f.read())
    os.waitpid(pid, 0)
    return out


@cli_main()
def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="meta-transfer vs joint-training step time and peak memory")
    parser.add_argument("--config", default="conf/tuning/train_mtl_cs_transformer_cpu.yaml")
    parser.add_argument("--sources", nargs="+", default=["en", "zh", "cs_a"])
    parser.add_argument("--target", default="cs_b")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--dim", type=int, default=80)
    parser.add_argument("--vocab", type=int, default=200)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    import espnet_ext.tasks.multitask_asr  # noqa: F401  (import before forking)

    joint = _in_child("joint", args, device)
    meta = _in_child("meta", args, device)
    print(json.dumps({"device": device, "tasks": args.sources + [args.target], "batch": args.batch,
                      "frames": args.frames, "joint": joint, "meta": meta,
                      "time_ratio": round(meta["step_s"] / joint["step_s"], 3),
                      "peak_memory_ratio": round(meta["peak_mb"] / max(joint["peak_mb"], 1e-9), 3)}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
