"""Board import and export through the bundled nginx and two instances."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cluster import Cluster
from tests.support.liveclient import LiveClient
from tests.support.restclient import Rest, register
from tests.support.trello_gen import write_trello_export

pytestmark = pytest.mark.cluster


async def test_a_30_mb_import_passes_nginx_and_the_importer_hears_of_it_elsewhere(
        cluster: Cluster, rest: Rest, tmp_path: Path) -> None:
    export = tmp_path / "trello.json"
    cards = write_trello_export(export, 30 * 1024 * 1024)  # above nginx's 26m for other bodies
    ada = register(cluster, "Ada")
    live = await LiveClient(cluster.instance_url(2), ada.token).connect()
    try:
        r = await rest.http.post(rest.url("/boards/import", None), content=export.read_bytes(),
                                 headers={**ada.headers, "Content-Type": "application/json"},
                                 timeout=600)
        assert r.status_code == 201, r.text
        board = r.json()
        # Told on another instance than the one that imported, through the bus.
        await live.wait_until(lambda: {"board_id": board["id"], "change": "board:created"}
                              in live.named("boards:changed"), timeout=15)
    finally:
        await live.close()
    stats = await rest.ok("GET", f"/boards/{board['id']}/stats", ada, instance=1)
    assert stats["total"] == cards
    r = await rest.http.get(rest.url(f"/boards/{board['id']}/export?format=csv", None),
                            headers=ada.headers, timeout=600)
    assert r.status_code == 200
    assert r.text.count("\r\n") >= cards + 1
