#!/usr/bin/env bash
# espnet_ext's one staged recipe runner (self-written): every recipe's run.sh is a page of defaults that calls it.
#
# Usage: egs/TEMPLATE/asr1/asr.sh --train_set train --valid_set dev --test_sets "test" \
#            --asr_config conf/train.yaml --inference_config conf/decode.yaml [--hooks "a b"] [options]
#   Stages (the same numbers in every recipe; docs/stages.md):
#     1  data prep: --local_data (local/<corpus>/data.sh) --datadir DATADIR --python PYTHON ${local_data_opts} writes
#        DATADIR/<set>/, then every
#        data dir is validated (wav.scp text utt2spk spk2utt utt2lang, audio headers)
#     2  features (kaldiio ark/scp, parallel over --nj) + global CMVN statistics + utt2lid; on a cluster
#        (cmd.sh's cmd_backend=slurm) one ${train_cmd} job per data set
#     3  vocabulary: SentencePiece (unigram) model + ESPnet token list from the training transcripts, and the token
#        priors of A2 eq. 6 (used by Adjust-Train models and Adjust-Inference decoding)
#     4  shape / statistics collection (ESPnet collect_stats), then the token coverage of the test sets per language
#     5  the CTC feasibility check of --asr_config's front end (stops above --ctc_feasibility_threshold), then
#        training with ESPnet's trainer (CPU, or --ngpu N; N > 1 runs DDP; --train_nproc N: DDP over N CPU processes)
#     6  decoding: joint CTC/attention batch beam search, --inference_nj jobs run by ${decode_cmd}
#     7  scoring: CER per language + average (and WER), results.md / results.json / PNG; LID accuracy (lid.*, per language and speaker)
#     8  packing: <exp>/<inference_model>.zip, one file that espnet_ext.bin.transcribe takes (raw audio in)
#   Hooks (--hooks, files in egs/TEMPLATE/asr1/hooks/ or paths) replace stages or add stages 9 and up, for what
#   a recipe does differently: char_vocab (stage 3), per_language_vocab (stage 3), cs_multitask (stages 4-8: the
#   Only-CS / joint / meta-transfer / fine-tuning experiments), cs_lm (stages 9-11: the code-switching LMs),
#   model_rows (stages 5-8: several models side by side, e.g. SMT and A2, compared per language).
#   Each hook's options are options of this runner; --help lists them.
#   Each stage's completion marker (.done) records a fingerprint of what produced it (input digests, the
#   options and config that matter, the stage's code); a re-run skips a stage only when it matches, and
#   otherwise logs what changed and redoes it (espnet_ext.bin.stage_marker; docs/reliability.md).
#   Experiment and decoding dirs are named from the config, the token type and size and the extra
#   arguments (as egs2 does): asr_<config>_<token_type>_<bpe_type><nbpe>[_<asr_args>], decode_<config>_<model>[_<args>].
#   Where the parallel jobs run: ./cmd.sh of the directory asr.sh runs in (each recipe has one) sets cmd_backend
#   (local | slurm) and the launchers train_cmd and decode_cmd (utils/launch.py); without a cmd.sh every job runs
#   on this machine (docs/cluster.md).
set -euo pipefail
runner_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=utils/lib.sh
. "${runner_dir}/utils/lib.sh"

# ---- options (every one may be given as --name value) ----
stage=1                 # first stage to run
stop_stage=100          # last stage to run
hooks=                  # hooks replacing or adding stages (names under egs/TEMPLATE/asr1/hooks/, or paths)
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
data_sets=              # more data dirs prepared in stages 1-2 besides the training, validation and test sets
local_data=local/data.sh   # stage 1's data-prep script (relative to the recipe dir, or a path): the corpora's scripts
                        # are in the repository's top-level local/ (local/<corpus>/data.sh), named by each run.sh
local_data_opts=        # options passed to it in stage 1
languages=              # comma-separated language inventory (default: languages of the training set)
feats_conf=             # feature extraction options (FbankConfig fields; required for stage 2 and 8)
feats_normalize=global_mvn   # global_mvn (with stage-2 CMVN stats), utterance_mvn or none; a training YAML that
                        # sets its own top-level `normalize:` overrides it (so a conf of an ablation can)
token_type=bpe          # bpe (SentencePiece, stage 3 here) | char (a vocabulary hook's stage 3)
nbpe=300                # SentencePiece vocabulary size
bpe_type=unigram        # unigram | bpe | char
asr_config=             # training YAML (required for stages 4-5)
asr_tag=                # experiment name (default: config name + token type/size + --asr_args)
asr_args=               # extra options for espnet_ext.bin.asr_train
inference_config=       # decoding YAML (required for stage 6)
inference_tag=          # decoding name (default: config name + model + --inference_args)
inference_args=         # extra options for espnet_ext.bin.asr_inference
inference_model=valid.acc.ave.pth  # model file in the experiment dir used for decoding
ctc_feasibility_threshold=0.01   # stage 5 stops when a larger share of train/valid utterances cannot be CTC-aligned
datadir=data            # Kaldi-style data dirs
dumpdir=dump            # features
expdir=exp              # experiments
# ---- end of options

# The stages, by number: the function each runs. A hook reassigns entries (stages[3]=...) or adds 9 and up.
declare -A stages=([1]=asr_data [2]=asr_features [3]=asr_vocab [4]=asr_stats [5]=asr_train [6]=asr_decode
                   [7]=asr_score [8]=asr_pack)
checks=()               # functions a hook adds: run after the options are read, before any stage
# --hooks is read first: the hooks' options are options too.
args=("$@"); hook_files=()
while [ $# -gt 0 ]; do { [ "$1" = --hooks ] && [ $# -ge 2 ] && hooks=$2; } || true; shift; done
for h in ${hooks}; do
    f=${h}; [[ "${h}" == */* ]] || f=${runner_dir}/hooks/${h}.sh
    [ -f "${f}" ] || die "--hooks: ${f} not found (hooks: $(cd "${runner_dir}/hooks" && ls -- *.sh | sed 's/\.sh$//' | tr '\n' ' '))"
    hook_files+=("${f}")
    # shellcheck disable=SC1090
    . "${f}"
done
parse_options "${BASH_SOURCE[0]} ${hook_files[*]}" "${args[@]}"

last_stage=$(printf '%s\n' "${!stages[@]}" | sort -n | tail -n 1)
check_stage_range "${last_stage}"
[ -n "${inference_nj}" ] || inference_nj=${nj}
[ "${nj}" -ge 1 ] 2>/dev/null || die "--nj must be a positive integer, got '${nj}'"
[ "${ngpu}" -ge 0 ] 2>/dev/null || die "--ngpu must be a non-negative integer, got '${ngpu}'"
[ "${train_nproc}" -ge 1 ] 2>/dev/null || die "--train_nproc must be a positive integer, got '${train_nproc}'"
[ "${train_nproc}" = 1 ] || [ "${ngpu}" = 0 ] \
    || die "--train_nproc ${train_nproc} is for CPU training (--ngpu 0); with GPUs --ngpu N runs N processes"
[ "${inference_ngpu}" = 0 ] || [ "${inference_ngpu}" = 1 ] || die "--inference_ngpu must be 0 or 1, got '${inference_ngpu}'"
[ "${inference_threads}" -ge 1 ] 2>/dev/null || die "--inference_threads must be a positive integer, got '${inference_threads}'"
case "${token_type}" in bpe|char) ;; *) die "--token_type must be bpe or char, got '${token_type}'" ;; esac
need() { for v in "$@"; do [ -n "${!v}" ] || die "--${v} is required for stages ${stage}-${stop_stage}"; done; }
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
    train_cmd="${runner_dir}/utils/launch.py --backend ${cmd_backend}"
    decode_cmd="${runner_dir}/utils/launch.py --backend ${cmd_backend}"
fi
case "${cmd_backend}" in local|slurm) ;; *) die "cmd_backend must be local or slurm, got '${cmd_backend}'" ;; esac

feats_dir=${dumpdir}/fbank
if [ "${token_type}" = bpe ]; then token_dir=${datadir}/token_list/${token_type}_${bpe_type}${nbpe}
else token_dir=${datadir}/token_list/${token_type}; fi
bpemodel=${token_dir}/bpe.model
token_list=${token_dir}/tokens.txt
lang_list=${datadir}/lang_list.txt
token_prior=${token_dir}/token_prior.txt
stats_dir=${expdir}/asr_stats_${token_type}_${bpe_type}${nbpe}
# how the diagnostics (token coverage, CTC feasibility) tokenize the transcripts, as training does
if [ "${token_type}" = bpe ]; then tokenizer_opts=(--token_type bpe --bpemodel "${bpemodel}")
else tokenizer_opts=(--token_type char); fi
# default_asr_tag / default_inference_tag: the names of an experiment and a decoding from the current config and
# options (the model_rows hook names each row's the same way)
default_asr_tag() { echo "$(basename "${asr_config:-asr}" .yaml)_${token_type}_${bpe_type}${nbpe}$(args_tag "${asr_args}")"; }
default_inference_tag() {
    echo "decode_$(basename "${inference_config:-decode}" .yaml)_${inference_model%.pth}$(args_tag "${inference_args}")"
}
[ -n "${asr_tag}" ] || asr_tag=$(default_asr_tag)
asr_exp=${expdir}/asr_${asr_tag}
[ -n "${inference_tag}" ] || inference_tag=$(default_inference_tag)
all_sets() { local s; for s in "${train_set}" "${valid_set}" ${test_sets} ${data_sets}; do echo "${s}"; done | awk '!seen[$0]++'; }
for c in "${checks[@]}"; do "${c}"; done

# ---- Stage 1: data preparation ----
asr_data() {
    log "Stage 1: data preparation (${local_data} --datadir ${datadir} --python ${python} ${local_data_opts})"
    [ -x "${local_data}" ] || die "--local_data ${local_data}: not found or not executable (in $(pwd))"
    # shellcheck disable=SC2086
    "${local_data}" --datadir "${datadir}" --python "${python}" ${local_data_opts}
    local dirs=() s lang_opt=()
    for s in $(all_sets); do dirs+=("${datadir}/${s}"); done
    [ -z "${languages}" ] || lang_opt=(--languages "${languages}")
    ${python} -m espnet_ext.bin.validate_data_dir "${dirs[@]}" "${lang_opt[@]}" --write_lang_list "${lang_list}"
    log "Language inventory: $(paste -sd' ' "${lang_list}")"
}

# ---- Stage 2: features ----
asr_features() {
    need feats_conf
    log "Stage 2: features (${feats_conf}, nj=${nj})"
    [ -f "${lang_list}" ] || die "${lang_list} missing: run stage 1 first"
    local s
    if [ "${cmd_backend}" = local ]; then
        for s in $(all_sets); do
            ${python} -m espnet_ext.bin.compute_fbank --data_dir "${datadir}/${s}" --out_dir "${feats_dir}/${s}" \
                --conf "${feats_conf}" --nj "${nj}" --lang_list "${lang_list}"
        done
        return 0
    fi
    # On a cluster: one ${train_cmd} job per data set (each with compute_fbank's --nj processes), all in one
    # array. A finished set's job only logs "is complete; skipping".
    mkdir -p "${feats_dir}/log"
    local set_list=${feats_dir}/log/sets.txt n_sets fbank_job
    all_sets > "${set_list}"
    n_sets=$(wc -l < "${set_list}")
    log "Stage 2: ${n_sets} data set(s) as ${cmd_backend} jobs (${set_list}); logs ${feats_dir}/log/fbank.*.log"
    printf -v fbank_job '%s' 's=$(awk -v j=JOB "NR == j" %q) && echo "data set: ${s}" && ' \
        '%s -m espnet_ext.bin.compute_fbank --data_dir %q/"${s}" --out_dir %q/"${s}" --conf %q --nj %d --lang_list %q'
    # shellcheck disable=SC2059
    printf -v fbank_job "${fbank_job}" "${set_list}" "${python}" "${datadir}" "${feats_dir}" "${feats_conf}" "${nj}" \
        "${lang_list}"
    ${train_cmd} --cpus "${nj}" JOB=1:"${n_sets}" "${feats_dir}/log/fbank.JOB.log" "${fbank_job}" \
        || die "stage 2: feature extraction failed"
}

# ---- Stage 3: SentencePiece ----
asr_vocab() {
    [ "${token_type}" = bpe ] || die "stage 3 here trains SentencePiece (--token_type bpe); --token_type ${token_type} needs a vocabulary hook (--hooks char_vocab)"
    log "Stage 3: SentencePiece ${bpe_type} (${nbpe}) -> ${token_dir}"
    [ -f "${feats_dir}/${train_set}/text" ] || die "${feats_dir}/${train_set}/text missing: run stage 2 first"
    local action
    action=$(marker check --dir "${token_dir}" --file "text=${feats_dir}/${train_set}/text" \
             --file "utt2lang=${feats_dir}/${train_set}/utt2lang" --option "token_type=${token_type}" \
             --option "bpe_type=${bpe_type}" --option "nbpe=${nbpe}" \
             --code espnet_ext.bin.train_sentencepiece espnet_ext.bin.compute_token_priors) || die "stage 3 marker check failed"
    [ "${action}" != skip ] || return 0
    rm -rf "${token_dir}"
    ${python} -m espnet_ext.bin.train_sentencepiece --text "${feats_dir}/${train_set}/text" \
        --out_dir "${token_dir}" --vocab_size "${nbpe}" --model_type "${bpe_type}"
    ${python} -m espnet_ext.bin.compute_token_priors --text "${feats_dir}/${train_set}/text" \
        --token_list "${token_list}" --bpemodel "${bpemodel}" --utt2lang "${feats_dir}/${train_set}/utt2lang" \
        --out "${token_prior}"
    marker commit --dir "${token_dir}"
}

common_train_opts() {
    local feats_dim normalize_opts="" normalize
    feats_dim=$(cat "${feats_dir}/${train_set}/feats_dim")
    # ESPnet's command line overrides the YAML, so the runner passes no normalization the YAML chose itself
    normalize=$(${python} -m espnet_ext.bin.conf_value --config "${asr_config}" --key normalize \
                --default "${feats_normalize}") || die "cannot read 'normalize' from ${asr_config}"
    case "${normalize}" in
        global_mvn) normalize_opts="--normalize global_mvn --normalize_conf stats_file=${feats_dir}/${train_set}/cmvn.npz" ;;
        utterance_mvn) normalize_opts="--normalize utterance_mvn" ;;
        none|null) normalize_opts="--normalize none" ;;
        *) die "normalization must be global_mvn, utterance_mvn or none (--feats_normalize or 'normalize:' in ${asr_config}), got '${normalize}'" ;;
    esac
    echo "--config ${asr_config} --use_preprocessor true --token_type ${token_type} --bpemodel ${bpemodel}" \
         "--token_list ${token_list} --token_prior ${token_prior} --input_size ${feats_dim} ${normalize_opts}" \
         "--model_conf languages=[$(paste -sd, "${lang_list}")]" \
         "$(data_triples train "${feats_dir}/${train_set}") $(data_triples valid "${feats_dir}/${valid_set}")"
}

# ---- Stage 4: shapes and statistics ----
asr_stats() {
    need asr_config
    log "Stage 4: shape/statistics collection -> ${stats_dir}"
    [ -f "${token_dir}/.done" ] || die "${token_dir} incomplete: run stage 3 first"
    # Shapes depend on the features and the tokenizer only, so every config of a token type/size shares them.
    local action
    action=$(marker check --dir "${stats_dir}" --file "tokens=${token_dir}/.done" --file "token_list=${token_list}" \
             --file "train_feats=${feats_dir}/${train_set}/.done" --file "valid_feats=${feats_dir}/${valid_set}/.done" \
             --file "lang_list=${lang_list}" --code espnet_ext.bin.asr_train) || die "stage 4 marker check failed"
    [ "${action}" != skip ] || return 0
    local train_opts
    train_opts=$(common_train_opts) || exit 1  # a die inside $(...) ends only the subshell: stop here
    ${python} -m espnet_ext.bin.check_token_list --bpemodel "${bpemodel}" --token_list "${token_list}"
    rm -rf "${stats_dir}"
    # shellcheck disable=SC2086
    ${python} -m espnet_ext.bin.asr_train --collect_stats true --ngpu 0 --num_workers 0 \
        ${train_opts} --batch_type unsorted --batch_size 20 --output_dir "${stats_dir}" ${asr_args}
    asr_token_coverage
    marker commit --dir "${stats_dir}"
}

# Token coverage of the test sets by the training transcripts, per language (docs/diagnostics.md): the share of
# test tokens never seen in training is a floor on their error rate. -> ${stats_dir}/token_coverage.{md,json,png}
asr_token_coverage() {
    local s tests=()
    for s in ${valid_set} ${test_sets}; do tests+=("${feats_dir}/${s}"); done
    log "Stage 4: token coverage of ${valid_set} ${test_sets} -> ${stats_dir}/token_coverage.{md,json,png}"
    ${python} -m espnet_ext.bin.token_coverage "${tokenizer_opts[@]}" --train "${feats_dir}/${train_set}" \
        --test "${tests[@]}" --out "${stats_dir}/token_coverage" > /dev/null || die "stage 4: token coverage report failed"
}

# Can CTC align every train/valid utterance with the front end of --asr_config (docs/diagnostics.md)? ESPnet
# zeroes an infinite CTC loss, so an utterance with fewer encoder frames than it needs trains nothing in the CTC
# branch, silently. Stops above --ctc_feasibility_threshold. -> ${asr_exp}/ctc_feasibility.json
asr_ctc_feasibility() {
    log "Stage 5: CTC feasibility of ${asr_config##*/} -> ${asr_exp}/ctc_feasibility.json"
    ${python} -m espnet_ext.bin.ctc_feasibility --config "${asr_config}" "${tokenizer_opts[@]}" --token_list "${token_list}" \
        --set "${train_set}=${stats_dir}/train/speech_shape,${feats_dir}/${train_set}/text" \
        --set "${valid_set}=${stats_dir}/valid/speech_shape,${feats_dir}/${valid_set}/text" \
        --threshold "${ctc_feasibility_threshold}" --out_json "${asr_exp}/ctc_feasibility.json" \
        || die "stage 5: the front end of ${asr_config} leaves too few frames for CTC (see above); change its input_layer or pass --ctc_feasibility_threshold 1 to train anyway"
}

# train_launcher: the command that starts a training (its DDP options in ${dist_opts}). ESPnet spawns one process
# per GPU (--ngpu N); on CPU torch.distributed.run starts --train_nproc gloo processes and ESPnet reads their rank
# and world size from the environment.
train_launcher() {
    dist_opts=""; train_launch=${python}
    [ "${ngpu}" -le 1 ] || dist_opts="--multiprocessing_distributed true"
    if [ "${train_nproc}" -gt 1 ]; then
        dist_opts="--dist_backend gloo"
        train_launch="${python} -m torch.distributed.run --standalone --nproc_per_node ${train_nproc}"
    fi
}

# ---- Stage 5: training ----
asr_train() {
    need asr_config
    log "Stage 5: training ${asr_exp} (config ${asr_config}, ngpu=${ngpu})"
    [ -f "${stats_dir}/.done" ] || die "${stats_dir} incomplete: run stage 4 first"
    # A started run is resumed only when it was started from the same inputs (marker .started).
    local action
    action=$(marker check --dir "${asr_exp}" --partial .started --file "stats=${stats_dir}/.done" \
             --file "tokens=${token_dir}/.done" --file "train_feats=${feats_dir}/${train_set}/.done" \
             --file "valid_feats=${feats_dir}/${valid_set}/.done" --file "config=${asr_config}" \
             --file "lang_list=${lang_list}" --option "asr_args=${asr_args}" --option "feats_normalize=${feats_normalize}" \
             --code espnet_ext.bin.asr_train) || die "stage 5 marker check failed"
    [ "${action}" != skip ] || return 0
    local train_opts
    train_opts=$(common_train_opts) || exit 1  # before anything is removed or written
    train_launcher
    [ "${action}" != redo ] || rm -rf "${asr_exp}"
    mkdir -p "${asr_exp}"
    asr_ctc_feasibility
    [ "${action}" = resume ] || marker start --dir "${asr_exp}" --partial .started
    # ESPnet resumes from ${asr_exp}/checkpoint.pth when present (--resume true).
    # shellcheck disable=SC2086
    ${train_launch} -m espnet_ext.bin.asr_train ${train_opts} --ngpu "${ngpu}" ${dist_opts} --resume true \
        --train_shape_file "${stats_dir}/train/speech_shape" --train_shape_file "${stats_dir}/train/text_shape" \
        --valid_shape_file "${stats_dir}/valid/speech_shape" --valid_shape_file "${stats_dir}/valid/text_shape" \
        --output_dir "${asr_exp}" ${asr_args}
    marker commit --dir "${asr_exp}"
}

# ---- Stage 6: decoding (of ${asr_exp}, with ${inference_config} into ${inference_tag}) ----
asr_decode() {
    need inference_config test_sets
    [ -f "${asr_exp}/${inference_model}" ] || die "${asr_exp}/${inference_model} not found: run stage 5 first"
    local s out action jobs_n
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
}

# ---- Stage 7: scoring ----
asr_score() {
    need test_sets
    local s out
    for s in ${test_sets}; do
        out=${asr_exp}/${inference_tag}/${s}
        [ -f "${out}/.done" ] || die "${out} has no complete decoding: run stage 6 first"
        log "Stage 7: scoring ${out}"
        ${python} -m espnet_ext.bin.score_cer --ref "${feats_dir}/${s}/text" --hyp "${out}/text" \
            --utt2lang "${feats_dir}/${s}/utt2lang" --out_dir "${out}" --title "${asr_tag} ${s}"
        # A model with a LID head wrote the language it routed each utterance to (docs/lid_routing.md).
        if [ -f "${out}/lang" ]; then
            local spk=(); [ -f "${feats_dir}/${s}/utt2spk" ] && spk=(--utt2spk "${feats_dir}/${s}/utt2spk")
            ${python} -m espnet_ext.bin.lid_report --lang_hyp "${out}/lang" --utt2lang "${feats_dir}/${s}/utt2lang" \
                --out_dir "${out}" --title "${asr_tag} ${s}" "${spk[@]}"
        fi
    done
}

# ---- Stage 8: packing ----
asr_pack() {
    # One zip a colleague can use alone: a config whose frontend computes the stage-2 features from raw audio
    # (stage2_fbank), the weights, token list, SentencePiece model, CMVN and token priors (docs/transcribe_and_pack.md).
    need feats_conf
    local packed=${asr_exp}/${inference_model%.pth}.zip
    [ -f "${asr_exp}/${inference_model}" ] || die "${asr_exp}/${inference_model} not found: run stage 5 first"
    log "Stage 8: packing ${asr_exp}/${inference_model} -> ${packed}"
    ${python} -m espnet_ext.bin.pack_model --exp_dir "${asr_exp}" --model_file "${inference_model}" \
        --fbank_conf "${feats_conf}" --out "${packed}"
    log "Transcribe audio files with it: ${python} -m espnet_ext.bin.transcribe --model ${packed} a.wav b.mp3 ..."
}

for n in $(printf '%s\n' "${!stages[@]}" | sort -n); do
    if run_stage "${n}"; then "${stages[${n}]}"; fi
done
stage_done
log "Finished stages ${stage}-${stop_stage}"
