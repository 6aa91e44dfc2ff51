"""Cost of A2 "BS + Dual-Adapters" (encoder and decoder) against the SMT model of the same size.

Usage:
    python -m benchmarks.bench_adapters [--device cpu|cuda] [--steps 10] [--warmup 2] \
        [--smt_config conf/tuning/train_smt_transformer_cpu.yaml] \
        [--a2_config conf/tuning/train_a2_bs_dual_adapters_cpu.yaml]

Both models are built from their training YAMLs through ``MultilingualASRTask`` (11 A2 languages,
80-dim features, a ``--vocab``-token list) and trained on the same random batches — SMT with random
languages, BS with ``--per_language`` utterances of each language — with Adam.  Steps of the two models
alternate so that a shared, noisy CPU slows both alike.  Prints JSON: median step time (wall clock, and
on CPU also the process's CPU time, less sensitive to other load) of each model and the ratios A2/SMT
(the A2 issue's goal: <= 1.10), peak memory of a training step and its ratio, #params.

Peak memory: the memory a model holds before the step (parameters, gradients, Adam state) plus the most the
step allocates above that: on CUDA ``torch.cuda.max_memory_allocated`` minus the allocation at the step's
start (both models sit on the GPU); on CPU the PyTorch profiler's allocation records (``profile_memory``)
summed in time order over one step.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import torch

from espnet_ext.train.task_optimizer import task_optimizer
from espnet_ext.utils.cli import cli_main

A2_LANGUAGES = ["en", "fr", "es", "it", "ru", "zh", "tt", "nl", "tr", "ky", "sv"]
REPO = Path(__file__).resolve().parents[1]


def token_list(vocab: int) -> List[str]:
    """The benchmark's ``vocab``-entry ESPnet token list: <blank>, <unk>, t0 ... t{vocab-4}, <sos/eos>."""
    return ["<blank>", "<unk>"] + [f"t{i}" for i in range(vocab - 3)] + ["<sos/eos>"]


def build(config: Path, vocab: int, languages: Optional[List[str]], workdir: Path, input_size: int = 80,
          task=None, extra_args: Sequence[str] = ()) -> torch.nn.Module:
    """A model of ``config`` over a ``vocab``-token list, built by ``task`` (default ``MultilingualASRTask``).

    ``languages`` None: no ``model_conf.languages`` (stock ESPnet models); ``extra_args`` are more
    command-line options of the task (they override the YAML)."""
    if task is None:
        from espnet_ext.tasks.asr import MultilingualASRTask as task

    tokens = workdir / "tokens.txt"
    tokens.write_text("\n".join(token_list(vocab)) + "\n")
    argv = ["--config", str(config), "--token_list", str(tokens), "--input_size", str(input_size)]
    if languages is not None:
        argv += ["--model_conf", f"languages=[{','.join(languages)}]"]
    args = task.get_parser().parse_args(argv + list(extra_args))
    torch.manual_seed(0)
    return task.build_model(args)


def make_batch(langs: torch.Tensor, frames: int, text_len: int, vocab: int, gen: torch.Generator, device,
               dim: int = 80) -> Dict:
    b = len(langs)
    speech_lengths = torch.randint(int(frames * 0.6), frames + 1, (b,), generator=gen)
    speech_lengths[0] = frames
    text_lengths = torch.randint(max(1, text_len // 2), text_len + 1, (b,), generator=gen)
    text_lengths[0] = text_len
    text = torch.randint(2, vocab - 1, (b, text_len), generator=gen)
    text[torch.arange(text_len)[None, :] >= text_lengths[:, None]] = -1
    batch = dict(speech=torch.randn(b, frames, dim, generator=gen), speech_lengths=speech_lengths, text=text,
                 text_lengths=text_lengths, lang=langs.reshape(-1, 1))
    return {k: v.to(device) for k, v in batch.items()}


def step(model, optimizer, batch) -> None:
    loss = model(**batch)[0]
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=False)


def held_bytes(model, optimizer) -> int:
    """Parameters, gradients and optimizer state: the memory a step starts from."""
    tensors = [p for p in model.parameters()] + [p.grad for p in model.parameters() if p.grad is not None]
    tensors += [v for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v)]
    return sum(t.numel() * t.element_size() for t in tensors)


def peak_call_memory(fn: Callable[[], None], device: str, held: int = 0) -> int:
    """Peak memory (bytes) while ``fn()`` runs, plus ``held`` bytes allocated before the call: on CUDA
    ``max_memory_allocated`` above the allocation at the call's start; on CPU the profiler's allocation
    records summed in time order."""
    if device == "cuda":
        # Both models sit on the GPU at once: count only what this call adds above the memory already
        # allocated (the other model included), then add this model's own ``held`` bytes.
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return held + torch.cuda.max_memory_allocated() - before
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    current = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        current += event.self_cpu_memory_usage
        peak = max(peak, current)
    return held + peak


def peak_step_memory(model, optimizer, batch, device: str) -> int:
    return peak_call_memory(lambda: step(model, optimizer, batch), device, held_bytes(model, optimizer))


def add_step_arguments(parser: argparse.ArgumentParser, per: str, steps: int = 10, frames: int = 300,
                       text_len: int = 40) -> None:
    """The training-step options shared by the step benchmarks: repeats, batch shape, vocabulary, threads."""
    parser.add_argument("--steps", type=int, default=steps, help=f"timed steps per {per}")
    parser.add_argument("--warmup", type=int, default=2, help=f"untimed steps per {per} first")
    parser.add_argument("--frames", type=int, default=frames, help="longest utterance in a batch (feature frames)")
    parser.add_argument("--text_len", type=int, default=text_len, help="longest transcript in a batch (tokens)")
    parser.add_argument("--vocab", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (0: PyTorch's default); 1 keeps CPU timings comparable on a busy host")


@cli_main()
def main(cmd=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--smt_config", type=Path, default=REPO / "conf/tuning/train_smt_transformer_cpu.yaml")
    parser.add_argument("--a2_config", type=Path, default=REPO / "conf/tuning/train_a2_bs_dual_adapters_cpu.yaml")
    add_step_arguments(parser, "model")
    parser.add_argument("--per_language", type=int, default=1, help="BS utterances per language per batch")
    parser.add_argument("--fused_adam", action="store_true",
                        help="both models train with optim_conf fused: true (PyTorch's fused Adam) instead of the "
                             "default per-tensor loop, which costs the Dual-Adapter model's many small tensors most")
    args = parser.parse_args(cmd)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device available")
    if args.threads:
        torch.set_num_threads(args.threads)

    langs = A2_LANGUAGES
    with tempfile.TemporaryDirectory() as tmp:
        models = {"smt": build(args.smt_config, args.vocab, langs, Path(tmp)),
                  "bs_dual_adapters": build(args.a2_config, args.vocab, langs, Path(tmp))}
    optimizers = {}
    for name, model in models.items():
        model.to(args.device).train()
        optimizers[name] = task_optimizer(model, fused=args.fused_adam)  # as training builds it

    gen = torch.Generator().manual_seed(0)
    n = args.per_language * len(langs)
    balanced = torch.arange(len(langs)).repeat_interleave(args.per_language)

    def batch_for(name: str) -> Dict:
        ids = balanced if name == "bs_dual_adapters" else torch.randint(0, len(langs), (n,), generator=gen)
        return make_batch(ids, args.frames, args.text_len, args.vocab, gen, args.device)

    times: Dict[str, List[float]] = {name: [] for name in models}
    cpu_times: Dict[str, List[float]] = {name: [] for name in models}
    for i in range(args.warmup + args.steps):
        for name, model in models.items():  # alternate: both models see the same machine load
            batch = batch_for(name)
            if args.device == "cuda":
                torch.cuda.synchronize()
            t0, c0 = time.perf_counter(), time.process_time()
            step(model, optimizers[name], batch)
            if args.device == "cuda":
                torch.cuda.synchronize()
            if i >= args.warmup:
                times[name].append(time.perf_counter() - t0)
                cpu_times[name].append(time.process_time() - c0)
    memory = {name: peak_step_memory(model, optimizers[name], batch_for(name), args.device)
              for name, model in models.items()}

    result = {"device": args.device, "fused_adam": args.fused_adam, "batch_size": n, "frames": args.frames,
              "text_len": args.text_len,
              "steps": args.steps, "threads": torch.get_num_threads(),
              "peak_memory_method": "cuda.max_memory_allocated above the step's start + parameters, gradients, "
                                    "Adam state" if args.device == "cuda"
              else "profiler allocations over one step + parameters, gradients, Adam state"}
    for name, model in models.items():
        result[name] = {
            "config": str(args.smt_config if name == "smt" else args.a2_config),
            "params": sum(p.numel() for p in model.parameters()),
            "step_time_s_median": statistics.median(times[name]),
            "step_time_s_mean": statistics.mean(times[name]),
            "step_cpu_time_s_median": statistics.median(cpu_times[name]),
            "peak_memory_mib": memory[name] / 2**20,
        }
    smt, a2 = result["smt"], result["bs_dual_adapters"]
    result["ratio"] = {"step_time": a2["step_time_s_median"] / smt["step_time_s_median"],
                       "step_cpu_time": a2["step_cpu_time_s_median"] / smt["step_cpu_time_s_median"],
                       "peak_memory": a2["peak_memory_mib"] / smt["peak_memory_mib"],
                       "params": a2["params"] / smt["params"]}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.exit(main())
