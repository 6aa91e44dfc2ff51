#!/usr/bin/env bash
# Usage: bash tools/test.sh [pytest args...]
#   Sets up the environment (tools/setup.sh) and runs the whole test suite, including the end-to-end
#   recipe test on a micro corpus and the dry-run of every shipped training YAML.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "${repo}/tools/setup.sh"
venv=${ESPNET_EXT_VENV:-${repo}/.venv}
cd "${repo}"
exec "${venv}/bin/python" -m pytest -q -p no:cacheprovider tests "$@"
