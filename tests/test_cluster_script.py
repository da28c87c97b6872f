"""loadtests/cluster.sh with TASKFLOW_REDIS_MODE=cluster and no REDIS_URL: it starts a private
Redis Cluster of its own (never the machine's Redis on 6379), the instances use it, its
failover subcommands work, and `down` stops every node it started."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from tests.support.cluster import CLUSTER_SH, REPO, _read_env_file
from tests.support.processes import clean_env, free_port, http_request
from tests.support.rediscluster import _command, _info_field


def _sh(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(["bash", str(CLUSTER_SH), *args], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, f"cluster.sh {args}: {result.stdout}\n{result.stderr}"
    return result.stdout


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _ready(port: int) -> bool:
    response = http_request(port, "GET", "/api/v1/ready", timeout=5)
    return response.status == 200 and response.json()["checks"]["redis"] == "ok"


def test_cluster_mode_runs_on_a_private_redis_cluster(tmp_path: Path) -> None:
    state = tmp_path / "state"
    passed = {k: os.environ[k] for k in ("TASKFLOW_BIN",) if k in os.environ}
    env = clean_env({**passed, "TASKFLOW_CLUSTER_DIR": str(state), "TASKFLOW_REDIS_MODE": "cluster",
                     "TASKFLOW_CLUSTER_TIMEOUT": "60"})
    port = free_port()
    machine_redis = _command(6379, "PING").startswith("+PONG")
    _sh(env, "up", "2", str(port))
    try:
        facts = _read_env_file(state / "cluster.env")
        nodes = [int(p) for p in facts["CLUSTER_REDIS_NODES"].split()]
        assert facts["CLUSTER_REDIS_MODE"] == "cluster" and facts["CLUSTER_REDIS_OWN"] == "1"
        assert len(nodes) == 6 and 6379 not in nodes
        assert facts["CLUSTER_REDIS_URL"] == f"redis://127.0.0.1:{nodes[0]}/0"
        instance = _read_env_file(state / "instance.env")
        assert instance["TASKFLOW_REDIS_MODE"] == "cluster"
        assert instance["REDIS_URL"] == facts["CLUSTER_REDIS_URL"]
        for p in nodes:
            assert _info_field(_command(p, "CLUSTER", "INFO"), "cluster_state") == "ok", p
        instance_ports = [int(p) for p in facts["INSTANCE_PORTS"].split()]
        assert all(_ready(p) for p in instance_ports)

        out = _sh(env, "redis-failover", str(port))
        assert f"from port {nodes[0]}" in out, out  # the first node serves slot 0 after create
        assert "role:slave" in _command(nodes[0], "INFO", "replication")
        out = _sh(env, "redis-kill-master", "1", str(port))
        assert "took over" in out, out
        assert all(_ready(p) for p in instance_ports)
        status = _sh(env, "status", str(port))
        assert "cluster_state:ok" in status and "DOWN" in status, status  # the killed node
    finally:
        _sh(env, "down", str(port))
    assert not any(_listening(p) for p in nodes), "down stops every node it started"
    if machine_redis:
        assert _command(6379, "PING").startswith("+PONG"), "the machine's Redis is untouched"
