#!/usr/bin/env bash
# Offline long-tail multilingual ASR with espeak-ng speech (the espnet_ext demo).
#
# Usage: ./run.sh [--corpus demo|benchmark|micro] [asr.sh options, e.g. --stage 5 --ngpu 1]
#   --corpus demo       6 languages, >= 10x between head and tail (conf/corpus/demo.yaml)   [default]
#   --corpus benchmark  all 11 A2 languages in the A2 paper's Table 6 proportions (conf/corpus/benchmark.yaml)
#   --corpus micro      a few utterances, for the end-to-end test
#   The demo trains two models side by side with one budget, the A2 paper's SMT baseline and A2 (BS +
#   Dual-Adapters + Adjust-Train; the runner's model_rows hook, rows of conf/a2_rows.tsv), decodes both and prints
#   them per language with the head and tail means (exp/demo/compare/test/compare.{md,json,png}). The other corpora
#   train the SMT baseline (conf/tuning/train_smt_transformer_cpu.yaml; A2 rows: local/run_a2_rows.sh).
#   Vocabulary: SentencePiece unigram, 300 pieces; the benchmark's 181 are its characters (local/default_nbpe.sh).
#   Decoding: joint CTC/attention beam search (the demo: conf/decode_asr_demo.yaml, with a length bonus tuned on
#   its dev set; the others: conf/decode_asr.yaml) and the per-language CER table (exp/*/asr_*/decode_*/test/results.md).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
# shellcheck source=../../TEMPLATE/asr1/utils/lib.sh
. "${root}/egs/TEMPLATE/asr1/utils/lib.sh"
# shellcheck source=local/default_nbpe.sh
. "$(dirname "${BASH_SOURCE[0]}")/local/default_nbpe.sh"

# ---- options of this recipe (every other --name value goes to the runner)
corpus=demo             # conf/corpus/<corpus>.yaml: demo | benchmark | micro; names data/, dump/ and exp/<corpus>
# ---- end of options
recipe_options "$0" "$@"
cd "$(dirname "${BASH_SOURCE[0]}")"
corpus_conf=${root}/conf/corpus/${corpus}.yaml
[ -f "${corpus_conf}" ] || die "--corpus ${corpus}: ${corpus_conf} not found"
# The demo decodes with a length bonus chosen on its dev set (conf/decode_asr_demo.yaml); the other corpora with
# the A2 paper's settings. An --inference_config given on the command line comes later and wins.
inference_config=${root}/conf/decode_asr.yaml
rows=()
if [ "${corpus}" = demo ]; then
    inference_config=${root}/conf/decode_asr_demo.yaml
    # SMT and A2 with the same budget: 10 epochs of 60000-bin batches each (A2's own conf has 120000-bin batches for
    # the benchmark), trained at once, one core each. An --rows or --row_train_args given later wins.
    rows=(--hooks model_rows --rows "smt a2_adjust_train" --row_train_args "--batch_bins 60000 --max_epoch 10")
fi

exec "${root}/egs/TEMPLATE/asr1/asr.sh" \
    --train_set train --valid_set dev --test_sets test \
    --local_data "${root}/local/synth_longtail/data.sh" --local_data_opts "--corpus_conf ${corpus_conf} --nj 2" \
    --datadir "data/${corpus}" --dumpdir "dump/${corpus}" --expdir "exp/${corpus}" \
    --feats_conf "${root}/conf/fbank_40.yaml" \
    --nbpe "$(default_nbpe "${corpus}")" --bpe_type unigram \
    --asr_config "${root}/conf/tuning/train_smt_transformer_cpu.yaml" \
    --inference_config "${inference_config}" "${rows[@]}" \
    "${runner_args[@]}"
