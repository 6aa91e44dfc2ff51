#!/usr/bin/env bash
# Usage: bash tools/demo.sh [run.sh options...]
#   The main job: sets up the environment (tools/setup.sh), then runs the offline long-tail demo recipe
#   (egs/synth_longtail/asr1) end to end: synthesise the demo corpus, fbank, SentencePiece, train the SMT
#   baseline, decode, and print the per-language CER table, each stage's time and the total.
set -euo pipefail
start=${SECONDS}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "${repo}/tools/setup.sh"
setup_s=$((SECONDS - start))
export PATH="${ESPNET_EXT_VENV:-${repo}/.venv}/bin:${PATH}"
cd "${repo}/egs/synth_longtail/asr1"
./run.sh "$@"
echo "set-up (tools/setup.sh): ${setup_s} s"
times=$(ls -t exp/*/stage_times.tsv 2>/dev/null | head -n 1)
if [ -n "${times}" ]; then
    echo "stage times (s), from ${times} (appended on every run):"
    cut -f1,2 "${times}" | sed 's/^/  stage /'
fi
echo "total wall time: $((SECONDS - start)) s"
