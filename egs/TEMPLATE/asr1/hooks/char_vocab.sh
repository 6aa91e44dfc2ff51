# Hook char_vocab — stage 3: a character vocabulary instead of SentencePiece (the code-switching recipes).
#   3  token list of the characters of the --vocab_sets transcripts, <space> and the apostrophe
#      (espnet_ext.text.char_vocab) -> <datadir>/token_list/char/tokens.txt; then the check of the code-switching
#      sets (espnet_ext.bin.check_cs_set): utterances without Chinese or without English, and characters outside
#      the token list, counted and named (not dropped) -> <datadir>/token_list/cs_set_check.json
# shellcheck shell=bash
# ---- options of the char_vocab hook
vocab_sets="en_train zh_train cs_train"   # data sets whose transcripts make the character vocabulary
cs_check_sets="cs_train cs_dev cs_test"   # code-switching sets checked (empty: no check)
# ---- end of options

stages[3]=char_vocab
token_type=char
char_vocab() {
    log "Stage 3: character vocabulary -> ${token_list}"
    local texts=() s dirs=()
    for s in ${vocab_sets}; do texts+=("${datadir}/${s}/text"); done
    ${python} -m espnet_ext.text.char_vocab --out "${token_list}" "${texts[@]}"
    [ -n "${cs_check_sets}" ] || return 0
    for s in ${cs_check_sets}; do dirs+=("${datadir}/${s}"); done
    ${python} -m espnet_ext.bin.check_cs_set --token_list "${token_list}" \
        --out_json "${datadir}/token_list/cs_set_check.json" "${dirs[@]}"
}
