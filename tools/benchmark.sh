#!/usr/bin/env bash
# Usage: bash tools/benchmark.sh [--out_dir benchmarks/results] [--quick] [other options of benchmarks.benchmark]
#   Sets up the environment (tools/setup.sh) and runs the benchmark of espnet_ext against stock ESPnet
#   (training step time and memory, meta-transfer vs joint, decoding real-time factor, fbank throughput),
#   which writes benchmarks/results/benchmarks.md and benchmarks/results/benchmarks.json.  Run it on an otherwise idle machine;
#   --quick is a shortened smoke test.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "${repo}/tools/setup.sh"
venv=${ESPNET_EXT_VENV:-${repo}/.venv}
cd "${repo}"
# One intra-op thread per process (the benchmark also sets torch's); fbank workers inherit it.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
exec "${venv}/bin/python" -m benchmarks.benchmark "$@"
