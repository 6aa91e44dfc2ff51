#!/usr/bin/env bash
# Stage 1 of egs/seame_cs: SEAME Phase II -> cs_{train,a_train,b_train,dev,test}; HKUST -> zh_{train,dev,test}
# (16 kHz); CommonVoice English -> en_{train,dev,test} (espnet_ext.dataprep.commonvoice, no hour cap). Prepared in
# DATADIR/{seame,hkust,cv_en} (audio stays there), the sets copied to DATADIR/<set>.
# Usage: local/seame_cs/data.sh --datadir data/seame_hkust_cv --seame /data/LDC2015S04 --hkust_audio /data/LDC2005S15 \
#            --hkust_trans /data/LDC2005T32 --cv_root /data/cv-corpus-1 [--target_fraction 0.2]
set -euo pipefail
# shellcheck source=../../egs/TEMPLATE/asr1/utils/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../egs/TEMPLATE/asr1/utils/lib.sh"
# ---- options
datadir=                # output: DATADIR/<set>/ (required)
seame=                  # SEAME Phase II, LDC2015S04 (required)
hkust_audio=            # HKUST audio, LDC2005S15 (required)
hkust_trans=            # HKUST transcripts, LDC2005T32 (required)
cv_root=                # CommonVoice English release (required)
target_fraction=0.2     # share of SEAME training recordings forming CS-b (meta-transfer target task)
python=python3          # interpreter with espnet_ext installed
# ---- end of options
parse_options "$0" "$@"
for v in datadir seame hkust_audio hkust_trans cv_root; do [ -n "${!v}" ] || die "--${v} is required"; done
# Each preparer builds a dir of its own (aside, renamed into place when complete; a re-run with the same options
# skips it) and replaces it as a whole when redone, so they never share one; the recipe reads the sets from DATADIR.
copy_set() {  # copy_set SRC_DIR SET: a data dir (text files only: its wav.scp names the audio under SRC_DIR)
    rm -rf "${datadir:?}/$2"
    cp -r "$1" "${datadir}/$2"
}
log "SEAME Phase II from ${seame}"
${python} -m espnet_ext.bin.seame_prep --corpus_dir "${seame}" --out_dir "${datadir}/seame" \
    --target_fraction "${target_fraction}"
log "HKUST from ${hkust_audio} + ${hkust_trans}"
${python} -m espnet_ext.bin.hkust_prep --audio_dir "${hkust_audio}" --trans_dir "${hkust_trans}" --out_dir "${datadir}/hkust"
log "CommonVoice English from ${cv_root}"
${python} -m espnet_ext.bin.commonvoice_prep --cv_root "${cv_root}" --out_dir "${datadir}/cv_en" --languages en \
    --cap_table none
for s in cs_train cs_a_train cs_b_train cs_dev cs_test; do copy_set "${datadir}/seame/${s}" "${s}"; done
for s in zh_train zh_dev zh_test; do copy_set "${datadir}/hkust/${s}" "${s}"; done
for split in train dev test; do copy_set "${datadir}/cv_en/${split}" "en_${split}"; done
