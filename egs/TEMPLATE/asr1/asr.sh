#!/usr/bin/env bash
# espnet_ext staged ASR recipe runner (self-written; each recipe's run.sh calls it).
#
# Usage: egs/TEMPLATE/asr1/asr.sh --train_set train --valid_set dev --test_sets "test" \
#            --asr_config conf/train.yaml --inference_config conf/decode.yaml [options]
#   Stages (docs/stages.md):
#     1  data prep: local/data.sh --datadir DATADIR ${local_data_opts} writes DATADIR/<set>/, then every
#        data dir is validated (wav.scp text utt2spk spk2utt utt2lang, audio headers)
#     2  fbank features (kaldiio ark/scp, parallel over --nj) + global CMVN statistics + utt2lid; on a cluster
#        (cmd.sh's cmd_backend=slurm) one ${train_cmd} job per data set
#     3  SentencePiece (unigram) model + ESPnet token list from the training transcripts, and the token
#        priors of A2 eq. 6 (used by Adjust-Train models and Adjust-Inference decoding)
#     4  shape / statistics collection (ESPnet collect_stats)
#     5  training with ESPnet's trainer (CPU, or --ngpu N; N > 1 runs DDP; --train_nproc N: DDP over N CPU processes)
#     6  decoding: joint CTC/attention batch beam search, --inference_nj jobs run by ${decode_cmd}
#     7  scoring: CER per language + average (and WER), results.md / results.json / PNG
#     8  packing: <exp>/<inference_model>.zip, one file that espnet_ext.bin.transcribe takes (raw audio in)
#   Each stage's completion marker (.done) records a fingerprint of what produced it (input digests, the
#   options and config that matter, the stage's code); a re-run skips a stage only when it matches, and
#   otherwise logs what changed and redoes it (espnet_ext.bin.stage_marker; docs/reliability.md).
#   Experiment and decoding dirs are named from the config, the token type and size and the extra
#   arguments (as egs2 does): asr_<config>_<token_type>_<bpe_type><nbpe>[_<asr_args>], decode_<config>_<model>[_<args>].
#   Where the parallel jobs run: ./cmd.sh of the directory asr.sh runs in (each recipe has one) sets cmd_backend
#   (local | slurm) and the launchers train_cmd and decode_cmd (utils/launch.py); without a cmd.sh every job runs
#   on this machine (docs/cluster.md).
set -euo pipefail

log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (asr.sh:${BASH_LINENO[0]}) $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---- options (every one may be given as --name value) ----
stage=1                 # first stage to run
stop_stage=100          # last stage to run
nj=2                    # parallel jobs for feature extraction and decoding
inference_nj=           # jobs for decoding (default: --nj)
ngpu=0                  # GPUs for training (0: CPU; N > 1: DDP over N processes)
train_nproc=1           # CPU training processes with --ngpu 0: N > 1 runs DDP over N gloo processes (torch.distributed.run)
inference_ngpu=0        # GPUs per decoding job (0: CPU; 1: every job on the visible GPU)
inference_threads=1     # torch threads per decoding job: --nj jobs x threads should not exceed the cores
python=python3          # interpreter with espnet_ext installed
train_set=              # training data dir name under data/ (required)
valid_set=              # validation data dir name (required)
test_sets=              # space-separated test data dir names (required for stages 6-7)
local_data_opts=        # options passed to local/data.sh in stage 1
languages=              # comma-separated language inventory (default: languages of the training set)
feats_conf=conf/fbank.yaml   # feature extraction options (FbankConfig fields)
feats_normalize=global_mvn   # global_mvn (with stage-2 CMVN stats) or none
token_type=bpe          # bpe (SentencePiece) is the only type this runner trains
nbpe=300                # SentencePiece vocabulary size
bpe_type=unigram        # unigram | bpe | char
asr_config=             # training YAML (required for stages 4-5)
asr_tag=                # experiment name (default: config name + token type/size + --asr_args)
asr_args=               # extra options for espnet_ext.bin.asr_train
inference_config=       # decoding YAML (required for stage 6)
inference_tag=          # decoding name (default: config name + model + --inference_args)
inference_args=         # extra options for espnet_ext.bin.asr_inference
inference_model=valid.acc.ave.pth  # model file in the experiment dir used for decoding
datadir=data            # Kaldi-style data dirs
dumpdir=dump            # features
expdir=exp              # experiments

help_message=$(sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//')

while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) echo "${help_message}"; exit 0 ;;
        --*)
            name=${1#--}
            [ $# -ge 2 ] || die "option --${name} needs a value"
            if ! declare -p "${name}" >/dev/null 2>&1 || [[ "${name}" == *[!a-z0-9_]* ]] \
                    || [ "${name}" = help_message ] || [ "${name}" = name ]; then
                die "unknown option --${name} (see --help)"
            fi
            printf -v "${name}" '%s' "$2"
            shift 2 ;;
        *) die "unexpected positional argument '$1' (options are --name value; see --help)" ;;
    esac
done

# Stage range: a typo must not exit 0 having run nothing. --stop_stage may exceed the last stage (default 100).
last_stage=8
[[ "${stage}" =~ ^[0-9]+$ ]] || die "--stage must be a stage number (1-${last_stage}), got '${stage}'"
[[ "${stop_stage}" =~ ^[0-9]+$ ]] || die "--stop_stage must be a stage number, got '${stop_stage}'"
stage=$((10#${stage})); stop_stage=$((10#${stop_stage}))
[ "${stage}" -ge 1 ] && [ "${stage}" -le "${last_stage}" ] \
    || die "--stage ${stage}: there is no such stage (the stages are 1-${last_stage}; see --help)"
[ "${stop_stage}" -ge "${stage}" ] \
    || die "--stage ${stage} --stop_stage ${stop_stage} selects no stage (--stop_stage must be >= --stage)"

need() { for v in "$@"; do [ -n "${!v}" ] || die "--${v} is required for stages ${stage}-${stop_stage}"; done; }
# run_stage N: whether stage N is selected; also closes the timing of the previous stage and opens N's.
# Durations are appended to ${expdir}/stage_times.tsv (stage, seconds, finished-at, seconds of it spent on the
# completion markers' fingerprints: what fingerprinting costs each stage, measured in every run).
timed_stage=; timed_start=0; marker_times=${expdir}/.marker_times
stage_done() {
    if [ -n "${timed_stage}" ]; then
        local took=$((SECONDS - timed_start)) fp
        mkdir -p "${expdir}"
        fp=$(awk '{ s += $2 - $1 } END { printf "%.3f", s }' "${marker_times}" 2>/dev/null || echo 0)
        printf '%s\t%d\t%s\t%s\n' "${timed_stage}" "${took}" "$(date '+%Y-%m-%dT%H:%M:%S')" "${fp}" >> "${expdir}/stage_times.tsv"
        log "Stage ${timed_stage} took ${took} s (${fp} s of it for completion-marker fingerprints)"
    fi
    rm -f "${marker_times}"
    timed_stage=
}
run_stage() {
    stage_done
    if [ "${stage}" -le "$1" ] && [ "${stop_stage}" -ge "$1" ]; then timed_stage=$1; timed_start=${SECONDS}; return 0; fi
    return 1
}
[ -n "${inference_nj}" ] || inference_nj=${nj}
[ "${nj}" -ge 1 ] 2>/dev/null || die "--nj must be a positive integer, got '${nj}'"
[ "${ngpu}" -ge 0 ] 2>/dev/null || die "--ngpu must be a non-negative integer, got '${ngpu}'"
[ "${train_nproc}" -ge 1 ] 2>/dev/null || die "--train_nproc must be a positive integer, got '${train_nproc}'"
[ "${train_nproc}" = 1 ] || [ "${ngpu}" = 0 ] \
    || die "--train_nproc ${train_nproc} is for CPU training (--ngpu 0); with GPUs --ngpu N runs N processes"
[ "${inference_ngpu}" = 0 ] || [ "${inference_ngpu}" = 1 ] || die "--inference_ngpu must be 0 or 1, got '${inference_ngpu}'"
[ "${inference_threads}" -ge 1 ] 2>/dev/null || die "--inference_threads must be a positive integer, got '${inference_threads}'"
[ "${token_type}" = bpe ] || die "--token_type: only 'bpe' (SentencePiece) is supported by this runner"
need train_set valid_set

# ---- where the parallel jobs run (docs/cluster.md) ----
# The recipe's cmd.sh sets cmd_backend and the launchers train_cmd (stage 2 on a cluster) and decode_cmd
# (stage 6), egs2-style: ${decode_cmd} [options] JOB=1:N LOG command... Without one, every job runs here.
if [ -f cmd.sh ]; then
    # shellcheck disable=SC1091
    . ./cmd.sh || die "$(pwd)/cmd.sh failed"
    for v in cmd_backend train_cmd decode_cmd; do [ -n "${!v:-}" ] || die "$(pwd)/cmd.sh does not set ${v}"; done
else
    cmd_backend=${cmd_backend:-local}
    launcher=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/utils/launch.py
    train_cmd="${launcher} --backend ${cmd_backend}"
    decode_cmd="${launcher} --backend ${cmd_backend}"
fi
case "${cmd_backend}" in local|slurm) ;; *) die "cmd_backend must be local or slurm, got '${cmd_backend}'" ;; esac

feats_dir=${dumpdir}/fbank
token_dir=${datadir}/token_list/${token_type}_${bpe_type}${nbpe}
bpemodel=${token_dir}/bpe.model
token_list=${token_dir}/tokens.txt
lang_list=${datadir}/lang_list.txt
token_prior=${token_dir}/token_prior.txt
stats_dir=${expdir}/asr_stats_${token_type}_${bpe_type}${nbpe}
# args_tag "ARGS": extra arguments as a dir-name suffix, as egs2 appends them ("--max_epoch 3" -> "_max_epoch3");
# a long one keeps its first 40 characters and a digest of the whole, so two different ones never share a dir.
args_tag() {
    [ -n "$1" ] || return 0
    local t; t=$(printf '%s' "$1" | sed -e 's/--/_/g' -e 's/[^A-Za-z0-9_.+-]//g')
    [ "${#t}" -le 60 ] || t="${t:0:40}_$(printf '%s' "$1" | sha256sum | cut -c1-8)"
    printf '%s' "${t}"
}
[ -n "${asr_tag}" ] || asr_tag=$(basename "${asr_config:-asr}" .yaml)_${token_type}_${bpe_type}${nbpe}$(args_tag "${asr_args}")
asr_exp=${expdir}/asr_${asr_tag}
[ -n "${inference_tag}" ] || \
    inference_tag=decode_$(basename "${inference_config:-decode}" .yaml)_${inference_model%.pth}$(args_tag "${inference_args}")

# Completion markers with fingerprints: "check" prints skip | run | resume | redo (and logs why), writing the
# fingerprint beside the dir (.<dir name>.fingerprint); "commit" renames it to the dir's .done once the stage has
# succeeded -- in shell, as `stage_marker commit` does, to keep the marker's cost to one Python start per stage.
marker() {  # (its time goes to ${marker_times}, a file: it runs in $(...) subshells)
    local t0=${EPOCHREALTIME} rc=0
    if [ "$1" = commit ]; then
        local d=$3; mkdir -p "${d}"; mv -f "$(dirname "${d}")/.$(basename "${d}").fingerprint" "${d}/.done" || rc=$?
    else
        ${python} -m espnet_ext.bin.stage_marker "$@" || rc=$?
    fi
    mkdir -p "${expdir}"; echo "${t0} ${EPOCHREALTIME}" >> "${marker_times}"
    return "${rc}"
}

# ---- Stage 1: data preparation ----
if run_stage 1; then
    log "Stage 1: data preparation (local/data.sh --datadir ${datadir} ${local_data_opts})"
    [ -x local/data.sh ] || die "local/data.sh not found or not executable in $(pwd)"
    # shellcheck disable=SC2086
    local/data.sh --datadir "${datadir}" ${local_data_opts}
    sets=("${train_set}" "${valid_set}")
    for s in ${test_sets}; do sets+=("${s}"); done
    dirs=(); for s in "${sets[@]}"; do dirs+=("${datadir}/${s}"); done
    lang_opt=(); [ -z "${languages}" ] || lang_opt=(--languages "${languages}")
    ${python} -m espnet_ext.bin.validate_data_dir "${dirs[@]}" "${lang_opt[@]}" --write_lang_list "${lang_list}"
    log "Language inventory: $(paste -sd' ' "${lang_list}")"
fi

# ---- Stage 2: features ----
if run_stage 2; then
    log "Stage 2: features (${feats_conf}, nj=${nj})"
    [ -f "${lang_list}" ] || die "${lang_list} missing: run stage 1 first"
    sets=("${train_set}" "${valid_set}")
    for s in ${test_sets}; do sets+=("${s}"); done
    if [ "${cmd_backend}" = local ]; then
        for s in "${sets[@]}"; do
            ${python} -m espnet_ext.bin.compute_fbank --data_dir "${datadir}/${s}" --out_dir "${feats_dir}/${s}" \
                --conf "${feats_conf}" --nj "${nj}" --lang_list "${lang_list}"
        done
    else
        # On a cluster: one ${train_cmd} job per data set (each with compute_fbank's --nj processes), all in one
        # array; a set listed twice is extracted once. A finished set's job only logs "is complete; skipping".
        mkdir -p "${feats_dir}/log"
        set_list=${feats_dir}/log/sets.txt
        printf '%s\n' "${sets[@]}" | awk '!seen[$0]++' > "${set_list}"
        n_sets=$(wc -l < "${set_list}")
        log "Stage 2: ${n_sets} data set(s) as ${cmd_backend} jobs (${set_list}); logs ${feats_dir}/log/fbank.*.log"
        printf -v fbank_job '%s' 's=$(awk -v j=JOB "NR == j" %q) && echo "data set: ${s}" && ' \
            '%s -m espnet_ext.bin.compute_fbank --data_dir %q/"${s}" --out_dir %q/"${s}" --conf %q --nj %d --lang_list %q'
        # shellcheck disable=SC2059
        printf -v fbank_job "${fbank_job}" "${set_list}" "${python}" "${datadir}" "${feats_dir}" "${feats_conf}" "${nj}" \
            "${lang_list}"
        ${train_cmd} --cpus "${nj}" JOB=1:"${n_sets}" "${feats_dir}/log/fbank.JOB.log" "${fbank_job}" \
            || die "stage 2: feature extraction failed"
    fi
fi

# ---- Stage 3: SentencePiece ----
if run_stage 3; then
    log "Stage 3: SentencePiece ${bpe_type} (${nbpe}) -> ${token_dir}"
    [ -f "${feats_dir}/${train_set}/text" ] || die "${feats_dir}/${train_set}/text missing: run stage 2 first"
    action=$(marker check --dir "${token_dir}" --file "text=${feats_dir}/${train_set}/text" \
             --file "utt2lang=${feats_dir}/${train_set}/utt2lang" --option "token_type=${token_type}" \
             --option "bpe_type=${bpe_type}" --option "nbpe=${nbpe}" \
             --code espnet_ext.bin.train_sentencepiece espnet_ext.bin.compute_token_priors) || die "stage 3 marker check failed"
    if [ "${action}" != skip ]; then
        rm -rf "${token_dir}"
        ${python} -m espnet_ext.bin.train_sentencepiece --text "${feats_dir}/${train_set}/text" \
            --out_dir "${token_dir}" --vocab_size "${nbpe}" --model_type "${bpe_type}"
        ${python} -m espnet_ext.bin.compute_token_priors --text "${feats_dir}/${train_set}/text" \
            --token_list "${token_list}" --bpemodel "${bpemodel}" --utt2lang "${feats_dir}/${train_set}/utt2lang" \
            --out "${token_prior}"
        marker commit --dir "${token_dir}"
    fi
fi

data_opts() {  # data_opts <train|valid> <set>: the data triples of one split
    local d=${feats_dir}/$2
    echo "--$1_data_path_and_name_and_type ${d}/feats.scp,speech,kaldi_ark" \
         "--$1_data_path_and_name_and_type ${d}/text,text,text" \
         "--$1_data_path_and_name_and_type ${d}/utt2lid,lang,text_int"
}
common_train_opts() {
    local feats_dim normalize_opts=""
    feats_dim=$(cat "${feats_dir}/${train_set}/feats_dim")
    if [ "${feats_normalize}" = global_mvn ]; then
        normalize_opts="--normalize global_mvn --normalize_conf stats_file=${feats_dir}/${train_set}/cmvn.npz"
    elif [ "${feats_normalize}" != none ]; then
        die "--feats_normalize must be global_mvn or none, got '${feats_normalize}'"
    fi
    echo "--config ${asr_config} --use_preprocessor true --token_type ${token_type} --bpemodel ${bpemodel}" \
         "--token_list ${token_list} --token_prior ${token_prior} --input_size ${feats_dim} ${normalize_opts}" \
         "--model_conf languages=[$(paste -sd, "${lang_list}")]" \
         "$(data_opts train "${train_set}") $(data_opts valid "${valid_set}")"
}

# ---- Stage 4: shapes and statistics ----
if run_stage 4; then
    need asr_config
    log "Stage 4: shape/statistics collection -> ${stats_dir}"
    [ -f "${token_dir}/.done" ] || die "${token_dir} incomplete: run stage 3 first"
    # Shapes depend on the features and the tokenizer only, so every config of a token type/size shares them.
    action=$(marker check --dir "${stats_dir}" --file "tokens=${token_dir}/.done" --file "token_list=${token_list}" \
             --file "train_feats=${feats_dir}/${train_set}/.done" --file "valid_feats=${feats_dir}/${valid_set}/.done" \
             --file "lang_list=${lang_list}" --code espnet_ext.bin.asr_train) || die "stage 4 marker check failed"
    if [ "${action}" != skip ]; then
        ${python} -m espnet_ext.bin.check_token_list --bpemodel "${bpemodel}" --token_list "${token_list}"
        rm -rf "${stats_dir}"
        # shellcheck disable=SC2046
        ${python} -m espnet_ext.bin.asr_train --collect_stats true --ngpu 0 --num_workers 0 \
            $(common_train_opts) --batch_type unsorted --batch_size 20 --output_dir "${stats_dir}" ${asr_args}
        marker commit --dir "${stats_dir}"
    fi
fi

# ---- Stage 5: training ----
if run_stage 5; then
    need asr_config
    log "Stage 5: training ${asr_exp} (config ${asr_config}, ngpu=${ngpu})"
    [ -f "${stats_dir}/.done" ] || die "${stats_dir} incomplete: run stage 4 first"
    # A started run is resumed only when it was started from the same inputs (marker .started).
    action=$(marker check --dir "${asr_exp}" --partial .started --file "stats=${stats_dir}/.done" \
             --file "tokens=${token_dir}/.done" --file "train_feats=${feats_dir}/${train_set}/.done" \
             --file "valid_feats=${feats_dir}/${valid_set}/.done" --file "config=${asr_config}" \
             --file "lang_list=${lang_list}" --option "asr_args=${asr_args}" --option "feats_normalize=${feats_normalize}" \
             --code espnet_ext.bin.asr_train) || die "stage 5 marker check failed"
    if [ "${action}" != skip ]; then
        # DDP: ESPnet spawns one process per GPU (--ngpu N); on CPU torch.distributed.run starts --train_nproc
        # gloo processes and ESPnet reads their rank and world size from the environment.
        dist_opts=""; train_launch=${python}
        [ "${ngpu}" -le 1 ] || dist_opts="--multiprocessing_distributed true"
        if [ "${train_nproc}" -gt 1 ]; then
            dist_opts="--dist_backend gloo"
            train_launch="${python} -m torch.distributed.run --standalone --nproc_per_node ${train_nproc}"
        fi
        [ "${action}" != redo ] || rm -rf "${asr_exp}"
        mkdir -p "${asr_exp}"
        [ "${action}" = resume ] || marker start --dir "${asr_exp}" --partial .started
        # ESPnet resumes from ${asr_exp}/checkpoint.pth when present (--resume true).
        # shellcheck disable=SC2046,SC2086
        ${train_launch} -m espnet_ext.bin.asr_train $(common_train_opts) --ngpu "${ngpu}" ${dist_opts} --resume true \
            --train_shape_file "${stats_dir}/train/speech_shape" --train_shape_file "${stats_dir}/train/text_shape" \
            --valid_shape_file "${stats_dir}/valid/speech_shape" --valid_shape_file "${stats_dir}/valid/text_shape" \
            --output_dir "${asr_exp}" ${asr_args}
        marker commit --dir "${asr_exp}"
    fi
fi

# ---- Stage 6: decoding ----
if run_stage 6; then
    need inference_config test_sets
    [ -f "${asr_exp}/${inference_model}" ] || die "${asr_exp}/${inference_model} not found: run stage 5 first"
    for s in ${test_sets}; do
        out=${asr_exp}/${inference_tag}/${s}
        action=$(marker check --dir "${out}" --file "model=${asr_exp}/${inference_model}" \
                 --file "train_config=${asr_exp}/config.yaml" --file "feats=${feats_dir}/${s}/.done" \
                 --file "config=${inference_config}" --option "inference_args=${inference_args}" \
                 --code espnet_ext.bin.asr_inference) || die "stage 6 marker check failed"
        [ "${action}" != skip ] || continue
        log "Stage 6: decoding ${s} -> ${out} (nj=${inference_nj}, ${cmd_backend} jobs)"
        rm -rf "${out}"; mkdir -p "${out}/logdir"
        jobs_n=$(${python} -m espnet_ext.bin.split_merge split --scp "${feats_dir}/${s}/feats.scp" \
                 --nj "${inference_nj}" --out_dir "${out}/logdir")
        # The jobs run where cmd.sh's decode_cmd sends them (here, or as one Slurm array asking for --cpus/--gpus per
        # job); a failed job is named with its log. One thread per job by default: torch's default (all cores)
        # in every job oversubscribes the CPU.
        # shellcheck disable=SC2086
        ${decode_cmd} --cpus "${inference_threads}" --gpus "${inference_ngpu}" \
            JOB=1:"${jobs_n}" "${out}/logdir/decode.JOB.log" \
            OMP_NUM_THREADS=${inference_threads} MKL_NUM_THREADS=${inference_threads} \
            ${python} -m espnet_ext.bin.asr_inference --config "${inference_config}" --ngpu "${inference_ngpu}" \
                --asr_train_config "${asr_exp}/config.yaml" --asr_model_file "${asr_exp}/${inference_model}" \
                --data_path_and_name_and_type "${feats_dir}/${s}/feats.scp,speech,kaldi_ark" \
                --utt2lang "${feats_dir}/${s}/utt2lang" --key_file "${out}/logdir/keys.JOB" \
                --output_dir "${out}/logdir/output.JOB" ${inference_args} || die "decoding ${s} failed"
        ${python} -m espnet_ext.bin.split_merge merge --nj "${jobs_n}" --logdir "${out}/logdir" --out_dir "${out}"
        marker commit --dir "${out}"
    done
fi

# ---- Stage 7: scoring ----
if run_stage 7; then
    need test_sets
    for s in ${test_sets}; do
        out=${asr_exp}/${inference_tag}/${s}
        [ -f "${out}/.done" ] || die "${out} has no complete decoding: run stage 6 first"
        log "Stage 7: scoring ${out}"
        ${python} -m espnet_ext.bin.score_cer --ref "${feats_dir}/${s}/text" --hyp "${out}/text" \
            --utt2lang "${feats_dir}/${s}/utt2lang" --out_dir "${out}" --title "${asr_tag} ${s}"
    done
fi
# ---- Stage 8: packing ----
if run_stage 8; then
    # One zip a colleague can use alone: a config whose frontend computes the stage-2 features from raw audio
    # (stage2_fbank), the weights, token list, SentencePiece model, CMVN and token priors (docs/transcribe_and_pack.md).
    packed=${asr_exp}/${inference_model%.pth}.zip
    [ -f "${asr_exp}/${inference_model}" ] || die "${asr_exp}/${inference_model} not found: run stage 5 first"
    log "Stage 8: packing ${asr_exp}/${inference_model} -> ${packed}"
    ${python} -m espnet_ext.bin.pack_model --exp_dir "${asr_exp}" --model_file "${inference_model}" \
        --fbank_conf "${feats_conf}" --out "${packed}"
    log "Transcribe audio files with it: ${python} -m espnet_ext.bin.transcribe --model ${packed} a.wav b.mp3 ..."
fi
stage_done
log "Finished stages ${stage}-${stop_stage}"
