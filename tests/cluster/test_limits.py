"""Rate limits counted across the cluster's instances, in Redis (single or Redis Cluster):
one client address spends one budget whichever instance answers, and a live connect counts
against the same store."""

from __future__ import annotations

import secrets

import pytest

from tests.support.cluster import Cluster
from tests.support.restclient import Rest

pytestmark = pytest.mark.cluster

AUTH_PER_ADDRESS = 5


@pytest.fixture(scope="module")
def cluster_env() -> dict[str, str]:
    return {"TASKFLOW_RATE_LIMIT_AUTH_ADDRESS": f"{AUTH_PER_ADDRESS}/minute"}


def doc_ip() -> str:
    return f"2001:db8:{secrets.token_hex(2)}:{secrets.token_hex(2)}::{secrets.token_hex(2)}"


async def _refresh(rest: Rest, instance: int, address: str) -> int:
    # A bogus refresh token: 401 without bcrypt, but it counts against the address's budget.
    # The instances trust 127.0.0.1 (nginx's address, and ours), so X-Forwarded-For is the client.
    response = await rest.http.post(f"{rest.cluster.instance_url(instance)}/api/v1/auth/refresh",
                                    json={"refresh_token": "not-a-token"},
                                    headers={"X-Forwarded-For": address})
    return response.status_code


async def test_one_address_spends_one_budget_on_every_instance(cluster: Cluster,
                                                              rest: Rest) -> None:
    address = doc_ip()
    instances = [1 + n % cluster.size for n in range(AUTH_PER_ADDRESS + cluster.size)]
    statuses = [await _refresh(rest, k, address) for k in instances]
    assert statuses == [401] * AUTH_PER_ADDRESS + [429] * cluster.size, list(
        zip(instances, statuses, strict=True))
    # Another address still has its whole budget, on every instance.
    other = doc_ip()
    assert [await _refresh(rest, k, other) for k in range(1, cluster.size + 1)] == \
        [401] * cluster.size
