#!/usr/bin/env bash
# GPU benchmark (one short prepared script; about 3 minutes on one H100/H200): on one CUDA GPU,
#   1. the A2 Table 14 model: a few hundred training steps with AMP, steps/s and peak GPU memory, then joint
#      CTC/attention decoding (beam 10) of a few utterances and its real-time factor
#      (egs/commonvoice_a2/asr1/local/gpu_check.sh);
#   2. decoding RTF of that model with Adjust-Inference (tau 0.3) vs without (benchmarks.bench_adjust_inference);
#   3. training step time and peak memory, CPU-size SMT vs BS + Dual-Adapters (benchmarks.bench_adapters);
#   4. the same at the paper's model size (A2 Table 14: train_smt_transformer.yaml vs train_a2_bs_dual_adapters.yaml),
#      the figure issue 20 holds to <= 1.15 on a GPU;
#   5. the LID head's costs on CUDA (benchmarks.bench_lid_routing): training step with the head / without,
#      decoding with hard and soft routing / oracle.
# Writes OUT/gpu_benchmark.json (all figures) and OUT/gpu_benchmark.md.
#
# Usage: bash tools/gpu_benchmark.sh [OUT]        (from the repository root; OUT default exp/gpu_benchmark)
#   PYTHON=...   interpreter with espnet_ext importable (default .venv/bin/python)
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (gpu_benchmark.sh:${BASH_LINENO[0]}) $*" >&2; }
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(realpath -m "${1:-exp/gpu_benchmark}")
export PYTHON=${PYTHON:-${repo}/.venv/bin/python}
cd "${repo}"
mkdir -p "${out}"

log "1/5 Table 14 model: training steps with AMP and decoding on CUDA"
bash egs/commonvoice_a2/asr1/local/gpu_check.sh "${out}/table14"

log "2/5 decoding with Adjust-Inference vs without (same model, same utterances)"
d=${out}/table14/data
# token prior (A2 eq. 6) of the step-1 model's training transcripts
${PYTHON} -m espnet_ext.bin.compute_token_priors --text "${d}/text" --token_list "${d}/tokens.txt" --token_type char \
    --out "${d}/token_prior.txt" > /dev/null
head -n 5 "${d}/feats.scp" > "${d}/bench.scp"
${PYTHON} -m benchmarks.bench_adjust_inference --ngpu 1 --config conf/decode_asr.yaml \
    --asr_train_config "${out}/table14/exp/config.yaml" --asr_model_file "${out}/table14/exp/valid.acc.best.pth" \
    --data_path_and_name_and_type "${d}/bench.scp,speech,kaldi_ark" --utt2lang "${d}/utt2lang" \
    --token_prior "${d}/token_prior.txt" --output_dir "${out}/adjust_inference" --bench_tau 0.3 --bench_repeats 2 \
    --bench_max_utts 5 > "${out}/adjust_inference.json"

log "3/5 training step time and memory, SMT vs BS + Dual-Adapters (CPU-size models) on CUDA"
${PYTHON} -m benchmarks.bench_adapters --device cuda --steps 30 --warmup 5 > "${out}/adapters.json"
log "4/5 the same at the paper's model size (A2 Table 14)"
${PYTHON} -m benchmarks.bench_adapters --device cuda --steps 30 --warmup 5 --smt_config conf/tuning/train_smt_transformer.yaml \
    --a2_config conf/tuning/train_a2_bs_dual_adapters.yaml > "${out}/adapters_table14.json"
log "5/5 LID head: training step and routed decoding on CUDA"
${PYTHON} -m benchmarks.bench_lid_routing --device cuda --out_dir "${out}/lid_routing" > "${out}/lid_routing.log"

${PYTHON} - "${out}" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
def load(name):
    text = (out / name).read_text()
    return json.loads(text[text.index("{"):])  # JSON printed last
res = {"table14": load("table14/gpu_check.json"), "adjust_inference": load("adjust_inference.json"),
       "adapters": load("adapters.json"), "adapters_table14": load("adapters_table14.json"),
       "lid_routing": json.loads((out / "lid_routing" / "bench_lid_routing.json").read_text())}
(out / "gpu_benchmark.json").write_text(json.dumps(res, indent=2) + "\n")
t, a, d = res["table14"], res["adapters"], res["adjust_inference"]
lines = [f"# GPU benchmark ({t['device']}, torch {t['torch']})", "",
         "| figure | value |", "|---|---|",
         f"| Table 14 model, AMP training steps/s (epoch 2) | {t['train_steps_per_s_epoch2']} |",
         f"| Table 14 model, peak GPU memory in training (GB) | {t['train_peak_gpu_mem_gb']} |",
         f"| Table 14 model, decoding RTF (beam 10, CTC 0.5, {t['decode_utterances']} utts) | {t['decode_rtf']} |",
         f"| Adjust-Inference / plain decoding time ({d['utterances']} utts, median of {d['repeats']}) | {d['ratio_median']} |",
         f"| BS + Dual-Adapters / SMT training step time | {round(a['ratio']['step_time'], 3)} |",
         f"| BS + Dual-Adapters / SMT peak memory | {round(a['ratio']['peak_memory'], 3)} |",
         f"| BS + Dual-Adapters / SMT training step time, Table 14 size | "
         f"{round(res['adapters_table14']['ratio']['step_time'], 3)} |", "",
         "LID head (benchmarks.bench_lid_routing):", "",
         (out / "lid_routing" / "bench_lid_routing.md").read_text(), ""]
(out / "gpu_benchmark.md").write_text("\n".join(lines))
print("\n".join(lines))
PY
