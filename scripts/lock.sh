#!/usr/bin/env bash
# Pins every Python package TaskFlow installs: requirements/run.lock (the server) and
# requirements/test.lock (the server and its test tools), exact versions with their hashes,
# resolved from pyproject.toml by uv in a throwaway environment, for every Python 3.11+
# and platform at once (`--universal`: a package only some need, like async-timeout below
# Python 3.11.3, is pinned with its marker; pip installs only what applies). Run it after changing
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
"$tools/bin/pip" install --quiet --disable-pip-version-check "uv>=0.5,<1" 2>&1 | { grep -v "is ignored" || true; }
compile() { # OUTPUT [ARGS...]
  local out=$1; shift
  "$tools/bin/uv" pip compile --quiet --universal --python-version 3.11 --generate-hashes \
    --no-emit-index-url --no-emit-find-links "$@" -o "$out" pyproject.toml
}
mkdir -p requirements
compile requirements/run.lock "$@"
compile requirements/test.lock --extra test "$@"
echo "lock: requirements/run.lock ($(grep -c '==' requirements/run.lock) packages)," \
     "requirements/test.lock ($(grep -c '==' requirements/test.lock) packages)"
