"""Where the service may connect on a bucket config's behalf: a guard against server-side request forgery.

Bucket configs name endpoints (``endpoint_url``, ``sts_endpoint_url``) that the service itself connects to
(STS, the empty-prefix check, deletion, reading a repo's config). Without a guard, an org admin could aim
the service at its loopback interface, a cloud metadata address or an internal host. The operator's
setting ``ENDPOINT_NETWORKS`` lists what bucket configs may name; each entry is one of

* ``public``: globally routable addresses (the default, and the only entry by default);
* ``loopback`` (127.0.0.0/8, ::1), ``private`` (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) or
  ``link-local`` (169.254/16 with the cloud metadata address, fe80::/10);
* a network in CIDR notation (``10.1.0.0/16``) or one address;
* a host name (``minio.internal``): that name is allowed whatever it resolves to.

A URL is checked when a bucket config is created or changed (its host, if it resolves then), and again
before every connection the service makes for a bucket config, on the addresses the name resolves to at
that moment: a name that later points elsewhere is caught at the next connection. (The client library
resolves the name once more when it connects; a DNS answer that changes within those milliseconds is the
remaining window.)
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

GROUPS: dict[str, tuple[str, ...]] = {
    "loopback": ("127.0.0.0/8", "::1/128"),
    "private": ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"),
    "link-local": ("169.254.0.0/16", "fe80::/10"),
}
PUBLIC = "public"


class EndpointNotAllowed(ValueError):
    """An endpoint this service may not connect to; the message names the host and the address."""


def _network(entry: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None


def _plain(address: IPAddress) -> IPAddress:
    # ::ffff:127.0.0.1 is 127.0.0.1
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _kind(address: IPAddress) -> str:
    for group, networks in GROUPS.items():
        if any(address in ipaddress.ip_network(n) for n in networks):
            return f"a {group} address"
    return "a public address" if address.is_global else "a reserved address"


class EndpointPolicy:
    """The networks and host names that bucket configs may name (see the module's docstring)."""

    def __init__(self, entries: Iterable[str]):
        self.public = False
        self.networks: list[IPNetwork] = []
        self.hosts: set[str] = set()
        for raw in entries:
            entry = raw.strip().lower()
            if entry == PUBLIC:
                self.public = True
            elif entry in GROUPS:
                self.networks += [ipaddress.ip_network(n) for n in GROUPS[entry]]
            elif (network := _network(entry)) is not None:
                self.networks.append(network)
            elif entry:
                self.hosts.add(entry.rstrip("."))

    def allows_address(self, address: IPAddress) -> bool:
        address = _plain(address)
        if any(address in network for network in self.networks):
            return True
        return self.public and address.is_global and not address.is_multicast

    def _host(self, url: str) -> tuple[str, int]:
        parts = urlsplit(url)
        if not parts.hostname:
            raise EndpointNotAllowed(f"{url!r} has no host")
        return parts.hostname.lower().rstrip("."), parts.port or (443 if parts.scheme == "https" else 80)

    def _check_addresses(self, url: str, host: str, addresses: Iterable[IPAddress], what: str) -> None:
        for address in addresses:
            if not self.allows_address(address):
                raise EndpointNotAllowed(
                    f"{what} {url!r}: host {host} is {_kind(_plain(address))} ({_plain(address)}), which "
                    "this service does not connect to for bucket configs (operators allow networks with "
                    "ARRAYLAKE_SERVER_ENDPOINT_NETWORKS)"
                )

    def check_declared(self, url: str, what: str) -> None:
        """On create or change: refuse a host that is, or now resolves to, an address not allowed. A name
        that does not resolve yet is accepted; it is checked again before every connection."""
        host, port = self._host(url)
        if host in self.hosts:
            return
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                addresses = _resolve(host, port)
            except OSError:
                return
        self._check_addresses(url, host, addresses, what)

    def check_connect(self, url: str, what: str) -> None:
        """Before a connection: every address the host resolves to now must be allowed (blocking)."""
        host, port = self._host(url)
        if host in self.hosts:
            return
        try:
            addresses = _resolve(host, port)
        except OSError as exc:
            raise EndpointUnreachable(f"{what} {url!r}: host {host} does not resolve") from exc
        self._check_addresses(url, host, addresses, what)

    async def check_connect_async(self, url: str, what: str) -> None:
        await asyncio.to_thread(self.check_connect, url, what)


class EndpointUnreachable(OSError):
    """The endpoint's host name does not resolve."""


def _resolve(host: str, port: int) -> list[IPAddress]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
