#!/usr/bin/env bash
# Stage 1 of egs/own_data: your Kaldi data dirs -> DATADIR/{train,dev,test} + DATADIR/own_data_report.json
# (espnet_ext.bin.prepare_own_data; docs/your_own_data.md).
# Usage: local/own_data/data.sh --datadir data/own --train_dir /corpus/train --test_dir /corpus/test [--dev_dir /corpus/dev] \
#            [--normalizer default] [--dev_share 0.1] [--dev_min 2] [--dev_max 100] [--seed 1] [--python python3]
set -euo pipefail
# shellcheck source=../../egs/TEMPLATE/asr1/utils/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../egs/TEMPLATE/asr1/utils/lib.sh"
# ---- options
datadir=                # output: DATADIR/{train,dev,test} (required)
train_dir=              # Kaldi dir of the training data: wav.scp text utt2spk utt2lang [segments] (required)
test_dir=               # Kaldi dir of the test data (required)
dev_dir=                # Kaldi dir of the dev data (default: a seeded per-language hold-out of the training data)
normalizer=default      # transcript normaliser spec (espnet_ext.text.normalizer): default | cv | none | steps
dev_share=0.1           # share of each language's training utterances held out as dev
dev_min=2               # fewest dev utterances per language
dev_max=100             # most dev utterances per language
seed=1                  # seed of the hold-out
python=python3          # interpreter with espnet_ext installed
# ---- end of options
parse_options "$0" "$@"
[ -n "${datadir}" ] || die "--datadir is required"
for v in train_dir test_dir; do
    { [ -n "${!v}" ] && [ "${!v}" != unset ]; } || die "--${v} is required (a Kaldi data dir with wav.scp text utt2spk utt2lang)"
done
dev_opt=(); [ -z "${dev_dir}" ] || dev_opt=(--dev_dir "${dev_dir}")

log "Your data: train ${train_dir}, test ${test_dir}, dev ${dev_dir:-held out of train} -> ${datadir} (normalizer ${normalizer})"
${python} -m espnet_ext.bin.prepare_own_data --train_dir "${train_dir}" --test_dir "${test_dir}" "${dev_opt[@]}" \
    --out_dir "${datadir}" --normalizer "${normalizer}" --dev_share "${dev_share}" --dev_min "${dev_min}" \
    --dev_max "${dev_max}" --seed "${seed}"
