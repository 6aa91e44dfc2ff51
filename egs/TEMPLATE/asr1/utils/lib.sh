# The small shell library of every espnet_ext recipe script (source it; it defines functions and puts the venv on PATH):
# logging, the one option parser, stage selection and timing, completion markers, the data-path triples.
# shellcheck shell=bash

# log / die: "<time> (<script>:<line>) message" on stderr, naming the script and line that called them (for a
# message of this library's own functions: the line of the script that called the function).
_say() {
    local i=$(($1 + 1)); shift
    while [ "${BASH_SOURCE[i]:-}" = "${BASH_SOURCE[0]}" ] && [ "${i}" -lt $((${#BASH_SOURCE[@]} - 1)) ]; do i=$((i + 1)); done
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') ($(basename "${BASH_SOURCE[i]:-$0}"):${BASH_LINENO[i - 1]}) $*" >&2
}
log() { _say 1 "$@"; }
die() { _say 1 "ERROR: $*"; exit 1; }

# option_names FILE...: the options a script declares: the NAME= assignments (at a line start or after "; ")
# between its "# ---- options" line and its "# ---- end of options" line. Those lines are the defaults, with a
# comment each, so the help text and the parser cannot disagree.
option_names() {
    local f
    for f in "$@"; do
        sed -n '/^# ---- options/,/^# ---- end of options/p' "${f}" | grep -oE '(^|; *)[a-z][a-z0-9_]*=' | tr -d '; ='
    done
}

# print_help FILE...: each file's header (the comment block from line 2 up to `set -euo` or the first blank line)
# and its options block.
print_help() {
    local f
    for f in "$@"; do
        awk 'NR == 1 && /^#!/ { next } /^set -euo/ || /^$/ || !/^#/ || /^# shellcheck/ { exit } { sub(/^# ?/, ""); print }' "${f}"
        echo "Options of $(basename "${f}") (--name value):"
        sed -n '/^# ---- options/,/^# ---- end of options/p' "${f}" | sed -E -e '1d' -e '$d' -e 's/^([a-z0-9_]+)=/  --\1 /' -e 's/; *([a-z][a-z0-9_]*)=/; --\1 /g'
        echo
    done
}

# parse_options "FILE..." ARGS...: sets NAME from every "--NAME value" of ARGS, where NAME is an option of one of
# the (space-separated) FILEs (option_names); --help prints their help and exits 0. Anything else is an error
# that names it, raised before the script does anything.
parse_options() {
    local files=$1 known name; shift
    # shellcheck disable=SC2086
    known=" $(option_names ${files} | tr '\n' ' ') "
    while [ $# -gt 0 ]; do
        case "$1" in
            # shellcheck disable=SC2086
            -h|--help) print_help ${files}; exit 0 ;;
            --*) name=${1#--}
                 [[ "${known}" == *" ${name} "* ]] || die "unknown option --${name} (see --help)"
                 [ $# -ge 2 ] || die "option --${name} needs a value"
                 printf -v "${name}" '%s' "$2"; shift 2 ;;
            *) die "unexpected positional argument '$1' (options are --name value; see --help)" ;;
        esac
    done
}

# recipe_options FILE ARGS...: a recipe's run.sh reads its own options (those of FILE) from ARGS; every other
# --name value is kept, in order, in the array runner_args for the runner, which checks them. --help prints
# FILE's help, then goes on to the runner (its own and its hooks' options).
recipe_options() {
    local file=$1 known name; shift
    known=" $(option_names "${file}" | tr '\n' ' ') "
    runner_args=()
    while [ $# -gt 0 ]; do
        case "$1" in
            -h|--help) print_help "${file}"; runner_args+=(--help); shift ;;
            --*) name=${1#--}
                 [ $# -ge 2 ] || die "option --${name} needs a value"
                 if [[ "${known}" == *" ${name} "* ]]; then printf -v "${name}" '%s' "$2"; else runner_args+=("$1" "$2"); fi
                 shift 2 ;;
            *) die "unexpected positional argument '$1' (options are --name value; see --help)" ;;
        esac
    done
}

# runner_opt NAME DEFAULT: the value of the last --NAME in runner_args (DEFAULT when there is none)
runner_opt() {
    local i v=$2
    for ((i = 0; i + 1 < ${#runner_args[@]}; i++)); do [ "${runner_args[i]}" != "--$1" ] || v=${runner_args[i + 1]}; done
    echo "${v}"
}

# need_int NAME MIN: the variable NAME holds an integer >= MIN, or the error names the option.
need_int() {
    [[ "${!1}" =~ ^[0-9]+$ ]] && [ "${!1}" -ge "$2" ] \
        || die "--$1 must be an integer >= $2, got '${!1}'"
}

# check_stage_range LAST: --stage / --stop_stage select at least one of the stages 1..LAST (a typo must not exit 0
# having run nothing; --stop_stage may exceed LAST).
check_stage_range() {
    [[ "${stage}" =~ ^[0-9]+$ ]] || die "--stage must be a stage number (1-$1), got '${stage}'"
    [[ "${stop_stage}" =~ ^[0-9]+$ ]] || die "--stop_stage must be a stage number, got '${stop_stage}'"
    stage=$((10#${stage})); stop_stage=$((10#${stop_stage}))
    [ "${stage}" -ge 1 ] && [ "${stage}" -le "$1" ] \
        || die "--stage ${stage}: there is no such stage (the stages are 1-$1; see --help)"
    [ "${stop_stage}" -ge "${stage}" ] \
        || die "--stage ${stage} --stop_stage ${stop_stage} selects no stage (--stop_stage must be >= --stage)"
}

# run_stage N: whether stage N is selected; also closes the timing of the previous stage and opens N's.
# stage_done: closes it. Durations are appended to ${expdir}/stage_times.tsv (stage, seconds, finished-at, seconds
# of it spent on completion-marker fingerprints: what fingerprinting costs each stage, measured in every run).
timed_stage=; timed_start=0
stage_done() {
    local marker_times=${expdir}/.marker_times
    if [ -n "${timed_stage}" ]; then
        local took=$((SECONDS - timed_start)) fp
        mkdir -p "${expdir}"
        fp=$(awk '{ s += $2 - $1 } END { printf "%.3f", s }' "${marker_times}" 2>/dev/null || echo 0)
        printf '%s\t%d\t%s\t%s\n' "${timed_stage}" "${took}" "$(date '+%Y-%m-%dT%H:%M:%S')" "${fp}" \
            >> "${expdir}/stage_times.tsv"
        _say 1 "Stage ${timed_stage} took ${took} s (${fp} s of it for completion-marker fingerprints)"
    fi
    rm -f "${marker_times}"
    timed_stage=
}
run_stage() {
    stage_done
    if [ "${stage}" -le "$1" ] && [ "${stop_stage}" -ge "$1" ]; then timed_stage=$1; timed_start=${SECONDS}; return 0; fi
    return 1
}

# marker check|start|commit --dir DIR ...: completion markers with fingerprints (espnet_ext.bin.stage_marker;
# docs/reliability.md). "check" prints skip | run | resume | redo (and logs why), writing the fingerprint beside
# the dir (.<dir name>.fingerprint); "commit" renames it to the dir's .done once the step has succeeded -- in
# shell, as `stage_marker commit` does, to keep the cost to one Python start per step. Its time goes to
# ${expdir}/.marker_times (a file: it runs in $(...) subshells).
marker() {
    local t0=${EPOCHREALTIME} rc=0
    if [ "$1" = commit ]; then
        local d=$3; mkdir -p "${d}"; mv -f "$(dirname "${d}")/.$(basename "${d}").fingerprint" "${d}/.done" || rc=$?
    else
        ${python} -m espnet_ext.bin.stage_marker "$@" || rc=$?
    fi
    mkdir -p "${expdir}"; echo "${t0} ${EPOCHREALTIME}" >> "${expdir}/.marker_times"
    return "${rc}"
}

# data_triples <train|valid> DUMP_SET_DIR [PREFIX]: ESPnet's data options (features, text, language id) of one
# dumped set; with PREFIX (a multitask task name) as --multitask_<split>_data "PREFIX,path,name,type".
data_triples() {
    local d=$2 f
    for f in "feats.scp,speech,kaldi_ark" "text,text,text" "utt2lid,lang,text_int"; do
        if [ -n "${3:-}" ]; then echo "--multitask_$1_data $3,${d}/${f}"; else echo "--$1_data_path_and_name_and_type ${d}/${f}"; fi
    done
}

# The interpreter of every recipe script is python3 on PATH (or --python). The venv named by ESPNET_EXT_VENV (as
# tools/*.sh read it), else the repository's .venv that tools/setup.sh makes, goes first on PATH, so a recipe run
# from a plain shell uses the install the two README commands made.
_espnet_ext_venv=${ESPNET_EXT_VENV:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../.." && pwd)/.venv}
if [ -n "${ESPNET_EXT_VENV:-}" ] && [ ! -x "${ESPNET_EXT_VENV}/bin/python3" ]; then
    die "ESPNET_EXT_VENV=${ESPNET_EXT_VENV} has no bin/python3 (make it with: ESPNET_EXT_VENV=${ESPNET_EXT_VENV} bash tools/setup.sh)"
fi
if [ -x "${_espnet_ext_venv}/bin/python3" ]; then
    case ":${PATH}:" in *":${_espnet_ext_venv}/bin:"*) ;; *) PATH="${_espnet_ext_venv}/bin:${PATH}" ;; esac
fi

# args_tag "ARGS": extra arguments as a dir-name suffix, as egs2 appends them ("--max_epoch 3" -> "_max_epoch3");
# a long one keeps its first 40 characters and a digest of the whole, so two different ones never share a dir.
args_tag() {
    [ -n "$1" ] || return 0
    local t; t=$(printf '%s' "$1" | sed -e 's/--/_/g' -e 's/[^A-Za-z0-9_.+-]//g')
    [ "${#t}" -le 60 ] || t="${t:0:40}_$(printf '%s' "$1" | sha256sum | cut -c1-8)"
    printf '%s' "${t}"
}
