# Hook cs_lm — stages 9-11: the code-switching language model of "Meta-Transfer Learning for Code-Switched Speech
# Recognition" (Winata et al., arXiv:2004.14228, arXiv:2004.14228, Sec. 4.2, 5.4, Table 4; docs/cs_language_model.md),
# after stages 1-3 (transcripts, character token list) and, for stage 11, an ASR experiment of stages 5-6.
#   9  LM training, 2-layer LSTM char LM (ESPnet seq_rnn) on the recipe's transcripts with the ASR token list,
#      one experiment per --lm_modes entry -> <expdir>/lm_<mode>:
#        only_cs   Only-CS: cs_train                                (conf/lm/train_lm.yaml)
#        joint     joint training, a batch of en_train, zh_train, cs_train per step (conf/lm/train_lm.yaml)
#        meta      meta-transfer, sources en_train zh_train cs_a_train, target cs_b_train (conf/lm/train_lm_meta.yaml)
#        joint_ft, meta_ft   fine-tuning of joint / meta on cs_train: SGD lr 1.0, lr x0.25 when CS dev does
#                  not improve, early stop after 5 epochs (conf/lm/finetune_lm.yaml, plain espnet2.bin.lm_train)
#      validation on cs_dev (model selection) and en_dev, zh_dev (reported).
#  10  perplexity of every LM on cs_dev (valid) and --lm_test_set -> <expdir>/results/table4_lm_ppl.{md,json}
#  11  decoding of --lm_test_set with --lm_asr_exp: plain beam search (--inference_config; reused when stage 6 made
#      it), (a) N-best decoding + rescoring with eq. 5 and (b) shallow fusion of eq. 5 in the beam search
#      (alpha 1, beta = lm_weight, gamma = word_count_weight of --lm_inference_config) with the --decode_lm LM;
#      CER/MER and decoding time of each -> <expdir>/results/lm_decoding_<asr tag>.{md,json}
#   Every finished step leaves a marker (<dir>/.done) recording what it was made from (config, transcripts, token
#   list, options, initial model, code); re-running skips it only when these are unchanged.
# shellcheck shell=bash
# ---- options of the cs_lm hook
lm_modes="only_cs joint joint_ft meta meta_ft"   # LMs of stage 9 (Table 4 rows)
lm_config_dir=          # train_lm.yaml, train_lm_meta.yaml, finetune_lm.yaml (default: conf/lm/ of the repository)
lm_iters_per_epoch=20   # iterations per epoch of only_cs, joint and meta (empty: one pass over the lead task)
lm_train_args=          # extra options for every LM training, fine-tuning included (e.g. "--max_epoch 1")
lm_file=valid.loss.best.pth   # LM checkpoint used by stages 10-11 and fine-tuned in stage 9
lm_test_set=cs_test     # CS test set of stages 10-11
lm_asr_exp=             # ASR experiment decoded in stage 11 (default: <expdir>/asr_meta_en_zh_cs)
lm_inference_config=    # eq. 5 weights and beam of stage 11's (a) and (b)
nbest=5                 # hypotheses kept for (a) N-best rescoring
decode_lm=meta_ft       # LM of stage 11: a --lm_modes name (<expdir>/lm_<name>) or an LM experiment dir
# ---- end of options

stages[9]=cs_lm_train; stages[10]=cs_lm_perplexity; stages[11]=cs_lm_decode
checks+=(cs_lm_check)
cs_lm_check() {
    local m
    need_int nbest 2
    [ -z "${lm_iters_per_epoch}" ] || [[ "${lm_iters_per_epoch}" =~ ^[1-9][0-9]*$ ]] \
        || die "--lm_iters_per_epoch must be a positive integer or empty, got '${lm_iters_per_epoch}'"
    for m in ${lm_modes}; do
        case "${m}" in only_cs|joint|meta|joint_ft|meta_ft) ;;
            *) die "--lm_modes: unknown mode '${m}' (only_cs joint joint_ft meta meta_ft)" ;; esac
    done
    lm_config_dir=${lm_config_dir:-$(cd "${runner_dir}/../../.." && pwd)/conf/lm}
    lm_asr_exp=${lm_asr_exp:-${expdir}/asr_meta_en_zh_cs${sfx:-}}
}
need_file() { [ -f "$1" ] || die "$1 not found${2:+: $2}"; }
# Table 4 labels (espnet_ext.bin.lm_perplexity row names)
cs_lm_label() { case "$1" in only_cs) echo "Only CS" ;; joint) echo "Joint Training (EN + ZH + CS)" ;;
    joint_ft) echo "Joint Training (EN + ZH + CS) + Fine-tuning" ;; meta) echo "Meta-Transfer Learning (EN + ZH + CS)" ;;
    meta_ft) echo "Meta-Transfer Learning (EN + ZH + CS) + Fine-tuning" ;; esac; }

# cs_lm_check_dir OUT STAGE_MARKER_OPTIONS...: 0 when OUT is complete from the same inputs (marker logs it)
cs_lm_check_dir() {
    local out=$1 action; shift
    action=$(marker check --dir "${out}" --partial .started --file "token_list=${token_list}" \
             --option "lm_train_args=${lm_train_args}" --option "lm_iters_per_epoch=${lm_iters_per_epoch}" \
             --option "lm_file=${lm_file}" "$@") || die "${out}: marker check failed"
    case "${action}" in skip) return 0 ;; redo) rm -rf "${out}" ;; esac
    [ "${action}" = resume ] || marker start --dir "${out}" --partial .started
    return 1
}
# cs_lm_run OUT MODULE OPTIONS...: train into OUT, log in OUT/train.log
cs_lm_run() {
    local out=$1 module=$2; shift 2
    mkdir -p "${out}"
    # shellcheck disable=SC2086
    ${python} -m "${module}" --output_dir "${out}" --resume true --ngpu "${ngpu}" --token_type char \
        --token_list "${token_list}" "$@" ${lm_train_args} >> "${out}/train.log" 2>&1 \
        || { tail -n 20 "${out}/train.log" >&2; die "LM training -> ${out} failed: see ${out}/train.log"; }
    [ -f "${out}/${lm_file}" ] || die "${out}/${lm_file} was not written: see ${out}/train.log"
    marker commit --dir "${out}"
}

cs_lm_train() {
    local s v m t f out cfg sources target base valid=() iters=() texts tasks
    need_file "${token_list}" "run stage 3 (character vocabulary) first"
    for s in en_train zh_train cs_train cs_a_train cs_b_train cs_dev en_dev zh_dev; do
        need_file "${datadir}/${s}/text" "run stage 1 first (and run this from the recipe dir)"
    done
    # A Kaldi text file is its own shape file (batch_type unsorted in conf/lm/*.yaml): no collect-stats step.
    for v in cs en zh; do
        valid+=(--multitask_valid_data "${v},${datadir}/${v}_dev/text,text,text"
                --multitask_valid_shape_file "${v},${datadir}/${v}_dev/text")
    done
    [ -z "${lm_iters_per_epoch}" ] || iters=(--num_iters_per_epoch "${lm_iters_per_epoch}")
    for m in ${lm_modes}; do  # from scratch: only_cs, joint, meta
        out=${expdir}/lm_${m}
        case "${m}" in
            only_cs) cfg=train_lm.yaml;      sources="cs"; target= ;;
            joint)   cfg=train_lm.yaml;      sources="en zh cs"; target= ;;
            meta)    cfg=train_lm_meta.yaml; sources="en zh cs_a"; target=cs_b ;;
            *) continue ;;
        esac
        need_file "${lm_config_dir}/${cfg}"
        texts=(); for t in ${sources} ${target} cs_dev en_dev zh_dev; do
            case "${t}" in *_dev) f=${datadir}/${t}/text ;; *) f=${datadir}/${t}_train/text ;; esac
            texts+=(--file "text_${t}=${f}")
        done
        cs_lm_check_dir "${out}" --file "config=${lm_config_dir}/${cfg}" --option "sources=${sources}" \
            --option "target=${target}" "${texts[@]}" --code espnet_ext.bin.lm_train_multitask && continue
        log "Stage 9: LM ${m} ($(cs_lm_label "${m}")): sources [${sources}] target [${target}] -> ${out}"
        # shellcheck disable=SC2206
        tasks=(--source_tasks ${sources}); [ -z "${target}" ] || tasks+=(--target_task "${target}")
        for t in ${sources} ${target}; do
            tasks+=(--multitask_train_data "${t},${datadir}/${t}_train/text,text,text"
                    --multitask_train_shape_file "${t},${datadir}/${t}_train/text")
        done
        cs_lm_run "${out}" espnet_ext.bin.lm_train_multitask --config "${lm_config_dir}/${cfg}" "${tasks[@]}" \
            "${valid[@]}" --valid_primary cs "${iters[@]}"
    done
    for m in ${lm_modes}; do  # fine-tuning on CS: joint_ft, meta_ft
        case "${m}" in *_ft) ;; *) continue ;; esac
        out=${expdir}/lm_${m}; base=${expdir}/lm_${m%_ft}
        [ -f "${base}/.done" ] || die "${m} fine-tunes ${base}, which is not trained: add '${m%_ft}' to --lm_modes"
        need_file "${lm_config_dir}/finetune_lm.yaml"
        cs_lm_check_dir "${out}" --file "config=${lm_config_dir}/finetune_lm.yaml" --file "init_param=${base}/${lm_file}" \
            --file "text_cs_train=${datadir}/cs_train/text" --file "text_cs_dev=${datadir}/cs_dev/text" \
            --code espnet2.bin.lm_train && continue
        log "Stage 9: LM ${m} ($(cs_lm_label "${m}")): fine-tuning ${base}/${lm_file} on cs_train -> ${out}"
        cs_lm_run "${out}" espnet2.bin.lm_train --config "${lm_config_dir}/finetune_lm.yaml" \
            --init_param "${base}/${lm_file}" \
            --train_data_path_and_name_and_type "${datadir}/cs_train/text,text,text" \
            --train_shape_file "${datadir}/cs_train/text" \
            --valid_data_path_and_name_and_type "${datadir}/cs_dev/text,text,text" \
            --valid_shape_file "${datadir}/cs_dev/text"
    done
}

cs_lm_perplexity() {
    local m models=() out=${expdir}/results/table4_lm_ppl.md
    for m in ${lm_modes}; do
        [ -f "${expdir}/lm_${m}/.done" ] || die "${expdir}/lm_${m} is not trained: run stage 9"
        models+=(--model "$(cs_lm_label "${m}")=${expdir}/lm_${m}/config.yaml,${expdir}/lm_${m}/${lm_file}")
    done
    [ ${#models[@]} -gt 0 ] || die "--lm_modes is empty"
    need_file "${datadir}/cs_dev/text"; need_file "${datadir}/${lm_test_set}/text"
    log "Stage 10: perplexity on cs_dev / ${lm_test_set} -> ${out}"
    ${python} -m espnet_ext.bin.lm_perplexity --valid "${datadir}/cs_dev/text" --test "${datadir}/${lm_test_set}/text" \
        --out "${out}" "${models[@]}" > /dev/null
    cat >> "${out}" <<EOT

Perplexity per character (the ASR's token list, + <eos>) of the LMs of stage 9 on the transcripts of
${datadir}: valid = cs_dev, test = ${lm_test_set}.  Paper (Winata et al., arXiv:2004.14228, Table 4; SEAME, word-level,
Only CS from Winata et al. 2019) — not comparable in scale: Only CS 72.89 / 65.71, Joint Training 70.99 / 63.73,
+ Fine-tuning 69.66 / 62.73, Meta-Transfer Learning 68.83 / 62.14, + Fine-tuning 68.71 / 61.97.
EOT
    cat "${out}"
}

cs_lm_decode() {
    local asr_dir=${lm_asr_exp} asr_name lm_dir lm_name beta gamma model_tag lm_cfg_tag plain_tag nbest_tag fusion_tag
    need_file "${asr_dir}/config.yaml" "--lm_asr_exp ${asr_dir}: run stage 5 for it"
    need_file "${asr_dir}/${inference_model}" "--lm_asr_exp ${asr_dir}: run stage 5 for it"
    asr_name=$(basename "${asr_dir}")
    case "${asr_name}" in asr_?*) ;; *) die "--lm_asr_exp must be a directory named asr_<tag> (the runner's layout), got '${asr_dir}'" ;; esac
    if [ -d "${decode_lm}" ]; then lm_dir=${decode_lm}; else lm_dir=${expdir}/lm_${decode_lm}; fi
    lm_name=$(basename "${lm_dir}")
    need_file "${lm_dir}/config.yaml" "--decode_lm ${decode_lm}: train it in stage 9"
    need_file "${lm_dir}/${lm_file}" "--decode_lm ${decode_lm}: train it in stage 9"
    need_file "${inference_config}"; need_file "${lm_inference_config}"
    need_file "${feats_dir}/${lm_test_set}/feats.scp" "run stage 2 first"
    # eq. 5 weights from the decode config: alpha = 1 (the beam search's score), beta = lm_weight, gamma = word_count_weight
    read -r beta gamma < <(${python} -m paper_results.lm_decoding_table weights "${lm_inference_config}") \
        || die "cannot read lm_weight / word_count_weight from ${lm_inference_config}"
    model_tag=${inference_model%.pth}; lm_cfg_tag=$(basename "${lm_inference_config}" .yaml)
    plain_tag=decode_$(basename "${inference_config}" .yaml)_${model_tag}     # = stage 6's
    nbest_tag=decode_${lm_cfg_tag}_nbest${nbest}_${model_tag}
    fusion_tag=decode_${lm_cfg_tag}_${lm_name}_${model_tag}
    # cs_lm_decode_as TAG CONFIG ARGS: the runner's stage 6 on the test set, in a subshell (its variables stay)
    cs_lm_decode_as() (
        asr_exp=${asr_dir}; asr_tag=${asr_name#asr_}; test_sets=${lm_test_set}
        inference_tag=$1; inference_config=$2; inference_args=$3
        asr_decode
    )
    log "Stage 11: plain decoding of ${lm_test_set} with ${asr_dir} -> ${asr_dir}/${plain_tag}"
    cs_lm_decode_as "${plain_tag}" "${inference_config}" "${inference_args}"
    log "Stage 11: ${nbest}-best decoding (no LM) -> ${asr_dir}/${nbest_tag}"
    cs_lm_decode_as "${nbest_tag}" "${lm_inference_config}" "--lm_weight 0 --word_count_weight 0 --nbest ${nbest} ${inference_args}"
    local dec=${asr_dir}/${nbest_tag}/${lm_test_set} rescored action
    rescored=${dec}/rescored_${lm_name}
    action=$(marker check --dir "${rescored}" --file "nbest=${dec}/.done" \
             --file "lm_config=${lm_dir}/config.yaml" --file "lm=${lm_dir}/${lm_file}" --option "nbest=${nbest}" \
             --option "beta=${beta}" --option "gamma=${gamma}" --code espnet_ext.bin.rescore_nbest) \
        || die "${rescored}: marker check failed"
    if [ "${action}" != skip ]; then
        rm -rf "${rescored}"
        log "Stage 11: N-best rescoring, eq. 5 (alpha 1, beta ${beta}, gamma ${gamma}, ${lm_name}) -> ${rescored}"
        ${python} -m espnet_ext.bin.rescore_nbest --decode_dir "${dec}" --output_dir "${rescored}" --nbest "${nbest}" \
            --alpha 1.0 --beta "${beta}" --gamma "${gamma}" \
            --lm_train_config "${lm_dir}/config.yaml" --lm_file "${lm_dir}/${lm_file}"
        marker commit --dir "${rescored}"
    fi
    log "Stage 11: shallow fusion, eq. 5 (lm_weight ${beta}, word_count_weight ${gamma}, ${lm_name}) -> ${asr_dir}/${fusion_tag}"
    cs_lm_decode_as "${fusion_tag}" "${lm_inference_config}" \
        "--lm_train_config ${lm_dir}/config.yaml --lm_file ${lm_dir}/${lm_file} ${inference_args}"
    local out=${expdir}/results/lm_decoding_${asr_name#asr_}.md
    log "Stage 11: CER/MER and decoding time -> ${out}"
    ${python} -m paper_results.lm_decoding_table table --out "${out}" --ref "${feats_dir}/${lm_test_set}/text" \
        --row "plain beam search (no LM)" "${asr_dir}/${plain_tag}/${lm_test_set}" "" \
        --row "(a) ${nbest}-best + LM rescoring, eq. 5" "${dec}" "${rescored}" \
        --row "(b) shallow fusion, eq. 5" "${asr_dir}/${fusion_tag}/${lm_test_set}" ""
    cat >> "${out}" <<EOT

ASR: ${asr_dir}/${inference_model}; LM: ${lm_dir}/${lm_file}; eq. 5 with alpha 1, beta ${beta}, gamma ${gamma}
(${lm_inference_config}); plain: ${inference_config}.  CER: characters, spaces not counted (as stage 7);
MER: Chinese characters + English words.  Decoding time: the beam search summed over the ${inference_nj} decoding
job(s), from the model being loaded to the last utterance (process start-up and model loading left out), + for (a)
the rescoring (LM scoring of ${nbest} hypotheses per utterance, LM loading left out); (a)'s search is the beam
without LM keeping ${nbest} hypotheses.  Timings of decodings run at different times (e.g. plain reused from
stage 6) share the machine with whatever else ran then.
EOT
    cat "${out}"
}
