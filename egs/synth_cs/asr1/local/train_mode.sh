#!/usr/bin/env bash
# Train one mode of the meta-transfer comparison (Winata et al., ACL 2020, Table 2) with
# espnet_ext.bin.asr_train_multitask; called by run.sh stages 5 (train) and 6 (fine-tune).
# Usage: local/train_mode.sh --mode meta_en_zh_cs --feats_dir dump/fbank --stats_root exp/stats \
#            --token_list data/token_list/char/tokens.txt --config conf/mtl/train_meta_cs_transformer_cpu.yaml \
#            --out exp/asr_meta_en_zh_cs [--init_param exp/asr_meta_en_zh_cs/valid.loss.ave.pth] [--args "..."]
#            [--ngpu N] [--nproc N]   (DDP: N > 1 GPUs, ESPnet spawns a process each; or N gloo processes on CPU)
# Modes: only_cs | joint_en_zh | joint_en_cs | joint_zh_cs | joint_en_zh_cs | meta_en_cs | meta_zh_cs | meta_en_zh_cs
#        | meta_en_zh_cs_fixed | meta_en_zh_cs_srcgrad | finetune (CS only, for fine-tuning with --init_param)
#   meta_*: sources EN/ZH and the whole CS training set; D_val drawn each iteration from the whole CS pool,
#   disjoint from that iteration's CS source batch (Algorithm 1; --meta_target_pool cs).
#   meta_en_zh_cs_fixed: the ablation with a fixed target split (sources en zh cs_a, target cs_b).
#   meta_en_zh_cs_srcgrad: meta_en_zh_cs with the outer gradient of the authors' released trainer, which also
#   carries the source losses' gradients at θ (--meta_outer_grad public_code; docs/meta_transfer.md).
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (train_mode.sh) $*" >&2; }
mode=; feats_dir=; stats_root=; token_list=; config=; out=; init_param=; args=; python=python3; pool=; outer_grad=
iters_per_epoch=100   # equal budget per epoch for every mode (--num_iters_per_epoch)
ngpu=0                # GPUs; N > 1 runs ESPnet's DDP over N processes
nproc=1               # CPU training processes with --ngpu 0: N > 1 runs DDP over N gloo processes (torch.distributed.run)
while [ $# -gt 0 ]; do
    case "$1" in
        --mode|--feats_dir|--stats_root|--token_list|--config|--out|--init_param|--args|--python|--iters_per_epoch|--ngpu|--nproc)
            [ $# -ge 2 ] || { echo "ERROR: $1 needs a value" >&2; exit 1; }
            printf -v "${1#--}" '%s' "$2"; shift 2 ;;
        *) echo "ERROR: unknown option $1 (see the Usage lines at the top of $0)" >&2; exit 1 ;;
    esac
done
for v in mode feats_dir stats_root token_list config out; do
    [ -n "${!v}" ] || { echo "ERROR: --${v} is required" >&2; exit 1; }
done
[ "${ngpu}" -ge 0 ] 2>/dev/null || { echo "ERROR: --ngpu must be a non-negative integer, got '${ngpu}'" >&2; exit 1; }
[ "${nproc}" -ge 1 ] 2>/dev/null || { echo "ERROR: --nproc must be a positive integer, got '${nproc}'" >&2; exit 1; }
[ "${nproc}" = 1 ] || [ "${ngpu}" = 0 ] \
    || { echo "ERROR: --nproc ${nproc} is for CPU training (--ngpu 0); with GPUs --ngpu N runs N processes" >&2; exit 1; }

# mode -> (multitask mode, source tasks, target task); task name -> training set
case "${mode}" in
    only_cs|finetune) kind=joint; sources="cs"; target= ;;
    joint_en_zh)      kind=joint; sources="en zh"; target= ;;
    joint_en_cs)      kind=joint; sources="en cs"; target= ;;
    joint_zh_cs)      kind=joint; sources="zh cs"; target= ;;
    joint_en_zh_cs)   kind=joint; sources="en zh cs"; target= ;;
    meta_en_cs)       kind=meta;  sources="en cs"; target=cs_val; pool=cs ;;
    meta_zh_cs)       kind=meta;  sources="zh cs"; target=cs_val; pool=cs ;;
    meta_en_zh_cs)    kind=meta;  sources="en zh cs"; target=cs_val; pool=cs ;;
    meta_en_zh_cs_fixed) kind=meta; sources="en zh cs_a"; target=cs_b ;;
    meta_en_zh_cs_srcgrad) kind=meta; sources="en zh cs"; target=cs_val; pool=cs; outer_grad=public_code ;;
    *) echo "ERROR: unknown --mode '${mode}'" >&2; exit 1 ;;
esac
train_set() { case "$1" in cs|cs_val) echo cs_train ;; *) echo "$1_train" ;; esac; }

opts=(--multitask_mode "${kind}" --source_tasks ${sources} --valid_primary cs)
[ -z "${target}" ] || opts+=(--target_task "${target}")
[ -z "${pool}" ] || opts+=(--meta_target_pool "${pool}")
[ -z "${outer_grad}" ] || opts+=(--meta_outer_grad "${outer_grad}")
for t in ${sources} ${target}; do
    s=$(train_set "${t}")
    opts+=(--multitask_train_data "${t},${feats_dir}/${s}/feats.scp,speech,kaldi_ark"
           --multitask_train_data "${t},${feats_dir}/${s}/text,text,text"
           --multitask_train_data "${t},${feats_dir}/${s}/utt2lid,lang,text_int"
           --multitask_train_shape_file "${t},${stats_root}/${s}/train/speech_shape"
           --multitask_train_shape_file "${t},${stats_root}/${s}/train/text_shape")
done
# Validation on CS, EN and ZH dev every epoch (Fig. 2); shapes from the stats run of each language's train set.
for v in cs en zh; do
    opts+=(--multitask_valid_data "${v},${feats_dir}/${v}_dev/feats.scp,speech,kaldi_ark"
           --multitask_valid_data "${v},${feats_dir}/${v}_dev/text,text,text"
           --multitask_valid_data "${v},${feats_dir}/${v}_dev/utt2lid,lang,text_int"
           --multitask_valid_shape_file "${v},${stats_root}/$(train_set "${v}")/valid/speech_shape"
           --multitask_valid_shape_file "${v},${stats_root}/$(train_set "${v}")/valid/text_shape")
done
[ -z "${init_param}" ] || opts+=(--init_param "${init_param}")
log "mode ${mode}: ${kind}, sources [${sources}] target [${target}] -> ${out}"
mkdir -p "${out}"
# DDP (every mode, meta-transfer included: MetaTransferTrainer all-reduces the outer gradient): ESPnet spawns one
# process per GPU; on CPU torch.distributed.run starts the gloo processes and ESPnet reads rank/world from the env.
launch=("${python}"); dist=()
[ "${ngpu}" -le 1 ] || dist=(--multiprocessing_distributed true)
if [ "${nproc}" -gt 1 ]; then
    launch=("${python}" -m torch.distributed.run --standalone --nproc_per_node "${nproc}"); dist=(--dist_backend gloo)
fi
# shellcheck disable=SC2086
"${launch[@]}" -m espnet_ext.bin.asr_train_multitask --config "${config}" --output_dir "${out}" --resume true \
    --token_type char --token_list "${token_list}" --input_size "$(cat "${feats_dir}/cs_train/feats_dim")" \
    --normalize utterance_mvn --use_preprocessor true --model_conf "languages=[cs,en,zh]" --ngpu "${ngpu}" "${dist[@]}" \
    --num_iters_per_epoch "${iters_per_epoch}" "${opts[@]}" ${args}
