#!/usr/bin/env bash
# Runs every check and test: lint, types, the Python suites (real Redis, nginx, server
# processes), the web client's unit tests and its end-to-end tests in headless Chromium.
# Extra arguments go to pytest (e.g. scripts/test.sh -k auth).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test

step() { printf '\n== %s\n' "$*" >&2; }

step "ruff"
.venv/bin/ruff check server tests loadtests
step "mypy (strict, server/)"
.venv/bin/mypy
step "pytest"
.venv/bin/pytest "$@"
if [ -f web/package.json ] && [ $# -eq 0 ]; then
  step "web: type check, unit tests and build"
  (cd web && npm run --silent typecheck && npm test --silent && npm run --silent build)
  if [ -d web/e2e ]; then
    step "web: end-to-end tests in headless Chromium"
    (cd web && npm run --silent e2e)
  fi
fi
