#!/usr/bin/env bash
# Usage: bash tools/demo.sh [run.sh options...]
#   The main job: sets up the environment (tools/setup.sh), then runs the offline long-tail demo recipe
#   (egs/synth_longtail/asr1) end to end: synthesise the demo corpus, fbank, SentencePiece, train the A2 paper's
#   SMT baseline and A2 (BS + Dual-Adapters + Adjust-Train) side by side with one budget, decode both, pack both,
#   and print them per language with the head and tail means, each stage's time and the total.
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
table=exp/demo/compare/test/compare.md
if [ -f "${table}" ]; then
    echo; echo "SMT and A2 on the demo test set (${table}; plot: ${table%.md}.png):"; cat "${table}"
fi
echo "total wall time: $((SECONDS - start)) s"
