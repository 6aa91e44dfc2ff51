# Hook model_rows — stages 5-8 for several models trained on the same data and compared per language: the A2
# paper's rows (conf/a2_rows.tsv: smt, bs, a2_adjust_train, ...) or any NAME=path/to/train.yaml. The demo trains
# SMT and A2 side by side with it; egs/own_data runs any set of rows on a user's data.
#   5  training of every row, --row_parallel at a time (the CPU cores are shared out between them); every row gets
#      the runner's --asr_args plus --row_train_args, so the budget is the same for all -> <expdir>/asr_<config>_...
#   6  decoding of every row on --test_sets. With --length_bonus_grid, each row's length bonus (ESPnet's penalty)
#      is first chosen on --valid_set (espnet_ext.bin.length_bonus_sweep, lowest average CER over languages) and
#      the test sets are decoded with it
#   7  scoring of every row, then the comparison of every row with --compare_ref per test set: CER per language,
#      head and tail group means, the differences, and a PNG -> <expdir>/compare/<test set>/compare.{md,json,png}
#   8  packing of every row
# shellcheck shell=bash
# ---- options of the model_rows hook
rows="smt a2_adjust_train"   # row names of conf/a2_rows.tsv, or NAME=path/to/train.yaml
row_parallel=2          # rows trained at once; with --ngpu 0 each gets cores / rows-at-once torch threads
row_train_args=         # training options given to every row after --asr_args (one budget for all)
compare_ref=smt         # the row the others are compared with in stage 7 (empty: the first row)
head_languages=         # comma-separated head group of the comparison (default: top half by training utterances)
length_bonus_grid=      # e.g. "0,0.5,1,2,3": stage 6 chooses each row's length bonus on --valid_set
# ---- end of options

stages[5]=rows_train; stages[6]=rows_decode; stages[7]=rows_score; stages[8]=rows_pack
checks+=(model_rows_check)
row_table=$(cd "${runner_dir}/../../.." && pwd)/conf/a2_rows.tsv

# row_config NAME: the training config of a row (a name of conf/a2_rows.tsv, or NAME=PATH); unknown names stop.
row_config() {
    local name=$1 conf
    if [[ "${name}" == *=* ]]; then echo "${name#*=}"; return 0; fi
    conf=$(awk -F'\t' -v r="${name}" '$1 == r { print $2 }' "${row_table}")
    [ -n "${conf}" ] || die "unknown row '${name}' (rows of ${row_table}: $(grep -v '^#' "${row_table}" | cut -f1 | paste -sd' '); or NAME=path/to/train.yaml)"
    echo "$(cd "$(dirname "${row_table}")" && pwd)/${conf}"
}
row_name() { echo "${1%%=*}"; }
row_names() { local r; for r in ${rows}; do row_name "${r}"; done | paste -sd' '; }

model_rows_check() {
    local r names=()
    [ -n "${rows}" ] || die "--rows is empty: name at least one row"
    need_int row_parallel 1
    for r in ${rows}; do
        row_config "${r}" > /dev/null   # an unknown row name stops the runner here, with the list of rows
        [ -f "$(row_config "${r}")" ] || die "row $(row_name "${r}"): config $(row_config "${r}") not found"
        names+=("$(row_name "${r}")")
    done
    [ "$(printf '%s\n' "${names[@]}" | sort | uniq -d)" = "" ] || die "--rows names a row twice: ${rows}"
    [ -n "${compare_ref}" ] || compare_ref=${names[0]}
    printf '%s\n' "${names[@]}" | grep -qx -- "${compare_ref}" || die "--compare_ref ${compare_ref} is not one of --rows (${names[*]})"
}

# row_use ROW: point the runner's variables at one row (its config, training options and experiment dir), as
# stages 5-8 of the runner read them. The experiment is named as the runner names any (config + options).
row_use() {
    asr_config=$(row_config "$1")
    row_asr_args=${asr_args}   # without --row_train_args, exactly the runner's experiment (its name and marker)
    [ -z "${row_train_args}" ] || row_asr_args="${row_asr_args:+${row_asr_args} }${row_train_args}"
    asr_tag=$(asr_args=${row_asr_args}; default_asr_tag)
    asr_exp=${expdir}/asr_${asr_tag}
}

rows_train() {
    local r running=0 failed=0 n_rows threads logs=${expdir}/rows_logs
    # shellcheck disable=SC2206
    local all=(${rows})
    n_rows=${#all[@]}
    threads=$(( $(nproc) / (n_rows < row_parallel ? n_rows : row_parallel) )); [ "${threads}" -ge 1 ] || threads=1
    mkdir -p "${logs}"
    # Progress while the rows train into their logs: each minute, the epochs each row has finished.
    ( while sleep 60 > /dev/null 2>&1; do   # (sleep keeps no pipe of the caller open once the loop is killed)
          local s="" n
          for r in ${rows}; do
              n=$(grep -c "epoch results" "${logs}/$(row_name "${r}").train.log" 2>/dev/null) || true
              s+=" $(row_name "${r}") ${n:-0},"
          done
          log "Stage 5: epochs finished:${s%,}"
      done ) &
    local reporter=$!
    for r in ${rows}; do
        if [ "${running}" -ge "${row_parallel}" ]; then wait -n || failed=1; running=$((running - 1)); fi
        row_use "${r}"
        log "Stage 5: row $(row_name "${r}"): ${asr_config} -> ${asr_exp} (log ${logs}/$(row_name "${r}").train.log)"
        (
            asr_args=${row_asr_args}
            [ "${ngpu}" -gt 0 ] || export OMP_NUM_THREADS=${threads} MKL_NUM_THREADS=${threads}
            start=${SECONDS}
            if asr_train > "${logs}/$(row_name "${r}").train.log" 2>&1; then
                log "Stage 5: row $(row_name "${r}") trained in $((SECONDS - start)) s"
            else
                log "Stage 5: row $(row_name "${r}") FAILED (see ${logs}/$(row_name "${r}").train.log)"; exit 1
            fi
        ) &
        running=$((running + 1))
    done
    while [ "${running}" -gt 0 ]; do wait -n || failed=1; running=$((running - 1)); done
    kill "${reporter}" 2>/dev/null || true
    [ "${failed}" -eq 0 ] || die "stage 5: some rows failed to train (logs in ${logs})"
}

# row_length_bonus: with --length_bonus_grid, choose the current row's length bonus on the dev set (kept next to
# the model; redone when the model, decoding config, dev features or grid change).
row_length_bonus() {
    [ -n "${length_bonus_grid}" ] || return 0
    local out=${asr_exp}/length_bonus_${valid_set} action
    action=$(marker check --dir "${out}" --file "model=${asr_exp}/${inference_model}" \
             --file "config=${inference_config}" --file "feats=${feats_dir}/${valid_set}/.done" \
             --option "grid=${length_bonus_grid}" --option "inference_args=${inference_args}" \
             --code espnet_ext.bin.length_bonus_sweep) || die "length bonus marker check failed"
    [ "${action}" != skip ] || return 0
    log "Stage 6: length bonus of $(basename "${asr_exp}") on ${valid_set} over {${length_bonus_grid}} -> ${out}"
    rm -rf "${out}"
    # shellcheck disable=SC2086
    OMP_NUM_THREADS=${inference_threads} ${python} -m espnet_ext.bin.length_bonus_sweep \
        --config "${inference_config}" --grid "${length_bonus_grid}" --sweep_nj "${inference_nj}" \
        --ngpu "${inference_ngpu}" --asr_train_config "${asr_exp}/config.yaml" \
        --asr_model_file "${asr_exp}/${inference_model}" \
        --data_path_and_name_and_type "${feats_dir}/${valid_set}/feats.scp,speech,kaldi_ark" \
        --utt2lang "${feats_dir}/${valid_set}/utt2lang" --ref "${feats_dir}/${valid_set}/text" \
        --output_dir "${out}" ${inference_args} > /dev/null || die "length bonus sweep of ${asr_exp} failed"
    marker commit --dir "${out}"
}

# row_decoding: the current row's decoding options (with the chosen length bonus) and decoding name.
row_decoding() {
    row_inference_args=${inference_args}
    if [ -n "${length_bonus_grid}" ]; then
        local sweep=${asr_exp}/length_bonus_${valid_set}/length_bonus_sweep.json best
        [ -f "${sweep}" ] || die "${sweep} missing: run stage 6 first"
        best=$(${python} -c 'import json, sys; print(format(json.load(open(sys.argv[1]))["best_value"], "g"))' "${sweep}")
        row_inference_args="${inference_args:+${inference_args} }--penalty ${best}"
    fi
    inference_tag=$(inference_args=${row_inference_args}; default_inference_tag)
}

rows_decode() {
    local r
    for r in ${rows}; do
        row_use "${r}"; row_length_bonus; row_decoding
        [ -z "${length_bonus_grid}" ] || log "Stage 6: row $(row_name "${r}"): decoding with ${row_inference_args}"
        ( inference_args=${row_inference_args}; asr_decode )
    done
}

rows_score() {
    local r s refs models head_opt=() results
    for r in ${rows}; do
        row_use "${r}"; row_decoding
        ( inference_args=${row_inference_args}; asr_score )
    done
    [ -z "${head_languages}" ] || head_opt=(--head "${head_languages}")
    for s in ${test_sets}; do
        refs=(); models=()
        for r in ${rows}; do
            row_use "${r}"; row_decoding
            results=${asr_exp}/${inference_tag}/${s}/results.json
            if [ "$(row_name "${r}")" = "${compare_ref}" ]; then refs=(--ref "${compare_ref}=${results}")
            else models+=(--model "$(row_name "${r}")=${results}"); fi
        done
        [ "${#models[@]}" -gt 0 ] || { log "Stage 7: one row only, nothing to compare"; return 0; }
        log "Stage 7: rows $(row_names) on ${s}, against ${compare_ref} -> ${expdir}/compare/${s}"
        ${python} -m espnet_ext.bin.compare_models "${refs[@]}" "${models[@]}" "${head_opt[@]}" \
            --train_utt2lang "${feats_dir}/${train_set}/utt2lang" --title "${s}: $(row_names)" \
            --out_dir "${expdir}/compare/${s}"
    done
}

rows_pack() {
    local r
    for r in ${rows}; do row_use "${r}"; asr_pack; done
}
