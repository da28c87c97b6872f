"""Outgoing webhook requests, and the SSRF rules they obey.

A URL is vetted when a webhook is made or changed and again on every send, after DNS: the
host's addresses are resolved here, each is checked, and aiohttp connects to exactly the
vetted addresses (a resolver of our own), so a name that resolves somewhere else between
the check and the connection (DNS rebinding) can't slip through. Redirects are not followed
(a 3xx is a failed attempt), proxies from the environment are not used.

Refused always: link-local (169.254.0.0/16, fe80::/10, the cloud metadata services among
them), the metadata addresses 100.100.100.200 and fd00:ec2::254, metadata host names,
unspecified (0.0.0.0, ::), multicast, reserved and broadcast, and every other address that is
not globally routable. Refused unless TASKFLOW_WEBHOOK_ALLOW_PRIVATE=1: loopback (127.0.0.0/8,
::1, `localhost` and `*.localhost`), private (10/8, 172.16/12, 192.168/16, fc00::/7) and
shared (100.64.0.0/10) ranges. IPv4-mapped, 6to4 and NAT64 IPv6 forms are judged by the IPv4
address inside.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from taskflow.errors import field_error

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
TIMEOUT_SECONDS = 5.0
_METADATA_HOSTS = {"metadata", "metadata.google.internal", "metadata.goog", "instance-data",
                   "instance-data.ec2.internal"}
_METADATA_ADDRESSES = {ipaddress.ip_address("100.100.100.200"),
                       ipaddress.ip_address("fd00:ec2::254"),
                       ipaddress.ip_address("169.254.169.254")}
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_MAX_URL = 2000


class UnsafeAddress(Exception):
    """The URL or an address of its host is refused; the message says why."""


def _inner(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def address_refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why `address` may not be sent to, or None when it may."""
    if address in _METADATA_ADDRESSES:
        return "a cloud metadata address"
    inner = _inner(address)
    if inner in _METADATA_ADDRESSES:
        return "a cloud metadata address"
    for candidate in (address, inner):
        if candidate.is_link_local:
            return "a link-local address"
        if candidate.is_unspecified:
            return "an unspecified address"
        if candidate.is_multicast:
            return "a multicast address"
    if inner.is_loopback or address.is_loopback:
        return None if allow_private else "a loopback address"
    if inner.is_reserved or address.is_reserved:
        return "a reserved address"
    if inner.is_private or (isinstance(inner, ipaddress.IPv4Address) and inner in _SHARED):
        return None if allow_private else "a private address"
    if not inner.is_global:
        return "an address that is not globally routable"
    return None


def url_refusal(url: str, *, allow_private: bool) -> tuple[str | None, str, int]:
    """(why the URL itself is refused or None, its host, its port)."""
    if len(url) > _MAX_URL:
        return "is too long", "", 0
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL", "", 0
    if parts.scheme not in ("http", "https"):
        return "must be an http or https URL", "", 0
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "must not carry credentials", "", 0
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        return "must name a host", "", 0
    if parts.fragment:
        return "must not have a fragment", "", 0
    if host in _METADATA_HOSTS:
        return "names a cloud metadata host", host, 0
    if (host == "localhost" or host.endswith(".localhost")) and not allow_private:
        return "names a loopback host", host, 0
    return None, host, port or (443 if parts.scheme == "https" else 80)


async def resolve(host: str, port: int, *, allow_private: bool) -> list[IPAddress]:
    """The host's addresses, every one of them allowed; UnsafeAddress otherwise."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        if host == "localhost" or host.endswith(".localhost"):
            addresses = [ipaddress.ip_address("127.0.0.1")]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError) as exc:
                raise UnsafeAddress(f"its host does not resolve ({exc})") from None
            addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0])
                                           for info in infos))
    if not addresses:
        raise UnsafeAddress("its host does not resolve")
    for address in addresses:
        if (why := address_refusal(address, allow_private=allow_private)) is not None:
            raise UnsafeAddress(f"its host resolves to {why} ({address})")
    return addresses


class _VettedResolver(AbstractResolver):
    """aiohttp's resolver: answers only with addresses that passed the SSRF rules."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        addresses = await resolve(host, port, allow_private=self._allow_private)
        return [ResolveResult(hostname=host, host=str(a), port=port,
                              family=socket.AF_INET6 if a.version == 6 else socket.AF_INET,
                              proto=0, flags=socket.AI_NUMERICHOST) for a in addresses]

    async def close(self) -> None:
        return None


class HttpWebhookSender:
    """Posts webhook bodies with aiohttp under the SSRF rules (services.ports.WebhookSender)."""

    def __init__(self, *, allow_private: bool, timeout: float = TIMEOUT_SECONDS) -> None:
        self._allow_private = allow_private
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def check_url(self, url: str) -> None:
        why, host, port = url_refusal(url, allow_private=self._allow_private)
        if why is not None:
            raise field_error("url", f"url {why}")
        try:
            await resolve(host, port, allow_private=self._allow_private)
        except UnsafeAddress as exc:
            raise field_error("url", f"url refused: {exc}") from None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=_VettedResolver(allow_private=self._allow_private),
                use_dns_cache=False, limit=100, force_close=True)
            self._session = aiohttp.ClientSession(
                connector=connector, trust_env=False,
                timeout=aiohttp.ClientTimeout(total=self._timeout))
        return self._session

    async def post(self, url: str, body: bytes,
                   headers: dict[str, str]) -> tuple[int | None, str | None]:
        why, host, port = url_refusal(url, allow_private=self._allow_private)
        if why is not None:
            return None, f"url {why}"
        try:
            # IP literals never reach the resolver: they are checked here.
            await resolve(host, port, allow_private=self._allow_private)
            async with self._client().post(url, data=body, headers=headers,
                                           allow_redirects=False) as response:
                await response.content.read(64 * 1024)
                status = response.status
        except UnsafeAddress as exc:
            return None, f"refused: {exc}"
        except TimeoutError:
            return None, f"timed out after {self._timeout:g} s"
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.__cause__, UnsafeAddress) or "resolves to" in str(exc):
                return None, f"refused: {exc.__cause__ or exc}"
            return None, f"connection failed: {exc.os_error}"
        except (aiohttp.ClientError, OSError) as exc:
            return None, f"request failed: {type(exc).__name__}: {exc}"
        if 200 <= status < 300:
            return status, None
        if 300 <= status < 400:
            return status, f"redirect {status} not followed"
        return status, f"status {status}"

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

