#!/usr/bin/env bash
# Installs what TaskFlow needs, skipping what is already there.
#   scripts/bootstrap.sh run    Python environment + web client dependencies
#   scripts/bootstrap.sh test   the above, test tools, and system packages (nginx, chromium, redis)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}

if [ "$mode" = test ]; then
  bash scripts/bootstrap-system.sh
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# The exact versions (and hashes) of requirements/*.lock, made from pyproject.toml by
# scripts/lock.sh; then TaskFlow itself, editable, without resolving anything again.
lock=requirements/run.lock
[ "$mode" = test ] && lock=requirements/test.lock
stamp=".venv/.taskflow-installed-$(basename "$lock" .lock)"
digest=$(cat pyproject.toml "$lock" | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  echo "bootstrap: installing Python packages into .venv ($lock)" >&2
  # swagger-ui-bundle (Swagger UI 4, no OpenAPI 3.1) and its successor share a module name.
  if .venv/bin/python -m pip show -q swagger-ui-bundle >/dev/null 2>&1; then
    .venv/bin/python -m pip uninstall -y -q swagger-ui-bundle >&2
  fi
  pip_install() {
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "$@" 2>&1 \
      | { grep -v "is ignored" || true; } >&2
    return "${PIPESTATUS[0]}"
  }
  pip_install --require-hashes -r "$lock" || { echo "bootstrap: pip install -r $lock failed" >&2; exit 1; }
  pip_install --no-deps -e . || { echo "bootstrap: pip install -e . failed" >&2; exit 1; }
  .venv/bin/python -c "import taskflow" || { echo "bootstrap: pip install failed" >&2; exit 1; }
  echo "$digest" > "$stamp"
fi

npm_install() {  # npm_install DIR: npm ci when its lock file changed since the last install
  local dir=$1
  [ -f "$dir/package-lock.json" ] || return 0
  local want have
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  have=$(cat "$dir/node_modules/.taskflow-installed" 2>/dev/null || true)
  if [ "$want" != "$have" ]; then
    echo "bootstrap: npm ci in $dir" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$want" > "$dir/node_modules/.taskflow-installed"
  fi
}
npm_install web
if [ "$mode" = test ]; then
  npm_install tests/js
fi
