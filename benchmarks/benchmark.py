"""espnet_ext vs stock ESPnet in one run on one machine: training step time and memory, meta-transfer vs joint
training, decoding real-time factor, fbank throughput — every figure a ratio.  Not a test.

Usage:
    python -m benchmarks.benchmark [--out_dir benchmarks/results] [--quick] [--sections training meta decoding fbank]
        [--threads 1] [--train_steps N] [--decode_repeats N] ...

Writes <out_dir>/benchmarks.md (machine, table of ratios with absolute figures, how noise was estimated; the
text is benchmarks/bench_report.py's) and <out_dir>/benchmarks.json (all samples).  ``--quick`` is a
shortened smoke test.  Each section reuses the per-component tools benchmarks/bench_*.py; the shared
statistics are benchmarks/bench_stats.py, the synthetic inputs benchmarks/bench_fixtures.py.
"""

import argparse
import logging
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List, Tuple

from benchmarks.bench_report import AA_VARIANT, write_report
from benchmarks.bench_stats import compare, measure, rotation
from benchmarks.machine_info import machine_description
from espnet_ext.utils.cli import cli_main, quiet_loggers

logger = logging.getLogger("espnet_ext.benchmark")
REPO = Path(__file__).resolve().parents[1]
STOCK = "stock"
SECTIONS = ("training", "meta", "decoding", "fbank")
CONFIGS = {
    STOCK: "conf/tuning/train_smt_transformer_cpu.yaml",
    "dual_adapters": "conf/tuning/train_a2_bs_dual_adapters_cpu.yaml",
    "adjust_train": "conf/tuning/train_a2_smt_adjust_train_cpu.yaml",
    "pretrained_lm": "conf/tuning_pretrained/train_a2_smt_mbert_cpu.yaml",
    "meta": "conf/tuning/train_mtl_cs_transformer_cpu.yaml",
    "fbank": "conf/fbank_40.yaml",
}
# Repeats and sizes: the full run, and --quick (smoke test).
PRESETS = {
    "full": dict(train_warmup=2, train_steps=12, meta_warmup=1, meta_steps=8, decode_utts=5, decode_repeats=6,
                 maxlen=40, fbank_utts=600, fbank_seconds=8.0, fbank_repeats=4),
    "quick": dict(train_warmup=1, train_steps=2, meta_warmup=1, meta_steps=2, decode_utts=2, decode_repeats=2,
                  maxlen=8, fbank_utts=8, fbank_seconds=2.0, fbank_repeats=1),
}
FEAT_DIM = 40  # the offline recipes' conf/fbank_40.yaml


def _timed_rows(section: str, baseline: str, variants: List[str], wall: Dict[str, List[float]],
                cpu: Dict[str, List[float]], unit: str, what: str, notes: Dict[str, str] = None) -> List[Dict]:
    rows = []
    for name in variants:
        note = (notes or {}).get(name, "")
        rows.append(compare(section, f"{what} (wall)", baseline, name, wall[baseline], wall[name], unit, note=note))
        rows.append(compare(section, f"{what} (CPU)", baseline, name, cpu[baseline], cpu[name], unit, note=note))
    return rows


# ------------------------------------------------------------------------------------------ training
def bench_training(opts) -> Tuple[List[Dict], Dict, Dict]:
    import torch
    from espnet2.tasks.asr import ASRTask

    from benchmarks.bench_adapters import A2_LANGUAGES, build, make_batch, peak_step_memory, step, token_list
    from benchmarks.bench_fixtures import make_bert_checkpoint, write_token_prior
    from espnet_ext.tasks.asr import MultilingualASRTask
    from espnet_ext.train.task_optimizer import task_optimizer

    langs = A2_LANGUAGES
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        prior = write_token_prior(tmp / "token_prior.txt", token_list(opts.vocab))
        bert = make_bert_checkpoint(tmp / "bert")
        stock = (CONFIGS[STOCK], ASRTask, None, ["--model", "espnet"])
        specs = {
            STOCK: stock, AA_VARIANT: stock,
            "dual_adapters": (CONFIGS["dual_adapters"], MultilingualASRTask, langs, []),
            "adjust_train": (CONFIGS["adjust_train"], MultilingualASRTask, langs,
                             ["--token_prior", str(prior), "--model_conf", "ss_start_step=0",
                              "--model_conf", "ss_ramp_steps=0"]),
            "pretrained_lm": (CONFIGS["pretrained_lm"], MultilingualASRTask, langs,
                              ["--decoder_conf", f"pretrained_path={bert}"]),
        }
        models, optimizers = {}, {}
        for name, (config, task, languages, extra) in specs.items():
            logger.info("training: building %s from %s", name, config)
            models[name] = build(REPO / config, opts.vocab, languages, tmp, FEAT_DIM, task, extra).train()
            optimizers[name] = task_optimizer(models[name], task)  # optim: adam, as the training confs build it

    gen = torch.Generator().manual_seed(0)
    balanced = torch.arange(len(langs))  # one utterance of every language: the BS batch of the configs

    def batch_for(name: str, batch: Dict) -> Dict:
        return {k: v for k, v in batch.items() if k != "lang"} if name in (STOCK, AA_VARIANT) else batch

    names = list(models)
    wall: Dict[str, List[float]] = {n: [] for n in names}
    cpu: Dict[str, List[float]] = {n: [] for n in names}
    total = opts.train_warmup + opts.train_steps
    for i in range(total):
        batch = make_batch(balanced, opts.frames, opts.text_len, opts.vocab, gen, "cpu", dim=FEAT_DIM)
        for name in rotation(names, i):
            w, c, _ = measure(lambda: step(models[name], optimizers[name], batch_for(name, batch)))
            if i >= opts.train_warmup:
                wall[name].append(w)
                cpu[name].append(c)
        logger.info("training: step %d/%d (%s)", i + 1, total,
                    "warm-up" if i < opts.train_warmup else ", ".join(f"{n} {wall[n][-1]:.2f}s" for n in names))
    batch = make_batch(balanced, opts.frames, opts.text_len, opts.vocab, gen, "cpu", dim=FEAT_DIM)
    memory, params = {}, {}
    for name in names:
        logger.info("training: peak memory of one step of %s", name)
        memory[name] = peak_step_memory(models[name], optimizers[name], batch_for(name, batch), "cpu") / 2**20
        params[name] = sum(p.numel() for p in models[name].parameters())
    rows = []
    for name in names[1:]:
        rows += _timed_rows("training", STOCK, [name], wall, cpu, "s", "step time")
        rows.append(compare("training", "peak memory", STOCK, name, [memory[STOCK]], [memory[name]], "MiB"))
        rows.append(compare("training", "parameters", STOCK, name, [params[STOCK]], [params[name]], "params"))
    details = {n: {"config": specs[n][0], "params": params[n], "peak_memory_mib": memory[n],
                   "step_wall_s": wall[n], "step_cpu_s": cpu[n]} for n in names}
    details["adjust_train"]["scheduled_sampling_probability"] = models["adjust_train"].sampling_probability()
    settings = {"batch": f"{len(langs)} utterances", "frames": opts.frames, "feature_dim": FEAT_DIM,
                "text_len": opts.text_len, "vocab": opts.vocab, "warm-up steps": opts.train_warmup,
                "timed steps": opts.train_steps, "pretrained LM": "random BERT, width 384, 12 heads, FFN 1536, 4 layers"}
    return rows, details, settings


# ------------------------------------------------------------------------------------------ meta-transfer
def bench_meta(opts) -> Tuple[List[Dict], Dict, Dict]:
    from benchmarks.bench_adapters import held_bytes, peak_call_memory
    from benchmarks.bench_meta_transfer import ModeRunner, make_items

    ns = SimpleNamespace(config=str(REPO / CONFIGS["meta"]), sources=["en", "zh", "cs_a"], target="cs_b", batch=4,
                         frames=300, dim=80, vocab=200)
    modes = ["joint", "meta"]
    with tempfile.TemporaryDirectory() as tmp:
        runners = {}
        for mode in modes:
            (Path(tmp) / mode).mkdir()
            runners[mode] = ModeRunner(mode, ns, "cpu", Path(tmp) / mode)
    tasks = runners["joint"].tasks
    if runners["meta"].tasks != tasks:
        raise RuntimeError(f"meta and joint modes train different tasks: {runners['meta'].tasks} vs {tasks}")
    total = opts.meta_warmup + opts.meta_steps
    items = make_items(tasks, total + 1, ns.batch, ns.frames, ns.dim, ns.vocab)
    wall: Dict[str, List[float]] = {m: [] for m in modes}
    cpu: Dict[str, List[float]] = {m: [] for m in modes}
    for i in range(total):
        for mode in rotation(modes, i):
            w, c, _ = measure(lambda: runners[mode].epoch(items[i:i + 1]))
            if i >= opts.meta_warmup:
                wall[mode].append(w)
                cpu[mode].append(c)
        logger.info("meta-transfer: step %d/%d", i + 1, total)
    memory = {}
    for mode in modes:
        r = runners[mode]
        memory[mode] = peak_call_memory(lambda: r.epoch(items[-1:]), "cpu", held_bytes(r.model, r.optimizer)) / 2**20
    rows = _timed_rows("meta-transfer", "joint", ["meta"], wall, cpu, "s", "step time")
    rows.append(compare("meta-transfer", "peak memory", "joint", "meta", [memory["joint"]], [memory["meta"]], "MiB"))
    details = {m: {"step_wall_s": wall[m], "step_cpu_s": cpu[m], "peak_memory_mib": memory[m]} for m in modes}
    settings = {"config": CONFIGS["meta"], "tasks": " ".join(tasks), "batch per task": ns.batch, "frames": ns.frames,
                "feature_dim": ns.dim, "vocab": ns.vocab, "warm-up steps": opts.meta_warmup,
                "timed steps": opts.meta_steps}
    return rows, details, settings


# ------------------------------------------------------------------------------------------ decoding
def bench_decoding(opts) -> Tuple[List[Dict], Dict, Dict]:
    import numpy as np
    from espnet2.bin.asr_inference import Speech2Text
    from espnet2.tasks.asr import ASRTask

    from benchmarks.bench_adjust_inference import time_decoding
    from benchmarks.bench_fixtures import random_features, write_token_prior
    from benchmarks.bench_lm_decoding import TOKENS, write_lm, write_model, write_tokens
    from espnet_ext.asr.speech2text_builder import _speech2text_kwargs, build_speech2text, get_parser

    frames = [int(f) for f in np.linspace(300, 500, opts.decode_utts)] if opts.decode_utts > 1 else [400]
    utts = list(enumerate(random_features(frames, FEAT_DIM)))
    audio_s = sum(frames) / 100.0  # 10 ms frame shift
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tokens = write_tokens(tmp / "tokens.txt")
        logger.info("decoding: building the stock SMT-size model and the LSTM LM")
        asr = write_model(tmp, "asr", ASRTask, ["--config", str(REPO / CONFIGS[STOCK]), "--model", "espnet",
                                                "--token_list", str(tokens), "--token_type", "char",
                                                "--input_size", str(FEAT_DIM)])
        lm = write_lm(tmp, tokens, 256)
        prior = write_token_prior(tmp / "token_prior.txt", TOKENS)
        base = ["--output_dir", str(tmp / "out"), "--data_path_and_name_and_type", f"{tmp}/none.scp,speech,kaldi_ark",
                "--asr_train_config", asr[0], "--asr_model_file", asr[1], "--beam_size", "10", "--ctc_weight", "0.5",
                "--maxlenratio", str(-opts.maxlen), "--minlenratio", "0.0", "--nbest", "1", "--ngpu", "0"]

        def options(extra: List[str]) -> Dict:
            args = vars(get_parser().parse_args(base + extra))
            args.pop("config", None)
            return args

        systems = {
            STOCK: Speech2Text(**_speech2text_kwargs(options([]))),
            AA_VARIANT: Speech2Text(**_speech2text_kwargs(options([]))),
            "adjust_inference": build_speech2text(options(["--logit_adjust_tau", "0.3", "--token_prior", str(prior)])),
            "lm_fusion": build_speech2text(options(["--lm_train_config", lm[0], "--lm_file", lm[1], "--lm_weight",
                                                    "0.1", "--word_count_weight", "0.1"])),
        }
    names = list(systems)
    for name in names:  # warm-up
        time_decoding(systems[name], utts[:1])
    wall: Dict[str, List[float]] = {n: [] for n in names}
    cpu: Dict[str, List[float]] = {n: [] for n in names}
    lengths: Dict[str, List[float]] = {n: [] for n in names}
    for r in range(opts.decode_repeats):
        for name in rotation(names, r):
            t = time_decoding(systems[name], utts)
            wall[name].append(t["wall_s"] / audio_s)
            cpu[name].append(t["cpu_s"] / audio_s)
            lengths[name].append(t["mean_len"])
        logger.info("decoding: repeat %d/%d: RTF %s", r + 1, opts.decode_repeats,
                    ", ".join(f"{n} {wall[n][-1]:.3f}" for n in names))
    mean_len = {n: sum(v) / len(v) for n, v in lengths.items()}
    notes = {n: f"mean 1-best length {mean_len[n]:.1f} tokens (stock {mean_len[STOCK]:.1f}; maximum {opts.maxlen})"
             for n in names[1:]}
    rows = _timed_rows("decoding", STOCK, names[1:], wall, cpu, "RTF", "real-time factor", notes)
    details = {n: {"rtf_wall": wall[n], "rtf_cpu": cpu[n], "mean_hyp_len": mean_len[n]} for n in names}
    settings = {"utterances": len(frames), "frames": " ".join(map(str, frames)), "audio_s": audio_s,
                "feature_dim": FEAT_DIM, "vocab": len(TOKENS), "beam": 10, "ctc_weight": 0.5,
                "maxlenratio": -opts.maxlen, "tau": 0.3, "lm": "2-layer LSTM, unit 256, weight 0.1, word count 0.1",
                "repeats": opts.decode_repeats}
    return rows, details, settings


# ------------------------------------------------------------------------------------------ fbank
def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def bench_fbank(opts) -> Tuple[List[Dict], Dict, Dict]:
    """compute_fbank --nj 1 vs --nj 2 on a large and a 2-utterance data dir: the large one gives the user's
    throughput; the difference of the two removes the fixed cost (worker start-up), leaving the scaling."""
    from benchmarks.bench_fixtures import make_wav_data_dir
    from espnet_ext.bin import compute_fbank

    sizes = {"small": 2, "large": opts.fbank_utts}
    audio_s = {k: n * opts.fbank_seconds for k, n in sizes.items()}
    jobs = ["nj 1", "nj 2"]
    wall = {(n, k): [] for n in jobs for k in sizes}
    cpu = {(n, k): [] for n in jobs for k in sizes}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        logger.info("fbank: writing %d + %d wavs of %.1f s", sizes["large"], sizes["small"], opts.fbank_seconds)
        data = {k: make_wav_data_dir(tmp / f"data_{k}", n, opts.fbank_seconds, seed=i)
                for i, (k, n) in enumerate(sizes.items())}

        def run(name: str, size: str) -> Tuple[float, float]:
            out = tmp / "fbank"
            shutil.rmtree(out, ignore_errors=True)
            argv = ["--data_dir", str(data[size]), "--out_dir", str(out), "--conf", str(REPO / CONFIGS["fbank"]),
                    "--nj", name.split()[1]]
            c0 = _children_cpu()
            w, c, rc = measure(lambda: compute_fbank.main(argv))
            if rc != 0:
                raise RuntimeError(f"compute_fbank {' '.join(argv)} failed ({rc})")
            return w, c + _children_cpu() - c0

        run(jobs[0], "large")  # warm-up: page cache, imports
        for r in range(opts.fbank_repeats):
            for name in rotation(jobs, r):
                for size in rotation(list(sizes), r):
                    w, c = run(name, size)
                    wall[name, size].append(w)
                    cpu[name, size].append(c)
            logger.info("fbank: repeat %d/%d: %s", r + 1, opts.fbank_repeats,
                        ", ".join(f"{n} {audio_s['large'] / wall[n, 'large'][-1]:.0f} s audio/s" for n in jobs))
    extra = audio_s["large"] - audio_s["small"]
    throughput = {n: [audio_s["large"] / w for w in wall[n, "large"]] for n in jobs}
    # Per repeat: audio seconds per extra wall second beyond the 2-utterance run (floored: noise can invert it).
    marginal = {n: [extra / max(wl - ws, 1e-3) for wl, ws in zip(wall[n, "large"], wall[n, "small"])] for n in jobs}
    cpu_per_audio = {n: [c / audio_s["large"] for c in cpu[n, "large"]] for n in jobs}
    a, b = jobs
    large = f"{sizes['large']} utterances"
    rows = [compare("feature extraction", f"throughput, {large} (wall)", a, b, throughput[a], throughput[b],
                    "s audio/s", higher_is_better=True),
            compare("feature extraction", "throughput beyond a 2-utterance run (wall)", a, b, marginal[a],
                    marginal[b], "s audio/s", higher_is_better=True,
                    note="(large - small audio) / (large - small wall time): worker start-up removed"),
            compare("feature extraction", "fixed cost: 2-utterance run (wall)", a, b, wall[a, "small"],
                    wall[b, "small"], "s"),
            compare("feature extraction", f"CPU s per audio s, {large} (incl. workers)", a, b, cpu_per_audio[a],
                    cpu_per_audio[b], "s")]
    details = {n: {"wall_s_large": wall[n, "large"], "wall_s_small": wall[n, "small"],
                   "cpu_s_large": cpu[n, "large"], "cpu_s_small": cpu[n, "small"],
                   "throughput_audio_s_per_s": throughput[n], "marginal_throughput": marginal[n]} for n in jobs}
    settings = {"large": f"{sizes['large']} x {opts.fbank_seconds} s", "small": f"{sizes['small']} x "
                f"{opts.fbank_seconds} s", "conf": CONFIGS["fbank"], "repeats": opts.fbank_repeats}
    return rows, details, settings


BENCHES = {"training": bench_training, "meta": bench_meta, "decoding": bench_decoding, "fbank": bench_fbank}


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out_dir", type=Path, default=REPO / "benchmarks" / "results", help="where benchmarks.md/.json go")
    p.add_argument("--quick", action="store_true", help="shortened smoke-test run (numbers mean nothing)")
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: PyTorch's default)")
    p.add_argument("--frames", type=int, default=300, help="training: longest utterance of a batch (frames)")
    p.add_argument("--text_len", type=int, default=40, help="training: longest transcript of a batch (tokens)")
    p.add_argument("--vocab", type=int, default=300, help="training: token-list size")
    for key, value in PRESETS["full"].items():
        p.add_argument(f"--{key}", type=type(value), default=None, help=f"default {value} (--quick: "
                       f"{PRESETS['quick'][key]})")
    return p


def parse_options(argv: List[str]) -> argparse.Namespace:
    """The parsed options, repeats and sizes not given taken from the preset (full, or --quick)."""
    opts = get_parser().parse_args(argv)
    for key, value in PRESETS["quick" if opts.quick else "full"].items():
        if getattr(opts, key) is None:
            setattr(opts, key, value)
    return opts


@cli_main(log_level=logging.WARNING)
def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    opts = parse_options(argv)
    # Progress from this module only: ESPnet logs every utterance and trainer step (INFO) and warns whenever a
    # hypothesis reaches the fixed maximum length, which every one here does by design.
    logger.setLevel(logging.INFO)
    # the loggers' own levels come back after the run: in-process callers (tests) keep their logging
    with quiet_loggers(("espnet", "espnet2", "espnet_ext.asr")):
        return _run(opts, argv)


def _run(opts, argv) -> int:
    import torch

    if opts.threads:
        torch.set_num_threads(opts.threads)
    machine = machine_description()
    machine["torch_threads"] = torch.get_num_threads()
    logger.info("machine: %s", machine)
    start, cpu_start = time.perf_counter(), time.process_time()
    result = {"command": " ".join(["python -m benchmarks.benchmark"] + argv), "quick": opts.quick,
              "machine": machine, "settings": {}, "rows": [], "details": {}}
    for section in opts.sections:
        logger.info("=== %s", section)
        t0 = time.perf_counter()
        rows, details, settings = BENCHES[section](opts)
        result["rows"] += rows
        result["details"][section] = details
        result["settings"][section] = settings
        logger.info("=== %s done in %.0f s", section, time.perf_counter() - t0)
    result["total_wall_s"] = time.perf_counter() - start
    result["process_cpu_s"] = time.process_time() - cpu_start
    try:
        result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        pass
    md, js = write_report(result, opts.out_dir)
    logger.info("wrote %s and %s", md, js)
    return 0


if __name__ == "__main__":
    sys.exit(main())
