#!/usr/bin/env bash
# A2 long-tail multilingual ASR on CommonVoice (11 languages; A2 paper Sec. 3.1, Tables 1, 6, 13, 14).
#
# Usage: ./run.sh --cv_root /data/cv-corpus-5.1-2020-06-22 [options] [asr.sh options]
#   ./run.sh --cv_root CV                                   # SMT baseline, Table 6 caps, paper-size model
#   ./run.sh --cv_root CV --few_shot true                   # 5 h per language (Table 13)
#   ./run.sh --cv_root CV --asr_config ../../../conf/tuning/train_a2_bs_dual_adapters.yaml --ngpu 4
#   ./run.sh --cv_root CV --stop_stage 3                    # data, fbank, vocabulary + token statistics
#   Options of this script (every other --name value goes to egs/TEMPLATE/asr1/asr.sh):
#     --cv_root DIR          per-language CommonVoice releases (en/ fr/ ... zh-TW/ sv-SE/); stage 1 only
#     --languages L          comma-separated paper codes (default: the paper's 11, Table 1 order)
#     --few_shot true|false  5 h per language instead of the Table 6 caps (data/dump/exp under fewshot5h/)
#     --cap_table T          table6 (default; nl 10 h) | table1 (nl 15 h) | none
#     --cap_unit_seconds S   seconds per cap unit (3600; tests use 1 to read caps as seconds)
#     --seed N               seed of the capped selection (0)
#     --vocab per_language|shared   per-language unigram models merged into one vocabulary (paper; default)
#                            or one SentencePiece model on all text (asr.sh stage 3)
#     --nbpe N               per_language: pieces per language (150); shared: vocabulary size
#     --vocab_sizes L=N,...  per_language: per-language sizes (e.g. zh=2265)
#   See README.md for multi-GPU / multi-node training and the table of every A2 configuration.
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (run.sh:${BASH_LINENO[0]}) $*" >&2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
cd "$(dirname "${BASH_SOURCE[0]}")"

cv_root=                                     # CommonVoice releases (required for stage 1)
languages=en,fr,es,it,ru,zh,tt,nl,tr,ky,sv   # language inventory, Table 1 order
few_shot=false                               # true: Table 13 setting (5 h per language)
cap_table=table6                             # training-hour caps (Table 6)
cap_unit_seconds=3600                        # seconds per cap unit
seed=0                                       # capped-selection seed
vocab=per_language                           # per_language | shared
nbpe=150                                     # see above
vocab_sizes=                                 # per-language overrides (per_language vocab)
stage=1                                      # first stage (asr.sh stages 1-7)
stop_stage=100                               # last stage
python=python3                               # interpreter with espnet_ext installed
setting=                                     # data/dump/exp sub-directory (default: full or fewshot5h)
datadir=                                     # default data/${setting}
dumpdir=                                     # default dump/${setting}
expdir=                                      # default exp/${setting}
asr_config=${root}/conf/tuning/train_smt_transformer.yaml   # Table 14 SMT model
inference_config=${root}/conf/decode_asr.yaml                # beam 10, CTC weight 0.5

args=()
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        --cv_root|--languages|--few_shot|--cap_table|--cap_unit_seconds|--seed|--vocab|--nbpe|--vocab_sizes|\
--stage|--stop_stage|--python|--setting|--datadir|--dumpdir|--expdir|--asr_config|--inference_config)
            [ $# -ge 2 ] || { log "ERROR: $1 needs a value"; exit 1; }
            printf -v "${1#--}" '%s' "$2"; shift 2 ;;
        --*) [ $# -ge 2 ] || { log "ERROR: $1 needs a value"; exit 1; }; args+=("$1" "$2"); shift 2 ;;
        *) log "ERROR: unexpected positional argument '$1' (see --help)"; exit 1 ;;
    esac
done
case "${vocab}" in per_language|shared) ;; *) log "ERROR: --vocab must be per_language or shared"; exit 1 ;; esac
[ -n "${setting}" ] || { [ "${few_shot}" = true ] && setting=fewshot5h || setting=full; }
datadir=${datadir:-data/${setting}}; dumpdir=${dumpdir:-dump/${setting}}; expdir=${expdir:-exp/${setting}}
if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ] && [ -z "${cv_root}" ]; then
    log "ERROR: --cv_root is required for stage 1"; exit 1
fi

asr() {  # asr FIRST LAST: egs/TEMPLATE/asr1/asr.sh on stages FIRST..LAST
    "${root}/egs/TEMPLATE/asr1/asr.sh" --stage "$1" --stop_stage "$2" --python "${python}" \
        --train_set train --valid_set dev --test_sets test --languages "${languages}" \
        --local_data_opts "--cv_root ${cv_root:-unset} --languages ${languages} --few_shot ${few_shot} --cap_table ${cap_table} --cap_unit_seconds ${cap_unit_seconds} --seed ${seed}" \
        --datadir "${datadir}" --dumpdir "${dumpdir}" --expdir "${expdir}" \
        --feats_conf "${root}/conf/fbank.yaml" --nbpe "${nbpe}" --bpe_type unigram \
        --asr_config "${asr_config}" --inference_config "${inference_config}" "${args[@]}"
}

if [ "${vocab}" = shared ]; then
    asr "${stage}" "${stop_stage}"
else
    # Stages 1-2 by asr.sh; stage 3 here (per-language models merged into one vocabulary, which asr.sh's
    # stage 3 then finds complete); stages 4-7 by asr.sh.
    [ "${stage}" -gt 2 ] || asr "${stage}" "$((stop_stage < 2 ? stop_stage : 2))"
    if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
        token_dir=${datadir}/token_list/bpe_unigram${nbpe}
        # the completion marker records what made the vocabulary (espnet_ext.bin.stage_marker), as asr.sh's do
        action=$(${python} -m espnet_ext.bin.stage_marker check --dir "${token_dir}" \
                 --file "text=${dumpdir}/fbank/train/text" --file "utt2lang=${dumpdir}/fbank/train/utt2lang" \
                 --option vocab=per_language --option "nbpe=${nbpe}" --option "vocab_sizes=${vocab_sizes}" \
                 --code espnet_ext.bin.train_multilingual_vocab) || { log "ERROR: stage 3 marker check failed"; exit 1; }
        if [ "${action}" != skip ]; then
            log "Stage 3: per-language unigram models (${nbpe} pieces each) merged -> ${token_dir}"
            rm -rf "${token_dir}"
            ${python} -m espnet_ext.bin.train_multilingual_vocab --text "${dumpdir}/fbank/train/text" \
                --utt2lang "${dumpdir}/fbank/train/utt2lang" --out_dir "${token_dir}" --vocab_size "${nbpe}" \
                --vocab_sizes "${vocab_sizes}" > /dev/null
            ${python} -m espnet_ext.bin.stage_marker commit --dir "${token_dir}"
        fi
        log "Stage 3: long-tail token statistics (Figs. 1, 7, 8; Table 7) -> ${expdir}/token_frequency"
        ${python} -m espnet_ext.bin.token_frequency --text "${dumpdir}/fbank/train/text" \
            --utt2lang "${dumpdir}/fbank/train/utt2lang" --bpemodel "${token_dir}/bpe.model" \
            --token_list "${token_dir}/tokens.txt" --out_dir "${expdir}/token_frequency" >&2
    fi
    [ "${stop_stage}" -lt 4 ] || asr "$((stage > 4 ? stage : 4))" "${stop_stage}"
fi
log "Finished stages ${stage}-${stop_stage} (${setting})"
