#!/usr/bin/env bash
# Meta-transfer learning for code-switched ASR on the real corpora of Winata et al. (arXiv:2004.14228, arXiv:2004.14228):
# SEAME Phase II (CS, LDC2015S04), HKUST (ZH, LDC2005S15 + LDC2005T32, up-sampled to 16 kHz), CommonVoice EN.
#
# Usage: ./run.sh --seame /data/LDC2015S04 --hkust_audio /data/LDC2005S15 --hkust_trans /data/LDC2005T32 \
#            --cv_root /data/cv-corpus-1 [--paper_size true] [runner options: --stage N --stop_stage N
#            --modes "..." --finetune_modes "..." --ngpu N ...; --help lists them all]
#   The stages are those of egs/synth_cs/asr1 (the runner with the hooks char_vocab, cs_multitask, cs_lm); only
#   stage 1 differs (local/seame_cs/data.sh).
#   --paper_size true trains the paper's model (conf/mtl/train_{meta,joint}_cs_transformer.yaml, d = 512: VGG front
#   end, no CTC, spectrogram input, attention-only decoding, dev-loss selection) -- a GPU job: add --ngpu 1.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
# shellcheck source=../../TEMPLATE/asr1/utils/lib.sh
. "${root}/egs/TEMPLATE/asr1/utils/lib.sh"

# ---- options of this recipe (every other --name value goes to the runner)
seame=                  # SEAME Phase II (LDC2015S04)
hkust_audio=            # HKUST audio (LDC2005S15)
hkust_trans=            # HKUST transcripts (LDC2005T32)
cv_root=                # CommonVoice English release
paper_size=false        # true: the paper's model (see above); false: the CPU model of egs/synth_cs
# ---- end of options
recipe_options "$0" "$@"
cd "$(dirname "${BASH_SOURCE[0]}")"
for v in seame hkust_audio hkust_trans cv_root; do [ -n "${!v}" ] || die "--${v} is required (see --help)"; done
c=${root}/conf; size=(--feats_conf "${c}/fbank_40.yaml" --train_config "${c}/mtl/train_meta_cs_conv2d_ctc_cpu.yaml"
    --finetune_config "${c}/tuning/finetune_mtl_cs_conv2d_ctc_cpu.yaml" --inference_config "${c}/decode_mtl_cs_ctc.yaml"
    --lm_inference_config "${c}/decode_mtl_cs_ctc_lm.yaml" --inference_model valid.acc.ave.pth)
[ "${paper_size}" != true ] || size=(--feats_conf "${c}/spectrogram.yaml" --train_config "${c}/mtl/train_meta_cs_transformer.yaml"
    --finetune_config "${c}/tuning/finetune_mtl_cs_transformer.yaml" --inference_config "${c}/decode_mtl_cs.yaml"
    --lm_inference_config "${c}/decode_mtl_cs_lm.yaml" --inference_model valid.loss.ave.pth)

exec "${root}/egs/TEMPLATE/asr1/asr.sh" --hooks "char_vocab cs_multitask cs_lm" \
    --train_set cs_train --valid_set cs_dev --test_sets "cs_test en_test zh_test" --languages cs,en,zh \
    --data_sets "en_train zh_train cs_a_train cs_b_train en_dev zh_dev" \
    --local_data "${root}/local/seame_cs/data.sh" \
    --local_data_opts "--seame ${seame} --hkust_audio ${hkust_audio} --hkust_trans ${hkust_trans} --cv_root ${cv_root}" \
    --datadir data/seame_hkust_cv --dumpdir dump/seame_hkust_cv --expdir exp/seame_hkust_cv "${size[@]}" "${runner_args[@]}"
