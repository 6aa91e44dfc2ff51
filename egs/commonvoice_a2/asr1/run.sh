#!/usr/bin/env bash
# A2 long-tail multilingual ASR on CommonVoice (11 languages; "Adapt-and-Adjust: Overcoming the Long-Tail Problem
# of Multilingual Speech Recognition", arXiv:2012.01687, Sec. 3.1, Tables 1, 6, 13, 14).
#
# Usage: ./run.sh --cv_root /data/cv-corpus-5.1-2020-06-22 [options of this recipe] [runner options]
#   ./run.sh --cv_root CV                                   # SMT baseline, Table 6 caps, paper-size model
#   ./run.sh --cv_root CV --few_shot true                   # 5 h per language (Table 13)
#   ./run.sh --cv_root CV --asr_config ../../../conf/tuning/train_a2_bs_dual_adapters.yaml --ngpu 4
#   ./run.sh --cv_root CV --stop_stage 3                    # data, fbank, vocabulary + token statistics
#   Stages: egs/TEMPLATE/asr1/asr.sh's (--help lists them and the runner's options); stage 3 by default trains
#   per-language unigram models merged into one vocabulary (the paper; hook per_language_vocab, --nbpe pieces per
#   language, --vocab_sizes zh=2265 for some), --vocab shared: one SentencePiece model on all text.
#   See README.md for multi-GPU / multi-node training and the table of every A2 configuration.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
# shellcheck source=../../TEMPLATE/asr1/utils/lib.sh
. "${root}/egs/TEMPLATE/asr1/utils/lib.sh"

# ---- options of this recipe (every other --name value goes to the runner)
cv_root=                # per-language CommonVoice releases (en/ fr/ ... zh-TW/ sv-SE/); stage 1 only
languages=en,fr,es,it,ru,zh,tt,nl,tr,ky,sv   # paper codes, Table 1 order
few_shot=false          # true: 5 h per language instead of the Table 6 caps (data/dump/exp under fewshot5h/)
cap_table=table6        # table6 (nl 10 h) | table1 (nl 15 h) | none
cap_unit_seconds=3600   # seconds per cap unit (tests use 1 to read caps as seconds)
seed=0                  # seed of the capped selection
vocab=per_language      # per_language (the paper) | shared
# ---- end of options
recipe_options "$0" "$@"
cd "$(dirname "${BASH_SOURCE[0]}")"
case "${vocab}" in per_language) hooks=per_language_vocab ;; shared) hooks= ;;
    *) die "--vocab must be per_language or shared, got '${vocab}'" ;; esac
setting=full; [ "${few_shot}" != true ] || setting=fewshot5h
[ -n "${cv_root}" ] || [ "$(runner_opt stage 1)" != 1 ] || [[ " ${runner_args[*]} " == *" --help "* ]] \
    || die "--cv_root is required for stage 1"
exec "${root}/egs/TEMPLATE/asr1/asr.sh" --hooks "${hooks}" --nbpe 150 \
    --train_set train --valid_set dev --test_sets test --languages "${languages}" \
    --local_data "${root}/local/commonvoice/data.sh" --local_data_opts "--cv_root ${cv_root:-unset} --languages ${languages} --few_shot ${few_shot} --cap_table ${cap_table} --cap_unit_seconds ${cap_unit_seconds} --seed ${seed}" \
    --datadir "data/${setting}" --dumpdir "dump/${setting}" --expdir "exp/${setting}" \
    --feats_conf "${root}/conf/fbank.yaml" --asr_config "${root}/conf/tuning/train_smt_transformer.yaml" \
    --inference_config "${root}/conf/decode_asr.yaml" "${runner_args[@]}"
