#!/usr/bin/env bash
# Install the system packages TaskFlow's tooling needs, when missing (Debian/Ubuntu, apt).
# Idempotent and quiet when everything is there; `apt-get update` runs only when something
# must be installed. Prints one line and exits non-zero on failure.
#
#   nginx          reverse proxy for loadtests/cluster.sh and the nginx integration tests
#   chromium       browser for the web client's end-to-end tests
#   redis-server   binary only: cluster.sh starts a private one when no Redis answers.
#                  Package scripts are kept from starting (or restarting) any service, so a
#                  Redis (or nginx) already running on this machine is left alone.
#   redis-tools    redis-cli (cluster.sh pings Redis with it)
#   curl           health checks in cluster.sh
#   ShellCheck     (package shellcheck) lint for the shell scripts
#   util-linux     setsid (cluster.sh); python3 for free-port lookup is assumed present
#   podman, runc, uidmap, mmdebstrap
#                  deploy/containers.sh (tests/containers/): podman runs the images, with
#                  runc as its runtime (deploy/podman/containers.conf); mmdebstrap builds
#                  stand-in base images from Debian packages where no image registry answers.
#                  podman-compose comes from PyPI with the test extras (pyproject.toml).
set -euo pipefail

PATH=$PATH:/usr/sbin:/sbin
fail() { echo "bootstrap-system.sh: $*" >&2; exit 1; }

have() { command -v "$1" >/dev/null 2>&1; }

missing=()
have nginx || missing+=(nginx-light)
have chromium || have chromium-browser || missing+=(chromium)
have redis-server || missing+=(redis-server)
have redis-cli || missing+=(redis-tools)
have curl || missing+=(curl)
have shellcheck || missing+=(shellcheck)
have setsid || missing+=(util-linux)
have podman || missing+=(podman)
have runc || missing+=(runc)
have newuidmap || missing+=(uidmap)
have mmdebstrap || missing+=(mmdebstrap)

((${#missing[@]})) || exit 0

have apt-get || fail "missing ${missing[*]} and apt-get is not available: install them by hand"
sudo=()
if ((EUID != 0)); then
    have sudo || fail "missing ${missing[*]}: run as root (or install sudo)"
    sudo=(sudo -n)
fi

log=$(mktemp /tmp/bootstrap-system.XXXXXX.log)
policy=/usr/sbin/policy-rc.d
own_policy=0
cleanup() {
    if ((own_policy)); then "${sudo[@]}" rm -f "$policy"; fi
}
trap cleanup EXIT

# Keep maintainer scripts from starting services (Debian's policy-rc.d protocol: exit 101
# = action forbidden). Only when the machine has no policy of its own.
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# temporary, from TaskFlow scripts/bootstrap-system.sh\nexit 101\n' |
        "${sudo[@]}" tee "$policy" >/dev/null || fail "cannot write $policy"
    "${sudo[@]}" chmod 755 "$policy"
    own_policy=1
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q >"$log" 2>&1 ||
    fail "apt-get update failed (log: $log)"
# Debian 12 ships nginx-light; later releases only "nginx".
for i in "${!missing[@]}"; do
    if [[ ${missing[i]} == nginx-light ]] && ! apt-cache show nginx-light >/dev/null 2>&1; then
        missing[i]=nginx
    fi
done
"${sudo[@]}" apt-get install -y -q "${missing[@]}" >>"$log" 2>&1 ||
    fail "apt-get install ${missing[*]} failed (log: $log)"

for cmd in nginx redis-server redis-cli curl shellcheck setsid podman runc newuidmap mmdebstrap; do
    have "$cmd" || fail "$cmd still missing after installing ${missing[*]} (log: $log)"
done
have chromium || have chromium-browser || fail "chromium still missing after install (log: $log)"
rm -f "$log"
