# Hook cs_multitask — stages 4-8 for the code-switching experiments of "Meta-Transfer Learning for Code-Switched
# Speech Recognition" (Winata et al., arXiv:2004.14228, arXiv:2004.14228; docs/meta_transfer.md): one model per training
# mode, trained from several tasks (EN, ZH, CS) by espnet_ext.bin.asr_train_multitask.
#   4  shapes per training set (ESPnet collect_stats); the CTC feasibility check of the front end (stops the
#      recipe above --ctc_feasibility_threshold) and the token coverage report (docs/diagnostics.md)
#   5  training per --modes with equal iterations per epoch, then fine-tuning of the --finetune_modes models on
#      CS (SGD 1e-5, early stop on CS dev) -> <expdir>/asr_<mode>[_seedN][_ft]
#        only_cs | joint_en_zh | joint_en_cs | joint_zh_cs | joint_en_zh_cs: joint training on those tasks
#        meta_en_cs | meta_zh_cs | meta_en_zh_cs: meta-transfer, D_val drawn each iteration from the whole CS pool,
#          disjoint from that iteration's CS source batch (Algorithm 1; --meta_target_pool cs)
#        meta_en_zh_cs_fixed: the ablation with a fixed target split (sources en zh cs_a, target cs_b)
#        meta_en_zh_cs_srcgrad: the outer gradient of the authors' released trainer (--meta_outer_grad public_code)
#   6  decoding of every experiment on --test_sets (the runner's stage 6 on each)
#   7  scoring of every experiment (the runner's stage 7 on each), then the tables: CER/MER per mode and test set
#      beside the paper's Tables 2-3, the Fig. 2 plot, Table 1 (CMI/SPF) -> <expdir>/results[_seedN]/
#   8  packing of every experiment (the runner's stage 8 on each)
# shellcheck shell=bash
# ---- options of the cs_multitask hook
modes="only_cs joint_en_zh_cs meta_en_zh_cs"      # training modes (stage 5)
finetune_modes="joint_en_zh_cs meta_en_zh_cs"     # modes fine-tuned on CS (stage 5, after the modes)
train_config=           # meta-transfer training YAML; joint modes use its train_joint_ twin (conf/mtl/)
finetune_config=        # fine-tuning YAML
iters_per_epoch=50      # equal budget: iterations per epoch for every mode
train_args=             # extra options for every training run (e.g. "--max_epoch 1")
seed=                   # ESPnet --seed of stage 5; set -> experiments asr_<mode>_seed<N>, tables results_seed<N>
# ---- end of options

stages[4]=cs_stats; stages[5]=cs_train; stages[6]=cs_decode; stages[7]=cs_score; stages[8]=cs_pack
checks+=(cs_multitask_check)
task_sets="en_train zh_train cs_train cs_a_train cs_b_train"   # one training set per task
cs_multitask_check() {
    local m
    for m in ${modes} ${finetune_modes}; do cs_mode_tasks "${m}" > /dev/null; done
    sfx=
    if [ -n "${seed}" ]; then
        [[ "${seed}" =~ ^[0-9]+$ ]] || die "--seed must be a non-negative integer, got '${seed}'"
        sfx=_seed${seed}; train_args="${train_args} --seed ${seed}"
    fi
    stats_root=${expdir}/stats
}
# cs_mode_tasks MODE: "kind sources target pool outer_grad" of a mode (- for none); an unknown mode is an error.
cs_mode_tasks() {
    case "$1" in
        only_cs|finetune)      echo "joint cs - - -" ;;
        joint_en_zh)           echo "joint en,zh - - -" ;;
        joint_en_cs)           echo "joint en,cs - - -" ;;
        joint_zh_cs)           echo "joint zh,cs - - -" ;;
        joint_en_zh_cs)        echo "joint en,zh,cs - - -" ;;
        meta_en_cs)            echo "meta en,cs cs_val cs -" ;;
        meta_zh_cs)            echo "meta zh,cs cs_val cs -" ;;
        meta_en_zh_cs)         echo "meta en,zh,cs cs_val cs -" ;;
        meta_en_zh_cs_fixed)   echo "meta en,zh,cs_a cs_b - -" ;;
        meta_en_zh_cs_srcgrad) echo "meta en,zh,cs cs_val cs public_code" ;;
        *) die "unknown mode '$1' (modes: only_cs joint_en_zh joint_en_cs joint_zh_cs joint_en_zh_cs meta_en_cs meta_zh_cs meta_en_zh_cs meta_en_zh_cs_fixed meta_en_zh_cs_srcgrad)" ;;
    esac
}
cs_task_set() { case "$1" in cs|cs_val) echo cs_train ;; *) echo "$1_train" ;; esac; }
cs_exps() { local m; for m in ${modes}; do echo "${m}"; done; for m in ${finetune_modes}; do echo "${m}_ft"; done; }
cs_tag() { case "$1" in *_ft) echo "${1%_ft}${sfx}_ft" ;; *) echo "$1${sfx}" ;; esac; }  # experiment -> asr_tag

cs_stats() {
    need train_config
    local s lang out action sets=()
    for s in ${task_sets}; do
        lang=${s%%_*}; out=${stats_root}/${s}
        # shapes depend on the features and the token list only
        action=$(marker check --dir "${out}" --file "token_list=${token_list}" \
                 --file "feats=${feats_dir}/${s}/.done" --file "valid_feats=${feats_dir}/${lang}_dev/.done" \
                 --code espnet_ext.bin.asr_train_multitask) || die "${out}: marker check failed"
        [ "${action}" != skip ] || continue
        log "Stage 4: shapes of ${s} (valid ${lang}_dev) -> ${out}"
        rm -rf "${out}"
        # shellcheck disable=SC2046
        ${python} -m espnet_ext.bin.asr_train_multitask --collect_stats true --ngpu 0 --num_workers 0 \
            --config "${train_config}" --token_type char --token_list "${token_list}" --use_preprocessor true \
            --input_size "$(cat "${feats_dir}/cs_train/feats_dim")" --normalize utterance_mvn \
            --model_conf "languages=[cs,en,zh]" --batch_type unsorted --batch_size 20 --output_dir "${out}" \
            $(data_triples train "${feats_dir}/${s}") $(data_triples valid "${feats_dir}/${lang}_dev")
        marker commit --dir "${out}"
    done
    # Diagnostics before any training (docs/diagnostics.md): can CTC align every training utterance with this
    # front end, and is every test token seen often enough in training?
    log "Stage 4: CTC feasibility of ${train_config##*/} -> ${stats_root}/ctc_feasibility.json"
    for s in ${task_sets}; do sets+=(--set "${s}=${stats_root}/${s}/train/speech_shape,${feats_dir}/${s}/text"); done
    ${python} -m espnet_ext.bin.ctc_feasibility --config "${train_config}" --token_type char --token_list "${token_list}" \
        --threshold "${ctc_feasibility_threshold}" --out_json "${stats_root}/ctc_feasibility.json" "${sets[@]}" \
        || die "stage 4: the front end of ${train_config} leaves too few frames for CTC (see above); change its input_layer or pass --ctc_feasibility_threshold 1 to train anyway"
    log "Stage 4: token coverage -> ${stats_root}/token_coverage.{md,json,png}"
    ${python} -m espnet_ext.bin.token_coverage --token_type char --by_script --out "${stats_root}/token_coverage" \
        --train "${datadir}/cs_train" "${datadir}/en_train" "${datadir}/zh_train" \
        --test "${datadir}/cs_test" "${datadir}/en_test" "${datadir}/zh_test"
}

# cs_train_mode MODE OUT CONFIG [INIT_PARAM]: one training of espnet_ext.bin.asr_train_multitask. The marker
# records what the model was trained from: a changed config, option, data or initial model retrains; a killed
# run resumes only from the same inputs.
cs_train_mode() {
    local mode=$1 out=$2 config=$3 init=${4:-} kind sources target pool outer s t v action
    read -r kind sources target pool outer <<< "$(cs_mode_tasks "${mode}")"
    local fp=(--partial .started --file "config=${config}" --file "token_list=${token_list}" --option "mode=${mode}"
              --option "train_args=${train_args}" --option "iters_per_epoch=${iters_per_epoch}"
              --code espnet_ext.bin.asr_train_multitask)
    for s in ${task_sets} cs_dev en_dev zh_dev; do fp+=(--file "feats_${s}=${feats_dir}/${s}/.done"); done
    for s in ${task_sets}; do fp+=(--file "stats_${s}=${stats_root}/${s}/.done"); done
    [ -z "${init}" ] || fp+=(--file "init_param=${init}")
    action=$(marker check --dir "${out}" "${fp[@]}") || die "${out}: marker check failed"
    case "${action}" in skip) return 0 ;; redo) rm -rf "${out}" ;; esac
    [ "${action}" = resume ] || marker start --dir "${out}" --partial .started
    local opts=(--multitask_mode "${kind}" --source_tasks ${sources//,/ } --valid_primary cs)
    [ "${target}" = - ] || opts+=(--target_task "${target}")
    [ "${pool}" = - ] || opts+=(--meta_target_pool "${pool}")
    [ "${outer}" = - ] || opts+=(--meta_outer_grad "${outer}")
    for t in ${sources//,/ } ${target/#-/}; do
        s=$(cs_task_set "${t}")
        # shellcheck disable=SC2207
        opts+=($(data_triples train "${feats_dir}/${s}" "${t}")
               --multitask_train_shape_file "${t},${stats_root}/${s}/train/speech_shape"
               --multitask_train_shape_file "${t},${stats_root}/${s}/train/text_shape")
    done
    # Validation on CS, EN and ZH dev every epoch (Fig. 2); shapes from the stats run of each language's train set.
    for v in cs en zh; do
        # shellcheck disable=SC2207
        opts+=($(data_triples valid "${feats_dir}/${v}_dev" "${v}")
               --multitask_valid_shape_file "${v},${stats_root}/$(cs_task_set "${v}")/valid/speech_shape"
               --multitask_valid_shape_file "${v},${stats_root}/$(cs_task_set "${v}")/valid/text_shape")
    done
    [ -z "${init}" ] || opts+=(--init_param "${init}")
    log "Stage 5: mode ${mode}: ${kind}, sources [${sources//,/ }] target [${target/#-/}] -> ${out}"
    mkdir -p "${out}"
    # DDP for every mode, meta-transfer included (MetaTransferTrainer all-reduces the outer gradient)
    train_launcher
    # shellcheck disable=SC2086
    ${train_launch} -m espnet_ext.bin.asr_train_multitask --config "${config}" --output_dir "${out}" --resume true \
        --token_type char --token_list "${token_list}" --input_size "$(cat "${feats_dir}/cs_train/feats_dim")" \
        --normalize utterance_mvn --use_preprocessor true --model_conf "languages=[cs,en,zh]" --ngpu "${ngpu}" \
        ${dist_opts} --num_iters_per_epoch "${iters_per_epoch}" "${opts[@]}" ${train_args}
    marker commit --dir "${out}"
}

cs_train() {
    need train_config
    local m cfg base
    for m in ${modes}; do
        log "Stage 5: training ${m}"
        case "${m}" in meta_*) cfg=${train_config} ;; *) cfg=${train_config/train_meta_/train_joint_} ;; esac
        cs_train_mode "${m}" "${expdir}/asr_${m}${sfx}" "${cfg}"
    done
    for m in ${finetune_modes}; do
        need finetune_config
        log "Stage 5: fine-tuning ${m} on CS"
        base=${expdir}/asr_${m}${sfx}
        [ -f "${base}/${inference_model}" ] || die "${base}/${inference_model} missing: train ${m} first (--modes)"
        cs_train_mode finetune "${base}_ft" "${finetune_config}" "${base}/${inference_model}"
    done
}

# cs_each FUNCTION: the runner's stage FUNCTION on every experiment
cs_each() {
    local e
    for e in $(cs_exps); do asr_tag=$(cs_tag "${e}"); asr_exp=${expdir}/asr_${asr_tag}; "$1"; done
}
cs_decode() { cs_each asr_decode; }
cs_pack() { cs_each asr_pack; }
cs_score() {
    cs_each asr_score
    local results=${expdir}/results${sfx} runs=() curves=() e m
    log "Stage 7: tables and Fig. 2 -> ${results}"
    mkdir -p "${results}"
    for e in $(cs_exps); do runs+=("${e}=${expdir}/asr_$(cs_tag "${e}")"); done
    # shellcheck disable=SC2086
    ${python} -m paper_results.cs_results_table --feats_dir "${feats_dir}" --test_sets ${test_sets} \
        --decode_tag "${inference_tag}" --out "${results}/results.md" "${runs[@]}"
    for m in ${modes}; do curves+=("${m}=${expdir}/asr_$(cs_tag "${m}")"); done  # Fig. 2: the training modes
    ${python} -m paper_results.plot_validation_curves "${curves[@]}" --sets cs en zh \
        --out "${results}/fig2_validation_loss.png"
    ${python} -m espnet_ext.utils.code_switching_stats "${datadir}"/{cs_train,cs_a_train,cs_b_train,cs_dev,cs_test}/text \
        > "${results}/table1_cmi_spf.jsonl"
    cat "${results}/results.md"
}
