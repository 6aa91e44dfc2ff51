#!/usr/bin/env bash
# Meta-transfer learning for code-switched ASR on the real corpora of Winata et al. (ACL 2020):
# SEAME Phase II (CS, LDC2015S04), HKUST (ZH, LDC2005S15 + LDC2005T32, up-sampled to 16 kHz), CommonVoice EN.
#
# Usage: ./run.sh --seame /data/LDC2015S04 --hkust_audio /data/LDC2005S15 --hkust_trans /data/LDC2005T32 \
#            --cv_root /data/cv-corpus-1 [--paper_size true] [egs/synth_cs/asr1/run.sh options: --stage N
#            --stop_stage N --modes "..." --finetune_modes "..." --feats spectrogram|fbank --nj N ...]
#   The stages are those of egs/synth_cs/asr1/run.sh (data, features, char vocabulary, stats, training modes,
#   fine-tuning, decoding, tables + Fig. 2 + Table 1); only stage 1 differs (local/data.sh here).
#   --paper_size true trains the paper's model (conf/mtl/train_{meta,joint}_cs_transformer.yaml, d = 512) —
#   a GPU job; add "--train_args '--ngpu 1'" for training on one GPU.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "${here}/../../.." && pwd)
seame=; hkust_audio=; hkust_trans=; cv_root=; paper_size=false; nj=2; args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seame|--hkust_audio|--hkust_trans|--cv_root|--paper_size|--nj)
            [ $# -ge 2 ] || { echo "ERROR: $1 needs a value" >&2; exit 1; }
            printf -v "${1#--}" '%s' "$2"; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) args+=("$1"); shift ;;
    esac
done
for v in seame hkust_audio hkust_trans cv_root; do
    [ -n "${!v}" ] || { echo "ERROR: --${v} is required (see --help)" >&2; exit 1; }
done
size_opts=()
if [ "${paper_size}" = true ]; then
    # The paper's model (VGG front end, no CTC, spectrogram input, attention-only decoding, dev-loss selection).
    size_opts=(--train_config "${root}/conf/mtl/train_meta_cs_transformer.yaml"
               --finetune_config "${root}/conf/tuning/finetune_mtl_cs_transformer.yaml" --feats spectrogram
               --inference_config "${root}/conf/decode_mtl_cs.yaml" --lm_inference_config "${root}/conf/decode_mtl_cs_lm.yaml"
               --inference_model valid.loss.ave.pth)
fi
exec "${root}/egs/synth_cs/asr1/run.sh" --recipe_dir "${here}" --corpus seame_hkust_cv --nj "${nj}" \
    --local_data_opts "--seame ${seame} --hkust_audio ${hkust_audio} --hkust_trans ${hkust_trans} --cv_root ${cv_root}" \
    "${size_opts[@]}" "${args[@]}"
