#!/usr/bin/env bash
# Stage 1 of egs/commonvoice_a2: CommonVoice releases -> DATADIR/{train,dev,test} (espnet_ext.bin.commonvoice_prep).
# Usage: local/commonvoice/data.sh --datadir data/full --cv_root /data/cv-corpus-5.1-2020-06-22 \
#            [--languages en,fr,es,it,ru,zh,tt,nl,tr,ky,sv] [--few_shot false] [--cap_table table6] \
#            [--cap_unit_seconds 3600] [--seed 0] [--train_source validated]
set -euo pipefail
# shellcheck source=../../egs/TEMPLATE/asr1/utils/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../egs/TEMPLATE/asr1/utils/lib.sh"
# ---- options
datadir=                                  # output: DATADIR/{train,dev,test} (required)
cv_root=                                  # directory of per-language CommonVoice releases (required)
languages=en,fr,es,it,ru,zh,tt,nl,tr,ky,sv   # A2 paper codes; zh reads zh-TW/, sv reads sv-SE/
few_shot=false                            # true: 5 h per language (A2 Table 13)
cap_table=table6                          # table6 (nl 10 h) | table1 (nl 15 h) | none
cap_unit_seconds=3600                     # seconds per cap unit (1: caps read as seconds, for tests)
seed=0                                    # seed of the capped training selection
train_source=validated                    # validated (minus dev/test; ESPnet split) | train
python=python3                            # interpreter with espnet_ext installed
# ---- end of options
parse_options "$0" "$@"
[ -n "${datadir}" ] || die "--datadir is required"
[ -n "${cv_root}" ] || die "--cv_root is required (a directory holding en/, fr/, ..., zh-TW/, sv-SE/)"
[ -d "${cv_root}" ] || die "--cv_root ${cv_root}: not a directory"
case "${few_shot}" in
    true) few_shot_opt=(--few_shot) ;;
    false) few_shot_opt=() ;;
    *) die "--few_shot must be true or false, got '${few_shot}'" ;;
esac

log "CommonVoice ${cv_root} -> ${datadir} (languages ${languages}; few_shot=${few_shot}; caps ${cap_table})"
${python} -m espnet_ext.bin.commonvoice_prep --cv_root "${cv_root}" --out_dir "${datadir}" \
    --languages "${languages}" --cap_table "${cap_table}" --cap_unit_seconds "${cap_unit_seconds}" \
    --seed "${seed}" --train_source "${train_source}" "${few_shot_opt[@]}"
