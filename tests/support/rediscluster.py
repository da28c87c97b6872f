"""A private Redis Cluster for tests: 3 masters + 3 replicas of `redis-server` on free ports.

Like `RedisServer` (tests/support/cluster.py) it is always our own, never the machine's Redis:
tests may stop it, restart it and fail its masters over. `stop()` and `start()` act on every
node at once (a whole-cluster outage); the nodes keep their cluster config files in the work
dir, so a restart brings back the same cluster (same slots, no data: nothing is persisted).
Only the standard library and `redis-cli` are used; every node started here is stopped by
`stop()`, which the fixtures call on the way out whatever happened.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import clean_env, free_port

REDIS_SERVER = "redis-server"
REDIS_CLI = "redis-cli"
MASTERS = 3


class RedisClusterFailed(RuntimeError):
    """A node or redis-cli did not do what was asked; the message carries their output."""


def _command(port: int, *args: str, timeout: float = 2.0) -> str:
    """One command to the node on `port` (inline protocol: arguments without spaces), its
    reply's first lines as text; '' when the node does not answer."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall((" ".join(args) + "\r\n").encode())
            data = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
                if _complete(data):
                    break
            return data.decode(errors="replace")
    except OSError:
        return ""


def _complete(data: bytes) -> bool:
    if data[:1] in (b"+", b"-", b":"):
        return data.endswith(b"\r\n")
    if data[:1] == b"$":  # a bulk string: header, then exactly that many bytes
        header, _, rest = data.partition(b"\r\n")
        size = int(header[1:] or b"-1")
        return size < 0 or len(rest) >= size + 2
    return False


def _info_field(text: str, name: str) -> str | None:
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.partition(":")[2].strip()
    return None


@dataclass
class RedisClusterServer:
    """Six nodes (3 masters with a replica each); `url` names the first node."""

    workdir: Path
    ports: list[int] = field(default_factory=list)
    bus_ports: list[int] = field(default_factory=list)
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    starts: int = 0

    @property
    def port(self) -> int:
        return self.ports[0]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    @property
    def running(self) -> bool:
        return bool(self.processes) and all(p.poll() is None for p in self.processes.values())

    def start(self, timeout: float = 30.0) -> RedisClusterServer:
        """Starts every node (on its earlier port after the first time); the first start also
        creates the cluster. Returns once every node reports cluster_state:ok."""
        assert not self.processes, "already running"
        self.workdir.mkdir(parents=True, exist_ok=True)
        first = not self.ports
        if first:
            # Bus ports of their own: the default (port + 10000) may be taken, or above 65535.
            chosen: set[int] = set()
            while len(chosen) < 4 * MASTERS:
                chosen.add(free_port())
            picked = sorted(chosen)
            self.ports, self.bus_ports = picked[:2 * MASTERS], picked[2 * MASTERS:]
        self.starts += 1
        for port, bus in zip(self.ports, self.bus_ports, strict=True):
            self._start_node(port, bus)
        try:
            self._wait(lambda: all(_command(p, "PING").startswith("+PONG") for p in self.ports),
                       timeout, "every node to answer PING")
            if first:
                self._create(timeout)
            self.wait_ok(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_node(self, port: int, bus: int) -> None:
        log = (self.workdir / f"node-{port}-{self.starts}.log").open("wb")
        try:
            self.processes[port] = subprocess.Popen(
                [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(port),
                 "--cluster-enabled", "yes", "--cluster-port", str(bus),
                 "--cluster-config-file", f"nodes-{port}.conf",
                 "--cluster-node-timeout", "2000", "--repl-diskless-sync-delay", "0",
                 "--save", "", "--appendonly", "no",
                 "--dir", str(self.workdir), "--daemonize", "no"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env=clean_env({}))
        finally:
            log.close()

    def _create(self, timeout: float) -> None:
        nodes = [f"127.0.0.1:{p}" for p in self.ports]
        result = subprocess.run(
            [REDIS_CLI, "--cluster", "create", *nodes, "--cluster-replicas", "1",
             "--cluster-yes"],
            capture_output=True, text=True, timeout=timeout, check=False, env=clean_env({}))
        if result.returncode != 0:
            raise RedisClusterFailed(f"redis-cli --cluster create exited {result.returncode}:\n"
                                     f"{result.stdout}\n{result.stderr}")

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Waits until every running node says cluster_state:ok and knows every node as
        connected (after a create, a restart or a failover)."""
        def settled() -> bool:
            for port in self.ports:
                if port not in self.processes:
                    continue
                info = _command(port, "CLUSTER", "INFO")
                if _info_field(info, "cluster_state") != "ok":
                    return False
                if _info_field(info, "cluster_known_nodes") != str(len(self.ports)):
                    return False
                masters = [n for n in self.nodes(port)
                           if "master" in n["flags"] and "fail" not in n["flags"]]
                if len(masters) != MASTERS:  # replica roles spread by gossip after a create
                    return False
                # A replica that never synced with its master can't be promoted.
                replication = _command(port, "INFO", "replication")
                if _info_field(replication, "role") == "slave" and \
                        _info_field(replication, "master_link_status") != "up":
                    return False
            return True
        self._wait(settled, timeout, "cluster_state:ok on every node")

    def nodes(self, port: int | None = None) -> list[dict[str, str]]:
        """CLUSTER NODES as seen by `port` (default the first running node): id, addr,
        flags, master (its master's id, or '-'), link."""
        asked = port or next(p for p in self.ports if p in self.processes)
        out = []
        for line in _command(asked, "CLUSTER", "NODES").splitlines():
            parts = line.split()
            if len(parts) < 8 or parts[0].startswith("$"):
                continue
            out.append({"id": parts[0], "addr": parts[1].split("@")[0], "flags": parts[2],
                        "master": parts[3], "link": parts[7]})
        return out

    def masters(self) -> list[int]:
        """Ports of the nodes that are masters now, as the first running node sees it."""
        return sorted(int(n["addr"].rsplit(":", 1)[1]) for n in self.nodes()
                      if "master" in n["flags"] and "fail" not in n["flags"])

    def replica_of(self, master_port: int) -> int:
        """Port of a replica of the master on `master_port`."""
        view = self.nodes()
        master_id = next(n["id"] for n in view if n["addr"].endswith(f":{master_port}"))
        for node in view:
            if node["master"] == master_id and "fail" not in node["flags"]:
                return int(node["addr"].rsplit(":", 1)[1])
        raise RedisClusterFailed(f"no live replica of the master on {master_port}")

    def failover(self, master_port: int, timeout: float = 30.0) -> int:
        """CLUSTER FAILOVER on a replica of `master_port` (a planned promotion: no write is
        lost); returns the new master's port once every node agrees."""
        replica = self.replica_of(master_port)
        reply = _command(replica, "CLUSTER", "FAILOVER")
        if not reply.startswith("+OK"):
            raise RedisClusterFailed(f"CLUSTER FAILOVER on {replica}: {reply!r}")
        self._wait(lambda: replica in self.masters() and master_port not in self.masters(),
                   timeout, f"{replica} to replace {master_port} as master")
        self.wait_ok(timeout)
        return replica

    def kill_master(self, master_port: int, timeout: float = 30.0) -> int:
        """SIGKILLs the master on `master_port`; returns its replica's port once the replica
        has taken over (the cluster's own failure detection and election)."""
        replica = self.replica_of(master_port)
        self.stop_node(master_port, signal.SIGKILL)

        def promoted() -> bool:
            live = [p for p in self.ports if p in self.processes]
            for port in live:
                info = _command(port, "CLUSTER", "INFO")
                if _info_field(info, "cluster_state") != "ok":
                    return False
            return replica in self.masters()
        self._wait(promoted, timeout, f"{replica} to take over from the killed {master_port}")
        return replica

    def stop_node(self, port: int, sig: signal.Signals = signal.SIGTERM,
                  timeout: float = 10.0) -> None:
        process = self.processes.pop(port, None)
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 10.0) -> None:
        """Signals every node of ours (only them) and reaps them."""
        for port in list(self.processes):
            process = self.processes[port]
            if process.poll() is None:
                process.send_signal(sig)
        for port in list(self.processes):
            self.stop_node(port, sig, timeout)

    def _wait(self, condition: object, timeout: float, what: str) -> None:
        assert callable(condition)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            dead = [p for p, proc in self.processes.items() if proc.poll() is not None]
            if dead:
                raise RedisClusterFailed(f"node(s) {dead} exited while waiting for {what}:\n"
                                         f"{self.logs()}")
            time.sleep(0.1)  # poll interval of the condition above
        raise RedisClusterFailed(f"timed out after {timeout}s waiting for {what}:\n{self.logs()}")

    def logs(self, lines: int = 15) -> str:
        out = []
        for path in sorted(self.workdir.glob("node-*.log")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(out)
