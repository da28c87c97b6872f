#!/usr/bin/env bash
# Installs the load-test kit's tools, skipping what is already there:
#   loadtests/setup.sh          Locust's environment, loadtests/.venv (from requirements.txt)
#   loadtests/setup.sh node     the Node reference server and generator (npm ci in loadtests/peers)
#   loadtests/setup.sh wrk      wrk, for rest_bench.py (Debian's package, through apt-get)
#   loadtests/setup.sh all      all of them
# Nothing here touches the server's own environment (.venv at the repository root).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
what=${1:-python}

python_env() {
  local python=${PYTHON:-python3} venv=$here/.venv
  command -v "$python" >/dev/null || { echo "setup.sh: $python not found (Python 3.11+ needed)" >&2; exit 1; }
  if [[ ! -x $venv/bin/python ]]; then
    "$python" -m venv "$venv" || { echo "setup.sh: could not create $venv" >&2; exit 1; }
  fi
  local stamp=$venv/.loadtests-installed want
  want=$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)
  if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    echo "setup.sh: installing Locust and the Socket.IO client into $venv" >&2
    # pip prints harmless "Location ... is ignored" lines for the local mirrors: drop them.
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt" 2>&1 \
      | grep -v "is ignored" >&2 || true
    "$venv/bin/python" -c "import locust, socketio, websocket" \
      || { echo "setup.sh: pip install into $venv failed" >&2; exit 1; }
    echo "$want" >"$stamp"
  fi
}

node_env() {
  local dir=$here/peers want have
  command -v npm >/dev/null || { echo "setup.sh: npm not found (Node 20+ needed)" >&2; exit 1; }
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  have=$(cat "$dir/node_modules/.loadtests-installed" 2>/dev/null || true)
  if [[ $want != "$have" ]]; then
    echo "setup.sh: npm ci in $dir" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$want" >"$dir/node_modules/.loadtests-installed"
  fi
}

wrk_tool() {
  command -v wrk >/dev/null && return
  command -v apt-get >/dev/null || { echo "setup.sh: wrk not found and no apt-get to install it" >&2; exit 1; }
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "setup.sh: installing wrk (apt-get)" >&2
  $sudo apt-get install -y -q wrk >&2 || { $sudo apt-get update -q >&2 && $sudo apt-get install -y -q wrk >&2; } \
    || { echo "setup.sh: apt-get could not install wrk" >&2; exit 1; }
}

case $what in
  python) python_env ;;
  node) node_env ;;
  wrk) wrk_tool ;;
  all) python_env; node_env; wrk_tool ;;
  *) echo "usage: loadtests/setup.sh [python|node|wrk|all]" >&2; exit 2 ;;
esac
