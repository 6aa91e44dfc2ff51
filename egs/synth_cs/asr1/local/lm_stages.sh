#!/usr/bin/env bash
# Code-switching language model of the meta-transfer recipe (Winata et al., ACL 2020, §4.2, §5.4, Table 4;
# docs/cs_language_model.md): run.sh stages 9-11.  Run from the recipe dir (run.sh's working directory) after
# run.sh stages 1-3 (transcripts, character token list) and, for stage 11, stages 4-5 (and 7) of the ASR model.
#
# Usage: local/lm_stages.sh [--corpus cs_demo] [--stage 9] [--stop_stage 11] [--lm_modes "only_cs joint joint_ft meta meta_ft"]
#                           [--lm_train_args "--max_epoch 1"] [--asr_exp exp/cs_demo/asr_meta_en_zh_cs] [--decode_lm meta_ft]
#                           [--nj 2] [--python python3]
#   e.g. local/lm_stages.sh --corpus cs_micro --lm_train_args "--max_epoch 1" --nj 1
#   Stages:
#     9  LM training, 2-layer LSTM char LM (ESPnet seq_rnn) on the recipe's transcripts with the ASR token list,
#        one experiment per --lm_modes entry -> <expdir>/lm_<mode>:
#          only_cs   Only-CS: cs_train                                (conf/lm/train_lm.yaml)
#          joint     joint training, a batch of en_train, zh_train, cs_train per step (conf/lm/train_lm.yaml)
#          meta      meta-transfer, sources en_train zh_train cs_a_train, target cs_b_train (conf/lm/train_lm_meta.yaml)
#          joint_ft, meta_ft   fine-tuning of joint / meta on cs_train: SGD lr 1.0, lr x0.25 when CS dev does
#                    not improve, early stop after 5 epochs (conf/lm/finetune_lm.yaml, plain espnet2.bin.lm_train)
#        validation on cs_dev (model selection) and en_dev, zh_dev (reported).
#    10  perplexity of every LM on cs_dev (valid) and the CS test set -> <expdir>/results/table4_lm_ppl.{md,json}
#    11  decoding of the CS test set with --asr_exp: plain beam search (run.sh's --inference_config, reused from
#        run.sh stage 7 when done), (a) 5-best decoding + N-best rescoring with eq. 5 and (b) shallow fusion of
#        eq. 5 in the beam search (alpha 1, beta = lm_weight, gamma = word_count_weight of --lm_inference_config,
#        conf/decode_mtl_cs_lm.yaml: 1, 0.1, 0.1) with the --decode_lm LM; CER/MER and decoding time of each
#        -> <expdir>/results/lm_decoding_<asr tag>.{md,json}
#   Every finished step leaves a marker (<dir>/.done) recording what it was made from (espnet_ext.bin.stage_marker:
#   config, transcripts, token list, options, initial model, code); re-running skips it only when these are unchanged.
set -euo pipefail
log() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (lm_stages.sh:${BASH_LINENO[0]}) $*" >&2; }
die() { echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (lm_stages.sh:${BASH_LINENO[0]}) ERROR: $*" >&2; exit 1; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../.." && pwd)

stage=9                  # first stage to run (9-11)
stop_stage=11            # last stage to run
corpus=cs_demo           # names the default data/dump/exp dirs (as run.sh)
datadir=; dumpdir=; expdir=   # default: data/<corpus>, dump/<corpus>, exp/<corpus> (as run.sh)
nj=2                     # parallel decoding jobs (stage 11)
ngpu=0                   # GPUs for LM training
python=python3
lm_modes="only_cs joint joint_ft meta meta_ft"   # LMs of stage 9 (Table 4 rows)
lm_config_dir=${root}/conf/lm                    # train_lm_{only_cs,joint,meta}.yaml, finetune_lm.yaml
lm_iters_per_epoch=20    # equal budget: iterations per epoch of only_cs, joint and meta (20 ~ one pass over
                         # cs_demo's 600 CS transcripts at batch 32); empty: ESPnet's, one pass over the lead
                         # task (cs_train; cs_b_train for meta).  Fine-tuning epochs are passes over cs_train.
lm_train_args=           # extra options for every LM training, fine-tuning included (e.g. "--max_epoch 1")
lm_file=valid.loss.best.pth   # LM checkpoint used by stages 10-11 and fine-tuned in stage 9
test_set=cs_test         # CS test set (stages 10-11)
asr_exp=                 # ASR experiment decoded in stage 11 (default: <expdir>/asr_meta_en_zh_cs, run.sh's name)
inference_model=valid.loss.ave.pth   # its checkpoint (as run.sh)
inference_config=${root}/conf/decode_mtl_cs.yaml         # plain decoding (run.sh's; its stage-7 decoding is reused)
lm_inference_config=${root}/conf/decode_mtl_cs_lm.yaml   # eq. 5 weights and beam for (a) and (b)
nbest=5                  # hypotheses kept for (a) N-best rescoring
decode_lm=meta_ft        # LM of stage 11: a --lm_modes name (<expdir>/lm_<name>) or an LM experiment dir
inference_args=          # extra options for espnet_ext.bin.asr_inference (all three decodings)

opts=" stage stop_stage corpus datadir dumpdir expdir nj ngpu python lm_modes lm_config_dir lm_iters_per_epoch lm_train_args lm_file test_set asr_exp inference_model inference_config lm_inference_config nbest decode_lm inference_args "
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        --*) name=${1#--}
             case "${opts}" in
                 *" ${name} "*) [ $# -ge 2 ] || die "option --${name} needs a value"
                                printf -v "${name}" '%s' "$2"; shift 2 ;;
                 *) die "unknown option --${name} (see --help)" ;;
             esac ;;
        *) die "unexpected positional argument '$1' (options are --name value; see --help)" ;;
    esac
done
for v in stage stop_stage nj nbest; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "--${v} must be a non-negative integer, got '${!v}'"
done
[ -z "${lm_iters_per_epoch}" ] || [[ "${lm_iters_per_epoch}" =~ ^[1-9][0-9]*$ ]] \
    || die "--lm_iters_per_epoch must be a positive integer or empty, got '${lm_iters_per_epoch}'"
[ "${nj}" -ge 1 ] || die "--nj must be >= 1"
[ "${nbest}" -ge 2 ] || die "--nbest must be >= 2 for N-best rescoring, got ${nbest}"
for m in ${lm_modes}; do
    case "${m}" in only_cs|joint|meta|joint_ft|meta_ft) ;;
        *) die "--lm_modes: unknown mode '${m}' (only_cs joint joint_ft meta meta_ft)" ;; esac
done
datadir=${datadir:-data/${corpus}}; dumpdir=${dumpdir:-dump/${corpus}}; expdir=${expdir:-exp/${corpus}}
feats_dir=${dumpdir}/fbank
token_list=${datadir}/token_list/char/tokens.txt   # run.sh stage 3: the ASR's character list
asr_exp=${asr_exp:-${expdir}/asr_meta_en_zh_cs}
results=${expdir}/results
sel() { [ "${stage}" -le "$1" ] && [ "${stop_stage}" -ge "$1" ]; }
need_file() { [ -f "$1" ] || die "$1 not found${2:+: $2}"; }
# Table 4 labels (espnet_ext.bin.lm_perplexity row names)
label() { case "$1" in only_cs) echo "Only CS" ;; joint) echo "Joint Training (EN + ZH + CS)" ;;
    joint_ft) echo "Joint Training (EN + ZH + CS) + Fine-tuning" ;; meta) echo "Meta-Transfer Learning (EN + ZH + CS)" ;;
    meta_ft) echo "Meta-Transfer Learning (EN + ZH + CS) + Fine-tuning" ;; esac; }

if sel 9; then
    need_file "${token_list}" "run run.sh stage 3 (character vocabulary) first"
    for s in en_train zh_train cs_train cs_a_train cs_b_train cs_dev en_dev zh_dev; do
        need_file "${datadir}/${s}/text" "run run.sh stage 1 first (and run this script from the recipe dir)"
    done
    # A Kaldi text file is its own shape file (batch_type unsorted in conf/lm/*.yaml): no collect-stats step.
    valid=()
    for v in cs en zh; do
        valid+=(--multitask_valid_data "${v},${datadir}/${v}_dev/text,text,text"
                --multitask_valid_shape_file "${v},${datadir}/${v}_dev/text")
    done
    iters=(); [ -z "${lm_iters_per_epoch}" ] || iters=(--num_iters_per_epoch "${lm_iters_per_epoch}")
    # lm_check <out> <stage_marker options...>: 0 (and a log line) when <out> is complete from the same inputs
    lm_check() {
        local out=$1 action; shift
        action=$(${python} -m espnet_ext.bin.stage_marker check --dir "${out}" --partial .started \
                 --file "token_list=${token_list}" --option "lm_train_args=${lm_train_args}" \
                 --option "lm_iters_per_epoch=${lm_iters_per_epoch}" --option "lm_file=${lm_file}" "$@") \
            || die "${out}: marker check failed"
        case "${action}" in skip) return 0 ;; redo) rm -rf "${out}" ;; esac
        [ "${action}" = resume ] || ${python} -m espnet_ext.bin.stage_marker start --dir "${out}" --partial .started
        return 1
    }
    run_lm() {  # run_lm <out> <module> <options...>: train into <out>, log in <out>/train.log
        local out=$1 module=$2; shift 2
        mkdir -p "${out}"
        # shellcheck disable=SC2086
        ${python} -m "${module}" --output_dir "${out}" --resume true --ngpu "${ngpu}" --token_type char \
            --token_list "${token_list}" "$@" ${lm_train_args} >> "${out}/train.log" 2>&1 \
            || { tail -n 20 "${out}/train.log" >&2; die "LM training -> ${out} failed: see ${out}/train.log"; }
        [ -f "${out}/${lm_file}" ] || die "${out}/${lm_file} was not written: see ${out}/train.log"
        ${python} -m espnet_ext.bin.stage_marker commit --dir "${out}"
    }
    for m in ${lm_modes}; do  # from scratch: only_cs, joint, meta
        out=${expdir}/lm_${m}
        case "${m}" in
            only_cs) cfg=train_lm.yaml;         sources="cs"; target= ;;
            joint)   cfg=train_lm.yaml;         sources="en zh cs"; target= ;;
            meta)    cfg=train_lm_meta.yaml;    sources="en zh cs_a"; target=cs_b ;;
            *) continue ;;
        esac
        need_file "${lm_config_dir}/${cfg}"
        texts=(); for t in ${sources} ${target} cs_dev en_dev zh_dev; do
            case "${t}" in *_dev) f=${datadir}/${t}/text ;; *) f=${datadir}/${t}_train/text ;; esac
            texts+=(--file "text_${t}=${f}")
        done
        lm_check "${out}" --file "config=${lm_config_dir}/${cfg}" --option "sources=${sources}" \
            --option "target=${target}" "${texts[@]}" --code espnet_ext.bin.lm_train_multitask && continue
        log "Stage 9: LM ${m} ($(label "${m}")): sources [${sources}] target [${target}] -> ${out}"
        tasks=(--source_tasks ${sources}); [ -z "${target}" ] || tasks+=(--target_task "${target}")
        for t in ${sources} ${target}; do
            tasks+=(--multitask_train_data "${t},${datadir}/${t}_train/text,text,text"
                    --multitask_train_shape_file "${t},${datadir}/${t}_train/text")
        done
        run_lm "${out}" espnet_ext.bin.lm_train_multitask --config "${lm_config_dir}/${cfg}" "${tasks[@]}" \
            "${valid[@]}" --valid_primary cs "${iters[@]}"
    done
    for m in ${lm_modes}; do  # fine-tuning on CS: joint_ft, meta_ft
        case "${m}" in *_ft) ;; *) continue ;; esac
        out=${expdir}/lm_${m}; base=${expdir}/lm_${m%_ft}
        [ -f "${base}/.done" ] || die "${m} fine-tunes ${base}, which is not trained: add '${m%_ft}' to --lm_modes"
        need_file "${lm_config_dir}/finetune_lm.yaml"
        lm_check "${out}" --file "config=${lm_config_dir}/finetune_lm.yaml" --file "init_param=${base}/${lm_file}" \
            --file "text_cs_train=${datadir}/cs_train/text" --file "text_cs_dev=${datadir}/cs_dev/text" \
            --code espnet2.bin.lm_train && continue
        log "Stage 9: LM ${m} ($(label "${m}")): fine-tuning ${base}/${lm_file} on cs_train -> ${out}"
        run_lm "${out}" espnet2.bin.lm_train --config "${lm_config_dir}/finetune_lm.yaml" \
            --init_param "${base}/${lm_file}" \
            --train_data_path_and_name_and_type "${datadir}/cs_train/text,text,text" \
            --train_shape_file "${datadir}/cs_train/text" \
            --valid_data_path_and_name_and_type "${datadir}/cs_dev/text,text,text" \
            --valid_shape_file "${datadir}/cs_dev/text"
    done
fi

if sel 10; then
    models=()
    for m in ${lm_modes}; do
        [ -f "${expdir}/lm_${m}/.done" ] || die "${expdir}/lm_${m} is not trained: run stage 9"
        models+=(--model "$(label "${m}")=${expdir}/lm_${m}/config.yaml,${expdir}/lm_${m}/${lm_file}")
    done
    [ ${#models[@]} -gt 0 ] || die "--lm_modes is empty"
    need_file "${datadir}/cs_dev/text"; need_file "${datadir}/${test_set}/text"
    out=${results}/table4_lm_ppl.md
    log "Stage 10: perplexity on cs_dev / ${test_set} -> ${out}"
    ${python} -m espnet_ext.bin.lm_perplexity --valid "${datadir}/cs_dev/text" --test "${datadir}/${test_set}/text" \
        --out "${out}" "${models[@]}" > /dev/null
    cat >> "${out}" <<EOF

Perplexity per character (the ASR's token list, + <eos>) of the LMs of local/lm_stages.sh stage 9 on the
transcripts of ${datadir}: valid = cs_dev, test = ${test_set}.  Paper (Winata et al., ACL 2020, Table 4; SEAME,
word-level, Only CS from Winata et al. 2019) — not comparable in scale: Only CS 72.89 / 65.71, Joint Training
70.99 / 63.73, + Fine-tuning 69.66 / 62.73, Meta-Transfer Learning 68.83 / 62.14, + Fine-tuning 68.71 / 61.97.
EOF
    cat "${out}"
fi

if sel 11; then
    need_file "${asr_exp}/config.yaml" "--asr_exp ${asr_exp}: run run.sh stage 5 for it"
    need_file "${asr_exp}/${inference_model}" "--asr_exp ${asr_exp}: run run.sh stage 5 for it"
    asr_name=$(basename "${asr_exp}")
    case "${asr_name}" in asr_?*) ;; *) die "--asr_exp must be a directory named asr_<tag> (the runner's layout), got '${asr_exp}'" ;; esac
    if [ -d "${decode_lm}" ]; then lm_dir=${decode_lm}; else lm_dir=${expdir}/lm_${decode_lm}; fi
    lm_name=$(basename "${lm_dir}")
    need_file "${lm_dir}/config.yaml" "--decode_lm ${decode_lm}: train it in stage 9"
    need_file "${lm_dir}/${lm_file}" "--decode_lm ${decode_lm}: train it in stage 9"
    need_file "${inference_config}"; need_file "${lm_inference_config}"
    need_file "${feats_dir}/${test_set}/feats.scp" "run run.sh stage 2 first"
    # eq. 5 weights from the decode config: alpha = 1 (the beam search's score), beta = lm_weight, gamma = word_count_weight
    read -r beta gamma < <(${python} -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1], encoding="utf-8")) or {}
print(float(d.get("lm_weight", 0.0)), float(d.get("word_count_weight", 0.0)))' "${lm_inference_config}") \
        || die "cannot read lm_weight / word_count_weight from ${lm_inference_config}"
    runner() {  # the shared stage runner (egs/TEMPLATE/asr1/asr.sh), decoding only, on --asr_exp
        "${root}/egs/TEMPLATE/asr1/asr.sh" --train_set cs_train --valid_set cs_dev --languages cs,en,zh \
            --datadir "${datadir}" --dumpdir "${dumpdir}" --expdir "$(dirname "${asr_exp}")" \
            --asr_tag "${asr_name#asr_}" --inference_model "${inference_model}" --test_sets "${test_set}" \
            --nj "${nj}" --python "${python}" --stage 6 --stop_stage 6 "$@"
    }
    model_tag=${inference_model%.pth}
    lm_cfg_tag=$(basename "${lm_inference_config}" .yaml)
    plain_tag=decode_$(basename "${inference_config}" .yaml)_${model_tag}     # = run.sh stage 7's
    nbest_tag=decode_${lm_cfg_tag}_nbest${nbest}_${model_tag}
    fusion_tag=decode_${lm_cfg_tag}_${lm_name}_${model_tag}
    log "Stage 11: plain decoding of ${test_set} with ${asr_exp} -> ${asr_exp}/${plain_tag}"
    runner --inference_config "${inference_config}" --inference_tag "${plain_tag}" --inference_args "${inference_args}"
    log "Stage 11: ${nbest}-best decoding (no LM) -> ${asr_exp}/${nbest_tag}"
    runner --inference_config "${lm_inference_config}" --inference_tag "${nbest_tag}" \
        --inference_args "--lm_weight 0 --word_count_weight 0 --nbest ${nbest} ${inference_args}"
    dec=${asr_exp}/${nbest_tag}/${test_set}; rescored=${dec}/rescored_${lm_name}
    action=$(${python} -m espnet_ext.bin.stage_marker check --dir "${rescored}" --file "nbest=${dec}/.done" \
             --file "lm_config=${lm_dir}/config.yaml" --file "lm=${lm_dir}/${lm_file}" --option "nbest=${nbest}" \
             --option "beta=${beta}" --option "gamma=${gamma}" --code espnet_ext.bin.rescore_nbest) \
        || die "${rescored}: marker check failed"
    if [ "${action}" = skip ]; then :; else
        rm -rf "${rescored}"
        log "Stage 11: N-best rescoring, eq. 5 (alpha 1, beta ${beta}, gamma ${gamma}, ${lm_name}) -> ${rescored}"
        ${python} -m espnet_ext.bin.rescore_nbest --decode_dir "${dec}" --output_dir "${rescored}" --nbest "${nbest}" \
            --alpha 1.0 --beta "${beta}" --gamma "${gamma}" \
            --lm_train_config "${lm_dir}/config.yaml" --lm_file "${lm_dir}/${lm_file}"
        ${python} -m espnet_ext.bin.stage_marker commit --dir "${rescored}"
    fi
    log "Stage 11: shallow fusion, eq. 5 (lm_weight ${beta}, word_count_weight ${gamma}, ${lm_name}) -> ${asr_exp}/${fusion_tag}"
    runner --inference_config "${lm_inference_config}" --inference_tag "${fusion_tag}" \
        --inference_args "--lm_train_config ${lm_dir}/config.yaml --lm_file ${lm_dir}/${lm_file} ${inference_args}"
    out=${results}/lm_decoding_${asr_name#asr_}.md
    log "Stage 11: CER/MER and decoding time -> ${out}"
    mkdir -p "${results}"
    ${python} - "${out}" "${feats_dir}/${test_set}/text" \
        "plain beam search (no LM)" "${asr_exp}/${plain_tag}/${test_set}" "" \
        "(a) ${nbest}-best + LM rescoring, eq. 5" "${dec}" "${rescored}" \
        "(b) shallow fusion, eq. 5" "${asr_exp}/${fusion_tag}/${test_set}" "" <<'EOF'
"""CER/MER of each decoding and its decoding time with vs. without LM (lm_stages.sh stage 11)."""
import json, re, sys
from datetime import datetime
from pathlib import Path
from espnet_ext.fileio.kaldi_map import read_kaldi_map
from espnet_ext.utils.error_rate import cer_ignoring_spaces
from espnet_ext.utils.mixed_error_rate import mixed_error_rate

TS = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def search_seconds(decode_dir: Path) -> float:
    """Σ over decoding jobs of the time from the model being ready ('Decoding device=') to the last utterance:
    the beam search alone, without Python start-up and model loading."""
    logs = sorted(decode_dir.glob("logdir/decode.*.log"))
    if not logs:
        sys.exit(f"ERROR: no {decode_dir}/logdir/decode.*.log to time the decoding")
    total = 0.0
    for log in logs:
        start = end = None
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            m = TS.match(line)
            if m:
                t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
                start = t if start is None and "Decoding device=" in line else start
                end = t
        if start is None:
            sys.exit(f"ERROR: {log}: no 'Decoding device=' line (ESPnet log level above INFO?)")
        total += (end - start).total_seconds()
    return total


out, ref_file, rows = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
refs = read_kaldi_map(ref_file)
table = []
for label, dec, rescored in zip(rows[0::3], rows[1::3], rows[2::3]):
    dec = Path(dec)
    hyp_file = Path(rescored) / "text" if rescored else dec / "text"
    hyps = read_kaldi_map(hyp_file, allow_empty_value=True)
    seconds = search_seconds(dec)
    row = {"decoding": label, "hyp": str(hyp_file), "cer": round(cer_ignoring_spaces(refs, hyps).rate, 2),
           "mer": round(mixed_error_rate(refs, hyps).rate, 2), "search_s": round(seconds, 2)}
    if rescored:
        summary = json.loads((Path(rescored) / "summary.json").read_text(encoding="utf-8"))
        row.update(rescore_s=summary["seconds"], changed=summary["changed"])
        seconds += summary["seconds"]
    row["time_s"] = round(seconds, 2)
    table.append(row)
base = table[0]["time_s"]
for row in table:
    row["time_ratio"] = round(row["time_s"] / base, 2) if base > 0 else None
lines = [f"| decoding ({ref_file.parent.name}) | CER % | MER % | decoding time (s) | time / plain |", "|---|---:|---:|---:|---:|"]
for r in table:
    t = f"{r['search_s']:.2f}" + (f" + {r['rescore_s']:.2f}" if "rescore_s" in r else "")
    ratio = "–" if r["time_ratio"] is None else f"{r['time_ratio']:.2f}"
    lines.append(f"| {r['decoding']} | {r['cer']:.2f} | {r['mer']:.2f} | {t} | {ratio} |")
md = "\n".join(lines) + "\n"
out.write_text(md, encoding="utf-8")
out.with_suffix(".json").write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
EOF
    cat >> "${out}" <<EOF

ASR: ${asr_exp}/${inference_model}; LM: ${lm_dir}/${lm_file}; eq. 5 with alpha 1, beta ${beta}, gamma ${gamma}
(${lm_inference_config}); plain: ${inference_config}.  CER: characters, spaces not counted (as run.sh stage 8);
MER: Chinese characters + English words.  Decoding time: the beam search summed over the ${nj} decoding job(s), from
the model being loaded to the last utterance (process start-up and model loading left out), + for (a) the
rescoring (LM scoring of ${nbest} hypotheses per utterance, LM loading left out); (a)'s search is the beam without
LM keeping ${nbest} hypotheses.  Timings of decodings run at different times (e.g. plain reused from run.sh stage 7) share
the machine with whatever else ran then.
EOF
    cat "${out}"
fi
log "Finished stages ${stage}-${stop_stage}"
