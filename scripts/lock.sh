#!/usr/bin/env bash
# Pins every Python package TaskFlow installs: requirements/run.lock (the server) and
# requirements/test.lock (the server and its test tools), exact versions with their hashes,
# resolved from pyproject.toml by pip-tools in a throwaway environment. Run it after changing
# a dependency in pyproject.toml, and commit both files; `scripts/bootstrap.sh` installs from
# them (`pip install --require-hashes`), and tests/test_dependencies.py fails while they
# disagree with pyproject.toml.
#   scripts/lock.sh            re-resolve, keeping the pins that still fit
#   scripts/lock.sh --upgrade  re-resolve to the newest versions pyproject.toml allows
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools"
"$tools/bin/pip" install --quiet --disable-pip-version-check "pip-tools>=7.4,<8" 2>&1 | { grep -v "is ignored" || true; }
compile() { # OUTPUT [ARGS...]
  local out=$1; shift
  "$tools/bin/pip-compile" --quiet --generate-hashes --strip-extras --allow-unsafe \
    --no-emit-index-url --no-emit-find-links "$@" -o "$out" pyproject.toml 2>&1 \
    | { grep -v "is ignored" || true; }
}
mkdir -p requirements
compile requirements/run.lock "$@"
compile requirements/test.lock --extra test "$@"
echo "lock: requirements/run.lock ($(grep -c '==' requirements/run.lock) packages)," \
     "requirements/test.lock ($(grep -c '==' requirements/test.lock) packages)"
