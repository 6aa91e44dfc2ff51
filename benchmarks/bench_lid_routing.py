"""What decoding without a language tag costs (issue 20, docs/lid_routing.md): decoding time of ``hard`` and
``soft`` routing against ``oracle``, and the training step of BS + Dual-Adapters with the LID head against
without.  Not a test: run it on a quiet machine.

Usage:
    python -m benchmarks.bench_lid_routing [--out_dir benchmarks/results] [--device cpu|cuda] [--threads 1] \
        [--steps 10] [--warmup 2] [--frames 300] [--text_len 40] [--decode_utts 5] [--decode_frames 400] \
        [--decode_repeats 6] [--maxlen 40] [--beam_size 10]

Decoding: one random model of ``conf/tuning/train_a2_bs_dual_adapters_lid_cpu.yaml`` (the 11 A2 languages,
the character list of benchmarks.bench_lm_decoding), written here and loaded by espnet_ext's decoder
(``build_speech2text``; beam 10, CTC weight 0.5 as ``conf/decode_asr_lid_soft.yaml``), decodes the same
random features with ``oracle`` (each utterance's tag given), ``hard`` and ``soft`` (no tag) routing, and
``hard`` / ``soft`` with the head's logits biased as ``--lid_calibration`` does (a fixed bias, one value per
language).  All run the LID head's language-agnostic first encoder pass (``oracle`` too: it gives the posterior
written to ``lang``); the output length is fixed (``maxlenratio`` < 0), so every routing runs the same number of
beam steps whatever its untrained hypotheses.  The same is timed for the one-pass model (below; the model of
``results/no_tag.json``), whose rows are named ``one pass: <routing>``.

Training: ``train_a2_bs_dual_adapters_cpu.yaml`` against ``train_a2_bs_dual_adapters_lid_cpu.yaml`` (the same
model plus ``lid_weight: 0.1``: the head and the extra pass through the encoder layers, forward and backward;
and the same with the cheaper LID passes of ``model_conf.lid_layers: 1`` and/or ``lid_encoder_grad: false``),
Adam, on the same random balanced batches (one utterance of each language, as benchmarks.bench_adapters); peak memory of a step
as there.  The one-pass model (``encoder_conf.adapter_common_layers: 2`` + ``lid_layers: 2``: the head reads
language-agnostic layers the real pass runs anyway) is timed against the same encoder without the head (what
the head costs) and against the plain model (what it costs to move from today's model to it); so is the one-pass
model with the voice adversary of ``model_conf.voice_adversary_*`` (8 voices, read from the batches' ``utt_id``).

In every repeat the variants run back to back in an order rotated from repeat to repeat, after untimed
warm-up; each repeat gives one ratio to the baseline, reported as the median and interquartile range of those
ratios (benchmarks.bench_stats).  Writes ``<out_dir>/bench_lid_routing.md`` (machine, table, settings) and
``bench_lid_routing.json`` (every sample; ``ratio``: the median wall-clock ratios).  Issue 20's goals:
decoding <= 1.10, training step <= 1.05.
"""

import argparse
import json
import logging
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

from benchmarks.bench_adapters import A2_LANGUAGES, add_step_arguments, build, make_batch, peak_step_memory, step
from benchmarks.bench_report import _machine_lines, result_rows
from benchmarks.bench_stats import compare, measure, rotation
from benchmarks.benchmark import _timed_rows
from benchmarks.machine_info import machine_description
from espnet_ext.utils.cli import cli_main, quiet_loggers

logger = logging.getLogger("espnet_ext.bench_lid_routing")
REPO = Path(__file__).resolve().parents[1]
PLAIN_CONFIG = REPO / "conf/tuning/train_a2_bs_dual_adapters_cpu.yaml"
LID_CONFIG = REPO / "conf/tuning/train_a2_bs_dual_adapters_lid_cpu.yaml"
ROUTINGS = ("oracle", "hard", "soft")
CALIBRATED = ("hard, calibrated", "soft, calibrated")  # the routing of the name's first word, head logits biased
DECODE_ROUTINGS = ROUTINGS + CALIBRATED
ONE_PASS_DECODE = "one pass: "  # the prefix of the one-pass model's decoding rows
PLAIN, WITH_LID = "no LID head", "LID head"
# the LID pass's cost options (model_conf, docs/lid_routing.md) on top of LID_CONFIG: variant -> task options
LID_VARIANTS = {
    WITH_LID: [],
    "LID head, lid_layers 1": ["--model_conf", "lid_layers=1"],
    "LID head, lid_encoder_grad false": ["--model_conf", "lid_encoder_grad=false"],
    "LID head, lid_layers 1 + lid_encoder_grad false": ["--model_conf", "lid_layers=1",
                                                        "--model_conf", "lid_encoder_grad=false"],
}
ONE_PASS = "LID head, one pass (adapter_common_layers 2, lid_layers 2)"
PLAIN_COMMON = "no LID head, adapter_common_layers 2"
COMMON_LAYERS_ARGS = ["--encoder_conf", "adapter_common_layers=2"]  # the one-pass encoder, with or without a head
ONE_PASS_ARGS = COMMON_LAYERS_ARGS + ["--model_conf", "lid_layers=2"]
# the one-pass model with the voice adversary of ..._voiceadv_soft_common2_cpu.yaml (8 voices, read from utt_id)
ONE_PASS_VOICE = "LID head, one pass + voice adversary"
BENCH_VOICES = [f"v{i}" for i in range(8)]
ONE_PASS_VOICE_ARGS = ONE_PASS_ARGS + ["--model_conf", "voice_adversary_weight=0.5",
                                       "--model_conf", f"voice_adversary_voices=[{','.join(BENCH_VOICES)}]",
                                       "--model_conf", "voice_adversary_regex=^[^-]+-([^-]+)-"]
GOALS = {"decoding": 1.10, "training": 1.05}


def _sync(device: str):
    if device != "cuda":
        return None
    import torch

    return torch.cuda.synchronize


def bench_decoding(opts) -> Tuple[List[Dict], Dict, Dict]:
    import torch

    from benchmarks.bench_fixtures import random_features
    from benchmarks.bench_lm_decoding import TOKENS, write_tokens

    langs = A2_LANGUAGES
    frames = [opts.decode_frames] * opts.decode_utts
    utts = list(enumerate(random_features(frames, opts.dim)))
    utt2lang = {i: langs[i % len(langs)] for i, _ in utts}
    # what --lid_calibration adds to the head's logits: a fixed bias, large enough to move some arg-maxes
    bias = torch.linspace(-1.0, 1.0, len(langs))
    rows, details = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tokens = write_tokens(tmp / "tokens.txt")
        for prefix, extra in (("", []), (ONE_PASS_DECODE, ONE_PASS_ARGS)):
            speech2text = _decoder(opts, tmp / (prefix.strip(": ").replace(" ", "_") or "lid"), tokens, extra)
            wall, cpu, lengths = _time_routings(opts, speech2text, utts, utt2lang, bias, prefix)
            mean_len = {n: sum(v) / len(v) for n, v in lengths.items()}
            oracle = prefix + "oracle"
            notes = {n: f"mean 1-best length {mean_len[n]:.1f} tokens ({oracle} {mean_len[oracle]:.1f}; maximum "
                        f"{opts.maxlen})" for n in wall if n != oracle}
            rows += _timed_rows("decoding", oracle, [n for n in wall if n != oracle], wall, cpu, "s",
                                "decoding time", notes)
            details.update({n: {"wall_s": wall[n], "cpu_s": cpu[n], "mean_hyp_len": mean_len[n]} for n in wall})
    settings = {"config": str(LID_CONFIG.relative_to(REPO)), "one pass": " ".join(ONE_PASS_ARGS),
                "utterances": len(frames), "frames": opts.decode_frames, "feature_dim": opts.dim,
                "vocab": len(TOKENS), "beam": opts.beam_size, "ctc_weight": 0.5,
                "maxlenratio": -opts.maxlen, "repeats": opts.decode_repeats,
                "calibration bias": f"linspace(-1, 1, {len(langs)})"}
    return rows, details, settings


def _decoder(opts, tmp: Path, tokens: Path, extra: List[str]):
    """espnet_ext's decoder (``build_speech2text``) for a random model of LID_CONFIG + ``extra`` task options."""
    from benchmarks.bench_lm_decoding import write_model
    from espnet_ext.asr.speech2text_builder import build_speech2text, get_parser
    from espnet_ext.tasks.asr import MultilingualASRTask

    tmp.mkdir(parents=True, exist_ok=True)
    logger.info("decoding: building a random model of %s %s", LID_CONFIG.name, " ".join(extra))
    asr = write_model(tmp, "asr", MultilingualASRTask, [
        "--config", str(LID_CONFIG), "--token_list", str(tokens), "--token_type", "char",
        "--input_size", str(opts.dim), "--model_conf", f"languages=[{','.join(A2_LANGUAGES)}]", *extra])
    args = vars(get_parser().parse_args([
        "--output_dir", str(tmp / "out"), "--data_path_and_name_and_type", f"{tmp}/none.scp,speech,kaldi_ark",
        "--asr_train_config", asr[0], "--asr_model_file", asr[1], "--beam_size", str(opts.beam_size),
        "--ctc_weight", "0.5", "--maxlenratio", str(-opts.maxlen), "--minlenratio", "0.0", "--nbest", "1",
        "--ngpu", "1" if opts.device == "cuda" else "0"]))
    args.pop("config", None)
    return build_speech2text(args)


def _time_routings(opts, speech2text, utts, utt2lang, bias, prefix: str):
    """Decode ``utts`` with every routing of DECODE_ROUTINGS, rotated per repeat after one warm-up round."""
    from benchmarks.bench_adjust_inference import time_decoding

    model = speech2text.asr_model
    bias = bias.to(next(model.parameters()).device)

    def decode(routing: str) -> Dict[str, float]:
        model.set_lang_routing(routing.split(",")[0], logit_bias=bias if routing in CALIBRATED else None)
        return time_decoding(speech2text, utts, utt2lang if routing == "oracle" else None)

    for routing in DECODE_ROUTINGS:  # warm-up
        decode(routing)
    names = [prefix + r for r in DECODE_ROUTINGS]
    wall: Dict[str, List[float]] = {n: [] for n in names}
    cpu: Dict[str, List[float]] = {n: [] for n in names}
    lengths: Dict[str, List[float]] = {n: [] for n in names}
    sync = _sync(opts.device)
    for r in range(opts.decode_repeats):
        for routing in rotation(DECODE_ROUTINGS, r):
            if sync:
                sync()
            t = decode(routing)
            wall[prefix + routing].append(t["wall_s"])
            cpu[prefix + routing].append(t["cpu_s"])
            lengths[prefix + routing].append(t["mean_len"])
        logger.info("decoding (%s): repeat %d/%d: %s", prefix.rstrip(": ") or "LID head", r + 1, opts.decode_repeats,
                    ", ".join(f"{n} {wall[n][-1]:.2f}s" for n in names))
    model.set_lang_routing(None)
    return wall, cpu, lengths


def bench_training(opts) -> Tuple[List[Dict], Dict, Dict]:
    import torch

    from espnet_ext.train.task_optimizer import task_optimizer

    langs = A2_LANGUAGES
    configs = {PLAIN: PLAIN_CONFIG, **{name: LID_CONFIG for name in LID_VARIANTS},
               PLAIN_COMMON: PLAIN_CONFIG, ONE_PASS: LID_CONFIG, ONE_PASS_VOICE: LID_CONFIG}
    options = {**LID_VARIANTS, PLAIN_COMMON: COMMON_LAYERS_ARGS, ONE_PASS: ONE_PASS_ARGS,
               ONE_PASS_VOICE: ONE_PASS_VOICE_ARGS}
    models, optimizers = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, config in configs.items():
            logger.info("training: building %s from %s", name, config.name)
            models[name] = build(config, opts.vocab, langs, Path(tmp), opts.dim,
                                 extra_args=options.get(name, [])).to(opts.device).train()
            optimizers[name] = task_optimizer(models[name])  # optim: adam, as the training confs build it
    gen = torch.Generator().manual_seed(0)
    balanced = torch.arange(len(langs))  # one utterance of every language: the BS batch of the configs
    names = list(models)
    wall: Dict[str, List[float]] = {n: [] for n in names}
    cpu: Dict[str, List[float]] = {n: [] for n in names}
    sync = _sync(opts.device)
    total = opts.warmup + opts.steps
    for i in range(total):
        batch = make_batch(balanced, opts.frames, opts.text_len, opts.vocab, gen, opts.device, dim=opts.dim)
        # ESPnet's trainer passes the utterance ids; the voice adversary reads each one's voice from them
        batch["utt_id"] = [f"{langs[j]}-{BENCH_VOICES[(i + j) % len(BENCH_VOICES)]}-{i:05d}" for j in range(len(langs))]
        for name in rotation(names, i):
            w, c, _ = measure(lambda: step(models[name], optimizers[name], batch), sync)
            if i >= opts.warmup:
                wall[name].append(w)
                cpu[name].append(c)
        logger.info("training: step %d/%d", i + 1, total)
    batch = make_batch(balanced, opts.frames, opts.text_len, opts.vocab, gen, opts.device, dim=opts.dim)
    batch["utt_id"] = [f"{lang}-{BENCH_VOICES[j % len(BENCH_VOICES)]}-m" for j, lang in enumerate(langs)]
    memory = {n: peak_step_memory(models[n], optimizers[n], batch, opts.device) / 2**20 for n in names}
    params = {n: sum(p.numel() for p in models[n].parameters()) for n in names}
    rows = _timed_rows("training", PLAIN, list(LID_VARIANTS) + [ONE_PASS], wall, cpu, "s", "step time")
    rows += _timed_rows("training", PLAIN_COMMON, [ONE_PASS, ONE_PASS_VOICE], wall, cpu, "s", "step time")
    for name in list(LID_VARIANTS) + [ONE_PASS]:
        rows.append(compare("training", "peak memory", PLAIN, name, [memory[PLAIN]], [memory[name]], "MiB"))
    for name in (WITH_LID, ONE_PASS):
        rows.append(compare("training", "parameters", PLAIN, name, [params[PLAIN]], [params[name]], "params"))
    details = {n: {"config": str(configs[n].relative_to(REPO)), "options": options.get(n, []),
                   "params": params[n], "peak_memory_mib": memory[n], "step_wall_s": wall[n], "step_cpu_s": cpu[n]}
               for n in names}
    settings = {"batch": f"{len(langs)} utterances, one per language", "frames": opts.frames,
                "feature_dim": opts.dim, "text_len": opts.text_len, "vocab": opts.vocab,
                "warm-up steps": opts.warmup, "timed steps": opts.steps}
    return rows, details, settings


def headline_ratios(rows: List[Dict]) -> Dict[str, float]:
    """The median wall-clock ratios the issue's goals are about, and the memory ratio, by a short key."""
    wall = "step time (wall)"
    wanted = {("oracle", "hard", "decoding time (wall)"): "decode_hard_vs_oracle",
              ("oracle", "soft", "decoding time (wall)"): "decode_soft_vs_oracle",
              ("oracle", "hard, calibrated", "decoding time (wall)"): "decode_hard_calibrated_vs_oracle",
              ("oracle", "soft, calibrated", "decoding time (wall)"): "decode_soft_calibrated_vs_oracle",
              **{(ONE_PASS_DECODE + "oracle", ONE_PASS_DECODE + r, "decoding time (wall)"):
                 f"decode_one_pass_{r.replace(', ', '_')}_vs_oracle" for r in DECODE_ROUTINGS[1:]},
              (PLAIN, WITH_LID, wall): "train_step_lid_vs_plain",
              (PLAIN, WITH_LID, "peak memory"): "train_peak_memory_lid_vs_plain",
              (PLAIN, "LID head, lid_layers 1", wall): "train_step_lid_layers1_vs_plain",
              (PLAIN, "LID head, lid_encoder_grad false", wall): "train_step_lid_nograd_vs_plain",
              (PLAIN, "LID head, lid_layers 1 + lid_encoder_grad false", wall):
                  "train_step_lid_layers1_nograd_vs_plain",
              (PLAIN, ONE_PASS, wall): "train_step_one_pass_vs_plain",
              (PLAIN_COMMON, ONE_PASS, wall): "train_step_one_pass_vs_same_encoder",
              (PLAIN_COMMON, ONE_PASS_VOICE, wall): "train_step_one_pass_voice_adversary_vs_same_encoder"}
    return {wanted[r["baseline"], r["variant"], r["metric"]]: r["ratio"] for r in rows
            if (r["baseline"], r["variant"], r["metric"]) in wanted}


def render_markdown(result: Dict) -> str:
    ratio = result["ratio"]
    one = "decode_one_pass_"
    goals = [f"decoding time hard / oracle {ratio['decode_hard_vs_oracle']:.3f}, soft / oracle "
             f"{ratio['decode_soft_vs_oracle']:.3f}, calibrated hard / soft "
             f"{ratio['decode_hard_calibrated_vs_oracle']:.3f} / {ratio['decode_soft_calibrated_vs_oracle']:.3f}; "
             f"the one-pass model hard / soft {ratio[one + 'hard_vs_oracle']:.3f} / "
             f"{ratio[one + 'soft_vs_oracle']:.3f}, calibrated {ratio[one + 'hard_calibrated_vs_oracle']:.3f} / "
             f"{ratio[one + 'soft_calibrated_vs_oracle']:.3f} (goal <= {GOALS['decoding']:.2f})",
             f"training step with / without the LID head {ratio['train_step_lid_vs_plain']:.3f} "
             f"(goal <= {GOALS['training']:.2f}); with lid_layers 1 {ratio['train_step_lid_layers1_vs_plain']:.3f}, "
             f"with lid_encoder_grad false {ratio['train_step_lid_nograd_vs_plain']:.3f}, with both "
             f"{ratio['train_step_lid_layers1_nograd_vs_plain']:.3f}",
             f"one pass (adapter_common_layers 2, lid_layers 2) {ratio['train_step_one_pass_vs_same_encoder']:.3f} "
             f"against the same encoder without the head, {ratio['train_step_one_pass_vs_plain']:.3f} against "
             "the plain model"]
    lines = ["# Decoding without a language tag: cost of the LID routing (issue 20)", "",
             f"Command: `{result['command']}`; total wall time {result['total_wall_s']:.0f} s. Ratios are "
             "variant / baseline per repeat (median, IQR), the variants alternated in a rotated order; "
             "docs/lid_routing.md says what each routing runs.", "",
             "Medians (wall clock): " + "; ".join(goals) + ".", "", "## Results", ""] + result_rows(result)
    notes = sorted({f"{r['section']} / {r['variant']}: {r['note']}" for r in result["rows"] if r.get("note")})
    if notes:
        lines += ["", "Notes:", ""] + [f"* {n}" for n in notes]
    lines += ["", "## Settings", ""]
    for section, options in result["settings"].items():
        lines.append(f"* {section}: " + ", ".join(f"`{k}`={v}" for k, v in options.items()))
    lines += ["", "## Machine", ""] + _machine_lines(result["machine"])
    return "\n".join(lines) + "\n"


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out_dir", type=Path, default=REPO / "benchmarks" / "results",
                   help="where bench_lid_routing.md and .json go")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--dim", type=int, default=80, help="feature dimension (the A2 confs' 80 mel bins)")
    add_step_arguments(p, "model")
    p.add_argument("--decode_utts", type=int, default=5, help="utterances decoded per routing and repeat")
    p.add_argument("--decode_frames", type=int, default=400, help="frames of each decoded utterance")
    p.add_argument("--decode_repeats", type=int, default=6)
    p.add_argument("--maxlen", type=int, default=40, help="fixed output length of the beam search (tokens)")
    p.add_argument("--beam_size", type=int, default=10)
    return p


@cli_main(log_level=logging.WARNING)
def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    opts = get_parser().parse_args(argv)
    counts = {"--steps": opts.steps, "--decode_utts": opts.decode_utts, "--decode_repeats": opts.decode_repeats,
              "--maxlen": opts.maxlen, "--beam_size": opts.beam_size}
    bad = [f"{k} {v}" for k, v in counts.items() if v < 1] + ([f"--warmup {opts.warmup}"] if opts.warmup < 0 else [])
    if bad:
        raise ValueError(f"{', '.join(bad)}: must be at least 1 (--warmup at least 0)")
    # Progress from this module only: ESPnet logs every utterance and warns whenever a hypothesis reaches the
    # fixed maximum length, which every one here does by design.
    logger.setLevel(logging.INFO)
    # the loggers' own levels come back after the run: in-process callers (tests) keep their logging
    with quiet_loggers(("espnet", "espnet2", "espnet_ext.asr", "espnet_ext.asr_inference")):
        return _run(opts, argv)


def _run(opts, argv) -> int:
    import torch

    if opts.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device available")
    if opts.threads:
        torch.set_num_threads(opts.threads)
    machine = machine_description()
    machine["torch_threads"] = torch.get_num_threads()
    if opts.device == "cuda":
        machine["gpu"] = torch.cuda.get_device_name()
    start = time.perf_counter()
    result = {"command": " ".join(["python -m benchmarks.bench_lid_routing"] + argv), "device": opts.device,
              "machine": machine, "settings": {}, "rows": [], "details": {}}
    for section, bench in (("decoding", bench_decoding), ("training", bench_training)):
        rows, details, settings = bench(opts)
        result["rows"] += rows
        result["details"][section] = details
        result["settings"][section] = settings
    result["total_wall_s"] = time.perf_counter() - start
    result["ratio"] = headline_ratios(result["rows"])
    if not all(math.isfinite(v) and v > 0 for v in result["ratio"].values()):
        raise RuntimeError(f"a ratio is not a positive number: {result['ratio']}")  # a timing bug, not the input
    opts.out_dir.mkdir(parents=True, exist_ok=True)
    md, js = opts.out_dir / "bench_lid_routing.md", opts.out_dir / "bench_lid_routing.json"
    js.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    md.write_text(render_markdown(result), encoding="utf-8")
    logger.info("wrote %s and %s", md, js)
    return 0


if __name__ == "__main__":
    sys.exit(main())
