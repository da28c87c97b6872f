"""Issue #19: the image, the compose stack and the Kubernetes manifests, started for real.

Everything goes through deploy/containers.sh on a real engine (podman here; docker where its
daemon runs), from the repository's own Dockerfile and deploy files:
- one taskflow:local container on the embedded default: non-root, its HEALTHCHECK passes, it
  serves the API, the live channel and the web client on a port published on 127.0.0.1;
- deploy/compose.yaml (nginx, taskflow-1..3, Redis): a change written through one instance
  reaches live clients on the others through the container nginx; a SIGKILLed TaskFlow
  container's clients reconnect to the others and miss nothing;
- deploy/k8s/ through `podman kube play`: the pods answer health.
The figures (image size, start-up to healthy, idle memory) are printed at the end of the run.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.cluster.conftest import KINDS, LiveClients
from tests.containers.conftest import (
    Containers,
    Published,
    free_port_run,
    live_of,
    note,
    rest_of,
)
from tests.support.live import DEFAULT, Activity, LiveClient, PyLiveClient
from tests.support.restclient import Person, Rest, TaskWriter, register

pytestmark = [pytest.mark.containers, pytest.mark.timeout(2700)]

UID = "10001"
RECONNECT_WITHIN = 10.0  # seconds from the kill to a victim's new connection through nginx
CATCH_UP_WITHIN = 20.0


# ---- one container, the embedded default ---------------------------------------------------

@pytest.fixture(scope="module")
def single(containers: Containers) -> Iterator[tuple[Published, str]]:
    target = Published(free_port_run(1))
    started = time.monotonic()
    containers.script("run", str(target.port), timeout=300)
    note(f"one container (embedded default): healthy {time.monotonic() - started:.1f} s after "
         "`podman run` (HEALTHCHECK run by containers.sh: no systemd timers here)")
    name = f"{containers.env['TASKFLOW_CONTAINERS_PROJECT']}-single"
    try:
        yield target, name
    finally:
        containers.run("rm", "-f", name, timeout=120, check=False)


def test_the_image_runs_as_non_root_and_its_healthcheck_passes(
        containers: Containers, single: tuple[Published, str]) -> None:
    _, name = single
    assert containers.inspect(name, "{{.Config.User}}") == f"{UID}:{UID}"
    users = containers.run("top", name, "user", "args").splitlines()[1:]
    assert users and all(line.split()[0] in (UID, "taskflow") for line in users), users
    assert containers.run("exec", name, "id", "-u") == UID
    # The image's own HEALTHCHECK (python + urllib on /api/v1/health), run once more.
    assert "/api/v1/health" in containers.inspect(name, "{{json .Config.Healthcheck}}")
    assert containers.healthy(name)
    if containers.engine == "podman":
        assert containers.inspect(name, "{{.State.Health.Status}}") == "healthy"
    size = int(containers.run("image", "inspect", "--format", "{{.Size}}", "taskflow:local"))
    edge = int(containers.run("image", "inspect", "--format", "{{.Size}}", "taskflow-edge:local"))
    note(f"image size: taskflow:local {size / 1e6:.0f} MB, taskflow-edge:local {edge / 1e6:.0f} MB")


async def test_the_embedded_default_serves_api_live_channel_and_web_client(
        containers: Containers, single: tuple[Published, str], http: httpx.AsyncClient,
        activity: Activity) -> None:
    target, name = single
    page = await http.get(f"{target.url}/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"], page.text[:300]
    script = re.search(r'src="(/assets/[^"]+\.js)"', page.text)
    assert script, page.text[:500]
    asset = await http.get(f"{target.url}{script.group(1)}")
    assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]

    ready = await http.get(f"{target.url}/api/v1/ready")
    assert ready.status_code == 200, ready.text
    rest = rest_of(target, http)
    ada = await asyncio.to_thread(register, target, "Ada")  # type: ignore[arg-type]
    board_id = (await rest.new_board(ada))["id"]
    client = PyLiveClient("Ada", activity, DEFAULT)
    try:
        await client.connect(target.url, ada.token)
        ack = await client.join(board_id)
        assert ack["ok"] is True, ack
        task = await rest.task(ada, board_id, title="from the REST API")
        await activity.until(
            lambda: any(e["type"] == "task:created" and e["data"]["id"] == task["id"]
                        for e in client.log(board_id).applied),
            timeout=10, what=lambda: f"task:created at the live client: {client.log(board_id).seqs()}")
    finally:
        await client.close()

    # Idle: what the container holds after serving that, measured by the engine.
    memory = containers.run("stats", "--no-stream", "--format", "{{.MemUsage}}", name)
    note(f"idle container memory (after one user, one board, one live client): {memory}")


# ---- the compose stack ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def stack(containers: Containers, single: tuple[Published, str]) -> Iterator[Published]:
    # `single` first: its tests run before the stack's (module order), then it is removed.
    containers.run("rm", "-f", single[1], timeout=120, check=False)
    target = Published(free_port_run(4))
    started = time.monotonic()
    try:
        containers.script("up", str(target.port), timeout=600)
        note(f"compose stack (nginx, taskflow-1..3, Redis; MongoDB and MinIO left out: no "
             f"image of theirs can be had here): healthy {time.monotonic() - started:.1f} s "
             "after `compose up`")
        yield target
    finally:
        containers.script("down", timeout=300)


@pytest.fixture(scope="module")
def people(stack: Published) -> dict[str, Person]:
    return {name: register(stack, name) for name in ("Ada", "Bob")}  # type: ignore[arg-type]


@pytest.fixture
async def live(stack: Published, activity: Activity) -> AsyncIterator[LiveClients]:
    clients = live_of(stack, activity)
    try:
        yield clients
    finally:
        await clients.close()


def test_the_stack_runs_hardened_containers(containers: Containers, stack: Published) -> None:
    for k in (1, 2, 3):
        name = containers.service(f"taskflow-{k}")
        assert containers.run("exec", name, "id", "-u") == UID
        assert containers.inspect(name, "{{.HostConfig.ReadonlyRootfs}}") == "true"
        assert containers.healthy(name), name
    assert containers.healthy(containers.service("nginx"))
    assert containers.healthy(containers.service("redis"))


async def test_a_change_through_one_instance_reaches_clients_on_the_others_via_nginx(
        stack: Published, people: dict[str, Person], http: httpx.AsyncClient,
        live: LiveClients) -> None:
    rest = rest_of(stack, http)
    ada, bob = people["Ada"], people["Bob"]
    page = await http.get(f"{stack.url}/")  # the edge image serves the built client
    assert page.status_code == 200 and 'id="root"' in page.text, page.text[:300]
    board_id = (await rest.new_board(ada, {"editor": bob}))["id"]
    clients = [await live.connect(kind, tr, (ada, bob)[i % 2], on=(2, 3)[i % 2])
               for i, (kind, tr) in enumerate(KINDS)]
    assert {c.instance for c in clients} == {"i2", "i3"}
    for client in clients:
        assert (await client.join(board_id))["ok"] is True, client
    # Written through taskflow-1's own port: only Redis carries it to i2 and i3.
    written = time.monotonic()
    task = await rest.task(ada, board_id, instance=1, title="through taskflow-1")
    items, latest = await rest.events(ada, board_id)
    await live.activity.until(
        lambda: all(c.log(board_id).last_seq >= latest for c in clients), timeout=10,
        what=lambda: f"seq {latest} at every client: {[(c.label, c.log(board_id).seqs()) for c in clients]}")
    took = time.monotonic() - written
    for client in clients:
        assert client.log(board_id).applied == items, client.label
        assert any(e["data"].get("id") == task["id"] for e in client.log(board_id).applied)
    note(f"compose: a write through taskflow-1 reached {len(clients)} clients on taskflow-2/3 "
         f"through nginx within {took:.2f} s")


async def test_a_killed_taskflow_container_loses_no_client_and_no_event(
        containers: Containers, stack: Published, people: dict[str, Person],
        http: httpx.AsyncClient, live: LiveClients) -> None:
    rest = rest_of(stack, http)
    activity = live.activity
    ada, bob = people["Ada"], people["Bob"]
    board_id = (await rest.new_board(ada, {"editor": bob}, name="Kill board"))["id"]
    victims = [await live.connect(kind, tr, (ada, bob)[i % 2], on=2)
               for i, (kind, tr) in enumerate(KINDS)]
    survivors = [await live.connect(kind, tr, (bob, ada)[i % 2], on=(1, 3)[i % 2])
                 for i, (kind, tr) in enumerate(KINDS)]
    clients: list[LiveClient] = victims + survivors
    for client in clients:
        assert (await client.join(board_id))["ok"] is True, client

    victim = containers.service("taskflow-2")
    writer = TaskWriter(rest, ada, board_id, activity, routes=(None,), pace=0.1).start()
    try:
        await writer.wait_acked(5, timeout=20, what="before the kill")
        killed_at = time.monotonic()
        containers.run("kill", "--signal", "KILL", victim)
        await activity.until(
            lambda: all(len(c.connects) >= 2 for c in victims), timeout=3 * RECONNECT_WITHIN,
            what=lambda: f"the victims to reconnect: {victims}")
        await writer.wait_acked(len(writer.acked) + 10, timeout=30, what="after the reconnects")
    finally:
        await writer.stop()

    took = {c.label: round(c.connects[1][0] - killed_at, 2) for c in victims}
    for client in victims:
        assert client.connects[1][0] - killed_at < RECONNECT_WITHIN, took
        assert client.connects[1][1].split(".")[0] != "i2", client
    for client in survivors:
        assert len(client.connects) == 1 and client.disconnects == [], client
    await activity.until(lambda: all(c.rejoins for c in victims), timeout=15,
                         what=lambda: str({c.label: c.rejoins for c in victims}))
    await _all_hold_the_log(rest, activity, ada, board_id, clients, writer)
    note(f"compose: SIGKILL of {victim}: its {len(victims)} clients reconnected to the others "
         f"in {min(took.values()):.1f}-{max(took.values()):.1f} s; {len(writer.acked)} "
         f"acknowledged writes, every one at every client once, in order "
         f"({len(writer.failures)} writes in flight failed)")


async def _all_hold_the_log(rest: Rest, activity: Activity, who: Person, board_id: str,
                            clients: list[LiveClient], writer: TaskWriter) -> None:
    items, latest = await rest.events(who, board_id)
    assert [e["seq"] for e in items] == list(range(1, latest + 1))
    created = {e["data"]["id"] for e in items if e["type"] == "task:created"}
    assert [t["id"] for t in writer.acked if t["id"] not in created] == []
    await activity.until(
        lambda: all(c.log(board_id).last_seq >= latest for c in clients), timeout=CATCH_UP_WITHIN,
        what=lambda: f"every client to hold seq 1..{latest}: "
                     f"{[(c.label, c.log(board_id).last_seq) for c in clients]}")
    for client in clients:
        log = client.log(board_id)
        assert log.applied == items, (client.label, log.seqs()[-10:], latest)
        assert log.duplicates() == {}, client.label


# ---- Kubernetes manifests through podman kube play -----------------------------------------

@pytest.fixture(scope="module")
def pods(containers: Containers, stack: Published) -> Iterator[tuple[Published, list[str]]]:
    if containers.engine != "podman":
        pytest.fail(f"the Kubernetes manifests need podman kube play; the engine is {containers.engine}")
    containers.script("down", timeout=300)  # the stack's turn is over
    target = Published(free_port_run(1))
    started = time.monotonic()
    try:
        played = containers.script("kube", str(target.port), timeout=600)
        names = [n for n in containers.run(
            "ps", "--filter", "label=app.kubernetes.io/name=taskflow", "--format", "{{.Names}}"
        ).splitlines() if n.endswith("-taskflow")]
        note(f"kube play (ConfigMap, Deployment, Service): {len(names)} pod(s) answering health "
             f"{time.monotonic() - started:.1f} s after `podman kube play`")
        for line in played.stderr.splitlines():
            if "not playable" in line or "differs from" in line:
                note("  " + line.removeprefix("containers.sh: "))
        yield target, names
    finally:
        containers.script("down", timeout=300)


async def test_the_kubernetes_pods_answer_health(
        containers: Containers, pods: tuple[Published, list[str]], http: httpx.AsyncClient) -> None:
    target, names = pods
    assert names
    # Through the port podman published for the Deployment's containerPort.
    health = await http.get(f"{target.url}/api/v1/health")
    assert health.status_code == 200 and health.json()["status"] == "ok", health.text
    probe = ("import urllib.request as u; "
             "print(u.urlopen('http://127.0.0.1:8000/api/v1/health', timeout=5).status)")
    for name in names:
        assert containers.run("exec", name, "python", "-c", probe) == "200", name
        assert containers.run("exec", name, "id", "-u") == UID, name
        # The init container (taskflow db init) ran to completion (podman then removes it).
        pod = name.removesuffix("-taskflow")
        assert containers.run("ps", "-a", "--filter", f"name={pod}-db-init", "--format",
                              "{{.Names}}") == "", "the run-once init container is still there"
