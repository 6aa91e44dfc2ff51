#!/usr/bin/env bash
# Your own data: Kaldi data dirs (wav.scp text utt2spk utt2lang [segments]) -> the SMT baseline and the A2 rows,
# compared side by side (docs/your_own_data.md).
#
# Usage: ./run.sh --train_dir /corpus/train --test_dir /corpus/test [options of this recipe] [runner options]
#   ./run.sh --train_dir D/train --test_dir D/test --stop_stage 4   # data (dev held out of train), fbank, BPE, stats
#   ./run.sh --stage 5 --ngpu 1                                      # the rows: train, decode, score, compare, pack
#   ./run.sh --train_dir D/train --test_dir D/test --dev_dir D/dev --normalizer nfkc,lower,punct,lang,space
#   ./run.sh --stage 5 --rows "smt bs_dual_adapters" --row_train_args "--max_epoch 30"   # rows of conf/a2_rows.tsv
#   Stages: egs/TEMPLATE/asr1/asr.sh's 1-4 (--help lists them and the runner's options), then the hook model_rows:
#   5 trains every row of --rows, 6 picks each row's length bonus on dev (--length_bonus_grid) and decodes test
#   with it, 7 scores and compares the rows (exp/own/compare/), 8 packs each model for espnet_ext.bin.transcribe.
#   Stage 1 reads the dirs with espnet_ext.bin.prepare_own_data: transcripts normalised (--normalizer), empty ones
#   dropped and counted, a seeded per-language dev set held out of train unless --dev_dir is given
#   (data/own/own_data_report.json). Paths are read before run.sh changes into its own directory.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
# shellcheck source=../../TEMPLATE/asr1/utils/lib.sh
. "${root}/egs/TEMPLATE/asr1/utils/lib.sh"

# ---- options of this recipe (every other --name value goes to the runner)
train_dir=              # your training data: a Kaldi dir with wav.scp text utt2spk utt2lang (stage 1 only)
test_dir=               # your test data, the same files; its languages must be in the training data (stage 1 only)
dev_dir=                # your dev data (default: held out of --train_dir per language)
dev_share=0.1           # share of each language's training utterances held out as dev (at most 0.5)
dev_min=2               # fewest dev utterances per language (a language with fewer than twice this keeps all in train)
dev_max=100             # most dev utterances per language
seed=1                  # seed of the dev hold-out
normalizer=default      # transcript normalisation: default (nfkc,lower,punct,space) | cv | none | a step list
# ---- end of options
recipe_options "$0" "$@"
for v in train_dir test_dir dev_dir; do  # absolute, before the cd below
    [ -z "${!v}" ] || [[ "${!v}" == /* ]] || printf -v "${v}" '%s' "${PWD}/${!v}"
    [[ "${!v}" != *" "* ]] || die "--${v} '${!v}': a path with spaces is not supported; link it from a path without"
done
[[ "${normalizer}" != *" "* ]] || die "--normalizer '${normalizer}': write the steps without spaces (lower,punct)"
cd "$(dirname "${BASH_SOURCE[0]}")"
{ [ -n "${train_dir}" ] && [ -n "${test_dir}" ]; } || [ "$(runner_opt stage 1)" != 1 ] \
    || [[ " ${runner_args[*]} " == *" --help "* ]] || die "--train_dir and --test_dir are required for stage 1"
data_opts="--train_dir ${train_dir:-unset} --test_dir ${test_dir:-unset} --dev_share ${dev_share} --dev_min ${dev_min}"
data_opts+=" --dev_max ${dev_max} --seed ${seed} --normalizer ${normalizer}"
[ -z "${dev_dir}" ] || data_opts+=" --dev_dir ${dev_dir}"

# Stage 4's shape statistics depend on the features and the tokenizer only; every row shares them.
exec "${root}/egs/TEMPLATE/asr1/asr.sh" --hooks model_rows \
    --train_set train --valid_set dev --test_sets test --local_data "${root}/local/own_data/data.sh" --local_data_opts "${data_opts}" \
    --datadir data/own --dumpdir dump/own --expdir exp/own \
    --feats_conf "${root}/conf/fbank_40.yaml" --nbpe 300 --bpe_type unigram \
    --asr_config "${root}/conf/tuning/train_smt_transformer_cpu.yaml" \
    --inference_config "${root}/conf/decode_asr.yaml" \
    --rows "smt a2_adjust_train" --length_bonus_grid "0,0.5,1,2,3" \
    "${runner_args[@]}"
