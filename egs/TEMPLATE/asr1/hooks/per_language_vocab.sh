# Hook per_language_vocab — stage 3: one SentencePiece unigram model per language, merged into one vocabulary
# (the A2 paper's vocabulary, arXiv:2012.01687 Sec. 3.1), then the long-tail token statistics.
#   3  per-language unigram models of --nbpe pieces each (--vocab_sizes overrides some) merged ->
#      <datadir>/token_list/bpe_unigram<nbpe>/ (espnet_ext.bin.train_multilingual_vocab); token frequencies per
#      language (Figs. 1, 7, 8; Table 7) -> <expdir>/token_frequency (espnet_ext.bin.token_frequency)
# shellcheck shell=bash
# ---- options of the per_language_vocab hook
vocab_sizes=            # per-language vocabulary sizes, L=N,... (e.g. zh=2265); the others get --nbpe
# ---- end of options

stages[3]=per_language_vocab
per_language_vocab() {
    local text=${feats_dir}/${train_set}/text utt2lang=${feats_dir}/${train_set}/utt2lang action
    [ -f "${text}" ] || die "${text} missing: run stage 2 first"
    # the completion marker records what made the vocabulary, as the runner's own stage 3 does
    action=$(marker check --dir "${token_dir}" --file "text=${text}" --file "utt2lang=${utt2lang}" \
             --option vocab=per_language --option "nbpe=${nbpe}" --option "vocab_sizes=${vocab_sizes}" \
             --code espnet_ext.bin.train_multilingual_vocab) || die "stage 3 marker check failed"
    if [ "${action}" != skip ]; then
        log "Stage 3: per-language unigram models (${nbpe} pieces each) merged -> ${token_dir}"
        rm -rf "${token_dir}"
        ${python} -m espnet_ext.bin.train_multilingual_vocab --text "${text}" --utt2lang "${utt2lang}" \
            --out_dir "${token_dir}" --vocab_size "${nbpe}" --vocab_sizes "${vocab_sizes}" > /dev/null
        marker commit --dir "${token_dir}"
    fi
    log "Stage 3: long-tail token statistics (Figs. 1, 7, 8; Table 7) -> ${expdir}/token_frequency"
    ${python} -m espnet_ext.bin.token_frequency --text "${text}" --utt2lang "${utt2lang}" --bpemodel "${bpemodel}" \
        --token_list "${token_list}" --out_dir "${expdir}/token_frequency" >&2
}
