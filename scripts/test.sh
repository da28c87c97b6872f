#!/usr/bin/env bash
# Runs every check and test: lint, types, the Python suites (real Redis, nginx, server
# processes; the images and stacks on podman through deploy/containers.sh, tests/containers/),
# the web client's unit tests and its end-to-end tests in headless Chromium.
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
  step "web: type check and unit tests"
  (cd web && npm run --silent typecheck && npm test --silent)
  step "web: build, then end-to-end tests in headless Chromium against a real server"
  (cd web && TASKFLOW_E2E_REQUIRED=1 npm run --silent e2e)
fi
