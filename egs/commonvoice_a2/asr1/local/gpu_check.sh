#!/usr/bin/env bash
# GPU check of the A2 Table 14 model (conf/tuning/train_smt_transformer.yaml): a few hundred training steps
# with AMP on one CUDA GPU on random 80-dim features, then joint CTC/attention decoding (beam 10, CTC 0.5)
# of a few utterances. Records steps/s, peak GPU memory and decoding RTF in OUT/gpu_check.json.
#
# Table 14 maximum-length-in/out 512/150 are the conf's ESPnet fold lengths (batch_type folded).
# Usage: bash egs/commonvoice_a2/asr1/local/gpu_check.sh [OUT]     (from the repository root; venv at .venv,
#   or PYTHON=/path/to/python)
#   OUT defaults to ${OUT:-exp/gpu_check}. Needs one CUDA GPU; about 3-5 minutes on an H100 (< 8 min).
#   STEPS=300 (mini-batches, 2 epochs), NUTT=320 (random utterances), NDEC=5 (decoded utterances).
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (gpu_check.sh:${BASH_LINENO[0]}) $*" >&2; }
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../.." && pwd)
out=$(realpath -m "${1:-${OUT:-exp/gpu_check}}")
steps=${STEPS:-300}
nutt=${NUTT:-320}
ndec=${NDEC:-5}
py=${PYTHON:-${repo}/.venv/bin/python}  # PYTHON: another interpreter with espnet_ext importable
command -v "${py}" > /dev/null || { log "ERROR: ${py} not found (run tools/setup.sh)"; exit 1; }
"${py}" -c "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)" || { log "ERROR: no CUDA GPU"; exit 1; }
mkdir -p "${out}/data"
cd "${repo}"
export OMP_NUM_THREADS=4

log "Random features: ${nutt} utterances -> ${out}/data"
"${py}" - "${out}/data" "${nutt}" <<'PY'
import sys, numpy as np, kaldiio
from pathlib import Path
d, n = Path(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
chars = list("abcdefghijklmnopqrstuvwxyz") + ["<space>"]
(d / "tokens.txt").write_text("\n".join(["<blank>", "<unk>"] + chars + ["<sos/eos>"]) + "\n")
langs = ["en", "fr", "zh"]
with kaldiio.WriteHelper(f"ark,scp:{d}/feats.ark,{d}/feats.scp") as w, open(d / "text", "w") as t, \
        open(d / "utt2lid", "w") as l, open(d / "utt2lang", "w") as ul, open(d / "speech_shape", "w") as ss, \
        open(d / "text_shape", "w") as ts:
    for i in range(n):
        utt, frames = f"utt{i:05d}", int(rng.integers(300, 512))  # Table 14: maximum-length-in 512
        w(utt, rng.standard_normal((frames, 80)).astype(np.float32))
        words = [''.join(rng.choice(chars[:-1], int(rng.integers(2, 8)))) for _ in range(frames // 60)]
        text = " ".join(words)[:150]  # Table 14: maximum-length-out 150
        t.write(f"{utt} {text}\n"); l.write(f"{utt} {i % 3}\n"); ul.write(f"{utt} {langs[i % 3]}\n")
        ss.write(f"{utt} {frames},80\n"); ts.write(f"{utt} {len(text)}\n")
PY

log "Training ${steps} mini-batches (2 epochs) of the Table 14 model with AMP"
d=${out}/data
triples() { for k in train valid; do
    echo "--${k}_data_path_and_name_and_type ${d}/feats.scp,speech,kaldi_ark --${k}_data_path_and_name_and_type ${d}/text,text,text"
    echo "--${k}_data_path_and_name_and_type ${d}/utt2lid,lang,text_int --${k}_shape_file ${d}/speech_shape --${k}_shape_file ${d}/text_shape"
done; }
start=${SECONDS}
# shellcheck disable=SC2046
"${py}" -m espnet_ext.bin.asr_train --config conf/tuning/train_smt_transformer.yaml --ngpu 1 --use_amp true \
    --token_type char --token_list "${d}/tokens.txt" --input_size 80 --model_conf "languages=[en,fr,zh]" \
    --use_preprocessor true $(triples) --max_epoch 2 --num_iters_per_epoch $((steps / 2)) --num_workers 2 --num_att_plot 0 \
    --keep_nbest_models 1 --output_dir "${out}/exp" > "${out}/train.stdout" 2>&1 \
    || { tail -n 30 "${out}/train.stdout" >&2; log "ERROR: training failed"; exit 1; }
train_wall=$((SECONDS - start))  # whole seconds; bash arithmetic (no bc on minimal images)

log "Decoding ${ndec} utterances (beam 10, CTC weight 0.5) and writing ${out}/gpu_check.json"
"${py}" - "${out}" "${ndec}" "${train_wall}" "${steps}" <<'PY'
import json, re, sys, time, kaldiio, torch
from pathlib import Path
from espnet_ext.asr.speech2text_builder import MultilingualSpeech2Text
out, ndec, train_wall, steps = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
log = (out / "train.stdout").read_text()  # ESPnet logs to stderr when not run under a job wrapper
summary = [l for l in log.splitlines() if "2epoch results" in l]
stats = dict(re.findall(r"(\w+)=([0-9.eE+-]+)", summary[-1].split("[valid]")[0])) if summary else {}
s2t = MultilingualSpeech2Text(asr_train_config=str(out / "exp" / "config.yaml"),
                              asr_model_file=str(out / "exp" / "valid.acc.best.pth"), device="cuda",
                              beam_size=10, ctc_weight=0.5, maxlenratio=0.0, minlenratio=0.0, nbest=1)
feats = list(kaldiio.load_scp(str(out / "data" / "feats.scp")).items())[:ndec + 1]
s2t(torch.from_numpy(feats[0][1]), lang="en")  # warm-up (CUDA kernels), not timed
torch.cuda.reset_peak_memory_stats()
dec_time, audio = 0.0, 0.0
for utt, f in feats[1:]:
    torch.cuda.synchronize(); t = time.perf_counter()
    s2t(torch.from_numpy(f), lang="en")
    torch.cuda.synchronize(); dec_time += time.perf_counter() - t
    audio += f.shape[0] * 0.01  # 10 ms frame shift
train_time = float(stats.get("train_time", "nan"))  # ESPnet's mean seconds per training iteration (epoch 2)
result = {
    "device": torch.cuda.get_device_name(0), "torch": torch.__version__, "steps": steps,
    "train_steps_per_s_epoch2": round(1.0 / train_time, 3) if train_time == train_time else None,
    "train_wall_s_incl_startup": round(train_wall, 1),
    "train_peak_gpu_mem_gb": float(stats["gpu_max_cached_mem_GB"]) if "gpu_max_cached_mem_GB" in stats else None,
    "decode_utterances": ndec, "decode_rtf": round(dec_time / audio, 4),
    "decode_peak_gpu_mem_gb": round(torch.cuda.max_memory_allocated() / 2**30, 3),
    "epoch2_summary": summary[-1] if summary else None,
}
(out / "gpu_check.json").write_text(json.dumps(result, indent=2) + "\n")
print(json.dumps(result, indent=2))
PY
