#!/usr/bin/env bash
# Usage: bash tools/test.sh [pytest args...]
#   Sets up the environment (tools/setup.sh) and runs the whole test suite, including the end-to-end
#   recipe test on a micro corpus and the dry-run of every shipped training YAML.
#   The tests run on ESPNET_EXT_TEST_WORKERS pytest-xdist workers (default: one per core, at most 4; 1 runs them
#   in this process), each taking whole test files (--dist loadfile), so a file's module fixtures (a recipe run, a
#   corpus) are built once. Much of a test's time is single-threaded (imports, shell stages, small models).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "${repo}/tools/setup.sh"
venv=${ESPNET_EXT_VENV:-${repo}/.venv}
cd "${repo}"
cores=$(nproc)
workers=${ESPNET_EXT_TEST_WORKERS:-$(( cores < 4 ? cores : 4 ))}
[[ "${workers}" =~ ^[1-9][0-9]*$ ]] || { echo "ERROR: ESPNET_EXT_TEST_WORKERS must be a positive integer, got '${workers}'" >&2; exit 1; }
xdist=(-n "${workers}" --dist loadfile)
[ "${workers}" -gt 1 ] || xdist=(-p no:xdist)
exec "${venv}/bin/python" -m pytest -q -p no:cacheprovider --durations=25 "${xdist[@]}" tests "$@"
