#!/usr/bin/env bash
# Runs TaskFlow on the embedded default (SQLite, in-process broadcast and cache, local
# files) with the web client, at http://127.0.0.1:8000 unless HOST/PORT say otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh run
if [ -f web/package.json ]; then
  echo "run: building the web client" >&2
  (cd web && npm run --silent build >&2)
  export TASKFLOW_WEB_DIST=${TASKFLOW_WEB_DIST:-$PWD/web/dist}
fi
exec .venv/bin/taskflow serve --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}" "$@"
