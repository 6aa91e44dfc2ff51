# shellcheck shell=bash
# default_nbpe CORPUS: the SentencePiece vocabulary size of a corpus of this recipe (run.sh, local/run_a2_rows.sh).
# benchmark: 181 = its 177 character types + SentencePiece's 4 pieces (<unk>, <s>, </s>, the word boundary), so
# the vocabulary holds characters only. With zh's learnable inventory (87 training characters instead of 429)
# "300" had become 300 pieces of which 115 were multi-character pieces of the other languages, and every other
# language lost 2-24 points (RESULTS.md, sessions 9 and 13); before, SentencePiece's minimum size had kept it at
# characters. Other corpora: 300.
default_nbpe() { case "$1" in benchmark) echo 181 ;; *) echo 300 ;; esac; }
