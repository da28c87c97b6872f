#!/usr/bin/env bash
# TaskFlow's images and stacks on a real container engine (podman, or docker), for a
# developer's machine and for CI (tests/containers/ drives it; scripts/test.sh runs those).
#
#   deploy/containers.sh build        base images (stand-ins when needed, see below), then
#                                     taskflow:local (target runtime) and taskflow-edge:local
#                                     (target edge) from the repository's own Dockerfile
#   deploy/containers.sh run PORT     one taskflow:local container on the embedded default
#                                     (SQLite, no Redis), published on 127.0.0.1:PORT
#   deploy/containers.sh up PORT      deploy/compose.yaml: nginx, taskflow-1..3, Redis (MongoDB
#                                     and MinIO left out, said why); nginx on 127.0.0.1:PORT
#                                     and, for tests, instance K on 127.0.0.1:PORT+K
#   deploy/containers.sh kube PORT    deploy/k8s/ (ConfigMap, Deployment, Service) through
#                                     `podman kube play`, the pod on 127.0.0.1:PORT; says what
#                                     podman can't play and what the played copy changes
#   deploy/containers.sh down         removes everything run/up/kube started (idempotent)
#   deploy/containers.sh test         build, then the container tests (pytest -m containers)
#   deploy/containers.sh engine       prints the engine used (podman or docker)
#   deploy/containers.sh health NAME  runs container NAME's HEALTHCHECK once (exit 0: healthy)
#   deploy/containers.sh ps           what is running of the above
#
# Engine: podman when it answers, else docker when its daemon answers
# (TASKFLOW_CONTAINER_ENGINE forces one). podman reads the project's own settings,
# deploy/podman/containers.conf, through CONTAINERS_CONF (runc, no default ulimits: what the
# Debian 12 CI machines need); the machine's /etc is never edited. No engine: exit 3.
#
# Base images: the Dockerfile's defaults (PYTHON_IMAGE, NODE_IMAGE, NGINX_IMAGE ARGs) and
# compose's redis image are used when present or pullable. Where no registry answers (the
# CI network reaches Debian's, PyPI's and npm's package registries only), stand-ins are
# built from Debian packages with mmdebstrap and imported (`podman import`), once per
# recipe (the tag carries a hash of it), and passed to the Dockerfile as build arguments:
#   python  Debian 12: python3 (3.11), python3-venv, python-is-python3, passwd
#   node    Debian 13: nodejs (20.19) and npm; the Dockerfile's web stage then runs its own
#           `npm ci && npm run build` inside the image (no web/dist from the host)
#   nginx   Debian 12: nginx-light (1.22), wget (the edge HEALTHCHECK), an `nginx` user
#   redis   Debian 12: redis-server (7.0) and a docker-entrypoint.sh like the official one's
# The stand-ins trust the host's CA bundle (PIP_CERT, NODE_EXTRA_CA_CERTS), so builds work
# behind a TLS-intercepting proxy too. TASKFLOW_BASE_IMAGES=standin forces them, =default
# refuses them.
#
# Environment: TASKFLOW_CONTAINERS_DIR (state: generated secrets, compose override, kube
# YAML; default <repo>/.containers), TASKFLOW_CONTAINERS_PROJECT (compose project and name
# prefix, default taskflowct), TASKFLOW_CONTAINERS_TIMEOUT (seconds to wait for health,
# default 120), TASKFLOW_DEBIAN_MIRROR (default: the host's apt mirror).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${TASKFLOW_CONTAINERS_DIR:-$REPO/.containers}
PROJECT=${TASKFLOW_CONTAINERS_PROJECT:-taskflowct}
WAIT_SECS=${TASKFLOW_CONTAINERS_TIMEOUT:-120}
IMAGE=taskflow:local
EDGE_IMAGE=taskflow-edge:local
LABEL=io.taskflow.containers=$PROJECT
export CONTAINERS_CONF=${CONTAINERS_CONF:-$REPO/deploy/podman/containers.conf}
PATH=$PATH:/usr/sbin:/sbin

say() { printf 'containers.sh: %s\n' "$*" >&2; }
fail() { say "error: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

ENGINE=
engine() {
    [[ -z $ENGINE ]] || return 0
    local want=${TASKFLOW_CONTAINER_ENGINE:-}
    if [[ -n $want ]]; then
        command -v "$want" >/dev/null || { say "error: $want (TASKFLOW_CONTAINER_ENGINE) is not installed"; exit 3; }
        ENGINE=$want
    elif command -v podman >/dev/null && timeout 60 podman info >/dev/null 2>&1; then
        ENGINE=podman
    elif command -v docker >/dev/null && timeout 60 docker info >/dev/null 2>&1; then
        ENGINE=docker
    else
        say "error: no container engine answers: neither podman nor a docker daemon" \
            "(scripts/bootstrap-system.sh installs podman)"
        exit 3
    fi
}
E() { "$ENGINE" "$@"; }

# ---- base images ---------------------------------------------------------------------------
debian_mirror() {
    [[ -z ${TASKFLOW_DEBIAN_MIRROR:-} ]] || { echo "$TASKFLOW_DEBIAN_MIRROR"; return; }
    local uri
    # shellcheck disable=SC2016 # apt's own $(FIELD) syntax
    uri=$(apt-get indextargets --format '$(REPO_URI) $(ORIGIN) $(SUITE)' 'Identifier: Packages' 2>/dev/null |
        awk '$2 == "Debian" && $3 !~ /-(security|updates|backports)$/ { print $1; exit }')
    [[ -n $uri ]] || fail "no Debian mirror in this machine's apt sources: set TASKFLOW_DEBIAN_MIRROR"
    echo "$uri"
}

# Recipes: "SUITE|PACKAGES|CMD" plus, for some, a customize step (standin_customize).
recipe() {
    case $1 in
        python) echo "bookworm|python3,python3-venv,python-is-python3,passwd,ca-certificates|python3" ;;
        node) echo "trixie|nodejs,npm,ca-certificates|node" ;;
        nginx) echo "bookworm|nginx-light,wget,ca-certificates|nginx" ;;
        redis) echo "bookworm|redis-server,ca-certificates|redis-server" ;;
    esac
}

# Runs inside mmdebstrap as a customize hook: $1 is the root directory.
standin_customize() {
    local kind=$1 root=$2
    if [[ -r /etc/ssl/certs/ca-certificates.crt ]]; then
        cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    fi
    case $kind in
        nginx)
            # The official image's user: render.sh's default NGINX_USER.
            chroot "$root" useradd --system --user-group --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin nginx
            rm -f "$root/etc/nginx/sites-enabled/default"
            ;;
        redis)
            cat >"$root/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
# Stand-in for the official redis image's entrypoint: redis-server runs as user redis.
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
fi
exec "$@"
EOF
            chmod 755 "$root/usr/local/bin/docker-entrypoint.sh"
            ;;
    esac
}

standin_tag() {  # the recipe and its customize step, hashed: a changed recipe rebuilds
    { recipe "$1"; declare -f standin_customize; } | sha256sum | cut -c1-12
}

build_standin() {  # build_standin KIND -> prints the image name (built unless present)
    local kind=$1 suite pkgs cmd name tar started
    IFS='|' read -r suite pkgs cmd <<<"$(recipe "$kind")"
    name=localhost/taskflow-standin-$kind:$suite-$(standin_tag "$kind")
    if E image exists "$name" 2>/dev/null || E image inspect "$name" >/dev/null 2>&1; then
        say "$kind: stand-in $name (cached)"
        echo "$name"
        return
    fi
    command -v mmdebstrap >/dev/null || fail "mmdebstrap is needed for stand-in base images (scripts/bootstrap-system.sh)"
    started=$(now)
    mkdir -p "$STATE/rootfs"
    tar=$STATE/rootfs/$kind.tar
    local mirror hook=$STATE/rootfs/$kind-customize.sh
    mirror=$(debian_mirror)
    { declare -f standin_customize; echo "standin_customize $kind \"\$1\""; } >"$hook"
    if ! mmdebstrap --quiet --variant=minbase --include="$pkgs" \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --customize-hook="bash '$hook' \"\$1\"" "$suite" "$tar" "$mirror" </dev/null >"$STATE/rootfs/$kind.log" 2>&1; then
        tail -20 "$STATE/rootfs/$kind.log" >&2
        fail "mmdebstrap of the $kind stand-in failed (log: $STATE/rootfs/$kind.log)"
    fi
    local ca=/etc/ssl/certs/ca-certificates.crt
    E import --change "ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        --change "ENV=LANG=C.UTF-8" --change "ENV=PIP_CERT=$ca" --change "ENV=NODE_EXTRA_CA_CERTS=$ca" \
        --change "CMD=[\"$cmd\"]" "$tar" "$name" >>"$STATE/rootfs/$kind.log" 2>&1 ||
        fail "importing the $kind stand-in failed (log: $STATE/rootfs/$kind.log)"
    rm -f "$tar"
    say "$kind: stand-in $name built from Debian $suite packages ($pkgs) in $(since "$started") s"
    echo "$name"
}

qualified() {  # python:3.11 -> docker.io/library/python:3.11 (podman has no default registry)
    local ref=$1 first=${1%%/*}
    if [[ $ref != */* ]]; then echo "docker.io/library/$ref"
    elif [[ $first != *.* && $first != *:* && $first != localhost ]]; then echo "docker.io/$ref"
    else echo "$ref"; fi
}

have_or_pull() {  # the image is here, or a registry gives it within a short while
    E image inspect "$1" >/dev/null 2>&1 && return 0
    timeout 120 "$ENGINE" pull -q "$(qualified "$1")" >/dev/null 2>&1
}

base_image() {  # base_image KIND DEFAULT -> prints the image to use
    local kind=$1 default=$2 mode=${TASKFLOW_BASE_IMAGES:-auto}
    if [[ $mode != standin ]] && have_or_pull "$default"; then
        say "$kind: $default"
        echo "$default"
    elif [[ $mode == default ]]; then
        fail "$default can't be had (no registry answers) and TASKFLOW_BASE_IMAGES=default"
    else
        say "$kind: $default can't be pulled here: using a stand-in from Debian packages"
        build_standin "$kind"
    fi
}

dockerfile_default() {  # the default value of a Dockerfile ARG
    sed -n "s/^ARG $1=//p" "$REPO/Dockerfile" | head -1
}

compose_redis_default() {
    awk '/^  redis:/ { r = 1 } r && /image:/ { print $2; exit }' "$REPO/deploy/compose.yaml"
}

cmd_build() {
    engine
    local started python node nginx default pid
    started=$(now)
    mkdir -p "$STATE"
    # The four base images side by side: a cold stand-in build waits on downloads and dpkg.
    local kind pids=() failed=0
    for kind in python node nginx redis; do
        case $kind in
            python) default=$(dockerfile_default PYTHON_IMAGE) ;;
            node) default=$(dockerfile_default NODE_IMAGE) ;;
            nginx) default=$(dockerfile_default NGINX_IMAGE) ;;
            redis) default=$(compose_redis_default) ;;
        esac
        base_image "$kind" "$default" >"$STATE/$kind-image" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    ((failed == 0)) || fail "a base image could not be had (above)"
    python=$(cat "$STATE/python-image")
    node=$(cat "$STATE/node-image")
    nginx=$(cat "$STATE/nginx-image")
    if [[ $node == localhost/taskflow-standin-* ]]; then
        local version
        version=$(E run --rm "$node" node --version)
        say "web client: built inside the image by the Dockerfile's web stage (npm ci, npm run build)" \
            "on Node $version from Debian packages (the stand-in $node), not from a host web/dist"
    fi
    local args=(--build-arg "PYTHON_IMAGE=$python" --build-arg "NODE_IMAGE=$node"
        --build-arg "NGINX_IMAGE=$nginx" -f "$REPO/Dockerfile")
    # OCI images have no HEALTHCHECK: podman must write the Docker format to keep it.
    [[ $ENGINE != podman ]] || args+=(--format docker)
    local t
    for target in runtime edge; do
        t=$(now)
        local tag=$IMAGE
        [[ $target == runtime ]] || tag=$EDGE_IMAGE
        if ! E build "${args[@]}" --target "$target" -t "$tag" "$REPO" >"$STATE/build-$target.log" 2>&1; then
            tail -40 "$STATE/build-$target.log" >&2
            fail "building $tag failed (log: $STATE/build-$target.log)"
        fi
        say "built $tag (target $target) in $(since "$t") s: $(image_size "$tag")"
    done
    say "build done in $(since "$started") s"
}

image_size() {
    E image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }'
}

# ---- health --------------------------------------------------------------------------------
# Podman runs HEALTHCHECKs from systemd timers; without systemd (CI containers) nothing runs
# them, so this runs the image's own HEALTHCHECK command once (and podman records the result).
health_once() {
    if [[ $ENGINE == podman ]]; then
        E healthcheck run "$1" >/dev/null 2>&1
    else
        [[ $(E inspect --format '{{.State.Health.Status}}' "$1" 2>/dev/null) == healthy ]]
    fi
}

wait_healthy() {  # wait_healthy NAME... : every one healthy within WAIT_SECS, else fail
    local deadline pending name
    deadline=$(($(date +%s) + WAIT_SECS))
    pending=("$@")
    while ((${#pending[@]})); do
        local still=()
        for name in "${pending[@]}"; do
            if [[ $(E inspect --format '{{.State.Status}}' "$name" 2>/dev/null) != running ]]; then
                E logs --tail 30 "$name" >&2 || true
                fail "$name is not running"
            fi
            health_once "$name" || still+=("$name")
        done
        pending=("${still[@]}")
        ((${#pending[@]})) || break
        if (($(date +%s) >= deadline)); then
            for name in "${pending[@]}"; do E logs --tail 30 "$name" >&2 || true; done
            fail "not healthy within ${WAIT_SECS}s: ${pending[*]}"
        fi
        sleep 0.5  # poll interval of the health condition above (a health check sends no message)
    done
}

wait_http() {  # wait_http URL: a 200 within WAIT_SECS (a poll: nothing announces it)
    local deadline=$(($(date +%s) + WAIT_SECS))
    until curl -fsS --max-time 3 -o /dev/null "$1" 2>/dev/null; do
        (($(date +%s) < deadline)) || fail "no 200 from $1 within ${WAIT_SECS}s"
        sleep 0.5  # poll interval of the condition above
    done
}

# ---- one container: the embedded default ---------------------------------------------------
SINGLE=$PROJECT-single
cmd_run() {
    local port=${1:?usage: containers.sh run PORT}
    engine
    E rm -f "$SINGLE" >/dev/null 2>&1 || true
    local started
    started=$(now)
    # Production mode (the image's default) wants a strong JWT_SECRET; nothing else is set.
    E run -d --name "$SINGLE" --label "$LABEL" -p "127.0.0.1:$port:8000" \
        -e "JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" "$IMAGE" >/dev/null
    wait_healthy "$SINGLE"
    say "$SINGLE healthy $(since "$started") s after start, on http://127.0.0.1:$port"
}

# ---- the compose stack ---------------------------------------------------------------------
compose() {
    if [[ $ENGINE == podman ]]; then
        local pc
        pc=$(command -v podman-compose || true)
        [[ -n $pc ]] || pc=$REPO/.venv/bin/podman-compose
        [[ -x $pc ]] || fail "podman-compose is not installed (scripts/bootstrap.sh test puts it in .venv)"
        "$pc" --env-file "$STATE/compose.env" -p "$PROJECT" -f "$REPO/deploy/compose.yaml" \
            -f "$STATE/compose.override.yaml" -f "$STATE/compose.depends.yaml" "$@"
    else
        docker compose --env-file "$STATE/compose.env" -p "$PROJECT" -f "$REPO/deploy/compose.yaml" \
            -f "$STATE/compose.override.yaml" -f "$STATE/compose.depends.yaml" "$@"
    fi
}

container_of() {  # container_of SERVICE -> its container's name
    E ps -a --filter "label=com.docker.compose.project=$PROJECT" \
        --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | head -1
}

write_secret() {  # write_secret NAME VALUE: a compose file secret (readable by uid 10001)
    printf '%s' "$2" >"$STATE/secrets/$1"
    chmod 0444 "$STATE/secrets/$1"
}

# The stack as deploy/compose.yaml defines it, with what this machine needs on top (one
# generated override file, written here):
#   - secrets from files: compose's `environment:` secrets aren't supported by podman-compose
#   - MongoDB left out: no registry here has a MongoDB image (and no package registry a
#     server); the instances share SQLite on the taskflow-data volume, which the stack
#     supports without MONGODB_URI. MinIO and observability are opt-in profiles, left off.
#   - ports on 127.0.0.1 only; instance K also on PORT+K (the tests write through one)
#   - NGINX_RESOLVER empty: 127.0.0.11 is Docker's DNS (podman's is elsewhere) and the
#     `resolve` parameter needs nginx >= 1.27.3, newer than the Debian stand-in
write_compose_files() {
    local port=$1 redis_image
    redis_image=$(cat "$STATE/redis-image" 2>/dev/null || compose_redis_default)
    mkdir -p "$STATE/secrets"
    chmod 0700 "$STATE/secrets"
    local redis_password
    redis_password=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    write_secret jwt_secret "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    write_secret jwt_previous_secret ""
    write_secret redis_password "$redis_password"
    write_secret redis_url "redis://:$redis_password@redis:6379/0"
    write_secret mongodb_uri ""
    write_secret metrics_token ""
    : >"$STATE/compose.env"
    local s
    {
        echo "# generated by deploy/containers.sh up $port: deploy/compose.yaml on this machine"
        echo "services:"
        echo "  nginx:"
        echo "    environment:"
        echo "      NGINX_RESOLVER: \"\""
        echo "    ports: !override"
        echo "      - \"127.0.0.1:$port:80\""
        for k in 1 2 3; do
            echo "  taskflow-$k:"
            echo "    ports:"
            echo "      - \"127.0.0.1:$((port + k)):8000\""
            echo "    depends_on: !reset"
        done
        echo "  taskflow-migrate:"
        echo "    depends_on: !reset"
        echo "  redis:"
        echo "    image: $redis_image"
        for s in mongo-1 mongo-2 mongo-3 mongo-init; do echo "  $s: !reset"; done
        echo "secrets:"
        for s in jwt_secret jwt_previous_secret redis_url mongodb_uri redis_password metrics_token; do
            echo "  $s: !override"
            echo "    file: $STATE/secrets/$s"
        done
        for s in mongo_root_password mongo_app_password mongo_replica_key grafana_admin_password; do
            echo "  $s: !reset"
        done
    } >"$STATE/compose.override.yaml"
    # The instances' dependencies again, without minio-init: podman-compose fails on a
    # dependency on a service whose profile is off, even with `required: false`. (Its
    # !override keeps only one level, so this takes a !reset above and a second file.)
    {
        echo "# generated by deploy/containers.sh up $port, after compose.override.yaml"
        echo "services:"
        echo "  taskflow-migrate:"
        echo "    depends_on:"
        echo "      redis:"
        echo "        condition: service_healthy"
        for k in 1 2 3; do
            echo "  taskflow-$k:"
            echo "    depends_on:"
            echo "      redis:"
            echo "        condition: service_healthy"
            echo "      taskflow-migrate:"
            echo "        condition: service_completed_successfully"
        done
    } >"$STATE/compose.depends.yaml"
}

cmd_up() {
    local port=${1:?usage: containers.sh up PORT}
    engine
    E image inspect "$IMAGE" >/dev/null 2>&1 || fail "$IMAGE is missing: run containers.sh build first"
    mkdir -p "$STATE"
    down_compose
    write_compose_files "$port"
    say "compose: MongoDB (mongo-1..3, mongo-init) left out: no MongoDB image can be had here" \
        "(no image registry; no package registry ships a server); the instances share SQLite on" \
        "the taskflow-data volume. Profiles s3 (MinIO) and observability not started: their" \
        "images can't be had either."
    local started
    started=$(now)
    trap 'say "up failed: tearing the stack down"; down_compose' EXIT
    # --no-deps: podman-compose would otherwise make each container --require its
    # dependencies, and podman 4.3 then refuses to start an instance whose dependency
    # (taskflow-migrate) has exited. The order and the conditions still hold: podman-compose
    # waits for each dependency's condition before starting a container (all but
    # service_healthy, which podman 4.3 can't wait for: wait_healthy below does).
    compose up -d --no-build --no-deps >"$STATE/compose-up.log" 2>&1 || {
        tail -40 "$STATE/compose-up.log" >&2
        fail "compose up failed (log: $STATE/compose-up.log)"
    }
    local names=() svc name
    for svc in redis taskflow-1 taskflow-2 taskflow-3 nginx; do
        name=$(container_of "$svc")
        [[ -n $name ]] || fail "compose started no container for $svc (log: $STATE/compose-up.log)"
        names+=("$name")
    done
    wait_healthy "${names[@]}"
    trap - EXIT
    say "stack healthy $(since "$started") s after compose up: nginx on http://127.0.0.1:$port," \
        "taskflow-K on 127.0.0.1:$port+K"
}

down_compose() {
    [[ -f $STATE/compose.override.yaml ]] || write_compose_files 0
    compose down -v -t 10 >"$STATE/compose-down.log" 2>&1 || true
}

# ---- Kubernetes manifests through podman kube play -----------------------------------------
# podman 4.3 plays Pod, Deployment, PersistentVolumeClaim and ConfigMap documents, and a
# Secret document as a podman secret; the Service is accepted and ignored. What it can't
# run at all: the HorizontalPodAutoscaler, the Ingress and the PodDisruptionBudget (a
# cluster's controllers), readiness/startup probes and preStop hooks; the liveness probe
# becomes a health check that can't pass (below). The played copy differs from deploy/k8s/ only where
# podman 4.3 needs it, each said when it runs (KUBE_CHANGES).
KUBE_PLAYED=(configmap.yaml deployment.yaml service.yaml)
KUBE_NOT_PLAYED="hpa.yaml (HorizontalPodAutoscaler), ingress.yaml (Ingress), pdb.yaml (PodDisruptionBudget), namespace.yaml, serviceaccount.yaml; service.yaml is accepted and ignored"
KUBE_CHANGES="the image is localhost/$IMAGE (kustomization.yaml's images: step); S3_BUCKET empty (attachments on the pod's volume); 1 replica, its containerPort published on 127.0.0.1:PORT (podman publishes a containerPort on the host, on every interface and for every replica alike), and the metrics containerPort left out for that reason (the server still listens on it inside the pod); restartPolicy OnFailure (podman 4.3 applies Always to the init container too and restarts it forever)"

write_kube_yaml() {
    local port=$1 out=$STATE/kube.yaml f
    for f in "${KUBE_PLAYED[@]}"; do
        echo "---"
        sed -e "s|^\(\s*image:\) taskflow$|\1 localhost/$IMAGE|" \
            -e "s|^\(\s*S3_BUCKET:\).*|\1 \"\"|" \
            -e "s|^  replicas: [0-9]*|  replicas: 1|" \
            -e "s|^      serviceAccountName: taskflow$|&\n      restartPolicy: OnFailure|" \
            -e "s|^\(\s*\)- name: http$|&\n\1  hostIP: 127.0.0.1\n\1  hostPort: $port|" \
            -e "/^\s*- name: metrics$/,+2d" \
            "$REPO/deploy/k8s/$f"
    done >"$out"
    if ! grep -q "hostPort: $port" "$out" || ! grep -q 'restartPolicy: OnFailure' "$out" ||
        ! grep -q "image: localhost/$IMAGE" "$out"; then
        fail "deploy/k8s/ changed shape: see write_kube_yaml"
    fi
}

# The Secret the Deployment mounts (taskflow-secrets). podman 4.3 gives it to the main
# container from a podman secret (the Secret document, played first; its values land in the
# files base64-encoded, a bug of that version: harmless here, the JWT key is random anyway
# and the others empty), and to the init container as a named volume of the same name (so
# that volume is filled with the same files beforehand).
kube_secret() {
    local jwt mp
    jwt=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    (
        umask 077
        printf '%s\n' "apiVersion: v1" "kind: Secret" "metadata:" "  name: taskflow-secrets" \
            "type: Opaque" "stringData:" "  jwt-secret: \"$jwt\"" "  jwt-previous-secret: \"\"" \
            "  redis-url: \"\"" "  mongodb-uri: \"\"" >"$STATE/kube-secret.yaml"
    )
    E kube play "$STATE/kube-secret.yaml" >"$STATE/kube-play.log" 2>&1 || {
        cat "$STATE/kube-play.log" >&2
        fail "podman kube play of the Secret failed"
    }
    E volume create taskflow-secrets >/dev/null
    mp=$(E volume inspect --format '{{.Mountpoint}}' taskflow-secrets)
    printf '%s' "$jwt" >"$mp/jwt-secret"
    : >"$mp/jwt-previous-secret"
    : >"$mp/redis-url"
    : >"$mp/mongodb-uri"
    chmod 0444 "$mp"/*
}

cmd_kube() {
    local port=${1:?usage: containers.sh kube PORT}
    engine
    [[ $ENGINE == podman ]] || fail "kube: needs podman (kube play); docker has no equivalent"
    E image inspect "$IMAGE" >/dev/null 2>&1 || fail "$IMAGE is missing: run containers.sh build first"
    mkdir -p "$STATE"
    down_kube
    write_kube_yaml "$port"
    say "kube: playing ${KUBE_PLAYED[*]}; not playable without a cluster: $KUBE_NOT_PLAYED"
    say "kube: the played copy ($STATE/kube.yaml) differs from deploy/k8s/ in: ${KUBE_CHANGES//PORT/$port}"
    local started
    started=$(now)
    trap 'say "kube failed: tearing it down"; down_kube' EXIT
    kube_secret
    E kube play "$STATE/kube.yaml" >>"$STATE/kube-play.log" 2>&1 || {
        grep -v 'syslog' "$STATE/kube-play.log" >&2
        fail "podman kube play failed (log: $STATE/kube-play.log)"
    }
    local names
    mapfile -t names < <(E ps --filter label=app.kubernetes.io/name=taskflow --format '{{.Names}}' |
        grep -- '-taskflow$' || true)
    ((${#names[@]})) || fail "kube play started no taskflow container (log: $STATE/kube-play.log)"
    # podman 4.3 turns the httpGet liveness probe into `curl -f http://localhost:0/...` (the
    # named port unresolved, and no curl in a slim image): it never passes. Health is asked
    # over HTTP on the published port instead.
    wait_http "http://127.0.0.1:$port/api/v1/health"
    trap - EXIT
    say "kube: ${#names[@]} pod(s) healthy $(since "$started") s after kube play: ${names[*]}," \
        "published on http://127.0.0.1:$port"
}

down_kube() {
    [[ $ENGINE == podman ]] || return 0
    if [[ -f $STATE/kube.yaml ]]; then
        E kube down "$STATE/kube.yaml" >/dev/null 2>&1 || true
    fi
    E secret rm taskflow-secrets >/dev/null 2>&1 || true
    # Named volumes kube play made for the pod's volumes (podman 4.3 names them after the
    # manifest's volumes); removed only when no container uses them.
    E volume rm taskflow-secrets data tmp >/dev/null 2>&1 || true
}

cmd_down() {
    engine
    mkdir -p "$STATE"
    E rm -f -t 5 "$SINGLE" >/dev/null 2>&1 || E rm -f "$SINGLE" >/dev/null 2>&1 || true
    down_compose
    down_kube
    # Whatever a killed run left behind, by label.
    local left
    mapfile -t left < <(E ps -aq --filter "label=com.docker.compose.project=$PROJECT"
        E ps -aq --filter "label=$LABEL")
    ((${#left[@]} == 0)) || E rm -f "${left[@]}" >/dev/null 2>&1 || true
    say "down: nothing of $PROJECT left running"
}

cmd_health() {
    engine
    health_once "${1:?usage: containers.sh health NAME}"
}

cmd_ps() {
    engine
    E ps -a --filter "label=com.docker.compose.project=$PROJECT"
    E ps -a --filter "label=$LABEL"
    [[ $ENGINE != podman ]] || E pod ps
}

cmd_test() {
    cd "$REPO"
    [[ -x .venv/bin/pytest ]] || fail ".venv is missing: run scripts/bootstrap.sh test"
    exec .venv/bin/pytest -m containers tests/containers "$@"
}

case ${1:-} in
    build) cmd_build ;;
    run) shift; cmd_run "$@" ;;
    up) shift; cmd_up "$@" ;;
    kube) shift; cmd_kube "$@" ;;
    down) cmd_down ;;
    test) shift; cmd_test "$@" ;;
    engine) engine; echo "$ENGINE" ;;
    health) shift; cmd_health "$@" ;;
    ps) cmd_ps ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
