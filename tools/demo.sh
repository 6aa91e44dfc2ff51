#!/usr/bin/env bash
# Usage: bash tools/demo.sh [run.sh options...]
#   The main job: sets up the environment (tools/setup.sh), then runs the offline long-tail demo recipe
#   (egs/synth_longtail/asr1) end to end: synthesise the demo corpus, fbank, SentencePiece, train the SMT
#   baseline, decode, and print the per-language CER table.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "${repo}/tools/setup.sh"
export PATH="${ESPNET_EXT_VENV:-${repo}/.venv}/bin:${PATH}"
cd "${repo}/egs/synth_longtail/asr1"
exec ./run.sh "$@"
